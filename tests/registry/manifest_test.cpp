#include "registry/manifest.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace drydock::registry {
namespace {

using nlohmann::json;
using storage::RefKind;

const std::string kHexA = std::string(64, 'a');
const std::string kHexB = std::string(64, 'b');
const std::string kHexC = std::string(64, 'c');
const std::string kHexD = std::string(64, 'd');
const std::string kA = "sha256:" + kHexA;
const std::string kB = "sha256:" + kHexB;
const std::string kC = "sha256:" + kHexC;
const std::string kD = "sha256:" + kHexD;
constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kEmpty = "application/vnd.oci.empty.v1+json";

json desc(std::string_view media_type, const std::string& digest, std::int64_t size = 10) {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

json oci_manifest() {
  return {{"schemaVersion", 2},
          {"mediaType", kOciManifest},
          {"config", desc(kOciConfig, kA)},
          {"layers", json::array({desc(kOciLayer, kB), desc(kOciLayer, kC)})}};
}

json oci_index() {
  return {{"schemaVersion", 2},
          {"mediaType", kOciIndex},
          {"manifests", json::array({desc(kOciManifest, kA), desc(kOciManifest, kB)})}};
}

std::expected<ParsedManifest, Error> parse(const json& j, std::string_view ct) {
  return parse_manifest(j.dump(), ct);
}

void expect_ref(const storage::ManifestRef& r, const std::string& hex, RefKind kind) {
  EXPECT_EQ(r.digest.algorithm, storage::DigestAlgorithm::kSha256);
  EXPECT_EQ(r.digest.hex, hex);
  EXPECT_EQ(r.kind, kind);
}

void expect_error(const std::expected<ParsedManifest, Error>& r, ErrorCode code) {
  ASSERT_FALSE(r.has_value()) << "expected an error";
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
}

TEST(ParseManifest, OciImageManifest) {
  const auto m = parse(oci_manifest(), kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->media_type, kOciManifest);
  EXPECT_FALSE(m->is_index);
  ASSERT_EQ(m->refs.size(), 3u);
  expect_ref(m->refs[0], kHexA, RefKind::kBlob);  // config first
  expect_ref(m->refs[1], kHexB, RefKind::kBlob);
  expect_ref(m->refs[2], kHexC, RefKind::kBlob);
  EXPECT_FALSE(m->subject.has_value());
  EXPECT_EQ(m->artifact_type, kOciConfig);  // referrers rule: config.mediaType
  EXPECT_EQ(m->annotations_json, "{}");
}

TEST(ParseManifest, ContentTypeParametersAndCaseAreIgnored) {
  const auto m = parse(oci_manifest(), "Application/VND.oci.image.manifest.v1+json; charset=utf-8");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->media_type, kOciManifest);
}

TEST(ParseManifest, EmptyContentTypeUsesMediaTypeField) {
  const auto m = parse(oci_index(), "");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->media_type, kOciIndex);
  EXPECT_TRUE(m->is_index);
}

TEST(ParseManifest, MediaTypeFieldIsOptionalWithContentType) {
  json j = oci_manifest();
  j.erase("mediaType");
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->media_type, kOciManifest);
}

TEST(ParseManifest, OciIndexChildrenAreManifestRefs) {
  json j = oci_index();
  j["annotations"] = {{"org.opencontainers.image.ref.name", "v1"}};
  j["manifests"][0]["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
  const auto m = parse(j, kOciIndex);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_TRUE(m->is_index);
  ASSERT_EQ(m->refs.size(), 2u);
  expect_ref(m->refs[0], kHexA, RefKind::kManifest);
  expect_ref(m->refs[1], kHexB, RefKind::kManifest);
  EXPECT_EQ(m->artifact_type, "");
  EXPECT_EQ(json::parse(m->annotations_json), j["annotations"]);
}

TEST(ParseManifest, EmptyIndex) {
  json j = oci_index();
  j["manifests"] = json::array();
  const auto m = parse(j, kOciIndex);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_TRUE(m->refs.empty());
}

TEST(ParseManifest, IndexArtifactType) {
  json j = oci_index();
  j["artifactType"] = "application/vnd.example.bundle";
  const auto m = parse(j, kOciIndex);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->artifact_type, "application/vnd.example.bundle");
}

