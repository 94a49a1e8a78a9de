// Manifest endpoints (distribution-spec end-3, end-7, end-9): every manifest
// type the registry stores, tags and digests, content negotiation, validation
// of references and bodies, size limits, deletion.

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using nlohmann::json;
using ManifestTest = ApiTest;

std::string manifest_url(std::string_view repo, std::string_view ref) {
  return "/v2/" + std::string(repo) + "/manifests/" + std::string(ref);
}

// Pulls `ref` and checks it is exactly `img` (bytes, type, digest, length).
void expect_manifest(Client& c, std::string_view repo, std::string_view ref,
                     const std::string& body, std::string_view media_type) {
  SCOPED_TRACE(std::string(repo) + ":" + std::string(ref));
  Response g = c.get(manifest_url(repo, ref));
  EXPECT_EQ(g.status, 200u) << g.body;
  EXPECT_TRUE(g.body == body);
  EXPECT_EQ(g.header("Content-Type"), media_type);
  EXPECT_EQ(g.header("Docker-Content-Digest"), sha256(body));
  EXPECT_EQ(g.header("Content-Length"), std::to_string(body.size()));

  Response h = c.head(manifest_url(repo, ref));
  EXPECT_EQ(h.status, 200u);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(h.header("Content-Type"), media_type);
  EXPECT_EQ(h.header("Docker-Content-Digest"), sha256(body));
  EXPECT_EQ(h.header("Content-Length"), std::to_string(body.size()));
}

void expect_manifest_unknown(Client& c, std::string_view repo, std::string_view ref) {
  SCOPED_TRACE(std::string(repo) + ":" + std::string(ref));
  Response g = c.get(manifest_url(repo, ref));
  EXPECT_EQ(g.status, 404u);
  EXPECT_EQ(g.error_code(), "MANIFEST_UNKNOWN") << g.body;
  EXPECT_EQ(c.head(manifest_url(repo, ref)).status, 404u);
}

TEST_F(ManifestTest, OciManifestByTagAndDigest) {
  PushedImage img = push_image("lib/oci", "v1", kOciManifest, 2);
  Response again = put_manifest("lib/oci", "v1", kOciManifest, img.manifest);
  EXPECT_EQ(again.status, 201u);  // idempotent
  EXPECT_EQ(again.header("Location"), manifest_url("lib/oci", img.digest));
  EXPECT_EQ(again.header("Docker-Content-Digest"), img.digest);

  expect_manifest(http(), "lib/oci", "v1", img.manifest, kOciManifest);
  expect_manifest(http(), "lib/oci", img.digest, img.manifest, kOciManifest);
}

TEST_F(ManifestTest, PushByDigest) {
  push_blob("lib/bydigest", "{}");
  std::string m =
      image_manifest(kOciManifest, descriptor(kOciConfig, sha256("{}"), 2), json::array());
  std::string digest = sha256(m);
  Response r = put_manifest("lib/bydigest", digest, kOciManifest, m);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.header("Docker-Content-Digest"), digest);
  EXPECT_EQ(r.header("Location"), manifest_url("lib/bydigest", digest));
  expect_manifest(http(), "lib/bydigest", digest, m, kOciManifest);
  // Pushed by digest only: no tag.
  EXPECT_EQ(http().get("/v2/lib/bydigest/tags/list").json()["tags"], json::array());
}

TEST_F(ManifestTest, PushByWrongDigestIsDigestInvalid) {
  push_blob("lib/wrongdigest", "{}");
  std::string m =
      image_manifest(kOciManifest, descriptor(kOciConfig, sha256("{}"), 2), json::array());
  std::string wrong = sha256(m + " ");
  Response r = put_manifest("lib/wrongdigest", wrong, kOciManifest, m);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "DIGEST_INVALID") << r.body;
  expect_manifest_unknown(http(), "lib/wrongdigest", wrong);
  expect_manifest_unknown(http(), "lib/wrongdigest", sha256(m));

  Response malformed = put_manifest("lib/wrongdigest", "sha256:1234", kOciManifest, m);
  EXPECT_EQ(malformed.status, 400u);
  EXPECT_EQ(malformed.error_code(), "DIGEST_INVALID") << malformed.body;
}

