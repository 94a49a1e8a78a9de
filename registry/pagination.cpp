#include "registry/pagination.hpp"

#include <string>

namespace drydock::registry {

std::expected<Page, Error> parse_page(const Query& q) {
  Page page;
  if (const auto n = q.get("n")) {
    // Digits only: no sign, no blanks, no empty value.
    if (n->empty() || n->find_first_not_of("0123456789") != std::string::npos) {
      return std::unexpected(Error{.code = ErrorCode::kPaginationInvalid,
                                   .message = "n must be a non-negative integer"});
    }
    // Parse with saturation: any value beyond kMaxPageSize (even one that
    // would overflow) is clamped rather than rejected.
    std::size_t value = 0;
    for (const char c : *n) {
      value = value * 10 + static_cast<std::size_t>(c - '0');
      if (value > kMaxPageSize) {
        value = kMaxPageSize;
        break;
      }
    }
    page.limit = value;
  }
  if (auto last = q.get("last")) page.last = std::move(*last);
  return page;
}

std::string next_link(std::string_view path, std::size_t n, std::string_view last) {
  // Accept "<name>/tags/list", "/<name>/tags/list" or "/v2/<name>/tags/list".
  if (path.starts_with("/v2/")) {
    path.remove_prefix(4);
  } else if (path.starts_with('/')) {
    path.remove_prefix(1);
  }
  std::string link = "</v2/";
  link.append(path);
  link.append("?n=").append(std::to_string(n));
  link.append("&last=").append(url_encode(last));
  link.append(">; rel=\"next\"");
  return link;
}

}  // namespace drydock::registry
