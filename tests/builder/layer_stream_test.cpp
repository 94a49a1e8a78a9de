#include "builder/layer_stream.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "builder/layer_writer.hpp"
#include "tests/builder/layer_test_util.hpp"

namespace drydock::builder {
namespace {

using namespace testing;  // NOLINT: test helpers

// The hex digest `sha256sum` prints for the output of `command`.
std::string sha256_of_command(const std::string& command) {
  auto r = run(command + " | sha256sum");
  EXPECT_EQ(r.status, 0) << command;
  return r.out.substr(0, 64);
}

// A field of /proc/self/status in KiB ("VmHWM", "VmRSS").
std::uint64_t status_kib(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field) && line[field.size()] == ':') {
      return std::stoull(line.substr(field.size() + 1));
    }
  }
  return 0;
}

// A sink that keeps bytes in memory and fails after `limit` bytes.
class MemorySink final : public LayerSink {
 public:
  explicit MemorySink(std::size_t limit = SIZE_MAX) : limit_(limit) {}
  LayerResult<void> write(std::span<const std::byte> bytes) override {
    if (data.size() + bytes.size() > limit_) {
      return std::unexpected(LayerError{LayerErrorCode::kSink, "disk full (test)"});
    }
    data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }
  std::string data;

 private:
  std::size_t limit_;
};

class LayerStreamTest : public ::testing::Test {
 protected:
  TempDir dir_;
  fs::path src_ = dir_ / "src";
  fs::path blob_ = dir_ / "layer.tar.gz";
};

TEST_F(LayerStreamTest, DigestsAndSizesMatchGzipAndSha256sum) {
  write_file(src_ / "etc/motd", "hello\n");
  std::string big;
  for (int i = 0; i < 200000; ++i) big += std::to_string(i * 7919) + '\n';
  write_file(src_ / "data/numbers", big);
  fs::create_symlink("motd", src_ / "etc/link");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_contents(src_, "/"));
  auto info = write_to_file(plan, blob_, fixed_options());
  ASSERT_TRUE(info) << info.error().message;

  EXPECT_EQ(info->digest.str(), "sha256:" + sha256_of_command("cat " + blob_.native()));
  EXPECT_EQ(info->diff_id.str(), "sha256:" + sha256_of_command("gzip -dc " + blob_.native()));
  EXPECT_EQ(info->compressed_size, fs::file_size(blob_));
  EXPECT_EQ(std::to_string(info->uncompressed_size) + "\n",
            run("gzip -dc " + blob_.native() + " | wc -c").out);
  EXPECT_EQ(info->entry_count, 5u);  // data/ data/numbers etc/ etc/link etc/motd
  EXPECT_EQ(run("gzip -t " + blob_.native()).status, 0);
  EXPECT_EQ(run("tar -tzf " + blob_.native()).out,
            "data/\ndata/numbers\netc/\netc/link\netc/motd\n");
  EXPECT_LT(info->compressed_size, info->uncompressed_size);
}

TEST_F(LayerStreamTest, GzipHeaderIsFixed) {
  write_file(src_ / "f", "x");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(src_ / "f", "f"));
  MemorySink sink;
  ASSERT_TRUE(write_layer(plan, sink, fixed_options()));
  // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255: what Go's gzip.Writer writes.
  const std::string expected("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  EXPECT_EQ(sink.data.substr(0, 10), expected);
}

TEST_F(LayerStreamTest, SameTreeGivesSameDigestsEveryTime) {
  write_file(src_ / "a/b", "1");
  write_file(src_ / "c", "2");
  LayerPlan plan;
  ASSERT_TRUE(plan.add_contents(src_, "/"));
  MemorySink first;
  MemorySink second;
  auto one = write_layer(plan, first, fixed_options());
  auto two = write_layer(plan, second, fixed_options());
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->digest, two->digest);
  EXPECT_EQ(one->diff_id, two->diff_id);
  EXPECT_EQ(first.data, second.data);
}

TEST_F(LayerStreamTest, SinkFailureStopsTheWriteWithItsError) {
  std::string content(1 << 20, '\0');
  for (std::size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 2654435761u >> 13);
  write_file(src_ / "noise", content);
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(src_ / "noise", "noise"));
  MemorySink sink(4096);
  auto info = write_layer(plan, sink);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, LayerErrorCode::kSink);
  EXPECT_EQ(info.error().message, "disk full (test)");
}

TEST_F(LayerStreamTest, FdSinkReportsAWriteFailure) {
  write_file(src_ / "f", "x");
  int fd = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  FdSink sink(fd);
  std::byte b{};
  auto r = sink.write(std::span(&b, 1));
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, LayerErrorCode::kSink);
}

TEST_F(LayerStreamTest, StreamingMatchesOneShotHashing) {
  MemorySink sink;
  auto stream = GzipHashStream::create(sink);
  ASSERT_TRUE(stream);
  std::string text = "tar bytes ";
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE((*stream)->write(std::as_bytes(std::span(text.data(), text.size()))));
  }
  auto totals = (*stream)->finish();
  ASSERT_TRUE(totals);
  std::string all;
  for (int i = 0; i < 1000; ++i) all += text;
  EXPECT_EQ(totals->diff_id, storage::digest_of(all));
  EXPECT_EQ(totals->digest, storage::digest_of(sink.data));
  EXPECT_EQ(totals->uncompressed_size, all.size());
  EXPECT_EQ(totals->compressed_size, sink.data.size());
}

TEST_F(LayerStreamTest, LargeFileIsStreamedInBoundedMemory) {
  constexpr std::uint64_t kSize = 200ull << 20;
  fs::create_directories(src_);
  fs::path big = src_ / "sparse.img";
  int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kSize)), 0);
  ASSERT_EQ(::pwrite(fd, "end", 3, static_cast<off_t>(kSize - 3)), 3);
  ::close(fd);
  LayerPlan plan;
  ASSERT_TRUE(plan.add_path(big, "sparse.img"));

  // Reset the peak to the current RSS (Linux clear_refs "5").
  std::ofstream("/proc/self/clear_refs") << "5";
  std::uint64_t before = status_kib("VmHWM");
  if (before > status_kib("VmRSS") + 1024) GTEST_SKIP() << "cannot reset VmHWM here";
  auto info = write_to_file(plan, blob_, fixed_options());
  std::uint64_t after = status_kib("VmHWM");
  ASSERT_TRUE(info) << info.error().message;
  RecordProperty("peak_rss_growth_kib", std::to_string(after - before));
  EXPECT_LT(after - before, 32u * 1024) << "peak RSS grew by " << (after - before) << " KiB";
  EXPECT_GT(info->uncompressed_size, kSize);
  EXPECT_LT(info->compressed_size, kSize / 100);
  auto listing = run("tar -tvzf " + blob_.native());
  EXPECT_NE(listing.out.find(std::to_string(kSize)), std::string::npos) << listing.out;
  EXPECT_EQ(run("gzip -dc " + blob_.native() + " | tail -c 1027 | head -c 3").out, "end");
}

}  // namespace
}  // namespace drydock::builder
