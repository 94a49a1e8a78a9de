#include "builder/context.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "tests/builder/test_archive.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using storage::testing::read_file;
using storage::testing::TempDir;
using storage::testing::write_file;
using testing::Compression;
using testing::TestArchive;
using testing::TestEntry;

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

class ContextTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  fs::path tar_ = tmp_.path() / "context.tar";
  fs::path out_ = tmp_.path() / "context";

  ArchiveResult<ExtractedContext> extract(const ContextOptions& options = {}) {
    return extract_context(tar_, out_, options);
  }

  // Extracts and expects failure with `code`; the message must name `entry`.
  void expect_failure(ArchiveErrc code, const std::string& entry,
                      const ContextOptions& options = {}) {
    auto r = extract(options);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(entry), std::string::npos) << r.error().message;
    ASSERT_TRUE(remove_context(out_).has_value());
    EXPECT_FALSE(fs::exists(out_));
  }
};

TEST_F(ContextTest, ExtractsFilesDirectoriesLinksModesAndTimes) {
  {
    TestArchive t(tar_);
    t.file("Dockerfile", "FROM scratch\nCOPY . /\n");
    t.add({.name = "src/", .type = AE_IFDIR, .perm = 0750, .mtime = 1'500'000'000});
    t.add({.name = "src/main.c",
           .data = "int main;",
           .perm = 0640,
           .uid = 1000,
           .gid = 1000,
           .mtime = 1'400'000'000});
    t.file("run.sh", "#!/bin/sh\n", 04755);
    t.symlink("link", "src/main.c");
    t.symlink("abs", "/etc/passwd");
    t.hardlink("run2.sh", "run.sh");
    t.add({.name = "pipe", .type = AE_IFIFO, .perm = 0600});
  }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->dockerfile, "FROM scratch\nCOPY . /\n");
  EXPECT_TRUE(r->ignore_file.empty());
  EXPECT_EQ(read_file(out_ / "src/main.c"), "int main;");
  EXPECT_EQ(lstat_of(out_).st_mode & 07777, 0700U);

  const struct stat src = lstat_of(out_ / "src");
  EXPECT_EQ(src.st_mode & 07777, 0750U);
  EXPECT_EQ(src.st_mtim.tv_sec, 1'500'000'000);
  const struct stat main_c = lstat_of(out_ / "src/main.c");
  EXPECT_EQ(main_c.st_mode & 07777, 0640U);
  EXPECT_EQ(main_c.st_mtim.tv_sec, 1'400'000'000);
  EXPECT_EQ(main_c.st_uid, ::geteuid());  // archive owners do not matter
  EXPECT_EQ(lstat_of(out_ / "run.sh").st_mode & 07777, 04755U);

  EXPECT_EQ(fs::read_symlink(out_ / "link"), "src/main.c");
  EXPECT_EQ(fs::read_symlink(out_ / "abs"), "/etc/passwd");
  EXPECT_EQ(lstat_of(out_ / "run2.sh").st_ino, lstat_of(out_ / "run.sh").st_ino);
  EXPECT_TRUE(S_ISFIFO(lstat_of(out_ / "pipe").st_mode));

  EXPECT_EQ(r->stats.entries, 8U);
  EXPECT_EQ(r->stats.files, 3U);
  EXPECT_EQ(r->stats.directories, 1U);
  EXPECT_EQ(r->stats.symlinks, 2U);
  EXPECT_EQ(r->stats.hard_links, 1U);
  EXPECT_EQ(r->stats.special_files, 1U);
  EXPECT_EQ(r->stats.bytes, 22U + 9U + 10U);
}

TEST_F(ContextTest, CompressionIsDetected) {
  for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kXz}) {
    {
      TestArchive t(tar_, c);
      t.file("Dockerfile", "FROM scratch\n").file("a/b.txt", std::string(100000, 'x'));
    }
    auto r = extract();
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(read_file(out_ / "a/b.txt"), std::string(100000, 'x'));
    EXPECT_LT(r->stats.archive_bytes, 10000U);  // compressed size was read
    ASSERT_TRUE(remove_context(out_).has_value());
  }
}

TEST_F(ContextTest, StreamsFromAPipe) {
  {
    TestArchive t(tar_, Compression::kGzip);
    t.file("Dockerfile", "FROM scratch\n").add({.name = "big", .zeros = 3 << 20});
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread writer([&, bytes = read_file(tar_)] {
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n =
          ::write(fds[1], bytes.data() + done, std::min<std::size_t>(4096, bytes.size() - done));
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
  });
  auto r = extract_context(fds[0], out_);
  writer.join();
  ::close(fds[0]);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(fs::file_size(out_ / "big"), 3U << 20);
}

TEST_F(ContextTest, RejectsAbsolutePath) {
  { TestArchive(tar_).file("ok", "x").file("/tmp/drydock-evil", "x"); }
  expect_failure(ArchiveErrc::kUnsafePath, "/tmp/drydock-evil");
  EXPECT_FALSE(fs::exists("/tmp/drydock-evil"));
}

TEST_F(ContextTest, RejectsDotDotEscapes) {
  for (const std::string name : {"../x", "a/../../x", "./../x", "a/b/../../../x"}) {
    { TestArchive(tar_).file("a/keep", "x").file(name, "escaped"); }
    expect_failure(ArchiveErrc::kUnsafePath, name);
    EXPECT_FALSE(fs::exists(tmp_.path() / "x")) << name;
  }
}

TEST_F(ContextTest, CleansDotDotThatStaysInside) {
  { TestArchive(tar_).file("a/../b", "inside").file("./c/./d", "d"); }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(read_file(out_ / "b"), "inside");
  EXPECT_EQ(read_file(out_ / "c/d"), "d");
}

TEST_F(ContextTest, RejectsWritingThroughASymlink) {
  // The brief's "link -> /etc, then link/passwd", aimed at a scratch directory
  // so that a broken guard cannot damage the machine running the tests.
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directory(outside);
  {
    TestArchive(tar_)
        .symlink("link", outside.string())
        .file("link/passwd", "root::0:0::/:/bin/sh\n");
  }
  expect_failure(ArchiveErrc::kUnsafePath, "link/passwd");
  EXPECT_FALSE(fs::exists(outside / "passwd"));

  { TestArchive(tar_).symlink("up", "..").file("up/x", "escaped"); }
  expect_failure(ArchiveErrc::kUnsafePath, "up/x");
  EXPECT_FALSE(fs::exists(tmp_.path() / "x"));

  { TestArchive(tar_).symlink("d", outside.string()).dir("d/sub"); }
  expect_failure(ArchiveErrc::kUnsafePath, "d/sub");
  EXPECT_FALSE(fs::exists(outside / "sub"));
}

TEST_F(ContextTest, ReplacesASymlinkInsteadOfFollowingIt) {
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directory(outside);
  write_file(outside / "target", "original");
  { TestArchive(tar_).symlink("f", (outside / "target").string()).file("f", "new content"); }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(fs::is_symlink(out_ / "f"));
  EXPECT_EQ(read_file(out_ / "f"), "new content");
  EXPECT_EQ(read_file(outside / "target"), "original");
}

TEST_F(ContextTest, RejectsHardLinksOutside) {
  { TestArchive(tar_).file("a", "x").hardlink("pw", "/etc/passwd"); }
  expect_failure(ArchiveErrc::kUnsafePath, "pw");

  { TestArchive(tar_).file("a", "x").hardlink("pw", "../../../../etc/passwd"); }
  expect_failure(ArchiveErrc::kUnsafePath, "pw");

  const fs::path outside = tmp_.path() / "outside";
  fs::create_directory(outside);
  write_file(outside / "secret", "s");
  { TestArchive(tar_).symlink("d", outside.string()).hardlink("pw", "d/secret"); }
  expect_failure(ArchiveErrc::kUnsafePath, "pw");
  EXPECT_EQ(fs::hard_link_count(outside / "secret"), 1U);

  { TestArchive(tar_).hardlink("pw", "missing"); }
  expect_failure(ArchiveErrc::kCorrupt, "pw");
}

TEST_F(ContextTest, TarBombOneLargeEntryStopsBeforeWriting) {
  {
    TestArchive(tar_, Compression::kGzip)
        .file("Dockerfile", "FROM scratch\n")
        .add({.name = "bomb", .zeros = 4 << 20});
  }
  ContextOptions options;
  options.limits.max_bytes = 1 << 20;
  expect_failure(ArchiveErrc::kLimitExceeded, "bomb", options);
}

TEST_F(ContextTest, TarBombManyEntriesStopsAtTheLimit) {
  {
    TestArchive t(tar_, Compression::kGzip);
    for (int i = 0; i < 40; ++i) t.add({.name = "f" + std::to_string(i), .zeros = 100 << 10});
  }
  ContextOptions options;
  options.limits.max_bytes = 1 << 20;
  auto r = extract(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ArchiveErrc::kLimitExceeded);
  EXPECT_NE(r.error().message.find("\"f10\""), std::string::npos) << r.error().message;
  std::uintmax_t written = 0;
  for (const auto& e : fs::directory_iterator(out_)) written += e.file_size();
  EXPECT_LE(written, 1U << 20);
}

TEST_F(ContextTest, EntryCountAndPathLengthLimits) {
  {
    TestArchive t(tar_);
    for (int i = 0; i < 20; ++i) t.file("f" + std::to_string(i), "");
  }
  ContextOptions few;
  few.limits.max_entries = 10;
  expect_failure(ArchiveErrc::kLimitExceeded, "f10", few);

  { TestArchive(tar_).file(std::string(60, 'n') + "/x", ""); }
  ContextOptions short_paths;
  short_paths.limits.max_path_length = 50;
  expect_failure(ArchiveErrc::kLimitExceeded, std::string(60, 'n'), short_paths);
}

TEST_F(ContextTest, NotATar) {
  write_file(tar_, std::string(2000, 'A') + "\nthis is not a tar\n");
  auto r = extract();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ArchiveErrc::kNotArchive) << r.error().message;

  write_file(tar_, "");
  r = extract_context(tar_, tmp_.path() / "empty");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ArchiveErrc::kNotArchive) << r.error().message;
}

TEST_F(ContextTest, TruncatedArchives) {
  for (Compression c : {Compression::kNone, Compression::kGzip}) {
    {
      TestArchive t(tar_, c);
      t.file("Dockerfile", "FROM scratch\n");
      std::string noise;
      for (std::uint32_t i = 0; i < 300000; ++i)
        noise.push_back(static_cast<char>('a' + (i * 7919U) % 26));
      t.file("data", noise);
    }
    fs::resize_file(tar_, fs::file_size(tar_) / 2);
    auto r = extract();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ArchiveErrc::kCorrupt) << r.error().message;
    EXPECT_NE(r.error().message.find("data"), std::string::npos) << r.error().message;
    ASSERT_TRUE(remove_context(out_).has_value());
  }
}

TEST_F(ContextTest, DeviceNodesAreSkipped) {
  {
    TestArchive t(tar_);
    t.file("Dockerfile", "FROM scratch\n");
    t.add({.name = "null", .type = AE_IFCHR, .perm = 0666, .dev_major = 1, .dev_minor = 3});
    t.add({.name = "sda", .type = AE_IFBLK, .perm = 0660, .dev_major = 8, .dev_minor = 0});
  }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(fs::exists(fs::symlink_status(out_ / "null")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(out_ / "sda")));
  EXPECT_EQ(r->stats.skipped, 2U);
}

TEST_F(ContextTest, TargetMustNotExist) {
  { TestArchive(tar_).file("a", "x"); }
  fs::create_directory(out_);
  auto r = extract();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ArchiveErrc::kInvalidArgument);
}

