#include "builder/snapshotter.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <fstream>

#include "builder/mount.hpp"
#include "exec_test_util.hpp"

namespace drydock::builder {
namespace {

using namespace test_util;

// Real overlayfs under a temp dir; each test mounts on its own mount point and
// unmounts before the temp dir goes.
class SnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OverlaySnapshotter::open(dir_.path() / "snapshots");
    ASSERT_TRUE(s) << s.error().message;
    snap_ = std::move(*s);
    fs::create_directories(mnt_);
  }

  // Prepares `key` over `parents`, mounts it, runs `edit` on the mounted
  // root, unmounts and commits it as `name`.
  void make_layer(const std::string& name, std::vector<std::string> parents,
                  const std::function<void(const fs::path&)>& edit) {
    auto mounts = snap_->prepare(name + "-active", parents);
    ASSERT_TRUE(mounts) << mounts.error().message;
    {
      auto guard = mount_guarded(*mounts, mnt_);
      ASSERT_TRUE(guard) << guard.error().message;
      edit(mnt_);
    }
    auto c = snap_->commit(name + "-active", name);
    ASSERT_TRUE(c) << c.error().message;
  }

  TempDir dir_{"snap"};
  fs::path mnt_ = dir_.path() / "mnt";
  std::unique_ptr<OverlaySnapshotter> snap_;
};

TEST_F(SnapshotterTest, ParentlessPrepareIsABindOfTheUpperDir) {
  auto mounts = snap_->prepare("k", {});
  ASSERT_TRUE(mounts) << mounts.error().message;
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_EQ((*mounts)[0].type, "bind");
  auto upper = snap_->upper_dir("k");
  ASSERT_TRUE(upper);
  EXPECT_EQ((*mounts)[0].source, upper->string());
  {
    auto guard = mount_guarded(*mounts, mnt_);
    ASSERT_TRUE(guard) << guard.error().message;
    write_file(mnt_ / "hello", "world");
  }
  EXPECT_EQ(read_file(*upper / "hello"), "world");
  ASSERT_TRUE(snap_->commit("k", "sha256:0123"));
  EXPECT_TRUE(snap_->exists("sha256:0123"));
  EXPECT_FALSE(snap_->upper_dir("k"));
  EXPECT_EQ(read_file(snap_->root() / "committed/sha256+0123/hello"), "world");
}

TEST_F(SnapshotterTest, WritesLandInTheUpperDirAndDeletionsBecomeWhiteouts) {
  make_layer("base", {}, [](const fs::path& root) {
    write_file(root / "keep", "1");
    write_file(root / "change", "old");
    write_file(root / "gone", "x");
  });
  auto mounts = snap_->prepare("step", std::vector<std::string>{"base"});
  ASSERT_TRUE(mounts) << mounts.error().message;
  ASSERT_EQ((*mounts)[0].type, "overlay");
  {
    auto guard = mount_guarded(*mounts, mnt_);
    ASSERT_TRUE(guard) << guard.error().message;
    EXPECT_EQ(read_file(mnt_ / "keep"), "1");
    write_file(mnt_ / "change", "new");
    write_file(mnt_ / "added", "+");
    fs::remove(mnt_ / "gone");
  }
  fs::path upper = *snap_->upper_dir("step");
  EXPECT_EQ(read_file(upper / "change"), "new");
  EXPECT_EQ(read_file(upper / "added"), "+");
  EXPECT_TRUE(is_whiteout(upper / "gone"));
  EXPECT_FALSE(lexists(upper / "keep"));
  fs::path lower = snap_->root() / "committed/base";
  EXPECT_EQ(read_file(lower / "change"), "old");
  EXPECT_EQ(read_file(lower / "gone"), "x");
  EXPECT_FALSE(lexists(lower / "added"));
}

