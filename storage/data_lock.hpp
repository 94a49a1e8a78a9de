#pragma once

// One process at a time owns a data directory's blobs: the server, or an
// offline `drydock gc` / `drydock fsck --repair`. Blob leases (in-flight
// uploads, builds) live in the owning process's memory, so a second owner
// could collect a blob the first is about to reference. The lock is an
// flock(2) on DATA/drydock.lock, released when the process exits however it
// exits; the file says who holds it, for the refusal message.

#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include "storage/unique_fd.hpp"

namespace drydock::storage {

class DataDirLock {
 public:
  // Takes the lock on `data_dir` (which must exist) for `holder` ("serve",
  // "gc", ...). When another process holds it: "DIR is in use by drydock
  // serve (pid N)". Other failures: the path and strerror.
  static std::expected<DataDirLock, std::string> acquire(const std::filesystem::path& data_dir,
                                                         std::string_view holder);

  DataDirLock(DataDirLock&&) noexcept = default;
  DataDirLock& operator=(DataDirLock&&) noexcept = default;

 private:
  explicit DataDirLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace drydock::storage
