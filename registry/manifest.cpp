#include "registry/manifest.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "registry/reference.hpp"

namespace drydock::registry {
namespace {

using nlohmann::json;

enum class Kind { kOciManifest, kOciIndex, kDockerManifest, kDockerList, kSchema1, kUnknown };

struct KnownType {
  std::string_view media_type;
  Kind kind;
};
constexpr std::array kKnownTypes = {
    KnownType{kOciManifest, Kind::kOciManifest},
    KnownType{kOciIndex, Kind::kOciIndex},
    KnownType{kDockerManifest, Kind::kDockerManifest},
    KnownType{kDockerManifestList, Kind::kDockerList},
    KnownType{kDockerSchema1, Kind::kSchema1},
    KnownType{kDockerSchema1Signed, Kind::kSchema1},
};

// image-spec: layers that a registry is not required to hold because they are
// fetched from `urls` (Docker "foreign" layers, OCI non-distributable layers).
constexpr std::string_view kDockerForeignPrefix = "application/vnd.docker.image.rootfs.foreign.";
constexpr std::string_view kOciNondistributablePrefix =
    "application/vnd.oci.image.layer.nondistributable.";

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), to_lower);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Client text quoted in an error message, cut to a sane length.
std::string clip(std::string_view s) {
  constexpr std::size_t kMaxQuoted = 128;
  return s.size() <= kMaxQuoted ? std::string(s) : std::string(s.substr(0, kMaxQuoted)) + "...";
}

// "Type/Sub; charset=x" -> "type/sub".
std::string bare_media_type(std::string_view v) { return lower(trim(v.substr(0, v.find(';')))); }

Kind classify(std::string_view bare) {
  for (const auto& t : kKnownTypes) {
    if (t.media_type == bare) return t.kind;
  }
  return Kind::kUnknown;
}

bool is_restricted_name(std::string_view s) {
  // RFC 6838 4.2: restricted-name = alnum *126(alnum / "!#$&-^_.+")
  if (s.empty() || s.size() > 127) return false;
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s.front())) return false;
  return std::ranges::all_of(s, [&](char c) {
    return alnum(c) || std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
  });
}

// A descriptor's mediaType or an artifactType: "type/subtype" per RFC 6838.
bool valid_media_type(std::string_view s) {
  const std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  return is_restricted_name(s.substr(0, slash)) && is_restricted_name(s.substr(slash + 1));
}

std::unexpected<Error> invalid(std::string message) {
  return std::unexpected(Error{.code = ErrorCode::kManifestInvalid, .message = std::move(message)});
}

std::unexpected<Error> unsupported(std::string message) {
  return std::unexpected(Error{.code = ErrorCode::kUnsupported, .message = std::move(message)});
}

// image-spec: annotations are a map of string to string.
bool valid_annotations(const json& a) {
  if (!a.is_object()) return false;
  return std::ranges::all_of(a.items(), [](const auto& kv) { return kv.value().is_string(); });
}

bool valid_urls(const json& u) {
  if (!u.is_array()) return false;
  return std::ranges::all_of(u, [](const json& s) { return s.is_string() && !s.empty(); });
}

// image-spec descriptor.md: size is a non-negative int64.
bool valid_size(const json& s) {
  if (s.is_number_unsigned()) {
    return s.get<std::uint64_t>() <=
           static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  }
  return s.is_number_integer() && s.get<std::int64_t>() >= 0;
}

std::optional<std::string> optional_media_type(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end()) return std::string();
  if (!it->is_string() || !valid_media_type(it->get_ref<const std::string&>())) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

struct Descriptor {
  std::string media_type;
  storage::Digest digest;
  bool fetched_from_urls = false;  // foreign / non-distributable layer with urls
};

std::expected<Descriptor, Error> check_descriptor_fields(const json& d, const std::string& where) {
  const auto mt = d.find("mediaType");
  if (mt == d.end() || !mt->is_string() || !valid_media_type(mt->get_ref<const std::string&>())) {
    return invalid(where + ": mediaType must be a valid media type string");
  }
  const auto size = d.find("size");
  if (size == d.end() || !valid_size(*size)) {
    return invalid(where + ": size must be a non-negative integer");
  }
  if (const auto urls = d.find("urls"); urls != d.end() && !valid_urls(*urls)) {
    return invalid(where + ": urls must be an array of strings");
  }
  if (const auto a = d.find("annotations"); a != d.end() && !valid_annotations(*a)) {
    return invalid(where + ": annotations must be an object of strings");
  }
  if (!optional_media_type(d, "artifactType")) {
    return invalid(where + ": artifactType must be a valid media type string");
  }
  return Descriptor{.media_type = mt->get<std::string>()};
}

