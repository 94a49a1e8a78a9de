#include "builder/layer_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "builder/layer_writer.hpp"
#include "tests/builder/layer_test_util.hpp"

namespace drydock::builder {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr std::int64_t kMadeTime = 1'700'000'000;  // fixed_options().made_mtime

std::string clean(std::string_view p) { return clean_layer_path(p).value_or("<error>"); }

TEST(CleanLayerPathTest, CleansLikeGoPathCleanOnARootedPath) {
  EXPECT_EQ(clean("/app/bin/"), "app/bin");
  EXPECT_EQ(clean("app//bin/./tool"), "app/bin/tool");
  EXPECT_EQ(clean("./app"), "app");
  EXPECT_EQ(clean("/app/../etc/x"), "etc/x");
  EXPECT_EQ(clean("../../escape"), "escape");
  EXPECT_EQ(clean("/"), "");
  EXPECT_EQ(clean(""), "");
  EXPECT_FALSE(clean_layer_path(std::string_view("a\0b", 3)));
}

TEST(LayerPathLessTest, SlashSortsBeforeEveryOtherByte) {
  std::vector<std::string> paths = {"a.c", "a-b", "a/b", "a", "b", "a/b/c", "a/ba", ".wh.a", "A"};
  std::sort(paths.begin(), paths.end(), LayerPathLess{});
  EXPECT_EQ(paths, (std::vector<std::string>{".wh.a", "A", "a", "a/b", "a/b/c", "a/ba", "a-b",
                                             "a.c", "b"}));
}

class CopyLayerTest : public ::testing::Test {
 protected:
  std::vector<TarRecord> write(const LayerPlan& plan, LayerOptions options = fixed_options()) {
    auto info = write_to_file(plan, blob_, options);
    EXPECT_TRUE(info) << info.error().message;
    return read_layer(blob_);
  }

