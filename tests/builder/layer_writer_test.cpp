#include "builder/layer_writer.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fstream>
#include <sstream>

#include "tests/builder/layer_test_util.hpp"

namespace drydock::builder {
namespace {

using namespace testing;  // NOLINT: test helpers

// sha256 of 1024 zero bytes: the diff_id of a tar with no entries.
constexpr std::string_view kEmptyTarDiffId =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

// Overlay-mode tests need trusted.* xattrs and mknod, i.e. root on a disk
// filesystem; they are skipped (not failed) where the environment lacks them.
class OverlayLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(upper_);
    std::string probe = (dir_ / "probe").native();
    write_file(probe, "");
    if (::lsetxattr(probe.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
      GTEST_SKIP() << "trusted.* xattrs unavailable here: " << std::strerror(errno);
    }
  }

  LayerInfo write_upper(const LayerOptions& options = fixed_options()) {
    LayerPlan plan;
    auto added = plan.add_overlay_upper(upper_);
    EXPECT_TRUE(added) << added.error().message;
    auto info = write_to_file(plan, blob_, options);
    EXPECT_TRUE(info) << info.error().message;
    return info.value_or(LayerInfo{});
  }

  TempDir dir_;
  fs::path upper_ = dir_ / "upper";
  fs::path blob_ = dir_ / "layer.tar.gz";
};

TEST_F(OverlayLayerTest, WhiteoutDeviceBecomesEmptyWhFile) {
  write_file(upper_ / "etc/new.conf", "x");
  make_whiteout(upper_ / "etc/passwd");
  make_whiteout(upper_ / "gone");
  write_upper();
  auto records = read_layer(blob_);
  EXPECT_EQ(names_of(records),
            (std::vector<std::string>{".wh.gone", "etc/", "etc/.wh.passwd", "etc/new.conf"}));
  const TarRecord* wh = find(records, "etc/.wh.passwd");
  ASSERT_NE(wh, nullptr);
  EXPECT_EQ(wh->type, AE_IFREG);
  EXPECT_EQ(wh->size, 0);
  EXPECT_EQ(wh->perm, 0u);
  EXPECT_EQ(wh->uid, 0);
  EXPECT_EQ(wh->mtime, 0);
}

TEST_F(OverlayLayerTest, OpaqueDirectoryGetsMarkerThenContents) {
  write_file(upper_ / "var/cache/fresh", "new");
  set_xattr(upper_ / "var/cache", "trusted.overlay.opaque", "y");
  write_file(upper_ / "srv/data", "d");
  set_xattr(upper_ / "srv", "user.overlay.opaque", "y");  // a "userxattr" mount
  write_file(upper_ / "opt/x", "x");
  set_xattr(upper_ / "opt", "trusted.overlay.opaque", "x");  // not "y": not opaque
  write_upper();
  auto records = read_layer(blob_);
  EXPECT_EQ(names_of(records), (std::vector<std::string>{
                                   "opt/", "opt/x", "srv/", "srv/.wh..wh..opq", "srv/data", "var/",
                                   "var/cache/", "var/cache/.wh..wh..opq", "var/cache/fresh"}));
  for (const auto& r : records) EXPECT_TRUE(r.xattrs.empty()) << r.name;
  EXPECT_EQ(find(records, "var/cache/.wh..wh..opq")->size, 0);
}

TEST_F(OverlayLayerTest, OpaqueUpperRootGetsARootMarker) {
  write_file(upper_ / "only", "1");
  set_xattr(upper_, "trusted.overlay.opaque", "y");
  write_upper();
  EXPECT_EQ(names_of(read_layer(blob_)), (std::vector<std::string>{".wh..wh..opq", "only"}));
}

TEST_F(OverlayLayerTest, OverlayXattrsDroppedCapabilityAndUserKept) {
  fs::path bin = upper_ / "bin/ping";
  write_file(bin, "elf", 0755);
  set_xattr(bin, "security.capability", capability_value());
  set_xattr(bin, "user.origin", "test");
  set_xattr(bin, "trusted.overlay.origin", "lower-handle");
  set_xattr(bin, "trusted.other", "private");
  set_xattr(upper_ / "bin", "trusted.overlay.impure", "y");
  write_upper();
  auto records = read_layer(blob_);
  const TarRecord* ping = find(records, "bin/ping");
  ASSERT_NE(ping, nullptr);
  EXPECT_EQ(ping->xattrs,
            (std::map<std::string, std::string>{{"security.capability", capability_value()},
                                                {"user.origin", "test"}}));
  EXPECT_TRUE(find(records, "bin/")->xattrs.empty());
  // Only SCHILY.xattr records, as Go's archive/tar and GNU tar write them.
  auto raw = run("gzip -dc " + blob_.native() + " | grep -a -c LIBARCHIVE.xattr");
  EXPECT_EQ(raw.out, "0\n");
  raw = run("gzip -dc " + blob_.native() + " | grep -a -c SCHILY.xattr.security.capability");
  EXPECT_EQ(raw.out, "1\n");
}

TEST_F(OverlayLayerTest, CapabilityOnlyPolicyDropsUserXattrs) {
  fs::path bin = upper_ / "ping";
  write_file(bin, "elf", 0755);
  set_xattr(bin, "security.capability", capability_value());
  set_xattr(bin, "user.origin", "test");
  LayerOptions options = fixed_options();
  options.xattrs = XattrPolicy::kCapabilityOnly;
  write_upper(options);
  auto records = read_layer(blob_);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].xattrs.size(), 1u);
  EXPECT_TRUE(records[0].xattrs.contains("security.capability"));
}