TEST_F(ManifestTest, Sha512DigestReference) {
  push_blob("lib/m512", "{}");
  std::string m =
      image_manifest(kOciManifest, descriptor(kOciConfig, sha256("{}"), 2), json::array());
  Response r = put_manifest("lib/m512", sha512(m), kOciManifest, m);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.header("Docker-Content-Digest"), sha512(m));
  Response g = http().get(manifest_url("lib/m512", sha512(m)));
  EXPECT_EQ(g.status, 200u) << g.body;
  EXPECT_EQ(g.body, m);
}

TEST_F(ManifestTest, OciIndexOverExistingManifests) {
  PushedImage amd = push_image("lib/index", "amd64", kOciManifest, 1, 1);
  PushedImage arm = push_image("lib/index", "arm64", kOciManifest, 1, 2);
  json index{{"schemaVersion", 2},
             {"mediaType", kOciIndex},
             {"manifests",
              {descriptor(kOciManifest, amd.digest, amd.manifest.size()),
               descriptor(kOciManifest, arm.digest, arm.manifest.size())}}};
  index["manifests"][0]["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
  index["manifests"][1]["platform"] = {{"architecture", "arm64"}, {"os", "linux"}};
  std::string body = index.dump();
  push_manifest("lib/index", "latest", kOciIndex, body);
  expect_manifest(http(), "lib/index", "latest", body, kOciIndex);
  expect_manifest(http(), "lib/index", sha256(body), body, kOciIndex);
}

// An index whose child is not in the repository is refused, and nothing of it
// is stored.
TEST_F(ManifestTest, OciIndexWithMissingChildIsRefused) {
  PushedImage amd = push_image("lib/badindex", "amd64");
  PushedImage elsewhere = push_image("lib/elsewhere", "arm64", kOciManifest, 1, 5);
  for (const std::string& child : {sha256("no such manifest"), elsewhere.digest}) {
    SCOPED_TRACE(child);
    json index{{"schemaVersion", 2},
               {"mediaType", kOciIndex},
               {"manifests",
                {descriptor(kOciManifest, amd.digest, amd.manifest.size()),
                 descriptor(kOciManifest, child, 100)}}};
    std::string body = index.dump();
    Response r = put_manifest("lib/badindex", "latest", kOciIndex, body);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.error_code(), "MANIFEST_BLOB_UNKNOWN") << r.body;
    expect_manifest_unknown(http(), "lib/badindex", "latest");
    expect_manifest_unknown(http(), "lib/badindex", sha256(body));
  }
  std::vector<std::string> tags = http().get("/v2/lib/badindex/tags/list").json()["tags"];
  EXPECT_EQ(tags, std::vector<std::string>{"amd64"});
}

