#include "registry/route.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drydock::registry {
namespace {

const std::string kDigest =
    "sha256:6f4e69a5ff18d92e7315e3ee31c62165ebf25bfa05cad05c0d09d8f412dae401";

struct RouteCase {
  std::string path;
  Endpoint endpoint;
  std::string name;
  std::string reference;
};

void expect_routes(const std::vector<RouteCase>& cases) {
  for (const RouteCase& c : cases) {
    const Route r = parse_route(c.path);
    EXPECT_EQ(r.endpoint, c.endpoint) << "path: " << c.path;
    EXPECT_EQ(r.name, c.name) << "path: " << c.path;
    EXPECT_EQ(r.reference, c.reference) << "path: " << c.path;
  }
}

TEST(ParseRoute, Endpoints) {
  expect_routes({
      {"/v2", Endpoint::kBase, "", ""},
      {"/v2/", Endpoint::kBase, "", ""},
      {"/v2/_catalog", Endpoint::kCatalog, "", ""},
      {"/v2/foo/tags/list", Endpoint::kTags, "foo", ""},
      {"/v2/library/ubuntu/tags/list", Endpoint::kTags, "library/ubuntu", ""},
      {"/v2/foo/manifests/latest", Endpoint::kManifest, "foo", "latest"},
      {"/v2/a/b/c/manifests/" + kDigest, Endpoint::kManifest, "a/b/c", kDigest},
      {"/v2/foo/blobs/" + kDigest, Endpoint::kBlob, "foo", kDigest},
      {"/v2/foo/blobs/uploads/", Endpoint::kUploads, "foo", ""},
      {"/v2/foo/blobs/uploads", Endpoint::kUploads, "foo", ""},
      {"/v2/foo/blobs/uploads/3f2a-11", Endpoint::kUpload, "foo", "3f2a-11"},
      {"/v2/a/b/blobs/uploads/id", Endpoint::kUpload, "a/b", "id"},
      {"/v2/foo/referrers/" + kDigest, Endpoint::kReferrers, "foo", kDigest},
  });
}

// Names may contain the marker words as components; the path is split at the
// last marker, i.e. the right end decides.
TEST(ParseRoute, MarkerWordsInsideNames) {
  expect_routes({
      {"/v2/a/blobs/b/blobs/" + kDigest, Endpoint::kBlob, "a/blobs/b", kDigest},
      {"/v2/blobs/blobs/x", Endpoint::kBlob, "blobs", "x"},
      {"/v2/manifests/manifests/latest", Endpoint::kManifest, "manifests", "latest"},
      {"/v2/a/manifests/b/manifests/t", Endpoint::kManifest, "a/manifests/b", "t"},
      {"/v2/a/manifests/x/blobs/d", Endpoint::kBlob, "a/manifests/x", "d"},
      {"/v2/tags/tags/list", Endpoint::kTags, "tags", ""},
      {"/v2/a/tags/list/tags/list", Endpoint::kTags, "a/tags/list", ""},
      {"/v2/a/manifests/tags/list", Endpoint::kTags, "a/manifests", ""},
      {"/v2/a/tags/manifests/list", Endpoint::kManifest, "a/tags", "list"},
      {"/v2/uploads/blobs/uploads/", Endpoint::kUploads, "uploads", ""},
      {"/v2/a/blobs/uploads/blobs/uploads/x", Endpoint::kUpload, "a/blobs/uploads", "x"},
      {"/v2/a/blobs/uploads/blobs/" + kDigest, Endpoint::kBlob, "a/blobs/uploads", kDigest},
      {"/v2/a/referrers/b/referrers/d", Endpoint::kReferrers, "a/referrers/b", "d"},
      {"/v2/_catalog/tags/list", Endpoint::kTags, "_catalog", ""},  // name checked later
      {"/v2/a/manifests/blobs", Endpoint::kManifest, "a", "blobs"},
  });
}

TEST(ParseRoute, Unknown) {
  for (const char* path : {
           "",
           "/",
           "/v1/foo/manifests/latest",
           "/v2x",
           "/v20/foo/tags/list",
           "/V2/foo/tags/list",
           "v2/foo/tags/list",
           "/v2/_catalog/",
           "/v2/foo",
           "/v2/foo/",
           "/v2/foo/bar",
           "/v2/tags/list",          // no name
           "/v2//tags/list",         // empty name
           "/v2/manifests/latest",   // no name
           "/v2//manifests/latest",  // empty name
           "/v2/blobs/uploads/",     // no name
           "/v2/blobs/uploads/x",    // no name
           "/v2/foo/tags/list/",     // trailing slash
           "/v2/foo/tags",
           "/v2/foo/manifests/",  // empty reference
           "/v2/foo/manifests",
           "/v2/foo/blobs/",
           "/v2/foo/blobs",
           "/v2/foo/referrers/",
           "/v2/foo/blobs/uploads/id/",  // extra trailing slash
           "/v2/foo/manifests/a/b",      // references never contain '/'
           "/v2/foo/uploads/x",          // uploads only under blobs
       }) {
    const Route r = parse_route(path);
    EXPECT_EQ(r.endpoint, Endpoint::kUnknown) << "path: " << path;
    EXPECT_TRUE(r.name.empty()) << "path: " << path;
  }
}

// Double slashes and dot segments are not cleaned up: they end up in the name,
// where valid_repository_name rejects them (NAME_INVALID, not a 404).
TEST(ParseRoute, OddNamesArePassedThroughForValidation) {
  expect_routes({
      {"/v2/a//b/tags/list", Endpoint::kTags, "a//b", ""},
      {"/v2/a//tags/list", Endpoint::kTags, "a/", ""},
      {"/v2//a/tags/list", Endpoint::kTags, "/a", ""},
      {"/v2/../etc/manifests/latest", Endpoint::kManifest, "../etc", "latest"},
      {"/v2/Foo/manifests/Latest", Endpoint::kManifest, "Foo", "Latest"},
      {"/v2/caf\xc3\xa9/manifests/x", Endpoint::kManifest, "caf\xc3\xa9", "x"},
  });
}

TEST(ParseRoute, LongPath) {
  const std::string name(100'000, 'a');
  const Route r = parse_route("/v2/" + name + "/manifests/latest");
  EXPECT_EQ(r.endpoint, Endpoint::kManifest);
  EXPECT_EQ(r.name, name);
  EXPECT_EQ(parse_route("/v2/" + std::string(100'000, '/')).endpoint, Endpoint::kUnknown);
}

TEST(Query, ParsesAndDecodes) {
  const Query q = Query::parse("a=1&b=x%2Fy&c&d=&e=hello+world&f=%3D%26&g=1=2");
  EXPECT_EQ(q.get("a"), "1");
  EXPECT_EQ(q.get("b"), "x/y");
  EXPECT_TRUE(q.has("c"));
  EXPECT_EQ(q.get("c"), "");
  EXPECT_EQ(q.get("d"), "");
  EXPECT_EQ(q.get("e"), "hello world");
  EXPECT_EQ(q.get("f"), "=&");
  EXPECT_EQ(q.get("g"), "1=2");
  EXPECT_FALSE(q.has("z"));
  EXPECT_EQ(q.get("z"), std::nullopt);
}

TEST(Query, RepeatedKeysGiveTheFirst) {
  const Query q = Query::parse("digest=sha256:a&digest=sha256:b");
  EXPECT_EQ(q.get("digest"), "sha256:a");
}

TEST(Query, GetAllKeepsOrderAndEraseRemovesEveryValue) {
  auto q = Query::parse("scope=repository%3Aa%3Apull&x=1&scope=repository:b:push");
  EXPECT_EQ(q.get_all("scope"),
            (std::vector<std::string>{"repository:a:pull", "repository:b:push"}));
  EXPECT_TRUE(q.get_all("missing").empty());
  q.erase("scope");
  EXPECT_FALSE(q.has("scope"));
  EXPECT_EQ(q.get("x"), "1");
}

TEST(Query, EncodedKeysAndEmptyPairs) {
  const Query q = Query::parse("&&my%20key=v&&");
  EXPECT_EQ(q.get("my key"), "v");
  EXPECT_FALSE(q.has(""));
}

TEST(Query, MalformedEscapesAreKeptVerbatim) {
  const Query q = Query::parse("n=%zz&last=%4&x=%");
  EXPECT_EQ(q.get("n"), "%zz");
  EXPECT_EQ(q.get("last"), "%4");
  EXPECT_EQ(q.get("x"), "%");
}

TEST(Query, Empty) {
  const Query q = Query::parse("");
  EXPECT_FALSE(q.has("a"));
  EXPECT_FALSE(Query().has("a"));
}

TEST(SplitTarget, SplitsAndDecodesPath) {
  auto t = split_target("/v2/foo/blobs/uploads/?mount=sha256%3Aabc&from=bar");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/v2/foo/blobs/uploads/");
  EXPECT_EQ(t->raw_query, "mount=sha256%3Aabc&from=bar");  // query stays raw

  t = split_target("/v2/foo/manifests/sha256%3Aabc");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/v2/foo/manifests/sha256:abc");
  EXPECT_EQ(t->raw_query, "");

  t = split_target("/v2/a%2Fb/tags/list?");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/v2/a/b/tags/list");
  EXPECT_EQ(t->raw_query, "");

  t = split_target("/v2/a+b?x=1?y=2");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/v2/a+b");  // '+' is literal in paths
  EXPECT_EQ(t->raw_query, "x=1?y=2");

  t = split_target("/v2/caf%C3%A9");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/v2/caf\xc3\xa9");
}

TEST(SplitTarget, RejectsBadEscapesAndNul) {
  for (const std::string& target : {
           std::string("/v2/%"),
           std::string("/v2/%4"),
           std::string("/v2/%zz"),
           std::string("/v2/%4g/tags/list"),
           std::string("/v2/%00/tags/list"),
           std::string("/v2/a\0b", 7),
       }) {
    EXPECT_FALSE(split_target(target).has_value()) << target;
  }
  // A bad escape in the query is the query parser's business, not ours.
  EXPECT_TRUE(split_target("/v2/?a=%zz").has_value());
}

TEST(UrlEncode, KeepsUnreservedEncodesTheRest) {
  EXPECT_EQ(url_encode("abcXYZ019-._~"), "abcXYZ019-._~");
  EXPECT_EQ(url_encode("a/b c"), "a%2Fb%20c");
  EXPECT_EQ(url_encode("sha256:x&y=z+?#%"), "sha256%3Ax%26y%3Dz%2B%3F%23%25");
  EXPECT_EQ(url_encode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(url_encode(std::string("\0", 1)), "%00");
  EXPECT_EQ(url_encode(""), "");
}

TEST(UrlEncode, RoundTripsThroughQueryParse) {
  const std::string value = "we/ird &=+%value\xff";
  const Query q = Query::parse("last=" + url_encode(value));
  EXPECT_EQ(q.get("last"), value);
}

}  // namespace
}  // namespace drydock::registry