TEST_F(SnapshotterTest, AChainOfThreeLayersMerges) {
  make_layer("l1", {}, [](const fs::path& root) {
    write_file(root / "a", "1");
    write_file(root / "b", "1");
    write_file(root / "dir/x", "x");
  });
  make_layer("l2", {"l1"}, [](const fs::path& root) {
    write_file(root / "a", "2");
    fs::remove(root / "b");
  });
  make_layer("l3", {"l1", "l2"}, [](const fs::path& root) {
    fs::remove_all(root / "dir");  // replaced directory: opaque in the upper dir
    write_file(root / "dir/y", "y");
    write_file(root / "c", "3");
  });
  char opaque[4] = {};
  EXPECT_EQ(::lgetxattr((snap_->root() / "committed/l3/dir").c_str(), "trusted.overlay.opaque",
                        opaque, sizeof opaque),
            1);
  auto check = [](const fs::path& root) {
    EXPECT_EQ(read_file(root / "a"), "2");
    EXPECT_FALSE(lexists(root / "b"));
    EXPECT_FALSE(lexists(root / "dir/x"));
    EXPECT_EQ(read_file(root / "dir/y"), "y");
    EXPECT_EQ(read_file(root / "c"), "3");
  };
  std::vector<std::string> chain = {"l1", "l2", "l3"};
  auto view = snap_->view(chain);
  ASSERT_TRUE(view) << view.error().message;
  {
    auto guard = mount_guarded(*view, mnt_);
    ASSERT_TRUE(guard) << guard.error().message;
    check(mnt_);
    std::ofstream probe(mnt_ / "probe");
    EXPECT_FALSE(probe.is_open()) << "a view must be read-only";
  }
  auto active = snap_->prepare("top", chain);
  ASSERT_TRUE(active);
  auto again = snap_->mounts("top");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *active);
  auto guard = mount_guarded(*active, mnt_);
  ASSERT_TRUE(guard) << guard.error().message;
  check(mnt_);
}

TEST_F(SnapshotterTest, ViewsOfNoneAndOneParentAreReadOnlyBinds) {
  make_layer("only", {}, [](const fs::path& root) { write_file(root / "f", "1"); });
  auto none = snap_->view({});
  ASSERT_TRUE(none);
  EXPECT_EQ((*none)[0].type, "bind");
  std::vector<std::string> one_parent = {"only"};
  auto one = snap_->view(one_parent);
  ASSERT_TRUE(one);
  ASSERT_EQ((*one)[0].type, "bind");
  auto guard = mount_guarded(*one, mnt_);
  ASSERT_TRUE(guard) << guard.error().message;
  EXPECT_EQ(read_file(mnt_ / "f"), "1");
  std::ofstream probe(mnt_ / "probe");
  EXPECT_FALSE(probe.is_open());
}

TEST_F(SnapshotterTest, CommitRemoveAndErrors) {
  ASSERT_TRUE(snap_->prepare("a", {}));
  EXPECT_EQ(snap_->prepare("a", {}).error().code, ExecErrc::kAlreadyExists);
  EXPECT_EQ(snap_->prepare("b", std::vector<std::string>{"missing"}).error().code,
            ExecErrc::kNotFound);
  EXPECT_EQ(snap_->prepare("bad/key", {}).error().code, ExecErrc::kInvalidArgument);
  EXPECT_EQ(snap_->prepare(".hidden", {}).error().code, ExecErrc::kInvalidArgument);
  EXPECT_EQ(snap_->commit("nope", "n").error().code, ExecErrc::kNotFound);

  write_file(*snap_->upper_dir("a") / "f", "first");
  ASSERT_TRUE(snap_->commit("a", "layer"));
  EXPECT_EQ(snap_->prepare("layer", {}).error().code, ExecErrc::kAlreadyExists);

  // Committing the same content name again keeps the first and drops the new.
  ASSERT_TRUE(snap_->prepare("a2", {}));
  write_file(*snap_->upper_dir("a2") / "f", "second");
  ASSERT_TRUE(snap_->commit("a2", "layer"));
  EXPECT_FALSE(snap_->upper_dir("a2"));
  EXPECT_EQ(read_file(snap_->root() / "committed/layer/f"), "first");

  ASSERT_TRUE(snap_->prepare("scratch", {}));
  ASSERT_TRUE(snap_->remove("scratch"));
  EXPECT_FALSE(snap_->upper_dir("scratch"));
  ASSERT_TRUE(snap_->remove("layer"));
  EXPECT_FALSE(snap_->exists("layer"));
  EXPECT_EQ(snap_->remove("layer").error().code, ExecErrc::kNotFound);
  EXPECT_TRUE(fs::is_empty(snap_->root() / "trash"));
  EXPECT_TRUE(fs::is_empty(snap_->root() / "active"));
}