TEST_F(ContextTest, NonAsciiNamesAreKeptByteForByte) {
  { TestArchive(tar_).file("caf\u00E9/\u65E5\u672C.txt", "x"); }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(fs::exists(out_ / "caf\u00E9/\u65E5\u672C.txt"));
}

void write_ignore_context(const fs::path& tar, bool ignore_file_first) {
  TestArchive t(tar, Compression::kGzip);
  const std::string ignore = "# comment\n*.log\nbuild\n!build/keep.txt\nsecret/\n";
  if (ignore_file_first) t.file(".dockerignore", ignore);
  t.file("Dockerfile", "FROM scratch\n");
  t.file("app.log", "log");
  t.file("src/app.c", "c");
  t.file("src/debug.log", "nested logs are not matched by *.log");
  t.dir("build", 0700);
  t.file("build/out.o", "o");
  t.file("build/keep.txt", "keep");
  t.file("secret/key", "k");
  t.file("secretary", "not secret/");
  if (!ignore_file_first) t.file(".dockerignore", ignore);
}

void expect_ignored(const fs::path& out, const ExtractedContext& r) {
  EXPECT_EQ(r.ignore_file, ".dockerignore");
  EXPECT_TRUE(fs::exists(out / "Dockerfile"));
  EXPECT_TRUE(fs::exists(out / ".dockerignore"));
  EXPECT_FALSE(fs::exists(out / "app.log"));
  EXPECT_TRUE(fs::exists(out / "src/app.c"));
  EXPECT_TRUE(fs::exists(out / "src/debug.log"));
  EXPECT_FALSE(fs::exists(out / "build/out.o"));
  EXPECT_EQ(read_file(out / "build/keep.txt"), "keep");
  EXPECT_EQ(lstat_of(out / "build").st_mode & 07777, 0700U);  // the kept parent's own mode
  EXPECT_FALSE(fs::exists(out / "secret"));
  EXPECT_TRUE(fs::exists(out / "secretary"));
  EXPECT_EQ(r.ignored_paths, 3U);  // app.log, build/out.o, secret
  EXPECT_TRUE(r.ignore.excluded("app.log"));
}

