#include "storage/metadata_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/metadata_schema.hpp"
#include "tests/storage/store_test_util.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::manifest;
using testing::query_text;

constexpr std::string_view kImageManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kImageIndex = "application/vnd.oci.image.index.v1+json";

BlobInfo blob(std::string_view content) { return BlobInfo{digest_of(content), content.size()}; }

std::vector<ManifestRef> blob_refs(std::initializer_list<std::string_view> contents) {
  std::vector<ManifestRef> refs;
  for (std::string_view c : contents) refs.push_back({digest_of(c), RefKind::kBlob});
  return refs;
}

class MetadataStoreTest : public testing::StoreTest {
 protected:
  // Links the layers and config into the repository and pushes a manifest
  // referencing them.
  ManifestRecord push_image(std::string_view repo, std::string_view name,
                            std::optional<std::string_view> tag) {
    std::string layer = std::string(name) + "-layer";
    std::string config = std::string(name) + "-config";
    EXPECT_TRUE(store_->link_blob(repo, blob(layer)).has_value());
    EXPECT_TRUE(store_->link_blob(repo, blob(config)).has_value());
    ManifestRecord m = manifest(repo, std::string(name) + "-manifest");
    auto refs = blob_refs({layer, config});
    Result<PutManifestOutcome> out = store_->put_manifest(m, refs, tag);
    EXPECT_TRUE(out.has_value());
    EXPECT_TRUE(out.has_value() && out->missing.empty());
    return m;
  }

  std::optional<Digest> resolve(std::string_view repo, std::string_view tag) {
    return store_->resolve_tag(repo, tag).value();
  }

};

TEST_F(MetadataStoreTest, BlobLinksAreVisibleOnlyInTheirRepository) {
  BlobInfo b = blob("layer");
  ASSERT_TRUE(store_->link_blob("team/app", b).has_value());
  ASSERT_TRUE(store_->link_blob("team/app", b).has_value());  // idempotent

  EXPECT_EQ(store_->linked_blob_size("team/app", b.digest).value(), b.size);
  EXPECT_EQ(store_->linked_blob_size("team/other", b.digest).value(), std::nullopt);
  EXPECT_TRUE(store_->repository_exists("team/app").value());
  EXPECT_FALSE(store_->repository_exists("team/other").value());

  EXPECT_TRUE(store_->unlink_blob("team/app", b.digest).value());
  EXPECT_FALSE(store_->unlink_blob("team/app", b.digest).value());
  EXPECT_EQ(store_->linked_blob_size("team/app", b.digest).value(), std::nullopt);
  EXPECT_FALSE(store_->repository_exists("team/app").value());
}

TEST_F(MetadataStoreTest, PutManifestStoresEverythingInOneGo) {
  ManifestRecord m = manifest("app", "manifest-bytes");
  m.subject = digest_of("subject");
  m.annotations_json = R"({"org.example":"1"})";
  m.artifact_type = "application/vnd.example+type";
  ASSERT_TRUE(store_->link_blob("app", blob("layer")).has_value());
  auto refs = blob_refs({"layer"});
  Result<PutManifestOutcome> out = store_->put_manifest(m, refs, "v1");
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->missing.empty());

  std::optional<ManifestRecord> got = store_->get_manifest("app", m.digest).value();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->repository, "app");
  EXPECT_EQ(got->digest, m.digest);
  EXPECT_EQ(got->media_type, kImageManifest);
  EXPECT_EQ(got->size, m.size);
  EXPECT_EQ(got->subject, m.subject);
  EXPECT_EQ(got->artifact_type, "application/vnd.example+type");
  EXPECT_EQ(got->annotations_json, R"({"org.example":"1"})");
  EXPECT_EQ(got->created_unix, 1'700'000'000);
  EXPECT_EQ(resolve("app", "v1"), m.digest);
  // The manifest's own bytes are a blob of the repository.
  EXPECT_EQ(store_->linked_blob_size("app", m.digest).value(), m.size);
  EXPECT_EQ(store_->get_manifest("elsewhere", m.digest).value(), std::nullopt);
}

