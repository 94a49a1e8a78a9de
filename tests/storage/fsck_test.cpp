// fsck against a real data directory: blobs in an FsBlobStore, metadata in a
// real SQLite file, then damage done on purpose (flipped byte, truncation,
// deleted file, deleted row, stray file, dangling tag).

#include "storage/fsck.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"
#include "tests/storage/store_test_util.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::exec_sql;

constexpr std::string_view kConfig = R"({"os":"linux"})";
constexpr std::string_view kLayer = "layer bytes, pretend this is a tar.gz";
constexpr std::string_view kManifest = R"({"schemaVersion":2,"layers":["..."]})";

// One finding, as "kind repo what" (repo omitted when empty).
std::string line(const FsckIssue& i) {
  std::string out(to_string(i.finding));
  if (!i.repository.empty()) out += " " + i.repository;
  return out + " " + i.what;
}

std::vector<std::string> lines(const FsckReport& r) {
  std::vector<std::string> out;
  for (const FsckIssue& i : r.issues) out.push_back(line(i));
  return out;
}

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blobs_ = std::make_unique<FsBlobStore>(dir_.path());
    meta_ = std::make_unique<MetadataStore>(dir_.path() / "metadata.db");
    push_image("library/app", "latest");
  }

  // Stores and links config, layer and manifest the way a push does.
  void push_image(std::string_view repo, std::string_view tag) {
    for (std::string_view b : {kConfig, kLayer}) {
      auto info = blobs_->put(b, digest_of(b));
      ASSERT_TRUE(info);
      ASSERT_TRUE(meta_->link_blob(repo, *info));
    }
    ASSERT_TRUE(blobs_->put(kManifest, digest_of(kManifest)));
    ManifestRecord m;
    m.repository = std::string(repo);
    m.digest = digest_of(kManifest);
    m.media_type = "application/vnd.oci.image.manifest.v1+json";
    m.size = kManifest.size();
    m.annotations_json = "{}";
    std::vector<ManifestRef> refs = {{digest_of(kConfig), RefKind::kBlob},
                                     {digest_of(kLayer), RefKind::kBlob}};
    auto out = meta_->put_manifest(m, refs, tag);
    ASSERT_TRUE(out);
    ASSERT_TRUE(out->missing.empty());
  }

  FsckReport fsck(FsckMode mode = FsckMode::kCheck, FsckManifestParser parser = nullptr) {
    auto r = run_fsck(FsckOptions{dir_.path(), mode, std::move(parser)});
    EXPECT_TRUE(r);
    return r ? *std::move(r) : FsckReport{};
  }

  fs::path path_of(std::string_view content) const { return blobs_->path_of(digest_of(content)); }
  static std::string d(std::string_view content) { return digest_of(content).str(); }
  fs::path db() const { return dir_.path() / "metadata.db"; }

  TempDir dir_;
  std::unique_ptr<FsBlobStore> blobs_;
  std::unique_ptr<MetadataStore> meta_;
};

TEST_F(FsckTest, CleanStoreReportsNothing) {
  FsckReport r = fsck();
  EXPECT_TRUE(r.issues.empty()) << ::testing::PrintToString(lines(r));
  EXPECT_EQ(r.blob_files, 3u);
  EXPECT_EQ(r.blob_bytes, kConfig.size() + kLayer.size() + kManifest.size());
  EXPECT_EQ(r.repositories, 1u);
  EXPECT_EQ(r.blob_links, 3u);
  EXPECT_EQ(r.manifests, 1u);
  EXPECT_EQ(r.tags, 1u);
}

