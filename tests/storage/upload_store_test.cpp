#include "storage/upload_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <span>
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

constexpr std::uint64_t kNoLimit = 1 << 24;

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// The server's wiring: FsBlobStore(DATA), MetadataStore(DATA/metadata.db),
// UploadStore(DATA/uploads, ...).
class UploadStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void start() {
    blobs_ = std::make_unique<FsBlobStore>(dir_.path());
    meta_ = std::make_unique<MetadataStore>(dir_.path() / "metadata.db");
    uploads_ = std::make_unique<UploadStore>(uploads_dir(), *blobs_, *meta_);
  }
  // Drops every in-memory state, as a process restart would.
  void restart() {
    uploads_.reset();
    meta_.reset();
    blobs_.reset();
    start();
  }
  fs::path uploads_dir() const { return dir_.path() / "uploads"; }
  fs::path data_file(const std::string& id) const { return uploads_dir() / id; }

  std::string create(std::string_view repo = "app") {
    Result<UploadStatus> s = uploads_->create(repo);
    EXPECT_TRUE(s.has_value());
    return s.has_value() ? s->id : std::string();
  }
  std::uint64_t size_of(const std::string& id) { return uploads_->status(id).value().size; }

  // Asserts that the session is gone everywhere: memory, database, disk.
  void expect_gone(const std::string& id) {
    EXPECT_EQ(uploads_->status(id).error(), StorageError::kNotFound);
    EXPECT_EQ(meta_->get_upload(id).value(), std::nullopt);
    EXPECT_FALSE(fs::exists(data_file(id)));
  }

  TempDir dir_;
  std::unique_ptr<FsBlobStore> blobs_;
  std::unique_ptr<MetadataStore> meta_;
  std::unique_ptr<UploadStore> uploads_;
};

TEST_F(UploadStoreTest, CreateGivesAFreshUuidV4Session) {
  Result<UploadStatus> a = uploads_->create("team/app");
  Result<UploadStatus> b = uploads_->create("team/app");
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(a->id, b->id);
  ASSERT_EQ(a->id.size(), 36u);
  EXPECT_EQ(a->id[8], '-');
  EXPECT_EQ(a->id[14], '4');                                               // version
  EXPECT_NE(std::string_view("89ab").find(a->id[19]), std::string::npos);  // variant
  EXPECT_EQ(a->repository, "team/app");
  EXPECT_EQ(a->size, 0u);

  EXPECT_TRUE(fs::exists(data_file(a->id)));
  EXPECT_EQ(meta_->get_upload(a->id).value()->repository, "team/app");
  Result<UploadStatus> st = uploads_->status(a->id);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->repository, "team/app");
  EXPECT_EQ(st->size, 0u);
}

TEST_F(UploadStoreTest, AppendsInOrder) {
  std::string id = create();
  EXPECT_EQ(uploads_->append(id, 0, bytes("hello ")).value(), 6u);
  EXPECT_EQ(uploads_->append(id, 6, bytes("world")).value(), 11u);
  EXPECT_EQ(uploads_->append(id, 11, bytes("")).value(), 11u);
  EXPECT_EQ(size_of(id), 11u);
  EXPECT_EQ(read_file(data_file(id)), "hello world");
}

TEST_F(UploadStoreTest, OutOfOrderAppendIsRejectedAndWritesNothing) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("12345")).has_value());
  EXPECT_EQ(uploads_->append(id, 4, bytes("X")).error(), StorageError::kInvalidRange);
  EXPECT_EQ(uploads_->append(id, 6, bytes("X")).error(), StorageError::kInvalidRange);
  EXPECT_EQ(uploads_->append(id, 0, bytes("X")).error(), StorageError::kInvalidRange);
  EXPECT_EQ(size_of(id), 5u);
  EXPECT_EQ(read_file(data_file(id)), "12345");
  // And the hash state was not disturbed either.
  EXPECT_EQ(uploads_->complete(id, digest_of("12345")).value().size, 5u);
}

TEST_F(UploadStoreTest, UnknownIdsAreNotFound) {
  const std::string unknown = "0b1c2d3e-0000-4000-8000-000000000000";
  EXPECT_EQ(uploads_->status(unknown).error(), StorageError::kNotFound);
  EXPECT_EQ(uploads_->append(unknown, 0, bytes("x")).error(), StorageError::kNotFound);
  EXPECT_EQ(uploads_->complete(unknown, digest_of("x")).error(), StorageError::kNotFound);
  EXPECT_EQ(uploads_->cancel(unknown).error(), StorageError::kNotFound);
  EXPECT_EQ(uploads_->status("../metadata.db").error(), StorageError::kNotFound);
  EXPECT_EQ(uploads_->status("").error(), StorageError::kNotFound);
  EXPECT_FALSE(fs::exists(data_file(unknown)));
}

