#include "auth/jwt.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <utility>

#include "auth/secrets.hpp"

namespace drydock::auth {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kAlgorithm = "ES256";
constexpr std::size_t kCoordinateBytes = 32;  // P-256: r and s are 32 bytes each
// Far above any token we issue; refusing bigger input bounds the work an
// unauthenticated client can cause.
constexpr std::size_t kMaxTokenBytes = 64 * 1024;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using SigPtr = std::unique_ptr<ECDSA_SIG, SigFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

[[noreturn]] void throw_openssl(const std::string& what) {
  unsigned long code = ERR_get_error();
  std::array<char, 256> buf{};
  if (code != 0) ERR_error_string_n(code, buf.data(), buf.size());
  ERR_clear_error();
  throw std::runtime_error("auth: " + what + (code != 0 ? std::string(": ") + buf.data() : ""));
}

// --- keys and key files ---------------------------------------------------

bool is_p256(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") != 1) return false;
  std::array<char, 64> group{};
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &len) != 1) return false;
  std::string_view name(group.data(), len);
  return name == "prime256v1" || name == "P-256";
}

PkeyPtr generate_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw_openssl("cannot generate an EC P-256 key");
  return key;
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw_openssl("cannot encode the JWT signing key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// Never prompts for a passphrase: an encrypted key file simply fails to load.
int no_passphrase(char*, int, int, void*) { return 0; }

PkeyPtr load_key(const fs::path& file) {
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) throw_openssl("cannot open JWT key " + file.string());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) throw_openssl(file.string() + " is not a PEM private key");
  if (!is_p256(key.get())) {
    throw std::runtime_error("auth: " + file.string() + " is not an EC P-256 private key");
  }
  return key;
}

[[noreturn]] void throw_errno(const std::string& what, int err) {
  throw std::runtime_error("auth: " + what + ": " + std::strerror(err));
}

// Creates the missing directories of `dir` with mode 0700: they hold a
// private key.
void create_private_dirs(const fs::path& dir) {
  fs::path prefix;
  for (const fs::path& part : dir) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      throw_errno("cannot create " + prefix.string(), errno);
    }
  }
}

void write_all(int fd, std::string_view data, const fs::path& file) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno("cannot write " + file.string(), n < 0 ? errno : EIO);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Writes `pem` to a new file `file` (0600). False if the file already exists
// (another process created it first).
bool write_new_key_file(const fs::path& file, const std::string& pem) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) return false;
  if (fd < 0) throw_errno("cannot create " + file.string(), errno);
  try {
    write_all(fd, pem, file);
    if (::fsync(fd) != 0) throw_errno("cannot sync " + file.string(), errno);
  } catch (...) {
    ::close(fd);
    ::unlink(file.c_str());
    throw;
  }
  ::close(fd);
  return true;
}

// libtrust's key id, which Docker's token tooling prints: SHA-256 of the DER
// SubjectPublicKeyInfo, first 240 bits, base32 (RFC 4648, no padding), in
// groups of four joined by ':'.
std::string key_id_of(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) throw_openssl("cannot encode the JWT public key");
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  int ok =
      EVP_Digest(der, static_cast<std::size_t>(len), digest.data(), nullptr, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) throw_openssl("cannot hash the JWT public key");
  constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string b32;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < 30; ++i) {  // 240 bits: exactly 48 characters
    acc = (acc << 8) | digest[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      b32 += kBase32[(acc >> bits) & 31];
    }
  }
  std::string out;
  for (std::size_t i = 0; i < b32.size(); i += 4) {
    if (i > 0) out += ':';
    out += b32.substr(i, 4);
  }
  return out;
}

// --- signatures -------------------------------------------------------------

// DER ECDSA-Sig-Value (what OpenSSL produces) -> JWS raw r || s.
std::optional<std::string> der_to_raw(const std::vector<unsigned char>& der) {
  const unsigned char* p = der.data();
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * kCoordinateBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kCoordinateBytes) != static_cast<int>(kCoordinateBytes) ||
      BN_bn2binpad(s, out + kCoordinateBytes, kCoordinateBytes) !=
          static_cast<int>(kCoordinateBytes)) {
    return std::nullopt;
  }
  return raw;
}

