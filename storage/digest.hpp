#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace drydock::storage {

// The content digest algorithms Drydock can verify (OCI image-spec
// descriptor.md: sha256 is required, sha512 is registered).
enum class DigestAlgorithm { kSha256, kSha512 };

std::string_view to_string(DigestAlgorithm a);

// A verified-form digest: a supported algorithm and its lowercase hex encoding.
struct Digest {
  DigestAlgorithm algorithm = DigestAlgorithm::kSha256;
  std::string hex;

  // "sha256:<hex>".
  std::string str() const;
  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;
};

// Parses "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>".
// Anything else (other algorithms, wrong length, uppercase) gives nullopt; the
// registry distinguishes "malformed" from "unsupported" itself.
std::optional<Digest> parse_digest(std::string_view s);

// Incremental hash over a stream of bytes. Copyable so that a session can
// snapshot its state.
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm a = DigestAlgorithm::kSha256);
  Hasher(const Hasher&);
  Hasher& operator=(const Hasher&);
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest of everything fed so far; the hasher stays usable.
  Digest current() const;
  DigestAlgorithm algorithm() const { return algorithm_; }

 private:
  DigestAlgorithm algorithm_;
  struct State;
  std::unique_ptr<State> state_;
};

// Digest of a whole in-memory buffer.
Digest digest_of(std::string_view data, DigestAlgorithm a = DigestAlgorithm::kSha256);

}  // namespace drydock::storage
