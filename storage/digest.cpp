#include "storage/digest.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace drydock::storage {
namespace {

constexpr std::string_view kSha256Prefix = "sha256:";
constexpr std::string_view kSha512Prefix = "sha512:";
constexpr std::size_t kSha256HexLen = 64;
constexpr std::size_t kSha512HexLen = 128;

// Fetched once: with OpenSSL 3, passing EVP_sha256() to every DigestInit does
// an implicit provider lookup each time; an explicitly fetched EVP_MD does not.
const EVP_MD* md_for(DigestAlgorithm a) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static EVP_MD* const sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  const EVP_MD* md = a == DigestAlgorithm::kSha512 ? sha512 : sha256;
  if (md == nullptr) {
    // Not something a client can cause: the crypto library is unusable.
    std::fputs("storage: OpenSSL cannot provide SHA-256/SHA-512\n", stderr);
    std::abort();
  }
  return md;
}

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    bool digit = c >= '0' && c <= '9';
    bool letter = c >= 'a' && c <= 'f';
    if (!digit && !letter) return false;
  }
  return true;
}

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0x0f];
  }
  return out;
}

void check(int ok, const char* what) {
  if (ok != 1) {
    // EVP digest calls fail only on allocation failure or a broken provider.
    std::fprintf(stderr, "storage: OpenSSL %s failed\n", what);
    std::abort();
  }
}

}  // namespace

std::string_view to_string(DigestAlgorithm a) {
  return a == DigestAlgorithm::kSha512 ? "sha512" : "sha256";
}

std::string Digest::str() const {
  std::string out;
  out.reserve(kSha512Prefix.size() + hex.size());
  out.append(to_string(algorithm));
  out.push_back(':');
  out.append(hex);
  return out;
}

std::optional<Digest> parse_digest(std::string_view s) {
  Digest d;
  std::size_t want = 0;
  if (s.starts_with(kSha256Prefix)) {
    d.algorithm = DigestAlgorithm::kSha256;
    want = kSha256HexLen;
  } else if (s.starts_with(kSha512Prefix)) {
    d.algorithm = DigestAlgorithm::kSha512;
    want = kSha512HexLen;
  } else {
    return std::nullopt;
  }
  std::string_view hex = s.substr(kSha256Prefix.size());
  if (hex.size() != want || !is_lower_hex(hex)) return std::nullopt;
  d.hex = std::string(hex);
  return d;
}

struct Hasher::State {
  EVP_MD_CTX* ctx = nullptr;

  explicit State(DigestAlgorithm a) : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) check(0, "EVP_MD_CTX_new");
    check(EVP_DigestInit_ex(ctx, md_for(a), nullptr), "EVP_DigestInit_ex");
  }
  State(const State& o) : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) check(0, "EVP_MD_CTX_new");
    check(EVP_MD_CTX_copy_ex(ctx, o.ctx), "EVP_MD_CTX_copy_ex");
  }
  State& operator=(const State&) = delete;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(DigestAlgorithm a) : algorithm_(a), state_(std::make_unique<State>(a)) {}

Hasher::Hasher(const Hasher& o)
    : algorithm_(o.algorithm_),
      state_(o.state_ ? std::make_unique<State>(*o.state_)
                      : std::make_unique<State>(o.algorithm_)) {}

Hasher& Hasher::operator=(const Hasher& o) {
  if (this != &o) {
    Hasher copy(o);
    *this = std::move(copy);
  }
  return *this;
}

Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(const void* data, std::size_t n) {
  // A moved-from hasher starts over rather than crashing.
  if (!state_) state_ = std::make_unique<State>(algorithm_);
  if (n == 0) return;
  check(EVP_DigestUpdate(state_->ctx, data, n), "EVP_DigestUpdate");
}

Digest Hasher::current() const {
  // Finalise a copy so that this hasher can keep going.
  State snapshot = state_ ? State(*state_) : State(algorithm_);
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  check(EVP_DigestFinal_ex(snapshot.ctx, out.data(), &len), "EVP_DigestFinal_ex");
  return Digest{algorithm_, to_hex(out.data(), len)};
}

Digest digest_of(std::string_view data, DigestAlgorithm a) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  check(EVP_Digest(data.data(), data.size(), out.data(), &len, md_for(a), nullptr), "EVP_Digest");
  return Digest{a, to_hex(out.data(), len)};
}

}  // namespace drydock::storage