TEST(ParseManifest, DockerV2Manifest) {
  const json j = {
      {"schemaVersion", 2},
      {"mediaType", kDockerManifest},
      {"config", desc("application/vnd.docker.container.image.v1+json", kA, 1469)},
      {"layers",
       json::array({desc("application/vnd.docker.image.rootfs.diff.tar.gzip", kB, 2811969)})}};
  const auto m = parse(j, kDockerManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->media_type, kDockerManifest);
  EXPECT_FALSE(m->is_index);
  ASSERT_EQ(m->refs.size(), 2u);
  expect_ref(m->refs[0], kHexA, RefKind::kBlob);
  expect_ref(m->refs[1], kHexB, RefKind::kBlob);
  EXPECT_EQ(m->artifact_type, "application/vnd.docker.container.image.v1+json");
}

TEST(ParseManifest, DockerManifestList) {
  json child = desc(kDockerManifest, kC, 528);
  child["platform"] = {{"architecture", "arm64"}, {"os", "linux"}, {"variant", "v8"}};
  const json j = {{"schemaVersion", 2},
                  {"mediaType", kDockerManifestList},
                  {"manifests", json::array({child, desc(kDockerManifest, kD, 528)})}};
  const auto m = parse(j, "");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->media_type, kDockerManifestList);
  EXPECT_TRUE(m->is_index);
  ASSERT_EQ(m->refs.size(), 2u);
  expect_ref(m->refs[0], kHexC, RefKind::kManifest);
  expect_ref(m->refs[1], kHexD, RefKind::kManifest);
}

TEST(ParseManifest, ArtifactWithEmptyLayersAndSubject) {
  const json j = {{"schemaVersion", 2},
                  {"mediaType", kOciManifest},
                  {"artifactType", "application/vnd.example.sbom.v1"},
                  {"config", desc(kEmpty, kA, 2)},
                  {"layers", json::array()},
                  {"subject", desc(kOciManifest, kD, 1234)},
                  {"annotations", {{"org.example.x", "1"}, {"a", "quote\"d"}}}};
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->artifact_type, "application/vnd.example.sbom.v1");
  ASSERT_TRUE(m->subject.has_value());
  EXPECT_EQ(m->subject->hex, kHexD);
  // The subject need not exist, so it is not a reference; only the config is.
  ASSERT_EQ(m->refs.size(), 1u);
  expect_ref(m->refs[0], kHexA, RefKind::kBlob);
  const json annotations = json::parse(m->annotations_json);
  EXPECT_EQ(annotations["a"], "quote\"d");
  EXPECT_EQ(annotations["org.example.x"], "1");
}

TEST(ParseManifest, ArtifactWithoutArtifactTypeUsesConfigMediaType) {
  json j = oci_manifest();
  j["config"] = desc("application/vnd.example.signature.config+json", kA);
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->artifact_type, "application/vnd.example.signature.config+json");
}

TEST(ParseManifest, IndexWithSubject) {
  json j = oci_index();
  j["subject"] = desc(kOciManifest, kC);
  const auto m = parse(j, kOciIndex);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_TRUE(m->subject.has_value());
  EXPECT_EQ(m->subject->hex, kHexC);
}

TEST(ParseManifest, DuplicateRefsAreRecordedOnce) {
  json j = oci_manifest();
  j["layers"] = json::array({desc(kOciLayer, kB), desc(kOciLayer, kB), desc(kOciLayer, kA)});
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_EQ(m->refs.size(), 2u);
  expect_ref(m->refs[0], kHexA, RefKind::kBlob);
  expect_ref(m->refs[1], kHexB, RefKind::kBlob);
}

TEST(ParseManifest, ManyLayers) {
  json j = oci_manifest();
  j["layers"] = json::array();
  for (int i = 0; i < 30000; ++i) {
    char hex[65];
    std::snprintf(hex, sizeof hex, "%064x", i);
    j["layers"].push_back(desc(kOciLayer, "sha256:" + std::string(hex)));
  }
  j["layers"].push_back(desc(kOciLayer, kA));  // same as the config
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_EQ(m->refs.size(), 30001u);
  expect_ref(m->refs[0], kHexA, RefKind::kBlob);
  EXPECT_EQ(m->refs[30000].digest.hex, std::string(60, '0') + "752f");  // 29999
}