TEST_F(ContextTest, DockerignoreFirstInTheArchive) {
  write_ignore_context(tar_, true);
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  expect_ignored(out_, *r);
}

TEST_F(ContextTest, DockerignoreLastInTheArchive) {
  write_ignore_context(tar_, false);
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  expect_ignored(out_, *r);
}

TEST_F(ContextTest, IgnoredDockerfileIsReturnedButRemoved) {
  {
    TestArchive t(tar_);
    t.file(".dockerignore", "Dockerfile\n.dockerignore\n");
    t.file("Dockerfile", "FROM scratch\n");
    t.file("kept", "k");
  }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->dockerfile, "FROM scratch\n");
  EXPECT_FALSE(fs::exists(out_ / "Dockerfile"));
  EXPECT_FALSE(fs::exists(out_ / ".dockerignore"));
  EXPECT_TRUE(fs::exists(out_ / "kept"));
}

TEST_F(ContextTest, DockerfileSpecificIgnoreFileWins) {
  {
    TestArchive t(tar_);
    t.file(".dockerignore", "b.txt\n");
    t.file("a.txt", "a").file("b.txt", "b");
    t.file("build/app.Dockerfile", "FROM scratch\n");
    t.file("build/app.Dockerfile.dockerignore", "a.txt\n");
  }
  ContextOptions options;
  options.dockerfile_path = "build/app.Dockerfile";
  auto r = extract(options);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->ignore_file, "build/app.Dockerfile.dockerignore");
  EXPECT_EQ(r->dockerfile, "FROM scratch\n");
  EXPECT_FALSE(fs::exists(out_ / "a.txt"));
  EXPECT_TRUE(fs::exists(out_ / "b.txt"));
}