  TempDir dir_;
  fs::path ctx_ = dir_ / "context";
  fs::path blob_ = dir_ / "layer.tar.gz";
};

TEST_F(CopyLayerTest, FileWithChownAndChmodCreatesParents) {
  write_file(ctx_ / "tool.sh", "#!/bin/sh\n", 0644);
  set_mtime(ctx_ / "tool.sh", 1'234'567'890);
  LayerPlan plan;
  CopyAttrs attrs{Owner{1000, 1000}, 0750};
  ASSERT_TRUE(plan.add_path(ctx_ / "tool.sh", "/app/bin/tool", attrs));
  auto records = write(plan);
  ASSERT_EQ(names_of(records), (std::vector<std::string>{"app/", "app/bin/", "app/bin/tool"}));
  for (std::string dir : {"app/", "app/bin/"}) {
    const TarRecord* d = find(records, dir);
    EXPECT_EQ(d->type, AE_IFDIR);
    EXPECT_EQ(d->perm, 0755u) << dir;
    EXPECT_EQ(d->uid, 1000) << dir;
    EXPECT_EQ(d->gid, 1000) << dir;
    EXPECT_EQ(d->mtime, kMadeTime) << dir;
  }
  const TarRecord* tool = find(records, "app/bin/tool");
  EXPECT_EQ(tool->perm, 0750u);
  EXPECT_EQ(tool->uid, 1000);
  EXPECT_EQ(tool->mtime, 1'234'567'890);  // COPY keeps the source's mtime
  EXPECT_EQ(tool->content, "#!/bin/sh\n");
}

TEST_F(CopyLayerTest, DirectoryCopiesItsSubtreeWithOverrides) {
  write_file(ctx_ / "site/index.html", "<html>", 0600);
  write_file(ctx_ / "site/css/main.css", "body{}", 0644);
  fs::create_symlink("index.html", ctx_ / "site/home.html");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(ctx_ / "site", "/srv/www", CopyAttrs{Owner{33, 33}, 0640}));
  auto records = write(plan);
  EXPECT_EQ(names_of(records),
            (std::vector<std::string>{"srv/", "srv/www/", "srv/www/css/", "srv/www/css/main.css",
                                      "srv/www/home.html", "srv/www/index.html"}));
  EXPECT_EQ(find(records, "srv/")->uid, 33);  // implicit parent, owned like --chown
  EXPECT_EQ(find(records, "srv/")->perm, 0755u);
  for (const auto& r : records) {
    EXPECT_EQ(r.uid, 33) << r.name;
    EXPECT_EQ(r.gid, 33) << r.name;
  }
  EXPECT_EQ(find(records, "srv/www/")->perm, 0640u);  // --chmod applies to directories too
  EXPECT_EQ(find(records, "srv/www/index.html")->perm, 0640u);
  EXPECT_EQ(find(records, "srv/www/home.html")->perm, 0777u);  // never to symlinks
  EXPECT_EQ(find(records, "srv/www/home.html")->symlink, "index.html");
}

TEST_F(CopyLayerTest, ContentsGoUnderTheDestination) {
  write_file(ctx_ / "a", "1");
  write_file(ctx_ / "sub/b", "2");
  ASSERT_EQ(::lchown(ctx_.c_str(), 5, 5), 0);
  LayerPlan plan;
  ASSERT_TRUE(plan.add_contents(ctx_, "/dst/"));
  auto records = write(plan);
  EXPECT_EQ(names_of(records),
            (std::vector<std::string>{"dst/", "dst/a", "dst/sub/", "dst/sub/b"}));
  EXPECT_EQ(find(records, "dst/")->uid, 0);  // not the source dir's owner
}

TEST_F(CopyLayerTest, ImplicitParentsTakeTheLowerLayersMetadata) {
  fs::path rootfs = dir_ / "rootfs";
  fs::create_directories(rootfs / "usr/local");
  ASSERT_EQ(::chmod((rootfs / "usr").c_str(), 0700), 0);
  ASSERT_EQ(::lchown((rootfs / "usr").c_str(), 5, 6), 0);
  set_mtime(rootfs / "usr", 1'111'111'111);
  write_file(ctx_ / "tool", "t");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(ctx_ / "tool", "/usr/local/bin/tool", CopyAttrs{Owner{7, 7}, {}}));
  LayerOptions options = fixed_options();
  options.parent_lookup = lookup_in_rootfs(rootfs);
  auto records = write(plan, options);
  const TarRecord* usr = find(records, "usr/");
  EXPECT_EQ(usr->perm, 0700u);
  EXPECT_EQ(usr->uid, 5);
  EXPECT_EQ(usr->gid, 6);
  EXPECT_EQ(usr->mtime, 1'111'111'111);
  EXPECT_EQ(find(records, "usr/local/")->uid, 0);
  const TarRecord* bin = find(records, "usr/local/bin/");  // not in the lower: made
  EXPECT_EQ(bin->uid, 7);
  EXPECT_EQ(bin->mtime, kMadeTime);
}

TEST_F(CopyLayerTest, SymlinkParentInTheLowerLayersIsAConflict) {
  fs::path rootfs = dir_ / "rootfs";
  fs::create_directories(rootfs / "opt");
  fs::create_symlink("/opt", rootfs / "link");
  write_file(ctx_ / "f", "f");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(ctx_ / "f", "/link/f"));
  LayerOptions options = fixed_options();
  options.parent_lookup = lookup_in_rootfs(rootfs);
  auto info = write_to_file(plan, blob_, options);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, LayerErrorCode::kConflict);
  EXPECT_NE(info.error().message.find("link"), std::string::npos);
}

TEST_F(CopyLayerTest, LaterEntriesReplaceEarlierOnes) {
  write_file(ctx_ / "one", "first");
  write_file(ctx_ / "two", "second");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(ctx_ / "one", "/x"));
  ASSERT_TRUE(plan.add_path(ctx_ / "two", "/x"));
  ASSERT_TRUE(plan.add_directory("/d", MadeAttrs{0711, Owner{1, 2}, 99}));
  ASSERT_TRUE(plan.add_path(ctx_ / "one", "/d/f"));
  auto records = write(plan);
  EXPECT_EQ(names_of(records), (std::vector<std::string>{"d/", "d/f", "x"}));
  EXPECT_EQ(find(records, "x")->content, "second");
  const TarRecord* d = find(records, "d/");
  EXPECT_EQ(d->perm, 0711u);
  EXPECT_EQ(d->uid, 1);
  EXPECT_EQ(d->gid, 2);
  EXPECT_EQ(d->mtime, 99);
}

