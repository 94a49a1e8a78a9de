#pragma once

// Imports an image archive: what `docker save` writes (manifest.json, one or
// several images, each with its RepoTags; layers plain, gzip or zstd) or an
// OCI image layout (index.json; docker >= 25's `docker save` without a
// manifest.json, `podman save --format oci-archive`, `skopeo copy
// oci-archive:`), the whole tar plain or compressed.
//
// Every blob's digest is checked against what the archive claims (a
// blobs/<alg>/<hex> path, a <hex>.json config name, a config's diff_ids,
// an OCI descriptor) before anything is stored; permissions and immutable
// tags are checked for every tag before anything is stored. Blobs then go
// into the BlobStore by rename (atomic, as an upload's), and manifests,
// links and tags through the MetadataStore, as a push would.
//
// Layers are stored as the archive holds them: docker save's plain layer
// tars stay plain (their digest is their diff_id; no CPU spent compressing,
// and an export gives back the same bytes), gzip and zstd layers stay so.
// A docker-archive image gets a new OCI image manifest over them; an OCI
// layout's manifests are stored byte for byte (same digests).

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::images {

struct ImportOptions {
  // "repo[:tag]": the name for images the archive does not name (no RepoTags,
  // no OCI name annotation; tag default "latest"), and the repository for an
  // OCI entry named by a bare tag (org.opencontainers.image.ref.name "1.0").
  // Empty: such images are refused.
  std::string repository;
  // Whether the caller may push to a repository; null: everything allowed.
  std::function<bool(std::string_view repository)> may_push;
  std::uint64_t max_unpacked_bytes = 16ULL << 30;
  std::int64_t now = 0;  // the manifests' creation time
};

struct ImportedImage {
  std::string name;  // "repo:tag"
  storage::Digest manifest;
  std::string media_type;
  std::uint64_t size = 0;  // manifest(s), config(s) and layers, each once
};

struct ImportResult {
  std::string format;  // "docker-archive" or "oci-layout"
  std::vector<ImportedImage> images;
};

// Imports the archive at `archive`, unpacking it under `staging_root` (on
// the blob store's filesystem; the unpacked files are gone afterwards).
// Errors: kImageInvalid (not an image archive, a missing file or blob, an
// unnamed image without options.repository, bad JSON), kDigestInvalid
// (content that does not hash to its digest), kNameInvalid, kDenied (no
// push right, or an immutable tag would move: names the repository or
// tag), kContextTooLarge, kInternal. On any of them no tag was moved.
std::expected<ImportResult, registry::Error> import_archive(
    storage::BlobStore& blobs, storage::MetadataStore& meta, const std::filesystem::path& archive,
    const std::filesystem::path& staging_root, const ImportOptions& options);

// The same result as JSON: {"format":..,"images":[{"name","digest","mediaType","size"}]}.
std::string import_result_json(const ImportResult& r);

}  // namespace drydock::images
