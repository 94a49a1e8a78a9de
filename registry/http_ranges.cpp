#include "registry/http_ranges.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>

namespace drydock::registry {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

enum class Overflow { kFail, kSaturate };

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

// Reads a run of decimal digits from the front of `s` and removes it. nullopt
// if there are none, or on overflow with Overflow::kFail; kSaturate gives
// UINT64_MAX instead (a Range position beyond any blob is simply "too big").
std::optional<std::uint64_t> take_number(std::string_view& s, Overflow overflow) {
  std::size_t i = 0;
  std::uint64_t v = 0;
  bool saturated = false;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    const auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (kMax - d) / 10) {
      saturated = true;
      v = kMax;
    } else if (!saturated) {
      v = v * 10 + d;
    }
  }
  if (i == 0 || (saturated && overflow == Overflow::kFail)) return std::nullopt;
  s.remove_prefix(i);
  return v;
}

bool take_char(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// Removes a leading "bytes " or "bytes=" (any case) if present.
void skip_bytes_unit(std::string_view& s) {
  if (s.size() > 6 && iequals(s.substr(0, 5), "bytes") && (s[5] == ' ' || s[5] == '=')) {
    s = trim(s.substr(6));
  }
}

RangeRequest unsatisfiable() { return {.result = RangeResult::kUnsatisfiable}; }
RangeRequest malformed() { return {.result = RangeResult::kMalformed}; }
RangeRequest satisfiable(std::uint64_t first, std::uint64_t last) {
  return {.result = RangeResult::kSatisfiable, .range = {.first = first, .last = last}};
}

// "-n": the last n bytes (RFC 9110 14.1.1 suffix-range).
RangeRequest suffix_range(std::string_view spec, std::uint64_t size) {
  const auto n = take_number(spec, Overflow::kSaturate);
  if (!n || !spec.empty()) return malformed();
  if (*n == 0) return unsatisfiable();
  // A zero-length blob has no byte to point at; ByteRange is inclusive, so
  // answer with the whole (empty) blob, which RFC 9110 permits.
  if (size == 0) return {};
  return satisfiable(*n >= size ? 0 : size - *n, size - 1);
}

// "a-b" or "a-" (RFC 9110 14.1.1 int-range).
RangeRequest int_range(std::string_view spec, std::uint64_t size) {
  const auto first = take_number(spec, Overflow::kSaturate);
  if (!first || !take_char(spec, '-')) return malformed();
  std::uint64_t last = kMax;
  if (!spec.empty()) {
    const auto l = take_number(spec, Overflow::kSaturate);
    if (!l || !spec.empty() || *l < *first) return malformed();
    last = *l;
  }
  if (*first >= size) return unsatisfiable();
  return satisfiable(*first, std::min(last, size - 1));
}

}  // namespace

std::optional<ByteRange> parse_content_range(std::string_view v) {
  v = trim(v);
  skip_bytes_unit(v);
  const auto first = take_number(v, Overflow::kFail);
  if (!first || !take_char(v, '-')) return std::nullopt;
  const auto last = take_number(v, Overflow::kFail);
  if (!last || *last < *first) return std::nullopt;
  // Tolerate the RFC 9110 complete-length suffix, "/<length>" or "/*".
  if (take_char(v, '/')) {
    if (!take_char(v, '*')) {
      const auto total = take_number(v, Overflow::kFail);
      if (!total || *total <= *last) return std::nullopt;
    }
  }
  if (!v.empty()) return std::nullopt;
  return ByteRange{.first = *first, .last = *last};
}

RangeRequest parse_range(std::string_view v, std::uint64_t size) {
  v = trim(v);
  if (v.empty()) return {};
  const std::size_t eq = v.find('=');
  if (eq == std::string_view::npos) return malformed();
  // RFC 9110 14.2: a range unit the server does not understand is ignored.
  if (!iequals(trim(v.substr(0, eq)), "bytes")) return {};
  const std::string_view spec = trim(v.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return {};  // multipart: send it all
  if (spec.empty()) return malformed();
  if (spec.front() == '-') return suffix_range(spec.substr(1), size);
  return int_range(spec, size);
}

}  // namespace drydock::registry
