#include "registry/route.hpp"

#include <cstddef>
#include <utility>

namespace drydock::registry {
namespace {

constexpr std::string_view kPrefix = "/v2";

enum class PlusMeans { kPlus, kSpace };

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding. nullopt for a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s, PlusMeans plus) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+' && plus == PlusMeans::kSpace) {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

// Splits "a/b/c" into {"a/b", "c"}; a string without '/' gives {"", s} and
// sets `had_slash` false so callers can tell "c" from "/c".
struct Split {
  std::string_view head;
  std::string_view last;
  bool had_slash = false;
};
Split split_last(std::string_view s) {
  const std::size_t slash = s.rfind('/');
  if (slash == std::string_view::npos) return {{}, s, false};
  return {s.substr(0, slash), s.substr(slash + 1), true};
}

Route make_route(Endpoint e, std::string_view name, std::string_view reference) {
  // A route needs a repository name; an empty one is no endpoint at all.
  if (name.empty()) return {};
  return Route{.endpoint = e, .name = std::string(name), .reference = std::string(reference)};
}

// `rest` is the path after "/v2/". Matching is anchored at the right end:
// references, digests and upload ids never contain '/', so the last one or
// two components decide the endpoint and everything before is the name. This
// is the same as splitting at the *last* marker component, so a repository
// may itself contain components such as "blobs" or "manifests".
Route route_under_v2(std::string_view rest) {
  const Split a = split_last(rest);  // a.last: the final component
  if (!a.had_slash) return {};
  const Split b = split_last(a.head);  // b.last: the component before it
  if (!b.had_slash) return {};         // no name before the marker
  if (b.last == "tags" && a.last == "list") return make_route(Endpoint::kTags, b.head, {});
  if (b.last == "uploads") {
    const Split c = split_last(b.head);
    if (!c.had_slash || c.last != "blobs") return {};
    // "/blobs/uploads/" starts an upload; "/blobs/uploads/<id>" is one.
    const Endpoint e = a.last.empty() ? Endpoint::kUploads : Endpoint::kUpload;
    return make_route(e, c.head, a.last);
  }
  if (a.last.empty()) return {};  // "/manifests/", "/blobs/", "/referrers/"
  if (b.last == "blobs") {
    // "/v2/<name>/blobs/uploads" without the slash: clients POST to it too.
    if (a.last == "uploads") return make_route(Endpoint::kUploads, b.head, {});
    return make_route(Endpoint::kBlob, b.head, a.last);
  }
  if (b.last == "manifests") return make_route(Endpoint::kManifest, b.head, a.last);
  if (b.last == "referrers") return make_route(Endpoint::kReferrers, b.head, a.last);
  return {};
}

}  // namespace

Route parse_route(std::string_view path) {
  if (!path.starts_with(kPrefix)) return {};
  const std::string_view after = path.substr(kPrefix.size());
  if (after.empty() || after == "/") return Route{.endpoint = Endpoint::kBase};
  if (after.front() != '/') return {};  // "/v2x"
  const std::string_view rest = after.substr(1);
  if (rest == "_catalog") return Route{.endpoint = Endpoint::kCatalog};
  return route_under_v2(rest);
}

Query Query::parse(std::string_view raw) {
  Query q;
  while (!raw.empty()) {
    const std::size_t amp = raw.find('&');
    const std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    // A malformed escape is kept verbatim rather than dropped, so that a bad
    // value (say n=%zz) is reported as invalid instead of silently missing.
    auto k = percent_decode(key, PlusMeans::kSpace);
    auto v = percent_decode(value, PlusMeans::kSpace);
    q.values_.emplace(k ? std::move(*k) : std::string(key), v ? std::move(*v) : std::string(value));
  }
  return q;
}

std::optional<std::string> Query::get(std::string_view key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Query::get_all(std::string_view key) const {
  std::vector<std::string> out;
  auto [first, last] = values_.equal_range(key);
  for (auto it = first; it != last; ++it) out.push_back(it->second);
  return out;
}

bool Query::has(std::string_view key) const { return values_.find(key) != values_.end(); }

void Query::erase(std::string_view key) {
  auto [first, last] = values_.equal_range(key);
  values_.erase(first, last);
}

std::optional<Target> split_target(std::string_view target) {
  const std::size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  // '+' is an ordinary character in a path (only forms use it for space).
  auto path = percent_decode(raw_path, PlusMeans::kPlus);
  if (!path || path->find('\0') != std::string::npos) return std::nullopt;
  Target t;
  t.path = std::move(*path);
  if (q != std::string_view::npos) t.raw_query = std::string(target.substr(q + 1));
  return t;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
                            (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' || u == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0F]);
    }
  }
  return out;
}

}  // namespace drydock::registry
