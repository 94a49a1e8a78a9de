// The referrers API (distribution-spec v1.1 end-12a/12b, "Listing
// Referrers"): always an image index, descriptors carry artifactType and
// annotations, artifactType filtering reported with OCI-Filters-Applied.

#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using nlohmann::json;
using ReferrersTest = ApiTest;

constexpr std::string_view kSbom = "application/vnd.example.sbom.v1";
constexpr std::string_view kSig = "application/vnd.example.sig.v1";
constexpr std::string_view kCustomConfig = "application/vnd.example.config.v1+json";

std::string referrers_url(std::string_view repo, std::string_view digest) {
  return "/v2/" + std::string(repo) + "/referrers/" + std::string(digest);
}

void expect_index(const Response& r) {
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("Content-Type"), kOciIndex);
  json j = r.json();
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["schemaVersion"], 2);
  EXPECT_EQ(j["mediaType"], kOciIndex);
  EXPECT_TRUE(j["manifests"].is_array());
}

class ReferrersWithArtifacts : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    subject = push_image("lib/ref", "v1");
    empty = push_blob("lib/ref", "{}");
    json subj = descriptor(kOciManifest, subject.digest, subject.manifest.size());
    sbom = image_manifest(kOciManifest, descriptor(kOciEmpty, empty, 2), json::array(),
                          {{"artifactType", kSbom},
                           {"subject", subj},
                           {"annotations",
                            {{"org.opencontainers.image.created", "2024-01-02T03:04:05Z"},
                             {"com.example.key", "value"}}}});
    sig = image_manifest(kOciManifest, descriptor(kOciEmpty, empty, 2), json::array(),
                         {{"artifactType", kSig}, {"subject", subj}});
    // No artifactType: the referrers API reports config.mediaType instead.
    std::string cfg = push_blob("lib/ref", "{\"custom\":true}");
    plain = image_manifest(kOciManifest, descriptor(kCustomConfig, cfg, 15), json::array(),
                           {{"subject", subj}});
    push_manifest("lib/ref", sha256(sbom), kOciManifest, sbom);
    push_manifest("lib/ref", sha256(sig), kOciManifest, sig);
    push_manifest("lib/ref", "plain", kOciManifest, plain);
  }

  const json* find(const json& manifests, const std::string& digest) {
    for (const auto& m : manifests) {
      if (m.value("digest", "") == digest) return &m;
    }
    return nullptr;
  }

  PushedImage subject;
  std::string empty, sbom, sig, plain;
};

TEST_F(ReferrersTest, UnknownDigestGivesEmptyIndex) {
  push_image("lib/none", "v1");
  Response r = http().get(referrers_url("lib/none", sha256("nothing refers to this")));
  expect_index(r);
  EXPECT_EQ(r.json()["manifests"], json::array());
  EXPECT_FALSE(r.has("OCI-Filters-Applied"));
}

TEST_F(ReferrersTest, InvalidDigestIsDigestInvalid) {
  push_image("lib/none", "v1");
  Response r = http().get(referrers_url("lib/none", "sha256:xyz"));
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "DIGEST_INVALID") << r.body;
  Response t = http().get(referrers_url("lib/none", "v1"));  // a tag is no digest
  EXPECT_EQ(t.status, 400u);
  EXPECT_EQ(t.error_code(), "DIGEST_INVALID") << t.body;
}

TEST_F(ReferrersWithArtifacts, ListsEveryReferrerWithArtifactTypeAndAnnotations) {
  Response r = http().get(referrers_url("lib/ref", subject.digest));
  expect_index(r);
  EXPECT_FALSE(r.has("OCI-Filters-Applied"));
  json manifests = r.json()["manifests"];
  ASSERT_EQ(manifests.size(), 3u) << r.body;

  const json* s = find(manifests, sha256(sbom));
  ASSERT_NE(s, nullptr) << r.body;
  EXPECT_EQ((*s)["mediaType"], kOciManifest);
  EXPECT_EQ((*s)["size"], sbom.size());
  EXPECT_EQ((*s)["artifactType"], kSbom);
  EXPECT_EQ((*s)["annotations"], (json{{"org.opencontainers.image.created", "2024-01-02T03:04:05Z"},
                                       {"com.example.key", "value"}}));

  const json* g = find(manifests, sha256(sig));
  ASSERT_NE(g, nullptr) << r.body;
  EXPECT_EQ((*g)["artifactType"], kSig);
  EXPECT_EQ((*g)["size"], sig.size());
  EXPECT_FALSE(g->contains("annotations") && !(*g)["annotations"].empty());

  const json* p = find(manifests, sha256(plain));
  ASSERT_NE(p, nullptr) << r.body;
  EXPECT_EQ((*p)["artifactType"], kCustomConfig);

  // The subject itself is not its own referrer, nor is anything else listed.
  EXPECT_EQ(find(manifests, subject.digest), nullptr);
}

