#include "auth/authenticator.hpp"

#include <nlohmann/json.hpp>

#include "auth/scope.hpp"
#include "storage/clock.hpp"

namespace drydock::auth {

namespace {

using nlohmann::json;

constexpr std::size_t kLoginCacheMax = 10000;
constexpr std::size_t kJwtCacheMax = 10000;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The error JSON of the distribution spec, for the token endpoint's failures.
std::string error_json(std::string_view code, std::string_view message) {
  return json{{"errors", json::array({json{{"code", code}, {"message", message}}})}}.dump();
}

// RFC 3339 UTC time for `issued_at`.
std::string rfc3339(std::int64_t t) { return storage::rfc3339_utc(t); }

// The rights carried by a bearer token's `access` claim, as a principal
// whose grants name exact repositories (names hold no '*').
Principal from_access(const TokenClaims& c) {
  Principal p;
  p.user = c.subject;
  for (const auto& a : c.access) {
    if (a.type != "repository") continue;
    ActionSet set;
    for (const auto& name : a.actions) {
      if (auto one = ActionSet::parse(name, ActionSet::Unknown::kIgnore)) set = set | *one;
    }
    if (!set.empty()) p.grants.push_back(Grant{a.name, set});
  }
  return p;
}

std::string scope_text(const Requirement& need) {
  switch (need.resource) {
    case Resource::kBase:
      return {};
    case Resource::kCatalog:
      return "registry:catalog:*";
    case Resource::kRepository:
      return "repository:" + need.repository + ":" + need.actions.str();
  }
  return {};
}

}  // namespace

Authenticator::Authenticator(AuthOptions options, AuthStore& store, const JwtSigner& signer)
    : options_(std::move(options)),
      store_(store),
      signer_(signer),
      user_limiter_(options_.rate_limit),
      address_limiter_([&] {
        RateLimit a = options_.rate_limit;
        a.free_failures *= 4;
        return a;
      }()),
      cache_key_(random_secret(32)) {}

ActionSet Authenticator::allowed(const Principal& who, std::string_view repository) const {
  ActionSet set = allowed_actions(who, repository);
  for (const auto& pattern : options_.anonymous_pull) {
    if (pattern_matches(pattern, repository)) return set | Action::kPull;
  }
  return set;
}

// A Bearer challenge (distribution token spec, "How to authenticate"):
// the client takes realm/service/scope to the token endpoint.
std::string Authenticator::challenge(std::string_view realm, const Requirement& need,
                                     std::string_view error) const {
  std::string c = "Bearer realm=\"" + std::string(realm) + "\",service=\"" + options_.service + "\"";
  auto scope = scope_text(need);
  if (!scope.empty()) c += ",scope=\"" + scope + "\"";
  if (!error.empty()) c += ",error=\"" + std::string(error) + "\"";
  return c;
}

// Checks a user name and secret, behind the rate limiters and the short
// login cache.
Authenticator::Login Authenticator::login(std::string_view user, std::string_view secret,
                                          std::string_view address, std::int64_t now) {
  std::string user_key(user);
  std::string address_key(address);
  unsigned wait = std::max(user_limiter_.blocked_for(user_key),
                           address_limiter_.blocked_for(address_key));
  if (wait > 0) return Login{std::nullopt, wait};
  std::string cache_id = sha256_hex(cache_key_ + std::string(user) + '\0' + std::string(secret));
  std::optional<Principal> remembered;
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(cache_id);
    if (it != cache_.end() && it->second.until > now) remembered = it->second.who;
  }
  if (remembered) {
    // Only the secret check is remembered: grants, and whether the user and
    // the access token still exist, are read afresh (a cheap query).
    std::optional<std::string_view> tid;
    if (remembered->token_id) tid = *remembered->token_id;
    auto fresh = store_.principal(remembered->user, tid, now);
    if (fresh && *fresh) return Login{std::move(**fresh), 0};
    std::lock_guard lock(cache_mu_);
    cache_.erase(cache_id);
  }
  auto who = store_.authenticate(user, secret, now);
  if (!who || !*who) {
    user_limiter_.failure(user_key);
    address_limiter_.failure(address_key);
    return Login{};
  }
  user_limiter_.success(user_key);
  if (options_.login_cache_seconds <= 0) return Login{**who, 0};
  std::lock_guard lock(cache_mu_);
  if (cache_.size() >= kLoginCacheMax) cache_.clear();
  cache_[cache_id] = Cached{**who, now + options_.login_cache_seconds};
  return Login{**who, 0};
}

