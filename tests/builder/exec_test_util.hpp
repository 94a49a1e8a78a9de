#pragma once

// Helpers shared by the snapshotter and runtime tests: temp directories, small
// files, and a busybox rootfs built from the host's static busybox.

#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace drydock::builder::test_util {

namespace fs = std::filesystem;

inline std::string random_suffix() {
  unsigned int r = 0;
  while (::getrandom(&r, sizeof r, 0) != sizeof r) {
  }
  std::ostringstream s;
  s << std::hex << ::getpid() << "-" << r;
  return s.str();
}

// A fresh directory under /tmp, removed recursively at the end (after the
// test has unmounted everything in it).
class TempDir {
 public:
  explicit TempDir(std::string_view tag)
      : path_(fs::path("/tmp") / ("drydock-" + std::string(tag) + "-" + random_suffix())) {
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_file(const fs::path& p, std::string_view content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool is_whiteout(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

inline bool lexists(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

constexpr const char* kBusybox = "/bin/busybox";
constexpr const char* kRunc = "/usr/sbin/runc";

// Fills `dir` with a minimal busybox system: /bin/busybox and applet links,
// /etc/passwd and /etc/group (root, builder 1000 in group extra 2000), and the
// usual empty directories. No /etc/hosts: the runtime provides it.
inline void make_busybox_rootfs(const fs::path& dir) {
  fs::create_directories(dir / "bin");
  fs::copy_file(kBusybox, dir / "bin/busybox", fs::copy_options::overwrite_existing);
  for (const char* applet : {"sh",   "ls",    "cat",  "echo",  "id",   "sleep",   "wget", "nc",
                             "grep", "touch", "rm",   "mkdir", "pwd",  "env",     "kill", "ps",
                             "true", "false", "stat", "wc",    "head", "hostname"}) {
    fs::create_symlink("busybox", dir / "bin" / applet);
  }
  for (const char* d : {"proc", "dev", "sys", "tmp", "root", "home/builder"}) {
    fs::create_directories(dir / d);
  }
  fs::permissions(dir / "tmp", fs::perms::all | fs::perms::sticky_bit);
  write_file(dir / "etc/passwd",
             "root:x:0:0:root:/root:/bin/sh\n"
             "builder:x:1000:1000:Builder:/home/builder:/bin/sh\n");
  write_file(dir / "etc/group",
             "root:x:0:\n"
             "builder:x:1000:\n"
             "extra:x:2000:builder\n");
}

}  // namespace drydock::builder::test_util
