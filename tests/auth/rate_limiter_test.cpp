#include "auth/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace drydock::auth {
namespace {

using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1000);

// Records `n` failures of `key` at `at`.
void fail_times(RateLimiter& rl, std::string_view key, unsigned n, Clock::time_point at) {
  for (unsigned i = 0; i < n; ++i) rl.failure(key, at);
}

TEST(RateLimiter, FreeFailuresDoNotBlock) {
  RateLimiter rl(RateLimit{5, 1, 300, 900});
  EXPECT_EQ(rl.blocked_for("alice", kT0), 0u);
  fail_times(rl, "alice", 5, kT0);
  EXPECT_EQ(rl.blocked_for("alice", kT0), 0u);
}

TEST(RateLimiter, DelayStartsAtBaseAndDoubles) {
  RateLimiter rl(RateLimit{5, 1, 300, 900});
  fail_times(rl, "alice", 5, kT0);
  Clock::time_point t = kT0;
  for (unsigned expected : {1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u, 300u, 300u, 300u}) {
    rl.failure("alice", t);
    EXPECT_EQ(rl.blocked_for("alice", t), expected);
    t += seconds(expected);  // waits it out, then fails again
    EXPECT_EQ(rl.blocked_for("alice", t), 0u);
  }
}

TEST(RateLimiter, BaseDelayScales) {
  RateLimiter rl(RateLimit{0, 3, 20, 900});
  rl.failure("k", kT0);
  EXPECT_EQ(rl.blocked_for("k", kT0), 3u);
  rl.failure("k", kT0);
  EXPECT_EQ(rl.blocked_for("k", kT0), 6u);
  rl.failure("k", kT0);
  EXPECT_EQ(rl.blocked_for("k", kT0), 12u);
  rl.failure("k", kT0);
  EXPECT_EQ(rl.blocked_for("k", kT0), 20u);  // capped
}

TEST(RateLimiter, RemainingTimeRoundsUp) {
  RateLimiter rl(RateLimit{0, 2, 300, 900});
  rl.failure("k", kT0);
  EXPECT_EQ(rl.blocked_for("k", kT0), 2u);
  EXPECT_EQ(rl.blocked_for("k", kT0 + milliseconds(1)), 2u);
  EXPECT_EQ(rl.blocked_for("k", kT0 + milliseconds(1000)), 1u);
  EXPECT_EQ(rl.blocked_for("k", kT0 + milliseconds(1999)), 1u);
  EXPECT_EQ(rl.blocked_for("k", kT0 + milliseconds(2000)), 0u);
  EXPECT_EQ(rl.blocked_for("k", kT0 + seconds(100)), 0u);
}

TEST(RateLimiter, SuccessClearsTheRecord) {
  RateLimiter rl(RateLimit{2, 1, 300, 900});
  fail_times(rl, "k", 4, kT0);
  EXPECT_GT(rl.blocked_for("k", kT0), 0u);
  rl.success("k");
  EXPECT_EQ(rl.blocked_for("k", kT0), 0u);
  fail_times(rl, "k", 2, kT0);  // free again
  EXPECT_EQ(rl.blocked_for("k", kT0), 0u);
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter rl(RateLimit{1, 1, 300, 900});
  fail_times(rl, "user:alice", 3, kT0);
  EXPECT_GT(rl.blocked_for("user:alice", kT0), 0u);
  EXPECT_EQ(rl.blocked_for("user:bob", kT0), 0u);
  EXPECT_EQ(rl.blocked_for("addr:10.0.0.1", kT0), 0u);
}

TEST(RateLimiter, ForgetsAfterAQuietPeriod) {
  RateLimiter rl(RateLimit{3, 1, 300, 900});
  fail_times(rl, "k", 3, kT0);
  // 899 s later the count still stands: the next failure blocks.
  rl.failure("k", kT0 + seconds(899));
  EXPECT_EQ(rl.blocked_for("k", kT0 + seconds(899)), 1u);
  // 900 s after the last failure the key starts over: three free ones again.
  Clock::time_point later = kT0 + seconds(899 + 900);
  fail_times(rl, "k", 3, later);
  EXPECT_EQ(rl.blocked_for("k", later), 0u);
  rl.failure("k", later);
  EXPECT_EQ(rl.blocked_for("k", later), 1u);
}

TEST(RateLimiter, PruningKeepsBlockedKeys) {
  RateLimiter rl(RateLimit{0, 300, 300, 60});
  rl.failure("blocked", kT0);
  // A failure of another key much later triggers a sweep; "blocked" has been
  // quiet for longer than forget_after but is still serving its delay.
  rl.failure("other", kT0 + seconds(100));
  EXPECT_EQ(rl.blocked_for("blocked", kT0 + seconds(100)), 200u);
}

TEST(RateLimiter, StaysBoundedUnderAFloodOfKeys) {
  RateLimiter rl(RateLimit{0, 60, 60, 900});
  Clock::time_point t = kT0;
  for (int i = 0; i < 150'000; ++i) {
    rl.failure("addr:" + std::to_string(i), t);
    t += milliseconds(1);
  }
  // The newest keys survive whatever was dropped to make room.
  EXPECT_GT(rl.blocked_for("addr:149999", t), 0u);
  EXPECT_GT(rl.blocked_for("addr:140000", t), 0u);
  rl.failure("late", t);
  EXPECT_EQ(rl.blocked_for("late", t), 60u);
}

TEST(RateLimiter, DefaultsMatchTheHeader) {
  RateLimiter rl;
  fail_times(rl, "k", 5, kT0);
  EXPECT_EQ(rl.blocked_for("k", kT0), 0u);
  rl.failure("k", kT0);
  EXPECT_EQ(rl.blocked_for("k", kT0), 1u);
}

}  // namespace
}  // namespace drydock::auth