TEST_F(MetadataStoreTest, PutManifestWithMissingRefsWritesNothing) {
  ASSERT_TRUE(store_->link_blob("app", blob("present")).has_value());
  ASSERT_TRUE(store_->link_blob("other", blob("elsewhere")).has_value());
  ManifestRecord m = manifest("app", "incomplete");
  std::vector<ManifestRef> refs = blob_refs({"present", "absent", "elsewhere", "absent"});
  refs.push_back({digest_of("child manifest"), RefKind::kManifest});
  refs.push_back({digest_of("present"), RefKind::kManifest});  // a blob is not a manifest

  Result<PutManifestOutcome> out = store_->put_manifest(m, refs, "latest");
  ASSERT_TRUE(out.has_value());
  std::vector<Digest> expected = {digest_of("absent"), digest_of("elsewhere"),
                                  digest_of("child manifest"), digest_of("present")};
  EXPECT_EQ(out->missing, expected);

  EXPECT_EQ(store_->get_manifest("app", m.digest).value(), std::nullopt);
  EXPECT_EQ(resolve("app", "latest"), std::nullopt);
  EXPECT_EQ(store_->linked_blob_size("app", m.digest).value(), std::nullopt);
  EXPECT_TRUE(store_->list_tags("app", "", 10).value().empty());
}

TEST_F(MetadataStoreTest, PutManifestIntoANewRepositoryWithMissingRefsLeavesNoRepository) {
  auto refs = blob_refs({"nothing"});
  Result<PutManifestOutcome> out = store_->put_manifest(manifest("new", "m"), refs, "t");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->missing.size(), 1u);
  EXPECT_FALSE(store_->repository_exists("new").value());
  EXPECT_TRUE(store_->list_repositories("", 10).value().empty());
}

TEST_F(MetadataStoreTest, IndexReferencesManifestsOfTheSameRepository) {
  ManifestRecord child = push_image("app", "amd64", std::nullopt);
  ManifestRecord index = manifest("app", "index-bytes");
  index.media_type = std::string(kImageIndex);
  std::vector<ManifestRef> refs = {{child.digest, RefKind::kManifest}};
  ASSERT_TRUE(store_->put_manifest(index, refs, "multi").value().missing.empty());
  EXPECT_EQ(resolve("app", "multi"), index.digest);
  EXPECT_EQ(store_->get_manifest("app", index.digest).value()->media_type, kImageIndex);

  // The same child is not a manifest of another repository.
  ManifestRecord foreign = manifest("other", "index-bytes");
  Result<PutManifestOutcome> out = store_->put_manifest(foreign, refs, std::nullopt);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->missing, std::vector<Digest>{child.digest});
}

TEST_F(MetadataStoreTest, RepushingAManifestUpdatesItInPlace) {
  ManifestRecord m = push_image("app", "img", "v1");
  m.annotations_json = R"({"k":"v"})";
  auto refs = blob_refs({"img-layer"});
  ASSERT_TRUE(store_->put_manifest(m, refs, "v2").value().missing.empty());
  EXPECT_EQ(store_->get_manifest("app", m.digest).value()->annotations_json, R"({"k":"v"})");
  EXPECT_EQ(resolve("app", "v1"), m.digest);
  EXPECT_EQ(resolve("app", "v2"), m.digest);
}

