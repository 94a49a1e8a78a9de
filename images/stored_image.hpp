#pragma once

// What the image archive code (export, import, listing) shares: image
// references as the /images API and the CLI write them, platforms, and
// reading a stored manifest back with its JSON.

#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/digest.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::images {

// Indexes nested deeper than this are refused, on the way out and in.
inline constexpr int kMaxIndexDepth = 4;
// The OCI layout annotation naming an image ("1.0", or a full reference).
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
// containerd's (and docker >= 25's) annotation for the full image name.
inline constexpr std::string_view kImageNameAnnotation = "io.containerd.image.name";

// "repo[:tag]" or "repo@sha256:...", the registry host already dropped.
struct ImageRef {
  std::string repository;
  std::string tag;  // empty when `digest` is set
  std::optional<storage::Digest> digest;
  // "repo:tag" or "repo@digest".
  std::string str() const;
};

// Parses NAME[:TAG] or NAME@DIGEST; a missing tag is "latest" (as docker).
// kNameInvalid / kImageInvalid / kDigestInvalid say what is wrong.
std::expected<ImageRef, registry::Error> parse_image_ref(std::string_view text);

// A reference as docker writes it in RepoTags or an OCI annotation
// ("busybox:latest", "docker.io/library/busybox:1", "localhost:5000/team/app:v1")
// as stored here: the registry host is dropped, and Docker Hub's implicit
// "library/" with it ("busybox"). A missing tag is "latest"; a digest is refused.
std::expected<ImageRef, registry::Error> parse_foreign_ref(std::string_view text);

// os/architecture[/variant], as in an index's `platform` or an image config.
struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string str() const;  // "linux/arm64/v8", "linux/amd64"
};

// "os/arch[/variant]"; nullopt if malformed.
std::optional<Platform> parse_platform(std::string_view text);
// The platform of an index entry's `platform` object, or of an image config.
Platform platform_of(const nlohmann::json& platform_or_config);
// `want` matches `have` when os and architecture are equal and, if `want`
// names a variant, that too (arm64 without a variant is arm64/v8).
bool platform_matches(const Platform& want, const Platform& have);

// A manifest as stored in a repository, with its bytes and parsed JSON.
struct StoredManifest {
  storage::ManifestRecord record;
  std::string bytes;
  nlohmann::json json;
  bool is_index() const;
};

// The manifest `ref` names in its repository: kManifestUnknown if there is
// none, kInternal if the store fails.
std::expected<storage::Digest, registry::Error> resolve(const storage::MetadataStore& meta,
                                                        const ImageRef& ref);
std::expected<StoredManifest, registry::Error> load_manifest(const storage::MetadataStore& meta,
                                                             const storage::BlobStore& blobs,
                                                             std::string_view repository,
                                                             const storage::Digest& digest);
// A blob small enough to hold in memory (image configs), by digest.
std::expected<nlohmann::json, registry::Error> load_json_blob(const storage::BlobStore& blobs,
                                                              const storage::Digest& digest);

// The index entry for `want` (the first that matches), or the 400 that
// lists the platforms the index has.
std::expected<nlohmann::json, registry::Error> select_platform(const StoredManifest& index,
                                                               const Platform& want);

// kInternal for a storage failure, with what was being done.
registry::Error storage_error(storage::StorageError e, std::string_view doing);

}  // namespace drydock::images
