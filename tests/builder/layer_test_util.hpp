#pragma once

// Helpers for the layer writer tests: temp trees, reading a layer back with
// libarchive, running shell tools.

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "builder/layer_plan.hpp"
#include "builder/layer_sink.hpp"
#include "builder/layer_writer.hpp"

namespace drydock::builder::testing {

namespace fs = std::filesystem;

// A fresh directory on a disk filesystem (xattrs and mknod need one), removed
// with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::path("/var/tmp") / ("drydock-layer-test-" + std::to_string(::getpid()) + "-" +
                                    std::to_string(counter.fetch_add(1)));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

inline void write_file(const fs::path& p, const std::string& content, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  ASSERT_EQ(::chmod(p.c_str(), mode), 0) << p;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void set_xattr(const fs::path& p, const std::string& name, const std::string& value) {
  ASSERT_EQ(::lsetxattr(p.c_str(), name.c_str(), value.data(), value.size(), 0), 0)
      << name << " on " << p << ": " << std::strerror(errno);
}

// An overlayfs whiteout: character device 0/0.
inline void make_whiteout(const fs::path& p) {
  ASSERT_EQ(::mknod(p.c_str(), S_IFCHR | 0, makedev(0, 0)), 0) << p << ": " << std::strerror(errno);
}

inline void set_mtime(const fs::path& p, std::int64_t sec, long nsec = 0) {
  timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << p;
}

// A security.capability value (VFS_CAP_REVISION_2, effective) granting
// CAP_NET_BIND_SERVICE, as `setcap cap_net_bind_service+ep` writes it.
inline std::string capability_value() {
  std::string v(20, '\0');
  v[0] = 0x01;      // VFS_CAP_FLAGS_EFFECTIVE
  v[3] = 0x02;      // VFS_CAP_REVISION_2 (little endian 0x02000000)
  v[4 + 1] = 0x04;  // permitted: bit 10 = CAP_NET_BIND_SERVICE
  return v;
}

// One entry read back from a layer.
struct TarRecord {
  std::string name;
  mode_t type = 0;
  mode_t perm = 0;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::string uname;
  std::string gname;
  std::int64_t mtime = 0;
  long mtime_nsec = 0;
  bool atime_set = false;
  bool ctime_set = false;
  std::int64_t size = 0;
  std::string symlink;
  std::string hardlink;
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  std::map<std::string, std::string> xattrs;
  std::string content;  // only for entries up to 1 MiB
};

inline const char* or_empty(const char* s) { return s != nullptr ? s : ""; }

inline TarRecord record_of(archive* a, archive_entry* e) {
  TarRecord r;
  r.name = or_empty(archive_entry_pathname(e));
  r.type = archive_entry_filetype(e);
  r.perm = archive_entry_perm(e);
  r.uid = archive_entry_uid(e);
  r.gid = archive_entry_gid(e);
  r.uname = or_empty(archive_entry_uname(e));
  r.gname = or_empty(archive_entry_gname(e));
  r.mtime = archive_entry_mtime(e);
  r.mtime_nsec = archive_entry_mtime_nsec(e);
  r.atime_set = archive_entry_atime_is_set(e) != 0;
  r.ctime_set = archive_entry_ctime_is_set(e) != 0;
  r.size = archive_entry_size(e);
  r.symlink = or_empty(archive_entry_symlink(e));
  r.hardlink = or_empty(archive_entry_hardlink(e));
  r.dev_major = archive_entry_rdevmajor(e);
  r.dev_minor = archive_entry_rdevminor(e);
  archive_entry_xattr_reset(e);
  const char* key;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
    r.xattrs[key] = std::string(static_cast<const char*>(value), size);
  }
  if (r.size <= (1 << 20)) {
    r.content.resize(static_cast<std::size_t>(r.size));
    la_ssize_t n = archive_read_data(a, r.content.data(), r.content.size());
    r.content.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  return r;
}

// Every entry of a gzip'd tar, in archive order. Names are read as UTF-8
// (this thread runs under C.UTF-8 meanwhile), as Go's archive/tar takes them.
inline std::vector<TarRecord> read_layer(const fs::path& blob) {
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  locale_t previous = uselocale(utf8);
  std::vector<TarRecord> out;
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, blob.c_str(), 64 * 1024), ARCHIVE_OK)
      << archive_error_string(a);
  archive_entry* e = nullptr;
  int rc;
  while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) out.push_back(record_of(a, e));
  EXPECT_EQ(rc, ARCHIVE_EOF) << or_empty(archive_error_string(a));
  archive_read_free(a);
  uselocale(previous);
  return out;
}

inline std::vector<std::string> names_of(const std::vector<TarRecord>& records) {
  std::vector<std::string> names;
  for (const auto& r : records) names.push_back(r.name);
  return names;
}

inline const TarRecord* find(const std::vector<TarRecord>& records, const std::string& name) {
  for (const auto& r : records) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// Runs a shell command; returns its exit status and standard output.
struct CommandResult {
  int status = -1;
  std::string out;
};

inline CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) result.out.append(buf, n);
  result.status = ::pclose(p);
  return result;
}

// Writes a plan to `out` through an FdSink.
inline LayerResult<LayerInfo> write_to_file(const LayerPlan& plan, const fs::path& out,
                                            const LayerOptions& options = {}) {
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0) << out;
  FdSink sink(fd);
  auto info = write_layer(plan, sink, options);
  ::close(fd);
  return info;
}

// Options with a fixed time for made entries, so that digests are stable.
inline LayerOptions fixed_options() {
  LayerOptions o;
  o.made_mtime = 1'700'000'000;
  return o;
}

}  // namespace drydock::builder::testing
