#pragma once

// Password hashing and the small secret-handling primitives auth/ is built
// on, all from OpenSSL.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace drydock::auth {

// scrypt cost. The default (N = 2^15, r = 8, p = 1: 32 MiB, ~50-100 ms on
// this machine) follows OWASP's minimum for scrypt; tests may pass a lower
// cost to stay fast.
struct KdfCost {
  unsigned log2_n = 15;
  unsigned r = 8;
  unsigned p = 1;
};

// Hashes `password` with scrypt (EVP_PBE_scrypt) and a fresh 16-byte random
// salt. Result, self-describing so the cost can be raised later:
//   "$scrypt$ln=15,r=8,p=1$<base64 salt>$<base64 32-byte key>"
// Throws std::runtime_error only if OpenSSL fails (out of memory).
std::string hash_password(std::string_view password, KdfCost cost = {});

// A password we store or accept: not empty and free of NUL bytes. scrypt
// keys PBKDF2-HMAC with the password, and HMAC pads a short key with zero
// bytes, so "secret" and "secret\0" would derive the same key.
bool acceptable_password(std::string_view password);

// True when `password` hashes to `encoded` (a hash_password result). The
// final comparison is constant-time. A malformed `encoded`, one with a cost
// above ln=20, or a password that is not acceptable_password returns false
// (never throws).
bool verify_password(std::string_view password, std::string_view encoded);

// Constant-time equality (CRYPTO_memcmp); differing lengths return false
// without looking at the contents.
bool constant_time_equal(std::string_view a, std::string_view b);

// `bytes` random bytes from RAND_bytes, base64url without padding.
std::string random_secret(std::size_t bytes = 32);

// Lower-case hex SHA-256 of `data` (for storing token secrets hashed: they
// are long random strings, so a fast hash is right for them, unlike
// passwords).
std::string sha256_hex(std::string_view data);

// Standard base64 (RFC 4648 section 4) with padding, as HTTP Basic uses.
std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

// base64url (RFC 4648 section 5) without padding, as JWT uses. Decoding
// also accepts padding.
std::string base64url_encode(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace drydock::auth
