#pragma once

#include <chrono>
#include <cstdint>

namespace drydock::storage {

// Seconds since the Unix epoch: the time stored in `created` columns.
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace drydock::storage