TEST_F(ManifestTest, DockerSchema2AndManifestList) {
  PushedImage img = push_image("lib/docker", "v2", kDockerManifest, 2);
  expect_manifest(http(), "lib/docker", "v2", img.manifest, kDockerManifest);
  PushedImage img2 = push_image("lib/docker", "v2-arm", kDockerManifest, 1, 9);

  json list{{"schemaVersion", 2},
            {"mediaType", kDockerList},
            {"manifests",
             {descriptor(kDockerManifest, img.digest, img.manifest.size()),
              descriptor(kDockerManifest, img2.digest, img2.manifest.size())}}};
  list["manifests"][0]["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
  list["manifests"][1]["platform"] = {{"architecture", "arm64"}, {"os", "linux"}};
  std::string body = list.dump(3);
  push_manifest("lib/docker", "multi", kDockerList, body);
  expect_manifest(http(), "lib/docker", "multi", body, kDockerList);
}

// image-spec "Guidelines for artifact usage": empty config, no layers (or the
// empty descriptor), artifactType set.
TEST_F(ManifestTest, ArtifactManifestWithEmptyConfigAndNoLayers) {
  std::string empty_digest = push_blob("lib/artifact", "{}");
  EXPECT_EQ(empty_digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  std::string body =
      image_manifest(kOciManifest, descriptor(kOciEmpty, empty_digest, 2), json::array(),
                     {{"artifactType", "application/vnd.example.sbom.v1"}});
  push_manifest("lib/artifact", "sbom", kOciManifest, body);
  expect_manifest(http(), "lib/artifact", "sbom", body, kOciManifest);

  // And with the empty descriptor as its only layer.
  std::string body2 = image_manifest(kOciManifest, descriptor(kOciEmpty, empty_digest, 2),
                                     json::array({descriptor(kOciEmpty, empty_digest, 2)}),
                                     {{"artifactType", "application/vnd.example.sig.v1"}});
  push_manifest("lib/artifact", "sig", kOciManifest, body2);
  expect_manifest(http(), "lib/artifact", "sig", body2, kOciManifest);
}

// distribution-spec "Pushing Manifests with Subject": the registry answers
// with OCI-Subject when it processed the subject field.
TEST_F(ManifestTest, ManifestWithSubjectGetsOciSubjectHeader) {
  PushedImage subject = push_image("lib/subject", "v1");
  std::string empty = push_blob("lib/subject", "{}");
  std::string body = image_manifest(
      kOciManifest, descriptor(kOciEmpty, empty, 2), json::array(),
      {{"artifactType", "application/vnd.example.sig.v1"},
       {"subject", descriptor(kOciManifest, subject.digest, subject.manifest.size())}});
  Response r = put_manifest("lib/subject", sha256(body), kOciManifest, body);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.header("OCI-Subject"), subject.digest);

  // A subject that does not (yet) exist is allowed (spec: the registry MUST
  // accept it).
  std::string dangling = sha256("not pushed yet");
  std::string body2 = image_manifest(kOciManifest, descriptor(kOciEmpty, empty, 2), json::array(),
                                     {{"artifactType", "application/vnd.example.sig.v1"},
                                      {"subject", descriptor(kOciManifest, dangling, 123)}});
  Response r2 = put_manifest("lib/subject", sha256(body2), kOciManifest, body2);
  EXPECT_EQ(r2.status, 201u) << r2.body;
  EXPECT_EQ(r2.header("OCI-Subject"), dangling);

  // No subject, no header.
  EXPECT_FALSE(
      put_manifest("lib/subject", "v1", kOciManifest, subject.manifest).has("OCI-Subject"));
}

TEST_F(ManifestTest, AcceptNegotiation) {
  PushedImage img = push_image("lib/accept", "v1");
  std::string url = manifest_url("lib/accept", "v1");

  Response only_docker = http().get(url, {{"Accept", std::string(kDockerManifest)}});
  EXPECT_EQ(only_docker.status, 404u);
  EXPECT_EQ(only_docker.error_code(), "MANIFEST_UNKNOWN") << only_docker.body;
  EXPECT_EQ(http().head(url, {{"Accept", std::string(kDockerManifest)}}).status, 404u);

  for (const Headers& ok : std::vector<Headers>{
           {{"Accept", std::string(kOciManifest)}},
           {{"Accept", std::string(kDockerManifest) + ", " + std::string(kOciManifest)}},
           {{"Accept", std::string(kDockerManifest)}, {"Accept", std::string(kOciManifest)}},
           {{"Accept", std::string(kOciIndex) + ";q=0.9, " + std::string(kOciManifest)}},
           {{"Accept", "*/*"}},
           {{"Accept", "application/*"}}}) {
    SCOPED_TRACE(ok.front().second);
    Response g = http().get(url, ok);
    EXPECT_EQ(g.status, 200u) << g.body;
    EXPECT_EQ(g.body, img.manifest);
    EXPECT_EQ(g.header("Content-Type"), kOciManifest);
  }
}

// Every blob a manifest references must be in the repository; otherwise
// MANIFEST_BLOB_UNKNOWN (end-7 failure status 404) and nothing is stored.
TEST_F(ManifestTest, MissingBlobIsManifestBlobUnknown) {
  std::string config = push_blob("lib/missing", "{\"os\":\"linux\"}");
  std::string other_repo_layer = push_blob("lib/other", "layer in another repo");
  for (const std::string& layer : {sha256("never pushed layer"), other_repo_layer}) {
    SCOPED_TRACE(layer);
    std::string body = image_manifest(kOciManifest, descriptor(kOciConfig, config, 15),
                                      json::array({descriptor(kOciLayer, layer, 21)}));
    Response r = put_manifest("lib/missing", "v1", kOciManifest, body);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.error_code(), "MANIFEST_BLOB_UNKNOWN") << r.body;
    expect_manifest_unknown(http(), "lib/missing", "v1");
    expect_manifest_unknown(http(), "lib/missing", sha256(body));
  }
  // Missing config too.
  std::string body =
      image_manifest(kOciManifest, descriptor(kOciConfig, sha256("nope"), 4), json::array());
  Response r = put_manifest("lib/missing", "v2", kOciManifest, body);
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error_code(), "MANIFEST_BLOB_UNKNOWN") << r.body;
  EXPECT_EQ(http().get("/v2/lib/missing/tags/list").json()["tags"], json::array());
}

