// Blob endpoints (distribution-spec end-2, end-4b, end-10, end-11): pulling
// with ranges and conditional requests, monolithic pushes, digests, deletion,
// per-repository visibility and cross-repository mounts.

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using BlobTest = ApiTest;

std::string blob_url(std::string_view repo, std::string_view digest) {
  return "/v2/" + std::string(repo) + "/blobs/" + std::string(digest);
}

// end-4b: POST ?digest= with the whole blob as body -> 201.
TEST_F(BlobTest, MonolithicPostWithDigestCreatesTheBlob) {
  std::string content = "monolithic blob content";
  std::string digest = sha256(content);
  Response r = http().post("/v2/lib/mono/blobs/uploads/?digest=" + digest, content,
                           {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.header("Location"), blob_url("lib/mono", digest));
  EXPECT_EQ(r.header("Docker-Content-Digest"), digest);

  Response g = http().get(r.header("Location"));
  EXPECT_EQ(g.status, 200u);
  EXPECT_EQ(g.body, content);

  // The digest parameter may be percent-encoded.
  std::string other = "percent-encoded digest";
  std::string encoded = "sha256%3A" + sha256(other).substr(7);
  Response e = http().post("/v2/lib/mono/blobs/uploads/?digest=" + encoded, other);
  EXPECT_EQ(e.status, 201u) << e.body;
  EXPECT_EQ(e.header("Docker-Content-Digest"), sha256(other));
}

TEST_F(BlobTest, GetAndHeadCarryLengthDigestAndEtag) {
  std::string content = random_bytes(5000, 7);
  std::string digest = push_blob("lib/get", content);

  Response g = http().get(blob_url("lib/get", digest));
  EXPECT_EQ(g.status, 200u);
  EXPECT_EQ(g.body, content);
  EXPECT_EQ(g.header("Content-Length"), "5000");
  EXPECT_EQ(g.header("Docker-Content-Digest"), digest);
  EXPECT_NE(g.header("ETag").find(digest), std::string::npos) << g.header("ETag");

  Response h = http().head(blob_url("lib/get", digest));
  EXPECT_EQ(h.status, 200u);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(h.header("Content-Length"), "5000");
  EXPECT_EQ(h.header("Docker-Content-Digest"), digest);
  EXPECT_EQ(h.header("ETag"), g.header("ETag"));
}

TEST_F(BlobTest, LargeBlobRoundTrips) {
  std::string content = random_bytes(5 * 1024 * 1024 + 123, 11);
  std::string digest = push_blob("lib/large", content);
  Response g = http().get(blob_url("lib/large", digest));
  EXPECT_EQ(g.status, 200u);
  EXPECT_EQ(g.body.size(), content.size());
  EXPECT_TRUE(g.body == content);
}

TEST_F(BlobTest, EmptyBlob) {
  std::string digest = push_blob("lib/empty", "");
  EXPECT_EQ(digest, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Response g = http().get(blob_url("lib/empty", digest));
  EXPECT_EQ(g.status, 200u);
  EXPECT_EQ(g.header("Content-Length"), "0");
  EXPECT_TRUE(g.body.empty());
}

// RFC 9110 14: byte ranges, suffix ranges, open ranges, unsatisfiable ranges.
TEST_F(BlobTest, RangeRequests) {
  std::string content = "0123456789abcdefghij";  // 20 bytes
  std::string digest = push_blob("lib/range", content);
  std::string url = blob_url("lib/range", digest);

  Response r = http().get(url, {{"Range", "bytes=2-5"}});
  EXPECT_EQ(r.status, 206u);
  EXPECT_EQ(r.body, "2345");
  EXPECT_EQ(r.header("Content-Range"), "bytes 2-5/20");
  EXPECT_EQ(r.header("Content-Length"), "4");

  Response suffix = http().get(url, {{"Range", "bytes=-3"}});
  EXPECT_EQ(suffix.status, 206u);
  EXPECT_EQ(suffix.body, "hij");
  EXPECT_EQ(suffix.header("Content-Range"), "bytes 17-19/20");

  Response open = http().get(url, {{"Range", "bytes=15-"}});
  EXPECT_EQ(open.status, 206u);
  EXPECT_EQ(open.body, "fghij");
  EXPECT_EQ(open.header("Content-Range"), "bytes 15-19/20");

  Response clipped = http().get(url, {{"Range", "bytes=18-1000"}});
  EXPECT_EQ(clipped.status, 206u);
  EXPECT_EQ(clipped.body, "ij");
  EXPECT_EQ(clipped.header("Content-Range"), "bytes 18-19/20");

  Response head = http().head(url, {{"Range", "bytes=0-9"}});
  EXPECT_EQ(head.status, 206u);
  EXPECT_EQ(head.header("Content-Length"), "10");
  EXPECT_EQ(head.header("Content-Range"), "bytes 0-9/20");

  for (const char* bad : {"bytes=20-25", "bytes=100-", "bytes=-0"}) {
    SCOPED_TRACE(bad);
    Response u = http().get(url, {{"Range", bad}});
    EXPECT_EQ(u.status, 416u) << u.body;
    EXPECT_EQ(u.header("Content-Range"), "bytes */20");
  }
  // The connection is still fine after a 416.
  EXPECT_EQ(http().get(url).body, content);
}

TEST_F(BlobTest, IfNoneMatchGives304) {
  std::string digest = push_blob("lib/etag", "cache me");
  std::string url = blob_url("lib/etag", digest);
  std::string etag = http().head(url).header("ETag");
  ASSERT_FALSE(etag.empty());

  Response r = http().get(url, {{"If-None-Match", etag}});
  EXPECT_EQ(r.status, 304u);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.header("ETag"), etag);

  Response other = http().get(url, {{"If-None-Match", "\"" + sha256("other") + "\""}});
  EXPECT_EQ(other.status, 200u);
  EXPECT_EQ(other.body, "cache me");
}

TEST_F(BlobTest, UnknownBlobIs404BlobUnknown) {
  push_blob("lib/known", "known");
  for (const std::string repo : {"lib/known", "lib/never-pushed"}) {
    Response g = http().get(blob_url(repo, sha256("never pushed")));
    EXPECT_EQ(g.status, 404u);
    EXPECT_EQ(g.error_code(), "BLOB_UNKNOWN") << g.body;
    Response h = http().head(blob_url(repo, sha256("never pushed")));
    EXPECT_EQ(h.status, 404u);
    EXPECT_TRUE(h.body.empty());
  }
}

// end-10: DELETE -> 202, then the blob is gone from that repository.
TEST_F(BlobTest, DeleteBlob) {
  std::string digest = push_blob("lib/del", "delete me");
  Response d = http().del(blob_url("lib/del", digest));
  EXPECT_EQ(d.status, 202u) << d.body;

  Response g = http().get(blob_url("lib/del", digest));
  EXPECT_EQ(g.status, 404u);
  EXPECT_EQ(g.error_code(), "BLOB_UNKNOWN");
  EXPECT_EQ(http().head(blob_url("lib/del", digest)).status, 404u);

  Response again = http().del(blob_url("lib/del", digest));
  EXPECT_EQ(again.status, 404u);
  EXPECT_EQ(again.error_code(), "BLOB_UNKNOWN");

  // A deleted blob can neither be referenced by a manifest nor mounted.
  std::string config = push_blob("lib/del", "{}");
  std::string m = image_manifest(kOciManifest, descriptor(kOciConfig, config, 2),
                                 nlohmann::json::array({descriptor(kOciLayer, digest, 9)}));
  Response put = put_manifest("lib/del", "v1", kOciManifest, m);
  EXPECT_EQ(put.status, 404u);
  EXPECT_EQ(put.error_code(), "MANIFEST_BLOB_UNKNOWN") << put.body;
  Response mount = http().post("/v2/lib/del2/blobs/uploads/?mount=" + digest + "&from=lib/del");
  EXPECT_EQ(mount.status, 202u) << mount.body;
  EXPECT_EQ(http().get(blob_url("lib/del2", digest)).status, 404u);
}

TEST_F(BlobTest, DeleteInOneRepositoryLeavesTheOther) {
  std::string digest = push_blob("lib/one", "shared");
  push_blob("lib/two", "shared");
  EXPECT_EQ(http().del(blob_url("lib/one", digest)).status, 202u);
  EXPECT_EQ(http().get(blob_url("lib/one", digest)).status, 404u);
  Response g = http().get(blob_url("lib/two", digest));
  EXPECT_EQ(g.status, 200u);
  EXPECT_EQ(g.body, "shared");
}

TEST_F(BlobTest, Sha512DigestUpload) {
  std::string content = random_bytes(3000, 5);
  std::string digest = sha512(content);
  Response r = http().post("/v2/lib/sha512/blobs/uploads/?digest=" + digest, content);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.header("Docker-Content-Digest"), digest);
  EXPECT_EQ(r.header("Location"), blob_url("lib/sha512", digest));

  Response g = http().get(blob_url("lib/sha512", digest));
  EXPECT_EQ(g.status, 200u);
  EXPECT_EQ(g.body, content);
  EXPECT_EQ(g.header("Docker-Content-Digest"), digest);

  // Chunked session completed with a sha512 digest too.
  std::string loc = start_upload("lib/sha512");
  std::string other = random_bytes(2000, 6);
  EXPECT_EQ(http().patch(loc, other).status, 202u);
  Response put = http().put(with_digest(loc, sha512(other)), "");
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(http().get(blob_url("lib/sha512", sha512(other))).body, other);
}

