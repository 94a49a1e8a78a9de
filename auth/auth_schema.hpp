#pragma once

// The auth_* tables in the metadata database and every statement AuthStore
// runs (internal to auth/; included by auth_store.cpp only).

#include <array>
#include <cstddef>
#include <string_view>

namespace drydock::auth::auth_sql {

// Tables of their own in the shared metadata database; MetadataStore's
// migrations (PRAGMA user_version) never see them.
inline constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS auth_users (
  id            INTEGER PRIMARY KEY,
  name          TEXT UNIQUE NOT NULL,
  password_hash TEXT NOT NULL,
  admin         INTEGER NOT NULL,
  created       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_grants (
  user_id INTEGER NOT NULL REFERENCES auth_users ON DELETE CASCADE,
  pattern TEXT NOT NULL,
  actions INTEGER NOT NULL,
  PRIMARY KEY (user_id, pattern)
);
-- scope: JSON array of {"pattern": "...", "actions": "pull,push"}.
CREATE TABLE IF NOT EXISTS auth_tokens (
  id            TEXT PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES auth_users ON DELETE CASCADE,
  secret_sha256 TEXT NOT NULL,
  scope         TEXT NOT NULL,
  description   TEXT,
  created       INTEGER,
  expires       INTEGER,
  revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS auth_tokens_user ON auth_tokens(user_id);
CREATE TABLE IF NOT EXISTS auth_refresh_tokens (
  secret_sha256 TEXT PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES auth_users ON DELETE CASCADE,
  token_id      TEXT,
  created       INTEGER,
  expires       INTEGER
);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_user ON auth_refresh_tokens(user_id);
)sql";

#define DRYDOCK_USER_COLUMNS "id, name, admin, created, password_hash"
#define DRYDOCK_TOKEN_COLUMNS                                               \
  "t.id, u.name, t.scope, t.description, t.created, t.expires, t.revoked, " \
  "t.secret_sha256, t.user_id"

enum Sql : std::size_t {
  kInsertUser,
  kSetPassword,
  kDeleteUserRefresh,
  kSetAdmin,
  kDeleteUser,
  kListUsers,
  kFindUser,
  kUserById,
  kCountAdmins,
  kUpsertGrant,
  kDeleteGrant,
  kGrants,
  kInsertToken,
  kRevokeToken,
  kDeleteTokenRefresh,
  kTokenById,
  kListTokens,
  kListUserTokens,
  kInsertRefresh,
  kRefreshBySecret,
  kDeleteExpiredRefresh,
  kSqlCount,
};

inline constexpr std::array<std::string_view, kSqlCount> kSqlText = {
    // ON CONFLICT DO NOTHING: a taken name is an answer (kExists), not an
    // error worth logging.
    "INSERT INTO auth_users(name, password_hash, admin, created) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(name) DO NOTHING",
    "UPDATE auth_users SET password_hash = ?2 WHERE name = ?1",
    "DELETE FROM auth_refresh_tokens WHERE user_id = (SELECT id FROM auth_users WHERE name = ?1)",
    "UPDATE auth_users SET admin = ?2 WHERE name = ?1",
    "DELETE FROM auth_users WHERE name = ?1",
    "SELECT " DRYDOCK_USER_COLUMNS " FROM auth_users ORDER BY name",
    "SELECT " DRYDOCK_USER_COLUMNS " FROM auth_users WHERE name = ?1",
    "SELECT " DRYDOCK_USER_COLUMNS " FROM auth_users WHERE id = ?1",
    "SELECT COUNT(*) FROM auth_users WHERE admin <> 0",
    // The WHERE clause is required: it resolves the parsing ambiguity of
    // INSERT ... SELECT ... ON CONFLICT (sqlite.org/lang_upsert.html).
    "INSERT INTO auth_grants(user_id, pattern, actions) "
    "SELECT id, ?2, ?3 FROM auth_users WHERE name = ?1 "
    "ON CONFLICT(user_id, pattern) DO UPDATE SET actions = excluded.actions",
    "DELETE FROM auth_grants WHERE pattern = ?2 "
    "AND user_id = (SELECT id FROM auth_users WHERE name = ?1)",
    "SELECT pattern, actions FROM auth_grants WHERE user_id = ?1 ORDER BY pattern",
    "INSERT INTO auth_tokens(id, user_id, secret_sha256, scope, description, created, expires) "
    "SELECT ?2, id, ?3, ?4, ?5, ?6, ?7 FROM auth_users WHERE name = ?1",
    "UPDATE auth_tokens SET revoked = 1 WHERE id = ?1",
    "DELETE FROM auth_refresh_tokens WHERE token_id = ?1",
    "SELECT " DRYDOCK_TOKEN_COLUMNS
    " FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.id = ?1",
    "SELECT " DRYDOCK_TOKEN_COLUMNS
    " FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id ORDER BY u.name, t.created, t.id",
    "SELECT " DRYDOCK_TOKEN_COLUMNS
    " FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE u.name = ?1 "
    "ORDER BY t.created, t.id",
    "INSERT INTO auth_refresh_tokens(secret_sha256, user_id, token_id, created, expires) "
    "SELECT ?1, id, ?3, ?4, ?5 FROM auth_users WHERE name = ?2",
    "SELECT u.name, r.token_id, r.expires FROM auth_refresh_tokens r "
    "JOIN auth_users u ON u.id = r.user_id WHERE r.secret_sha256 = ?1",
    "DELETE FROM auth_refresh_tokens WHERE expires <> 0 AND expires <= ?1",
};

#undef DRYDOCK_USER_COLUMNS
#undef DRYDOCK_TOKEN_COLUMNS

}  // namespace drydock::auth::auth_sql