TEST_F(FsckTest, FlippedByteIsCorruptAndNamesTheManifest) {
  std::fstream f(path_of(kLayer), std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(5);
  f.put('X');
  f.close();
  FsckReport r = fsck();
  EXPECT_EQ(lines(r), (std::vector<std::string>{"corrupt-blob " + d(kLayer),
                                                "missing-reference library/app " + d(kManifest)}));
  EXPECT_EQ(r.problems(), 2u);
  EXPECT_NE(r.issues[1].detail.find("tags: latest"), std::string::npos) << r.issues[1].detail;
  EXPECT_NE(r.issues[1].detail.find("is corrupt"), std::string::npos) << r.issues[1].detail;
  // Check mode changes nothing.
  EXPECT_TRUE(fs::exists(path_of(kLayer)));
  EXPECT_TRUE(*meta_->linked_blob_size("library/app", digest_of(kLayer)));
}

TEST_F(FsckTest, TruncatedBlobIsCorrupt) {
  fs::resize_file(path_of(kLayer), 4);
  FsckReport r = fsck();
  EXPECT_EQ(lines(r), (std::vector<std::string>{"corrupt-blob " + d(kLayer),
                                                "missing-reference library/app " + d(kManifest)}));
  EXPECT_NE(r.issues[0].detail.find("(4 bytes)"), std::string::npos) << r.issues[0].detail;
}

TEST_F(FsckTest, DeletedBlobFileUnderAManifest) {
  fs::remove(path_of(kLayer));
  FsckReport r = fsck();
  EXPECT_EQ(lines(r), (std::vector<std::string>{"missing-blob library/app " + d(kLayer),
                                                "missing-reference library/app " + d(kManifest)}));
}

TEST_F(FsckTest, DeletedRowMakesTheFileAnOrphanAndTheReferenceMissing) {
  exec_sql(db(), "DELETE FROM repo_blobs WHERE digest = '" + d(kLayer) + "'");
  FsckReport r = fsck();
  EXPECT_EQ(lines(r), (std::vector<std::string>{"missing-reference library/app " + d(kManifest),
                                                "orphan-blob " + d(kLayer)}));
  EXPECT_EQ(r.problems(), 1u);
  EXPECT_EQ(r.warnings(), 1u);
}

TEST_F(FsckTest, StrayFilesAndOrphansAreWarningsOnly) {
  fs::create_directories(dir_.path() / "blobs/sha256/zz");
  fs::create_directories(dir_.path() / "blobs/sha256/ab");
  std::ofstream(dir_.path() / "blobs/sha256/zz/junk") << "junk";
  std::ofstream(dir_.path() / "blobs/sha256/ab/not-a-digest") << "x";
  ASSERT_TRUE(blobs_->put("never linked", digest_of("never linked")));
  FsckReport r = fsck();
  EXPECT_EQ(r.problems(), 0u) << ::testing::PrintToString(lines(r));
  EXPECT_EQ(lines(r), (std::vector<std::string>{
                          "orphan-blob " + d("never linked"),
                          "stray-file " + (dir_.path() / "blobs/sha256/ab/not-a-digest").string(),
                          "stray-file " + (dir_.path() / "blobs/sha256/zz").string()}));
  EXPECT_EQ(r.issues[0].bytes, std::string_view("never linked").size());
}

// A layer only the build cache holds is neither linked nor an orphan; an
// extra root that fails to read fails the check rather than warn wrongly.
TEST_F(FsckTest, ExtraRootsAreNotOrphans) {
  ASSERT_TRUE(blobs_->put("cached layer", digest_of("cached layer")));
  ASSERT_TRUE(blobs_->put("never linked", digest_of("never linked")));
  FsckOptions o{dir_.path()};
  o.extra_roots = [] { return Result<std::vector<Digest>>(std::vector{digest_of("cached layer")}); };
  auto r = run_fsck(o);
  ASSERT_TRUE(r);
  EXPECT_EQ(lines(*r), std::vector<std::string>{"orphan-blob " + d("never linked")});
  EXPECT_EQ(r->extra_roots, 1u);
  o.extra_roots = [] { return Result<std::vector<Digest>>(std::unexpected(StorageError::kDatabase)); };
  auto failed = run_fsck(o);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), StorageError::kDatabase);
}

TEST_F(FsckTest, WrongRecordedSizeAndDanglingTag) {
  exec_sql(db(), "UPDATE repo_blobs SET size = 999 WHERE digest = '" + d(kConfig) + "'");
  // Foreign keys are off on this raw connection, as after a hand edit.
  exec_sql(db(), "INSERT INTO tags(repo_id, name, digest) SELECT id, 'gone', '" + d("nothing") +
                     "' FROM repositories");
  FsckReport r = fsck();
  EXPECT_EQ(lines(r), (std::vector<std::string>{"size-mismatch library/app " + d(kConfig),
                                                "dangling-tag library/app tag:gone"}));
}