TEST(ParseManifest, ForeignLayersWithUrlsAreNotRefs) {
  json foreign = desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", kC);
  foreign["urls"] = json::array({"https://example.com/layer.tar.gz"});
  json nondist = desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", kD);
  nondist["urls"] = json::array({"https://example.com/other.tar.gz"});
  json j = oci_manifest();
  j["layers"] = json::array({foreign, nondist, desc(kOciLayer, kB)});
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_EQ(m->refs.size(), 2u);
  expect_ref(m->refs[0], kHexA, RefKind::kBlob);
  expect_ref(m->refs[1], kHexB, RefKind::kBlob);
}

TEST(ParseManifest, ForeignLayersWithoutUrlsMustExist) {
  json j = oci_manifest();
  j["layers"] = json::array({desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", kC),
                             desc("application/vnd.oci.image.layer.nondistributable.v1.tar", kD)});
  j["layers"][1]["urls"] = json::array();
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_EQ(m->refs.size(), 3u);
  expect_ref(m->refs[1], kHexC, RefKind::kBlob);
  expect_ref(m->refs[2], kHexD, RefKind::kBlob);
}

TEST(ParseManifest, ZeroSizeAndSha512AreFine) {
  json j = oci_manifest();
  j["layers"] = json::array({desc(kOciLayer, "sha512:" + std::string(128, 'e'), 0)});
  const auto m = parse(j, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_EQ(m->refs.size(), 2u);
  EXPECT_EQ(m->refs[1].digest.algorithm, storage::DigestAlgorithm::kSha512);
}

TEST(ParseManifest, RejectsUnsupportedTypes) {
  expect_error(parse(oci_manifest(), kDockerSchema1), ErrorCode::kUnsupported);
  expect_error(parse(oci_manifest(), kDockerSchema1Signed), ErrorCode::kUnsupported);
  // Schema1 is refused before the body is even read.
  expect_error(parse_manifest("not json", kDockerSchema1Signed), ErrorCode::kUnsupported);
  const json schema1 = {{"schemaVersion", 1}, {"name", "foo"}, {"tag", "latest"}};
  expect_error(parse(schema1, ""), ErrorCode::kUnsupported);
  json with_field = schema1;
  with_field["mediaType"] = kDockerSchema1;
  expect_error(parse(with_field, ""), ErrorCode::kUnsupported);
}

TEST(ParseManifest, RejectsUnknownContentType) {
  for (std::string_view ct : {"application/json", "application/octet-stream", "text/plain",
                              "application/vnd.oci.image.config.v1+json", "garbage"}) {
    expect_error(parse(oci_manifest(), ct), ErrorCode::kManifestInvalid);
  }
  json j = oci_manifest();
  j["mediaType"] = "application/vnd.example.thing+json";
  expect_error(parse(j, ""), ErrorCode::kManifestInvalid);
}

TEST(ParseManifest, RejectsMediaTypeMismatch) {
  expect_error(parse(oci_manifest(), kDockerManifest), ErrorCode::kManifestInvalid);
  expect_error(parse(oci_index(), kOciManifest), ErrorCode::kManifestInvalid);
  json j = oci_manifest();
  j["mediaType"] = 42;
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
  j["mediaType"] = std::string(kOciManifest) + "; charset=utf-8";
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
}

TEST(ParseManifest, RejectsNoTypeAtAll) {
  json j = oci_manifest();
  j.erase("mediaType");
  expect_error(parse(j, ""), ErrorCode::kManifestInvalid);
}

TEST(ParseManifest, RejectsMalformedJson) {
  for (std::string_view bytes : {"", "{", "{\"schemaVersion\": 2,}", "nul", "{'a': 1}",
                                 "{\"a\": \"\xff\"}", "{} {}", "\xef\xbb\xbf"}) {
    expect_error(parse_manifest(bytes, kOciManifest), ErrorCode::kManifestInvalid);
  }
}

TEST(ParseManifest, RejectsNonObjects) {
  for (std::string_view bytes : {"[]", "2", "\"manifest\"", "null", "true"}) {
    expect_error(parse_manifest(bytes, kOciManifest), ErrorCode::kManifestInvalid);
  }
}

TEST(ParseManifest, RejectsBadSchemaVersion) {
  for (const json& v : {json(1), json(3), json(2.0), json("2"), json(nullptr), json(-2)}) {
    json j = oci_manifest();
    j["schemaVersion"] = v;
    expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
  }
  json j = oci_manifest();
  j.erase("schemaVersion");
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
}

TEST(ParseManifest, RejectsMissingOrWrongStructure) {
  const std::vector<std::pair<std::string, json>> edits = {
      {"config", nullptr},          {"config", "sha256:abc"},   {"config", json::array()},
      {"layers", nullptr},          {"layers", json::object()}, {"layers", "x"},
      {"manifests", json::array()},  // a manifest must not look like an index
  };
  for (const auto& [key, value] : edits) {
    json j = oci_manifest();
    if (value.is_null()) {
      j.erase(key);
    } else {
      j[key] = value;
    }
    expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
  }
  json index = oci_index();
  index.erase("manifests");
  expect_error(parse(index, kOciIndex), ErrorCode::kManifestInvalid);
  index = oci_index();
  index["manifests"] = json::object();
  expect_error(parse(index, kOciIndex), ErrorCode::kManifestInvalid);
  index = oci_index();
  index["layers"] = json::array();
  expect_error(parse(index, kOciIndex), ErrorCode::kManifestInvalid);
}

// Applies `edit` to layers[0] and expects `code`.
void expect_layer_error(const std::function<void(json&)>& edit, ErrorCode code) {
  json j = oci_manifest();
  edit(j["layers"][0]);
  expect_error(parse(j, kOciManifest), code);
}

TEST(ParseManifest, RejectsBadDescriptors) {
  using F = std::function<void(json&)>;
  const std::vector<F> invalid = {
      [](json& d) { d = "sha256:abc"; },
      [](json& d) { d = json::array(); },
      [](json& d) { d.erase("mediaType"); },
      [](json& d) { d["mediaType"] = 1; },
      [](json& d) { d["mediaType"] = ""; },
      [](json& d) { d["mediaType"] = "nodash"; },
      [](json& d) { d["mediaType"] = "a/b/c"; },
      [](json& d) { d["mediaType"] = "application/"; },
      [](json& d) { d["mediaType"] = "application/x y"; },
      [](json& d) { d.erase("size"); },
      [](json& d) { d["size"] = -1; },
      [](json& d) { d["size"] = 1.5; },
      [](json& d) { d["size"] = 10.0; },
      [](json& d) { d["size"] = "10"; },
      [](json& d) { d["size"] = nullptr; },
      [](json& d) { d["size"] = 9223372036854775808ULL; },  // beyond int64
      [](json& d) { d.erase("digest"); },
      [](json& d) { d["digest"] = 5; },
      [](json& d) { d["urls"] = "https://x"; },
      [](json& d) { d["urls"] = json::array({1}); },
      [](json& d) { d["annotations"] = json::array(); },
      [](json& d) {
        d["annotations"] = {{"k", 1}};
      },
      [](json& d) { d["artifactType"] = 7; },
  };
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    expect_layer_error(invalid[i], ErrorCode::kManifestInvalid);
  }
}

