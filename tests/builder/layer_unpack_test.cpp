#include "builder/layer_unpack.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "tests/builder/test_archive.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using storage::testing::read_file;
using storage::testing::TempDir;
using testing::Compression;
using testing::TestArchive;
using testing::TestEntry;

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

// The value of xattr `name` on `p` (not following symlinks); empty if absent.
std::string xattr_of(const fs::path& p, const char* name) {
  char buf[256];
  const ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

class LayerUnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "unpacking layers needs root (owners, devices, trusted xattrs)";
  }

  ArchiveResult<UnpackStats> unpack(const UnpackOptions& options = {}) {
    return unpack_layer(layer_, target_, options);
  }

  void expect_rejected(ArchiveErrc code, const std::string& entry) {
    auto r = unpack();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(entry), std::string::npos) << r.error().message;
    ASSERT_TRUE(remove_tree(target_).has_value());
  }

  TempDir tmp_;
  fs::path layer_ = tmp_.path() / "layer.tar";
  fs::path target_ = tmp_.path() / "snapshot";
};

TEST_F(LayerUnpackTest, WhiteoutBecomesACharacterDevice00) {
  {
    TestArchive t(layer_, Compression::kGzip);
    t.add({.name = "etc/", .type = AE_IFDIR, .mtime = 1'111'111'111});
    t.add({.name = "etc/.wh.passwd", .uid = 7, .gid = 8});
    t.add({.name = ".wh.tmp"});
  }
  auto r = unpack();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const struct stat wh = lstat_of(target_ / "etc/passwd");
  EXPECT_TRUE(S_ISCHR(wh.st_mode));
  EXPECT_EQ(wh.st_rdev, makedev(0, 0));
  EXPECT_EQ(wh.st_uid, 7U);
  EXPECT_EQ(wh.st_gid, 8U);
  EXPECT_TRUE(S_ISCHR(lstat_of(target_ / "tmp").st_mode));
  EXPECT_FALSE(fs::exists(fs::symlink_status(target_ / "etc/.wh.passwd")));
  EXPECT_EQ(lstat_of(target_ / "etc").st_mtim.tv_sec, 1'111'111'111);
  EXPECT_EQ(r->whiteouts, 2U);
}

TEST_F(LayerUnpackTest, OpaqueMarkerBecomesAnXattr) {
  {
    TestArchive t(layer_);
    t.dir("var/");
    t.add({.name = "var/.wh..wh..opq"});
    t.file("var/new", "n");
    t.add({.name = "var/.wh..wh.plnk"});  // aufs bookkeeping: dropped
  }
  auto r = unpack();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(xattr_of(target_ / "var", "trusted.overlay.opaque"), "y");
  EXPECT_FALSE(fs::exists(target_ / "var/.wh..wh..opq"));
  EXPECT_FALSE(fs::exists(target_ / "var/.wh..wh.plnk"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(target_ / "var/.wh.plnk")));
  EXPECT_EQ(read_file(target_ / "var/new"), "n");
  EXPECT_EQ(r->opaque_dirs, 1U);
  EXPECT_EQ(r->archive.skipped, 1U);
}

TEST_F(LayerUnpackTest, KeepsModeOwnerTimesAndXattrs) {
  // struct vfs_cap_data, revision 2, effective, CAP_NET_BIND_SERVICE permitted.
  const std::string capability(
      "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00",
      20);
  {
    TestArchive t(layer_);
    t.add({.name = "usr/",
           .type = AE_IFDIR,
           .perm = 0711,
           .uid = 3,
           .gid = 4,
           .mtime = 1'000'000'000});
    t.add({.name = "usr/bin/ping",
           .data = "elf",
           .perm = 04755,
           .uid = 1234,
           .gid = 5678,
           .mtime = 1'200'000'000,
           .xattrs = {{"security.capability", capability}, {"user.note", "hello"}}});
    t.add({.name = "usr/share/", .type = AE_IFDIR, .perm = 01777, .mtime = 1'300'000'000});
  }
  auto r = unpack();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const struct stat usr = lstat_of(target_ / "usr");
  EXPECT_EQ(usr.st_mode & 07777, 0711U);
  EXPECT_EQ(usr.st_uid, 3U);
  EXPECT_EQ(usr.st_gid, 4U);
  EXPECT_EQ(usr.st_mtim.tv_sec, 1'000'000'000);
  const struct stat ping = lstat_of(target_ / "usr/bin/ping");
  EXPECT_EQ(ping.st_mode & 07777, 04755U);
  EXPECT_EQ(ping.st_uid, 1234U);
  EXPECT_EQ(ping.st_gid, 5678U);
  EXPECT_EQ(ping.st_mtim.tv_sec, 1'200'000'000);
  EXPECT_EQ(xattr_of(target_ / "usr/bin/ping", "security.capability"), capability);
  EXPECT_EQ(xattr_of(target_ / "usr/bin/ping", "user.note"), "hello");
  EXPECT_EQ(lstat_of(target_ / "usr/share").st_mode & 07777, 01777U);
  // usr/bin had no entry: made 0755 root.
  EXPECT_EQ(lstat_of(target_ / "usr/bin").st_mode & 07777, 0755U);
  EXPECT_EQ(lstat_of(target_).st_mode & 07777, 0755U);
}

TEST_F(LayerUnpackTest, SymlinksAreKeptVerbatimAndHardLinksShareAnInode) {
  {
    TestArchive t(layer_, Compression::kZstd);
    t.file("bin/busybox", "bb", 0755);
    t.hardlink("bin/sh", "bin/busybox");
    t.hardlink("bin/ls", "./bin/busybox");
    t.symlink("etc/shadow-link", "/etc/shadow");
    t.symlink("lib/rel", "../../../../x");
    t.add({.name = "lib/owned-link",
           .type = AE_IFLNK,
           .perm = 0777,
           .uid = 9,
           .gid = 9,
           .mtime = 1'000'000'001,
           .symlink = "busybox"});
    t.hardlink("lib/rel-hard", "lib/rel");  // a hard link to the symlink itself
  }
  auto r = unpack();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const struct stat bb = lstat_of(target_ / "bin/busybox");
  EXPECT_EQ(bb.st_nlink, 3U);
  EXPECT_EQ(lstat_of(target_ / "bin/sh").st_ino, bb.st_ino);
  EXPECT_EQ(lstat_of(target_ / "bin/ls").st_ino, bb.st_ino);
  EXPECT_EQ(fs::read_symlink(target_ / "etc/shadow-link"), "/etc/shadow");
  EXPECT_EQ(fs::read_symlink(target_ / "lib/rel"), "../../../../x");
  const struct stat link = lstat_of(target_ / "lib/owned-link");
  EXPECT_EQ(link.st_uid, 9U);
  EXPECT_EQ(link.st_mtim.tv_sec, 1'000'000'001);
  EXPECT_EQ(lstat_of(target_ / "lib/rel-hard").st_ino, lstat_of(target_ / "lib/rel").st_ino);
  EXPECT_EQ(fs::read_symlink(target_ / "lib/rel-hard"), "../../../../x");
  EXPECT_EQ(r->archive.hard_links, 3U);
  EXPECT_EQ(r->archive.symlinks, 3U);
}

TEST_F(LayerUnpackTest, CreatesDeviceNodesAndFifos) {
  {
    TestArchive t(layer_);
    t.add({.name = "dev/null", .type = AE_IFCHR, .perm = 0666, .dev_major = 1, .dev_minor = 3});
    t.add({.name = "dev/loop0",
           .type = AE_IFBLK,
           .perm = 0660,
           .gid = 6,
           .dev_major = 7,
           .dev_minor = 0});
    t.add({.name = "run/fifo", .type = AE_IFIFO, .perm = 0600});
  }
  auto r = unpack();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const struct stat null = lstat_of(target_ / "dev/null");
  EXPECT_TRUE(S_ISCHR(null.st_mode));
  EXPECT_EQ(null.st_rdev, makedev(1, 3));
  EXPECT_EQ(null.st_mode & 07777, 0666U);
  const struct stat loop = lstat_of(target_ / "dev/loop0");
  EXPECT_TRUE(S_ISBLK(loop.st_mode));
  EXPECT_EQ(loop.st_gid, 6U);
  EXPECT_TRUE(S_ISFIFO(lstat_of(target_ / "run/fifo").st_mode));
  EXPECT_EQ(r->archive.special_files, 3U);
}

TEST_F(LayerUnpackTest, MissingParentsTakeTheirMetadataFromLowerLayers) {
  const fs::path lower = tmp_.path() / "lower";
  fs::create_directories(lower / "opt/app");
  ASSERT_EQ(::chmod((lower / "opt").c_str(), 0700), 0);
  ASSERT_EQ(::chown((lower / "opt").c_str(), 42, 43), 0);
  { TestArchive(layer_).add({.name = "opt/app/.wh.old"}).file("opt/new", "n"); }
  UnpackOptions options;
  options.lower_dirs = {lower};
  auto r = unpack(options);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const struct stat opt = lstat_of(target_ / "opt");
  EXPECT_EQ(opt.st_mode & 07777, 0700U);
  EXPECT_EQ(opt.st_uid, 42U);
  EXPECT_EQ(opt.st_gid, 43U);
  EXPECT_TRUE(S_ISCHR(lstat_of(target_ / "opt/app/old").st_mode));
}

TEST_F(LayerUnpackTest, RootEntryIsIgnoredAndDotSlashNamesWork) {
  {
    TestArchive t(layer_);
    t.add({.name = "./", .type = AE_IFDIR, .perm = 0700});
    t.file("./etc/hostname", "h");
  }
  auto r = unpack();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(lstat_of(target_).st_mode & 07777, 0755U);
  EXPECT_EQ(read_file(target_ / "etc/hostname"), "h");
}

TEST_F(LayerUnpackTest, RejectsEscapes) {
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directory(outside);

  { TestArchive(layer_).file("/etc/evil", "x"); }
  expect_rejected(ArchiveErrc::kUnsafePath, "/etc/evil");

  { TestArchive(layer_).file("a/../../evil", "x"); }
  expect_rejected(ArchiveErrc::kUnsafePath, "a/../../evil");
  EXPECT_FALSE(fs::exists(tmp_.path() / "evil"));

  { TestArchive(layer_).symlink("lnk", outside.string()).file("lnk/evil", "x"); }
  expect_rejected(ArchiveErrc::kUnsafePath, "lnk/evil");
  EXPECT_FALSE(fs::exists(outside / "evil"));

  // A whiteout must not be planted through a symlink either.
  { TestArchive(layer_).symlink("lnk", outside.string()).add({.name = "lnk/.wh.x"}); }
  expect_rejected(ArchiveErrc::kUnsafePath, "lnk/.wh.x");
  EXPECT_FALSE(fs::exists(fs::symlink_status(outside / "x")));

  { TestArchive(layer_).symlink("lnk", outside.string()).add({.name = "lnk/.wh..wh..opq"}); }
  expect_rejected(ArchiveErrc::kUnsafePath, "lnk/.wh..wh..opq");
  EXPECT_EQ(xattr_of(outside, "trusted.overlay.opaque"), "");

  { TestArchive(layer_).hardlink("shadow", "/etc/shadow"); }
  expect_rejected(ArchiveErrc::kUnsafePath, "shadow");

  { TestArchive(layer_).hardlink("shadow", "../../../../../etc/shadow"); }
  expect_rejected(ArchiveErrc::kUnsafePath, "shadow");

  { TestArchive(layer_).hardlink("lower-file", "usr/bin/only-in-a-lower-layer"); }
  expect_rejected(ArchiveErrc::kCorrupt, "lower-file");
}

TEST_F(LayerUnpackTest, LaterEntriesReplaceEarlierOnes) {
  {
    TestArchive t(layer_);
    t.file("x", "file first");
    t.dir("x");
    t.file("x/y", "y");
    t.dir("d");
    t.file("d/f", "f");
    t.file("d", "now a file");
  }
  auto r = unpack();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(read_file(target_ / "x/y"), "y");
  EXPECT_EQ(read_file(target_ / "d"), "now a file");
}

TEST_F(LayerUnpackTest, NotALayer) {
  storage::testing::write_file(layer_, "{\"mediaType\": \"not a tar\"}");
  auto r = unpack();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ArchiveErrc::kNotArchive) << r.error().message;
}

}  // namespace
}  // namespace drydock::builder