TEST_F(FsckTest, ManifestThatNoLongerParsesOrDisagreesWithItsRows) {
  FsckManifestParser broken = [](std::string_view, std::string_view) {
    return std::expected<std::vector<ManifestRef>, std::string>(std::unexpected("bad json"));
  };
  FsckReport r = fsck(FsckMode::kCheck, broken);
  EXPECT_EQ(lines(r), (std::vector<std::string>{"bad-manifest library/app " + d(kManifest)}));
  EXPECT_NE(r.issues[0].detail.find("bad json"), std::string::npos);

  FsckManifestParser extra = [](std::string_view, std::string_view) {
    return std::expected<std::vector<ManifestRef>, std::string>(
        std::vector<ManifestRef>{{digest_of(kLayer), RefKind::kBlob},
                                 {digest_of("other"), RefKind::kBlob}});
  };
  r = fsck(FsckMode::kCheck, extra);
  ASSERT_EQ(lines(r), (std::vector<std::string>{"bad-manifest library/app " + d(kManifest)}));
  EXPECT_NE(r.issues[0].detail.find(d("other")), std::string::npos) << r.issues[0].detail;
}

TEST_F(FsckTest, RepairQuarantinesTheBlobAndAPushHealsIt) {
  push_image("other/app", "v1");  // the same layer linked in two repositories
  fs::resize_file(path_of(kLayer), 3);
  FsckReport r = fsck(FsckMode::kRepair);
  ASSERT_EQ(r.problems(), 3u) << ::testing::PrintToString(lines(r));
  EXPECT_EQ(r.repaired(), 1u);
  EXPECT_TRUE(r.issues[0].repaired);
  EXPECT_NE(r.issues[0].repair.find("2 repository link(s) removed"), std::string::npos)
      << r.issues[0].repair;

  // The file is aside, no repository sees the digest: a push starts afresh.
  EXPECT_FALSE(fs::exists(path_of(kLayer)));
  std::vector<fs::path> quarantined;
  for (const auto& e : fs::directory_iterator(dir_.path() / "quarantine")) quarantined.push_back(e.path());
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_TRUE(quarantined[0].filename().string().starts_with("sha256-" + digest_of(kLayer).hex + "."));
  EXPECT_EQ(fs::file_size(quarantined[0]), 3u);
  EXPECT_FALSE(*meta_->linked_blob_size("library/app", digest_of(kLayer)));
  EXPECT_FALSE(*meta_->linked_blob_size("other/app", digest_of(kLayer)));
  EXPECT_FALSE(blobs_->stat(digest_of(kLayer)));

  // Until then fsck names what is still broken, and repairs nothing more.
  r = fsck(FsckMode::kRepair);
  EXPECT_EQ(lines(r), (std::vector<std::string>{"missing-reference library/app " + d(kManifest),
                                                "missing-reference other/app " + d(kManifest)}));
  EXPECT_EQ(r.repaired(), 0u);

  push_image("library/app", "latest");
  push_image("other/app", "v1");
  r = fsck();
  EXPECT_TRUE(r.issues.empty()) << ::testing::PrintToString(lines(r));
}

TEST_F(FsckTest, RepairDropsLinksWhoseFileIsMissing) {
  fs::remove(path_of(kConfig));
  FsckReport r = fsck(FsckMode::kRepair);
  ASSERT_EQ(lines(r), (std::vector<std::string>{"missing-blob library/app " + d(kConfig),
                                                "missing-reference library/app " + d(kManifest)}));
  EXPECT_TRUE(r.issues[0].repaired);
  EXPECT_FALSE(*meta_->linked_blob_size("library/app", digest_of(kConfig)));
  push_image("library/app", "latest");
  EXPECT_TRUE(fsck().issues.empty());
}

TEST_F(FsckTest, NoDatabaseIsNotFound) {
  TempDir empty;
  auto r = run_fsck(FsckOptions{empty.path()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), StorageError::kNotFound);
  EXPECT_FALSE(fs::exists(empty.path() / "metadata.db"));
}

}  // namespace
}  // namespace drydock::storage