TEST_F(ManifestTest, MalformedManifestsAreManifestInvalid) {
  std::string config = push_blob("lib/malformed", "{}");
  json good_config = descriptor(kOciConfig, config, 2);
  std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "{\"schemaVersion\": 2,"},
      {"empty body", ""},
      {"json array", "[1,2,3]"},
      {"json string", "\"manifest\""},
      {"schemaVersion 3", json{{"schemaVersion", 3},
                               {"mediaType", kOciManifest},
                               {"config", good_config},
                               {"layers", json::array()}}
                              .dump()},
      {"no config",
       json{{"schemaVersion", 2}, {"mediaType", kOciManifest}, {"layers", json::array()}}.dump()},
      {"layers not an array", json{{"schemaVersion", 2},
                                   {"mediaType", kOciManifest},
                                   {"config", good_config},
                                   {"layers", "none"}}
                                  .dump()},
      {"negative size",
       json{{"schemaVersion", 2},
            {"mediaType", kOciManifest},
            {"config", descriptor(kOciConfig, config, 2)},
            {"layers",
             json::array({json{{"mediaType", kOciLayer}, {"digest", config}, {"size", -1}}})}}
           .dump()},
      {"mediaType disagrees with Content-Type", json{{"schemaVersion", 2},
                                                     {"mediaType", kOciIndex},
                                                     {"config", good_config},
                                                     {"layers", json::array()}}
                                                    .dump()},
      {"unknown media type in body", json{{"schemaVersion", 2},
                                          {"mediaType", "application/json"},
                                          {"config", good_config},
                                          {"layers", json::array()}}
                                         .dump()},
  };
  for (const auto& [what, body] : bad) {
    SCOPED_TRACE(what);
    Response r = put_manifest("lib/malformed", "v1", kOciManifest, body);
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_EQ(r.error_code(), "MANIFEST_INVALID") << r.body;
    expect_manifest_unknown(http(), "lib/malformed", "v1");
  }
  // A Content-Type that is no manifest type at all.
  Response r = put_manifest("lib/malformed", "v1", "text/plain",
                            image_manifest(kOciManifest, good_config, json::array()));
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "MANIFEST_INVALID") << r.body;
  expect_alive();
}

// Without Content-Type the body's own mediaType decides.
TEST_F(ManifestTest, MediaTypeFromBodyWhenNoContentType) {
  std::string config = push_blob("lib/noct", "{}");
  std::string body = image_manifest(kOciManifest, descriptor(kOciConfig, config, 2), json::array());
  push_manifest("lib/noct", "v1", "", body);
  expect_manifest(http(), "lib/noct", "v1", body, kOciManifest);
}

TEST_F(ManifestTest, Schema1IsUnsupported) {
  std::string body = json{{"schemaVersion", 1}, {"name", "lib/s1"}, {"tag", "v1"}}.dump();
  Response r = put_manifest("lib/s1", "v1",
                            "application/vnd.docker.distribution.manifest.v1+prettyjws", body);
  EXPECT_GE(r.status, 400u);
  EXPECT_LT(r.status, 500u);
  EXPECT_EQ(r.error_code(), "UNSUPPORTED") << r.body;
  expect_manifest_unknown(http(), "lib/s1", "v1");
}

