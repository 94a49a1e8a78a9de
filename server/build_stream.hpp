#pragma once
// What the two build endpoints that follow a log (/builds/<id>/logs and the
// Engine API's /build) share: how much they read at once, how often they
// look again, and how long a cancel may take.

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace drydock::server {

inline constexpr std::size_t kLogPiece = 64 * 1024;
inline constexpr std::chrono::milliseconds kCancelWait(15000);

// The wait before reading a build's log again: quick at first and after
// each new piece (a cached build ends within milliseconds), backing off to
// 200 ms while the log is quiet.
class LogPoll {
 public:
  void reset() { wait_ = kMin; }
  std::chrono::milliseconds next() {
    auto w = wait_;
    wait_ = std::min(wait_ * 2, kMax);
    return w;
  }

 private:
  static constexpr std::chrono::milliseconds kMin{5};
  static constexpr std::chrono::milliseconds kMax{200};
  std::chrono::milliseconds wait_ = kMin;
};

}  // namespace drydock::server