TEST_F(UploadStoreTest, CompleteWithTheRightSha256PublishesTheBlob) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("layer ")).has_value());
  ASSERT_TRUE(uploads_->append(id, 6, bytes("content")).has_value());
  Digest d = digest_of("layer content");
  Result<BlobInfo> blob = uploads_->complete(id, d);
  ASSERT_TRUE(blob.has_value());
  EXPECT_EQ(blob->digest, d);
  EXPECT_EQ(blob->size, 13u);
  EXPECT_EQ(blobs_->read_all(d, kNoLimit).value(), "layer content");
  expect_gone(id);
  EXPECT_EQ(count_files(uploads_dir()), 0u);
}

TEST_F(UploadStoreTest, CompleteWithTheRightSha512PublishesTheBlob) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("abc")).has_value());
  Digest d = digest_of("abc", DigestAlgorithm::kSha512);
  Result<BlobInfo> blob = uploads_->complete(id, d);
  ASSERT_TRUE(blob.has_value());
  EXPECT_EQ(blob->digest, d);
  EXPECT_EQ(blobs_->read_all(d, kNoLimit).value(), "abc");
  EXPECT_TRUE(fs::exists(dir_.path() / "blobs" / "sha512" / d.hex.substr(0, 2) / d.hex));
  expect_gone(id);
}

TEST_F(UploadStoreTest, WrongSha256DiscardsTheSession) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("actual")).has_value());
  Digest wrong = digest_of("claimed");
  EXPECT_EQ(uploads_->complete(id, wrong).error(), StorageError::kDigestMismatch);
  EXPECT_EQ(blobs_->stat(wrong).error(), StorageError::kNotFound);
  EXPECT_EQ(blobs_->stat(digest_of("actual")).error(), StorageError::kNotFound);
  expect_gone(id);
  EXPECT_EQ(count_files(dir_.path() / "blobs"), 0u);
}

TEST_F(UploadStoreTest, WrongSha512DiscardsTheSession) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("actual")).has_value());
  Digest wrong = digest_of("claimed", DigestAlgorithm::kSha512);
  EXPECT_EQ(uploads_->complete(id, wrong).error(), StorageError::kDigestMismatch);
  EXPECT_EQ(blobs_->stat(digest_of("actual", DigestAlgorithm::kSha512)).error(),
            StorageError::kNotFound);
  expect_gone(id);
  EXPECT_EQ(count_files(dir_.path() / "blobs"), 0u);
}

TEST_F(UploadStoreTest, CancelRemovesTheSession) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("partial")).has_value());
  ASSERT_TRUE(uploads_->cancel(id).has_value());
  expect_gone(id);
  EXPECT_EQ(uploads_->cancel(id).error(), StorageError::kNotFound);
  EXPECT_EQ(uploads_->append(id, 7, bytes("more")).error(), StorageError::kNotFound);
}

TEST_F(UploadStoreTest, SameBlobUploadedTwiceIsStoredOnce) {
  Digest d = digest_of("shared");
  for (int i = 0; i < 2; ++i) {
    std::string id = create(i == 0 ? "a" : "b");
    ASSERT_TRUE(uploads_->append(id, 0, bytes("shared")).has_value());
    EXPECT_EQ(uploads_->complete(id, d).value().size, 6u);
  }
  EXPECT_EQ(count_files(dir_.path() / "blobs"), 1u);
  EXPECT_EQ(count_files(uploads_dir()), 0u);
}

TEST_F(UploadStoreTest, SessionSurvivesARestart) {
  std::string id = create("team/app");
  ASSERT_TRUE(uploads_->append(id, 0, bytes("before restart, ")).has_value());
  restart();
  Result<UploadStatus> st = uploads_->status(id);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, 16u);
  EXPECT_EQ(st->repository, "team/app");
  EXPECT_EQ(uploads_->append(id, 0, bytes("x")).error(), StorageError::kInvalidRange);
  EXPECT_EQ(uploads_->append(id, 16, bytes("after")).value(), 21u);

  Digest d = digest_of("before restart, after");
  Result<BlobInfo> blob = uploads_->complete(id, d);
  ASSERT_TRUE(blob.has_value());
  EXPECT_EQ(blobs_->read_all(d, kNoLimit).value(), "before restart, after");
  expect_gone(id);
}

TEST_F(UploadStoreTest, RestartedSessionRejectsAWrongDigest) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("data")).has_value());
  restart();
  EXPECT_EQ(uploads_->complete(id, digest_of("dat")).error(), StorageError::kDigestMismatch);
  expect_gone(id);
}

TEST_F(UploadStoreTest, SessionWhoseFileVanishedStartsFromZero) {
  std::string id = create();
  ASSERT_TRUE(uploads_->append(id, 0, bytes("lost")).has_value());
  restart();
  fs::remove(data_file(id));
  EXPECT_EQ(size_of(id), 0u);
  EXPECT_TRUE(fs::exists(data_file(id)));
  ASSERT_TRUE(uploads_->append(id, 0, bytes("again")).has_value());
  EXPECT_EQ(uploads_->complete(id, digest_of("again")).value().size, 5u);
}

