// Quotas per namespace and usage accounting in MetadataStore (issue 6), on
// real SQLite files.

#include "storage/quota.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/metadata_store.hpp"
#include "tests/storage/store_test_util.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::manifest;
using testing::exec_sql;

// A blob of exactly `size` bytes whose content depends on `name`.
BlobInfo sized_blob(std::string_view name, std::uint64_t size) {
  std::string content(name);
  content.resize(size, '.');
  return BlobInfo{digest_of(content), size};
}

class QuotaTest : public testing::StoreTest {
 protected:
  void limit(std::string_view ns, std::uint64_t bytes) {
    QuotaLimits q = store_->quotas();
    q.namespaces[std::string(ns)] = bytes;
    store_->set_quotas(std::move(q));
  }

  // {used, blobs} of one namespace.
  std::pair<std::uint64_t, std::uint64_t> ns_usage(std::string_view ns) {
    auto all = store_->namespace_usage(ns).value();
    EXPECT_EQ(all.size(), 1u);
    if (all.empty()) return {0, 0};
    return {all[0].used, all[0].blobs};
  }
  std::uint64_t repo_used(std::string_view repo) {
    auto all = store_->repository_usage().value();
    for (const auto& r : all) {
      if (r.name == repo) return r.used;
    }
    return 0;
  }
};

TEST(QuotaNames, NamespaceIsTheFirstPathComponent) {
  EXPECT_EQ(namespace_of("team/app/web"), "team");
  EXPECT_EQ(namespace_of("team/app"), "team");
  EXPECT_EQ(namespace_of("app"), "app");
}

TEST(QuotaNames, LimitsAndMessages) {
  QuotaLimits q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.limit("team"), std::nullopt);
  q.default_bytes = 100;
  q.namespaces["team"] = 5;
  q.namespaces["free"] = std::nullopt;
  EXPECT_EQ(q.limit("team"), 5u);
  EXPECT_EQ(q.limit("free"), std::nullopt);  // explicitly unlimited
  EXPECT_EQ(q.limit("other"), 100u);
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(10ULL << 30), "10 GiB");
  EXPECT_EQ(human_bytes(512ULL << 20), "512 MiB");
  QuotaRefusal r{"team", 9ULL << 30, 10ULL << 30, 2ULL << 30};
  EXPECT_EQ(r.message(),
            "quota exceeded for namespace \"team\": 9 GiB used of 10 GiB, this needs 2 GiB more");
}

TEST_F(QuotaTest, ADistinctBlobCountsOncePerNamespace) {
  BlobInfo layer = sized_blob("layer", 1000);
  BlobInfo other = sized_blob("other", 300);
  ASSERT_TRUE(store_->link_blob("team/app", layer));
  ASSERT_TRUE(store_->link_blob("team/app", layer));  // again: nothing changes
  ASSERT_TRUE(store_->link_blob("team/web/api", layer));
  ASSERT_TRUE(store_->link_blob("team/web/api", other));
  EXPECT_EQ(ns_usage("team"), std::make_pair(std::uint64_t{1300}, std::uint64_t{2}));
  EXPECT_EQ(repo_used("team/app"), 1000u);
  EXPECT_EQ(repo_used("team/web/api"), 1300u);
  // In another namespace it counts again, there.
  ASSERT_TRUE(store_->link_blob("ci", layer));
  ASSERT_TRUE(store_->link_blob("ci/build", layer));
  EXPECT_EQ(ns_usage("ci"), std::make_pair(std::uint64_t{1000}, std::uint64_t{1}));
  EXPECT_EQ(ns_usage("team").first, 1300u);
  // "teamwork" is not in "team".
  ASSERT_TRUE(store_->link_blob("teamwork/x", other));
  EXPECT_EQ(ns_usage("team").first, 1300u);
  auto repos = store_->repository_usage("team").value();
  ASSERT_EQ(repos.size(), 2u);
  EXPECT_EQ(repos[0].name, "team/app");
  EXPECT_EQ(repos[1].name, "team/web/api");
  EXPECT_EQ(repos[1].blobs, 2u);
  auto all = store_->namespace_usage().value();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "ci");
  EXPECT_EQ(all[1].name, "team");
  EXPECT_EQ(all[2].name, "teamwork");
}