// A manifest of `size` bytes exactly: a valid OCI manifest padded with an
// annotation.
std::string manifest_of_size(const std::string& config_digest, std::size_t size) {
  json m = json::parse(
      image_manifest(kOciManifest, descriptor(kOciConfig, config_digest, 2), json::array()));
  m["annotations"] = {{"pad", ""}};
  std::size_t base = m.dump().size();
  m["annotations"]["pad"] = std::string(size - base, 'p');
  std::string s = m.dump();
  EXPECT_EQ(s.size(), size);
  return s;
}

// distribution-spec: registries SHOULD accept manifests of at least 4 MiB;
// Drydock's limit is exactly 4 MiB.
TEST_F(ManifestTest, FourMebibyteManifestIsAccepted) {
  std::string config = push_blob("lib/big", "{}");
  std::string body = manifest_of_size(config, 4 * 1024 * 1024);
  push_manifest("lib/big", "v1", kOciManifest, body);
  Response g = http().get(manifest_url("lib/big", "v1"));
  EXPECT_EQ(g.status, 200u);
  EXPECT_TRUE(g.body == body);
}

TEST_F(ManifestTest, OversizedManifestWithContentLengthIs413) {
  std::string config = push_blob("lib/huge", "{}");
  std::string body = manifest_of_size(config, 4 * 1024 * 1024 + 1);
  Request put{.method = "PUT",
              .target = manifest_url("lib/huge", "v1"),
              .headers = {{"Content-Type", std::string(kOciManifest)}},
              .body = body};
  Connection c = connect();
  // The server should answer from the headers alone, before any body byte;
  // one that reads the body first gets it after a short wait.
  c.send(put.head());
  if (!c.wait_readable(std::chrono::seconds(2))) c.try_send(put.wire_body());
  Response r = c.read_response();
  EXPECT_EQ(r.status, 413u) << r.body;
  expect_manifest_unknown(http(), "lib/huge", "v1");
  expect_manifest_unknown(http(), "lib/huge", sha256(body));
  expect_alive();
}

TEST_F(ManifestTest, OversizedChunkedManifestIs413) {
  std::string config = push_blob("lib/huge-te", "{}");
  std::string body = manifest_of_size(config, 4 * 1024 * 1024 + 1);
  Request put{.method = "PUT",
              .target = manifest_url("lib/huge-te", "v1"),
              .headers = {{"Content-Type", std::string(kOciManifest)}},
              .body = body,
              .chunked = true,
              .chunk_size = 64 * 1024};
  Connection c = connect();
  c.send(put.head());
  c.try_send(put.wire_body());
  Response r = c.read_response();
  EXPECT_EQ(r.status, 413u) << r.body;
  expect_manifest_unknown(http(), "lib/huge-te", "v1");
  expect_alive();
}

// `registry.max_manifest_bytes` (documented in `drydock serve --help`) is
// the limit: a registry configured for 6 MiB takes a 5 MiB manifest.
TEST_F(ManifestTest, ConfiguredManifestLimitIsHonoured) {
  stop_server();
  registry::RegistryOptions o;
  o.max_manifest_bytes = 6 * 1024 * 1024;
  start_server(default_config(), o);
  std::string config = push_blob("lib/limit", "{}");
  std::string body = manifest_of_size(config, 5 * 1024 * 1024);
  Response r = put_manifest("lib/limit", "v1", kOciManifest, body);
  EXPECT_EQ(r.status, 201u) << r.body;
  Response too_big =
      put_manifest("lib/limit", "v2", kOciManifest, manifest_of_size(config, 6 * 1024 * 1024 + 1));
  EXPECT_EQ(too_big.status, 413u) << too_big.body;
}

// A push that fails leaves the tag where it was.
TEST_F(ManifestTest, FailedPushDoesNotMoveTheTag) {
  PushedImage img = push_image("lib/keep-tag", "v1");
  std::string bad = image_manifest(kOciManifest, descriptor(kOciConfig, img.config_digest, 10),
                                   json::array({descriptor(kOciLayer, sha256("missing"), 7)}));
  EXPECT_EQ(put_manifest("lib/keep-tag", "v1", kOciManifest, bad).status, 404u);
  EXPECT_EQ(put_manifest("lib/keep-tag", "v1", kOciManifest, "{oops").status, 400u);
  expect_manifest(http(), "lib/keep-tag", "v1", img.manifest, kOciManifest);
}