// JWS raw r || s -> DER, for EVP_DigestVerify.
std::optional<std::vector<unsigned char>> raw_to_der(std::string_view raw) {
  if (raw.size() != 2 * kCoordinateBytes) return std::nullopt;
  constexpr int kLen = static_cast<int>(kCoordinateBytes);
  BnPtr r(BN_bin2bn(bytes(raw), kLen, nullptr));
  BnPtr s(BN_bin2bn(bytes(raw) + kCoordinateBytes, kLen, nullptr));
  SigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  (void)r.release();  // owned by sig now
  (void)s.release();
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::vector<unsigned char> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

std::optional<std::string> es256_sign(EVP_PKEY* key, std::string_view input) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, bytes(input), input.size()) != 1) {
    return std::nullopt;
  }
  std::vector<unsigned char> der(len);
  if (EVP_DigestSign(ctx.get(), der.data(), &len, bytes(input), input.size()) != 1) {
    return std::nullopt;
  }
  der.resize(len);
  return der_to_raw(der);
}

bool es256_verify(EVP_PKEY* key, std::string_view input, std::string_view raw_signature) {
  std::optional<std::vector<unsigned char>> der = raw_to_der(raw_signature);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = der && ctx &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), der->data(), der->size(), bytes(input), input.size()) == 1;
  ERR_clear_error();  // a bad signature leaves an error on the thread's queue
  return ok;
}

// --- claims -------------------------------------------------------------------