TEST_F(QuotaTest, ManifestBytesCount) {
  BlobInfo layer = sized_blob("layer", 1000);
  ASSERT_TRUE(store_->link_blob("team/app", layer));
  ManifestRecord m = manifest("team/app", "manifest-bytes");
  std::vector<ManifestRef> refs{{layer.digest, RefKind::kBlob}};
  ASSERT_TRUE(store_->put_manifest(m, refs, "v1").value().missing.empty());
  EXPECT_EQ(ns_usage("team").first, 1000u + m.size);
  EXPECT_EQ(repo_used("team/app"), 1000u + m.size);
  // Deleting the manifest unlinks its bytes.
  ASSERT_TRUE(store_->delete_manifest("team/app", m.digest).value());
  EXPECT_EQ(ns_usage("team").first, 1000u);
}

TEST_F(QuotaTest, ALinkOverTheLimitIsRefusedAndWritesNothing) {
  limit("team", 1000);
  BlobInfo a = sized_blob("a", 700);
  BlobInfo b = sized_blob("b", 301);
  BlobInfo c = sized_blob("c", 300);
  ASSERT_TRUE(store_->link_blob("team/app", a));
  auto refused = store_->link_blob("team/new", b);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), StorageError::kQuotaExceeded);
  EXPECT_EQ(store_->linked_blob_size("team/new", b.digest).value(), std::nullopt);
  EXPECT_FALSE(store_->repository_exists("team/new").value());
  EXPECT_EQ(store_->list_repositories("", 10).value(), std::vector<std::string>{"team/app"});
  EXPECT_EQ(ns_usage("team").first, 700u);
  auto why = store_->quota_check("team/new", std::span<const BlobInfo>(&b, 1)).value();
  ASSERT_TRUE(why);
  EXPECT_EQ(why->namespace_name, "team");
  EXPECT_EQ(why->used, 700u);
  EXPECT_EQ(why->limit, 1000u);
  EXPECT_EQ(why->needed, 301u);
  // Exactly up to the limit is fine; a blob the namespace holds is free even
  // when it is full; other namespaces are not limited.
  ASSERT_TRUE(store_->link_blob("team/app", c));
  EXPECT_EQ(ns_usage("team").first, 1000u);
  ASSERT_TRUE(store_->link_blob("team/other", a));
  ASSERT_TRUE(store_->link_blob("elsewhere", b));
  // Several at once: all or none, a digest counted once.
  BlobInfo d = sized_blob("d", 1);
  std::vector<BlobInfo> two{a, d, d};
  EXPECT_EQ(store_->link_blobs("team/more", two).error(), StorageError::kQuotaExceeded);
  EXPECT_EQ(store_->linked_blob_size("team/more", a.digest).value(), std::nullopt);
  EXPECT_EQ(store_->quota_check("team/more", two).value()->needed, 1u);
}

// An upload whose digest is not known yet is refused only once it can be no
// blob the namespace holds (it is bigger than all of them) and does not fit.
TEST_F(QuotaTest, AnUploadOfUnknownDigestIsRefusedOnlyWhenNothingItCouldBeFits) {
  EXPECT_FALSE(store_->quota_check_upload("team/app", 1u << 30).value());  // no limit
  limit("team", 1000);
  EXPECT_FALSE(store_->quota_check_upload("team/app", 1000).value());  // empty namespace
  auto empty = store_->quota_check_upload("team/app", 1001).value();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->used, 0u);
  EXPECT_EQ(empty->needed, 1001u);
  ASSERT_TRUE(store_->link_blob("team/app", sized_blob("big", 600)));
  ASSERT_TRUE(store_->link_blob("team/app", sized_blob("small", 300)));
  EXPECT_FALSE(store_->quota_check_upload("team/web", 100).value());  // fits
  EXPECT_FALSE(store_->quota_check_upload("team/web", 600).value());  // may be "big"
  auto refused = store_->quota_check_upload("team/web", 601).value();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->namespace_name, "team");
  EXPECT_EQ(refused->used, 900u);
  EXPECT_EQ(refused->limit, 1000u);
  EXPECT_EQ(refused->needed, 601u);
  EXPECT_FALSE(store_->quota_check_upload("other/app", 1u << 30).value());
}

