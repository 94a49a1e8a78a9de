// Quotas per namespace over HTTP (issue 6): pushes past a namespace's limit
// are 403 DENIED naming namespace, usage, limit and size, and write nothing;
// GET /usage reports exact figures.

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using nlohmann::json;

class QuotaApiTest : public ApiTest {
 protected:
  void limit(const std::string& ns, std::uint64_t bytes) {
    storage::QuotaLimits q = meta().quotas();
    q.namespaces[ns] = bytes;
    meta().set_quotas(std::move(q));
  }
  json usage(const std::string& query = "") {
    Response r = http().get("/usage" + query);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    return json::parse(r.body);
  }
  // The namespace entry of a usage report, or null.
  static json find(const json& report, const std::string& name) {
    for (const auto& ns : report["namespaces"]) {
      if (ns["name"] == name) return ns;
    }
    return nullptr;
  }
};

void expect_quota_denied(const Response& r, std::string_view needed) {
  EXPECT_EQ(r.status, 403u) << r.body;
  json doc = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << r.body;
  const json& e = doc["errors"][0];
  EXPECT_EQ(e["code"], "DENIED");
  std::string message = e["message"];
  EXPECT_NE(message.find("quota exceeded for namespace \"team\""), std::string::npos) << message;
  EXPECT_NE(message.find("used of"), std::string::npos) << message;
  EXPECT_NE(message.find("this needs " + std::string(needed)), std::string::npos) << message;
  EXPECT_EQ(e["detail"]["namespace"], "team");
}

TEST_F(QuotaApiTest, APushOverTheLimitIsDeniedAndLeavesNothing) {
  PushedImage first = push_image("team/app", "v1");  // config + 1000-byte layer + manifest
  std::uint64_t used = find(usage(), "team")["used"];
  limit("team", used + 1500);
  // Monolithic: refused before the body is stored.
  std::string big = random_bytes(2000, 7);
  Response r = http().post("/v2/team/app/blobs/uploads/?digest=" + sha256(big), big);
  expect_quota_denied(r, "2 KiB");
  EXPECT_EQ(json::parse(r.body)["errors"][0]["detail"]["needed"], 2000);
  EXPECT_EQ(json::parse(r.body)["errors"][0]["detail"]["limit"], used + 1500);
  EXPECT_EQ(http().head("/v2/team/app/blobs/" + sha256(big)).status, 404u);
  // Chunked: a PATCH bigger than the room left and than every blob the
  // namespace holds is refused before its body is stored; the session is
  // gone.
  std::string location = start_upload("team/other");
  Response patched = http().patch(location, big, {{"Content-Type", "application/octet-stream"}});
  expect_quota_denied(patched, "2 KiB");
  EXPECT_EQ(http().get(location).status, 404u);
  EXPECT_EQ(http().head("/v2/team/other/blobs/" + sha256(big)).status, 404u);
  // A PATCH that fits goes through; the final PUT is refused when the whole
  // blob does not, and the session is gone.
  std::string loc1 = start_upload("team/other");
  ASSERT_EQ(http().patch(loc1, big.substr(0, 1000)).status, 202u);
  expect_quota_denied(http().put(loc1 + "?digest=" + sha256(big), big.substr(1000)), "2 KiB");
  EXPECT_EQ(http().get(loc1).status, 404u);
  // A manifest that no longer fits: no tag, no manifest.
  std::string small = random_bytes(1400, 8);
  std::string small_digest = push_blob("team/app", small);
  limit("team", used + 1400 + 10);
  std::string manifest = image_manifest(
      kOciManifest, descriptor(kOciConfig, small_digest, small.size()),
      json::array({descriptor(kOciLayer, small_digest, small.size())}));
  Response m = put_manifest("team/app", "v2", kOciManifest, manifest);
  expect_quota_denied(m, std::to_string(manifest.size()) + " B");
  EXPECT_EQ(http().get("/v2/team/app/manifests/v2").status, 404u);
  EXPECT_EQ(http().get("/v2/team/app/manifests/" + sha256(manifest)).status, 404u);
  json tags = json::parse(http().get("/v2/team/app/tags/list").body);
  EXPECT_EQ(tags["tags"], json::array({"v1"}));
  // Mounting a blob the namespace lacks is refused too.
  std::string outside = push_blob("other/src", random_bytes(500, 9));
  Response mount = http().post("/v2/team/app/blobs/uploads/?mount=" + outside + "&from=other/src");
  expect_quota_denied(mount, "500 B");
  // What the namespace holds is free: mounts within it, re-pushes, re-tags.
  Response inside = http().post("/v2/team/copy/blobs/uploads/?mount=" + small_digest +
                                "&from=team/app");
  EXPECT_EQ(inside.status, 201u) << inside.body;
  push_blob("team/app", small);
  push_manifest("team/app", "again", kOciManifest, first.manifest);
  // A PATCH bigger than the room left (10 bytes) but no bigger than a blob
  // the namespace holds may be that blob, which costs nothing: it goes
  // through, and so does its PUT.
  std::string loc2 = start_upload("team/patched");
  ASSERT_EQ(http().patch(loc2, small).status, 202u);
  ASSERT_EQ(http().put(loc2 + "?digest=" + sha256(small), "").status, 201u);
  std::string loc3 = start_upload("team/patched");
  expect_quota_denied(http().patch(loc3, small + "x"), "1.4 KiB");
  // Another namespace is not affected.
  push_image("ci/app", "v1", kOciManifest, 3);
}

