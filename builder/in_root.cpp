#include "builder/in_root.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace drydock::builder::in_root {
namespace {

using storage::UniqueFd;

std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (part == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!part.empty() && part != ".") {
      out.emplace_back(part);
    }
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string join_abs(const std::vector<std::string>& parts, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += "/" + parts[i];
  return out.empty() ? "/" : out;
}

// Splits a cleaned absolute path into its parent and last component.
std::pair<std::string, std::string> split_last(const std::string& cleaned) {
  auto slash = cleaned.rfind('/');
  std::string parent = slash == 0 ? "/" : cleaned.substr(0, slash);
  return {parent, cleaned.substr(slash + 1)};
}

}  // namespace

std::string clean(std::string_view path) {
  auto parts = components(path);
  return join_abs(parts, parts.size());
}

UniqueFd open_root(const std::filesystem::path& rootfs) {
  return UniqueFd(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

UniqueFd open(int root_fd, std::string_view path, int flags) {
  std::string p(path);
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  return UniqueFd(static_cast<int>(fd));
}

std::optional<std::string> read_file(int root_fd, std::string_view path, std::size_t max_bytes) {
  UniqueFd fd = open(root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return std::nullopt;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return std::nullopt;
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      errno = EFBIG;
      return std::nullopt;
    }
  }
}

bool exists(int root_fd, std::string_view path) {
  std::string cleaned = clean(path);
  if (cleaned == "/") return true;
  auto [parent, name] = split_last(cleaned);
  UniqueFd dir = open(root_fd, parent, O_PATH | O_DIRECTORY);
  struct stat st;
  return dir.valid() && ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

ExecResult<void> mkdir_all(int root_fd, std::string_view path, uid_t uid, gid_t gid) {
  auto parts = components(path);
  for (std::size_t i = 1; i <= parts.size(); ++i) {
    if (open(root_fd, join_abs(parts, i), O_PATH | O_DIRECTORY).valid()) continue;
    if (errno != ENOENT) {
      return std::unexpected(
          ExecError{ExecErrc::kIo, "cannot use " + join_abs(parts, i) +
                                       " in the rootfs as a directory: " + std::strerror(errno)});
    }
    UniqueFd parent = open(root_fd, join_abs(parts, i - 1), O_PATH | O_DIRECTORY);
    const char* name = parts[i - 1].c_str();
    if (!parent.valid() || ::mkdirat(parent.get(), name, 0755) != 0 ||
        ::fchownat(parent.get(), name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return std::unexpected(
          ExecError{ExecErrc::kIo,
                    "mkdir " + join_abs(parts, i) + " in the rootfs: " + std::strerror(errno)});
    }
  }
  return {};
}

std::vector<std::string> missing_paths(int root_fd, std::string_view path) {
  auto parts = components(path);
  std::vector<std::string> out;
  for (std::size_t n = parts.size(); n > 0; --n) {
    std::string p = join_abs(parts, n);
    if (exists(root_fd, p)) break;
    out.push_back(std::move(p));
  }
  return out;
}

void remove_if_empty(int root_fd, std::string_view path) {
  std::string cleaned = clean(path);
  if (cleaned == "/") return;
  auto [parent, name] = split_last(cleaned);
  UniqueFd dir = open(root_fd, parent, O_RDONLY | O_DIRECTORY);
  struct stat parent_st, st;
  if (!dir.valid() || ::fstat(dir.get(), &parent_st) != 0 ||
      ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return;
  }
  int rc;
  if (S_ISDIR(st.st_mode)) {
    rc = ::unlinkat(dir.get(), name.c_str(), AT_REMOVEDIR);  // fails unless empty
  } else if (st.st_size == 0) {
    rc = ::unlinkat(dir.get(), name.c_str(), 0);
  } else {
    return;
  }
  if (rc == 0) {
    const struct timespec times[2] = {parent_st.st_atim, parent_st.st_mtim};
    ::futimens(dir.get(), times);
  }
}

}  // namespace drydock::builder::in_root