TEST_F(ContextTest, PruningKeepsDirectoryTimes) {
  {
    TestArchive t(tar_);
    t.file(".dockerignore", "**/*.tmp\n");
    t.add({.name = "d/", .type = AE_IFDIR, .mtime = 1'234'567'890});
    t.file("d/a.tmp", "x").file("d/b", "y");
  }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(fs::exists(out_ / "d/a.tmp"));
  EXPECT_EQ(lstat_of(out_ / "d").st_mtim.tv_sec, 1'234'567'890);
}

TEST_F(ContextTest, ExcludedDirectoryWithoutSurvivorsDisappears) {
  {
    TestArchive t(tar_);
    t.file(".dockerignore", "cache\n!**/*.keep\n");
    t.dir("cache").dir("cache/empty").file("cache/a/b.bin", "x").file("cache/a/c.keep", "k");
    t.dir("other");
  }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(fs::exists(out_ / "cache/a/c.keep"));
  EXPECT_FALSE(fs::exists(out_ / "cache/a/b.bin"));
  EXPECT_FALSE(fs::exists(out_ / "cache/empty"));
  EXPECT_TRUE(fs::is_directory(out_ / "other"));
}

TEST_F(ContextTest, BadDockerignoreIsAnError) {
  { TestArchive(tar_).file(".dockerignore", "ok\n[\n").file("Dockerfile", "FROM scratch\n"); }
  auto r = extract();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ArchiveErrc::kInvalidContext);
  EXPECT_NE(r.error().message.find(".dockerignore line 2"), std::string::npos) << r.error().message;
}

TEST_F(ContextTest, DockerfileSymlinkResolvesInsideTheContext) {
  { TestArchive(tar_).file("docker/real", "FROM scratch\n").symlink("Dockerfile", "docker/real"); }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->dockerfile, "FROM scratch\n");
  ASSERT_TRUE(remove_context(out_).has_value());

  // An absolute target is resolved against the context root, not the host.
  { TestArchive(tar_).symlink("Dockerfile", "/etc/hostname"); }
  r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->dockerfile.has_value());
}

