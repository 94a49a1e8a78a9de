#pragma once

// Small POSIX helpers shared by the filesystem-backed stores (internal to
// storage/). Every open uses O_CLOEXEC; every read/write loops on partial
// transfers and EINTR.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string_view>

#include "storage/error.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::storage::posix {

// Logs "storage: <what> <path>: <strerror(err)>" to stderr.
inline void log_errno(std::string_view what, const std::filesystem::path& path, int err) {
  std::fprintf(stderr, "storage: %.*s %s: %s\n", static_cast<int>(what.size()), what.data(),
               path.c_str(), std::strerror(err));
}

// open(2) with O_CLOEXEC added; returns an invalid UniqueFd and keeps errno on failure.
inline UniqueFd open_fd(const std::filesystem::path& path, int flags, mode_t mode = 0644) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return UniqueFd(fd);
}

// Calls `write(p, n, done)` (a pwrite or write of up to n bytes from p,
// `done` already written) until all `n` bytes are written. Returns 0 or an
// errno value.
template <class Write>
int write_fully(const void* data, std::size_t n, Write&& write) {
  const char* p = static_cast<const char*>(data);
  std::uint64_t done = 0;
  while (n > 0) {
    ssize_t w = write(p, n, done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<std::size_t>(w);
    done += static_cast<std::uint64_t>(w);
  }
  return 0;
}

// Writes all of `bytes` at `offset`. Returns 0 or an errno value.
inline int pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset) {
  return write_fully(data, n, [&](const char* p, std::size_t left, std::uint64_t done) {
    return ::pwrite(fd, p, left, static_cast<off_t>(offset + done));
  });
}

// Writes all of `bytes` at the file position (pipes, sockets, stdout).
// Returns 0 or an errno value.
inline int write_all(int fd, const void* data, std::size_t n) {
  return write_fully(data, n, [&](const char* p, std::size_t left, std::uint64_t) {
    return ::write(fd, p, left);
  });
}

// Reads up to `n` bytes at `offset`, stopping early only at end of file.
// Returns the count read, or -errno.
inline ssize_t pread_full(int fd, void* data, std::size_t n, std::uint64_t offset) {
  char* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

inline int fsync_fd(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// fsyncs a directory so that a rename/create/unlink inside it is durable.
inline Result<void> fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd = open_fd(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.valid()) {
    log_errno("open dir", dir, errno);
    return std::unexpected(StorageError::kIo);
  }
  if (int err = fsync_fd(fd.get()); err != 0) {
    log_errno("fsync dir", dir, err);
    return std::unexpected(StorageError::kIo);
  }
  return {};
}

// unlink(2) that treats "already gone" as success. Returns 0 or errno.
inline int unlink_if_exists(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return 0;
  return errno;
}

}  // namespace drydock::storage::posix