TEST_F(MetadataStoreTest, TagsMoveAndDeleteTagKeepsTheManifest) {
  ManifestRecord first = push_image("app", "first", "latest");
  ManifestRecord second = push_image("app", "second", "latest");
  EXPECT_EQ(resolve("app", "latest"), second.digest);
  EXPECT_TRUE(store_->get_manifest("app", first.digest).value().has_value());

  EXPECT_TRUE(store_->delete_tag("app", "latest").value());
  EXPECT_FALSE(store_->delete_tag("app", "latest").value());
  EXPECT_FALSE(store_->delete_tag("nowhere", "latest").value());
  EXPECT_EQ(resolve("app", "latest"), std::nullopt);
  EXPECT_TRUE(store_->get_manifest("app", second.digest).value().has_value());
}

TEST_F(MetadataStoreTest, ImmutableTagsNeitherMoveNorGo) {
  store_->set_immutable_tags([](std::string_view repo, std::string_view tag)
                                 -> std::optional<std::string> {
    if (repo == "app" && tag.starts_with("v")) return "rule v*";
    return std::nullopt;
  });
  ManifestRecord first = push_image("app", "first", "v1");
  // The same manifest again: nothing moves, fine.
  auto refs = blob_refs({"first-layer", "first-config"});
  auto same = store_->put_manifest(first, refs, "v1");
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->immutable_rule, std::nullopt);
  EXPECT_EQ(store_->immutable_move("app", "v1", first.digest).value(), std::nullopt);
  // Another manifest under v1: refused, and nothing of it is written.
  ASSERT_TRUE(store_->link_blob("app", blob("second-layer")).has_value());
  ManifestRecord second = manifest("app", "second-manifest");
  auto moved = store_->put_manifest(second, blob_refs({"second-layer"}), "v1");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->immutable_rule, "rule v*");
  EXPECT_EQ(resolve("app", "v1"), first.digest);
  EXPECT_EQ(store_->get_manifest("app", second.digest).value(), std::nullopt);
  EXPECT_EQ(store_->immutable_move("app", "v1", second.digest).value(), "rule v*");
  // Tags the rule does not name still move; a new v2 may be created.
  EXPECT_TRUE(store_->put_manifest(second, blob_refs({"second-layer"}), "latest")->missing.empty());
  EXPECT_EQ(store_->put_manifest(second, blob_refs({"second-layer"}), "v2")->immutable_rule,
            std::nullopt);
  EXPECT_EQ(resolve("app", "v2"), second.digest);
  EXPECT_EQ(store_->immutable_move("other", "v1", second.digest).value(), std::nullopt);
  // Nor removed: not the tag, not the manifest under it.
  auto del = store_->delete_tag("app", "v1");
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error(), StorageError::kImmutable);
  auto gone = store_->delete_manifest("app", first.digest);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error(), StorageError::kImmutable);
  EXPECT_EQ(resolve("app", "v1"), first.digest);
  EXPECT_TRUE(store_->delete_tag("app", "latest").value());
  EXPECT_FALSE(store_->delete_tag("app", "v9").value());  // no such tag
}

TEST_F(MetadataStoreTest, DeleteManifestRemovesItsTagsAndLink) {
  ManifestRecord doomed = push_image("app", "doomed", "v1");
  auto refs = blob_refs({"doomed-layer"});
  ASSERT_TRUE(store_->put_manifest(doomed, refs, "v2").value().missing.empty());
  ManifestRecord kept = push_image("app", "kept", "stable");

  EXPECT_TRUE(store_->delete_manifest("app", doomed.digest).value());
  EXPECT_EQ(store_->get_manifest("app", doomed.digest).value(), std::nullopt);
  EXPECT_EQ(resolve("app", "v1"), std::nullopt);
  EXPECT_EQ(resolve("app", "v2"), std::nullopt);
  EXPECT_EQ(store_->linked_blob_size("app", doomed.digest).value(), std::nullopt);
  EXPECT_EQ(store_->list_tags("app", "", 10).value(), std::vector<std::string>{"stable"});
  EXPECT_EQ(resolve("app", "stable"), kept.digest);
  // Layers stay linked: they may be shared, and GC decides about them.
  EXPECT_TRUE(store_->linked_blob_size("app", digest_of("doomed-layer")).value().has_value());

  EXPECT_FALSE(store_->delete_manifest("app", doomed.digest).value());
  EXPECT_FALSE(store_->delete_manifest("nowhere", doomed.digest).value());
}