TEST_F(CopyLayerTest, FilesAndDirectoriesCannotCollide) {
  write_file(ctx_ / "f", "f");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(ctx_ / "f", "/a/b"));
  auto r = plan.add_path(ctx_ / "f", "/a");  // "a" has a child
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, LayerErrorCode::kConflict);
  ASSERT_TRUE(plan.add_path(ctx_ / "f", "/file"));
  r = plan.add_path(ctx_ / "f", "/file/under");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, LayerErrorCode::kConflict);
  EXPECT_NE(r.error().message.find("file is not a directory"), std::string::npos);
}

TEST_F(CopyLayerTest, InlineFileForHeredocs) {
  LayerPlan plan;
  ASSERT_TRUE(plan.add_file("/etc/app.conf", "key=value\n", MadeAttrs{0600, Owner{2, 3}, {}}));
  auto records = write(plan);
  EXPECT_EQ(names_of(records), (std::vector<std::string>{"etc/", "etc/app.conf"}));
  const TarRecord* f = find(records, "etc/app.conf");
  EXPECT_EQ(f->content, "key=value\n");
  EXPECT_EQ(f->perm, 0600u);
  EXPECT_EQ(f->uid, 2);
  EXPECT_EQ(f->mtime, kMadeTime);
  EXPECT_FALSE(plan.add_file("/", "x", {}));
}

TEST_F(CopyLayerTest, MissingSourceIsAnErrorNamingIt) {
  LayerPlan plan;
  auto r = plan.add_path(ctx_ / "nope", "/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, LayerErrorCode::kIo);
  EXPECT_NE(r.error().message.find((ctx_ / "nope").native()), std::string::npos);
  EXPECT_NE(r.error().message.find("No such file"), std::string::npos);
}

// Builds the same tree twice, creating files in opposite orders; with the
// same metadata the layers are byte-identical.
TEST_F(CopyLayerTest, CreationOrderDoesNotChangeTheDigest) {
  auto build = [](const fs::path& root, bool reverse) {
    std::vector<std::string> files = {"b/z", "a-b", "a/c", "a/b", "a.c", "b/a"};
    if (reverse) std::reverse(files.begin(), files.end());
    for (const auto& f : files) write_file(root / f, f);
    fs::create_hard_link(root / "a/b", root / "b/hard");
    for (const auto& e : fs::recursive_directory_iterator(root)) set_mtime(e.path(), 1000);
    set_mtime(root, 1000);
  };
  build(dir_ / "one", false);
  build(dir_ / "two", true);
  LayerPlan one;
  LayerPlan two;
  ASSERT_TRUE(one.add_contents(dir_ / "one", "/"));
  ASSERT_TRUE(two.add_contents(dir_ / "two", "/"));
  auto first = write_to_file(one, dir_ / "one.tgz", fixed_options());
  auto second = write_to_file(two, dir_ / "two.tgz", fixed_options());
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->diff_id, second->diff_id);
  EXPECT_EQ(first->digest, second->digest);
  EXPECT_EQ(
      names_of(read_layer(dir_ / "one.tgz")),
      (std::vector<std::string>{"a/", "a/b", "a/c", "a-b", "a.c", "b/", "b/a", "b/hard", "b/z"}));
  EXPECT_EQ(find(read_layer(dir_ / "two.tgz"), "b/hard")->hardlink, "a/b");
}

}  // namespace
}  // namespace drydock::builder
