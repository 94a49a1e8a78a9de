#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace drydock::registry {

// Inclusive byte range [first, last].
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
};

// Parses an upload chunk's Content-Range, "<first>-<last>" (distribution-spec
// "Pushing a blob in chunks"); a leading "bytes " or "bytes=" is tolerated.
std::optional<ByteRange> parse_content_range(std::string_view v);

enum class RangeResult { kNone, kSatisfiable, kUnsatisfiable, kMalformed };
struct RangeRequest {
  RangeResult result = RangeResult::kNone;
  ByteRange range;
};
// Parses a GET Range header against a blob of `size` bytes (RFC 9110 14.2):
// "bytes=a-b", "bytes=a-", "bytes=-n". Multiple ranges are not supported and
// are treated as kNone (the whole blob is sent, which RFC 9110 permits).
RangeRequest parse_range(std::string_view v, std::uint64_t size);

}  // namespace drydock::registry