TEST_F(OverlayLayerTest, RedirectAndMetacopyAreRejectedNamingThePath) {
  fs::create_directories(upper_ / "moved");
  set_xattr(upper_ / "moved", "trusted.overlay.redirect", "/orig");
  LayerPlan plan;
  auto r = plan.add_overlay_upper(upper_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, LayerErrorCode::kUnsupported);
  EXPECT_NE(r.error().message.find((upper_ / "moved").native()), std::string::npos)
      << r.error().message;

  fs::remove_all(upper_ / "moved");
  write_file(upper_ / "meta", "");
  set_xattr(upper_ / "meta", "trusted.overlay.metacopy", "");
  LayerPlan plan2;
  r = plan2.add_overlay_upper(upper_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("metacopy"), std::string::npos);
}

TEST_F(OverlayLayerTest, SocketsAreSkipped) {
  fs::create_directories(upper_ / "run");
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = (upper_ / "run/app.sock").native();
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(s);
  write_upper();
  EXPECT_EQ(names_of(read_layer(blob_)), (std::vector<std::string>{"run/"}));
}

TEST_F(OverlayLayerTest, UnchangedUpperGivesEmptyLayer) {
  LayerPlan plan;
  ASSERT_TRUE(plan.add_overlay_upper(upper_));
  EXPECT_TRUE(plan.empty());
  auto info = write_to_file(plan, blob_);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->empty());
  EXPECT_EQ(info->entry_count, 0u);
  // Just the two zero blocks that end a tar, as Go's tar.Writer writes them.
  EXPECT_EQ(info->uncompressed_size, 1024u);
  EXPECT_EQ(info->diff_id.str(), kEmptyTarDiffId);
  EXPECT_TRUE(read_layer(blob_).empty());
}

TEST_F(OverlayLayerTest, OverlayDifferWritesTheUpper) {
  write_file(upper_ / "a", "1");
  make_whiteout(upper_ / "b");
  OverlayDiffer differ(fixed_options());
  int fd = ::open(blob_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FdSink sink(fd);
  Differ& d = differ;
  auto info = d.diff(upper_, sink);
  ::close(fd);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->entry_count, 2u);
  EXPECT_EQ(names_of(read_layer(blob_)), (std::vector<std::string>{".wh.b", "a"}));
}

// --- entry metadata (plain directories) -------------------------------------

class LayerEntriesTest : public ::testing::Test {
 protected:
  std::vector<TarRecord> write_tree(const LayerOptions& options = fixed_options()) {
    LayerPlan plan;
    auto added = plan.add_contents(src_, "/");
    EXPECT_TRUE(added) << added.error().message;
    auto info = write_to_file(plan, blob_, options);
    EXPECT_TRUE(info) << info.error().message;
    if (info) info_ = *info;
    return read_layer(blob_);
  }

