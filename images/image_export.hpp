#pragma once

// Plans an image archive of a stored image, to be streamed: every entry's
// tar header is computed from sizes the store already knows, so the
// archive's length is known before its first byte, and bodies are sent
// straight from blob files (memory does not grow with the image).
//
// Two formats:
//  - docker (`docker load`): manifest.json + repositories, the config and
//    layer blobs under blobs/sha256/, plus oci-layout, index.json and the
//    manifest blob, as `docker save` of docker >= 25 writes it. Layers go as
//    stored (gzip, zstd or plain tar): docker load decompresses what it
//    finds. One image: an index is narrowed to one platform.
//  - oci (OCI image layout, image-spec image-layout.md): oci-layout,
//    index.json naming the image, and every blob under blobs/<alg>/; an
//    index is exported whole, with every platform.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "images/stored_image.hpp"
#include "registry/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::images {

enum class ArchiveFormat { kDocker, kOci };

struct ExportRequest {
  ImageRef ref;
  ArchiveFormat format = ArchiveFormat::kDocker;
  // Docker format, for an index: the image to export (default linux/amd64).
  std::optional<Platform> platform;
  // The name written into the archive (RepoTags, the OCI ref annotations):
  // empty means ref's "repo:tag" as stored here, without a registry host;
  // an image asked for by digest then gets none. Else a docker reference
  // ("localhost:5000/team/app:1"), written as given (":latest" added).
  std::string name;
};

// One file of the archive: its 512-byte header, then `data` or the blob.
struct ExportEntry {
  std::string path;
  std::string header;
  std::string data;
  std::optional<storage::Digest> blob;
  std::uint64_t size = 0;  // body bytes
};

struct ExportPlan {
  std::vector<ExportEntry> entries;
  std::uint64_t total_bytes = 0;  // the whole archive, end blocks included
  std::string file_name;          // suggested: "team_app_1.tar"
  storage::Digest manifest;       // the exported manifest (docker: the platform's image)
};

// Errors: kManifestUnknown (no such image), kImageInvalid (platform not in
// the index, not a container image, bad name), kBlobUnknown (a blob the
// image needs is missing from the store), kInternal.
std::expected<ExportPlan, registry::Error> plan_export(const storage::MetadataStore& meta,
                                                       const storage::BlobStore& blobs,
                                                       const ExportRequest& request);

// Writes the planned archive to `fd` (blocking). For tests and local use;
// the server streams the plan itself.
std::expected<void, std::string> write_export(const ExportPlan& plan,
                                              const storage::BlobStore& blobs, int fd);

}  // namespace drydock::images
