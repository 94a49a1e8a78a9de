#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <string>
#include <system_error>

#include "storage/blob_store.hpp"
#include "storage/posix_io.hpp"

namespace drydock::storage {

// Digests held against collection, by count. One mutex: collect() keeps it
// for one blob's check-and-unlink, so a hold is either seen or comes after
// the file is gone.
class BlobLeaseTable {
 public:
  std::mutex mu;
  std::unordered_map<std::string, unsigned> held;
};

BlobLease::BlobLease(std::shared_ptr<BlobLeaseTable> table, std::string key)
    : table_(std::move(table)), key_(std::move(key)) {
  std::lock_guard lock(table_->mu);
  ++table_->held[key_];
}

BlobLease& BlobLease::operator=(BlobLease&& o) noexcept {
  if (this != &o) {
    release();
    table_ = std::move(o.table_);
    key_ = std::move(o.key_);
  }
  return *this;
}

BlobLease::~BlobLease() { release(); }

void BlobLease::release() {
  if (!table_) return;
  std::lock_guard lock(table_->mu);
  auto it = table_->held.find(key_);
  if (it != table_->held.end() && --it->second == 0) table_->held.erase(it);
  table_.reset();
}

namespace {

namespace fs = std::filesystem;
using posix::log_errno;

constexpr std::string_view kBlobsDir = "blobs";
constexpr std::string_view kTmpDir = "tmp";

// A digest whose hex could not have come from parse_digest() must never be
// turned into a path ("../x" would escape the store).
bool well_formed(const Digest& d) {
  std::size_t want = d.algorithm == DigestAlgorithm::kSha512 ? 128 : 64;
  if (d.hex.size() != want) return false;
  for (char c : d.hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::unexpected<StorageError> io_error(std::string_view what, const fs::path& p, int err) {
  log_errno(what, p, err);
  return std::unexpected(StorageError::kIo);
}

// Removes a temp file on scope exit unless it was handed on.
class TempFileGuard {
 public:
  explicit TempFileGuard(fs::path p) : path_(std::move(p)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!path_.empty()) posix::unlink_if_exists(path_);
  }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// Creates `dir` if missing; a new directory entry is made durable by fsyncing
// the parent.
Result<void> ensure_dir_durable(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return posix::fsync_dir(dir.parent_path());
  if (errno == EEXIST) return {};
  return io_error("mkdir", dir, errno);
}

void prepare_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("storage: cannot create " + dir.string() + ": " + ec.message());
}

void clear_dir(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code rm_ec;
    fs::remove_all(entry.path(), rm_ec);
    if (rm_ec) throw std::runtime_error("storage: cannot remove " + entry.path().string());
  }
  if (ec) throw std::runtime_error("storage: cannot list " + dir.string() + ": " + ec.message());
}

// Moves `temp` to `final` unless `final` already exists, in which case `temp`
// is removed (deduplication). Returns true when this call created `final`.
Result<bool> rename_no_replace(const fs::path& temp, const fs::path& final) {
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, final.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  int err = errno;
  if (err == EINVAL || err == ENOSYS) {
    // Filesystem without RENAME_NOREPLACE: identical content under one name
    // makes a plain rename safe even if another writer got there first.
    if (::access(final.c_str(), F_OK) != 0) {
      if (::rename(temp.c_str(), final.c_str()) == 0) return true;
      return io_error("rename", temp, errno);
    }
    err = EEXIST;
  }
  if (err != EEXIST) return io_error("rename", temp, err);
  // Deduplicated: the existing file counts as written now (collection spares
  // young blobs). If collection removed it meanwhile, ours takes its place.
  if (::utimensat(AT_FDCWD, final.c_str(), nullptr, 0) != 0 && errno == ENOENT) {
    if (::rename(temp.c_str(), final.c_str()) == 0) return true;
    return io_error("rename", temp, errno);
  }
  if (int e = posix::unlink_if_exists(temp); e != 0) return io_error("unlink", temp, e);
  return false;
}

// The tail of the commit contract: the temp file is already fsynced and
// checked. Renames it into place (or drops it if the blob exists) and makes
// the new directory entry durable. Returns true when this call created it.
Result<bool> commit_file(const fs::path& temp, const fs::path& final) {
  fs::path fanout = final.parent_path();
  if (Result<void> r = ensure_dir_durable(fanout); !r) return std::unexpected(r.error());
  Result<bool> created = rename_no_replace(temp, final);
  if (!created || !*created) return created;
  if (Result<void> r = posix::fsync_dir(fanout); !r) return std::unexpected(r.error());
  return true;
}

Result<std::uint64_t> fsync_and_size(const fs::path& file) {
  UniqueFd fd = posix::open_fd(file, O_RDONLY);
  if (!fd.valid()) return io_error("open", file, errno);
  if (int err = posix::fsync_fd(fd.get()); err != 0) return io_error("fsync", file, err);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("fstat", file, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace

FsBlobStore::FsBlobStore(std::filesystem::path root)
    : root_(std::move(root)), leases_(std::make_shared<BlobLeaseTable>()) {
  prepare_dir(root_ / kBlobsDir / to_string(DigestAlgorithm::kSha256));
  prepare_dir(root_ / kBlobsDir / to_string(DigestAlgorithm::kSha512));
  prepare_dir(root_ / kTmpDir);
  clear_dir(root_ / kTmpDir);
}

std::filesystem::path FsBlobStore::path_of(const Digest& d) const {
  std::string_view fanout = std::string_view(d.hex).substr(0, 2);
  return root_ / kBlobsDir / to_string(d.algorithm) / fanout / d.hex;
}

Result<BlobInfo> FsBlobStore::stat(const Digest& d) const {
  if (!well_formed(d)) return std::unexpected(StorageError::kNotFound);
  fs::path p = path_of(d);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::unexpected(StorageError::kNotFound);
    return io_error("stat", p, errno);
  }
  return BlobInfo{d, static_cast<std::uint64_t>(st.st_size)};
}

Result<UniqueFd> FsBlobStore::open(const Digest& d) const {
  if (!well_formed(d)) return std::unexpected(StorageError::kNotFound);
  fs::path p = path_of(d);
  UniqueFd fd = posix::open_fd(p, O_RDONLY);
  if (!fd.valid()) {
    if (errno == ENOENT) return std::unexpected(StorageError::kNotFound);
    return io_error("open", p, errno);
  }
  return fd;
}

Result<std::string> FsBlobStore::read_all(const Digest& d, std::uint64_t max_size) const {
  Result<UniqueFd> fd = open(d);
  if (!fd) return std::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return io_error("fstat", path_of(d), errno);
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_size) return std::unexpected(StorageError::kTooLarge);
  std::string out(size, '\0');
  ssize_t n = posix::pread_full(fd->get(), out.data(), out.size(), 0);
  if (n < 0) return io_error("read", path_of(d), static_cast<int>(-n));
  // Committed blobs never change size; a short read means the disk lied.
  if (static_cast<std::uint64_t>(n) != size) return io_error("short read", path_of(d), EIO);
  return out;
}

Result<BlobInfo> FsBlobStore::put(std::string_view bytes, const Digest& expected) {
  if (digest_of(bytes, expected.algorithm) != expected) {
    return std::unexpected(StorageError::kDigestMismatch);
  }
  if (Result<BlobInfo> existing = stat(expected)) {
    // Deduplicated: counts as written now, unless collection just took it.
    if (::utimensat(AT_FDCWD, path_of(expected).c_str(), nullptr, 0) == 0 || errno != ENOENT) {
      return existing;
    }
  }

  std::string templ = (root_ / kTmpDir / "put-XXXXXX").string();
  UniqueFd fd(::mkostemp(templ.data(), O_CLOEXEC));
  if (!fd.valid()) return io_error("mkostemp", templ, errno);
  fs::path temp(templ);
  TempFileGuard guard(temp);
  if (int err = posix::pwrite_all(fd.get(), bytes.data(), bytes.size(), 0); err != 0) {
    return io_error("write", temp, err);
  }
  if (int err = posix::fsync_fd(fd.get()); err != 0) return io_error("fsync", temp, err);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("fstat", temp, errno);
  if (static_cast<std::uint64_t>(st.st_size) != bytes.size()) {
    return io_error("size check", temp, EIO);
  }
  fd.reset();

  Result<bool> created = commit_file(temp, path_of(expected));
  if (!created) return std::unexpected(created.error());
  guard.release();
  return BlobInfo{expected, bytes.size()};
}

Result<BlobInfo> FsBlobStore::publish(const std::filesystem::path& temp_file,
                                      const Digest& verified) {
  if (!well_formed(verified)) return std::unexpected(StorageError::kDigestMismatch);
  Result<std::uint64_t> size = fsync_and_size(temp_file);
  if (!size) return std::unexpected(size.error());

  Result<bool> created = commit_file(temp_file, path_of(verified));
  if (!created) return std::unexpected(created.error());
  if (!*created) return stat(verified);  // already stored: deduplicated
  return BlobInfo{verified, *size};
}

Result<void> FsBlobStore::remove(const Digest& d) {
  if (!well_formed(d)) return std::unexpected(StorageError::kNotFound);
  fs::path p = path_of(d);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return std::unexpected(StorageError::kNotFound);
    return io_error("unlink", p, errno);
  }
  return posix::fsync_dir(p.parent_path());
}

BlobLease FsBlobStore::hold(const Digest& d) { return BlobLease(leases_, d.str()); }

Result<std::uint64_t> FsBlobStore::collect(const Digest& d, std::int64_t written_before,
                                           const std::function<Result<bool>()>& unused) {
  if (!well_formed(d)) return std::unexpected(StorageError::kNotFound);
  fs::path p = path_of(d);
  std::lock_guard lock(leases_->mu);
  if (leases_->held.contains(d.str())) return 0;
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return 0;
    return io_error("stat", p, errno);
  }
  if (st.st_mtim.tv_sec >= written_before) return 0;
  Result<bool> free = unused();
  if (!free) return std::unexpected(free.error());
  if (!*free) return 0;
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return 0;
    return io_error("unlink", p, errno);
  }
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::vector<FsBlobStore::StoredBlob>> FsBlobStore::list() const {
  std::vector<StoredBlob> out;
  for (DigestAlgorithm algorithm : {DigestAlgorithm::kSha256, DigestAlgorithm::kSha512}) {
    fs::path top = root_ / kBlobsDir / to_string(algorithm);
    std::error_code ec;
    for (const auto& fan : fs::directory_iterator(top, ec)) {
      std::error_code fan_ec;
      for (const auto& e : fs::directory_iterator(fan.path(), fan_ec)) {
        Digest d{algorithm, e.path().filename().string()};
        struct stat st {};
        if (!well_formed(d) || ::stat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
          continue;  // not a blob (fsck reports strays), or just collected
        }
        out.push_back({std::move(d), static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec});
      }
      if (fan_ec) return io_error("list", fan.path(), fan_ec.value());
    }
    if (ec) return io_error("list", top, ec.value());
  }
  return out;
}

}  // namespace drydock::storage