// "Basic base64(user:secret)" (RFC 7617).
Authenticator::Login Authenticator::basic(std::string_view authorization,
                                          std::string_view address, std::int64_t now) {
  auto decoded = base64_decode(trim(authorization.substr(5)));
  if (!decoded) return Login{};
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return Login{};
  return login(std::string_view(*decoded).substr(0, colon),
               std::string_view(*decoded).substr(colon + 1), address, now);
}

Decision Authenticator::decide(Principal who, const Requirement& need,
                               std::string_view realm) const {
  Decision d;
  bool ok = need.resource != Resource::kRepository ||
            allowed(who, need.repository).contains(need.actions);
  if (ok) {
    d.kind = Decision::Kind::kAllow;
  } else if (who.anonymous()) {
    d.kind = Decision::Kind::kChallenge;
    d.challenge = challenge(realm, need, {});
    d.message = "authentication required";
  } else {
    d.kind = Decision::Kind::kDeny;
    d.message = "requested access to the resource is denied";
  }
  d.who = std::move(who);
  return d;
}

// A bearer token grants what its `access` claim says, checked without a
// database lookup (the token lives token_ttl_seconds). When it lacks what
// the request needs, a caller whose account has the right is sent back to
// the token endpoint (401 insufficient_scope); one whose account lacks it
// is denied (403), so that clients report "denied" rather than loop.
Decision Authenticator::decide_bearer(std::string_view token, const Requirement& need,
                                      std::string_view realm, std::int64_t now) {
  Decision d;
  auto claims = verified(token, now);
  if (!claims) {
    d.kind = Decision::Kind::kChallenge;
    d.challenge = challenge(realm, need, "invalid_token");
    d.message = "invalid token: " + std::string(to_string(claims.error()));
    return d;
  }
  Principal scoped = from_access(*claims);
  bool fits = need.resource == Resource::kRepository &&
              allowed_actions(scoped, need.repository).contains(need.actions);
  if (fits || (need.resource == Resource::kBase && !claims->subject.empty())) {
    d.kind = Decision::Kind::kAllow;
    d.who = std::move(scoped);
    return d;
  }
  std::optional<Principal> account;
  if (!claims->subject.empty()) {
    std::optional<std::string_view> tid;
    if (!claims->token_id.empty()) tid = claims->token_id;
    auto found = store_.principal(claims->subject, tid, now);
    if (!found || !*found) {
      d.kind = Decision::Kind::kChallenge;
      d.challenge = challenge(realm, need, "invalid_token");
      d.message = "the token's user or access token no longer exists";
      return d;
    }
    account = std::move(**found);
  }
  if (need.resource == Resource::kCatalog) return decide(account ? *account : Principal{}, need, realm);
  if (!account || allowed(*account, need.repository).contains(need.actions)) {
    d.kind = Decision::Kind::kChallenge;
    d.challenge = challenge(realm, need, "insufficient_scope");
    d.message = "authentication required";
  } else {
    d.kind = Decision::Kind::kDeny;
    d.message = "requested access to the resource is denied";
  }
  d.who = std::move(scoped);
  return d;
}

// A token's signature is checked once (an ECDSA verify costs about as much
// as serving a manifest); later requests with the same token find its claims
// here until the token expires (then the full check runs again, with its
// clock leeway).
std::expected<TokenClaims, JwtError> Authenticator::verified(std::string_view token,
                                                            std::int64_t now) {
  {
    std::shared_lock lock(jwt_mu_);
    auto it = jwt_cache_.find(token);
    if (it != jwt_cache_.end() && now < it->second.expires_at) return it->second;
  }
  // Not cached, or near its end: the full check (with its clock leeway).
  auto claims = signer_.verify(token, options_.issuer, options_.service, now);
  if (!claims) return claims;
  std::unique_lock lock(jwt_mu_);
  if (jwt_cache_.size() >= kJwtCacheMax) jwt_cache_.clear();
  jwt_cache_.insert_or_assign(std::string(token), *claims);
  return claims;
}

Decision Authenticator::authorize(std::string_view authorization, std::string_view address,
                                  const Requirement& need, std::string_view realm,
                                  std::int64_t now) {
  authorization = trim(authorization);
  if (starts_with_ci(authorization, "Bearer ")) {
    return decide_bearer(trim(authorization.substr(7)), need, realm, now);
  }
  if (starts_with_ci(authorization, "Basic ")) {
    Login l = basic(authorization, address, now);
    Decision d;
    if (l.retry_after > 0) {
      d.kind = Decision::Kind::kTooMany;
      d.retry_after = l.retry_after;
      d.message = "too many failed logins; retry later";
      return d;
    }
    if (!l.who) {
      d.kind = Decision::Kind::kChallenge;
      d.challenge = challenge(realm, need, {});
      d.message = "invalid user name or password";
      return d;
    }
    return decide(std::move(*l.who), need, realm);
  }
  // No credentials (or a scheme we do not know): anonymous. GET /v2/ always
  // challenges an anonymous caller, since that is how `docker login` learns
  // where to log in and checks the credentials.
  if (need.resource != Resource::kRepository) {
    Decision d;
    d.kind = Decision::Kind::kChallenge;
    d.challenge = challenge(realm, need, {});
    d.message = "authentication required";
    return d;
  }
  return decide(Principal{}, need, realm);
}

