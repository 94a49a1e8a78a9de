#include "auth/auth_store.hpp"

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>

#include "auth/auth_schema.hpp"
#include "storage/clock.hpp"
#include "storage/sqlite_db.hpp"

namespace drydock::auth {
namespace {

using nlohmann::json;
using storage::sqlite::Connection;
using storage::sqlite::Query;
// BEGIN IMMEDIATE: another process's writer waits (busy_timeout) instead of
// failing halfway through.
using storage::sqlite::Transaction;

constexpr int kBusyTimeoutMs = 5000;
constexpr std::size_t kMaxUserName = 64;
constexpr std::string_view kTokenPrefix = "ddt_";
constexpr std::size_t kTokenIdChars = 12;
constexpr std::int64_t kRefreshPruneSeconds = 3600;

using auth_sql::kSchema;
using auth_sql::kSqlText;
using auth_sql::Sql;
using enum auth_sql::Sql;

std::unexpected<StoreError> fail(StoreError e) { return std::unexpected(e); }

// A user row, password hash included (it never leaves this file).
struct UserRow {
  std::int64_t id = 0;
  User user;
  std::string password_hash;
};

UserRow user_from_row(const Query& q) {
  return UserRow{q.int64(0), User{std::string(q.text(1)), q.int64(2) != 0, q.int64(3)},
                 std::string(q.text(4))};
}

struct TokenRow {
  AccessTokenInfo info;
  std::string secret_sha256;
  std::int64_t user_id = 0;
};

bool expired(std::int64_t expires, std::int64_t now) { return expires != 0 && now >= expires; }

std::string scope_to_json(const std::vector<Grant>& scope) {
  json j = json::array();
  for (const Grant& g : scope) j.push_back({{"pattern", g.pattern}, {"actions", g.actions.str()}});
  return j.dump();
}

std::optional<std::vector<Grant>> scope_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return std::nullopt;
  std::vector<Grant> out;
  for (const json& e : j) {
    if (!e.is_object()) return std::nullopt;
    auto pattern = e.find("pattern");
    auto actions = e.find("actions");
    if (pattern == e.end() || actions == e.end() || !pattern->is_string() ||
        !actions->is_string()) {
      return std::nullopt;
    }
    std::optional<ActionSet> set = ActionSet::parse(actions->get<std::string>());
    if (!set) return std::nullopt;
    out.push_back(Grant{pattern->get<std::string>(), *set});
  }
  return out;
}

StoreResult<TokenRow> token_from_row(const Query& q) {
  std::optional<std::vector<Grant>> scope = scope_from_json(q.text(2));
  if (!scope) {
    std::fprintf(stderr, "auth: malformed scope of token %.*s in database\n",
                 static_cast<int>(q.text(0).size()), q.text(0).data());
    return fail(StoreError::kDatabase);
  }
  AccessTokenInfo info{std::string(q.text(0)),
                       std::string(q.text(1)),
                       *std::move(scope),
                       std::string(q.text(3)),
                       q.int64(4),
                       q.int64(5),
                       q.int64(6) != 0};
  return TokenRow{std::move(info), std::string(q.text(7)), q.int64(8)};
}

// "ddt_<id>_<random>" -> id; nullopt for anything else.
std::optional<std::string_view> token_id_of_secret(std::string_view secret) {
  if (!secret.starts_with(kTokenPrefix)) return std::nullopt;
  secret.remove_prefix(kTokenPrefix.size());
  if (secret.size() <= kTokenIdChars + 1 || secret[kTokenIdChars] != '_') return std::nullopt;
  return secret.substr(0, kTokenIdChars);
}

// Binds `v` to parameter `i`: text, integer, or NULL for an absent value.
void bind_one(Query& q, int i, std::string_view v) { q.bind(i, v); }
void bind_one(Query& q, int i, std::int64_t v) { q.bind(i, v); }
void bind_one(Query& q, int i, const std::optional<std::string>& v) {
  if (v) {
    q.bind(i, std::string_view(*v));
  } else {
    q.bind_null(i);
  }
}

// Statement `id` on `c`, prepared on first use.
Query query(Connection& c, Sql id) { return Query(c, c.statement(id, kSqlText[id])); }

// Runs a statement that returns no rows; the rows it changed.
StoreResult<int> run(Query& q) {
  storage::Result<int> r = q.run();
  if (!r) return fail(StoreError::kDatabase);
  return *r;
}

// 48 random bits in hex: short enough to show in `token list`; the
// secret's 256 random bits do the guarding.
std::string new_token_id() { return sha256_hex(random_secret(16)).substr(0, kTokenIdChars); }

}  // namespace

