#include "registry/reference.hpp"

#include <cstddef>
#include <string>
#include <utility>

namespace drydock::registry {
namespace {

// Hand-written scanners instead of std::regex: linear time, no recursion, so a
// hostile 1 MiB path costs microseconds and cannot exhaust the stack.

constexpr std::size_t kMaxNameLength = 255;
constexpr std::size_t kMaxTagLength = 128;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// Scans one path component, [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, starting at
// `i`. Returns the index one past it, or npos if the text there is not a
// component. The component ends at '/' or at the end of `s`.
std::size_t scan_component(std::string_view s, std::size_t i) {
  if (i >= s.size() || !is_lower_alnum(s[i])) return std::string_view::npos;
  while (i < s.size() && s[i] != '/') {
    if (is_lower_alnum(s[i])) {
      ++i;
      continue;
    }
    // A separator: ".", "_", "__" or one or more "-", then an alnum.
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return std::string_view::npos;
    }
    if (i >= s.size() || !is_lower_alnum(s[i])) return std::string_view::npos;
  }
  return i;
}

bool valid_algorithm(std::string_view a) {
  // [a-z0-9]+([+._-][a-z0-9]+)*
  bool need_alnum = true;
  for (char c : a) {
    if (is_lower_alnum(c)) {
      need_alnum = false;
    } else if ((c == '+' || c == '.' || c == '_' || c == '-') && !need_alnum) {
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

bool valid_encoded(std::string_view e) {
  if (e.empty()) return false;
  for (char c : e) {
    if (!is_alnum(c) && c != '=' && c != '_' && c != '-') return false;
  }
  return true;
}

Error digest_error(ErrorCode code, std::string message) {
  return Error{.code = code, .message = std::move(message)};
}

}  // namespace

bool valid_repository_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  std::size_t i = 0;
  while (true) {
    i = scan_component(name, i);
    if (i == std::string_view::npos) return false;
    if (i == name.size()) return true;
    ++i;  // skip the '/'; scan_component rejects an empty or trailing component
  }
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  if (!is_alnum(tag[0]) && tag[0] != '_') return false;
  for (char c : tag.substr(1)) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

bool looks_like_digest(std::string_view s) {
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  return valid_algorithm(s.substr(0, colon)) && valid_encoded(s.substr(colon + 1));
}

std::expected<storage::Digest, Error> parse_client_digest(std::string_view s) {
  if (!looks_like_digest(s)) {
    return std::unexpected(digest_error(ErrorCode::kDigestInvalid, "malformed digest"));
  }
  const std::string_view algorithm = s.substr(0, s.find(':'));
  if (algorithm != "sha256" && algorithm != "sha512") {
    return std::unexpected(
        digest_error(ErrorCode::kUnsupported,
                     "unsupported digest algorithm: " + std::string(algorithm.substr(0, 64))));
  }
  // image-spec descriptor.md "Registered algorithms": sha256 and sha512 are
  // lowercase hex of a fixed length; anything else is not a valid digest.
  auto d = storage::parse_digest(s);
  if (!d) {
    return std::unexpected(digest_error(
        ErrorCode::kDigestInvalid, std::string(algorithm) + " digest must be " +
                                       (algorithm == "sha256" ? "64" : "128") + " lowercase hex"));
  }
  return std::move(*d);
}

}  // namespace drydock::registry
