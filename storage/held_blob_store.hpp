#pragma once

// A BlobStore view that holds every blob it touches against garbage
// collection until it is destroyed: one per build, so that base layers,
// cached layers and new layers stay until the image is committed.

#include <mutex>
#include <set>
#include <vector>

#include "storage/blob_store.hpp"

namespace drydock::storage {

class HeldBlobStore final : public BlobStore {
 public:
  explicit HeldBlobStore(BlobStore& inner) : inner_(inner) {}

  Result<BlobInfo> stat(const Digest& d) const override {
    keep(d);
    return inner_.stat(d);
  }
  Result<UniqueFd> open(const Digest& d) const override {
    keep(d);
    return inner_.open(d);
  }
  Result<std::string> read_all(const Digest& d, std::uint64_t max_size) const override {
    keep(d);
    return inner_.read_all(d, max_size);
  }
  Result<BlobInfo> put(std::string_view bytes, const Digest& expected) override {
    keep(expected);
    return inner_.put(bytes, expected);
  }
  Result<BlobInfo> publish(const std::filesystem::path& temp_file,
                           const Digest& verified) override {
    keep(verified);
    return inner_.publish(temp_file, verified);
  }
  Result<void> remove(const Digest& d) override { return inner_.remove(d); }
  BlobLease hold(const Digest& d) override { return inner_.hold(d); }

 private:
  void keep(const Digest& d) const {
    std::lock_guard lock(mu_);
    if (held_.insert(d).second) leases_.push_back(inner_.hold(d));
  }

  BlobStore& inner_;
  mutable std::mutex mu_;
  mutable std::set<Digest> held_;
  mutable std::vector<BlobLease> leases_;
};

}  // namespace drydock::storage