std::string_view to_string(StoreError e) {
  switch (e) {
    case StoreError::kNotFound:
      return "not found";
    case StoreError::kExists:
      return "already exists";
    case StoreError::kInvalid:
      return "invalid argument";
    case StoreError::kDatabase:
      return "database error";
  }
  return "unknown error";
}

struct AuthStore::Impl {
  Impl(const std::filesystem::path& file, KdfCost kdf_cost)
      : conn(file, kSqlCount), cost(kdf_cost) {
    conn.exec_or_throw("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs));
    conn.exec_or_throw("PRAGMA journal_mode = WAL");
    conn.exec_or_throw("PRAGMA foreign_keys = ON");
    conn.exec_or_throw(kSchema);
  }

  Query query(Sql id) { return auth::query(conn, id); }

  // Runs statement `id` with `args` bound to ?1, ?2, ...; the rows changed.
  template <class... Args>
  StoreResult<int> run(Sql id, const Args&... args) {
    Query q = query(id);
    [[maybe_unused]] int i = 0;
    (bind_one(q, ++i, args), ...);
    return auth::run(q);
  }

  // A statement that must change a row of an existing user: 0 rows means
  // there is no such user.
  StoreResult<void> run_on_user(Sql id, std::string_view name, auto... args) {
    StoreResult<int> r = run(id, name, args...);
    if (!r) return fail(r.error());
    if (*r == 0) return fail(StoreError::kNotFound);
    return {};
  }

  StoreResult<std::optional<UserRow>> user_row(Sql id, auto key) {
    Query q = query(id);
    bind_one(q, 1, key);
    storage::Result<bool> row = q.step();
    if (!row) return fail(StoreError::kDatabase);
    if (!*row) return std::optional<UserRow>();
    return user_from_row(q);
  }

  // The user must exist: kNotFound otherwise.
  StoreResult<UserRow> existing_user(std::string_view name) {
    StoreResult<std::optional<UserRow>> r = user_row(kFindUser, name);
    if (!r) return fail(r.error());
    if (!*r) return fail(StoreError::kNotFound);
    return **std::move(r);
  }

  StoreResult<std::vector<Grant>> load_grants(std::int64_t user_id) {
    Query q = query(kGrants);
    q.bind(1, user_id);
    std::vector<Grant> out;
    for (;;) {
      storage::Result<bool> row = q.step();
      if (!row) return fail(StoreError::kDatabase);
      if (!*row) return out;
      out.push_back(Grant{std::string(q.text(0)),
                          ActionSet::from_bits(static_cast<std::uint8_t>(q.int64(1)))});
    }
  }

  StoreResult<std::optional<TokenRow>> find_token(std::string_view id) {
    Query q = query(kTokenById);
    q.bind(1, id);
    storage::Result<bool> row = q.step();
    if (!row) return fail(StoreError::kDatabase);
    if (!*row) return std::optional<TokenRow>();
    StoreResult<TokenRow> t = token_from_row(q);
    if (!t) return fail(t.error());
    return *std::move(t);
  }

  StoreResult<std::vector<AccessTokenInfo>> tokens_of(Query& q) {
    std::vector<AccessTokenInfo> out;
    for (;;) {
      storage::Result<bool> row = q.step();
      if (!row) return fail(StoreError::kDatabase);
      if (!*row) return out;
      StoreResult<TokenRow> t = token_from_row(q);
      if (!t) return fail(t.error());
      out.push_back(std::move(t->info));
    }
  }

  // The principal for `u`, limited by token `token_id` if given; nullopt if
  // that token does not belong to `u`, is revoked or has expired.
  StoreResult<std::optional<Principal>> principal_of(const UserRow& u,
                                                     std::optional<std::string_view> token_id,
                                                     std::int64_t now) {
    Principal p{u.user.name, u.user.admin, {}, std::nullopt, {}};
    if (token_id) {
      StoreResult<std::optional<TokenRow>> t = find_token(*token_id);
      if (!t) return fail(t.error());
      if (!*t || (*t)->user_id != u.id || (*t)->info.revoked || expired((*t)->info.expires, now)) {
        return std::optional<Principal>();
      }
      p.token_id = std::string(*token_id);
      p.token_scope = std::move((*t)->info.scope);
    }
    StoreResult<std::vector<Grant>> g = load_grants(u.id);
    if (!g) return fail(g.error());
    p.grants = *std::move(g);
    return p;
  }

  // Checks access token secret `secret` (token `id`) for `user`; the
  // principal, or nullopt.
  StoreResult<std::optional<Principal>> token_login(std::string_view user, std::string_view id,
                                                    std::string_view secret, std::int64_t now) {
    std::lock_guard lock(mu);
    StoreResult<std::optional<TokenRow>> t = find_token(id);
    if (!t) return fail(t.error());
    if (!*t || !constant_time_equal(sha256_hex(secret), (*t)->secret_sha256) ||
        (*t)->info.user != user) {
      return std::optional<Principal>();
    }
    StoreResult<std::optional<UserRow>> u = user_row(kUserById, (*t)->user_id);
    if (!u) return fail(u.error());
    if (!*u) return std::optional<Principal>();
    return principal_of(**u, id, now);
  }

  // Deletes expired refresh tokens (nobody can redeem them) at most once an
  // hour, so the table stays small. Uses the caller's clock, like every
  // expiry check here.
  StoreResult<void> prune_refresh_tokens(std::int64_t now) {
    if (now - last_refresh_prune < kRefreshPruneSeconds && now >= last_refresh_prune) return {};
    last_refresh_prune = now;
    if (StoreResult<int> r = run(kDeleteExpiredRefresh, now); !r) return fail(r.error());
    return {};
  }

  // Password hash compared against for unknown users, made once with the
  // store's cost so that a miss costs what a hit does.
  const std::string& dummy_hash() {
    std::call_once(dummy_once, [this] { dummy = hash_password(random_secret(), cost); });
    return dummy;
  }

  std::mutex mu;  // guards conn
  Connection conn;
  KdfCost cost;
  std::once_flag dummy_once;
  std::string dummy;
  std::int64_t last_refresh_prune = 0;  // caller's clock, guarded by mu
};

AuthStore::AuthStore(const std::filesystem::path& db_file, KdfCost cost)
    : impl_(std::make_unique<Impl>(db_file, cost)) {}

AuthStore::~AuthStore() = default;

bool AuthStore::valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserName) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

