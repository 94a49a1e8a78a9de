// Garbage collection against a real data directory: blob files in an
// FsBlobStore, metadata in a real SQLite file. "Later" is simulated by
// running the collection with `now` past the grace period.

#include "storage/gc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "storage/clock.hpp"
#include "storage/held_blob_store.hpp"
#include "storage/metadata_schema.hpp"
#include "tests/storage/store_test_util.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::exec_sql;

constexpr const char* kImage = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::int64_t kHour = 3600;

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blobs_ = std::make_unique<FsBlobStore>(dir_.path());
    meta_ = std::make_unique<MetadataStore>(dir_.path() / "metadata.db");
  }

  // Stores a blob and links it to `repo`, as a finished upload does.
  Digest blob(std::string_view repo, std::string_view bytes) {
    auto info = blobs_->put(bytes, digest_of(bytes));
    EXPECT_TRUE(info);
    EXPECT_TRUE(meta_->link_blob(repo, *info));
    return digest_of(bytes);
  }

  // Stores a manifest whose body is `body` referencing `refs`.
  Digest manifest(std::string_view repo, const std::string& body, std::vector<ManifestRef> refs,
                  std::optional<std::string_view> tag, const char* type = kImage,
                  std::optional<Digest> subject = std::nullopt) {
    EXPECT_TRUE(blobs_->put(body, digest_of(body)));
    ManifestRecord m;
    m.repository = std::string(repo);
    m.digest = digest_of(body);
    m.media_type = type;
    m.size = body.size();
    m.subject = subject;
    m.annotations_json = "{}";
    auto out = meta_->put_manifest(m, refs, tag);
    EXPECT_TRUE(out && out->missing.empty() && !out->immutable_rule);
    return m.digest;
  }

  // An image: config + one layer per `layers` entry, tagged `tag`.
  Digest image(std::string_view repo, const std::string& name,
               std::vector<std::string> layers, std::optional<std::string_view> tag) {
    std::vector<ManifestRef> refs{{blob(repo, "config of " + name), RefKind::kBlob}};
    for (const auto& l : layers) refs.push_back({blob(repo, l), RefKind::kBlob});
    return manifest(repo, "manifest of " + name, refs, tag);
  }

  GcReport gc(GcOptions o) {
    if (o.now == 0) o.now = unix_now() + 2 * kHour;  // past the 1 h grace
    auto r = collect_garbage(*meta_, *blobs_, o);
    EXPECT_TRUE(r);
    return r ? *std::move(r) : GcReport{};
  }
  GcReport gc_later() { return gc(GcOptions{}); }

  bool stored(std::string_view bytes) const { return fs::exists(blobs_->path_of(digest_of(bytes))); }
  bool has_manifest(std::string_view repo, const Digest& d) const {
    auto m = meta_->get_manifest(repo, d);
    return m && m->has_value();
  }
  fs::path db() const { return dir_.path() / "metadata.db"; }

  TempDir dir_;
  std::unique_ptr<FsBlobStore> blobs_;
  std::unique_ptr<MetadataStore> meta_;
};

TEST_F(GcTest, UnreferencedBlobsGoOnlyAfterTheGracePeriod) {
  image("team/app", "a", {"layer a"}, "1");
  blob("team/app", "an aborted push's layer");
  GcReport now = gc(GcOptions{.now = unix_now()});
  EXPECT_EQ(now.blobs_deleted, 0u);
  EXPECT_EQ(now.links_removed, 0u);
  EXPECT_TRUE(stored("an aborted push's layer"));

  GcReport later = gc_later();
  EXPECT_EQ(later.links_removed, 1u);
  EXPECT_EQ(later.blobs_deleted, 1u);
  EXPECT_EQ(later.bytes_freed, std::string_view("an aborted push's layer").size());
  EXPECT_FALSE(stored("an aborted push's layer"));
  EXPECT_FALSE(*meta_->linked_blob_size("team/app", digest_of("an aborted push's layer")));
  // The tagged image is whole.
  EXPECT_TRUE(stored("layer a") && stored("config of a") && stored("manifest of a"));
  EXPECT_EQ(later.blobs_remaining, 3u);
  EXPECT_EQ(gc_later().blobs_deleted, 0u);  // nothing left to do
}