// A blob whose content does not hash to the given digest is refused and
// never becomes visible, under either digest.
TEST_F(BlobTest, MonolithicDigestMismatch) {
  std::string content = "actual content";
  std::string claimed = sha256("something else");
  Response r = http().post("/v2/lib/bad/blobs/uploads/?digest=" + claimed, content);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "DIGEST_INVALID") << r.body;
  EXPECT_EQ(http().get(blob_url("lib/bad", claimed)).status, 404u);
  EXPECT_EQ(http().get(blob_url("lib/bad", sha256(content))).status, 404u);
}

TEST_F(BlobTest, InvalidDigestStringsAreDigestInvalid) {
  push_blob("lib/dig", "x");
  std::string hex64(64, 'a');
  for (const std::string& bad :
       {std::string("sha256:abc"), "sha256:" + std::string(64, 'A'), "sha256:" + hex64 + "00",
        "sha256:" + std::string(63, 'a') + "g", std::string("sha256"), std::string("notadigest"),
        "sha256::" + hex64, "SHA256:" + hex64, "sha512:" + hex64}) {
    SCOPED_TRACE(bad);
    Response g = http().get(blob_url("lib/dig", bad));
    EXPECT_EQ(g.status, 400u);
    EXPECT_EQ(g.error_code(), "DIGEST_INVALID") << g.body;

    Response post = http().post("/v2/lib/dig/blobs/uploads/?digest=" + bad, "x");
    EXPECT_EQ(post.status, 400u);
    EXPECT_EQ(post.error_code(), "DIGEST_INVALID") << post.body;

    Response del = http().del(blob_url("lib/dig", bad));
    EXPECT_EQ(del.status, 400u);
    EXPECT_EQ(del.error_code(), "DIGEST_INVALID") << del.body;
  }
  EXPECT_EQ(http().get(blob_url("lib/dig", sha256("x"))).body, "x");
}