std::string dump(const json& j) {
  // Replace rather than throw on invalid UTF-8 (a repository name from a
  // scope parameter is client input).
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json claims_json(const TokenClaims& c) {
  json access = json::array();
  for (const AccessEntry& e : c.access) {
    access.push_back({{"type", e.type}, {"name", e.name}, {"actions", e.actions}});
  }
  json j = {{"iss", c.issuer},     {"sub", c.subject},    {"aud", c.audience}, {"iat", c.issued_at},
            {"nbf", c.not_before}, {"exp", c.expires_at}, {"jti", c.id},       {"access", access}};
  if (!c.token_id.empty()) j["drydock_tid"] = c.token_id;
  return j;
}

std::optional<json> decode_json(std::string_view part) {
  std::optional<std::string> text = base64url_decode(part);
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

// Reads optional member `key` into `out`; false when present with the wrong
// type.
bool read_string(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool read_time(const json& j, const char* key, std::int64_t& out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (it->is_number_unsigned()) {
    auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(v);
    return true;
  }
  if (!it->is_number_integer()) return false;
  out = it->get<std::int64_t>();
  return true;
}

bool read_string_array(const json& j, std::vector<std::string>& out) {
  if (!j.is_array()) return false;
  for (const json& e : j) {
    if (!e.is_string()) return false;
    out.push_back(e.get<std::string>());
  }
  return true;
}

bool read_access(const json& j, std::vector<AccessEntry>& out) {
  auto it = j.find("access");
  if (it == j.end()) return true;
  if (!it->is_array()) return false;
  for (const json& e : *it) {
    AccessEntry entry;
    if (!e.is_object() || !e.contains("type") || !e.contains("name")) return false;
    if (!read_string(e, "type", entry.type) || !read_string(e, "name", entry.name)) return false;
    auto actions = e.find("actions");
    if (actions != e.end() && !read_string_array(*actions, entry.actions)) return false;
    out.push_back(std::move(entry));
  }
  return true;
}

std::expected<TokenClaims, JwtError> parse_claims(const json& j) {
  TokenClaims c;
  if (!j.contains("iss") || !j.contains("aud") || !j.contains("exp")) {
    return std::unexpected(JwtError::kMalformed);
  }
  bool ok = read_string(j, "iss", c.issuer) && read_string(j, "sub", c.subject) &&
            read_time(j, "iat", c.issued_at) && read_time(j, "nbf", c.not_before) &&
            read_time(j, "exp", c.expires_at) && read_string(j, "jti", c.id) &&
            read_access(j, c.access) && read_string(j, "drydock_tid", c.token_id);
  if (!ok) return std::unexpected(JwtError::kMalformed);
  return c;
}

// RFC 7519 4.1.3: aud is one string or an array of strings.
std::expected<void, JwtError> check_audience(const json& aud, std::string_view expected) {
  if (aud.is_string()) {
    if (aud.get<std::string>() == expected) return {};
    return std::unexpected(JwtError::kAudience);
  }
  std::vector<std::string> list;
  if (!read_string_array(aud, list)) return std::unexpected(JwtError::kMalformed);
  for (const std::string& a : list) {
    if (a == expected) return {};
  }
  return std::unexpected(JwtError::kAudience);
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<std::int64_t>::max()
               : std::numeric_limits<std::int64_t>::min();
}

std::expected<void, JwtError> check_times(const json& j, const TokenClaims& c, std::int64_t now,
                                          std::int64_t leeway) {
  leeway = std::max<std::int64_t>(leeway, 0);
  if (now >= saturating_add(c.expires_at, leeway)) return std::unexpected(JwtError::kExpired);
  if (j.contains("nbf") && now < saturating_add(c.not_before, -leeway)) {
    return std::unexpected(JwtError::kNotYetValid);
  }
  return {};
}

// RFC 7515 4.1.1: only ES256 is accepted, whatever the token claims, so a
// token with "alg":"none" or an HMAC alg keyed with our public key is
// refused. 4.1.11: we understand no critical extensions.
std::expected<void, JwtError> check_header(const json& header) {
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return std::unexpected(JwtError::kMalformed);
  if (alg->get<std::string>() != kAlgorithm) return std::unexpected(JwtError::kAlgorithm);
  if (header.contains("crit")) return std::unexpected(JwtError::kMalformed);
  return {};
}

struct Parts {
  std::string_view header, payload, signature, signing_input;
};

std::optional<Parts> split(std::string_view token) {
  std::size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return std::nullopt;
  std::size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return Parts{token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1),
               token.substr(0, d2)};
}

}  // namespace

struct JwtSigner::Key {
  PkeyPtr pkey;
};

std::string_view to_string(JwtError e) {
  switch (e) {
    case JwtError::kMalformed:
      return "malformed token";
    case JwtError::kAlgorithm:
      return "unsupported signing algorithm";
    case JwtError::kSignature:
      return "invalid signature";
    case JwtError::kExpired:
      return "token expired";
    case JwtError::kNotYetValid:
      return "token not yet valid";
    case JwtError::kIssuer:
      return "wrong issuer";
    case JwtError::kAudience:
      return "wrong audience";
  }
  return "unknown token error";
}

JwtSigner JwtSigner::load_or_create(const std::filesystem::path& pem_file) {
  std::error_code ec;
  if (!fs::exists(pem_file, ec)) {
    if (pem_file.has_parent_path()) create_private_dirs(pem_file.parent_path());
    PkeyPtr key = generate_key();
    if (write_new_key_file(pem_file, pem_of(key.get()))) {
      return JwtSigner(std::make_unique<Key>(Key{std::move(key)}));
    }
    // Lost a race with another process creating the key: use its key.
  }
  return JwtSigner(std::make_unique<Key>(Key{load_key(pem_file)}));
}

JwtSigner JwtSigner::generate() { return JwtSigner(std::make_unique<Key>(Key{generate_key()})); }

JwtSigner::JwtSigner(std::unique_ptr<Key> key)
    : key_(std::move(key)), key_id_(key_id_of(key_->pkey.get())) {}

JwtSigner::JwtSigner(JwtSigner&&) noexcept = default;
JwtSigner& JwtSigner::operator=(JwtSigner&&) noexcept = default;
JwtSigner::~JwtSigner() = default;

std::string JwtSigner::sign(const TokenClaims& claims) const {
  json header = {{"alg", std::string(kAlgorithm)}, {"typ", "JWT"}, {"kid", key_id_}};
  std::string input =
      base64url_encode(dump(header)) + "." + base64url_encode(dump(claims_json(claims)));
  std::optional<std::string> signature = es256_sign(key_->pkey.get(), input);
  // Only an allocation failure inside OpenSSL gets here.
  if (!signature) throw_openssl("cannot sign a token");
  return input + "." + base64url_encode(*signature);
}

std::expected<TokenClaims, JwtError> JwtSigner::verify(std::string_view token,
                                                       std::string_view issuer,
                                                       std::string_view audience, std::int64_t now,
                                                       std::int64_t leeway_seconds) const {
  std::optional<Parts> parts = token.size() <= kMaxTokenBytes ? split(token) : std::nullopt;
  if (!parts) return std::unexpected(JwtError::kMalformed);
  std::optional<json> header = decode_json(parts->header);
  std::optional<std::string> signature = base64url_decode(parts->signature);
  if (!header || !signature) return std::unexpected(JwtError::kMalformed);
  if (auto h = check_header(*header); !h) return std::unexpected(h.error());
  if (!es256_verify(key_->pkey.get(), parts->signing_input, *signature)) {
    return std::unexpected(JwtError::kSignature);
  }
  std::optional<json> payload = decode_json(parts->payload);
  if (!payload) return std::unexpected(JwtError::kMalformed);
  std::expected<TokenClaims, JwtError> claims = parse_claims(*payload);
  if (!claims) return claims;
  if (claims->issuer != issuer) return std::unexpected(JwtError::kIssuer);
  if (auto a = check_audience(*payload->find("aud"), audience); !a) {
    return std::unexpected(a.error());
  }
  claims->audience = std::string(audience);
  if (auto t = check_times(*payload, *claims, now, leeway_seconds); !t) {
    return std::unexpected(t.error());
  }
  return claims;
}

}  // namespace drydock::auth