// A PATCH streamed without a length (chunked, as docker sends layers) is
// checked as it grows: past the room left and past every blob the namespace
// holds, it is refused mid-body, and its bytes do not stay on disk.
TEST_F(QuotaApiTest, AChunkedPatchIsStoppedOnceItCannotFit) {
  limit("team", 4u << 20);
  std::string loc = start_upload("team/stream");
  Connection c = connect();
  c.send(Request{.method = "PATCH", .target = loc, .chunked = true}.head());
  const std::string piece(1u << 20, 'q');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
  for (int i = 0; i < 40 && c.try_send(std::string(size_line) + piece + "\r\n"); ++i) {
  }
  // No last chunk was sent: an answer now was given mid-body (the server
  // then reads and discards the rest before it closes, like nginx).
  Response r = c.read_response();
  expect_quota_denied(r, "16 MiB");
  EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
  expect_alive();
  EXPECT_EQ(http().get(loc).status, 404u);
  std::uint64_t stored = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_dir())) {
    if (e.is_regular_file() && e.path().filename() != "metadata.db") stored += e.file_size();
  }
  EXPECT_LT(stored, 4u << 20);
}

TEST_F(QuotaApiTest, UsageReportsExactFigures) {
  std::string a = random_bytes(1000, 1);
  std::string b = random_bytes(300, 2);
  push_blob("team/app", a);
  push_blob("team/web/api", a);  // the same blob again in the namespace
  push_blob("team/web/api", b);
  push_blob("ci", a);
  std::string manifest = image_manifest(kOciManifest, descriptor(kOciConfig, sha256(b), b.size()),
                                        json::array({descriptor(kOciLayer, sha256(a), a.size())}));
  push_manifest("team/web/api", "v1", kOciManifest, manifest);
  limit("team", 1'000'000);
  limit("empty", 5);
  json report = usage();
  ASSERT_EQ(report["namespaces"].size(), 3u) << report.dump();
  json ci = find(report, "ci");
  EXPECT_EQ(ci["used"], 1000);
  EXPECT_EQ(ci["limit"], nullptr);
  json team = find(report, "team");
  EXPECT_EQ(team["used"], 1000 + 300 + manifest.size());
  EXPECT_EQ(team["blobs"], 3);
  EXPECT_EQ(team["limit"], 1'000'000);
  ASSERT_EQ(team["repositories"].size(), 2u);
  EXPECT_EQ(team["repositories"][0]["name"], "team/app");
  EXPECT_EQ(team["repositories"][0]["used"], 1000);
  EXPECT_EQ(team["repositories"][1]["name"], "team/web/api");
  EXPECT_EQ(team["repositories"][1]["used"], 1000 + 300 + manifest.size());
  EXPECT_EQ(find(report, "empty")["used"], 0);
  // One namespace.
  json one = usage("?namespace=team");
  ASSERT_EQ(one["namespaces"].size(), 1u);
  EXPECT_EQ(one["namespaces"][0]["used"], team["used"]);
  // Deleting frees: the manifest, then the blob's last link in the namespace.
  ASSERT_EQ(http().del("/v2/team/web/api/manifests/" + sha256(manifest)).status, 202u);
  ASSERT_EQ(http().del("/v2/team/web/api/blobs/" + sha256(b)).status, 202u);
  EXPECT_EQ(find(usage(), "team")["used"], 1000);
  EXPECT_EQ(http().get("/usage?namespace=Bad!").status, 400u);
  EXPECT_EQ(http().post("/usage").status, 405u);
}

}  // namespace
}  // namespace drydock::testing
