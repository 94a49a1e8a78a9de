#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/errors.hpp"
#include "storage/digest.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::registry {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerSchema1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

// Maximum manifest size we accept (distribution-spec: registries SHOULD
// accept at least 4 MiB).
inline constexpr std::size_t kMaxManifestBytes = 4 * 1024 * 1024;

// What the registry needs to know about a pushed manifest.
struct ParsedManifest {
  std::string media_type;                  // the effective media type (see parse_manifest)
  bool is_index = false;                   // OCI index or Docker manifest list
  std::vector<storage::ManifestRef> refs;  // config + layers, or child manifests
  std::optional<storage::Digest> subject;
  // artifactType; for an image manifest without it, config.mediaType (the
  // referrers API rule, distribution-spec "Listing Referrers").
  std::string artifact_type;
  std::string annotations_json = "{}";
};

// Validates a pushed manifest and extracts its references.
//  - `content_type` is the request's Content-Type (parameters ignored). It
//    must be one of the four supported types above, or, when empty, the
//    manifest's own `mediaType` field decides.
//  - If the JSON has a `mediaType` field, it must equal the content type.
//  - Must be a JSON object with schemaVersion 2; descriptors need a valid
//    mediaType string, a supported digest and a non-negative integer size.
//  - Image manifests need a `config` descriptor and a `layers` array; indexes a
//    `manifests` array. `subject` is parsed when present.
// Errors: kManifestInvalid (with a message saying what is wrong),
// kUnsupported for schema1, kDigestInvalid / kUnsupported for bad digests.
std::expected<ParsedManifest, Error> parse_manifest(std::string_view bytes,
                                                    std::string_view content_type);

// Content negotiation for GET/HEAD manifests: true if `media_type` is
// acceptable given the request's Accept header values joined with ','.
// No Accept header, "*/*" or "application/*" accept everything.
bool accepts(std::string_view accept_header, std::string_view media_type);

}  // namespace drydock::registry