TEST(ParseManifest, RejectsBadDigests) {
  const std::vector<std::pair<std::string, ErrorCode>> cases = {
      {"sha256:abc", ErrorCode::kDigestInvalid},
      {"sha256:" + std::string(64, 'A'), ErrorCode::kDigestInvalid},
      {"not a digest", ErrorCode::kDigestInvalid},
      {"", ErrorCode::kDigestInvalid},
      {"md5:d41d8cd98f00b204e9800998ecf8427e", ErrorCode::kUnsupported},
  };
  for (const auto& [digest, code] : cases) {
    SCOPED_TRACE(digest);
    expect_layer_error([&](json& d) { d["digest"] = digest; }, code);
    json j = oci_manifest();
    j["config"]["digest"] = digest;
    expect_error(parse(j, kOciManifest), code);
    j = oci_index();
    j["manifests"][1]["digest"] = digest;
    expect_error(parse(j, kOciIndex), code);
    j = oci_manifest();
    j["subject"] = desc(kOciManifest, digest);
    expect_error(parse(j, kOciManifest), code);
  }
}

TEST(ParseManifest, ErrorMessageNamesTheField) {
  json j = oci_manifest();
  j["layers"][1]["digest"] = "sha256:nope";
  const auto m = parse(j, kOciManifest);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message.find("layers[1]"), std::string::npos) << m.error().message;
}

