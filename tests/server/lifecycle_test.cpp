// Server lifecycle: state survives a restart on the same data directory, a
// graceful stop lets in-flight requests finish and closes idle connections,
// and concurrent clients do not disturb each other.

#include <future>
#include <thread>

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using LifecycleTest = ApiTest;

std::string blob_url(std::string_view repo, std::string_view digest) {
  return "/v2/" + std::string(repo) + "/blobs/" + std::string(digest);
}

TEST_F(LifecycleTest, RestartKeepsManifestsTagsBlobsAndUploads) {
  PushedImage img = push_image("lib/persist", "v1", kOciManifest, 2);
  push_manifest("lib/persist", "stable", kOciManifest, img.manifest);
  std::string empty = push_blob("lib/persist", "{}");
  std::string art =
      image_manifest(kOciManifest, descriptor(kOciEmpty, empty, 2), json::array(),
                     {{"artifactType", "application/vnd.example.sig.v1"},
                      {"subject", descriptor(kOciManifest, img.digest, img.manifest.size())}});
  push_manifest("lib/persist", sha256(art), kOciManifest, art);
  std::string other = push_blob("other/repo", "other content");

  std::string content = "0123456789abcdefghij";
  std::string loc = start_upload("lib/persist");
  ASSERT_EQ(http().patch(loc, content.substr(0, 5), {{"Content-Range", "0-4"}}).status, 202u);
  std::string loc512 = start_upload("lib/persist");
  std::string content512 = random_bytes(3000, 40);
  ASSERT_EQ(http().patch(loc512, content512.substr(0, 1000)).status, 202u);

  restart_server();

  Response m = http().get("/v2/lib/persist/manifests/v1");
  EXPECT_EQ(m.status, 200u);
  EXPECT_EQ(m.body, img.manifest);
  EXPECT_EQ(m.header("Content-Type"), kOciManifest);
  EXPECT_EQ(m.header("Docker-Content-Digest"), img.digest);
  EXPECT_EQ(http().get("/v2/lib/persist/manifests/stable").body, img.manifest);
  EXPECT_EQ(http().get("/v2/lib/persist/manifests/" + img.digest).body, img.manifest);
  EXPECT_EQ(http().get("/v2/lib/persist/tags/list").json()["tags"], json::array({"stable", "v1"}));
  for (const auto& d : img.layer_digests) {
    EXPECT_EQ(http().get(blob_url("lib/persist", d)).status, 200u) << d;
  }
  EXPECT_EQ(http().get(blob_url("other/repo", other)).body, "other content");
  EXPECT_EQ(http().get(blob_url("lib/persist", other)).status, 404u);
  json refs = http().get("/v2/lib/persist/referrers/" + img.digest).json()["manifests"];
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0]["digest"], sha256(art));
  EXPECT_EQ(http().get("/v2/_catalog").json()["repositories"],
            json::array({"lib/persist", "other/repo"}));

  // The upload sessions resume where they were.
  Response s = http().get(loc);
  EXPECT_EQ(s.status, 204u) << s.body;
  EXPECT_EQ(s.header("Range"), "0-4");
  Response wrong = http().patch(loc, "X", {{"Content-Range", "0-0"}});
  EXPECT_EQ(wrong.status, 416u);
  EXPECT_EQ(wrong.header("Range"), "0-4");
  ASSERT_EQ(http().patch(loc, content.substr(5, 10), {{"Content-Range", "5-14"}}).status, 202u);
  Response put = http().put(with_digest(loc, sha256(content)), content.substr(15),
                            {{"Content-Range", "15-19"}});
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(put.header("Docker-Content-Digest"), sha256(content));
  EXPECT_EQ(http().get(blob_url("lib/persist", sha256(content))).body, content);

  EXPECT_EQ(http().get(loc512).header("Range"), "0-999");
  ASSERT_EQ(http().patch(loc512, content512.substr(1000)).status, 202u);
  Response put512 = http().put(with_digest(loc512, sha512(content512)), "");
  EXPECT_EQ(put512.status, 201u) << put512.body;
  EXPECT_EQ(http().get(blob_url("lib/persist", sha512(content512))).body, content512);
}

TEST_F(LifecycleTest, RestartTwiceInARow) {
  PushedImage img = push_image("lib/twice", "v1");
  restart_server();
  restart_server();
  EXPECT_EQ(http().get("/v2/lib/twice/manifests/v1").body, img.manifest);
}

