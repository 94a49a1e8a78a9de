// Bad and hostile clients: malformed requests, oversized headers, clients that
// vanish mid-request, idle and stalled connections, descriptor leaks. After
// each, the server must still answer (expect_alive) and nothing half-sent may
// become visible.

#include <sys/socket.h>

#include <thread>

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using namespace std::chrono_literals;
using RobustnessTest = ApiTest;

std::string blob_url(std::string_view repo, std::string_view digest) {
  return "/v2/" + std::string(repo) + "/blobs/" + std::string(digest);
}

// Completes an upload after an interrupted request, as a resuming client
// does: ask the session where it stands (GET -> 204 + Range), send the rest
// from there, follow a 416's Range if the server disagrees, then PUT.
//
// "Range: 0-0" cannot tell 0 bytes from 1 (the spec leaves the empty session
// open), so offset 0 is tried first and a 416 moves on.
void resume_and_finish(Client& c, const std::string& loc, const std::string& content) {
  Response status = c.get(loc);
  ASSERT_EQ(status.status, 204u) << "session lost after the disconnect: " << status.body;
  std::string range = status.header("Range");
  for (int attempt = 0; attempt < 4; ++attempt) {
    ASSERT_TRUE(range.starts_with("0-")) << range;
    std::size_t last = std::stoull(range.substr(2));
    std::size_t offset = last == 0 && attempt == 0 ? 0 : last + 1;
    ASSERT_LE(offset, content.size());
    Response p = c.patch(
        loc, content.substr(offset),
        {{"Content-Range", std::to_string(offset) + "-" + std::to_string(content.size() - 1)}});
    if (p.status == 202u) {
      EXPECT_EQ(p.header("Range"), "0-" + std::to_string(content.size() - 1));
      Response put = c.put(with_digest(loc, sha256(content)), "");
      EXPECT_EQ(put.status, 201u) << put.body;
      EXPECT_EQ(put.header("Docker-Content-Digest"), sha256(content));
      Response g = c.get(blob_url(loc.substr(4, loc.find("/blobs/uploads/") - 4), sha256(content)));
      EXPECT_EQ(g.status, 200u);
      EXPECT_TRUE(g.body == content) << "resumed blob differs from what was sent";
      return;
    }
    ASSERT_EQ(p.status, 416u) << p.body;
    range = p.header("Range");
  }
  FAIL() << "could not resume the upload";
}

TEST_F(RobustnessTest, MalformedRequestsGet400AndTheServerSurvives) {
  for (const std::string& raw : std::vector<std::string>{
           "GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /v2/ FOO/1.1\r\n\r\n",
           "GET /v2/ HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
           "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
           "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
           "GET /v2/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /v2/a%00b/tags/list HTTP/1.1\r\nHost: x\r\n\r\n",
           std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15)}) {
    SCOPED_TRACE(raw);
    Connection c = connect();
    c.send(raw);
    Response r = c.read_response();
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_TRUE(c.wait_closed(5s)) << "connection left open after a malformed request";
    expect_alive();
  }
}