TEST_F(UploadStoreTest, ConcurrentAppendsNeverInterleave) {
  std::string id = create();
  constexpr std::size_t kChunk = 4096;
  constexpr int kChunksPerThread = 64;
  auto writer = [&](char fill) {
    const std::string chunk(kChunk, fill);
    int written = 0;
    while (written < kChunksPerThread) {
      std::uint64_t at = uploads_->status(id).value().size;
      Result<std::uint64_t> r = uploads_->append(id, at, bytes(chunk));
      if (r) {
        ++written;
      } else {
        ASSERT_EQ(r.error(), StorageError::kInvalidRange);  // lost the race: retry
      }
    }
  };
  std::thread a(writer, 'A');
  std::thread b(writer, 'B');
  a.join();
  b.join();

  std::string content = read_file(data_file(id));
  ASSERT_EQ(content.size(), 2 * kChunk * kChunksPerThread);
  EXPECT_EQ(size_of(id), content.size());
  std::size_t as = 0;
  for (std::size_t off = 0; off < content.size(); off += kChunk) {
    std::string_view chunk = std::string_view(content).substr(off, kChunk);
    ASSERT_EQ(chunk.find_first_not_of(chunk[0]), std::string_view::npos) << "at " << off;
    if (chunk[0] == 'A') ++as;
  }
  EXPECT_EQ(as, static_cast<std::size_t>(kChunksPerThread));
  // The incremental hash followed the same order as the file.
  EXPECT_TRUE(uploads_->complete(id, digest_of(content)).has_value());
}

TEST_F(UploadStoreTest, ManySessionsAtOnceStayApart) {
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    std::string id = create();
    ids.insert(id);
    ASSERT_TRUE(uploads_->append(id, 0, bytes(id)).has_value());
  }
  EXPECT_EQ(ids.size(), 20u);
  for (const std::string& id : ids) {
    EXPECT_EQ(uploads_->complete(id, digest_of(id)).value().size, id.size());
  }
  EXPECT_EQ(count_files(uploads_dir()), 0u);
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST_F(UploadStoreTest, NoFileDescriptorLeaks) {
  uploads_.reset();
  meta_.reset();
  blobs_.reset();
  const std::size_t baseline = open_fds();
  start();
  std::string done = create();
  ASSERT_TRUE(uploads_->append(done, 0, bytes("ok")).has_value());
  ASSERT_TRUE(uploads_->complete(done, digest_of("ok")).has_value());
  std::string bad = create();
  ASSERT_TRUE(uploads_->append(bad, 0, bytes("ok")).has_value());
  ASSERT_FALSE(uploads_->complete(bad, digest_of("no")).has_value());
  std::string cancelled = create();
  ASSERT_TRUE(uploads_->cancel(cancelled).has_value());
  std::string reloaded = create();
  ASSERT_TRUE(uploads_->append(reloaded, 0, bytes("ok")).has_value());
  restart();
  ASSERT_EQ(size_of(reloaded), 2u);
  ASSERT_TRUE(uploads_->complete(reloaded, digest_of("ok", DigestAlgorithm::kSha512)).has_value());
  ASSERT_TRUE(blobs_->read_all(digest_of("ok"), kNoLimit).has_value());
  uploads_.reset();
  meta_.reset();
  blobs_.reset();
  EXPECT_EQ(open_fds(), baseline);
}

// Abandoned sessions go after the expiry age; younger ones and their data
// stay. Orphan data files (no row) older than the cutoff go too.
TEST_F(UploadStoreTest, ExpireRemovesOldSessionsAndOrphanFiles) {
  std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  ASSERT_TRUE(meta_->add_upload({"00000000-0000-4000-8000-000000000001", "app", now - 1000}));
  ASSERT_TRUE(meta_->add_upload({"00000000-0000-4000-8000-000000000002", "app", now - 900}));
  std::string young = create();
  ASSERT_TRUE(uploads_->append(young, 0, bytes("keep me")).has_value());
  // A data file whose row never made it (crash between the two), written long ago.
  fs::path orphan = uploads_dir() / "00000000-0000-4000-8000-00000000000f";
  { std::ofstream(orphan) << "partial"; }
  fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::hours(2));
  // Also an orphan that is recent: it may be a session being created right now.
  fs::path fresh = uploads_dir() / "00000000-0000-4000-8000-00000000000e";
  { std::ofstream(fresh) << "new"; }

  auto removed = uploads_->expire(now - 500);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed, 3u);  // two old sessions and one old orphan file
  expect_gone("00000000-0000-4000-8000-000000000001");
  expect_gone("00000000-0000-4000-8000-000000000002");
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_EQ(size_of(young), 7u);
  EXPECT_EQ(read_file(data_file(young)), "keep me");
  // Nothing left to expire at the same cutoff.
  EXPECT_EQ(uploads_->expire(now - 500).value(), 0u);
}

}  // namespace
}  // namespace drydock::storage