std::expected<Descriptor, Error> parse_descriptor(const json& d, const std::string& where) {
  if (!d.is_object()) return invalid(where + " must be a descriptor object");
  auto desc = check_descriptor_fields(d, where);
  if (!desc) return desc;
  const auto digest = d.find("digest");
  if (digest == d.end() || !digest->is_string()) {
    return invalid(where + ": digest must be a string");
  }
  auto parsed = parse_client_digest(digest->get_ref<const std::string&>());
  if (!parsed) {
    parsed.error().message = where + ".digest: " + parsed.error().message;
    return std::unexpected(std::move(parsed.error()));
  }
  desc->digest = std::move(*parsed);
  const std::string mt = lower(desc->media_type);
  const bool foreign =
      mt.starts_with(kDockerForeignPrefix) || mt.starts_with(kOciNondistributablePrefix);
  const auto urls = d.find("urls");
  desc->fetched_from_urls = foreign && urls != d.end() && !urls->empty();
  return desc;
}

// Refs are deduplicated (keeping the first of each): a layer may legitimately
// appear twice, or equal the config, but the metadata store records each
// reference once. A set keeps this linear-ish for manifests with many layers.
void dedupe_refs(std::vector<storage::ManifestRef>& refs) {
  std::set<std::pair<storage::Digest, storage::RefKind>> seen;
  std::vector<storage::ManifestRef> unique;
  unique.reserve(refs.size());
  for (auto& r : refs) {
    if (seen.emplace(r.digest, r.kind).second) unique.push_back(std::move(r));
  }
  refs = std::move(unique);
}

void add_ref(ParsedManifest& m, storage::Digest digest, storage::RefKind kind) {
  m.refs.push_back(storage::ManifestRef{.digest = std::move(digest), .kind = kind});
}

std::expected<void, Error> add_refs(const json& list, const char* field, storage::RefKind kind,
                                    ParsedManifest& m) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto d = parse_descriptor(list[i], std::string(field) + "[" + std::to_string(i) + "]");
    if (!d) return std::unexpected(std::move(d.error()));
    // Layers fetched from their urls need not exist in the registry.
    if (!d->fetched_from_urls) add_ref(m, std::move(d->digest), kind);
  }
  return {};
}

std::expected<void, Error> parse_image_body(const json& j, ParsedManifest& m) {
  // Reject documents that are ambiguous between manifest and index (as CNCF
  // distribution does), so no reader can interpret them differently.
  if (j.contains("manifests")) return invalid("an image manifest must not have manifests");
  const auto config = j.find("config");
  if (config == j.end()) return invalid("config descriptor is required");
  auto cfg = parse_descriptor(*config, "config");
  if (!cfg) return std::unexpected(std::move(cfg.error()));
  const auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return invalid("layers must be an array");
  add_ref(m, std::move(cfg->digest), storage::RefKind::kBlob);
  auto added = add_refs(*layers, "layers", storage::RefKind::kBlob, m);
  if (!added) return added;
  // distribution-spec "Listing Referrers": without artifactType, an image
  // manifest's artifact type is its config's mediaType.
  if (m.artifact_type.empty()) m.artifact_type = cfg->media_type;
  return {};
}

std::expected<void, Error> parse_index_body(const json& j, ParsedManifest& m) {
  if (j.contains("config") || j.contains("layers")) {
    return invalid("an index must not have config or layers");
  }
  const auto manifests = j.find("manifests");
  if (manifests == j.end() || !manifests->is_array()) return invalid("manifests must be an array");
  m.is_index = true;
  return add_refs(*manifests, "manifests", storage::RefKind::kManifest, m);
}

// Fields common to every schema 2 manifest: schemaVersion, artifactType,
// subject and annotations.
std::expected<void, Error> parse_common(const json& j, ParsedManifest& m) {
  const auto version = j.find("schemaVersion");
  if (version == j.end() || !version->is_number_integer() || *version != 2) {
    return invalid("schemaVersion must be 2");
  }
  const auto artifact_type = optional_media_type(j, "artifactType");
  if (!artifact_type) return invalid("artifactType must be a valid media type string");
  m.artifact_type = *artifact_type;
  if (const auto s = j.find("subject"); s != j.end()) {
    auto subject = parse_descriptor(*s, "subject");
    if (!subject) return std::unexpected(std::move(subject.error()));
    m.subject = std::move(subject->digest);
  }
  if (const auto a = j.find("annotations"); a != j.end()) {
    if (!valid_annotations(*a)) return invalid("annotations must be an object of strings");
    m.annotations_json = a->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return {};
}

// Decides the manifest's media type from the Content-Type and the document's
// own mediaType field (distribution-spec "Pushing Manifests": when both are
// present they must agree).
std::expected<Kind, Error> effective_kind(const json& j, const std::string& content_type) {
  std::string field;
  if (const auto mt = j.find("mediaType"); mt != j.end()) {
    if (!mt->is_string()) return invalid("mediaType must be a string");
    field = lower(mt->get_ref<const std::string&>());
    if (!content_type.empty() && field != content_type) {
      return invalid("mediaType " + clip(field) + " does not match Content-Type " +
                     clip(content_type));
    }
  }
  const std::string& type = content_type.empty() ? field : content_type;
  if (type.empty()) {
    if (const auto v = j.find("schemaVersion"); v != j.end() && *v == 1) {
      return unsupported("schema1 manifests are not supported");
    }
    return invalid("no Content-Type and no mediaType: cannot tell the manifest type");
  }
  const Kind kind = classify(type);
  if (kind == Kind::kSchema1) return unsupported("schema1 manifests are not supported");
  if (kind == Kind::kUnknown) return invalid("unsupported manifest media type: " + clip(type));
  return kind;
}

std::string_view canonical_type(Kind k) {
  for (const auto& t : kKnownTypes) {
    if (t.kind == k) return t.media_type;
  }
  return {};
}

// --- content negotiation (RFC 9110 12.5.1) ---------------------------------

constexpr int kFullQuality = 1000;  // q in thousandths

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ). A malformed
// weight counts as 1: being lenient here can only serve more, never less.
int parse_qvalue(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return kFullQuality;
  if (v.size() > 1 && (v[1] != '.' || v.size() > 5)) return kFullQuality;
  int q = (v[0] - '0') * kFullQuality;
  int scale = 100;
  for (char c : v.substr(std::min<std::size_t>(2, v.size()))) {
    if (c < '0' || c > '9') return kFullQuality;
    q += (c - '0') * scale;
    scale /= 10;
  }
  return std::min(q, kFullQuality);
}

