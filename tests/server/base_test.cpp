// GET /v2/, unknown endpoints, methods an endpoint does not support, and the
// connection semantics every other test relies on (keep-alive, pipelining,
// 100-continue).

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using namespace std::chrono_literals;
using BaseTest = ApiTest;

// distribution-spec "Determining Support" (end-1): 200 and the API version.
TEST_F(BaseTest, BaseEndpointAnswers200WithApiVersion) {
  Response r = http().get("/v2/");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Docker-Distribution-API-Version"), "registry/2.0");
  EXPECT_TRUE(r.json().is_object()) << r.body;

  Response h = http().head("/v2/");
  EXPECT_EQ(h.status, 200u);
  EXPECT_EQ(h.header("Docker-Distribution-API-Version"), "registry/2.0");
  EXPECT_TRUE(h.body.empty());
}

TEST_F(BaseTest, UnknownPathsAre404JsonErrors) {
  for (const char* path : {"/", "/v1/", "/v3/", "/v2x", "/v2/library", "/v2/library/ubuntu",
                           "/v2/library/ubuntu/manifest/latest", "/v2/library/ubuntu/tags",
                           "/v2/library/ubuntu/manifests/", "/v2/library/ubuntu/blobs/",
                           "/v2/manifests/latest", "/favicon.ico"}) {
    SCOPED_TRACE(path);
    Response r = http().get(path);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_FALSE(r.error_code().empty()) << r.body;
    EXPECT_EQ(r.header("Docker-Distribution-API-Version"), "registry/2.0");
  }
}

TEST_F(BaseTest, UnsupportedMethodsAre405) {
  std::string digest = push_blob("lib/app", "hello");
  struct Case {
    const char* method;
    std::string target;
  };
  for (const auto& c : std::vector<Case>{{"POST", "/v2/"},
                                         {"DELETE", "/v2/"},
                                         {"PUT", "/v2/_catalog"},
                                         {"POST", "/v2/lib/app/tags/list"},
                                         {"PUT", "/v2/lib/app/blobs/" + digest},
                                         {"POST", "/v2/lib/app/manifests/latest"},
                                         {"GET", "/v2/lib/app/blobs/uploads/"},
                                         {"POST", "/v2/lib/app/referrers/" + digest}}) {
    SCOPED_TRACE(std::string(c.method) + " " + c.target);
    Response r = http().send(Request{.method = c.method, .target = c.target});
    EXPECT_EQ(r.status, 405u) << r.body;
    EXPECT_FALSE(r.error_code().empty()) << r.body;
  }
  // The blob was not touched by the PUT.
  EXPECT_EQ(http().get("/v2/lib/app/blobs/" + digest).body, "hello");
}

TEST_F(BaseTest, KeepAliveServesManyRequestsOnOneConnection) {
  Connection c = connect();
  for (int i = 0; i < 20; ++i) {
    Response r = c.roundtrip(Request{.target = "/v2/"});
    ASSERT_EQ(r.status, 200u) << "request " << i;
    ASSERT_NE(r.header("Connection"), "close");
  }
  // Even after an error reply the connection stays usable.
  Response nf = c.roundtrip(Request{.target = "/v2/nope/manifests/latest"});
  EXPECT_EQ(nf.status, 404u);
  EXPECT_EQ(c.roundtrip(Request{.target = "/v2/"}).status, 200u);
}

TEST_F(BaseTest, PipelinedRequestsAreAnsweredInOrder) {
  std::string digest = push_blob("pipe/line", "pipelined body");
  Connection c = connect();
  std::string burst =
      Request{.target = "/v2/"}.serialize() +
      Request{.target = "/v2/pipe/line/blobs/" + digest}.serialize() +
      Request{.target = "/v2/pipe/line/blobs/" + sha256("x")}.serialize() +
      Request{.method = "HEAD", .target = "/v2/pipe/line/blobs/" + digest}.serialize() +
      Request{.target = "/v2/_catalog"}.serialize();
  c.send(burst);
  EXPECT_EQ(c.read_response().status, 200u);
  Response blob = c.read_response();
  EXPECT_EQ(blob.status, 200u);
  EXPECT_EQ(blob.body, "pipelined body");
  EXPECT_EQ(c.read_response().error_code(), "BLOB_UNKNOWN");
  Response head = c.read_response(/*head=*/true);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("Content-Length"), "14");
  Response catalog = c.read_response();
  EXPECT_EQ(catalog.status, 200u);
  EXPECT_EQ(catalog.json()["repositories"], nlohmann::json::array({"pipe/line"}));
}

