#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace drydock::storage {

// Seconds since the Unix epoch: the time stored in `created` columns.
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `t` (Unix seconds) as RFC 3339 UTC: "2026-11-27T08:00:00Z".
inline std::string rfc3339_utc(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace drydock::storage