TEST(ParseManifest, RejectsBadTopLevelFields) {
  json j = oci_manifest();
  j["annotations"] = {{"k", json::array()}};
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
  j = oci_manifest();
  j["annotations"] = "x";
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
  j = oci_manifest();
  j["artifactType"] = "not-a-media-type";
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
  j = oci_manifest();
  j["subject"] = "sha256:" + kHexA;
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
  j = oci_manifest();
  j["subject"] = {{"digest", kA}};  // a subject is a full descriptor
  expect_error(parse(j, kOciManifest), ErrorCode::kManifestInvalid);
}

// The size limit is configurable and the caller's to enforce; parse_manifest
// parses whatever it is handed.
TEST(ParseManifest, SizeIsNotItsBusiness) {
  json j = oci_manifest();
  j["annotations"] = {{"pad", std::string(kMaxManifestBytes + 1024, 'x')}};
  const std::string bytes = j.dump();
  ASSERT_GT(bytes.size(), kMaxManifestBytes);
  const auto m = parse_manifest(bytes, kOciManifest);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->annotations_json.size(), kMaxManifestBytes + 1024 + 10);  // {"pad":"..."}
}

TEST(ParseManifest, DeepNestingDoesNotCrash) {
  const std::size_t depth = 200'000;
  const std::string bytes = std::string(depth, '[') + std::string(depth, ']');
  expect_error(parse_manifest(bytes, kOciManifest), ErrorCode::kManifestInvalid);
  json j = oci_manifest();
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  std::string doc = j.dump();
  doc.insert(doc.size() - 1, ",\"extra\":" + nested);
  EXPECT_TRUE(parse_manifest(doc, kOciManifest).has_value());  // unknown fields ignored
}

TEST(ParseManifest, UnknownFieldsAreIgnored) {
  json j = oci_manifest();
  j["x-vendor"] = {{"anything", json::array({1, 2, 3})}};
  j["layers"][0]["data"] = "aGVsbG8=";
  j["layers"][0]["x-extra"] = true;
  EXPECT_TRUE(parse(j, kOciManifest).has_value());
}

struct AcceptCase {
  std::string header;
  std::string_view media_type;
  bool want;
};

TEST(Accepts, Table) {
  const std::vector<AcceptCase> cases = {
      {"", kOciManifest, true},
      {"   ", kOciManifest, true},
      {"*/*", kOciManifest, true},
      {"application/*", kOciManifest, true},
      {"text/*", kOciManifest, false},
      {std::string(kOciManifest), kOciManifest, true},
      {std::string(kOciIndex), kOciManifest, false},
      {std::string(kDockerManifest) + ", " + std::string(kOciManifest), kOciManifest, true},
      {std::string(kDockerManifest) + "," + std::string(kDockerManifestList), kOciIndex, false},
      {"APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON", kOciManifest, true},
      {std::string(kOciManifest) + "; q=0.5", kOciManifest, true},
      {std::string(kOciManifest) + ";q=0", kOciManifest, false},
      {std::string(kOciManifest) + "; Q=0.000", kOciManifest, false},
      {std::string(kOciManifest) + ";q=0.001", kOciManifest, true},
      {std::string(kOciManifest) + ";q=0, */*", kOciManifest, false},  // specific wins
      {std::string(kOciManifest) + ";q=0, */*", kOciIndex, true},
      {"application/*;q=0, " + std::string(kOciManifest), kOciManifest, true},
      {"application/*;q=0, */*", kOciManifest, false},
      {"*/*;q=0", kOciManifest, false},
      {std::string(kOciManifest) + ";q=0, " + std::string(kOciManifest), kOciManifest, true},
      {std::string(kOciManifest) + ";charset=utf-8", kOciManifest, true},
      {std::string(kOciManifest) + ";q=junk", kOciManifest, true},
      {"application/json", kOciManifest, false},
      {"application", kOciManifest, true},  // nothing usable: treated as absent
      {",,,", kOciManifest, true},
      {"garbage, " + std::string(kOciIndex), kOciManifest, false},
      {"application/vnd.oci.image.*", kOciManifest, false},
      {"*/json", kOciManifest, false},
  };
  for (const AcceptCase& c : cases) {
    EXPECT_EQ(accepts(c.header, c.media_type), c.want)
        << "Accept: " << c.header << " / " << c.media_type;
  }
}

}  // namespace
}  // namespace drydock::registry