// A well-formed digest of an algorithm the registry does not implement. The
// spec's error table has UNSUPPORTED for this; it fixes no status, so any
// client error is acceptable.
TEST_F(BlobTest, UnknownDigestAlgorithmIsUnsupported) {
  std::string digest = "sha384:" + std::string(96, 'a');
  Response g = http().get(blob_url("lib/alg", digest));
  EXPECT_GE(g.status, 400u);
  EXPECT_LT(g.status, 500u);
  EXPECT_EQ(g.error_code(), "UNSUPPORTED") << g.body;

  Response post = http().post("/v2/lib/alg/blobs/uploads/?digest=" + digest, "content");
  EXPECT_GE(post.status, 400u);
  EXPECT_LT(post.status, 500u);
  EXPECT_EQ(post.error_code(), "UNSUPPORTED") << post.body;

  std::string loc = start_upload("lib/alg");
  Response put = http().put(with_digest(loc, digest), "content");
  EXPECT_GE(put.status, 400u);
  EXPECT_LT(put.status, 500u);
  EXPECT_EQ(put.error_code(), "UNSUPPORTED") << put.body;
}

// DESIGN.md "Storage model": knowing a digest grants nothing; a blob is
// visible only where it was pushed or mounted.
TEST_F(BlobTest, BlobsAreVisiblePerRepository) {
  std::string digest = push_blob("team/a", "private to a");
  Response g = http().get(blob_url("team/b", digest));
  EXPECT_EQ(g.status, 404u);
  EXPECT_EQ(g.error_code(), "BLOB_UNKNOWN");
  EXPECT_EQ(http().head(blob_url("team/b", digest)).status, 404u);

  // end-11: mount from a into b.
  Response m = http().post("/v2/team/b/blobs/uploads/?mount=" + digest + "&from=team/a");
  EXPECT_EQ(m.status, 201u) << m.body;
  EXPECT_EQ(m.header("Location"), blob_url("team/b", digest));
  EXPECT_EQ(m.header("Docker-Content-Digest"), digest);

  Response after = http().get(blob_url("team/b", digest));
  EXPECT_EQ(after.status, 200u);
  EXPECT_EQ(after.body, "private to a");
  // Still in a as well.
  EXPECT_EQ(http().get(blob_url("team/a", digest)).status, 200u);
}

