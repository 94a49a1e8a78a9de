#include "images/image_store.hpp"

#include <random>

namespace drydock::images {

ImageStore::ImageStore(storage::BlobStore& blobs, storage::MetadataStore& meta,
                       ImageStoreOptions options)
    : blobs_(blobs), meta_(meta), options_(std::move(options)) {
  // What a crash left behind: half-received uploads and unpacked archives.
  std::error_code ec;
  std::filesystem::remove_all(options_.staging, ec);
  std::filesystem::create_directories(options_.staging);
}

std::filesystem::path ImageStore::upload_path() const {
  std::random_device rd;
  std::uniform_int_distribution<unsigned long long> dist;
  char name[48];
  std::snprintf(name, sizeof name, "upload-%016llx.tar", dist(rd));
  return options_.staging / name;
}

}  // namespace drydock::images