StoreResult<User> AuthStore::add_user(std::string_view name, std::string_view password,
                                      bool admin) {
  if (!valid_user_name(name) || !acceptable_password(password)) return fail(StoreError::kInvalid);
  std::string hash = hash_password(password, impl_->cost);  // slow: outside the lock
  User user{std::string(name), admin, storage::unix_now()};
  std::lock_guard lock(impl_->mu);
  StoreResult<int> r = impl_->run(kInsertUser, name, std::string_view(hash),
                                  std::int64_t{admin ? 1 : 0}, user.created);
  if (!r) return fail(r.error());
  if (*r == 0) return fail(StoreError::kExists);
  return user;
}

StoreResult<void> AuthStore::set_password(std::string_view name, std::string_view password) {
  if (!acceptable_password(password)) return fail(StoreError::kInvalid);
  std::string hash = hash_password(password, impl_->cost);
  std::lock_guard lock(impl_->mu);
  Transaction tx(impl_->conn);
  if (!tx.begin()) return fail(StoreError::kDatabase);
  if (auto r = impl_->run_on_user(kSetPassword, name, std::string_view(hash)); !r) return r;
  // Whoever held a refresh token got it with the old password.
  if (auto r = impl_->run(kDeleteUserRefresh, name); !r) return fail(r.error());
  if (!tx.commit()) return fail(StoreError::kDatabase);
  return {};
}

