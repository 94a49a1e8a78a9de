// The step cache: what a rebuild reuses and what it runs again, with real
// runc steps. A RUN that writes the time of day proves whether it ran: a
// cached step gives the same layer, a re-run a different one.

#include <gtest/gtest.h>

#include <thread>

#include "builder/build_cache.hpp"
#include "storage/sqlite_db.hpp"
#include "tests/builder/executor_test_util.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using test_util::ExecFixture;

class ExecCache : public ExecFixture {
 protected:
  void SetUp() override {
    ExecFixture::SetUp();
    if (IsSkipped()) return;
    cache_store_ = std::make_unique<BuildCache>(dir_.path() / "cache.db", 0);
    cache_ = cache_store_.get();
  }

  // The image's diff_ids after a successful build.
  std::vector<std::string> diff_ids(const std::string& dockerfile,
                                    std::vector<std::pair<std::string, std::string>> args = {}) {
    auto r = build(dockerfile, std::move(args));
    EXPECT_TRUE(r) << (r ? "" : r.error().to_string()) << log_;
    if (!r) return {};
    return config_["rootfs"]["diff_ids"].get<std::vector<std::string>>();
  }

  std::size_t cached_steps() const {
    std::size_t n = 0;
    for (auto p = log_.find(" CACHED\n"); p != std::string::npos; p = log_.find(" CACHED\n", p + 1))
      ++n;
    return n;
  }

  std::unique_ptr<BuildCache> cache_store_;
};

constexpr const char* kStampingDockerfile =
    "FROM base/busybox:1\n"
    "RUN cat /proc/uptime > /first\n"
    "COPY one.txt /one.txt\n"
    "RUN cat /proc/uptime > /second\n"
    "COPY two.txt /two.txt\n"
    "WORKDIR /made/here\n";