TEST_F(SnapshotterTest, RejectsRootsOverlayCannotName) {
  EXPECT_EQ(OverlaySnapshotter::open("relative/root").error().code, ExecErrc::kInvalidArgument);
  EXPECT_EQ(OverlaySnapshotter::open(dir_.path() / "a:b").error().code, ExecErrc::kInvalidArgument);
  std::vector<std::string> too_many(OverlaySnapshotter::kMaxLayers + 1, "x");
  EXPECT_EQ(snap_->view(too_many).error().code, ExecErrc::kTooManyLayers);
}

// 60 layers of long names: the lowerdir option is far past one page, so the
// mount goes through fsconfig's lowerdir+ (Linux >= 6.5).
TEST_F(SnapshotterTest, StacksPastTheOnePageOptionLimit) {
  std::vector<std::string> chain;
  for (int i = 0; i < 60; ++i) {
    std::string name = "sha256:" + std::string(56, 'a') + (i < 10 ? "0" : "") + std::to_string(i);
    ASSERT_TRUE(snap_->prepare("tmp", {}));
    write_file(*snap_->upper_dir("tmp") / ("f" + std::to_string(i)), std::to_string(i));
    write_file(*snap_->upper_dir("tmp") / "top", std::to_string(i));
    ASSERT_TRUE(snap_->commit("tmp", name));
    chain.push_back(name);
  }
  auto mounts = snap_->prepare("big", chain);
  ASSERT_TRUE(mounts) << mounts.error().message;
  std::size_t data = 0;
  for (const auto& o : (*mounts)[0].options) data += o.size() + 1;
  EXPECT_GT(data, 4096u);
  auto guard = mount_guarded(*mounts, mnt_);
  ASSERT_TRUE(guard) << guard.error().message;
  for (int i = 0; i < 60; ++i)
    EXPECT_EQ(read_file(mnt_ / ("f" + std::to_string(i))), std::to_string(i));
  EXPECT_EQ(read_file(mnt_ / "top"), "59");
  write_file(mnt_ / "written", "w");
  ASSERT_TRUE(guard->reset());
  EXPECT_EQ(read_file(*snap_->upper_dir("big") / "written"), "w");
}

}  // namespace
// kRebuildable: no flush per commit; snapshots survive a clean close and
// are all discarded after an unclean one (the in-use mark is still there).
TEST(RebuildableSnapshots, SurviveACleanCloseAndGoAfterACrash) {
  TempDir dir{"snap-rebuild"};
  fs::path root = dir.path() / "snaps";
  auto commit_one = [](OverlaySnapshotter& s, const std::string& name) {
    ASSERT_TRUE(s.prepare("k-" + name, {}));
    auto up = s.upper_dir("k-" + name);
    ASSERT_TRUE(up);
    std::ofstream(*up / "f") << name;
    ASSERT_TRUE(s.commit("k-" + name, name));
  };
  {
    auto s = OverlaySnapshotter::open(root, SnapshotDurability::kRebuildable);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE(fs::exists(root / "in-use"));
    commit_one(**s, "kept");
  }
  EXPECT_FALSE(fs::exists(root / "in-use"));
  auto again = OverlaySnapshotter::open(root, SnapshotDurability::kRebuildable);
  ASSERT_TRUE(again);
  EXPECT_TRUE((*again)->exists("kept"));
  commit_one(**again, "unflushed");
  // A second open while the mark is there is what a restart after a crash sees.
  auto after_crash = OverlaySnapshotter::open(root, SnapshotDurability::kRebuildable);
  ASSERT_TRUE(after_crash);
  EXPECT_FALSE((*after_crash)->exists("kept"));
  EXPECT_FALSE((*after_crash)->exists("unflushed"));
  EXPECT_TRUE(fs::is_empty(root / "committed"));
}

}  // namespace drydock::builder
