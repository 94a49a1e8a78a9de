#pragma once

// Test helper: writes tar archives (optionally gzip/zstd compressed) with
// libarchive's writer, entry by entry, streaming data so that large entries
// cost no memory. Names are written verbatim, hostile ones included.

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace drydock::builder::testing {

enum class Compression { kNone, kGzip, kZstd, kXz };

// One archive entry. `type` is an AE_IF* constant.
struct TestEntry {
  std::string name;
  unsigned type = AE_IFREG;
  std::string data;         // regular file content
  std::uint64_t zeros = 0;  // or: this many zero bytes, streamed
  mode_t perm = 0644;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::time_t mtime = 1'600'000'000;
  std::string symlink;   // symlink target
  std::string hardlink;  // hard link target
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

class TestArchive {
 public:
  explicit TestArchive(const std::filesystem::path& out, Compression c = Compression::kNone)
      : utf8_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t{})), a_(archive_write_new()) {
    // libarchive converts names with the thread's locale; "C" cannot hold
    // non-ASCII names.
    if (utf8_ != locale_t{}) previous_ = ::uselocale(utf8_);
    archive_write_set_format_pax_restricted(a_);
    if (c == Compression::kGzip) archive_write_add_filter_gzip(a_);
    if (c == Compression::kZstd) archive_write_add_filter_zstd(a_);
    if (c == Compression::kXz) archive_write_add_filter_xz(a_);
    EXPECT_EQ(archive_write_open_filename(a_, out.c_str()), ARCHIVE_OK) << archive_error_string(a_);
  }
  TestArchive(const TestArchive&) = delete;
  TestArchive& operator=(const TestArchive&) = delete;
  ~TestArchive() { close(); }

  TestArchive& add(const TestEntry& t) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname_utf8(e, t.name.c_str());
    archive_entry_set_filetype(e, t.type);
    archive_entry_set_perm(e, t.perm);
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    if (!t.symlink.empty()) archive_entry_set_symlink_utf8(e, t.symlink.c_str());
    if (!t.hardlink.empty()) archive_entry_set_hardlink_utf8(e, t.hardlink.c_str());
    if (t.type == AE_IFCHR || t.type == AE_IFBLK) {
      archive_entry_set_rdev(e, makedev(t.dev_major, t.dev_minor));
    }
    for (const auto& [key, value] : t.xattrs) {
      archive_entry_xattr_add_entry(e, key.c_str(), value.data(), value.size());
    }
    const std::uint64_t size =
        t.type == AE_IFREG && t.hardlink.empty() ? t.data.size() + t.zeros : 0;
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    EXPECT_EQ(archive_write_header(a_, e), ARCHIVE_OK)
        << t.name << ": " << archive_error_string(a_);
    if (!t.data.empty()) archive_write_data(a_, t.data.data(), t.data.size());
    const std::string block(64 * 1024, '\0');
    for (std::uint64_t left = t.zeros; left > 0;) {
      const std::size_t n = left < block.size() ? static_cast<std::size_t>(left) : block.size();
      archive_write_data(a_, block.data(), n);
      left -= n;
    }
    archive_entry_free(e);
    return *this;
  }

  TestArchive& file(const std::string& name, const std::string& data, mode_t perm = 0644) {
    return add({.name = name, .data = data, .perm = perm});
  }
  TestArchive& dir(const std::string& name, mode_t perm = 0755) {
    return add({.name = name, .type = AE_IFDIR, .perm = perm});
  }
  TestArchive& symlink(const std::string& name, const std::string& target) {
    return add({.name = name, .type = AE_IFLNK, .perm = 0777, .symlink = target});
  }
  TestArchive& hardlink(const std::string& name, const std::string& target) {
    return add({.name = name, .hardlink = target});
  }

  void close() {
    if (a_ == nullptr) return;
    EXPECT_EQ(archive_write_close(a_), ARCHIVE_OK) << archive_error_string(a_);
    archive_write_free(a_);
    a_ = nullptr;
    if (utf8_ != locale_t{}) {
      ::uselocale(previous_);
      ::freelocale(utf8_);
    }
  }

 private:
  locale_t utf8_;
  locale_t previous_ = LC_GLOBAL_LOCALE;
  archive* a_;
};

}  // namespace drydock::builder::testing