TEST_F(MetadataStoreTest, DeleteManifestOfAnotherRepositoryKeepsThisOne) {
  ManifestRecord a = push_image("a", "same", "t");
  ManifestRecord b = push_image("b", "same", "t");
  ASSERT_EQ(a.digest, b.digest);
  EXPECT_TRUE(store_->delete_manifest("a", a.digest).value());
  EXPECT_EQ(resolve("b", "t"), b.digest);
  EXPECT_TRUE(store_->get_manifest("b", b.digest).value().has_value());
}

TEST_F(MetadataStoreTest, ListTagsPaginatesInByteOrder) {
  ManifestRecord m = push_image("app", "img", std::nullopt);
  auto refs = blob_refs({"img-layer"});
  for (std::string_view tag : {"b", "a", "c", "B", "a1", "0.1"}) {
    ASSERT_TRUE(store_->put_manifest(m, refs, tag).value().missing.empty());
  }
  using Tags = std::vector<std::string>;
  EXPECT_EQ(store_->list_tags("app", "", 100).value(), (Tags{"0.1", "B", "a", "a1", "b", "c"}));
  EXPECT_EQ(store_->list_tags("app", "", 2).value(), (Tags{"0.1", "B"}));
  EXPECT_EQ(store_->list_tags("app", "B", 2).value(), (Tags{"a", "a1"}));
  EXPECT_EQ(store_->list_tags("app", "a1", 2).value(), (Tags{"b", "c"}));
  EXPECT_EQ(store_->list_tags("app", "c", 2).value(), Tags{});
  EXPECT_EQ(store_->list_tags("app", "", 0).value(), Tags{});
  EXPECT_EQ(store_->list_tags("other", "", 10).value(), Tags{});
}

TEST_F(MetadataStoreTest, ListRepositoriesPaginatesAndSkipsEmptyOnes) {
  for (std::string_view repo : {"library/z", "a", "B", "a/b", "a-b"}) {
    ASSERT_TRUE(store_->link_blob(repo, blob("x")).has_value());
  }
  push_image("m", "img", std::nullopt);
  ASSERT_TRUE(store_->link_blob("emptied", blob("y")).has_value());
  ASSERT_TRUE(store_->unlink_blob("emptied", digest_of("y")).value());

  using Names = std::vector<std::string>;
  EXPECT_EQ(store_->list_repositories("", 100).value(),
            (Names{"B", "a", "a-b", "a/b", "library/z", "m"}));
  EXPECT_EQ(store_->list_repositories("", 3).value(), (Names{"B", "a", "a-b"}));
  EXPECT_EQ(store_->list_repositories("a-b", 3).value(), (Names{"a/b", "library/z", "m"}));
  EXPECT_EQ(store_->list_repositories("m", 3).value(), Names{});
}

TEST_F(MetadataStoreTest, ReferrersAreFilteredBySubjectAndRepository) {
  ManifestRecord subject = push_image("app", "subject", "v1");
  auto make_referrer = [&](std::string_view repo, std::string_view content, const Digest& s) {
    ManifestRecord r = manifest(repo, content);
    r.subject = s;
    r.artifact_type = "application/vnd.example.sbom";
    EXPECT_TRUE(store_->put_manifest(r, {}, std::nullopt).value().missing.empty());
    return r;
  };
  ManifestRecord r1 = make_referrer("app", "sbom-1", subject.digest);
  ManifestRecord r2 = make_referrer("app", "sbom-2", subject.digest);
  make_referrer("app", "unrelated", digest_of("something else"));
  make_referrer("other", "sbom-3", subject.digest);

  std::vector<ManifestRecord> got = store_->referrers("app", subject.digest).value();
  ASSERT_EQ(got.size(), 2u);
  std::vector<Digest> expected = {r1.digest, r2.digest};
  std::sort(expected.begin(), expected.end(),
            [](const Digest& x, const Digest& y) { return x.str() < y.str(); });
  EXPECT_EQ(got[0].digest, expected[0]);
  EXPECT_EQ(got[1].digest, expected[1]);
  EXPECT_EQ(got[0].artifact_type, "application/vnd.example.sbom");
  EXPECT_EQ(got[0].subject, subject.digest);
  EXPECT_EQ(got[0].repository, "app");
  EXPECT_TRUE(store_->referrers("app", digest_of("no referrers")).value().empty());
}

