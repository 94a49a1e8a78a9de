#pragma once

// The image archive service the /images endpoints call: the stores it
// works on, where imports are staged, and its limit. Plain synchronous
// calls (blocking: run them on the worker pool).

#include <cstdint>
#include <filesystem>
#include <string>

#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::images {

struct ImageStoreOptions {
  // Uploaded archives and their unpacked files; must be on the blob
  // store's filesystem (blobs are published by rename). Emptied at startup.
  std::filesystem::path staging;
  std::uint64_t max_import_bytes = 16ULL << 30;  // the upload, and its unpacked files
};

class ImageStore {
 public:
  // Creates (and empties) the staging directory; throws std::runtime_error
  // if it cannot (startup only).
  ImageStore(storage::BlobStore& blobs, storage::MetadataStore& meta, ImageStoreOptions options);

  storage::BlobStore& blobs() { return blobs_; }
  storage::MetadataStore& meta() { return meta_; }
  const ImageStoreOptions& options() const { return options_; }
  // A fresh path under the staging directory for an upload.
  std::filesystem::path upload_path() const;

 private:
  storage::BlobStore& blobs_;
  storage::MetadataStore& meta_;
  ImageStoreOptions options_;
};

}  // namespace drydock::images