TEST_F(GcTest, DeletingAManifestFreesItsOwnLayersButNotSharedOnes) {
  Digest a = image("team/app", "a", {"shared layer", "layer only a"}, "a");
  image("team/app", "b", {"shared layer"}, "b");
  image("other/app", "c", {"layer only a"}, "c");  // same bytes, another repository
  ASSERT_TRUE(*meta_->delete_manifest("team/app", a));
  GcReport r = gc_later();
  EXPECT_FALSE(stored("manifest of a"));
  EXPECT_FALSE(stored("config of a"));
  EXPECT_TRUE(stored("shared layer"));
  EXPECT_TRUE(stored("layer only a"));  // other/app still uses it
  EXPECT_FALSE(*meta_->linked_blob_size("team/app", digest_of("layer only a")));
  EXPECT_EQ(r.blobs_deleted, 2u);
  EXPECT_EQ(r.bytes_freed, std::string_view("manifest of a").size() +
                               std::string_view("config of a").size());
}

TEST_F(GcTest, AnIndexKeepsItsChildrenAndDeletingItFreesThem) {
  Digest amd = image("team/multi", "amd64", {"amd64 layer"}, std::nullopt);
  Digest arm = image("team/multi", "arm64", {"arm64 layer"}, std::nullopt);
  std::string body = "index of " + amd.str() + arm.str();
  Digest index = manifest("team/multi", body,
                          {{amd, RefKind::kManifest}, {arm, RefKind::kManifest}}, "1", kIndex);
  GcReport kept = gc_later();
  EXPECT_TRUE(kept.manifests_deleted.empty());
  EXPECT_EQ(kept.blobs_deleted, 0u);

  ASSERT_TRUE(*meta_->delete_manifest("team/multi", index));
  GcReport r = gc_later();
  EXPECT_EQ(r.manifests_deleted.size(), 2u);
  EXPECT_FALSE(has_manifest("team/multi", amd));
  EXPECT_FALSE(has_manifest("team/multi", arm));
  EXPECT_FALSE(stored("amd64 layer"));
  EXPECT_FALSE(stored("arm64 layer"));
  EXPECT_FALSE(stored(body));
  EXPECT_EQ(r.blobs_remaining, 0u);
}

TEST_F(GcTest, AChildSharedWithALivingIndexStays) {
  Digest amd = image("team/multi", "amd64", {"amd64 layer"}, std::nullopt);
  Digest one = manifest("team/multi", "index one", {{amd, RefKind::kManifest}}, "1", kIndex);
  manifest("team/multi", "index two", {{amd, RefKind::kManifest}}, "2", kIndex);
  ASSERT_TRUE(*meta_->delete_manifest("team/multi", one));
  GcReport r = gc_later();
  EXPECT_EQ(r.manifests_deleted.size(), 0u);
  EXPECT_TRUE(has_manifest("team/multi", amd));
  EXPECT_TRUE(stored("amd64 layer"));
}

TEST_F(GcTest, UntaggedManifestsPushedOnTheirOwnStayUnlessRetentionSaysOtherwise) {
  Digest lone = image("team/app", "by digest", {"lone layer"}, std::nullopt);
  EXPECT_TRUE(gc_later().manifests_deleted.empty());
  EXPECT_TRUE(has_manifest("team/app", lone));

  GcReport within = gc(GcOptions{.untagged_retention_seconds = 3 * kHour});
  EXPECT_TRUE(within.manifests_deleted.empty());
  GcReport pruned = gc(GcOptions{.untagged_retention_seconds = kHour});
  EXPECT_EQ(pruned.manifests_deleted,
            (std::vector<std::string>{"team/app@" + lone.str()}));
  EXPECT_FALSE(stored("lone layer"));
}

TEST_F(GcTest, AReferrerLivesAsLongAsItsSubject) {
  Digest subject = image("team/app", "a", {"layer a"}, "1");
  std::vector<ManifestRef> refs{{blob("team/app", "signature config"), RefKind::kBlob}};
  Digest sig = manifest("team/app", "a signature", refs, std::nullopt, kImage, subject);
  EXPECT_TRUE(gc_later().manifests_deleted.empty());
  EXPECT_TRUE(has_manifest("team/app", sig));

  ASSERT_TRUE(*meta_->delete_manifest("team/app", subject));
  GcReport r = gc_later();
  EXPECT_EQ(r.manifests_deleted, (std::vector<std::string>{"team/app@" + sig.str()}));
  EXPECT_FALSE(stored("a signature"));
  EXPECT_FALSE(stored("signature config"));
}