TEST_F(MetadataStoreTest, UploadRows) {
  UploadRecord u{"0b1c2d3e-0000-4000-8000-000000000001", "app", 42};
  ASSERT_TRUE(store_->add_upload(u).has_value());
  EXPECT_EQ(store_->add_upload(u).error(), StorageError::kDatabase);  // ids are unique
  std::optional<UploadRecord> got = store_->get_upload(u.id).value();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, u.id);
  EXPECT_EQ(got->repository, "app");
  EXPECT_EQ(got->created_unix, 42);
  EXPECT_FALSE(store_->repository_exists("app").value());  // an upload is not content

  ASSERT_TRUE(store_->remove_upload(u.id).has_value());
  EXPECT_EQ(store_->get_upload(u.id).value(), std::nullopt);
  EXPECT_EQ(store_->remove_upload(u.id).error(), StorageError::kNotFound);
}

TEST_F(MetadataStoreTest, EverythingSurvivesReopening) {
  ManifestRecord m = push_image("app", "img", "v1");
  ASSERT_TRUE(store_->add_upload({"0b1c2d3e-0000-4000-8000-000000000002", "app", 7}).has_value());
  reopen();
  EXPECT_EQ(resolve("app", "v1"), m.digest);
  EXPECT_EQ(store_->get_manifest("app", m.digest).value()->size, m.size);
  EXPECT_EQ(store_->linked_blob_size("app", digest_of("img-layer")).value(),
            blob("img-layer").size);
  EXPECT_EQ(store_->list_repositories("", 10).value(), std::vector<std::string>{"app"});
  EXPECT_TRUE(store_->get_upload("0b1c2d3e-0000-4000-8000-000000000002").value().has_value());
}

TEST_F(MetadataStoreTest, DatabaseIsInWalModeAtTheCurrentSchemaVersion) {
  EXPECT_EQ(query_text(db_file(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_text(db_file(), "PRAGMA user_version"), std::to_string(metadata_sql::kMigrations.size()));
}

TEST_F(MetadataStoreTest, RefusesADatabaseFromANewerVersion) {
  store_.reset();
  query_text(db_file(), "PRAGMA user_version = 99");
  EXPECT_THROW(open(), std::runtime_error);
}

TEST_F(MetadataStoreTest, ReadersRunWhileTheWriterCommits) {
  ManifestRecord m = push_image("app", "base", "latest");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> reads{0};
  auto reader = [&] {
    while (!stop.load()) {
      Result<std::optional<Digest>> d = store_->resolve_tag("app", "latest");
      if (!d || !*d) {
        ++failures;
        continue;
      }
      Result<std::optional<ManifestRecord>> got = store_->get_manifest("app", **d);
      if (!got || !*got) ++failures;
      ++reads;
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  for (int i = 0; i < 200; ++i) push_image("app", "img" + std::to_string(i), "latest");
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store_->list_tags("app", "", 10).value(), std::vector<std::string>{"latest"});
  EXPECT_EQ(resolve("app", "latest"), digest_of("img199-manifest"));
  EXPECT_TRUE(store_->get_manifest("app", m.digest).value().has_value());
}

}  // namespace
}  // namespace drydock::storage