TEST_F(ExecCache, RebuildWithNothingChangedRunsNoStep) {
  context_file("one.txt", "one\n");
  context_file("two.txt", "two\n");
  auto first = diff_ids(kStampingDockerfile);
  ASSERT_EQ(first.size(), 6u);  // base, RUN, COPY, RUN, COPY, WORKDIR
  EXPECT_EQ(cached_steps(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto second = diff_ids(kStampingDockerfile);
  EXPECT_EQ(second, first);
  EXPECT_EQ(cached_steps(), 5u) << log_;
  // History times come from the cache too.
  auto again = config_["history"];
  auto third = diff_ids(kStampingDockerfile);
  EXPECT_EQ(config_["history"], again);
}

TEST_F(ExecCache, ChangingOneSourceFileRerunsOnlyTheStepsAfterItsCopy) {
  context_file("one.txt", "one\n");
  context_file("two.txt", "two\n");
  auto first = diff_ids(kStampingDockerfile);
  context_file("one.txt", "one, changed\n");
  auto second = diff_ids(kStampingDockerfile);
  ASSERT_EQ(second.size(), first.size());
  EXPECT_EQ(second[1], first[1]);  // RUN before the COPY: cached
  EXPECT_NE(second[2], first[2]);  // the COPY that reads it
  EXPECT_NE(second[3], first[3]);  // the RUN after it ran again
  // Every step after the changed COPY ran (the later COPY and WORKDIR give
  // the same bytes again, but they were not taken from the cache).
  EXPECT_EQ(cached_steps(), 1u) << log_;
}

TEST_F(ExecCache, MtimesAloneDoNotInvalidate) {
  context_file("one.txt", "one\n");
  context_file("two.txt", "two\n");
  auto first = diff_ids(kStampingDockerfile);
  auto p = dir_.path() / "ctx" / "one.txt";
  fs::last_write_time(p, fs::last_write_time(p) - std::chrono::hours(5));
  EXPECT_EQ(diff_ids(kStampingDockerfile), first);
  EXPECT_EQ(cached_steps(), 5u) << log_;
  // A mode change does.
  fs::permissions(p, fs::perms(0600));
  auto moded = diff_ids(kStampingDockerfile);
  EXPECT_NE(moded[2], first[2]);
}

TEST_F(ExecCache, MetadataInvalidatesOnlyThroughTheRunEnvironment) {
  auto base = diff_ids("FROM base/busybox:1\nLABEL a=1\nRUN cat /proc/uptime > /t\n");
  // A LABEL is not part of a RUN's inputs (as in BuildKit).
  EXPECT_EQ(diff_ids("FROM base/busybox:1\nLABEL a=2\nRUN cat /proc/uptime > /t\n"), base);
  // ENV, WORKDIR, USER and build args are.
  EXPECT_NE(diff_ids("FROM base/busybox:1\nENV X=1\nRUN cat /proc/uptime > /t\n"), base);
  auto with_arg = "FROM base/busybox:1\nARG V\nRUN cat /proc/uptime > /t\n";
  auto a1 = diff_ids(with_arg, {{"V", "1"}});
  EXPECT_EQ(diff_ids(with_arg, {{"V", "1"}}), a1);
  EXPECT_NE(diff_ids(with_arg, {{"V", "2"}}), a1);
}

TEST_F(ExecCache, NoCacheAndNoCacheFilter) {
  std::string df =
      "FROM base/busybox:1 AS one\n"
      "RUN cat /proc/uptime > /a\n"
      "FROM base/busybox:1 AS two\n"
      "COPY --from=one /a /a\n"
      "RUN cat /proc/uptime > /b\n";
  auto first = diff_ids(df);
  no_cache_ = true;
  auto fresh = diff_ids(df);
  EXPECT_EQ(cached_steps(), 0u) << log_;
  EXPECT_NE(fresh[1], first[1]);
  no_cache_ = false;
  // The --no-cache run refreshed the cache: a normal build now reuses it.
  EXPECT_EQ(diff_ids(df), fresh);
  // Only stage "two" ignores the cache: "one" is reused, "two" runs again.
  no_cache_filter_ = {"two"};
  auto filtered = diff_ids(df);
  EXPECT_EQ(filtered[1], fresh[1]);  // COPY of the same /a (stage one cached)
  EXPECT_NE(filtered[2], fresh[2]);  // the RUN of stage two ran
  EXPECT_EQ(cached_steps(), 1u) << log_;
}

TEST_F(ExecCache, SurvivesReopeningTheDatabase) {
  context_file("one.txt", "one\n");
  context_file("two.txt", "two\n");
  auto first = diff_ids(kStampingDockerfile);
  cache_store_ = std::make_unique<BuildCache>(dir_.path() / "cache.db", 0);
  cache_ = cache_store_.get();
  EXPECT_EQ(diff_ids(kStampingDockerfile), first);
  EXPECT_EQ(cached_steps(), 5u);
  auto stats = cache_->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->entries, 5u);
  EXPECT_GT(stats->bytes, 0u);
}

TEST(BuildCacheStore, EvictsLeastRecentlyUsedBeyondTheBound) {
  test_util::TempDir dir{"cache"};
  BuildCache cache(dir.path() / "c.db", 250);
  auto entry = [](char c, std::uint64_t size) {
    CacheEntry e;
    e.layer = LayerBlob{storage::digest_of(std::string(1, c)), size};
    e.diff_id = storage::digest_of(std::string(2, c)).str();
    e.created = "2026-11-27T00:00:00Z";
    return e;
  };
  ASSERT_TRUE(cache.put("a", entry('a', 100), 1));
  ASSERT_TRUE(cache.put("b", entry('b', 100), 2));
  ASSERT_TRUE(cache.lookup("a", 3));  // a is now the most recently used
  ASSERT_TRUE(cache.put("c", entry('c', 100), 4));
  EXPECT_TRUE(*cache.lookup("a", 5));
  EXPECT_FALSE(*cache.lookup("b", 5));  // evicted: least recently used
  EXPECT_TRUE(*cache.lookup("c", 5));
  auto stats = cache.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->entries, 2u);
  EXPECT_EQ(stats->bytes, 200u);
  // An empty-layer entry round-trips without a layer.
  CacheEntry none;
  none.created = "t";
  ASSERT_TRUE(cache.put("n", none, 6));
  auto got = cache.lookup("n", 7);
  ASSERT_TRUE(got && *got);
  EXPECT_FALSE((*got)->layer);
  EXPECT_EQ((*got)->created, "t");
}

// What drydock fsck reads, without the server and without writing: nothing
// before the table exists (and the database file stays without it), then the
// layers of the entries.
TEST(BuildCacheStore, CachedLayersReadsWithoutWriting) {
  test_util::TempDir dir{"cache"};
  const auto db = dir.path() / "c.db";
  {
    storage::sqlite::Connection plain(db, 0);
    plain.exec_or_throw("CREATE TABLE other (x)");
  }
  auto none = cached_layers(db);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  {
    storage::sqlite::Connection plain(db, 0);
    EXPECT_EQ(plain.query_int_or_throw("SELECT count(*) FROM sqlite_master WHERE name = 'build_cache'"),
              0);
  }
  BuildCache cache(db, 0);
  CacheEntry e;
  e.layer = LayerBlob{storage::digest_of("layer"), 5};
  e.diff_id = storage::digest_of("diff").str();
  ASSERT_TRUE(cache.put("k1", e, 1));
  ASSERT_TRUE(cache.put("k2", e, 2));
  ASSERT_TRUE(cache.put("empty", CacheEntry{}, 3));
  auto layers = cached_layers(db);
  ASSERT_TRUE(layers);
  EXPECT_EQ(*layers, std::vector{storage::digest_of("layer")});
}

TEST(CacheKeyTest, PartsAreDelimited) {
  EXPECT_NE(CacheKey("k").add("ab").add("c").str(), CacheKey("k").add("a").add("bc").str());
  EXPECT_EQ(CacheKey("k").add("ab").str(), CacheKey("k").add("ab").str());
  EXPECT_NE(CacheKey("RUN").add("x").str(), CacheKey("COPY").add("x").str());
}

}  // namespace
}  // namespace drydock::builder
