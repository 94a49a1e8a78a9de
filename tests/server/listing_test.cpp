// Tags list and catalog (distribution-spec end-8a/8b, "Listing Tags"), with
// n/last pagination and the RFC 8288 Link header; repository names.

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using nlohmann::json;
using ListingTest = ApiTest;

// The target inside `<...>; rel="next"`, or "" when the header is absent.
std::string next_target(const Response& r) {
  std::string link = r.header("Link");
  auto open = link.find('<');
  auto close = link.find('>');
  if (open == std::string::npos || close == std::string::npos) return {};
  return link.substr(open + 1, close - open - 1);
}

std::vector<std::string> strings(const json& j) {
  return j.is_array() ? j.get<std::vector<std::string>>() : std::vector<std::string>{};
}

class TagsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    img = push_image("lib/pages", "a");
    for (const char* tag : {"e", "c", "b", "d"}) {
      push_manifest("lib/pages", tag, kOciManifest, img.manifest);
    }
  }
  PushedImage img;
};

TEST_F(TagsTest, ListsAllTagsInLexicalOrder) {
  Response r = http().get("/v2/lib/pages/tags/list");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  json j = r.json();
  EXPECT_EQ(j["name"], "lib/pages");
  EXPECT_EQ(strings(j["tags"]), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_FALSE(r.has("Link"));
}

TEST_F(TagsTest, PaginationWithLinkHeader) {
  Response p1 = http().get("/v2/lib/pages/tags/list?n=2");
  EXPECT_EQ(p1.status, 200u);
  EXPECT_EQ(strings(p1.json()["tags"]), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p1.header("Link"), "</v2/lib/pages/tags/list?n=2&last=b>; rel=\"next\"");

  Response p2 = http().get(next_target(p1));
  EXPECT_EQ(p2.status, 200u);
  EXPECT_EQ(strings(p2.json()["tags"]), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(p2.header("Link"), "</v2/lib/pages/tags/list?n=2&last=d>; rel=\"next\"");

  Response p3 = http().get(next_target(p2));
  EXPECT_EQ(p3.status, 200u);
  EXPECT_EQ(strings(p3.json()["tags"]), (std::vector<std::string>{"e"}));
  EXPECT_FALSE(p3.has("Link")) << p3.header("Link");

  // Exactly n left: no Link either.
  Response exact = http().get("/v2/lib/pages/tags/list?n=5");
  EXPECT_EQ(strings(exact.json()["tags"]).size(), 5u);
  EXPECT_FALSE(exact.has("Link"));
}

TEST_F(TagsTest, LastWithoutN) {
  Response r = http().get("/v2/lib/pages/tags/list?last=b");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(strings(r.json()["tags"]), (std::vector<std::string>{"c", "d", "e"}));
  Response none = http().get("/v2/lib/pages/tags/list?last=e");
  EXPECT_EQ(strings(none.json()["tags"]), std::vector<std::string>{});
}

TEST_F(TagsTest, InvalidPageSize) {
  for (const char* n : {"abc", "-1", "1.5", ""}) {
    SCOPED_TRACE(n);
    Response r = http().get(std::string("/v2/lib/pages/tags/list?n=") + n);
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_FALSE(r.error_code().empty());
  }
}

TEST_F(ListingTest, TagsOfUnknownRepositoryIsNameUnknown) {
  Response r = http().get("/v2/no/such/repo/tags/list");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error_code(), "NAME_UNKNOWN") << r.body;
}

TEST_F(ListingTest, RepositoryWithBlobsButNoTagsHasEmptyTagList) {
  push_blob("lib/blobs-only", "data");
  Response r = http().get("/v2/lib/blobs-only/tags/list");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(strings(r.json()["tags"]), std::vector<std::string>{});
}

TEST_F(ListingTest, InvalidNamesAreNameInvalid) {
  for (const std::string& name :
       {std::string("Upper"), std::string("lib/Upper"), std::string("a/../b"), std::string(".."),
        std::string("a/./b"), std::string(256, 'x'), std::string("a__-b"), std::string("a b")}) {
    SCOPED_TRACE(name);
    std::string encoded = name == "a b" ? "a%20b" : name;
    Response r = http().get("/v2/" + encoded + "/tags/list");
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_EQ(r.error_code(), "NAME_INVALID") << r.body;
  }
  // 255 characters is still a valid name.
  std::string longest = std::string(127, 'a') + "/" + std::string(127, 'b');
  ASSERT_EQ(longest.size(), 255u);
  push_blob(longest, "x");
  EXPECT_EQ(http().get("/v2/" + longest + "/tags/list").status, 200u);
  expect_alive();
}

TEST_F(ListingTest, NestedNamesWork) {
  for (const std::string repo : {"team/app/api", "a/b/c/d/e", "team/manifests/app", "x/blobs/y",
                                 "x/tags/list", "my.org/sub_dir/app-name"}) {
    SCOPED_TRACE(repo);
    PushedImage img = push_image(repo, "v1");
    Response m = http().get("/v2/" + repo + "/manifests/v1");
    EXPECT_EQ(m.status, 200u) << m.body;
    EXPECT_EQ(m.body, img.manifest);
    Response b = http().get("/v2/" + repo + "/blobs/" + img.layer_digests[0]);
    EXPECT_EQ(b.status, 200u);
    Response t = http().get("/v2/" + repo + "/tags/list");
    EXPECT_EQ(t.status, 200u);
    EXPECT_EQ(t.json()["name"], repo);
    EXPECT_EQ(strings(t.json()["tags"]), std::vector<std::string>{"v1"});
    std::string loc = start_upload(repo);
    EXPECT_TRUE(loc.starts_with("/v2/" + repo + "/blobs/uploads/")) << loc;
    EXPECT_EQ(http().get(loc).status, 204u);
  }
}

TEST_F(ListingTest, CatalogPagination) {
  std::vector<std::string> repos = {"alpha", "beta", "gamma/x", "team/app/api", "zeta"};
  for (const auto& r : repos) push_blob(r, "content of " + r);

  Response all = http().get("/v2/_catalog");
  EXPECT_EQ(all.status, 200u);
  EXPECT_EQ(all.header("Content-Type"), "application/json");
  EXPECT_EQ(strings(all.json()["repositories"]), repos);
  EXPECT_FALSE(all.has("Link"));

  Response p1 = http().get("/v2/_catalog?n=2");
  EXPECT_EQ(strings(p1.json()["repositories"]), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(p1.header("Link"), "</v2/_catalog?n=2&last=beta>; rel=\"next\"");

  std::vector<std::string> walked = strings(p1.json()["repositories"]);
  std::string next = next_target(p1);
  for (int guard = 0; !next.empty() && guard < 10; ++guard) {
    Response p = http().get(next);
    EXPECT_EQ(p.status, 200u) << p.body;
    auto page = strings(p.json()["repositories"]);
    EXPECT_LE(page.size(), 2u);
    walked.insert(walked.end(), page.begin(), page.end());
    next = next_target(p);
    if (!next.empty()) {
      EXPECT_TRUE(next.starts_with("/v2/_catalog?n=2&last=")) << next;
    }
  }
  EXPECT_EQ(walked, repos);

  Response after = http().get("/v2/_catalog?last=gamma/x");
  EXPECT_EQ(strings(after.json()["repositories"]),
            (std::vector<std::string>{"team/app/api", "zeta"}));
}

TEST_F(ListingTest, EmptyCatalog) {
  Response r = http().get("/v2/_catalog");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(strings(r.json()["repositories"]), std::vector<std::string>{});
  EXPECT_TRUE(r.json()["repositories"].is_array());
}

}  // namespace
}  // namespace drydock::testing