struct MediaRange {
  std::string type;  // lowercase, e.g. "application/*"
  int quality = kFullQuality;
};

std::optional<MediaRange> parse_media_range(std::string_view item) {
  MediaRange r{.type = bare_media_type(item)};
  if (r.type.find('/') == std::string::npos) return std::nullopt;
  std::size_t semi = item.find(';');
  while (semi != std::string_view::npos) {
    item.remove_prefix(semi + 1);
    semi = item.find(';');
    const std::string_view param = trim(item.substr(0, semi));
    const std::size_t eq = param.find('=');
    if (eq != std::string_view::npos && lower(trim(param.substr(0, eq))) == "q") {
      r.quality = parse_qvalue(trim(param.substr(eq + 1)));
    }
  }
  return r;
}

// -1: no match; 0: "*/*"; 1: "type/*"; 2: exact.
int specificity(const std::string& range, const std::string& type) {
  if (range == type) return 2;
  if (range == "*/*") return 0;
  const std::size_t slash = type.find('/');
  if (range.ends_with("/*") && range.compare(0, range.size() - 1, type, 0, slash + 1) == 0) {
    return 1;
  }
  return -1;
}

}  // namespace

std::expected<ParsedManifest, Error> parse_manifest(std::string_view bytes,
                                                    std::string_view content_type) {
  // No size check here: the limit is configurable and enforced by the caller
  // before the body is even read (kManifestTooLarge).
  const std::string ct = bare_media_type(content_type);
  // Reject schema1 before reading the body: it is never accepted.
  if (classify(ct) == Kind::kSchema1) return unsupported("schema1 manifests are not supported");
  const json j = json::parse(bytes, nullptr, false);
  if (j.is_discarded()) return invalid("manifest is not valid JSON");
  if (!j.is_object()) return invalid("manifest must be a JSON object");
  const auto kind = effective_kind(j, ct);
  if (!kind) return std::unexpected(std::move(kind.error()));
  ParsedManifest m;
  m.media_type = std::string(canonical_type(*kind));
  auto common = parse_common(j, m);
  if (!common) return std::unexpected(std::move(common.error()));
  const bool index = *kind == Kind::kOciIndex || *kind == Kind::kDockerList;
  auto body = index ? parse_index_body(j, m) : parse_image_body(j, m);
  if (!body) return std::unexpected(std::move(body.error()));
  dedupe_refs(m.refs);
  return m;
}

bool accepts(std::string_view accept_header, std::string_view media_type) {
  const std::string type = lower(media_type);
  bool any_range = false;
  int best_specificity = -1;
  int best_quality = 0;
  while (!accept_header.empty()) {
    const std::size_t comma = accept_header.find(',');
    const auto range = parse_media_range(accept_header.substr(0, comma));
    accept_header =
        comma == std::string_view::npos ? std::string_view{} : accept_header.substr(comma + 1);
    if (!range) continue;  // empty or junk items are ignored
    any_range = true;
    // The most specific matching range decides (RFC 9110 12.5.1), so
    // "x/y;q=0, */*" refuses x/y.
    const int s = specificity(range->type, type);
    if (s > best_specificity) {
      best_specificity = s;
      best_quality = range->quality;
    } else if (s == best_specificity) {
      best_quality = std::max(best_quality, range->quality);
    }
  }
  if (!any_range) return true;  // no usable Accept: anything goes
  return best_specificity >= 0 && best_quality > 0;
}

}  // namespace drydock::registry
