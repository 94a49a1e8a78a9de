#include "auth/rate_limiter.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace drydock::auth {
namespace {

using std::chrono::seconds;

// Stale entries are swept at most this often.
constexpr seconds kPruneInterval{60};
// Beyond this many keys (an attacker cycling through addresses or names),
// the older half of the records is dropped.
constexpr std::size_t kMaxEntries = 100'000;

// base * 2^(extra - 1), capped: the first failure past the free ones waits
// `base`, each further one twice as long.
unsigned delay_seconds(const RateLimit& limit, unsigned failures) {
  if (failures <= limit.free_failures) return 0;
  unsigned extra = failures - limit.free_failures;
  std::uint64_t delay = limit.base_delay_seconds;
  for (unsigned i = 1; i < extra && delay < limit.max_delay_seconds; ++i) delay *= 2;
  return static_cast<unsigned>(std::min<std::uint64_t>(delay, limit.max_delay_seconds));
}

}  // namespace

RateLimiter::RateLimiter(RateLimit limit) : limit_(limit) {}

unsigned RateLimiter::blocked_for(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(key));
  if (it == entries_.end() || now >= it->second.blocked_until) return 0;
  auto left = it->second.blocked_until - now;
  // Round up: "retry in 0 seconds" while still blocked would invite a retry
  // that fails.
  return static_cast<unsigned>(std::chrono::ceil<seconds>(left).count());
}

void RateLimiter::failure(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  prune(now);
  Entry& e = entries_[std::string(key)];
  if (e.failures > 0 && now - e.last_failure >= seconds(limit_.forget_after_seconds)) e = Entry{};
  ++e.failures;
  e.last_failure = now;
  unsigned delay = delay_seconds(limit_, e.failures);
  if (delay > 0) e.blocked_until = now + seconds(delay);
}

void RateLimiter::success(std::string_view key) {
  std::lock_guard lock(mu_);
  entries_.erase(std::string(key));
}

void RateLimiter::prune(Clock::time_point now) {
  bool full = entries_.size() >= kMaxEntries;
  if (!full && now - last_prune_ < kPruneInterval) return;
  last_prune_ = now;
  const seconds forget(limit_.forget_after_seconds);
  std::erase_if(entries_, [&](const auto& kv) {
    return now - kv.second.last_failure >= forget && now >= kv.second.blocked_until;
  });
  if (entries_.size() < kMaxEntries) return;
  // Still full of recent keys: drop the older half (at least; ties at the
  // median go too). Amortised O(1) per failure, since the next sweep of
  // this kind is kMaxEntries / 2 new keys away.
  std::vector<Clock::time_point> times;
  times.reserve(entries_.size());
  for (const auto& kv : entries_) times.push_back(kv.second.last_failure);
  auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), middle, times.end());
  const Clock::time_point cutoff = *middle;
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.last_failure <= cutoff; });
}

}  // namespace drydock::auth
