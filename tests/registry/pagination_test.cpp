#include "registry/pagination.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drydock::registry {
namespace {

TEST(ParsePage, Defaults) {
  const auto p = parse_page(Query::parse(""));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->limit, kDefaultPageSize);
  EXPECT_EQ(p->last, "");
}

TEST(ParsePage, ValidN) {
  struct Case {
    std::string query;
    std::size_t limit;
  };
  const std::vector<Case> cases = {
      {"n=0", 0},
      {"n=1", 1},
      {"n=50", 50},
      {"n=007", 7},
      {"n=10000", kMaxPageSize},
      {"n=10001", kMaxPageSize},
      {"n=999999999999999999999999999999999999", kMaxPageSize},  // clamped, no overflow
      {"n=5&n=abc", 5},                                          // the first value counts
      {"last=x&n=3", 3},
  };
  for (const Case& c : cases) {
    const auto p = parse_page(Query::parse(c.query));
    ASSERT_TRUE(p.has_value()) << c.query;
    EXPECT_EQ(p->limit, c.limit) << c.query;
  }
}

TEST(ParsePage, InvalidN) {
  for (const char* query : {"n=", "n", "n=-1", "n=+5", "n=abc", "n=1.5", "n=1e3", "n=%20", "n=5%20",
                            "n=0x10", "n=%zz", "n=1,2"}) {
    const auto p = parse_page(Query::parse(query));
    ASSERT_FALSE(p.has_value()) << query;
    EXPECT_EQ(p.error().code, ErrorCode::kPaginationInvalid) << query;
  }
}

TEST(ParsePage, Last) {
  auto p = parse_page(Query::parse("n=10&last=v1.2.3"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->limit, 10u);
  EXPECT_EQ(p->last, "v1.2.3");

  p = parse_page(Query::parse("last=library%2Fubuntu"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->limit, kDefaultPageSize);
  EXPECT_EQ(p->last, "library/ubuntu");

  p = parse_page(Query::parse("last="));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->last, "");
}

TEST(NextLink, Format) {
  EXPECT_EQ(next_link("foo/tags/list", 100, "v1"),
            "</v2/foo/tags/list?n=100&last=v1>; rel=\"next\"");
  EXPECT_EQ(next_link("_catalog", 2, "library/ubuntu"),
            "</v2/_catalog?n=2&last=library%2Fubuntu>; rel=\"next\"");
  EXPECT_EQ(next_link("a/b/tags/list", 0, ""), "</v2/a/b/tags/list?n=0&last=>; rel=\"next\"");
}

TEST(NextLink, EncodesLast) {
  EXPECT_EQ(next_link("x/tags/list", 1, "a b&c=d>"),
            "</v2/x/tags/list?n=1&last=a%20b%26c%3Dd%3E>; rel=\"next\"");
}

TEST(NextLink, ToleratesLeadingSlashOrV2Prefix) {
  const std::string want = "</v2/foo/tags/list?n=5&last=t>; rel=\"next\"";
  EXPECT_EQ(next_link("/foo/tags/list", 5, "t"), want);
  EXPECT_EQ(next_link("/v2/foo/tags/list", 5, "t"), want);
  // A repository that happens to be called "v2/..." is left alone.
  EXPECT_EQ(next_link("v2/foo/tags/list", 5, "t"),
            "</v2/v2/foo/tags/list?n=5&last=t>; rel=\"next\"");
}

TEST(NextLink, RoundTripsThroughParsePage) {
  const std::string last = "we ird/+&=tag";
  const std::string link = next_link("r/tags/list", 7, last);
  const std::size_t q = link.find('?');
  const std::size_t end = link.find('>');
  ASSERT_NE(q, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const auto p = parse_page(Query::parse(link.substr(q + 1, end - q - 1)));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->limit, 7u);
  EXPECT_EQ(p->last, last);
}

}  // namespace
}  // namespace drydock::registry
