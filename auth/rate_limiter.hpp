#pragma once

// Slows down password guessing: failed logins are counted per key (a user
// name, a client address), and a key that failed too often is refused for a
// while before its credentials are even checked.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace drydock::auth {

struct RateLimit {
  unsigned free_failures = 5;       // failures allowed before any wait
  unsigned base_delay_seconds = 1;  // first wait; doubles per further failure
  unsigned max_delay_seconds = 300;
  unsigned forget_after_seconds = 900;  // a key with no failure this long starts over
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(RateLimit limit = {});

  // 0 if `key` may try now, else the seconds until it may (for Retry-After).
  unsigned blocked_for(std::string_view key, Clock::time_point now = Clock::now());
  // Records a failed attempt by `key`.
  void failure(std::string_view key, Clock::time_point now = Clock::now());
  // A success clears `key`'s record.
  void success(std::string_view key);

 private:
  struct Entry {
    unsigned failures = 0;
    Clock::time_point last_failure;
    Clock::time_point blocked_until;
  };
  void prune(Clock::time_point now);

  RateLimit limit_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  Clock::time_point last_prune_{};
};

}  // namespace drydock::auth
