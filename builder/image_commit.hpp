#pragma once

// Commits a built image into the store through the same storage interfaces
// a push uses (DESIGN.md "Build flow"): config blob, OCI image manifest,
// blob links and tags. A built image is then indistinguishable from a pushed
// one.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "builder/image_config.hpp"
#include "storage/blob_store.hpp"
#include "storage/error.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::builder {

inline constexpr const char* kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciConfigType = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kOciLayerGzipType = "application/vnd.oci.image.layer.v1.tar+gzip";

// A layer blob already committed to the BlobStore (by the differ's sink).
struct LayerBlob {
  storage::Digest digest;
  std::uint64_t size = 0;
  std::string media_type = kOciLayerGzipType;
};

// Where the image goes: a repository and a tag (empty tag: untagged).
struct ImageTarget {
  std::string repository;
  std::string tag;
};

struct CommittedImage {
  storage::Digest manifest;
  std::uint64_t manifest_size = 0;
  storage::Digest config;
  std::string manifest_json;
};

// The OCI image manifest for `config_json` and `layers` (deterministic
// bytes: same inputs, same digest).
std::string image_manifest_json(std::string_view config_json, const storage::Digest& config,
                                std::span<const LayerBlob> layers);

// What commit_image would be refused for by a target namespace's quota (the
// first such target), counting config, layers and the manifest's own bytes;
// nullopt if it fits. Read-only: commit_image checks again as it links.
storage::Result<std::optional<storage::QuotaRefusal>> check_image_quota(
    const storage::MetadataStore& meta, const ImageConfig& config,
    std::span<const LayerBlob> layers, std::span<const ImageTarget> targets);

// Stores the config and manifest blobs, links config and layers to every
// target repository and records the manifest there, tagged. Layers must
// already be in `blobs` (kNotFound otherwise, nothing recorded). `now` is
// the manifest's creation time. kQuotaExceeded, before anything is stored
// or linked, if a target's namespace cannot hold the image (see
// check_image_quota for why); linking each target is all or nothing.
storage::Result<CommittedImage> commit_image(storage::BlobStore& blobs,
                                             storage::MetadataStore& meta,
                                             const ImageConfig& config,
                                             std::span<const LayerBlob> layers,
                                             std::span<const ImageTarget> targets,
                                             std::int64_t now);

}  // namespace drydock::builder