  TempDir dir_;
  fs::path src_ = dir_ / "src";
  fs::path blob_ = dir_ / "layer.tar.gz";
  LayerInfo info_;
};

TEST_F(LayerEntriesTest, HardLinksPointToTheFirstPathInLayerOrder) {
  write_file(src_ / "m/original", "shared content");
  fs::create_hard_link(src_ / "m/original", src_ / "a-link");
  fs::create_directories(src_ / "z");
  fs::create_hard_link(src_ / "m/original", src_ / "z/last");
  write_file(src_ / "single", "s");
  auto records = write_tree();
  const TarRecord* first = find(records, "a-link");
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->hardlink.empty());
  EXPECT_EQ(first->content, "shared content");
  for (std::string name : {"m/original", "z/last"}) {
    const TarRecord* link = find(records, name);
    ASSERT_NE(link, nullptr) << name;
    EXPECT_EQ(link->hardlink, "a-link") << name;
    EXPECT_EQ(link->size, 0) << name;
  }
  EXPECT_TRUE(find(records, "single")->hardlink.empty());
}

TEST_F(LayerEntriesTest, SymlinksKeepTheirTargetVerbatim) {
  fs::create_directories(src_ / "d");
  fs::create_symlink("../etc/passwd", src_ / "d/rel");
  fs::create_symlink("/usr/bin/env", src_ / "abs");
  fs::create_symlink("does/not/exist", src_ / "dangling");
  fs::create_directory_symlink("d", src_ / "dirlink");
  auto records = write_tree();
  EXPECT_EQ(find(records, "d/rel")->symlink, "../etc/passwd");
  EXPECT_EQ(find(records, "abs")->symlink, "/usr/bin/env");
  EXPECT_EQ(find(records, "dangling")->symlink, "does/not/exist");
  const TarRecord* dirlink = find(records, "dirlink");
  ASSERT_NE(dirlink, nullptr);  // no trailing '/': a symlink, not a directory
  EXPECT_EQ(dirlink->type, AE_IFLNK);
  EXPECT_EQ(dirlink->perm, 0777u);
  EXPECT_EQ(dirlink->size, 0);
}