TEST_F(GcTest, YoungManifestsStayEvenWhenUnreferenced) {
  Digest amd = image("team/multi", "amd64", {"amd64 layer"}, std::nullopt);
  Digest index = manifest("team/multi", "index", {{amd, RefKind::kManifest}}, "1", kIndex);
  ASSERT_TRUE(*meta_->delete_manifest("team/multi", index));
  // A client pushing a new index over this child right now must find it.
  GcReport r = gc(GcOptions{.now = unix_now()});
  EXPECT_TRUE(r.manifests_deleted.empty());
  EXPECT_TRUE(stored("amd64 layer"));
}

TEST_F(GcTest, RetentionKeepsTheNewestAndMatchingTagsAndNeverImmutableOnes) {
  for (std::string t : {"1", "2", "3", "4", "5", "v1"}) {
    image("team/app", "image " + t, {"layer " + t}, t);
  }
  image("other/app", "other", {"other layer"}, "1");
  // Push times 1 (oldest) .. 5, v1 oldest of all.
  std::string sql;
  for (int i = 1; i <= 5; ++i) {
    sql += "UPDATE tags SET updated = " + std::to_string(1000 + i) + " WHERE name = '" +
           std::to_string(i) + "';";
  }
  sql += "UPDATE tags SET updated = 500 WHERE name = 'v1';";
  exec_sql(db(), sql);
  meta_->set_immutable_tags([](std::string_view repo, std::string_view tag) {
    return repo == "team/app" && tag == "1" ? std::optional<std::string>("tags 1 are frozen")
                                            : std::nullopt;
  });
  GcOptions o;
  o.retention = [](std::string_view repo) -> std::optional<RetentionPolicy> {
    if (repo != "team/app") return std::nullopt;
    RetentionPolicy p;
    p.keep_last = 2;
    p.keep_tag = [](std::string_view t) { return std::regex_match(std::string(t), std::regex("v.*")); };
    return p;
  };
  o.dry_run = true;
  GcReport plan = gc(o);
  EXPECT_EQ(plan.tags_deleted, (std::vector<std::string>{"team/app:3", "team/app:2"}));
  EXPECT_EQ(plan.tags_kept_immutable,
            (std::vector<std::string>{"team/app:1 (tags 1 are frozen)"}));
  EXPECT_EQ(plan.manifests_deleted.size(), 2u);
  EXPECT_EQ(plan.blobs_deleted, 6u);  // two manifests, configs, layers
  EXPECT_TRUE(*meta_->resolve_tag("team/app", "3"));  // a dry run changes nothing
  EXPECT_TRUE(stored("layer 3"));

  o.dry_run = false;
  GcReport r = gc(o);
  EXPECT_EQ(r.tags_deleted, plan.tags_deleted);
  EXPECT_EQ(r.manifests_deleted, plan.manifests_deleted);
  EXPECT_EQ(r.blobs_deleted, plan.blobs_deleted);
  EXPECT_EQ(r.bytes_freed, plan.bytes_freed);
  for (std::string t : {"1", "4", "5", "v1"}) EXPECT_TRUE(*meta_->resolve_tag("team/app", t)) << t;
  for (std::string t : {"2", "3"}) EXPECT_FALSE(*meta_->resolve_tag("team/app", t)) << t;
  EXPECT_FALSE(stored("layer 2"));
  EXPECT_TRUE(stored("layer 1"));
  EXPECT_TRUE(*meta_->resolve_tag("other/app", "1"));
}

TEST_F(GcTest, RetentionByAgeKeepsTagsPushedWithinTheWindow) {
  image("team/app", "old", {"old layer"}, "old");
  image("team/app", "new", {"new layer"}, "new");
  exec_sql(db(), "UPDATE tags SET updated = " + std::to_string(unix_now() - 40 * 24 * kHour) +
                     " WHERE name = 'old';");
  GcOptions o;
  o.retention = [](std::string_view) -> std::optional<RetentionPolicy> {
    return RetentionPolicy{.keep_younger_seconds = 30 * 24 * kHour};
  };
  GcReport r = gc(o);
  EXPECT_EQ(r.tags_deleted, (std::vector<std::string>{"team/app:old"}));
  EXPECT_FALSE(stored("old layer"));
  EXPECT_TRUE(stored("new layer"));
}

