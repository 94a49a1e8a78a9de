#pragma once

// The access decision for one registry request, and the token endpoint of
// the Docker token flow (https://distribution.github.io/distribution/spec/auth/token/).
// Transport-neutral: header values and form bodies in, decisions and JSON
// bodies out; server/ turns them into HTTP.

#include <cstdint>
#include <expected>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/access.hpp"
#include "auth/auth_store.hpp"
#include "auth/jwt.hpp"
#include "auth/rate_limiter.hpp"

namespace drydock::auth {

struct AuthOptions {
  std::string realm;                // token endpoint URL for challenges; empty: the server's /token
  std::string service = "drydock";  // challenge `service`, token `aud`
  std::string issuer = "drydock";   // token `iss`
  std::int64_t token_ttl_seconds = 300;
  std::int64_t refresh_ttl_seconds = 90 * 86400;
  std::vector<std::string> anonymous_pull;  // patterns anyone may pull
  RateLimit rate_limit;
  // Successful secret checks are remembered this long (scrypt per request
  // would cost ~0.1 s each), so an old password keeps working for at most
  // this delay after a change. Grants, deleted users and revoked access
  // tokens take effect at once. 0: no cache.
  std::int64_t login_cache_seconds = 10;
};

// What a request needs.
enum class Resource {
  kBase,        // GET /v2/: any authenticated caller (or anyone, if anonymous pull is on)
  kCatalog,     // GET /v2/_catalog: any caller; the list is filtered by pull rights
  kRepository,  // everything under /v2/<name>/
};

struct Requirement {
  Resource resource = Resource::kBase;
  std::string repository;  // kRepository only
  ActionSet actions;       // kRepository only
};

struct Decision {
  enum class Kind {
    kAllow,      // go on, as `who`
    kChallenge,  // 401 UNAUTHORIZED + WWW-Authenticate: `challenge`
    kDeny,       // 403 DENIED: authenticated, but lacks the right
    kTooMany,    // 429 TOOMANYREQUESTS: too many failed logins; Retry-After
  };
  Kind kind = Kind::kChallenge;
  Principal who;
  std::string challenge;
  std::string message;
  unsigned retry_after = 0;
};

// An answer of the token endpoint.
struct TokenReply {
  unsigned status = 200;  // 200, 400, 401, 429
  std::string body;       // JSON
  std::string challenge;  // 401: WWW-Authenticate value (Basic realm=...)
  unsigned retry_after = 0;
};

// Parameters of a token request (query of GET, or the POST form).
struct TokenRequest {
  std::string service;
  std::vector<std::string> scopes;  // each entry may hold several space-separated scopes
  bool offline_token = false;       // GET: also return a refresh token
  std::string grant_type;           // POST: "password" or "refresh_token"
  std::string username, password, refresh_token, client_id;
};

class Authenticator {
 public:
  Authenticator(AuthOptions options, AuthStore& store, const JwtSigner& signer);

  // Decides one request. `authorization` is the Authorization header value
  // (empty if none): "Basic ..." (a password or an access token secret) or
  // "Bearer <jwt>". `address` is the client's IP (rate limiting). `realm`
  // is the token endpoint URL used in challenges.
  Decision authorize(std::string_view authorization, std::string_view address,
                     const Requirement& need, std::string_view realm, std::int64_t now);

  // What `who` may do on `repository`, anonymous-pull patterns included.
  ActionSet allowed(const Principal& who, std::string_view repository) const;

  // GET /token with optional Basic credentials in `authorization`.
  TokenReply token_get(std::string_view authorization, std::string_view address,
                       const TokenRequest& req, std::string_view realm, std::int64_t now);
  // POST /token, OAuth2 form (grant_type=password|refresh_token).
  TokenReply token_post(std::string_view address, const TokenRequest& req, std::string_view realm,
                        std::int64_t now);

  const AuthOptions& options() const { return options_; }

 private:
  struct Login {
    std::optional<Principal> who;
    unsigned retry_after = 0;  // > 0: refused by the rate limiter
  };
  Login login(std::string_view user, std::string_view secret, std::string_view address,
              std::int64_t now);
  Login basic(std::string_view authorization, std::string_view address, std::int64_t now);
  std::optional<Principal> bearer(std::string_view token, std::int64_t now,
                                  std::vector<AccessEntry>& access);
  TokenReply answer_login(Login l, const TokenRequest& req, const std::string& challenge,
                          std::int64_t now);
  TokenReply issue(const Principal& who, const TokenRequest& req, bool with_refresh,
                   std::int64_t now);
  std::string challenge(std::string_view realm, const Requirement& need,
                        std::string_view error) const;
  Decision decide(Principal who, const Requirement& need, std::string_view realm) const;
  Decision decide_bearer(std::string_view token, const Requirement& need, std::string_view realm,
                         std::int64_t now);

  AuthOptions options_;
  AuthStore& store_;
  const JwtSigner& signer_;
  // Failed logins slow down the user name tried (after rate_limit's free
  // failures) and, with four times the allowance, the client address: one
  // attacked account does not lock out others behind the same address.
  RateLimiter user_limiter_;
  RateLimiter address_limiter_;
  // Successful Basic logins, by a keyed hash of user and secret, for a few
  // seconds: scrypt costs ~50-100 ms and Basic clients send credentials on
  // every request.
  struct Cached {
    Principal who;
    std::int64_t until = 0;
  };
  std::mutex cache_mu_;
  std::unordered_map<std::string, Cached> cache_;
  std::string cache_key_;  // random per process

  // Bearer tokens whose signature was checked, by token text.
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::expected<TokenClaims, JwtError> verified(std::string_view token, std::int64_t now);
  std::shared_mutex jwt_mu_;
  std::unordered_map<std::string, TokenClaims, TextHash, std::equal_to<>> jwt_cache_;
};

}  // namespace drydock::auth