TEST_F(RobustnessTest, OversizedHeadersAre431AndTheServerSurvives) {
  // One huge header, many headers, and a huge request target: all beyond the
  // 16 KiB header limit.
  std::string many;
  for (int i = 0; i < 400; ++i)
    many += "X-Filler-" + std::to_string(i) + ": " + std::string(50, 'v') + "\r\n";
  for (const std::string& raw :
       {"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n",
        "GET /v2/ HTTP/1.1\r\nHost: x\r\n" + many + "\r\n",
        "GET /v2/" + std::string(20 * 1024, 'a') + "/tags/list HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    SCOPED_TRACE(raw.size());
    Connection c = connect();
    c.try_send(raw);
    auto r = c.try_read_response();
    ASSERT_TRUE(r.has_value()) << "no answer to oversized headers";
    EXPECT_TRUE(r->status == 431u || r->status == 400u || r->status == 414u) << r->status;
    EXPECT_TRUE(c.wait_closed(5s));
    expect_alive();
  }
  // Just under the limit is served.
  Response ok = http().get("/v2/", {{"X-Big", std::string(15 * 1024, 'b')}});
  EXPECT_EQ(ok.status, 200u);
}

TEST_F(RobustnessTest, ClientDisconnectsMidHeaders) {
  for (int i = 0; i < 5; ++i) {
    Connection c = connect();
    c.send("GET /v2/ HTTP/1.1\r\nHost: loc");
    if (i % 2)
      c.reset();
    else
      c.close();
  }
  expect_alive();
}

// Half a PATCH body, then end of stream: the server keeps what it stored
// (the session is resumable), shows nothing as a blob, and keeps serving.
TEST_F(RobustnessTest, ClientHalfClosesMidPatch) {
  std::string content = random_bytes(3 * 1024 * 1024 + 77, 31);
  std::string loc = start_upload("lib/halfclose");
  std::size_t half = content.size() / 2;
  {
    Connection c = connect();
    Request patch{.method = "PATCH",
                  .target = loc,
                  .headers = {{"Content-Length", std::to_string(content.size())}},
                  .no_content_length = true};
    c.send(patch.head());
    c.send(std::string_view(content).substr(0, half));
    c.shutdown_write();
    // Whatever the server answers, it must not be a success.
    if (auto r = c.try_read_response()) {
      EXPECT_GE(r->status, 400u) << r->body;
    }
    EXPECT_TRUE(c.wait_closed(5s));
  }
  expect_alive();
  EXPECT_EQ(http().get(blob_url("lib/halfclose", sha256(content))).status, 404u);
  EXPECT_EQ(http().get(blob_url("lib/halfclose", sha256(content.substr(0, half)))).status, 404u);
  Response s = http().get(loc);
  ASSERT_EQ(s.status, 204u);
  std::size_t stored = std::stoull(s.header("Range").substr(2)) + 1;
  EXPECT_LE(stored, half) << "the server claims bytes it never received";
  resume_and_finish(http(), loc, content);
}

// Same, but the client vanishes with an RST.
TEST_F(RobustnessTest, ClientResetsMidPatch) {
  std::string content = random_bytes(2 * 1024 * 1024 + 5, 32);
  std::string loc = start_upload("lib/reset");
  {
    Connection c = connect();
    Request patch{.method = "PATCH",
                  .target = loc,
                  .headers = {{"Content-Length", std::to_string(content.size())},
                              {"Content-Range", "0-" + std::to_string(content.size() - 1)}},
                  .no_content_length = true};
    c.send(patch.head());
    c.send(std::string_view(content).substr(0, content.size() / 2));
    c.reset();
  }
  expect_alive();
  EXPECT_EQ(http().get(blob_url("lib/reset", sha256(content))).status, 404u);
  resume_and_finish(http(), loc, content);
}

TEST_F(RobustnessTest, ClientDisconnectsMidChunkedPatch) {
  std::string content = random_bytes(500 * 1024, 33);
  std::string loc = start_upload("lib/te-abort");
  {
    Connection c = connect();
    Request patch{
        .method = "PATCH", .target = loc, .body = content, .chunked = true, .chunk_size = 10000};
    std::string wire = patch.serialize();
    c.send(std::string_view(wire).substr(0, wire.size() / 2));
    c.close();
  }
  expect_alive();
  EXPECT_EQ(http().get(blob_url("lib/te-abort", sha256(content))).status, 404u);
  resume_and_finish(http(), loc, content);
}

// A monolithic POST ?digest= cut short must not create the blob.
TEST_F(RobustnessTest, ClientDisconnectsMidMonolithicPost) {
  std::string content = random_bytes(1024 * 1024, 34);
  for (bool rst : {false, true}) {
    Connection c = connect();
    Request post{.method = "POST",
                 .target = "/v2/lib/mono-abort/blobs/uploads/?digest=" + sha256(content),
                 .headers = {{"Content-Length", std::to_string(content.size())}},
                 .no_content_length = true};
    c.send(post.head());
    c.send(std::string_view(content).substr(0, 1000));
    if (rst) {
      c.reset();
    } else {
      c.shutdown_write();
      if (auto r = c.try_read_response()) {
        EXPECT_GE(r->status, 400u) << r->body;
      }
      c.close();
    }
    expect_alive();
    EXPECT_EQ(http().get(blob_url("lib/mono-abort", sha256(content))).status, 404u);
  }
}

TEST_F(RobustnessTest, ClientDisconnectsMidManifestPut) {
  PushedImage img = push_image("lib/m-abort", "v1");
  std::string body = image_manifest(kOciManifest, descriptor(kOciConfig, img.config_digest, 10),
                                    nlohmann::json::array());
  Connection c = connect();
  Request put{.method = "PUT",
              .target = "/v2/lib/m-abort/manifests/v2",
              .headers = {{"Content-Type", std::string(kOciManifest)}},
              .body = body};
  std::string wire = put.serialize();
  c.send(std::string_view(wire).substr(0, wire.size() - body.size() / 2));
  c.reset();
  expect_alive();
  EXPECT_EQ(http().get("/v2/lib/m-abort/manifests/v2").status, 404u);
  EXPECT_EQ(http().get("/v2/lib/m-abort/manifests/" + sha256(body)).status, 404u);
  EXPECT_EQ(http().get("/v2/lib/m-abort/manifests/v1").status, 200u);
}

TEST_F(RobustnessTest, ClientDisconnectsWhileDownloading) {
  std::string content = random_bytes(8 * 1024 * 1024, 35);
  std::string digest = push_blob("lib/download", content);
  for (int i = 0; i < 3; ++i) {
    Connection c = connect();
    c.send(Request{.target = blob_url("lib/download", digest)}.serialize());
    ASSERT_TRUE(c.wait_readable(5s));
    char buf[1024];
    ASSERT_GT(::recv(c.fd(), buf, sizeof buf, 0), 0);
    if (i == 1)
      c.close();
    else
      c.reset();
  }
  expect_alive();
  Response g = http().get(blob_url("lib/download", digest));
  EXPECT_EQ(g.status, 200u);
  EXPECT_TRUE(g.body == content);
}

// A broken chunk encoding ends the request with a client error and stores
// nothing beyond what arrived intact.
TEST_F(RobustnessTest, MalformedChunkedBody) {
  std::string loc = start_upload("lib/badchunk");
  Connection c = connect();
  c.send(Request{.method = "PATCH", .target = loc, .chunked = true}.head());
  c.send("5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n");
  Response r = c.read_response();
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_TRUE(c.wait_closed(5s));
  expect_alive();
  Response s = http().get(loc);
  EXPECT_EQ(s.status, 204u);
  std::string range = s.header("Range");
  EXPECT_TRUE(range == "0-0" || range == "0-4") << range;
}

// Bytes that are not UTF-8 in a name, tag or upload id are just invalid
// input: they get the usual JSON error, not a dropped connection.
TEST_F(RobustnessTest, NonUtf8BytesInPathsGetJsonErrors) {
  struct Case {
    std::string method;
    std::string target;
    unsigned status;
    std::string code;
  };
  for (const auto& c : std::vector<Case>{
           {"GET", "/v2/lib%ff%fe/tags/list", 400, "NAME_INVALID"},
           {"GET", "/v2/lib%ff/blobs/" + sha256("x"), 400, "NAME_INVALID"},
           {"POST", "/v2/lib%c3%28/blobs/uploads/", 400, "NAME_INVALID"},
           {"GET", "/v2/lib/app/manifests/v%ff1", 404, "MANIFEST_UNKNOWN"},
           {"PUT", "/v2/lib/app/manifests/v%ff1", 400, "MANIFEST_INVALID"},
           {"DELETE", "/v2/lib/app/manifests/v%ff1", 400, "MANIFEST_INVALID"},
           {"GET", "/v2/lib/app/blobs/uploads/%ff%ff", 404, "BLOB_UPLOAD_UNKNOWN"},
           {"PATCH", "/v2/lib/app/blobs/uploads/%ff%ff", 404, "BLOB_UPLOAD_UNKNOWN"},
           {"DELETE", "/v2/lib/app/blobs/uploads/%ff%ff", 404, "BLOB_UPLOAD_UNKNOWN"}}) {
    SCOPED_TRACE(c.method + " " + c.target);
    Connection conn = connect();
    conn.send(Request{.method = c.method, .target = c.target}.serialize());
    auto r = conn.try_read_response();
    if (!r) {
      ADD_FAILURE() << "connection dropped without a response";
      continue;
    }
    EXPECT_EQ(r->status, c.status) << r->body;
    EXPECT_EQ(r->error_code(), c.code) << r->body;
  }
  expect_alive();
}

// RFC 9110 10.1.1: a server that receives "Expect: 100-continue" MUST either
// send 100 and read the body, or answer with the final status. A request it
// refuses anyway must not wait for a body the client is holding back.
TEST_F(RobustnessTest, RefusedRequestWithExpectContinueIsAnsweredWithoutTheBody) {
  std::string body(4 * 1024 * 1024 + 1, 'b');
  struct Case {
    std::string method;
    std::string target;
    unsigned status;
  };
  for (const auto& c : std::vector<Case>{
           {"PATCH", "/v2/lib/app/blobs/uploads/00000000-0000-4000-8000-000000000000", 404},
           {"PUT",
            "/v2/lib/app/blobs/uploads/00000000-0000-4000-8000-000000000000?digest=" + sha256(body),
            404},
           {"POST", "/v2/lib/app/blobs/uploads/?digest=sha256:bad", 400},
           {"POST", "/v2/Bad-Name/blobs/uploads/?digest=" + sha256(body), 400},
           {"PUT", "/v2/lib/app/manifests/v1", 413}}) {
    SCOPED_TRACE(c.method + " " + c.target);
    Connection conn = connect();
    conn.send(Request{.method = c.method,
                      .target = c.target,
                      .headers = {{"Expect", "100-continue"}},
                      .body = body}
                  .head());
    if (!conn.wait_readable(1s)) {
      ADD_FAILURE() << "no answer while the client waits for 100 Continue";
      continue;
    }
    Response r = conn.read_response(false, /*keep_interim=*/true);
    if (r.status == 100u) {
      // Allowed: then the server reads the body and answers.
      conn.send(body);
      r = conn.read_response();
    }
    EXPECT_EQ(r.status, c.status) << r.body;
  }
  expect_alive();
}

// A client that sends its whole body before reading (as most do) still gets
// the error reply the server chose before reading that body: the server must
// not reset the connection under it (RFC 9112 9.6, closing a connection with
// unread input).
TEST_F(RobustnessTest, EarlyErrorReplyReachesAClientStillSendingItsBody) {
  std::string big = random_bytes(4 * 1024 * 1024 + 100, 50);
  struct Case {
    Request request;
    unsigned status;
    std::string code;
  };
  std::vector<Case> cases = {
      {Request{.method = "PATCH",
               .target = "/v2/lib/app/blobs/uploads/00000000-0000-4000-8000-000000000000",
               .body = big},
       404, "BLOB_UPLOAD_UNKNOWN"},
      {Request{.method = "PUT",
               .target = "/v2/lib/app/manifests/v1",
               .headers = {{"Content-Type", std::string(kOciManifest)}},
               .body = big},
       413, ""},
      {Request{.method = "GET", .target = "/v2/", .body = std::string(1024 * 1024, 'g')}, 200, ""}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.request.method + " " + c.request.target);
    Connection conn = connect();
    std::thread sender([&conn, wire = c.request.serialize()] { conn.try_send(wire); });
    auto r = conn.try_read_response();
    sender.join();
    ASSERT_TRUE(r.has_value()) << "the reply was lost: connection reset before it was read";
    EXPECT_EQ(r->status, c.status) << r->body;
    if (!c.code.empty()) {
      EXPECT_EQ(r->error_code(), c.code) << r->body;
    }
  }
  expect_alive();
}

