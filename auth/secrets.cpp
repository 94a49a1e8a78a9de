#include "auth/secrets.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <stdexcept>

namespace drydock::auth {
namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kKeyBytes = 32;
constexpr std::string_view kPrefix = "$scrypt$";
// Limits on a stored hash's cost, so a tampered or absurd row cannot make a
// login allocate gigabytes or spin for minutes. ln=20 with r=8 (1 GiB) is
// the largest memory cost accepted.
constexpr unsigned kMaxLog2N = 20;
constexpr unsigned kMaxR = 32;
constexpr unsigned kMaxP = 16;
constexpr std::uint64_t kMaxScryptMemory = std::uint64_t{1} << 30;

constexpr std::string_view kStdAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

enum class Padding { kWith, kWithout };
enum class PaddingRule { kRequired, kOptional };

std::string encode(std::string_view data, std::string_view alphabet, Padding padding) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t v = static_cast<unsigned char>(data[i]) << 16 |
                      static_cast<unsigned char>(data[i + 1]) << 8 |
                      static_cast<unsigned char>(data[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[(v >> shift) & 63];
  }
  std::size_t rest = data.size() - i;
  if (rest == 0) return out;
  std::uint32_t v = static_cast<unsigned char>(data[i]) << 16;
  if (rest == 2) v |= static_cast<unsigned char>(data[i + 1]) << 8;
  out += alphabet[(v >> 18) & 63];
  out += alphabet[(v >> 12) & 63];
  if (rest == 2) out += alphabet[(v >> 6) & 63];
  if (padding == Padding::kWith) out.append(3 - rest, '=');
  return out;
}

// Maps each byte to its 6-bit value in `alphabet`, or -1.
std::array<std::int8_t, 256> decode_table(std::string_view alphabet) {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}

// Strict decoding: only alphabet characters, '=' only as final padding (and
// only where padding belongs), and unused low bits of the last character
// zero, so that every byte string has exactly one accepted encoding.
std::optional<std::string> decode(std::string_view text, const std::array<std::int8_t, 256>& table,
                                  PaddingRule rule) {
  std::size_t pads = 0;
  while (pads < 2 && pads < text.size() && text[text.size() - 1 - pads] == '=') ++pads;
  if ((pads > 0 || rule == PaddingRule::kRequired) && text.size() % 4 != 0) return std::nullopt;
  std::string_view body = text.substr(0, text.size() - pads);
  if (body.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(body.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : body) {
    std::int8_t v = table[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

const std::array<std::int8_t, 256>& std_table() {
  static const auto t = decode_table(kStdAlphabet);
  return t;
}

const std::array<std::int8_t, 256>& url_table() {
  static const auto t = decode_table(kUrlAlphabet);
  return t;
}

// Memory scrypt needs for these parameters, exactly as OpenSSL computes it
// (128 r p for B, 128 r (N + 2) for V), so maxmem never refuses a cost we
// accept.
std::uint64_t scrypt_memory(KdfCost cost) {
  std::uint64_t n = std::uint64_t{1} << cost.log2_n;
  return std::uint64_t{128} * cost.r * (n + 2 + cost.p);
}

bool sane_cost(KdfCost c) {
  if (c.log2_n < 1 || c.log2_n > kMaxLog2N) return false;
  if (c.r < 1 || c.r > kMaxR || c.p < 1 || c.p > kMaxP) return false;
  return (std::uint64_t{128} * c.r << c.log2_n) <= kMaxScryptMemory;
}

std::optional<std::string> scrypt(std::string_view password, std::string_view salt, KdfCost cost) {
  std::string key(kKeyBytes, '\0');
  int ok = EVP_PBE_scrypt(password.data(), password.size(),
                          reinterpret_cast<const unsigned char*>(salt.data()), salt.size(),
                          std::uint64_t{1} << cost.log2_n, cost.r, cost.p, scrypt_memory(cost),
                          reinterpret_cast<unsigned char*>(key.data()), key.size());
  if (ok != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return key;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    ERR_clear_error();
    throw std::runtime_error("auth: RAND_bytes failed");
  }
  return out;
}

bool parse_unsigned(std::string_view text, unsigned& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// Parses "ln=15,r=8,p=1" (exactly this order).
std::optional<KdfCost> parse_cost(std::string_view text) {
  constexpr std::array<std::string_view, 3> kKeys = {"ln=", "r=", "p="};
  std::array<unsigned, 3> values{};
  for (std::size_t i = 0; i < kKeys.size(); ++i) {
    if (!text.starts_with(kKeys[i])) return std::nullopt;
    text.remove_prefix(kKeys[i].size());
    std::size_t comma = text.find(',');
    if ((comma == std::string_view::npos) != (i + 1 == kKeys.size())) return std::nullopt;
    if (!parse_unsigned(text.substr(0, comma), values[i])) return std::nullopt;
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return KdfCost{values[0], values[1], values[2]};
}

struct ParsedHash {
  KdfCost cost;
  std::string salt;
  std::string key;
};

// "$scrypt$ln=..,r=..,p=..$<salt>$<key>".
std::optional<ParsedHash> parse_hash(std::string_view encoded) {
  if (!encoded.starts_with(kPrefix)) return std::nullopt;
  encoded.remove_prefix(kPrefix.size());
  std::size_t d1 = encoded.find('$');
  if (d1 == std::string_view::npos) return std::nullopt;
  std::size_t d2 = encoded.find('$', d1 + 1);
  if (d2 == std::string_view::npos || encoded.find('$', d2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  std::optional<KdfCost> cost = parse_cost(encoded.substr(0, d1));
  std::optional<std::string> salt = base64_decode(encoded.substr(d1 + 1, d2 - d1 - 1));
  std::optional<std::string> key = base64_decode(encoded.substr(d2 + 1));
  if (!cost || !salt || !key || salt->empty() || key->size() != kKeyBytes) return std::nullopt;
  return ParsedHash{*cost, *std::move(salt), *std::move(key)};
}

}  // namespace

std::string hash_password(std::string_view password, KdfCost cost) {
  // A hash verify_password would refuse is a configuration mistake: say so
  // now rather than lock the user out later.
  if (!sane_cost(cost)) throw std::invalid_argument("auth: scrypt cost out of range");
  std::string salt = random_bytes(kSaltBytes);
  std::optional<std::string> key = scrypt(password, salt, cost);
  if (!key) throw std::runtime_error("auth: scrypt failed (out of memory or invalid cost)");
  return std::string(kPrefix) + "ln=" + std::to_string(cost.log2_n) +
         ",r=" + std::to_string(cost.r) + ",p=" + std::to_string(cost.p) + "$" +
         base64_encode(salt) + "$" + base64_encode(*key);
}

bool acceptable_password(std::string_view password) {
  return !password.empty() && password.find('\0') == std::string_view::npos;
}

bool verify_password(std::string_view password, std::string_view encoded) {
  if (!acceptable_password(password)) return false;
  std::optional<ParsedHash> parsed = parse_hash(encoded);
  if (!parsed || !sane_cost(parsed->cost)) return false;
  std::optional<std::string> key = scrypt(password, parsed->salt, parsed->cost);
  return key && constant_time_equal(*key, parsed->key);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_secret(std::size_t bytes) { return base64url_encode(random_bytes(bytes)); }

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    ERR_clear_error();
    throw std::runtime_error("auth: SHA-256 failed");
  }
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string base64_encode(std::string_view data) {
  return encode(data, kStdAlphabet, Padding::kWith);
}

std::optional<std::string> base64_decode(std::string_view text) {
  return decode(text, std_table(), PaddingRule::kRequired);
}

std::string base64url_encode(std::string_view data) {
  return encode(data, kUrlAlphabet, Padding::kWithout);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  return decode(text, url_table(), PaddingRule::kOptional);
}

}  // namespace drydock::auth
