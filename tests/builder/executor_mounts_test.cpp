// RUN --mount with real runc steps: secrets, cache directories, bind mounts
// and tmpfs are there during the step and nowhere in the image.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "builder/build_cache.hpp"
#include "tests/builder/executor_test_util.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using test_util::ExecFixture;

class ExecMounts : public ExecFixture {
 protected:
  std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Whether any blob in the store holds `text` (layers are gzip: this checks
  // the uncompressed layers through flatten, and configs as they are).
  bool config_or_history_has(const std::string& text) {
    return config_.dump().find(text) != std::string::npos;
  }
};

constexpr const char* kSecret = "s3cret-value-0123456789";

TEST_F(ExecMounts, SecretIsThereOnlyDuringItsStep) {
  secrets_ = {{"tok", kSecret}};
  auto r = build(
      "FROM base/busybox:1\n"
      // The check names only part of the value: the whole of it must appear
      // nowhere in the image (the RUN line itself goes into the history).
      "RUN --mount=type=secret,id=tok grep -q value-0123 /run/secrets/tok && echo secret-ok && "
      "touch /made\n"
      "RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0440,uid=1000 stat -c '%a %u' /etc/tok\n"
      "RUN test ! -e /run/secrets/tok && test ! -e /etc/tok && echo gone-after\n"
      "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo optional-ok\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_NE(log_.find("secret-ok"), std::string::npos) << log_;
  EXPECT_NE(log_.find("440 1000"), std::string::npos) << log_;
  EXPECT_NE(log_.find("gone-after"), std::string::npos) << log_;
  EXPECT_NE(log_.find("optional-ok"), std::string::npos) << log_;
  fs::path flat = flatten(*r);
  EXPECT_TRUE(fs::exists(flat / "made"));
  EXPECT_FALSE(fs::exists(flat / "run/secrets/tok"));
  EXPECT_FALSE(fs::exists(flat / "etc/tok"));
  EXPECT_FALSE(config_or_history_has(kSecret));
  // Nothing of the secret is left in the work dir either.
  EXPECT_TRUE(fs::is_empty(dir_.path() / "work"));

  auto missing = build("FROM base/busybox:1\nRUN --mount=type=secret,id=nope,required=true true\n");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().to_string().find("\"nope\" is required"), std::string::npos)
      << missing.error().to_string();
}

TEST_F(ExecMounts, CacheDirectoryPersistsAcrossBuildsAndStaysOutOfTheImage) {
  std::string df =
      "FROM base/busybox:1\n"
      "RUN --mount=type=cache,target=/var/cache/app sh -c "
      "'echo run >> /var/cache/app/runs; echo runs=$(wc -l < /var/cache/app/runs)'\n";
  auto first = build(df);
  ASSERT_TRUE(first) << first.error().to_string() << log_;
  EXPECT_NE(log_.find("runs=1"), std::string::npos) << log_;
  auto second = build(df);  // no step cache here: the RUN runs again
  ASSERT_TRUE(second) << second.error().to_string() << log_;
  EXPECT_NE(log_.find("runs=2"), std::string::npos) << log_;
  fs::path flat = flatten(*second);
  EXPECT_FALSE(fs::exists(flat / "var/cache/app/runs"));
  // Another id is another directory.
  auto other = build(
      "FROM base/busybox:1\n"
      "RUN --mount=type=cache,id=other,target=/var/cache/app sh -c "
      "'echo run >> /var/cache/app/runs; echo runs=$(wc -l < /var/cache/app/runs)'\n");
  ASSERT_TRUE(other);
  EXPECT_NE(log_.find("runs=1"), std::string::npos) << log_;
}

TEST_F(ExecMounts, BindMountsFromContextAndStageAreReadOnlyInputs) {
  context_file("data.txt", "from-the-context\n");
  auto r = build(
      "FROM base/busybox:1 AS gen\n"
      "RUN echo from-a-stage > /out.txt\n"
      "FROM base/busybox:1\n"
      "RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt\n"
      "RUN --mount=type=bind,from=gen,source=/out.txt,target=/in.txt cat /in.txt\n"
      "RUN --mount=type=bind,target=/ctx if touch /ctx/x 2>/dev/null; then echo WRITABLE; "
      "else echo read-only; fi\n"
      "RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/new.txt && echo rw-ok\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_NE(log_.find("from-the-context"), std::string::npos) << log_;
  EXPECT_NE(log_.find("from-a-stage"), std::string::npos) << log_;
  EXPECT_NE(log_.find("read-only"), std::string::npos) << log_;
  EXPECT_NE(log_.find("rw-ok"), std::string::npos) << log_;
  EXPECT_FALSE(fs::exists(dir_.path() / "ctx" / "new.txt"));  // rw writes are thrown away
  fs::path flat = flatten(*r);
  EXPECT_FALSE(fs::exists(flat / "mnt/data.txt"));
  EXPECT_FALSE(fs::exists(flat / "in.txt"));
  EXPECT_FALSE(fs::exists(flat / "ctx"));
  auto missing = build("FROM base/busybox:1\nRUN --mount=type=bind,source=nothere,target=/x true\n");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, BuildErrc::kContext) << missing.error().to_string();
}

TEST_F(ExecMounts, BoundContentIsPartOfTheCacheKey) {
  BuildCache cache(dir_.path() / "cache.db", 0);
  cache_ = &cache;
  std::string df =
      "FROM base/busybox:1\n"
      "RUN --mount=type=bind,source=data.txt,target=/d cat /d /proc/uptime > /copy\n";
  context_file("data.txt", "one\n");
  auto a = build(df);
  ASSERT_TRUE(a) << log_;
  auto b = build(df);
  ASSERT_TRUE(b);
  EXPECT_NE(log_.find("CACHED"), std::string::npos) << log_;
  context_file("data.txt", "two\n");
  auto c = build(df);
  ASSERT_TRUE(c);
  EXPECT_EQ(log_.find("CACHED"), std::string::npos) << log_;
  // A secret's value is not: changing it keeps the cache (as BuildKit).
  secrets_ = {{"tok", "first-value"}};
  std::string sdf = "FROM base/busybox:1\nRUN --mount=type=secret,id=tok cat /proc/uptime > /t\n";
  ASSERT_TRUE(build(sdf));
  secrets_ = {{"tok", "second-value"}};
  ASSERT_TRUE(build(sdf));
  EXPECT_NE(log_.find("CACHED"), std::string::npos) << log_;
}

TEST_F(ExecMounts, TmpfsAndUnsupportedTypes) {
  auto r = build(
      "FROM base/busybox:1\n"
      "RUN --mount=type=tmpfs,target=/scratch,size=1048576 sh -c "
      "'echo x > /scratch/f && grep \" /scratch tmpfs \" /proc/mounts && echo tmpfs-ok'\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_NE(log_.find("tmpfs-ok"), std::string::npos) << log_;
  EXPECT_FALSE(fs::exists(flatten(*r) / "scratch/f"));
  auto ssh = build("FROM base/busybox:1\nRUN --mount=type=ssh true\n");
  ASSERT_FALSE(ssh);
  EXPECT_NE(ssh.error().to_string().find("type=ssh is not supported"), std::string::npos);
  auto bad = build("FROM base/busybox:1\nRUN --mount=type=cache,target=/c,sharing=weird true\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().to_string().find("sharing"), std::string::npos);
}

}  // namespace
}  // namespace drydock::builder