TEST_F(QuotaTest, AManifestOverTheLimitIsRefusedAndWritesNothing) {
  BlobInfo layer = sized_blob("layer", 100);
  ASSERT_TRUE(store_->link_blob("team/app", layer));
  ManifestRecord m = manifest("team/app", "a manifest of 24 bytes..");
  limit("team", 100 + m.size - 1);
  std::vector<ManifestRef> refs{{layer.digest, RefKind::kBlob}};
  auto out = store_->put_manifest(m, refs, "v1").value();
  ASSERT_TRUE(out.quota);
  EXPECT_EQ(out.quota->needed, m.size);
  EXPECT_EQ(out.quota->used, 100u);
  EXPECT_EQ(store_->get_manifest("team/app", m.digest).value(), std::nullopt);
  EXPECT_EQ(store_->resolve_tag("team/app", "v1").value(), std::nullopt);
  EXPECT_EQ(ns_usage("team").first, 100u);
  limit("team", 100 + m.size);
  ASSERT_FALSE(store_->put_manifest(m, refs, "v1").value().quota);
  EXPECT_EQ(store_->resolve_tag("team/app", "v1").value(), m.digest);
  // Re-pushing it or tagging it again adds nothing: allowed when full.
  ASSERT_FALSE(store_->put_manifest(m, refs, "v2").value().quota);
}

TEST_F(QuotaTest, UnlinkingFreesOnlyWithTheLastLinkInTheNamespace) {
  limit("team", 1000);
  BlobInfo a = sized_blob("a", 1000);
  ASSERT_TRUE(store_->link_blob("team/one", a));
  ASSERT_TRUE(store_->link_blob("team/two", a));
  EXPECT_TRUE(store_->unlink_blob("team/one", a.digest).value());
  EXPECT_EQ(ns_usage("team").first, 1000u);
  EXPECT_EQ(repo_used("team/one"), 0u);
  EXPECT_EQ(store_->link_blob("team/one", sized_blob("b", 1)).error(),
            StorageError::kQuotaExceeded);
  EXPECT_TRUE(store_->unlink_blob("team/two", a.digest).value());
  EXPECT_EQ(ns_usage("team").first, 0u);
  EXPECT_TRUE(store_->repository_usage("team").value().empty());
  ASSERT_TRUE(store_->link_blob("team/one", sized_blob("b", 1)));
}

TEST_F(QuotaTest, LinksRemovedBySqlElsewhereAreUncountedToo) {
  // GC and fsck --repair delete rows with their own statements.
  BlobInfo a = sized_blob("a", 10);
  BlobInfo b = sized_blob("b", 20);
  ASSERT_TRUE(store_->link_blob("team/one", a));
  ASSERT_TRUE(store_->link_blob("team/two", a));
  ASSERT_TRUE(store_->link_blob("team/two", b));
  exec_sql(db_file(), "DELETE FROM repo_blobs WHERE digest = '" + a.digest.str() + "'");
  EXPECT_EQ(ns_usage("team"), std::make_pair(std::uint64_t{20}, std::uint64_t{1}));
  EXPECT_EQ(repo_used("team/two"), 20u);
  // A re-link with another size (a re-push upserts it) counts the new size.
  ASSERT_TRUE(store_->link_blob("team/two", BlobInfo{b.digest, 25}));
  EXPECT_EQ(ns_usage("team").first, 25u);
  EXPECT_EQ(repo_used("team/two"), 25u);
}

