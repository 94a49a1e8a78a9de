#pragma once

// Users, their grants, access tokens and refresh tokens, kept in the
// metadata database (its own `auth_*` tables, its own connection: auth/
// writes are rare and must not queue behind registry writes).
//
// Secrets are never stored: passwords as scrypt hashes (secrets.hpp),
// access and refresh token secrets as SHA-256 (they are 256-bit random).
//
// Thread-safe: one mutex around the connection. Several processes (the
// server and `drydock user ...` run next to it) may open the same file:
// WAL mode and a busy timeout make their writes take turns.

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/access.hpp"
#include "auth/secrets.hpp"

namespace drydock::auth {

enum class StoreError {
  kNotFound,  // no such user / token
  kExists,    // user name taken
  kInvalid,   // bad user name, empty password, bad pattern
  kDatabase,  // SQLite failed (logged)
};

std::string_view to_string(StoreError e);

template <class T>
using StoreResult = std::expected<T, StoreError>;

struct User {
  std::string name;
  bool admin = false;
  std::int64_t created = 0;  // unix seconds
};

struct AccessTokenInfo {
  std::string id;  // public part, shown by `token list`
  std::string user;
  std::vector<Grant> scope;
  std::string description;
  std::int64_t created = 0;
  std::int64_t expires = 0;  // unix seconds; 0: never
  bool revoked = false;
};

// What create_token returns: the only time the secret exists in clear.
struct CreatedToken {
  AccessTokenInfo info;
  std::string secret;  // "ddt_<id>_<random>": used as the password with the user's name
};

class AuthStore {
 public:
  // Opens (creating tables if needed) the database file. Throws
  // std::runtime_error if it cannot. `cost` is the scrypt cost for new
  // password hashes.
  explicit AuthStore(const std::filesystem::path& db_file, KdfCost cost = {});
  ~AuthStore();
  AuthStore(const AuthStore&) = delete;
  AuthStore& operator=(const AuthStore&) = delete;

  // User names: 1-64 of [a-z0-9._-], starting with a letter or digit.
  static bool valid_user_name(std::string_view name);

  StoreResult<User> add_user(std::string_view name, std::string_view password, bool admin);
  // Changes the password and revokes the user's refresh tokens.
  StoreResult<void> set_password(std::string_view name, std::string_view password);
  StoreResult<void> set_admin(std::string_view name, bool admin);
  // Removes the user with its grants, access tokens and refresh tokens.
  StoreResult<void> delete_user(std::string_view name);
  StoreResult<std::vector<User>> list_users();
  StoreResult<std::optional<User>> find_user(std::string_view name);
  StoreResult<std::size_t> count_admins();

  // Sets the actions `name` has on `pattern` (replacing what was there); an
  // empty set removes the grant.
  StoreResult<void> grant(std::string_view name, std::string_view pattern, ActionSet actions);
  StoreResult<std::vector<Grant>> grants(std::string_view name);

  // Creates an access token for `user` limited to `scope` (each entry must
  // have a valid pattern). `expires` 0: never.
  StoreResult<CreatedToken> create_token(std::string_view user, std::vector<Grant> scope,
                                         std::int64_t expires, std::string_view description);
  StoreResult<void> revoke_token(std::string_view id);
  // All tokens, or `user`'s.
  StoreResult<std::vector<AccessTokenInfo>> list_tokens(std::optional<std::string_view> user);

  // Checks `secret` for `user`: a password, or an access token secret of
  // that user (not revoked, not expired at `now`). On success, the
  // principal with the user's grants (and the token's id and scope).
  // nullopt on any mismatch; the password check runs scrypt even for an
  // unknown user, so timing does not reveal which names exist.
  StoreResult<std::optional<Principal>> authenticate(std::string_view user, std::string_view secret,
                                                     std::int64_t now);

  // The principal for `user` (grants loaded), with the scope of access token
  // `token_id` if given; nullopt if the user, or that token, no longer
  // exists, is revoked or has expired.
  StoreResult<std::optional<Principal>> principal(std::string_view user,
                                                  std::optional<std::string_view> token_id,
                                                  std::int64_t now);

  // Refresh tokens (OAuth2, `offline_token=true`): long-lived, bound to the
  // principal that logged in (the user, and the access token if one was
  // used). Returns the secret.
  StoreResult<std::string> create_refresh_token(const Principal& who, std::int64_t expires);
  // The principal a refresh token stands for; nullopt if unknown, expired
  // or revoked (or its user/token is gone).
  StoreResult<std::optional<Principal>> redeem_refresh_token(std::string_view secret,
                                                            std::int64_t now);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::auth
