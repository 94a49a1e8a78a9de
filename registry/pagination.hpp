#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "registry/errors.hpp"
#include "registry/route.hpp"

namespace drydock::registry {

inline constexpr std::size_t kDefaultPageSize = 1000;
inline constexpr std::size_t kMaxPageSize = 10000;

struct Page {
  std::size_t limit = kDefaultPageSize;
  std::string last;  // exclusive lower bound; empty: from the start
};

// Reads `n` and `last` (distribution-spec "Listing Tags"/catalog). `n` must be
// a non-negative integer; values above kMaxPageSize are clamped. n=0 gives an
// empty list. Error kPaginationInvalid for a non-numeric n.
std::expected<Page, Error> parse_page(const Query& q);

// The RFC 8288 Link header for the next page:
//   </v2/<path>?n=<n>&last=<last>>; rel="next"
std::string next_link(std::string_view path, std::size_t n, std::string_view last);

}  // namespace drydock::registry