class IdleTimeoutTest : public ApiTest {
 protected:
  static constexpr unsigned kIdleSeconds = 2;
  void SetUp() override {
    ApiTest::SetUp();
    stop_server();
    auto c = default_config();
    c.idle_timeout_seconds = kIdleSeconds;
    c.body_timeout_seconds = kIdleSeconds;
    start_server(c);
  }

  // Seconds until the server closes `c`; fails if it stays open too long.
  double seconds_until_closed(Connection& c) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(kIdleSeconds + 8)))
        << "the server did not close an idle connection";
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// The only timing assertions in the suite, with generous bounds.
TEST_F(IdleTimeoutTest, IdleConnectionIsClosed) {
  Connection fresh = connect();
  double t = seconds_until_closed(fresh);
  EXPECT_GE(t, kIdleSeconds * 0.5);

  Connection used = connect();
  EXPECT_EQ(used.roundtrip(Request{.target = "/v2/"}).status, 200u);
  t = seconds_until_closed(used);
  EXPECT_GE(t, kIdleSeconds * 0.5);
  expect_alive();
}

TEST_F(IdleTimeoutTest, SlowHeadersAreCutOff) {
  Connection c = connect();
  c.send("GET /v2/ HTTP/1.1\r\nHost: slow");
  double t = seconds_until_closed(c);
  EXPECT_GE(t, kIdleSeconds * 0.5);
  expect_alive();
}

