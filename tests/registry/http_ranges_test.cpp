#include "registry/http_ranges.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace drydock::registry {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

TEST(ByteRange, Length) {
  EXPECT_EQ((ByteRange{0, 0}.length()), 1u);
  EXPECT_EQ((ByteRange{0, 1023}.length()), 1024u);
  EXPECT_EQ((ByteRange{10, 19}.length()), 10u);
}

struct ContentRangeCase {
  std::string input;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> want;
};

TEST(ParseContentRange, Table) {
  using P = std::pair<std::uint64_t, std::uint64_t>;
  const std::vector<ContentRangeCase> cases = {
      {"0-1023", P{0, 1023}},
      {"0-0", P{0, 0}},
      {"1024-2047", P{1024, 2047}},
      {"007-009", P{7, 9}},
      {"  5-9\t", P{5, 9}},
      {"bytes 0-1023", P{0, 1023}},
      {"bytes=0-1023", P{0, 1023}},
      {"Bytes 0-1023", P{0, 1023}},
      {"bytes 0-1023/*", P{0, 1023}},
      {"bytes 0-1023/1024", P{0, 1023}},
      {"0-1023/4096", P{0, 1023}},
      {"18446744073709551614-18446744073709551615", P{kMax - 1, kMax}},
      {"", std::nullopt},
      {"-", std::nullopt},
      {"5", std::nullopt},
      {"5-", std::nullopt},
      {"-5", std::nullopt},
      {"9-5", std::nullopt},  // last before first
      {"a-b", std::nullopt},
      {"0x10-0x20", std::nullopt},
      {"+1-2", std::nullopt},
      {"1--2", std::nullopt},
      {"1-2-3", std::nullopt},
      {"1 - 2", std::nullopt},
      {"1-2,3-4", std::nullopt},
      {"bytes", std::nullopt},
      {"bytes ", std::nullopt},
      {"bytes=", std::nullopt},
      {"items 0-5", std::nullopt},
      {"bytesx0-5", std::nullopt},
      {"0-1023/1023", std::nullopt},  // total must exceed last
      {"0-1023/", std::nullopt},
      {"0-1023/abc", std::nullopt},
      {"0-1023/*x", std::nullopt},
      {"18446744073709551616-18446744073709551617", std::nullopt},  // 2^64: overflow
      {"0-18446744073709551616", std::nullopt},
      {"0-99999999999999999999999999999999999999", std::nullopt},
      {"0-1023/99999999999999999999999999", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto r = parse_content_range(c.input);
    ASSERT_EQ(r.has_value(), c.want.has_value()) << "input: '" << c.input << "'";
    if (r) {
      EXPECT_EQ(r->first, c.want->first) << c.input;
      EXPECT_EQ(r->last, c.want->second) << c.input;
    }
  }
}

struct RangeCase {
  std::string header;
  std::uint64_t size;
  RangeResult result;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

void expect_ranges(const std::vector<RangeCase>& cases) {
  for (const RangeCase& c : cases) {
    const RangeRequest r = parse_range(c.header, c.size);
    EXPECT_EQ(r.result, c.result) << "'" << c.header << "' size " << c.size;
    if (c.result == RangeResult::kSatisfiable && r.result == RangeResult::kSatisfiable) {
      EXPECT_EQ(r.range.first, c.first) << c.header << " size " << c.size;
      EXPECT_EQ(r.range.last, c.last) << c.header << " size " << c.size;
    }
  }
}

TEST(ParseRange, Satisfiable) {
  expect_ranges({
      {"bytes=0-99", 1000, RangeResult::kSatisfiable, 0, 99},
      {"bytes=0-0", 1000, RangeResult::kSatisfiable, 0, 0},
      {"bytes=500-999", 1000, RangeResult::kSatisfiable, 500, 999},
      {"bytes=500-5000", 1000, RangeResult::kSatisfiable, 500, 999},  // last clamped
      {"bytes=999-999", 1000, RangeResult::kSatisfiable, 999, 999},
      {"bytes=500-", 1000, RangeResult::kSatisfiable, 500, 999},
      {"bytes=0-", 1000, RangeResult::kSatisfiable, 0, 999},
      {"bytes=0-", 1, RangeResult::kSatisfiable, 0, 0},
      {"bytes=-100", 1000, RangeResult::kSatisfiable, 900, 999},
      {"bytes=-1000", 1000, RangeResult::kSatisfiable, 0, 999},
      {"bytes=-5000", 1000, RangeResult::kSatisfiable, 0, 999},
      {"bytes=-1", 1, RangeResult::kSatisfiable, 0, 0},
      {"BYTES=1-2", 10, RangeResult::kSatisfiable, 1, 2},  // units are case-insensitive
      {"  bytes=1-2  ", 10, RangeResult::kSatisfiable, 1, 2},
      {"bytes= 1-2", 10, RangeResult::kSatisfiable, 1, 2},
  });
}

TEST(ParseRange, Unsatisfiable) {
  expect_ranges({
      {"bytes=1000-", 1000, RangeResult::kUnsatisfiable},
      {"bytes=1000-2000", 1000, RangeResult::kUnsatisfiable},
      {"bytes=5000-", 1000, RangeResult::kUnsatisfiable},
      {"bytes=-0", 1000, RangeResult::kUnsatisfiable},
      {"bytes=0-", 0, RangeResult::kUnsatisfiable},
      {"bytes=0-0", 0, RangeResult::kUnsatisfiable},
      {"bytes=0-10", 0, RangeResult::kUnsatisfiable},
      {"bytes=-0", 0, RangeResult::kUnsatisfiable},
  });
}

TEST(ParseRange, MalformedRanges) {
  expect_ranges({
      {"bytes=", 1000, RangeResult::kMalformed},
      {"bytes=-", 1000, RangeResult::kMalformed},
      {"bytes=abc", 1000, RangeResult::kMalformed},
      {"bytes=5", 1000, RangeResult::kMalformed},
      {"bytes=9-5", 1000, RangeResult::kMalformed},
      {"bytes=1-2x", 1000, RangeResult::kMalformed},
      {"bytes=--5", 1000, RangeResult::kMalformed},
      {"bytes=-5-", 1000, RangeResult::kMalformed},
      {"bytes=+1-2", 1000, RangeResult::kMalformed},
      {"bytes=1 -2", 1000, RangeResult::kMalformed},
      {"bytes=0x1-2", 1000, RangeResult::kMalformed},
      {"0-99", 1000, RangeResult::kMalformed},  // no unit at all
      {"bytes 0-99", 1000, RangeResult::kMalformed},
  });
}

TEST(ParseRange, NoneWhenAbsentUnknownUnitOrMultiple) {
  expect_ranges({
      {"", 1000, RangeResult::kNone},
      {"   ", 1000, RangeResult::kNone},
      {"items=0-5", 1000, RangeResult::kNone},
      {"bytes=0-1,5-6", 1000, RangeResult::kNone},
      {"bytes=0-1, -5", 1000, RangeResult::kNone},
      {"bytes=0-1,", 1000, RangeResult::kNone},
      // A zero-length blob has no last byte: a suffix range gets the whole
      // (empty) body, as RFC 9110 permits.
      {"bytes=-5", 0, RangeResult::kNone},
  });
}

TEST(ParseRange, HugeNumbersDoNotOverflow) {
  const std::string big = "99999999999999999999999999999999";
  expect_ranges({
      {"bytes=" + big + "-", 1000, RangeResult::kUnsatisfiable},
      {"bytes=" + big + "-" + big, 1000, RangeResult::kUnsatisfiable},
      {"bytes=0-" + big, 1000, RangeResult::kSatisfiable, 0, 999},
      {"bytes=10-18446744073709551615", 1000, RangeResult::kSatisfiable, 10, 999},
      {"bytes=-" + big, 1000, RangeResult::kSatisfiable, 0, 999},
      {"bytes=-18446744073709551615", kMax, RangeResult::kSatisfiable, 0, kMax - 1},
      {"bytes=0-", kMax, RangeResult::kSatisfiable, 0, kMax - 1},
      {"bytes=18446744073709551614-", kMax, RangeResult::kSatisfiable, kMax - 1, kMax - 1},
      {"bytes=18446744073709551615-", kMax, RangeResult::kUnsatisfiable},
      {"bytes=" + big + "-5", 1000, RangeResult::kMalformed},  // last < first
  });
}

}  // namespace
}  // namespace drydock::registry