TEST_F(GcTest, AHeldBlobAndTheExtraRootsAreNeverCollected) {
  auto held = blobs_->put("built layer", digest_of("built layer"));
  auto cached = blobs_->put("cached layer", digest_of("cached layer"));
  ASSERT_TRUE(held && cached);
  GcOptions o;
  o.extra_roots = [] { return Result<std::vector<Digest>>(std::vector{digest_of("cached layer")}); };
  {
    BlobLease lease = blobs_->hold(digest_of("built layer"));
    BlobLease moved = std::move(lease);
    EXPECT_EQ(gc(o).blobs_deleted, 0u);
    EXPECT_TRUE(stored("built layer"));
  }
  EXPECT_EQ(gc(o).blobs_deleted, 1u);
  EXPECT_FALSE(stored("built layer"));
  EXPECT_TRUE(stored("cached layer"));
}

TEST_F(GcTest, ABuildsViewHoldsEveryBlobItTouchedUntilItEnds) {
  ASSERT_TRUE(blobs_->put("base layer", digest_of("base layer")));
  {
    HeldBlobStore build(*blobs_);
    ASSERT_TRUE(build.stat(digest_of("base layer")));
    ASSERT_TRUE(build.put("new layer", digest_of("new layer")));
    EXPECT_EQ(gc_later().blobs_deleted, 0u);
  }
  EXPECT_EQ(gc_later().blobs_deleted, 2u);
}

TEST_F(GcTest, AnOpenUploadSessionKeepsItsRepositorysLinks) {
  blob("team/app", "first layer of a slow push");
  ASSERT_TRUE(meta_->add_upload(UploadRecord{"u1", "team/app", unix_now()}));
  EXPECT_EQ(gc_later().links_removed, 0u);
  EXPECT_TRUE(stored("first layer of a slow push"));
  ASSERT_TRUE(meta_->remove_upload("u1"));
  EXPECT_EQ(gc_later().links_removed, 1u);
  EXPECT_FALSE(stored("first layer of a slow push"));
}

// An abandoned session keeps them only for gc.upload_session_seconds (a
// day) after it started; the delete re-checks the same rule.
TEST_F(GcTest, AnAbandonedUploadSessionStopsKeepingLinksAfterADay) {
  blob("team/app", "layer of an abandoned push");
  ASSERT_TRUE(meta_->add_upload(UploadRecord{"old", "team/app", unix_now() - 25 * kHour}));
  GcOptions day;
  day.now = unix_now() + 2 * kHour;
  EXPECT_EQ(gc(day).links_removed, 1u);
  EXPECT_FALSE(stored("layer of an abandoned push"));

  blob("team/app", "layer of a slow push");
  ASSERT_TRUE(meta_->add_upload(UploadRecord{"young", "team/app", unix_now() - 20 * kHour}));
  EXPECT_EQ(gc(day).links_removed, 0u);
  GcOptions shorter = day;
  shorter.upload_session_seconds = 19 * kHour;
  EXPECT_EQ(gc(shorter).links_removed, 1u);
  EXPECT_FALSE(stored("layer of a slow push"));

  // The delete itself: a session started at or after `sessions_since` keeps
  // the link, an older one does not.
  blob("team/app", "re-checked layer");
  auto repo = meta_->gc_snapshot()->repositories.at(0).first;
  const Digest d = digest_of("re-checked layer");
  const std::int64_t later = unix_now() + 2 * kHour;
  EXPECT_FALSE(*meta_->gc_unlink(repo, d, later, unix_now() - 20 * kHour));
  EXPECT_TRUE(*meta_->gc_unlink(repo, d, later, unix_now() - 19 * kHour));
}