// A client that stops sending in the middle of a body is cut off after the
// body timeout; the session stays resumable.
TEST_F(IdleTimeoutTest, StalledBodyIsCutOffAndResumable) {
  std::string content = random_bytes(200 * 1024, 36);
  std::string loc = start_upload("lib/stall");
  Connection c = connect();
  Request patch{.method = "PATCH",
                .target = loc,
                .headers = {{"Content-Length", std::to_string(content.size())}},
                .no_content_length = true};
  c.send(patch.head());
  c.send(std::string_view(content).substr(0, 1000));
  seconds_until_closed(c);
  expect_alive();
  EXPECT_EQ(http().get(blob_url("lib/stall", sha256(content))).status, 404u);
  resume_and_finish(http(), loc, content);
}

// A client that stops reading a download is cut off after the body timeout
// instead of pinning the connection forever.
TEST_F(IdleTimeoutTest, StalledDownloadIsCutOff) {
  std::string content = random_bytes(32 * 1024 * 1024, 38);
  std::string digest = push_blob("lib/slowread", content);
  Connection c = connect();
  int small = 16 * 1024;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  c.send(Request{.target = blob_url("lib/slowread", digest)}.serialize());
  // Read nothing for longer than the body timeout, then drain what the
  // kernel buffered: the server must have given up before the end.
  std::this_thread::sleep_for(std::chrono::seconds(kIdleSeconds + 2));
  std::size_t received = 0;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    received += static_cast<std::size_t>(n);
  }
  EXPECT_LT(received, content.size()) << "the whole blob was sent to a client that stalled";
  expect_alive();
}