TokenReply Authenticator::issue(const Principal& who, const TokenRequest& req, bool with_refresh,
                                std::int64_t now) {
  TokenClaims c;
  c.issuer = options_.issuer;
  c.subject = who.user;
  c.audience = options_.service;
  c.issued_at = now;
  c.not_before = now;
  c.expires_at = now + options_.token_ttl_seconds;
  c.id = random_secret(16);
  if (who.token_id) c.token_id = *who.token_id;
  // Grants for each scope are intersected with what was asked; a partial
  // grant (or none) is not an error (token spec, "Requesting a Token").
  for (const auto& text : req.scopes) {
    for (const auto& s : parse_scopes(text)) {
      if (s.type == "registry" && s.name == "catalog" && !who.anonymous()) {
        c.access.push_back(AccessEntry{s.type, s.name, {"*"}});
        continue;
      }
      if (s.type != "repository") continue;
      ActionSet asked;
      for (const auto& a : s.actions) {
        if (auto one = ActionSet::parse(a, ActionSet::Unknown::kIgnore)) asked = asked | *one;
      }
      ActionSet granted = asked & allowed(who, s.name);
      c.access.push_back(AccessEntry{s.type, s.name, granted.names()});
    }
  }
  json body{{"token", signer_.sign(c)},
            {"expires_in", options_.token_ttl_seconds},
            {"issued_at", rfc3339(now)}};
  body["access_token"] = body["token"];
  if (with_refresh) {
    auto refresh = store_.create_refresh_token(who, now + options_.refresh_ttl_seconds);
    if (refresh) body["refresh_token"] = *refresh;
  }
  return TokenReply{200, body.dump(), {}, 0};
}

namespace {

TokenReply token_failure(unsigned status, std::string_view code, std::string_view message,
                         std::string challenge = {}, unsigned retry_after = 0) {
  return TokenReply{status, error_json(code, message), std::move(challenge), retry_after};
}

}  // namespace

// A token for a login that succeeded; the failure reply otherwise.
TokenReply Authenticator::answer_login(Login l, const TokenRequest& req,
                                       const std::string& challenge, std::int64_t now) {
  if (l.retry_after > 0) {
    return token_failure(429, "TOOMANYREQUESTS", "too many failed logins; retry later", {},
                         l.retry_after);
  }
  if (!l.who) return token_failure(401, "UNAUTHORIZED", "invalid user name or password", challenge);
  return issue(*l.who, req, req.offline_token, now);
}

TokenReply Authenticator::token_get(std::string_view authorization, std::string_view address,
                                    const TokenRequest& req, std::string_view realm,
                                    std::int64_t now) {
  if (!req.service.empty() && req.service != options_.service) {
    return token_failure(400, "UNSUPPORTED", "unknown service");
  }
  authorization = trim(authorization);
  if (authorization.empty()) return issue(Principal{}, req, false, now);
  std::string basic_challenge = "Basic realm=\"" + std::string(realm) + "\"";
  if (!starts_with_ci(authorization, "Basic ")) {
    return token_failure(401, "UNAUTHORIZED", "the token endpoint takes Basic credentials",
                         basic_challenge);
  }
  return answer_login(basic(authorization, address, now), req, basic_challenge, now);
}

TokenReply Authenticator::token_post(std::string_view address, const TokenRequest& req,
                                     std::string_view realm, std::int64_t now) {
  if (!req.service.empty() && req.service != options_.service) {
    return token_failure(400, "UNSUPPORTED", "unknown service");
  }
  std::string basic_challenge = "Basic realm=\"" + std::string(realm) + "\"";
  if (req.grant_type == "refresh_token") {
    auto who = store_.redeem_refresh_token(req.refresh_token, now);
    if (!who || !*who) {
      return token_failure(401, "UNAUTHORIZED", "invalid or expired refresh token",
                           basic_challenge);
    }
    return issue(**who, req, false, now);
  }
  if (req.grant_type != "password") {
    return token_failure(400, "UNSUPPORTED", "grant_type must be password or refresh_token");
  }
  return answer_login(login(req.username, req.password, address, now), req, basic_challenge,
                      now);
}

}  // namespace drydock::auth