// A blob digest is no manifest, even in the same repository.
TEST_F(ManifestTest, BlobDigestIsNotAManifest) {
  PushedImage img = push_image("lib/notmanifest", "v1");
  expect_manifest_unknown(http(), "lib/notmanifest", img.layer_digests[0]);
  expect_manifest_unknown(http(), "lib/notmanifest", img.config_digest);
}

// end-9 by digest: the manifest and every tag pointing at it go.
TEST_F(ManifestTest, DeleteByDigest) {
  PushedImage img = push_image("lib/delete", "v1");
  push_manifest("lib/delete", "also", kOciManifest, img.manifest);
  PushedImage keep = push_image("lib/delete", "keep", kOciManifest, 1, 4);

  Response d = http().del(manifest_url("lib/delete", img.digest));
  EXPECT_EQ(d.status, 202u) << d.body;
  expect_manifest_unknown(http(), "lib/delete", img.digest);
  expect_manifest_unknown(http(), "lib/delete", "v1");
  expect_manifest_unknown(http(), "lib/delete", "also");
  std::vector<std::string> tags = http().get("/v2/lib/delete/tags/list").json()["tags"];
  EXPECT_EQ(tags, std::vector<std::string>{"keep"});
  expect_manifest(http(), "lib/delete", "keep", keep.manifest, kOciManifest);

  Response again = http().del(manifest_url("lib/delete", img.digest));
  EXPECT_EQ(again.status, 404u);
  EXPECT_EQ(again.error_code(), "MANIFEST_UNKNOWN") << again.body;
}

// end-9 by tag: only the tag goes; the manifest stays reachable by digest.
TEST_F(ManifestTest, DeleteByTagOnlyUntags) {
  PushedImage img = push_image("lib/untag", "v1");
  push_manifest("lib/untag", "v2", kOciManifest, img.manifest);
  Response d = http().del(manifest_url("lib/untag", "v1"));
  EXPECT_EQ(d.status, 202u) << d.body;
  expect_manifest_unknown(http(), "lib/untag", "v1");
  expect_manifest(http(), "lib/untag", img.digest, img.manifest, kOciManifest);
  expect_manifest(http(), "lib/untag", "v2", img.manifest, kOciManifest);
  std::vector<std::string> tags = http().get("/v2/lib/untag/tags/list").json()["tags"];
  EXPECT_EQ(tags, std::vector<std::string>{"v2"});

  Response again = http().del(manifest_url("lib/untag", "v1"));
  EXPECT_EQ(again.status, 404u);
  EXPECT_EQ(again.error_code(), "MANIFEST_UNKNOWN");
}

TEST_F(ManifestTest, TagMovesToTheLatestPush) {
  PushedImage a = push_image("lib/move", "latest", kOciManifest, 1, 1);
  PushedImage b = push_image("lib/move", "latest", kOciManifest, 1, 2);
  ASSERT_NE(a.digest, b.digest);
  expect_manifest(http(), "lib/move", "latest", b.manifest, kOciManifest);
  expect_manifest(http(), "lib/move", a.digest, a.manifest, kOciManifest);
}

TEST_F(ManifestTest, InvalidTags) {
  PushedImage img = push_image("lib/tags", "ok");
  std::string too_long(129, 'a');
  for (const std::string& tag : {std::string("-leading-dash"), std::string(".dot"), too_long,
                                 std::string("sp%20ace"), std::string("bad!char")}) {
    SCOPED_TRACE(tag);
    Response put = put_manifest("lib/tags", tag, kOciManifest, img.manifest);
    EXPECT_EQ(put.status, 400u) << put.body;
    EXPECT_FALSE(put.error_code().empty());
    // Reads of a reference that cannot be a tag find nothing: 404 (spec
    // end-3; the conformance suite GETs ".INVALID_MANIFEST_NAME").
    Response get = http().get(manifest_url("lib/tags", tag));
    EXPECT_EQ(get.status, 404u) << get.body;
    EXPECT_EQ(get.error_code(), "MANIFEST_UNKNOWN");
    Response del = http().del(manifest_url("lib/tags", tag));
    EXPECT_EQ(del.status, 400u) << del.body;
  }
  // Longest valid tag: 128 characters.
  push_manifest("lib/tags", std::string(128, 'b'), kOciManifest, img.manifest);
  std::vector<std::string> tags = http().get("/v2/lib/tags/tags/list").json()["tags"];
  EXPECT_EQ(tags, (std::vector<std::string>{std::string(128, 'b'), "ok"}));
}

