#pragma once

// Registry bearer tokens: JWTs signed with ES256 (ECDSA P-256 + SHA-256,
// RFC 7518 3.4) carrying the Docker token spec's `access` claim.

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::auth {

// One entry of the `access` claim.
struct AccessEntry {
  std::string type;  // "repository" or "registry"
  std::string name;
  std::vector<std::string> actions;
  bool operator==(const AccessEntry&) const = default;
};

struct TokenClaims {
  std::string issuer;    // iss
  std::string subject;   // sub: the user name ("" for anonymous)
  std::string audience;  // aud: the service name
  std::int64_t issued_at = 0;   // iat
  std::int64_t not_before = 0;  // nbf
  std::int64_t expires_at = 0;  // exp
  std::string id;               // jti: random, unique
  std::vector<AccessEntry> access;
  std::string token_id;  // private claim "drydock_tid": the access token the caller used, if any
};

enum class JwtError {
  kMalformed,    // not three base64url parts, bad JSON, missing/ill-typed claims
  kAlgorithm,    // header alg is not ES256 (so "none", HS256 and friends are refused)
  kSignature,    // signature does not verify with our key
  kExpired,      // now >= exp (+ leeway)
  kNotYetValid,  // now < nbf (- leeway)
  kIssuer,       // iss differs
  kAudience,     // aud (string, or array) does not contain the expected audience
};

std::string_view to_string(JwtError e);

// Signs and verifies tokens with one EC P-256 key.
class JwtSigner {
 public:
  // Loads the PEM private key at `pem_file`, or creates it (0600, parent
  // directories 0700) when the file does not exist. Throws
  // std::runtime_error when the file exists but is not a P-256 private key.
  static JwtSigner load_or_create(const std::filesystem::path& pem_file);
  // A signer with a fresh key held in memory only (tests).
  static JwtSigner generate();

  JwtSigner(JwtSigner&&) noexcept;
  JwtSigner& operator=(JwtSigner&&) noexcept;
  ~JwtSigner();

  // header {"alg":"ES256","typ":"JWT","kid":key_id()} . claims . signature
  // (raw r||s, 64 bytes, base64url), claims with iss, sub, aud, iat, nbf,
  // exp, jti, access, and drydock_tid when token_id is set.
  std::string sign(const TokenClaims& claims) const;

  // Checks structure, alg == ES256, the signature, iss, aud, and exp/nbf
  // against `now` with `leeway_seconds`. Never throws on bad input.
  std::expected<TokenClaims, JwtError> verify(std::string_view token, std::string_view issuer,
                                              std::string_view audience, std::int64_t now,
                                              std::int64_t leeway_seconds = 60) const;

  // A short fingerprint of the public key (base32 of the first 30 bytes of
  // SHA-256 of the DER public key, libtrust style "ABCD:EFGH:...").
  const std::string& key_id() const { return key_id_; }

 private:
  struct Key;
  explicit JwtSigner(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

}  // namespace drydock::auth
