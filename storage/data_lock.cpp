#include "storage/data_lock.hpp"

#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "storage/posix_io.hpp"

namespace drydock::storage {

std::expected<DataDirLock, std::string> DataDirLock::acquire(const std::filesystem::path& data_dir,
                                                             std::string_view holder) {
  const std::filesystem::path file = data_dir / "drydock.lock";
  UniqueFd fd = posix::open_fd(file, O_RDWR | O_CREAT, 0644);
  if (!fd.valid()) return std::unexpected(file.string() + ": " + std::strerror(errno));
  int rc;
  do {
    rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno == EWOULDBLOCK) {
    char buf[128] = {};
    ssize_t n = posix::pread_full(fd.get(), buf, sizeof buf - 1, 0);
    std::string who = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "another process";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    return std::unexpected(data_dir.string() + " is in use by " + who);
  }
  if (rc != 0) return std::unexpected(file.string() + ": flock: " + std::strerror(errno));
  const std::string text = "drydock " + std::string(holder) + " (pid " + std::to_string(::getpid()) + ")\n";
  int err = ::ftruncate(fd.get(), 0) != 0 ? errno : posix::pwrite_all(fd.get(), text.data(), text.size(), 0);
  if (err != 0) return std::unexpected(file.string() + ": " + std::strerror(err));
  return DataDirLock(std::move(fd));
}

}  // namespace drydock::storage