TEST_F(LayerEntriesTest, ModesOwnersAndMtimesAsOnDisk) {
  write_file(src_ / "bin/su", "suid", 04755);
  write_file(src_ / "secret", "k", 0600);
  fs::create_directories(src_ / "tmp");
  ASSERT_EQ(::chmod((src_ / "tmp").c_str(), 01777), 0);
  ASSERT_EQ(::lchown((src_ / "secret").c_str(), 1000, 1001), 0);
  ASSERT_EQ(::lchown((src_ / "bin").c_str(), 70000, 70001), 0);
  set_mtime(src_ / "secret", 1'600'000'000, 987'654'321);
  auto records = write_tree();
  EXPECT_EQ(names_of(records), (std::vector<std::string>{"bin/", "bin/su", "secret", "tmp/"}));
  const TarRecord* su = find(records, "bin/su");
  EXPECT_EQ(su->perm, 04755u);
  EXPECT_EQ(su->type, AE_IFREG);
  EXPECT_EQ(su->content, "suid");
  EXPECT_EQ(find(records, "tmp/")->perm, 01777u);
  EXPECT_EQ(find(records, "tmp/")->type, AE_IFDIR);
  const TarRecord* secret = find(records, "secret");
  EXPECT_EQ(secret->perm, 0600u);
  EXPECT_EQ(secret->uid, 1000);
  EXPECT_EQ(secret->gid, 1001);
  EXPECT_EQ(secret->mtime, 1'600'000'000);  // seconds only, like containerd
  EXPECT_EQ(secret->mtime_nsec, 0);
  EXPECT_EQ(find(records, "bin/")->uid, 70000);
  EXPECT_EQ(find(records, "bin/")->gid, 70001);
  for (const auto& r : records) {
    EXPECT_TRUE(r.uname.empty() && r.gname.empty()) << r.name;
    EXPECT_FALSE(r.atime_set || r.ctime_set) << r.name;
    EXPECT_FALSE(r.name.starts_with("/") || r.name.starts_with("./")) << r.name;
  }
}

TEST_F(LayerEntriesTest, DevicesAndFifos) {
  fs::create_directories(src_ / "dev");
  ASSERT_EQ(::mknod((src_ / "dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(::mknod((src_ / "dev/loop0").c_str(), S_IFBLK | 0660, makedev(7, 0)), 0);
  ASSERT_EQ(::mkfifo((src_ / "dev/pipe").c_str(), 0620), 0);
  for (std::string node : {"dev/null", "dev/pipe"}) {  // past the umask
    ASSERT_EQ(::chmod((src_ / node).c_str(), node == "dev/null" ? 0666 : 0620), 0);
  }
  auto records = write_tree();
  const TarRecord* null = find(records, "dev/null");
  ASSERT_NE(null, nullptr);
  EXPECT_EQ(null->type, AE_IFCHR);
  EXPECT_EQ(null->perm, 0666u);
  EXPECT_EQ(null->dev_major, 1u);
  EXPECT_EQ(null->dev_minor, 3u);
  EXPECT_EQ(find(records, "dev/loop0")->type, AE_IFBLK);
  EXPECT_EQ(find(records, "dev/loop0")->dev_major, 7u);
  EXPECT_EQ(find(records, "dev/pipe")->type, AE_IFIFO);
  EXPECT_EQ(find(records, "dev/pipe")->perm, 0620u);
}

TEST_F(LayerEntriesTest, MtimeClampAndSet) {
  write_file(src_ / "old", "o");
  write_file(src_ / "new", "n");
  set_mtime(src_ / "old", 1000);
  set_mtime(src_ / "new", 2'000'000'000);
  set_mtime(src_, 1);
  LayerOptions clamp = fixed_options();
  clamp.mtime_policy = MtimePolicy::kClamp;
  clamp.epoch = 1'500'000'000;
  auto records = write_tree(clamp);
  EXPECT_EQ(find(records, "old")->mtime, 1000);
  EXPECT_EQ(find(records, "new")->mtime, 1'500'000'000);

  LayerOptions set = fixed_options();
  set.mtime_policy = MtimePolicy::kSet;
  set.epoch = 42;
  records = write_tree(set);
  EXPECT_EQ(find(records, "old")->mtime, 42);
  EXPECT_EQ(find(records, "new")->mtime, 42);
}

TEST_F(LayerEntriesTest, LongAndNonAsciiNames) {
  std::string long_dir(120, 'd');
  std::string long_name(150, 'f');
  write_file(src_ / long_dir / long_name, "deep");
  write_file(src_ / "café/naïve.txt", "utf8");
  fs::create_symlink(std::string(200, 't'), src_ / "longlink");
  auto records = write_tree();
  EXPECT_EQ(find(records, long_dir + "/" + long_name)->content, "deep");
  ASSERT_NE(find(records, "café/naïve.txt"), nullptr);
  EXPECT_EQ(find(records, "café/naïve.txt")->content, "utf8");
  EXPECT_EQ(find(records, "longlink")->symlink, std::string(200, 't'));
  // GNU tar reads the same names back.
  auto listing = run("tar -tzf " + blob_.native());
  EXPECT_EQ(listing.status, 0);
  EXPECT_NE(listing.out.find("café/naïve.txt\n"), std::string::npos) << listing.out;
  EXPECT_NE(listing.out.find(long_dir + "/" + long_name + "\n"), std::string::npos);
  // Valid UTF-8 names are plain PAX path records, without hdrcharset=BINARY.
  EXPECT_EQ(run("gzip -dc " + blob_.native() + " | grep -a -c hdrcharset").out, "0\n");
}

TEST_F(LayerEntriesTest, FileChangedSincePlanningIsAnError) {
  write_file(src_ / "x", "data");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_contents(src_, ""));
  fs::remove(src_ / "x");
  fs::create_directory(src_ / "x");
  auto info = write_to_file(plan, blob_);
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find((src_ / "x").native()), std::string::npos);

  fs::remove(src_ / "x");
  info = write_to_file(plan, blob_);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, LayerErrorCode::kIo);
  EXPECT_NE(info.error().message.find("lstat " + (src_ / "x").native()), std::string::npos)
      << info.error().message;
}

}  // namespace
}  // namespace drydock::builder