// A burst of 200 requests, many of them aborted, must not leave descriptors
// behind once the connections are closed.
TEST_F(RobustnessTest, NoDescriptorLeakAfterABurst) {
  std::string blob = random_bytes(256 * 1024, 37);
  std::string digest = push_blob("lib/fd", blob);
  PushedImage img = push_image("lib/fd", "v1");
  http().disconnect();
  expect_alive();
  const std::size_t baseline = open_fd_count();

  std::vector<std::string> cancel;
  for (int i = 0; i < 200; ++i) {
    Connection c = connect();
    switch (i % 10) {
      case 0:  // plain request, keep-alive, closed by us
        EXPECT_EQ(c.roundtrip(Request{.target = "/v2/"}).status, 200u);
        break;
      case 1:  // blob download
        EXPECT_EQ(c.roundtrip(Request{.target = blob_url("lib/fd", digest)}).status, 200u);
        break;
      case 2:  // download aborted after the first bytes
        c.send(Request{.target = blob_url("lib/fd", digest)}.serialize());
        c.wait_readable(5s);
        c.reset();
        break;
      case 3:  // aborted mid-headers
        c.send("GET /v2/ HTTP/1.1\r\nHo");
        c.reset();
        break;
      case 4:  // malformed request
        c.send("NOPE\r\n\r\n");
        c.try_read_response();
        break;
      case 5: {  // upload aborted mid-body, then cancelled
        Response post =
            c.roundtrip(Request{.method = "POST", .target = "/v2/lib/fd/blobs/uploads/"});
        std::string loc = post.header("Location");
        cancel.push_back(loc);
        c.send(Request{.method = "PATCH",
                       .target = loc,
                       .headers = {{"Content-Length", "100000"}},
                       .no_content_length = true}
                   .head() +
               std::string(5000, 'x'));
        c.reset();
        break;
      }
      case 6:  // complete monolithic upload
        EXPECT_EQ(c.roundtrip(Request{.method = "POST",
                                      .target = "/v2/lib/fd/blobs/uploads/?digest=" +
                                                sha256(std::to_string(i)),
                                      .body = std::to_string(i)})
                      .status,
                  201u);
        break;
      case 7:  // manifest GET + HEAD with Connection: close
        EXPECT_EQ(c.roundtrip(Request{.target = "/v2/lib/fd/manifests/v1"}).status, 200u);
        EXPECT_EQ(c.roundtrip(Request{.method = "HEAD",
                                      .target = "/v2/lib/fd/manifests/v1",
                                      .headers = {{"Connection", "close"}}})
                      .status,
                  200u);
        c.wait_closed(5s);
        break;
      case 8:  // oversized header
        c.try_send("GET /v2/ HTTP/1.1\r\nX: " + std::string(17 * 1024, 'a') + "\r\n\r\n");
        c.try_read_response();
        break;
      case 9:  // error replies
        EXPECT_EQ(c.roundtrip(Request{.target = "/v2/lib/fd/blobs/" + sha256("none")}).status,
                  404u);
        break;
    }
  }
  for (const auto& loc : cancel) {
    // Even if the aborted PATCH is still finishing on the server, the
    // session lock orders it before or after this cancel.
    Response d = http().del(loc);
    EXPECT_EQ(d.status, 204u) << d.body;
  }
  http().disconnect();

  // Connections close asynchronously on the server side: poll, don't sleep.
  std::size_t now = open_fd_count();
  for (int i = 0; i < 250 && now > baseline + 2; ++i) {
    std::this_thread::sleep_for(20ms);
    now = open_fd_count();
  }
  EXPECT_LE(now, baseline + 2) << "descriptors leaked: " << baseline << " before, " << now
                               << " after the burst";
  expect_alive();
}

