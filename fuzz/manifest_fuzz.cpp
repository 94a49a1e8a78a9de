// Fuzz target "manifest": registry/manifest.hpp.

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_target.hpp"
#include "registry/manifest.hpp"

namespace drydock::fuzz {
namespace {

using registry::ParsedManifest;

constexpr std::array<std::string_view, 6> kContentTypes = {
    "",
    registry::kOciManifest,
    registry::kOciIndex,
    registry::kDockerManifest,
    registry::kDockerManifestList,
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
};

bool same(const ParsedManifest& a, const ParsedManifest& b) {
  if (a.media_type != b.media_type || a.is_index != b.is_index || a.subject != b.subject ||
      a.artifact_type != b.artifact_type || a.annotations_json != b.annotations_json ||
      a.refs.size() != b.refs.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.refs.size(); ++i) {
    if (a.refs[i].digest != b.refs[i].digest || a.refs[i].kind != b.refs[i].kind) return false;
  }
  return true;
}

// What holds for every accepted manifest.
void check_parsed(const ParsedManifest& m) {
  const bool index_type = m.media_type == registry::kOciIndex ||
                          m.media_type == registry::kDockerManifestList;
  expect(m.is_index == index_type, "is_index disagrees with the media type");
  for (const auto& ref : m.refs) {
    expect(storage::parse_digest(ref.digest.str()) == ref.digest,
           "a reference's digest does not re-parse to itself");
    expect((ref.kind == storage::RefKind::kManifest) == m.is_index,
           "an index must reference manifests and an image manifest blobs");
  }
  if (m.subject) {
    expect(storage::parse_digest(m.subject->str()) == m.subject, "subject does not re-parse");
  }
  const auto annotations = nlohmann::json::parse(m.annotations_json, nullptr, false);
  expect(annotations.is_object(), "annotations_json is not a JSON object");
}

// The media type negotiation never refuses a type the client lists last
// without a weight, whatever came before it.
void check_accepts(std::string_view header, std::string_view media_type) {
  (void)registry::accepts(header, media_type);
  expect(registry::accepts(std::string(header) + "," + std::string(media_type), media_type),
         "accepts() refuses a type listed with full weight");
  expect(registry::accepts("", media_type), "accepts() refuses with no Accept header");
}

}  // namespace

void fuzz_manifest(Input in) {
  const std::string_view bytes = as_text(in);
  const std::string_view first_line = bytes.substr(0, bytes.find('\n'));
  for (std::string_view type : kContentTypes) {
    auto parsed = registry::parse_manifest(bytes, type);
    if (type.find(';') == std::string_view::npos) {
      check_accepts(first_line, type.empty() ? registry::kOciManifest : type);
    }
    if (!parsed) {
      const auto code = parsed.error().code;
      expect(code == registry::ErrorCode::kManifestInvalid ||
                 code == registry::ErrorCode::kUnsupported ||
                 code == registry::ErrorCode::kDigestInvalid,
             "parse_manifest failed with an unexpected error code");
      continue;
    }
    check_parsed(*parsed);
    // Naming the media type it resolved to changes nothing.
    auto again = registry::parse_manifest(bytes, parsed->media_type);
    expect(again && same(*parsed, *again), "parsing under the effective media type differs");
    // Neither does re-formatting the JSON.
    const auto json = nlohmann::json::parse(bytes, nullptr, false);
    expect(!json.is_discarded(), "an accepted manifest is not JSON");
    const std::string reformatted = json.dump(2);
    auto reparsed = registry::parse_manifest(reformatted, type);
    expect(reparsed && same(*parsed, *reparsed), "re-formatted JSON parses differently");
  }
}

}  // namespace drydock::fuzz
