#include "builder/build_store.hpp"

#include <gtest/gtest.h>

#include "tests/storage/temp_dir.hpp"

namespace drydock::builder {
namespace {

class BuildStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<BuildStore> open() {
    return std::make_unique<BuildStore>(dir_.path() / "metadata.db", dir_.path() / "builds");
  }
  static BuildParams params() {
    BuildParams p;
    p.tags = {"team/app:1", "team/app:latest"};
    p.dockerfile = "docker/Dockerfile";
    p.target = "final";
    p.build_args = {{"VERSION", "1.2"}, {"EMPTY", ""}};
    p.no_cache = true;
    p.user = "alice";
    return p;
  }
  storage::testing::TempDir dir_;
};

TEST_F(BuildStoreTest, StatusNamesRoundTrip) {
  for (auto s : {BuildStatus::kQueued, BuildStatus::kRunning, BuildStatus::kSucceeded,
                 BuildStatus::kFailed, BuildStatus::kCancelled}) {
    EXPECT_EQ(parse_build_status(to_string(s)), s);
  }
  EXPECT_EQ(parse_build_status("done"), std::nullopt);
  EXPECT_FALSE(finished(BuildStatus::kRunning));
  EXPECT_TRUE(finished(BuildStatus::kCancelled));
}

TEST_F(BuildStoreTest, LifecycleAndPersistence) {
  std::string id;
  {
    auto store = open();
    auto made = store->create(params(), 100);
    ASSERT_TRUE(made);
    id = made->id;
    EXPECT_EQ(id.size(), 16u);
    EXPECT_EQ(made->status, BuildStatus::kQueued);
    ASSERT_TRUE(store->mark_running(id, 101));
    EXPECT_FALSE(store->mark_running(id, 102)) << "only a queued build starts";
    ASSERT_TRUE(store->mark_finished(id, BuildStatus::kSucceeded, "sha256:abc", "", 105));
    EXPECT_FALSE(store->mark_finished(id, BuildStatus::kFailed, "", "late", 106))
        << "a finished build stays as it ended";
    EXPECT_EQ(store->log_path(id), dir_.path() / "builds" / (id + ".log"));
  }
  auto store = open();
  auto got = store->get(id);
  ASSERT_TRUE(got && *got);
  const BuildRecord& r = **got;
  EXPECT_EQ(r.params, params());
  EXPECT_EQ(r.status, BuildStatus::kSucceeded);
  EXPECT_EQ(r.created, 100);
  EXPECT_EQ(r.started, 101);
  EXPECT_EQ(r.finished, 105);
  EXPECT_EQ(r.digest, "sha256:abc");
  EXPECT_EQ(store->get("nope").value(), std::nullopt);
}

TEST_F(BuildStoreTest, UnfinishedBuildsFailAtRestartNotSilently) {
  auto store = open();
  auto queued = store->create(params(), 1).value();
  auto running = store->create(params(), 2).value();
  auto done = store->create(params(), 3).value();
  ASSERT_TRUE(store->mark_running(running.id, 2));
  ASSERT_TRUE(store->mark_finished(done.id, BuildStatus::kCancelled, "", "cancelled", 4));
  EXPECT_EQ(store->fail_unfinished("the server stopped during the build", 10).value(), 2u);
  for (const auto& id : {queued.id, running.id}) {
    auto r = store->get(id).value().value();
    EXPECT_EQ(r.status, BuildStatus::kFailed);
    EXPECT_EQ(r.error, "the server stopped during the build");
    EXPECT_EQ(r.finished, 10);
  }
  EXPECT_EQ(store->get(done.id).value()->status, BuildStatus::kCancelled);
}

TEST_F(BuildStoreTest, ListsMostRecentFirst) {
  auto store = open();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(store->create(params(), 10 + i).value().id);
  auto recent = store->list_recent(3).value();
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].id, ids[4]);
  EXPECT_EQ(recent[2].id, ids[2]);
  EXPECT_FALSE(store->mark_finished(ids[0], BuildStatus::kRunning, "", "", 1))
      << "running is not a finished status";
}

}  // namespace
}  // namespace drydock::builder