TEST_F(QuotaTest, ConcurrentLinksNeverExceedTheLimit) {
  constexpr std::uint64_t kBlob = 100;
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;
  limit("team", 50 * kBlob);
  std::atomic<int> linked{0};
  std::atomic<int> refused{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string repo = "team/r" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        // Every other blob is shared by all threads: counted once.
        std::string name = i % 2 == 0 ? "shared" + std::to_string(i)
                                      : "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = store_->link_blob(repo, sized_blob(name, kBlob));
        if (r) {
          ++linked;
        } else if (r.error() == StorageError::kQuotaExceeded) {
          ++refused;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(refused.load(), 0);
  auto [used, blobs] = ns_usage("team");
  EXPECT_LE(used, 50 * kBlob);
  EXPECT_EQ(used, blobs * kBlob);
  EXPECT_EQ(used, 50 * kBlob);  // filled exactly: every refusal needed one more blob
  std::uint64_t per_repo = 0;
  auto repos = store_->repository_usage("team").value();
  for (const auto& r : repos) per_repo += r.blobs;
  EXPECT_EQ(per_repo, static_cast<std::uint64_t>(linked.load()));
}

TEST_F(QuotaTest, ConfiguredNamespacesAreListedEvenWhenEmpty) {
  QuotaLimits q;
  q.default_bytes = 500;
  q.namespaces["team"] = 1000;
  q.namespaces["free"] = std::nullopt;
  store_->set_quotas(q);
  ASSERT_TRUE(store_->link_blob("ci/app", sized_blob("a", 5)));
  auto all = store_->namespace_usage().value();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "ci");
  EXPECT_EQ(all[0].limit, 500u);
  EXPECT_EQ(all[0].used, 5u);
  EXPECT_EQ(all[1].name, "free");
  EXPECT_EQ(all[1].limit, std::nullopt);
  EXPECT_EQ(all[2].name, "team");
  EXPECT_EQ(all[2].used, 0u);
  EXPECT_EQ(all[2].limit, 1000u);
  auto one = store_->namespace_usage("nobody").value();
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].used, 0u);
  EXPECT_EQ(one[0].limit, 500u);
}

TEST_F(QuotaTest, UsageOfAnOlderDatabaseIsCountedWhenItIsMigrated) {
  ASSERT_TRUE(store_->link_blob("team/one", sized_blob("a", 10)));
  ASSERT_TRUE(store_->link_blob("team/two", sized_blob("a", 10)));
  ASSERT_TRUE(store_->link_blob("team/two", sized_blob("b", 7)));
  ASSERT_TRUE(store_->link_blob("solo", sized_blob("b", 7)));
  store_.reset();
  // Back to schema version 2, as a database written before quotas.
  exec_sql(db_file(),
           "DROP TRIGGER repo_blobs_usage_insert; DROP TRIGGER repo_blobs_usage_delete;"
           "DROP TRIGGER repo_blobs_usage_resize; DROP TRIGGER repositories_usage_delete;"
           "DROP TABLE namespace_blobs; DROP TABLE namespace_usage; DROP TABLE repo_usage;"
           "PRAGMA user_version = 2;");
  open();
  EXPECT_EQ(ns_usage("team"), std::make_pair(std::uint64_t{17}, std::uint64_t{2}));
  EXPECT_EQ(ns_usage("solo"), std::make_pair(std::uint64_t{7}, std::uint64_t{1}));
  EXPECT_EQ(repo_used("team/one"), 10u);
  EXPECT_EQ(repo_used("team/two"), 17u);
  reopen();
  EXPECT_EQ(ns_usage("team").first, 17u);
}

}  // namespace
}  // namespace drydock::storage