TEST_F(ManifestTest, UnknownManifests) {
  expect_manifest_unknown(http(), "lib/nothing", "latest");
  expect_manifest_unknown(http(), "lib/nothing", sha256("nothing"));
  push_image("lib/something", "v1");
  expect_manifest_unknown(http(), "lib/something", "v2");
  Response del = http().del(manifest_url("lib/something", sha256("nothing")));
  EXPECT_EQ(del.status, 404u);
  EXPECT_EQ(del.error_code(), "MANIFEST_UNKNOWN");
  Response bad = http().get(manifest_url("lib/something", "sha256:123"));
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.error_code(), "DIGEST_INVALID");
}

// A manifest is visible only in the repository it was pushed to.
TEST_F(ManifestTest, ManifestsArePerRepository) {
  PushedImage img = push_image("team/a", "v1");
  expect_manifest_unknown(http(), "team/b", img.digest);
  expect_manifest_unknown(http(), "team/b", "v1");
}

TEST_F(ManifestTest, InvalidNamesOnManifestEndpoints) {
  PushedImage img = push_image("lib/names", "v1");
  for (const std::string& name : {std::string("Lib/names"), std::string("lib/../names"),
                                  std::string(256, 'n'), std::string("lib/names/")}) {
    SCOPED_TRACE(name);
    Response g = http().get("/v2/" + name + "/manifests/v1");
    EXPECT_EQ(g.status, 400u);
    EXPECT_EQ(g.error_code(), "NAME_INVALID") << g.body;
    Response p = put_manifest(name, "v1", kOciManifest, img.manifest);
    EXPECT_EQ(p.status, 400u);
    EXPECT_EQ(p.error_code(), "NAME_INVALID") << p.body;
  }
}

TEST_F(ManifestTest, ImmutableTagsAreDeniedSayingWhy) {
  meta().set_immutable_tags([](std::string_view repo,
                               std::string_view tag) -> std::optional<std::string> {
    if (repo.starts_with("lib/") && tag.starts_with("v")) return "repositories lib/**, tags v*";
    return std::nullopt;
  });
  PushedImage v1 = push_image("lib/imm", "v1", kOciManifest, 1, 1);
  // Pushing the same manifest again is fine.
  EXPECT_EQ(put_manifest("lib/imm", "v1", kOciManifest, v1.manifest).status, 201u);
  // Another image under v1 is refused.
  PushedImage other = push_image("lib/imm", "latest", kOciManifest, 2, 7);
  Response r = put_manifest("lib/imm", "v1", kOciManifest, other.manifest);
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["code"], "DENIED") << r.body;
  std::string message = r.json()["errors"][0]["message"];
  EXPECT_NE(message.find("tag v1 of lib/imm is immutable"), std::string::npos) << message;
  EXPECT_NE(message.find("tags v*"), std::string::npos) << message;
  expect_manifest(http(), "lib/imm", "v1", v1.manifest, kOciManifest);
  // Nor deleted, by tag or by digest.
  r = http().del("/v2/lib/imm/manifests/v1");
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_NE(r.body.find("cannot be deleted"), std::string::npos) << r.body;
  r = http().del("/v2/lib/imm/manifests/" + v1.digest);
  EXPECT_EQ(r.status, 403u) << r.body;
  expect_manifest(http(), "lib/imm", "v1", v1.manifest, kOciManifest);
  // Tags the rule does not name move and go as before.
  EXPECT_EQ(put_manifest("lib/imm", "latest", kOciManifest, v1.manifest).status, 201u);
  EXPECT_EQ(http().del("/v2/lib/imm/manifests/latest").status, 202u);
}

}  // namespace
}  // namespace drydock::testing