// Returns once connecting to `port` is refused: the listener is closed.
void wait_until_refused(std::uint16_t port) {
  for (int i = 0; i < 500; ++i) {
    try {
      Connection probe(port, 1s);
    } catch (const HttpError&) {
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "the server still accepts connections during stop()";
}

// A slow upload in flight when stop() is called still completes.
TEST_F(LifecycleTest, GracefulStopLetsAnInFlightUploadFinish) {
  std::string content = random_bytes(512 * 1024, 41);
  Connection c = connect();
  Request post{.method = "POST",
               .target = "/v2/lib/graceful/blobs/uploads/?digest=" + sha256(content),
               .headers = {{"Expect", "100-continue"}},
               .body = content};
  c.send(post.head());
  // 100 Continue: the server is now reading this request's body.
  ASSERT_EQ(c.read_response(false, /*keep_interim=*/true).status, 100u);
  c.send(std::string_view(content).substr(0, content.size() / 2));

  auto stopped = std::async(std::launch::async, [this] { server().stop(); });
  wait_until_refused(port());
  EXPECT_EQ(stopped.wait_for(0s), std::future_status::timeout)
      << "stop() returned while a request was still in flight";

  c.send(std::string_view(content).substr(content.size() / 2));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.header("Docker-Content-Digest"), sha256(content));
  EXPECT_TRUE(c.wait_closed(5s)) << "connection kept open after a graceful stop";
  EXPECT_EQ(stopped.wait_for(20s), std::future_status::ready);

  // The blob is really stored.
  restart_server();
  Response g = http().get(blob_url("lib/graceful", sha256(content)));
  EXPECT_EQ(g.status, 200u);
  EXPECT_TRUE(g.body == content);
}

// A download in flight when stop() is called is delivered whole.
TEST_F(LifecycleTest, GracefulStopLetsAnInFlightDownloadFinish) {
  std::string content = random_bytes(16 * 1024 * 1024, 43);
  std::string digest = push_blob("lib/dl", content);
  Connection c = connect();
  c.send(Request{.target = blob_url("lib/dl", digest)}.serialize());
  ASSERT_TRUE(c.wait_readable(5s));
  auto stopped = std::async(std::launch::async, [this] { server().stop(); });
  wait_until_refused(port());
  Response r = c.read_response();
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body.size(), content.size());
  EXPECT_TRUE(r.body == content);
  EXPECT_EQ(stopped.wait_for(20s), std::future_status::ready);
}

// stop() closes idle keep-alive connections right away instead of waiting
// for the grace period (set long here, so that waiting for it would show).
TEST_F(LifecycleTest, GracefulStopClosesIdleConnections) {
  stop_server();
  auto cfg = default_config();
  cfg.shutdown_grace_seconds = 60;
  cfg.idle_timeout_seconds = 60;
  start_server(cfg);

  std::vector<Connection> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(connect());
    ASSERT_EQ(idle.back().roundtrip(Request{.target = "/v2/"}).status, 200u);
  }
  auto stopped = std::async(std::launch::async, [this] { server().stop(); });
  EXPECT_EQ(stopped.wait_for(20s), std::future_status::ready) << "stop() waits on idle connections";
  for (auto& c : idle) EXPECT_TRUE(c.wait_closed(5s));
  stopped.wait();
}

TEST_F(LifecycleTest, ConcurrentPushesAndPulls) {
  constexpr int kThreads = 6;
  std::string shared_layer = random_bytes(300 * 1024, 42);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c(port());
      std::string repo = "con/r" + std::to_string(t);
      std::string layer_digest = sha256(shared_layer);
      Response l = c.post("/v2/" + repo + "/blobs/uploads/?digest=" + layer_digest, shared_layer);
      EXPECT_EQ(l.status, 201u) << l.body;
      std::string config = json{{"thread", t}}.dump();
      Response cfg = c.post("/v2/" + repo + "/blobs/uploads/?digest=" + sha256(config), config);
      EXPECT_EQ(cfg.status, 201u) << cfg.body;
      std::string body =
          image_manifest(kOciManifest, descriptor(kOciConfig, sha256(config), config.size()),
                         json::array({descriptor(kOciLayer, layer_digest, shared_layer.size())}));
      for (int i = 0; i < 5; ++i) {
        Response m = c.put("/v2/" + repo + "/manifests/v" + std::to_string(i), body,
                           {{"Content-Type", std::string(kOciManifest)}});
        EXPECT_EQ(m.status, 201u) << m.body;
        Response g = c.get("/v2/" + repo + "/blobs/" + layer_digest);
        EXPECT_EQ(g.status, 200u);
        EXPECT_TRUE(g.body == shared_layer);
      }
    });
  }
  for (auto& t : threads) t.join();
  json repos = http().get("/v2/_catalog").json()["repositories"];
  EXPECT_EQ(repos.size(), static_cast<std::size_t>(kThreads));
  for (int t = 0; t < kThreads; ++t) {
    Response tags = http().get("/v2/con/r" + std::to_string(t) + "/tags/list");
    EXPECT_EQ(tags.json()["tags"].size(), 5u) << tags.body;
  }
}

}  // namespace
}  // namespace drydock::testing