// Upload sessions a client starts and abandons must not pin one open file
// descriptor each: anyone who can POST could otherwise exhaust the server's
// descriptors (EMFILE), after which it cannot accept connections.
TEST_F(RobustnessTest, AbandonedUploadSessionsDoNotHoldDescriptors) {
  expect_alive();
  http().disconnect();
  const std::size_t baseline = open_fd_count();
  for (int i = 0; i < 100; ++i) {
    std::string loc = start_upload("lib/abandon");
    ASSERT_EQ(http().patch(loc, "partial " + std::to_string(i)).status, 202u);
  }
  http().disconnect();
  std::size_t now = open_fd_count();
  for (int i = 0; i < 100 && now > baseline + 10; ++i) {
    std::this_thread::sleep_for(20ms);
    now = open_fd_count();
  }
  EXPECT_LE(now, baseline + 10) << "100 abandoned upload sessions hold " << (now - baseline)
                                << " descriptors";
}

TEST_F(RobustnessTest, ManyConcurrentConnections) {
  std::vector<Connection> conns;
  for (int i = 0; i < 64; ++i) conns.push_back(connect());
  for (auto& c : conns) c.send(Request{.target = "/v2/"}.serialize());
  for (auto& c : conns) EXPECT_EQ(c.read_response().status, 200u);
}

}  // namespace
}  // namespace drydock::testing