TEST_F(BaseTest, ConnectionCloseIsHonoured) {
  Connection c = connect();
  Response r = c.roundtrip(Request{.target = "/v2/", .headers = {{"Connection", "close"}}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
}

TEST_F(BaseTest, Http10RequestIsAnsweredAndClosed) {
  Connection c = connect();
  c.send("GET /v2/ HTTP/1.0\r\n\r\n");
  Response r = c.read_response();
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
}

// RFC 9112 3.2.2: "a server MUST accept the absolute-form in requests".
TEST_F(BaseTest, AbsoluteFormRequestTarget) {
  std::string digest = push_blob("lib/abs", "absolute");
  std::string origin = "http://127.0.0.1:" + std::to_string(port());
  Response base = http().get(origin + "/v2/");
  EXPECT_EQ(base.status, 200u) << base.body;
  Response blob = http().get(origin + "/v2/lib/abs/blobs/" + digest);
  EXPECT_EQ(blob.status, 200u) << blob.body;
  EXPECT_EQ(blob.body, "absolute");
}

// RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code
// to any HTTP/1.1 request message that lacks a Host header field and to any
// request message that contains more than one Host header field line".
TEST_F(BaseTest, MissingOrDuplicateHostIs400) {
  for (const char* raw :
       {"GET /v2/ HTTP/1.1\r\n\r\n", "GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}) {
    SCOPED_TRACE(raw);
    Connection c = connect();
    c.send(raw);
    Response r = c.read_response();
    EXPECT_EQ(r.status, 400u) << r.body;
  }
  expect_alive();
}

// RFC 9112 6.3: a request with both Transfer-Encoding and Content-Length is
// a smuggling vector: the server may reject it (400) or use the chunked
// framing, but then MUST close the connection after responding.
TEST_F(BaseTest, ContentLengthWithChunkedIsRejectedOrClosed) {
  std::string loc = start_upload("lib/smuggle");
  Connection c = connect();
  c.send("PATCH " + loc +
         " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n0\r\n\r\n" +
         Request{.target = "/v2/"}.serialize());
  Response r = c.read_response();
  if (r.status != 400u) {
    EXPECT_TRUE(c.wait_closed(5s))
        << "kept the connection after an ambiguous framing, status " << r.status;
  }
  expect_alive();
}

// A request pipelined right behind a streamed upload body is read from the
// same buffer: the upload must not swallow it, nor it the upload.
TEST_F(BaseTest, RequestPipelinedBehindAStreamedBody) {
  std::string loc = start_upload("lib/pipe-upload");
  std::string content = random_bytes(200000, 12);
  Connection c = connect();
  c.send(
      Request{.method = "PATCH", .target = loc, .body = content}.serialize() +
      Request{.target = loc}.serialize() +
      Request{.method = "PATCH", .target = loc, .body = "tail", .chunked = true}.serialize() +
      Request{.method = "PUT", .target = with_digest(loc, sha256(content + "tail"))}.serialize());
  Response p = c.read_response();
  EXPECT_EQ(p.status, 202u) << p.body;
  Response s = c.read_response();
  EXPECT_EQ(s.status, 204u);
  EXPECT_EQ(s.header("Range"), "0-" + std::to_string(content.size() - 1));
  Response t = c.read_response();
  EXPECT_EQ(t.status, 202u) << t.body;
  Response put = c.read_response();
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_TRUE(http().get("/v2/lib/pipe-upload/blobs/" + sha256(content + "tail")).body ==
              content + "tail");
}

// RFC 9110 10.1.1: a body the server will accept gets "100 Continue" first.
TEST_F(BaseTest, ExpectContinueGets100BeforeTheBody) {
  std::string loc = start_upload("cont/app");
  Connection c = connect();
  Request patch{.method = "PATCH",
                .target = loc,
                .headers = {{"Expect", "100-continue"}, {"Content-Range", "0-4"}},
                .body = "abcde"};
  c.send(patch.head());
  Response interim = c.read_response(false, /*keep_interim=*/true);
  EXPECT_EQ(interim.status, 100u);
  c.send(patch.wire_body());
  Response r = c.read_response();
  EXPECT_EQ(r.status, 202u) << r.body;
  EXPECT_EQ(r.header("Range"), "0-4");
}

}  // namespace
}  // namespace drydock::testing
