#include "storage/blob_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/storage/temp_dir.hpp"

namespace drydock::storage {
namespace {

namespace fs = std::filesystem;
using testing::count_files;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

constexpr std::uint64_t kNoLimit = 1 << 20;

class BlobStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  FsBlobStore store_{dir_.path()};

  fs::path blobs() const { return dir_.path() / "blobs"; }
  fs::path tmp() const { return dir_.path() / "tmp"; }
};

TEST_F(BlobStoreTest, PutThenStatOpenReadAll) {
  const std::string content = "layer bytes";
  Digest d = digest_of(content);
  Result<BlobInfo> put = store_.put(content, d);
  ASSERT_TRUE(put.has_value());
  EXPECT_EQ(put->digest, d);
  EXPECT_EQ(put->size, content.size());

  Result<BlobInfo> st = store_.stat(d);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, content.size());

  Result<UniqueFd> fd = store_.open(d);
  ASSERT_TRUE(fd.has_value());
  std::string via_fd(64, '\0');
  ssize_t n = ::pread(fd->get(), via_fd.data(), via_fd.size(), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(content.size()));
  via_fd.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(via_fd, content);
  EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);

  Result<std::string> all = store_.read_all(d, kNoLimit);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, content);
}

TEST_F(BlobStoreTest, LayoutIsFannedOutByDigestPrefix) {
  Digest d = digest_of("abc");
  ASSERT_TRUE(store_.put("abc", d).has_value());
  fs::path expected = blobs() / "sha256" / d.hex.substr(0, 2) / d.hex;
  EXPECT_EQ(store_.path_of(d), expected);
  EXPECT_EQ(read_file(expected), "abc");

  Digest d512 = digest_of("abc", DigestAlgorithm::kSha512);
  ASSERT_TRUE(store_.put("abc", d512).has_value());
  EXPECT_EQ(read_file(blobs() / "sha512" / d512.hex.substr(0, 2) / d512.hex), "abc");
}

TEST_F(BlobStoreTest, MissingBlobIsNotFound) {
  Digest d = digest_of("never stored");
  EXPECT_EQ(store_.stat(d).error(), StorageError::kNotFound);
  EXPECT_EQ(store_.open(d).error(), StorageError::kNotFound);
  EXPECT_EQ(store_.read_all(d, kNoLimit).error(), StorageError::kNotFound);
  EXPECT_EQ(store_.remove(d).error(), StorageError::kNotFound);
}

TEST_F(BlobStoreTest, MalformedDigestNeverBecomesAPath) {
  Digest evil{DigestAlgorithm::kSha256, "../../../../etc/passwd"};
  EXPECT_EQ(store_.stat(evil).error(), StorageError::kNotFound);
  EXPECT_EQ(store_.open(evil).error(), StorageError::kNotFound);
  EXPECT_EQ(store_.put("x", evil).error(), StorageError::kDigestMismatch);
}

TEST_F(BlobStoreTest, ReadAllRespectsTheLimit) {
  const std::string content(100, 'x');
  Digest d = digest_of(content);
  ASSERT_TRUE(store_.put(content, d).has_value());
  EXPECT_EQ(store_.read_all(d, 99).error(), StorageError::kTooLarge);
  EXPECT_EQ(store_.read_all(d, 100).value(), content);
}

TEST_F(BlobStoreTest, SameContentTwiceIsStoredOnce) {
  Digest d = digest_of("dup");
  ASSERT_TRUE(store_.put("dup", d).has_value());
  Result<BlobInfo> again = store_.put("dup", d);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->size, 3u);
  EXPECT_EQ(count_files(blobs()), 1u);
  EXPECT_EQ(count_files(tmp()), 0u);
}

TEST_F(BlobStoreTest, DigestMismatchLeavesNothingBehind) {
  Digest wrong = digest_of("other content");
  EXPECT_EQ(store_.put("content", wrong).error(), StorageError::kDigestMismatch);
  EXPECT_EQ(store_.stat(wrong).error(), StorageError::kNotFound);
  EXPECT_EQ(store_.stat(digest_of("content")).error(), StorageError::kNotFound);
  EXPECT_EQ(count_files(blobs()), 0u);
  EXPECT_EQ(count_files(tmp()), 0u);
}

TEST_F(BlobStoreTest, PublishMovesTheTempFileIntoPlace) {
  fs::create_directories(dir_.path() / "uploads");
  fs::path temp = dir_.path() / "uploads" / "session";
  write_file(temp, "uploaded data");
  Digest d = digest_of("uploaded data");

  Result<BlobInfo> info = store_.publish(temp, d);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, 13u);
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(store_.read_all(d, kNoLimit).value(), "uploaded data");
}

TEST_F(BlobStoreTest, PublishOfAnExistingBlobRemovesTheTempFile) {
  Digest d = digest_of("shared layer");
  ASSERT_TRUE(store_.put("shared layer", d).has_value());
  fs::path temp = dir_.path() / "second-upload";
  write_file(temp, "shared layer");

  Result<BlobInfo> info = store_.publish(temp, d);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, 12u);
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(count_files(blobs()), 1u);
}

TEST_F(BlobStoreTest, PublishOfAMissingFileFails) {
  Digest d = digest_of("x");
  EXPECT_EQ(store_.publish(dir_.path() / "no-such-file", d).error(), StorageError::kIo);
  EXPECT_EQ(store_.stat(d).error(), StorageError::kNotFound);
}

TEST_F(BlobStoreTest, RemoveDeletesTheBlob) {
  Digest d = digest_of("garbage");
  ASSERT_TRUE(store_.put("garbage", d).has_value());
  ASSERT_TRUE(store_.remove(d).has_value());
  EXPECT_EQ(store_.stat(d).error(), StorageError::kNotFound);
  EXPECT_FALSE(fs::exists(store_.path_of(d)));
  EXPECT_EQ(store_.remove(d).error(), StorageError::kNotFound);
}

TEST_F(BlobStoreTest, OpeningTheStoreClearsStaleTempFiles) {
  write_file(tmp() / "put-leftover", "half a blob");
  Digest kept = digest_of("kept");
  ASSERT_TRUE(store_.put("kept", kept).has_value());

  FsBlobStore reopened(dir_.path());
  EXPECT_EQ(count_files(tmp()), 0u);
  EXPECT_EQ(reopened.read_all(kept, kNoLimit).value(), "kept");
}

TEST_F(BlobStoreTest, ConcurrentPutsOfOneBlobStoreItOnce) {
  const std::string content(256 * 1024, 'q');
  Digest d = digest_of(content);
  std::vector<std::thread> threads;
  std::vector<char> ok(4, 0);  // not vector<bool>: threads write neighbours
  for (std::size_t i = 0; i < ok.size(); ++i) {
    threads.emplace_back([&, i] { ok[i] = store_.put(content, d).has_value(); });
  }
  for (auto& t : threads) t.join();
  for (char b : ok) EXPECT_TRUE(b);
  EXPECT_EQ(count_files(blobs()), 1u);
  EXPECT_EQ(count_files(tmp()), 0u);
  EXPECT_EQ(store_.read_all(d, content.size()).value(), content);
}

TEST(FsBlobStoreConstruction, ThrowsWhenRootCannotBeCreated) {
  TempDir dir;
  write_file(dir.path() / "file", "not a directory");
  EXPECT_THROW(FsBlobStore(dir.path() / "file" / "root"), std::runtime_error);
}

}  // namespace
}  // namespace drydock::storage
