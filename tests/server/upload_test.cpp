// Upload sessions (distribution-spec end-4a, end-5, end-6, "Pushing a blob in
// chunks"): POST/PATCH/PUT/GET/DELETE on /blobs/uploads/, Content-Range
// ordering, streamed and chunk-encoded bodies, session ownership.

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using UploadTest = ApiTest;

std::string blob_url(std::string_view repo, std::string_view digest) {
  return "/v2/" + std::string(repo) + "/blobs/" + std::string(digest);
}

std::string content_range(std::size_t first, std::size_t length) {
  return std::to_string(first) + "-" + std::to_string(first + length - 1);
}

// end-4a: POST -> 202 with Location and a Range header; then end-6 PUT with
// the whole body and the digest -> 201.
TEST_F(UploadTest, PostThenPutWithBody) {
  Response post = http().post("/v2/lib/post-put/blobs/uploads/");
  EXPECT_EQ(post.status, 202u) << post.body;
  std::string loc = post.header("Location");
  EXPECT_TRUE(loc.starts_with("/v2/lib/post-put/blobs/uploads/")) << loc;
  EXPECT_EQ(post.header("Range"), "0-0");
  EXPECT_EQ(post.header("Docker-Upload-UUID"), upload_id(loc));
  EXPECT_EQ(post.header("Content-Length"), "0");

  std::string content = random_bytes(10000, 3);
  std::string digest = sha256(content);
  Response put =
      http().put(with_digest(loc, digest), content, {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(put.header("Location"), blob_url("lib/post-put", digest));
  EXPECT_EQ(put.header("Docker-Content-Digest"), digest);

  EXPECT_EQ(http().get(blob_url("lib/post-put", digest)).body, content);
  // The session is finished.
  Response status = http().get(loc);
  EXPECT_EQ(status.status, 404u);
  EXPECT_EQ(status.error_code(), "BLOB_UPLOAD_UNKNOWN");
}

// "Pushing a blob in chunks": PATCH with Content-Range, each answered 202 with
// the Range received so far; then PUT ?digest= with no body.
TEST_F(UploadTest, ChunkedPatchesThenEmptyPut) {
  std::string content = random_bytes(3 * 4096 + 17, 4);
  std::string loc = start_upload("lib/chunks");
  std::size_t chunk = 4096;
  for (std::size_t off = 0; off < content.size(); off += chunk) {
    std::size_t n = std::min(chunk, content.size() - off);
    Response r = http().patch(
        loc, content.substr(off, n),
        {{"Content-Range", content_range(off, n)}, {"Content-Type", "application/octet-stream"}});
    ASSERT_EQ(r.status, 202u) << r.body;
    EXPECT_EQ(r.header("Range"), "0-" + std::to_string(off + n - 1));
    EXPECT_TRUE(r.has("Location"));
    EXPECT_EQ(upload_id(r.header("Location")), upload_id(loc));
    loc = r.header("Location");
  }
  Response put = http().put(with_digest(loc, sha256(content)), "");
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(put.header("Docker-Content-Digest"), sha256(content));
  EXPECT_EQ(http().get(blob_url("lib/chunks", sha256(content))).body, content);
}

TEST_F(UploadTest, ChunkedPatchThenPutWithFinalChunk) {
  std::string content = "first chunk|final chunk";
  std::string loc = start_upload("lib/final");
  Response p = http().patch(loc, content.substr(0, 12), {{"Content-Range", "0-11"}});
  ASSERT_EQ(p.status, 202u) << p.body;
  Response put = http().put(with_digest(p.header("Location"), sha256(content)), content.substr(12),
                            {{"Content-Range", content_range(12, content.size() - 12)}});
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(http().get(blob_url("lib/final", sha256(content))).body, content);
}

// Docker streams the whole layer in one PATCH without Content-Range.
TEST_F(UploadTest, StreamedPatchWithoutContentRange) {
  std::string content = random_bytes(2 * 1024 * 1024 + 5, 8);  // several server pieces
  std::string loc = start_upload("lib/stream");
  Response p = http().patch(loc, content);
  ASSERT_EQ(p.status, 202u) << p.body;
  EXPECT_EQ(p.header("Range"), "0-" + std::to_string(content.size() - 1));

  // A second streamed PATCH appends.
  std::string more = "and some more";
  Response p2 = http().patch(p.header("Location"), more);
  ASSERT_EQ(p2.status, 202u) << p2.body;
  EXPECT_EQ(p2.header("Range"), "0-" + std::to_string(content.size() + more.size() - 1));

  Response put = http().put(with_digest(p2.header("Location"), sha256(content + more)), "");
  EXPECT_EQ(put.status, 201u) << put.body;
  Response g = http().get(blob_url("lib/stream", sha256(content + more)));
  EXPECT_EQ(g.status, 200u);
  EXPECT_TRUE(g.body == content + more);
}

TEST_F(UploadTest, ChunkedTransferEncodingPatch) {
  std::string content = random_bytes(300 * 1024 + 3, 9);
  std::string loc = start_upload("lib/te");
  Response p = http().send(Request{
      .method = "PATCH", .target = loc, .body = content, .chunked = true, .chunk_size = 7000});
  ASSERT_EQ(p.status, 202u) << p.body;
  EXPECT_EQ(p.header("Range"), "0-" + std::to_string(content.size() - 1));
  Response put = http().put(with_digest(p.header("Location"), sha256(content)), "");
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_TRUE(http().get(blob_url("lib/te", sha256(content))).body == content);
}

TEST_F(UploadTest, ChunkedTransferEncodingMonolithicPostAndPut) {
  std::string a = random_bytes(100000, 21);
  Response post = http().send(Request{.method = "POST",
                                      .target = "/v2/lib/te2/blobs/uploads/?digest=" + sha256(a),
                                      .body = a,
                                      .chunked = true,
                                      .chunk_size = 1500});
  EXPECT_EQ(post.status, 201u) << post.body;
  EXPECT_TRUE(http().get(blob_url("lib/te2", sha256(a))).body == a);

  std::string b = random_bytes(70000, 22);
  std::string loc = start_upload("lib/te2");
  Response put = http().send(
      Request{.method = "PUT", .target = with_digest(loc, sha256(b)), .body = b, .chunked = true});
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_TRUE(http().get(blob_url("lib/te2", sha256(b))).body == b);
}

// end-5: GET on the session -> 204 with the Range received so far.
TEST_F(UploadTest, UploadStatus) {
  std::string loc = start_upload("lib/status");
  ASSERT_EQ(http().patch(loc, "0123456789", {{"Content-Range", "0-9"}}).status, 202u);
  Response s = http().get(loc);
  EXPECT_EQ(s.status, 204u);
  EXPECT_EQ(s.header("Range"), "0-9");
  EXPECT_EQ(upload_id(s.header("Location")), upload_id(loc));
  EXPECT_EQ(s.header("Docker-Upload-UUID"), upload_id(loc));
  EXPECT_TRUE(s.body.empty());
}

// Out-of-order, overlapping, repeated and malformed chunks are refused with
// 416 and a Range telling where to resume; nothing of them is written.
TEST_F(UploadTest, OutOfOrderAndOverlappingPatchesAre416) {
  std::string content = "0123456789ABCDEFGHIJ";
  std::string loc = start_upload("lib/order");
  ASSERT_EQ(http().patch(loc, content.substr(0, 5), {{"Content-Range", "0-4"}}).status, 202u);

  struct Bad {
    std::string range;
    std::string body;
  };
  for (const auto& bad : std::vector<Bad>{{"10-14", "XXXXX"},  // gap
                                          {"3-7", "XXXXX"},    // overlap
                                          {"0-4", "XXXXX"},    // repeated
                                          {"6-10", "XXXXX"},   // one past
                                          {"4-8", "XXXXX"},    // one before
                                          {"garbage", "XXXXX"},
                                          {"7-5", "XXX"}}) {  // inverted
    SCOPED_TRACE(bad.range);
    Response r = http().patch(loc, bad.body, {{"Content-Range", bad.range}});
    EXPECT_EQ(r.status, 416u) << r.body;
    EXPECT_EQ(r.header("Range"), "0-4");
    EXPECT_EQ(upload_id(r.header("Location")), upload_id(loc));
    Response s = http().get(loc);
    EXPECT_EQ(s.status, 204u);
    EXPECT_EQ(s.header("Range"), "0-4");
  }
  // The session goes on from where the 416 said.
  ASSERT_EQ(http().patch(loc, content.substr(5, 10), {{"Content-Range", "5-14"}}).status, 202u);
  // A final PUT whose Content-Range does not continue is refused too.
  Response badput = http().put(with_digest(loc, sha256(content)), content.substr(10),
                               {{"Content-Range", "10-19"}});
  EXPECT_EQ(badput.status, 416u) << badput.body;
  EXPECT_EQ(badput.header("Range"), "0-14");

  Response put = http().put(with_digest(loc, sha256(content)), content.substr(15),
                            {{"Content-Range", "15-19"}});
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(http().get(blob_url("lib/order", sha256(content))).body, content);
}

// A client that sends a whole large chunk before reading (as Go's HTTP client
// does) must still read the 416: the server discards the unread body for a
// moment before closing instead of resetting the connection under it.
TEST_F(UploadTest, LargeRefusedChunkStillGetsItsAnswer) {
  std::string loc = start_upload("lib/big416");
  ASSERT_EQ(http().patch(loc, "01234", {{"Content-Range", "0-4"}}).status, 202u);
  for (bool chunked : {false, true}) {
    SCOPED_TRACE(chunked ? "chunked" : "content-length");
    Request req;
    req.method = "PATCH";
    req.target = loc;
    req.headers = {{"Content-Range", "100-8388707"}, {"Content-Type", "application/octet-stream"}};
    req.body = std::string(8 << 20, 'x');
    req.chunked = chunked;
    req.chunk_size = 1 << 20;
    Connection conn = connect();
    conn.send(req.serialize());
    Response r = conn.read_response();
    EXPECT_EQ(r.status, 416u) << r.body;
    EXPECT_EQ(r.header("Range"), "0-4");
  }
  EXPECT_EQ(http().get(loc).header("Range"), "0-4");
}

// The Content-Range of a chunk must describe the body that comes with it;
// a body longer or shorter than the range is refused (416 or 400) and not
// written. Each case starts from a session holding "01234".
TEST_F(UploadTest, ContentRangeThatDoesNotMatchTheBodyIsRefused) {
  struct Case {
    std::string what;
    std::string method;
    std::string range;
    std::string body;
    bool chunked;
  };
  for (const auto& c :
       std::vector<Case>{{"longer body, Content-Length", "PATCH", "5-6", "56789", false},
                         {"longer body, chunked", "PATCH", "5-6", "56789", true},
                         {"shorter body, chunked", "PATCH", "5-9", "56", true},
                         {"final PUT, longer body, chunked", "PUT", "5-6", "56789", true}}) {
    SCOPED_TRACE(c.what);
    std::string loc = start_upload("lib/mismatch-range");
    ASSERT_EQ(http().patch(loc, "01234", {{"Content-Range", "0-4"}}).status, 202u);
    std::string target = c.method == "PUT" ? with_digest(loc, sha256("01234" + c.body)) : loc;
    Response r = http().send(Request{.method = c.method,
                                     .target = target,
                                     .headers = {{"Content-Range", c.range}},
                                     .body = c.body,
                                     .chunked = c.chunked});
    EXPECT_TRUE(r.status == 416u || r.status == 400u) << r.status << " " << r.body;
    EXPECT_EQ(http().get(blob_url("lib/mismatch-range", sha256("01234" + c.body))).status, 404u);
    Response s = http().get(loc);
    if (s.status == 204u) {
      EXPECT_EQ(s.header("Range"), "0-4") << "a refused chunk was written";
    }
  }
}

TEST_F(UploadTest, DigestMismatchOnPutDiscardsTheSession) {
  std::string content = "the real content";
  std::string loc = start_upload("lib/mismatch");
  ASSERT_EQ(http().patch(loc, content).status, 202u);
  std::string wrong = sha256("not the content");
  Response put = http().put(with_digest(loc, wrong), "");
  EXPECT_EQ(put.status, 400u);
  EXPECT_EQ(put.error_code(), "DIGEST_INVALID") << put.body;

  EXPECT_EQ(http().get(blob_url("lib/mismatch", wrong)).status, 404u);
  EXPECT_EQ(http().get(blob_url("lib/mismatch", sha256(content))).status, 404u);
  Response s = http().get(loc);
  EXPECT_EQ(s.status, 404u);
  EXPECT_EQ(s.error_code(), "BLOB_UPLOAD_UNKNOWN");
  // Nothing left of it on disk either.
  EXPECT_FALSE(std::filesystem::exists(data_dir() / "uploads" / upload_id(loc)));
}

TEST_F(UploadTest, PutWithoutDigestIsDigestInvalid) {
  std::string loc = start_upload("lib/nodigest");
  ASSERT_EQ(http().patch(loc, "abc").status, 202u);
  Response put = http().put(loc, "");
  EXPECT_EQ(put.status, 400u);
  EXPECT_EQ(put.error_code(), "DIGEST_INVALID") << put.body;
  Response bad = http().put(with_digest(loc, "sha256:nothex"), "");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.error_code(), "DIGEST_INVALID") << bad.body;
  EXPECT_EQ(http().get(blob_url("lib/nodigest", sha256("abc"))).status, 404u);
}

// DELETE on the session -> 204; afterwards every call on it is 404.
TEST_F(UploadTest, CancelUpload) {
  std::string loc = start_upload("lib/cancel");
  ASSERT_EQ(http().patch(loc, "some bytes").status, 202u);
  Response d = http().del(loc);
  EXPECT_EQ(d.status, 204u) << d.body;

  for (const auto& r : {http().get(loc), http().patch(loc, "more"),
                        http().put(with_digest(loc, sha256("some bytes")), ""), http().del(loc)}) {
    EXPECT_EQ(r.status, 404u) << r.body;
    EXPECT_EQ(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
  }
  EXPECT_EQ(http().get(blob_url("lib/cancel", sha256("some bytes"))).status, 404u);
  EXPECT_FALSE(std::filesystem::exists(data_dir() / "uploads" / upload_id(loc)));
}

TEST_F(UploadTest, UnknownUploadIdIs404) {
  push_blob("lib/unknown", "x");
  for (const std::string& id : std::vector<std::string>{
           "00000000-0000-4000-8000-000000000000", "not-a-uuid", "..", std::string(300, 'a')}) {
    SCOPED_TRACE(id);
    std::string loc = "/v2/lib/unknown/blobs/uploads/" + id;
    for (const auto& r : {http().get(loc), http().patch(loc, "data"),
                          http().put(with_digest(loc, sha256("data")), "data"), http().del(loc)}) {
      EXPECT_EQ(r.status, 404u) << r.body;
      EXPECT_EQ(r.error_code(), "BLOB_UPLOAD_UNKNOWN") << r.body;
    }
  }
  expect_alive();
}

// A session belongs to the repository it was started in.
TEST_F(UploadTest, UploadIdUnderAnotherRepositoryIs404) {
  std::string loc = start_upload("team/owner");
  ASSERT_EQ(http().patch(loc, "owned").status, 202u);
  std::string id = upload_id(loc);
  std::string foreign = "/v2/team/intruder/blobs/uploads/" + id;
  for (const auto& r :
       {http().get(foreign), http().patch(foreign, "evil"),
        http().put(with_digest(foreign, sha256("owned")), ""), http().del(foreign)}) {
    EXPECT_EQ(r.status, 404u) << r.body;
    EXPECT_EQ(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
  }
  EXPECT_EQ(http().get(blob_url("team/intruder", sha256("owned"))).status, 404u);
  // The owner's session is intact.
  Response s = http().get(loc);
  EXPECT_EQ(s.status, 204u);
  EXPECT_EQ(s.header("Range"), "0-4");
  Response put = http().put(with_digest(loc, sha256("owned")), "");
  EXPECT_EQ(put.status, 201u) << put.body;
}

TEST_F(UploadTest, UploadsToTheSameRepositoryAreIndependent) {
  std::string a = start_upload("lib/many");
  std::string b = start_upload("lib/many");
  EXPECT_NE(upload_id(a), upload_id(b));
  ASSERT_EQ(http().patch(a, "aaaa").status, 202u);
  ASSERT_EQ(http().patch(b, "bb").status, 202u);
  EXPECT_EQ(http().get(a).header("Range"), "0-3");
  EXPECT_EQ(http().get(b).header("Range"), "0-1");
  EXPECT_EQ(http().put(with_digest(b, sha256("bb")), "").status, 201u);
  EXPECT_EQ(http().put(with_digest(a, sha256("aaaa")), "").status, 201u);
}

// Two requests streaming into one session at once: one wins, the other is
// refused, and the bytes never interleave (or, if the server happened to
// serve them one after the other, both succeed in sequence).
TEST_F(UploadTest, ConcurrentPatchesOnOneSessionDoNotInterleave) {
  std::string loc = start_upload("lib/race");
  std::string a(64 * 1024, 'a'), b(64 * 1024, 'b');
  Connection ca = connect(), cb = connect();
  auto head = [&](std::size_t n) {
    return Request{.method = "PATCH",
                   .target = loc,
                   .headers = {{"Content-Length", std::to_string(n)}},
                   .no_content_length = true}
        .head();
  };
  ca.send(head(a.size()));
  cb.send(head(b.size()));
  for (std::size_t off = 0; off < a.size(); off += 4096) {
    ca.try_send(std::string_view(a).substr(off, 4096));
    cb.try_send(std::string_view(b).substr(off, 4096));
  }
  auto ra = ca.try_read_response();
  auto rb = cb.try_read_response();
  bool a_won = ra && ra->status == 202u;
  bool b_won = rb && rb->status == 202u;
  Response s = http().get(loc);
  ASSERT_EQ(s.status, 204u);
  if (a_won && b_won) {
    // The server may read one request wholly before the other's header: two
    // PATCHes one after the other, both valid. Their bytes must then follow
    // each other, not interleave.
    EXPECT_EQ(s.header("Range"), "0-" + std::to_string(a.size() + b.size() - 1));
    Response ab = http().put(with_digest(loc, sha256(a + b)), "");
    if (ab.status != 201u) {
      Response ba = http().put(with_digest(loc, sha256(b + a)), "");
      EXPECT_EQ(ba.status, 201u) << "the two bodies interleaved: " << ab.body << ba.body;
    }
    return;
  }
  EXPECT_NE(a_won, b_won) << "one concurrent PATCH must succeed: " << (ra ? ra->status : 0)
                          << " / " << (rb ? rb->status : 0);
  EXPECT_EQ(s.header("Range"), "0-" + std::to_string(a.size() - 1));
  if (a_won != b_won) {
    const std::string& winner = a_won ? a : b;
    Response put = http().put(with_digest(loc, sha256(winner)), "");
    EXPECT_EQ(put.status, 201u) << "session content is not the winner's body: " << put.body;
  }
}

class ChunkMinLengthTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    stop_server();
    registry::RegistryOptions o;
    o.chunk_min_length = 65536;
    start_server(default_config(), o);
  }
};

// distribution-spec: OCI-Chunk-Min-Length is advertised on the POST reply.
TEST_F(ChunkMinLengthTest, PostAdvertisesChunkMinLength) {
  Response post = http().post("/v2/lib/min/blobs/uploads/");
  EXPECT_EQ(post.status, 202u);
  EXPECT_EQ(post.header("OCI-Chunk-Min-Length"), "65536");
}

}  // namespace
}  // namespace drydock::testing