StoreResult<void> AuthStore::set_admin(std::string_view name, bool admin) {
  std::lock_guard lock(impl_->mu);
  return impl_->run_on_user(kSetAdmin, name, std::int64_t{admin ? 1 : 0});
}

StoreResult<void> AuthStore::delete_user(std::string_view name) {
  std::lock_guard lock(impl_->mu);
  // Grants, tokens and refresh tokens go with it: ON DELETE CASCADE
  // (foreign_keys is on for this connection).
  return impl_->run_on_user(kDeleteUser, name);
}

StoreResult<std::vector<User>> AuthStore::list_users() {
  std::lock_guard lock(impl_->mu);
  Query q = impl_->query(kListUsers);
  std::vector<User> out;
  for (;;) {
    storage::Result<bool> row = q.step();
    if (!row) return fail(StoreError::kDatabase);
    if (!*row) return out;
    out.push_back(user_from_row(q).user);
  }
}

StoreResult<std::optional<User>> AuthStore::find_user(std::string_view name) {
  std::lock_guard lock(impl_->mu);
  StoreResult<std::optional<UserRow>> r = impl_->user_row(kFindUser, name);
  if (!r) return fail(r.error());
  if (!*r) return std::optional<User>();
  return (*r)->user;
}

StoreResult<std::size_t> AuthStore::count_admins() {
  std::lock_guard lock(impl_->mu);
  Query q = impl_->query(kCountAdmins);
  storage::Result<bool> row = q.step();
  if (!row || !*row) return fail(StoreError::kDatabase);
  return static_cast<std::size_t>(q.int64(0));
}

StoreResult<void> AuthStore::grant(std::string_view name, std::string_view pattern,
                                   ActionSet actions) {
  if (!valid_pattern(pattern)) return fail(StoreError::kInvalid);
  std::lock_guard lock(impl_->mu);
  if (actions.empty()) {
    // Removing a grant the user does not have is fine; the user must exist.
    if (auto u = impl_->existing_user(name); !u) return fail(u.error());
    if (auto r = impl_->run(kDeleteGrant, name, pattern); !r) return fail(r.error());
    return {};
  }
  return impl_->run_on_user(kUpsertGrant, name, pattern, std::int64_t{actions.bits()});
}

StoreResult<std::vector<Grant>> AuthStore::grants(std::string_view name) {
  std::lock_guard lock(impl_->mu);
  StoreResult<UserRow> u = impl_->existing_user(name);
  if (!u) return fail(u.error());
  return impl_->load_grants(u->id);
}

StoreResult<CreatedToken> AuthStore::create_token(std::string_view user, std::vector<Grant> scope,
                                                  std::int64_t expires,
                                                  std::string_view description) {
  for (const Grant& g : scope) {
    if (!valid_pattern(g.pattern)) return fail(StoreError::kInvalid);
  }
  CreatedToken t;
  t.info = AccessTokenInfo{new_token_id(),
                           std::string(user),
                           std::move(scope),
                           std::string(description),
                           storage::unix_now(),
                           expires,
                           false};
  t.secret = std::string(kTokenPrefix) + t.info.id + "_" + random_secret(32);
  std::string hash = sha256_hex(t.secret);
  std::string scope_json = scope_to_json(t.info.scope);
  std::lock_guard lock(impl_->mu);
  auto r =
      impl_->run_on_user(kInsertToken, user, std::string_view(t.info.id), std::string_view(hash),
                         std::string_view(scope_json), description, t.info.created, expires);
  if (!r) return fail(r.error());
  return t;
}