TEST_F(ReferrersWithArtifacts, ArtifactTypeFilter) {
  Response r =
      http().get(referrers_url("lib/ref", subject.digest) + "?artifactType=" + std::string(kSbom));
  expect_index(r);
  EXPECT_EQ(r.header("OCI-Filters-Applied"), "artifactType");
  json manifests = r.json()["manifests"];
  ASSERT_EQ(manifests.size(), 1u) << r.body;
  EXPECT_EQ(manifests[0]["digest"], sha256(sbom));
  EXPECT_EQ(manifests[0]["artifactType"], kSbom);

  // Percent-encoded filter value.
  Response enc = http().get(referrers_url("lib/ref", subject.digest) +
                            "?artifactType=application%2Fvnd.example.sig.v1");
  expect_index(enc);
  EXPECT_EQ(enc.header("OCI-Filters-Applied"), "artifactType");
  ASSERT_EQ(enc.json()["manifests"].size(), 1u) << enc.body;
  EXPECT_EQ(enc.json()["manifests"][0]["digest"], sha256(sig));

  Response none = http().get(referrers_url("lib/ref", subject.digest) +
                             "?artifactType=application/vnd.example.none");
  expect_index(none);
  EXPECT_EQ(none.header("OCI-Filters-Applied"), "artifactType");
  EXPECT_EQ(none.json()["manifests"], json::array());
}

// An image index can be a referrer too (image-spec: index.subject).
TEST_F(ReferrersWithArtifacts, IndexWithSubjectIsListed) {
  json index{{"schemaVersion", 2},
             {"mediaType", kOciIndex},
             {"artifactType", "application/vnd.example.bundle.v1"},
             {"manifests", json::array({descriptor(kOciManifest, sha256(sig), sig.size())})},
             {"subject", descriptor(kOciManifest, subject.digest, subject.manifest.size())}};
  std::string body = index.dump();
  Response put = put_manifest("lib/ref", sha256(body), kOciIndex, body);
  EXPECT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(put.header("OCI-Subject"), subject.digest);
  json manifests = http().get(referrers_url("lib/ref", subject.digest)).json()["manifests"];
  EXPECT_EQ(manifests.size(), 4u);
  const json* i = find(manifests, sha256(body));
  ASSERT_NE(i, nullptr);
  EXPECT_EQ((*i)["mediaType"], kOciIndex);
  EXPECT_EQ((*i)["artifactType"], "application/vnd.example.bundle.v1");
  EXPECT_EQ((*i)["size"], body.size());
}

TEST_F(ReferrersWithArtifacts, DeletedReferrerDisappears) {
  ASSERT_EQ(http().del("/v2/lib/ref/manifests/" + sha256(sig)).status, 202u);
  json manifests = http().get(referrers_url("lib/ref", subject.digest)).json()["manifests"];
  EXPECT_EQ(manifests.size(), 2u);
  EXPECT_EQ(find(manifests, sha256(sig)), nullptr);
}

TEST_F(ReferrersWithArtifacts, ReferrersArePerRepository) {
  Response r = http().get(referrers_url("lib/other", subject.digest));
  expect_index(r);
  EXPECT_EQ(r.json()["manifests"], json::array());
}

// A referrer pushed before its subject is listed once the subject arrives
// (and before: the subject need not exist).
TEST_F(ReferrersTest, ReferrerPushedBeforeItsSubject) {
  std::string empty = push_blob("lib/early", "{}");
  std::string future = sha256("future subject");
  std::string art =
      image_manifest(kOciManifest, descriptor(kOciEmpty, empty, 2), json::array(),
                     {{"artifactType", kSig}, {"subject", descriptor(kOciManifest, future, 42)}});
  push_manifest("lib/early", sha256(art), kOciManifest, art);
  Response r = http().get(referrers_url("lib/early", future));
  expect_index(r);
  ASSERT_EQ(r.json()["manifests"].size(), 1u) << r.body;
  EXPECT_EQ(r.json()["manifests"][0]["digest"], sha256(art));
}

}  // namespace
}  // namespace drydock::testing
