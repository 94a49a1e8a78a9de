#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/digest.hpp"
#include "storage/error.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::storage {

struct BlobInfo {
  Digest digest;
  std::uint64_t size = 0;
};

class BlobLeaseTable;

// Keeps one blob from garbage collection while it lives. Every path that
// makes a blob referenced holds one from before it looks for the blob (stat,
// put, publish) until the link or manifest row that references it is
// committed: an upload's final PUT, a mount, a manifest PUT, a build, an
// import. Collection never removes a held blob, and a blob it removed before
// the hold is simply absent (and written again by put/publish).
class BlobLease {
 public:
  BlobLease() = default;
  BlobLease(std::shared_ptr<BlobLeaseTable> table, std::string key);
  BlobLease(BlobLease&& o) noexcept = default;
  BlobLease& operator=(BlobLease&& o) noexcept;
  BlobLease(const BlobLease&) = delete;
  BlobLease& operator=(const BlobLease&) = delete;
  ~BlobLease();

 private:
  void release();
  std::shared_ptr<BlobLeaseTable> table_;
  std::string key_;
};

// Content-addressed blob store: each digest is stored once, whatever the
// number of repositories that link it. Visibility per repository is the
// metadata store's business, not this one's.
//
// Commit contract (as containerd's content store): content is written to a
// temp file, fsynced, its size and digest checked, then renamed into place and
// the directory fsynced. A digest that already exists counts as success: that
// is deduplication. A blob is never visible half-written.
class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Size of a committed blob, or kNotFound.
  virtual Result<BlobInfo> stat(const Digest& d) const = 0;

  // Opens a committed blob read-only (for sendfile/pread); kNotFound if absent.
  virtual Result<UniqueFd> open(const Digest& d) const = 0;

  // Reads a whole blob into memory; kTooLarge if it exceeds max_size.
  virtual Result<std::string> read_all(const Digest& d, std::uint64_t max_size) const = 0;

  // Stores an in-memory blob (manifests) under the commit contract.
  // kDigestMismatch if bytes do not hash to expected.
  virtual Result<BlobInfo> put(std::string_view bytes, const Digest& expected) = 0;

  // Publishes a finished temp file (on the same filesystem, e.g. an upload's
  // data file) whose digest the caller has already computed and checked.
  // fsyncs the file, renames it into place, fsyncs the directory. On success
  // the temp file is gone (moved, or removed when the blob already existed).
  virtual Result<BlobInfo> publish(const std::filesystem::path& temp_file,
                                   const Digest& verified) = 0;

  // Removes a blob file (fsck --repair; garbage collection uses collect()).
  virtual Result<void> remove(const Digest& d) = 0;

  // Holds `d` against garbage collection until the lease ends (BlobLease).
  virtual BlobLease hold(const Digest& d) = 0;
};

// Filesystem implementation. On-disk layout under `root`:
//
//   root/
//     blobs/sha256/ab/abcdef0123...    committed blobs, one file per digest
//     blobs/sha512/12/1234abcd...
//     tmp/                             temp files for put(); cleared at open
//
// Temp files live on the same filesystem so rename() is atomic.
class FsBlobStore final : public BlobStore {
 public:
  // Creates the directories if needed and removes stale temp files.
  // Throws std::runtime_error if root cannot be prepared (startup only).
  explicit FsBlobStore(std::filesystem::path root);

  Result<BlobInfo> stat(const Digest& d) const override;
  Result<UniqueFd> open(const Digest& d) const override;
  Result<std::string> read_all(const Digest& d, std::uint64_t max_size) const override;
  Result<BlobInfo> put(std::string_view bytes, const Digest& expected) override;
  Result<BlobInfo> publish(const std::filesystem::path& temp_file, const Digest& verified) override;
  Result<void> remove(const Digest& d) override;
  BlobLease hold(const Digest& d) override;

  // Garbage collection's sweep of one blob: with new holds blocked, removes
  // the file if nobody holds it, it was last written before
  // `written_before` (Unix time; put and publish of an existing blob count
  // as writes) and `unused()` (asked last) says nothing references it.
  // Returns the bytes freed, 0 if the blob stays or was already gone.
  Result<std::uint64_t> collect(const Digest& d, std::int64_t written_before,
                                const std::function<Result<bool>()>& unused);

  // Every committed blob with its size and last write time (Unix seconds).
  struct StoredBlob {
    Digest digest;
    std::uint64_t size = 0;
    std::int64_t written = 0;
  };
  Result<std::vector<StoredBlob>> list() const;

  // Path where a digest's content lives (whether or not it exists).
  std::filesystem::path path_of(const Digest& d) const;

 private:
  std::filesystem::path root_;
  std::shared_ptr<BlobLeaseTable> leases_;
};

}  // namespace drydock::storage