// The deletes re-check in their own transaction: what a push did after the
// graph was read wins.
TEST_F(GcTest, APushAfterTheSnapshotWins) {
  Digest lone = image("team/app", "a", {"layer a"}, std::nullopt);
  Digest l = blob("team/app", "late layer");
  std::int64_t later = unix_now() + 2 * kHour;
  auto repos = meta_->gc_snapshot();
  ASSERT_TRUE(repos);
  std::int64_t id = repos->repositories.at(0).first;
  // Tagged meanwhile: the manifest is no longer garbage.
  std::vector<ManifestRef> refs{{digest_of("config of a"), RefKind::kBlob},
                                {digest_of("layer a"), RefKind::kBlob}};
  ASSERT_TRUE(meta_->put_manifest(*meta_->get_manifest("team/app", lone).value(), refs, "now"));
  EXPECT_FALSE(*meta_->gc_delete_manifest(id, lone, later, later));
  // Referenced meanwhile: the link stays.
  manifest("team/app", "uses the late layer", {{l, RefKind::kBlob}}, "2");
  EXPECT_FALSE(*meta_->gc_unlink(id, l, later, later));
  // Moved meanwhile: retention's untag of the old target does nothing.
  auto tags = meta_->gc_snapshot();
  ASSERT_TRUE(tags);
  auto t = std::ranges::find(tags->tags, std::string("now"), &GcSnapshot::Tag::name);
  ASSERT_NE(t, tags->tags.end());
  EXPECT_FALSE(*meta_->gc_untag(id, "team/app", "now", digest_of("manifest of a"), t->updated + 1));
  EXPECT_TRUE(*meta_->gc_untag(id, "team/app", "now", digest_of("manifest of a"), t->updated));
}

TEST_F(GcTest, ABlobPushedAgainAfterCollectionIsWholeAgain) {
  blob("team/app", "layer");
  ASSERT_EQ(gc_later().blobs_deleted, 1u);
  Digest d = blob("team/app", "layer");
  EXPECT_TRUE(stored("layer"));
  auto all = blobs_->read_all(d, 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, "layer");
}

TEST_F(GcTest, DeletingARepositoryFreesWhatOnlyItHeld) {
  image("team/app", "a", {"shared layer", "own layer"}, "1");
  image("team/app", "b", {"own layer b"}, std::nullopt);
  image("team/other", "c", {"shared layer"}, "1");
  ASSERT_TRUE(*meta_->delete_repository("team/app"));
  EXPECT_FALSE(*meta_->repository_exists("team/app"));
  EXPECT_FALSE(*meta_->delete_repository("team/app"));
  GcReport r = gc_later();
  EXPECT_EQ(r.blobs_deleted, 6u);  // two manifests, two configs, two own layers
  EXPECT_TRUE(stored("shared layer"));
  EXPECT_FALSE(stored("own layer"));
  EXPECT_TRUE(*meta_->resolve_tag("team/other", "1"));

  meta_->set_immutable_tags([](std::string_view, std::string_view tag) {
    return tag == "1" ? std::optional<std::string>("frozen") : std::nullopt;
  });
  auto refused = meta_->delete_repository("team/other");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), StorageError::kImmutable);
  EXPECT_TRUE(*meta_->resolve_tag("team/other", "1"));
}

// A database from before garbage collection (schema 1) migrates: index
// children are released, tags get their manifests' times.
TEST(GcMigration, SchemaOneDatabasesMigrate) {
  TempDir dir;
  fs::path file = dir.path() / "metadata.db";
  exec_sql(file, std::string(metadata_sql::kMigrations[0]) +
                     "PRAGMA user_version = 1;"
                     "INSERT INTO repositories(id, name) VALUES (1, 'team/multi');"
                     "INSERT INTO manifests(repo_id, digest, media_type, size, created) VALUES"
                     " (1, 'sha256:" + std::string(64, 'a') + "', 'i', 1, 100),"
                     " (1, 'sha256:" + std::string(64, 'b') + "', 'm', 1, 90);"
                     "INSERT INTO manifest_refs VALUES (1, 'sha256:" + std::string(64, 'a') +
                     "', 'sha256:" + std::string(64, 'b') + "', 1);"
                     "INSERT INTO tags VALUES (1, 'latest', 'sha256:" + std::string(64, 'a') +
                     "');");
  MetadataStore meta(file);
  auto s = meta.gc_snapshot();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->manifests.size(), 2u);
  for (const auto& m : s->manifests) {
    EXPECT_EQ(m.released, m.digest.hex[0] == 'b');
    EXPECT_EQ(m.pushed, m.digest.hex[0] == 'a' ? 100 : 90);
  }
  ASSERT_EQ(s->tags.size(), 1u);
  EXPECT_EQ(s->tags[0].updated, 100);
}

}  // namespace
}  // namespace drydock::storage