// distribution-spec "Mounting a blob from another repository": when the
// blob is not in `from`, the registry falls back to an upload session (202).
TEST_F(BlobTest, MountOfBlobNotInSourceFallsBackToUploadSession) {
  std::string digest = push_blob("src/other", "only in other");
  push_blob("src/from", "something");

  for (const std::string& query :
       {"?mount=" + digest + "&from=src/from",             // in another repo, not in from
        "?mount=" + sha256("nowhere") + "&from=src/from",  // nowhere at all
        "?mount=" + digest + "&from=src/Invalid",          // invalid from
        "?mount=" + digest}) {                             // no from
    SCOPED_TRACE(query);
    Response m = http().post("/v2/src/dest/blobs/uploads/" + query);
    EXPECT_EQ(m.status, 202u) << m.body;
    ASSERT_TRUE(m.has("Location"));
    EXPECT_TRUE(m.header("Location").starts_with("/v2/src/dest/blobs/uploads/"))
        << m.header("Location");
    EXPECT_EQ(http().get(blob_url("src/dest", digest)).status, 404u);
    // The fallback session is a real one.
    Response s = http().get(m.header("Location"));
    EXPECT_EQ(s.status, 204u);
    EXPECT_EQ(http().del(m.header("Location")).status, 204u);
  }

  // And the fallback can be used to upload the blob.
  Response m = http().post("/v2/src/dest/blobs/uploads/?mount=" + digest + "&from=src/from");
  ASSERT_EQ(m.status, 202u);
  Response put = http().put(with_digest(m.header("Location"), digest), "only in other");
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(http().get(blob_url("src/dest", digest)).body, "only in other");
}

TEST_F(BlobTest, InvalidRepositoryNamesOnBlobEndpoints) {
  std::string digest = sha256("x");
  for (const std::string& name :
       {std::string("UPPER/case"), std::string("a/../b"), std::string("a//b"), std::string("-lead"),
        std::string(256, 'a'), std::string("trailing-"), std::string("a/b.")}) {
    SCOPED_TRACE(name);
    Response g = http().get("/v2/" + name + "/blobs/" + digest);
    EXPECT_EQ(g.status, 400u);
    EXPECT_EQ(g.error_code(), "NAME_INVALID") << g.body;
    Response p = http().post("/v2/" + name + "/blobs/uploads/?digest=" + digest, "x");
    EXPECT_EQ(p.status, 400u);
    EXPECT_EQ(p.error_code(), "NAME_INVALID") << p.body;
    Response s = http().post("/v2/" + name + "/blobs/uploads/");
    EXPECT_EQ(s.status, 400u);
    EXPECT_EQ(s.error_code(), "NAME_INVALID") << s.body;
  }
  expect_alive();
}

}  // namespace
}  // namespace drydock::testing
