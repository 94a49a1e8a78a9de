#include "builder/context_pack.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "builder/context.hpp"
#include "tests/builder/layer_test_util.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using testing::find;
using testing::names_of;
using testing::read_layer;
using testing::set_mtime;
using testing::TarRecord;
using testing::TempDir;
using testing::write_file;

using Names = std::vector<std::string>;

class ContextPackTest : public ::testing::Test {
 protected:
  fs::path ctx() const { return tmp_.path() / "ctx"; }
  fs::path tar() const { return tmp_.path() / "context.tar"; }
  void put(const std::string& rel, const std::string& content = "x", mode_t mode = 0644) {
    write_file(ctx() / rel, content, mode);
  }

  // Packs the context into tar() and reads the entries back.
  std::vector<TarRecord> pack(ContextPackOptions options = {}) {
    options.dir = ctx();
    int fd = ::open(tar().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    FdSink sink(fd);
    auto r = pack_context(options, sink);
    ::close(fd);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    if (r) stats_ = *r;
    return read_layer(tar());
  }

  TempDir tmp_;
  PackStats stats_;
};

TEST_F(ContextPackTest, SendsFilesDirsSymlinksAndHardLinksWithTheirMetadata) {
  put("Dockerfile", "FROM scratch\n");
  put("bin/tool", "#!/bin/sh\n", 0755);
  put("a/b/c.txt", "hello");
  fs::permissions(ctx() / "a/b", fs::perms(0750));
  fs::create_symlink("../../Dockerfile", ctx() / "a/b/link");
  fs::create_symlink("/etc", ctx() / "abs");  // kept, never followed
  fs::create_hard_link(ctx() / "a/b/c.txt", ctx() / "hard");
  ASSERT_EQ(::mkfifo((ctx() / "pipe").c_str(), 0600), 0);
  set_mtime(ctx() / "a/b/c.txt", 1'500'000'000);
  set_mtime(ctx() / "a/b", 1'400'000'000);

  auto records = pack();
  EXPECT_EQ(names_of(records), (Names{"Dockerfile", "a/", "a/b/", "a/b/c.txt", "a/b/link", "abs",
                                      "bin/", "bin/tool", "hard", "pipe"}));
  const TarRecord* c = find(records, "a/b/c.txt");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->type, AE_IFREG);
  EXPECT_EQ(c->content, "hello");
  EXPECT_EQ(c->mtime, 1'500'000'000);
  EXPECT_EQ(c->uid, ::getuid());
  EXPECT_EQ(c->gid, ::getgid());
  EXPECT_EQ(find(records, "a/b/")->perm, 0750u);
  EXPECT_EQ(find(records, "a/b/")->mtime, 1'400'000'000);
  EXPECT_EQ(find(records, "bin/tool")->perm, 0755u);
  EXPECT_EQ(find(records, "a/b/link")->type, AE_IFLNK);
  EXPECT_EQ(find(records, "a/b/link")->symlink, "../../Dockerfile");
  EXPECT_EQ(find(records, "abs")->symlink, "/etc");
  EXPECT_EQ(find(records, "hard")->hardlink, "a/b/c.txt");
  EXPECT_EQ(find(records, "pipe")->type, AE_IFIFO);
  EXPECT_EQ(stats_.entries, 10u);
  EXPECT_EQ(stats_.file_bytes, 28u);
}

TEST_F(ContextPackTest, LeavesOutWhatTheIgnoreFileExcludesButHonoursExceptions) {
  put("Dockerfile");
  put(".dockerignore",
      "# comment\n*.log\n**/*.tmp\nbuild\nsecrets/**\n!secrets/public.pem\nnode_modules\n");
  put("app.log");
  put("src/main.c");
  put("src/debug.log");  // "*.log" is for the root only, as in Docker
  put("src/cache.tmp");
  put("build/out.o");
  put("secrets/key.pem");
  put("secrets/public.pem");
  put("node_modules/x/index.js");

  auto records = pack();
  EXPECT_EQ(names_of(records),
            (Names{".dockerignore", "Dockerfile", "secrets/", "secrets/public.pem", "src/",
                   "src/debug.log", "src/main.c"}));
  // app.log, build, node_modules, secrets/key.pem, src/cache.tmp
  EXPECT_EQ(stats_.ignored, 5u);
}

TEST_F(ContextPackTest, ExcludedDirectoryIsSentOnlyForWhatAnExceptionReIncludes) {
  put("Dockerfile");
  put(".dockerignore", "docs\n!docs/**/*.md\n");
  put("docs/img/logo.png");
  put("docs/guide/intro.md");
  set_mtime(ctx() / "docs/guide", 1'300'000'000);

  auto records = pack();
  EXPECT_EQ(names_of(records),
            (Names{".dockerignore", "Dockerfile", "docs/", "docs/guide/", "docs/guide/intro.md"}));
  EXPECT_EQ(find(records, "docs/guide/")->mtime, 1'300'000'000);
}

TEST_F(ContextPackTest, AlwaysSendsTheDockerfileAndTheIgnoreFile) {
  put("ci/Dockerfile", "FROM scratch\n");
  put(".dockerignore", "*\n");
  put("ci/other");
  put("main.c");

  auto records = pack({.dockerfile = "ci/Dockerfile"});
  EXPECT_EQ(names_of(records), (Names{".dockerignore", "ci/", "ci/Dockerfile"}));
  EXPECT_EQ(find(records, "ci/Dockerfile")->content, "FROM scratch\n");
}

TEST_F(ContextPackTest, UsesTheDockerfileSpecificIgnoreFileWhenThereIsOne) {
  put("ci/Dockerfile");
  put("ci/Dockerfile.dockerignore", "main.c\n");
  put(".dockerignore", "*\n");
  put("main.c");
  put("util.c");
  EXPECT_EQ(ignore_file_for(ctx(), "ci/Dockerfile"), "ci/Dockerfile.dockerignore");
  EXPECT_EQ(ignore_file_for(ctx(), "Dockerfile"), ".dockerignore");

  auto records = pack({.dockerfile = "ci/Dockerfile", .ignore_file = "ci/Dockerfile.dockerignore"});
  EXPECT_EQ(names_of(records), (Names{".dockerignore", "ci/", "ci/Dockerfile",
                                      "ci/Dockerfile.dockerignore", "util.c"}));
}

TEST_F(ContextPackTest, ExtraFilesReplaceTheIgnoreFileInTheTarOnly) {
  put(".dockerignore", "*.tmp\n");
  put("a.tmp");
  put("b.c");

  auto records =
      pack({.dockerfile = "",
            .extra_files = {{".dockerfile.0123", "FROM scratch\n"},
                            {".dockerignore", "*.tmp\n.dockerignore\n.dockerfile.0123\n"}}});
  EXPECT_EQ(names_of(records), (Names{"b.c", ".dockerfile.0123", ".dockerignore"}));
  EXPECT_EQ(find(records, ".dockerfile.0123")->content, "FROM scratch\n");
  EXPECT_EQ(find(records, ".dockerignore")->perm, 0644u);
}

TEST_F(ContextPackTest, SkipsSocketsAndFailsOnABadIgnoreFileOrAnUnreadableFile) {
  put("Dockerfile");
  sockaddr_un addr{.sun_family = AF_UNIX};
  std::string sock = (ctx() / "s.sock").string();
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(names_of(pack()), (Names{"Dockerfile"}));
  EXPECT_EQ(stats_.skipped, 1u);
  ::close(s);

  put(".dockerignore", "ok\n[\n");
  FdSink sink(-1);
  auto bad = pack_context({.dir = ctx()}, sink);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message.find(".dockerignore:2"), 0u) << bad.error().message;

  fs::remove(ctx() / ".dockerignore");
  auto refused = pack_context({.dir = ctx()}, sink);  // fd -1: the sink fails
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, LayerErrorCode::kSink);

  if (::geteuid() != 0) {  // root reads anything
    put("secret", "x", 0000);
    auto unreadable = pack_context({.dir = ctx()}, sink);
    ASSERT_FALSE(unreadable.has_value());
  }
}

TEST_F(ContextPackTest, RoundTripsThroughTheServersContextExtraction) {
  put("Dockerfile", "FROM scratch\nCOPY . /\n");
  put(".dockerignore", "**/*.log\n");
  put("dir/file", "data", 0600);
  put("dir/x.log");
  fs::create_symlink("file", ctx() / "dir/link");
  fs::create_hard_link(ctx() / "dir/file", ctx() / "dir/hard");
  pack();

  auto extracted = extract_context(tar(), tmp_.path() / "out");
  ASSERT_TRUE(extracted.has_value()) << extracted.error().message;
  EXPECT_EQ(extracted->dockerfile, "FROM scratch\nCOPY . /\n");
  auto out = tmp_.path() / "out";
  EXPECT_EQ(testing::read_file(out / "dir/file"), "data");
  EXPECT_EQ(fs::read_symlink(out / "dir/link"), "file");
  EXPECT_TRUE(fs::equivalent(out / "dir/file", out / "dir/hard"));
  EXPECT_FALSE(fs::exists(out / "dir/x.log"));
}

// Peak resident set growth while a large context streams, sampled from the
// sink: the packer must not hold file contents or the tar.
class RssSink final : public LayerSink {
 public:
  LayerResult<void> write(std::span<const std::byte> bytes) override {
    total_ += bytes.size();
    if (total_ - last_sample_ >= (8U << 20)) {
      last_sample_ = total_;
      peak_kib_ = std::max(peak_kib_, rss_kib());
    }
    return {};
  }
  static std::uint64_t rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6));
    }
    return 0;
  }
  std::uint64_t total_ = 0;
  std::uint64_t last_sample_ = 0;
  std::uint64_t peak_kib_ = 0;
};

TEST_F(ContextPackTest, StreamsA200MiBContextInBoundedMemory) {
  put("Dockerfile");
  {
    // A sparse 200 MiB file: no disk used, but every byte is read and sent.
    int fd = ::open((ctx() / "big.img").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 200LL << 20), 0);
    ::close(fd);
  }
  for (int i = 0; i < 2000; ++i) put("many/f" + std::to_string(i), std::string(1000, 'a'));
  RssSink sink;
  std::uint64_t before = RssSink::rss_kib();
  auto r = pack_context({.dir = ctx()}, sink);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->file_bytes, (200ULL << 20) + 2000 * 1000 + 1);
  EXPECT_GT(sink.total_, 200ULL << 20);
  EXPECT_GT(sink.peak_kib_, 0u);
  EXPECT_LT(sink.peak_kib_, before + 16 * 1024) << "grew from " << before << " KiB";
}

}  // namespace
}  // namespace drydock::builder