TEST_F(ContextTest, MissingDockerfileAndBadDockerfilePath) {
  { TestArchive(tar_).file("a", "x"); }
  auto r = extract();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->dockerfile.has_value());
  ASSERT_TRUE(remove_context(out_).has_value());

  ContextOptions escaping;
  escaping.dockerfile_path = "../Dockerfile";
  r = extract(escaping);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ArchiveErrc::kInvalidArgument);
}

TEST_F(ContextTest, ParallelExtractionsKeepTheProcessWorkingDirectory) {
  const fs::path cwd = fs::current_path();
  constexpr int kWorkers = 4;
  for (int i = 0; i < kWorkers; ++i) {
    TestArchive t(tmp_.path() / ("c" + std::to_string(i) + ".tar"));
    for (int f = 0; f < 50; ++f)
      t.file("d" + std::to_string(f % 5) + "/f" + std::to_string(f), std::to_string(i));
  }
  std::vector<std::thread> workers;
  std::vector<int> ok(kWorkers, 0);  // not vector<bool>: written from several threads
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] {
      const std::string n = std::to_string(i);
      ok[i] =
          extract_context(tmp_.path() / ("c" + n + ".tar"), tmp_.path() / ("out" + n)).has_value();
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(fs::current_path(), cwd);
  for (int i = 0; i < kWorkers; ++i) {
    EXPECT_TRUE(ok[i]);
    EXPECT_EQ(read_file(tmp_.path() / ("out" + std::to_string(i)) / "d3/f48"), std::to_string(i));
  }
}

}  // namespace
}  // namespace drydock::builder