StoreResult<void> AuthStore::revoke_token(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  Transaction tx(impl_->conn);
  if (!tx.begin()) return fail(StoreError::kDatabase);
  StoreResult<int> r = impl_->run(kRevokeToken, id);
  if (!r) return fail(r.error());
  if (*r == 0) return fail(StoreError::kNotFound);
  // Refresh tokens obtained by logging in with this token die with it.
  if (auto d = impl_->run(kDeleteTokenRefresh, id); !d) return fail(d.error());
  if (!tx.commit()) return fail(StoreError::kDatabase);
  return {};
}

StoreResult<std::vector<AccessTokenInfo>> AuthStore::list_tokens(
    std::optional<std::string_view> user) {
  std::lock_guard lock(impl_->mu);
  if (!user) {
    Query q = impl_->query(kListTokens);
    return impl_->tokens_of(q);
  }
  if (auto u = impl_->existing_user(*user); !u) return fail(u.error());
  Query q = impl_->query(kListUserTokens);
  q.bind(1, *user);
  return impl_->tokens_of(q);
}

StoreResult<std::optional<Principal>> AuthStore::authenticate(std::string_view user,
                                                              std::string_view secret,
                                                              std::int64_t now) {
  if (std::optional<std::string_view> id = token_id_of_secret(secret)) {
    StoreResult<std::optional<Principal>> p = impl_->token_login(user, *id, secret, now);
    if (!p || *p) return p;
    // Not a valid token: it may still be a password that looks like one.
  }
  std::optional<UserRow> row;
  {
    std::lock_guard lock(impl_->mu);
    StoreResult<std::optional<UserRow>> r = impl_->user_row(kFindUser, user);
    if (!r) return fail(r.error());
    row = *std::move(r);
  }
  // scrypt runs outside the lock: it takes tens of milliseconds.
  if (!row) {
    (void)verify_password(secret, impl_->dummy_hash());
    return std::optional<Principal>();
  }
  if (!verify_password(secret, row->password_hash)) return std::optional<Principal>();
  std::lock_guard lock(impl_->mu);
  // Reloaded: the user may have changed (or gone) while scrypt ran.
  StoreResult<std::optional<UserRow>> fresh = impl_->user_row(kUserById, row->id);
  if (!fresh) return fail(fresh.error());
  if (!*fresh) return std::optional<Principal>();
  return impl_->principal_of(**fresh, std::nullopt, now);
}

StoreResult<std::optional<Principal>> AuthStore::principal(std::string_view user,
                                                           std::optional<std::string_view> token_id,
                                                           std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  StoreResult<std::optional<UserRow>> u = impl_->user_row(kFindUser, user);
  if (!u) return fail(u.error());
  if (!*u) return std::optional<Principal>();
  return impl_->principal_of(**u, token_id, now);
}

StoreResult<std::string> AuthStore::create_refresh_token(const Principal& who,
                                                         std::int64_t expires) {
  std::string secret = random_secret(32);
  std::string hash = sha256_hex(secret);
  std::int64_t now = storage::unix_now();
  std::lock_guard lock(impl_->mu);
  auto r = impl_->run(kInsertRefresh, std::string_view(hash), std::string_view(who.user),
                      who.token_id, now, expires);
  if (!r) return fail(r.error());
  if (*r == 0) return fail(StoreError::kNotFound);
  return secret;
}

StoreResult<std::optional<Principal>> AuthStore::redeem_refresh_token(std::string_view secret,
                                                                      std::int64_t now) {
  std::string hash = sha256_hex(secret);
  std::string user;
  std::optional<std::string> token_id;
  {
    std::lock_guard lock(impl_->mu);
    if (auto r = impl_->prune_refresh_tokens(now); !r) return fail(r.error());
    Query q = impl_->query(kRefreshBySecret);
    q.bind(1, std::string_view(hash));
    storage::Result<bool> row = q.step();
    if (!row) return fail(StoreError::kDatabase);
    if (!*row || expired(q.int64(2), now)) return std::optional<Principal>();
    user = std::string(q.text(0));
    if (!q.is_null(1)) token_id = std::string(q.text(1));
  }
  return principal(user, token_id ? std::optional<std::string_view>(*token_id) : std::nullopt, now);
}

}  // namespace drydock::auth
