// Image archives without sockets: the tar header writer, export plans read
// back with libarchive, imports of docker-save-style and OCI layout tars
// (built here) into a real FsBlobStore + MetadataStore, round trips, and
// refused imports that must change nothing.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "images/archive_staging.hpp"
#include "images/image_catalog.hpp"
#include "images/image_export.hpp"
#include "images/image_import.hpp"
#include "images/tar_format.hpp"
#include "registry/manifest.hpp"
#include "tests/images/archive_test_util.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::images {
namespace {

using namespace drydock::images::testing;
using nlohmann::json;
using registry::ErrorCode;
namespace fs = std::filesystem;

constexpr const char* kGzipLayer = "application/vnd.oci.image.layer.v1.tar+gzip";

// A store in a temp dir, with helpers to put images in as a push would.
class Store : public ::testing::Test {
 protected:
  Store() : blobs(dir.path() / "data"), meta(dir.path() / "data" / "meta.db") {}

  json descriptor(const std::string& type, const std::string& data) {
    auto d = storage::digest_of(data);
    EXPECT_TRUE(blobs.put(data, d));
    return {{"mediaType", type}, {"digest", d.str()}, {"size", data.size()}};
  }

  // An image of gzip'd `plain_layers`; returns the manifest digest.
  storage::Digest put_image(const std::string& repo, const std::string& tag,
                            const std::vector<std::string>& plain_layers,
                            const std::string& arch = "amd64") {
    json layers = json::array();
    std::vector<storage::ManifestRef> refs;
    for (const auto& l : plain_layers) layers.push_back(descriptor(kGzipLayer, gzip(l)));
    json config = descriptor("application/vnd.oci.image.config.v1+json",
                             config_json(plain_layers, arch, repo + tag));
    json m{{"schemaVersion", 2},
           {"mediaType", registry::kOciManifest},
           {"config", config},
           {"layers", layers}};
    return put_manifest(repo, tag, m.dump(), std::string(registry::kOciManifest));
  }

  storage::Digest put_manifest(const std::string& repo, const std::string& tag,
                               const std::string& bytes, const std::string& type) {
    auto parsed = registry::parse_manifest(bytes, type);
    EXPECT_TRUE(parsed) << parsed.error().message;
    auto d = storage::digest_of(bytes);
    EXPECT_TRUE(blobs.put(bytes, d));
    json j = json::parse(bytes);
    for (const auto& ref : parsed->refs) {
      if (ref.kind != storage::RefKind::kBlob) continue;
      EXPECT_TRUE(meta.link_blob(repo, *blobs.stat(ref.digest)));
    }
    storage::ManifestRecord rec{
        repo, d, type, bytes.size(), std::nullopt, parsed->artifact_type, "{}", 1700000000};
    std::optional<std::string_view> t;
    if (!tag.empty()) t = tag;
    auto put = meta.put_manifest(rec, parsed->refs, t);
    EXPECT_TRUE(put && put->missing.empty());
    return d;
  }

  storage::Digest put_index(const std::string& repo, const std::string& tag) {
    auto amd = put_image(repo, "", {layer_tar("a", "amd64 bits")}, "amd64");
    auto arm = put_image(repo, "", {layer_tar("a", "arm64 bits")}, "arm64");
    auto entry = [&](const storage::Digest& d, const char* arch) {
      auto rec = *meta.get_manifest(repo, d);
      return json{{"mediaType", registry::kOciManifest},
                  {"digest", d.str()},
                  {"size", rec->size},
                  {"platform", {{"os", "linux"}, {"architecture", arch}}}};
    };
    json index{{"schemaVersion", 2},
               {"mediaType", registry::kOciIndex},
               {"manifests", {entry(amd, "amd64"), entry(arm, "arm64")}}};
    return put_manifest(repo, tag, index.dump(), std::string(registry::kOciIndex));
  }

  // The archive, written to a file and read back whole.
  std::string export_to_string(const ExportRequest& r) {
    auto plan = plan_export(meta, blobs, r);
    EXPECT_TRUE(plan) << plan.error().message;
    if (!plan) return {};
    fs::path out = dir.path() / "out.tar";
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_TRUE(write_export(*plan, blobs, fd));
    ::close(fd);
    std::string bytes = storage::testing::read_file(out);
    EXPECT_EQ(bytes.size(), plan->total_bytes);
    return bytes;
  }

  std::expected<ImportResult, registry::Error> import(const std::string& tar,
                                                      ImportOptions o = {}) {
    fs::path in = dir.path() / "in.tar";
    std::ofstream(in, std::ios::binary | std::ios::trunc) << tar;
    o.max_unpacked_bytes = 1ULL << 30;
    return import_archive(blobs, meta, in, dir.path() / "data" / "imports", o);
  }

  std::optional<storage::Digest> tag(const std::string& repo, const std::string& t) {
    return *meta.resolve_tag(repo, t);
  }

  storage::testing::TempDir dir;
  storage::FsBlobStore blobs;
  storage::MetadataStore meta;
};

ImageRef image_ref(const std::string& text) { return *parse_image_ref(text); }

TEST(TarFormat, HeadersReadBackWithLibarchive) {
  std::string long_name = std::string(80, 'd') + "/" + std::string(90, 'f');
  std::string tar;
  for (auto [name, data] : {std::pair{std::string("manifest.json"), std::string("[]")},
                            std::pair{long_name, std::string(1000, 'x')}}) {
    tar += *ustar_file_header(name, data.size(), 1700000000);
    tar += data + std::string(tar_padding(data.size()), '\0');
  }
  tar += std::string(kTarEndBytes, '\0');
  auto files = read_tar(tar);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files["manifest.json"], "[]");
  EXPECT_EQ(files[long_name], std::string(1000, 'x'));
  EXPECT_EQ(tar_entry_bytes(1000), 512u + 1024u);
  EXPECT_EQ(tar_padding(512), 0u);
  EXPECT_FALSE(ustar_file_header(std::string(300, 'a'), 1));
}

TEST(TarFormat, HugeSizesUseBase256) {
  auto h = *ustar_file_header("big", 10ULL << 30);
  EXPECT_EQ(static_cast<unsigned char>(h[124]), 0x80);
  EXPECT_EQ(static_cast<unsigned char>(h[135]), 0x00);  // 10 GiB: low byte zero
  EXPECT_EQ(static_cast<unsigned char>(h[131]), 0x02);  // 0x2_8000_0000
  EXPECT_EQ(static_cast<unsigned char>(h[132]), 0x80);
}

TEST(ArchivePaths, AreNormalisedAndKeptInside) {
  EXPECT_EQ(normalise_archive_path("./a/./b/../c"), "a/c");
  EXPECT_FALSE(normalise_archive_path("/etc/passwd"));
  EXPECT_FALSE(normalise_archive_path("../x"));
}

TEST(ImageRefs, ForeignNamesLoseTheirHost) {
  EXPECT_EQ(parse_foreign_ref("busybox")->str(), "busybox:latest");
  EXPECT_EQ(parse_foreign_ref("docker.io/library/busybox:1")->str(), "busybox:1");
  EXPECT_EQ(parse_foreign_ref("localhost:5000/team/app:v1")->str(), "team/app:v1");
  EXPECT_EQ(parse_foreign_ref("team/app:v1")->str(), "team/app:v1");
  EXPECT_FALSE(parse_foreign_ref("Team/App"));
  EXPECT_EQ(parse_image_ref("a/b@sha256:" + std::string(64, 'a'))->digest->hex,
            std::string(64, 'a'));
}

TEST_F(Store, DockerExportIsWhatDockerLoadReads) {
  std::string l1 = layer_tar("one", "1"), l2 = layer_tar("two", "2");
  auto digest = put_image("team/app", "1", {l1, l2});
  auto files =
      read_tar(export_to_string({image_ref("team/app:1"), ArchiveFormat::kDocker, {}, ""}));
  json manifest = json::parse(files["manifest.json"]);
  ASSERT_EQ(manifest.size(), 1u);
  EXPECT_EQ(manifest[0]["RepoTags"], json::array({"team/app:1"}));
  ASSERT_EQ(manifest[0]["Layers"].size(), 2u);
  EXPECT_EQ(files[manifest[0]["Layers"][0]], gzip(l1));
  json config = json::parse(files[manifest[0]["Config"]]);
  EXPECT_EQ(config["rootfs"]["diff_ids"][1], storage::digest_of(l2).str());
  EXPECT_TRUE(json::parse(files["repositories"]).contains("team/app"));
  json index = json::parse(files["index.json"]);
  EXPECT_EQ(index["manifests"][0]["digest"], digest.str());
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1");
  EXPECT_TRUE(files.contains("oci-layout"));
  // ?name= writes another name; a digest reference writes none.
  files = read_tar(export_to_string(
      {image_ref("team/app:1"), ArchiveFormat::kDocker, {}, "localhost:5000/team/app"}));
  EXPECT_EQ(json::parse(files["manifest.json"])[0]["RepoTags"][0],
            "localhost:5000/team/app:latest");
  files = read_tar(
      export_to_string({image_ref("team/app@" + digest.str()), ArchiveFormat::kDocker, {}, ""}));
  EXPECT_TRUE(json::parse(files["manifest.json"])[0]["RepoTags"].empty());
}

TEST_F(Store, AnIndexExportsOnePlatformForDockerAndAllForOci) {
  auto index = put_index("multi", "1");
  auto files = read_tar(export_to_string({image_ref("multi:1"), ArchiveFormat::kDocker, {}, ""}));
  json config = json::parse(files[json::parse(files["manifest.json"])[0]["Config"]]);
  EXPECT_EQ(config["architecture"], "amd64");
  files = read_tar(export_to_string(
      {image_ref("multi:1"), ArchiveFormat::kDocker, Platform{"linux", "arm64", "v8"}, ""}));
  config = json::parse(files[json::parse(files["manifest.json"])[0]["Config"]]);
  EXPECT_EQ(config["architecture"], "arm64");
  auto missing = plan_export(
      meta, blobs,
      {image_ref("multi:1"), ArchiveFormat::kDocker, Platform{"linux", "s390x", ""}, ""});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kImageInvalid);
  EXPECT_NE(missing.error().message.find("linux/arm64"), std::string::npos);
  files = read_tar(export_to_string({image_ref("multi:1"), ArchiveFormat::kOci, {}, ""}));
  EXPECT_FALSE(files.contains("manifest.json"));
  EXPECT_EQ(json::parse(files["index.json"])["manifests"][0]["digest"], index.str());
  EXPECT_EQ(files.size(), 1u + 1u + 1u + 2u * 3u);  // oci-layout, index.json, index, 2 x (m, c, l)
  EXPECT_FALSE(plan_export(meta, blobs, {image_ref("multi:nope"), ArchiveFormat::kOci, {}, ""}));
}

TEST_F(Store, ImportsAClassicDockerSaveWithSeveralImages) {
  // docker save (docker < 25): <id>/layer.tar, <hex>.json configs, a shared
  // layer linked rather than repeated, the whole tar gzip'd.
  std::string base = layer_tar("base", "b"), top = layer_tar("top", "t");
  std::string c1 = config_json({base}, "amd64", "1"), c2 = config_json({base, top}, "amd64", "2");
  json manifest = json::array({{{"Config", hex_of(c1) + ".json"},
                                {"RepoTags", {"busybox:latest", "team/bb:1"}},
                                {"Layers", {"aaa/layer.tar"}}},
                               {{"Config", hex_of(c2) + ".json"},
                                {"RepoTags", {"docker.io/library/two:2"}},
                                {"Layers", {"aaa/layer.tar", "bbb/layer.tar"}}}});
  std::string tar = make_tar({{hex_of(c1) + ".json", c1},
                              {hex_of(c2) + ".json", c2},
                              {"aaa/layer.tar", base},
                              {"bbb/layer.tar", top},
                              {"manifest.json", manifest.dump()},
                              {"repositories", "{}"}},
                             /*gzip=*/true);
  auto result = import(tar);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->format, "docker-archive");
  ASSERT_EQ(result->images.size(), 3u);
  ASSERT_TRUE(tag("busybox", "latest"));
  EXPECT_EQ(tag("team/bb", "1"), tag("busybox", "latest"));
  ASSERT_TRUE(tag("two", "2"));
  // Plain layers are stored plain: their digest is their diff_id.
  auto m = load_manifest(meta, blobs, "two", *tag("two", "2"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->json["layers"][1]["digest"], storage::digest_of(top).str());
  EXPECT_EQ(m->json["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(m->json["config"]["digest"], storage::digest_of(c2).str());
  // Listing: shared layers counted once.
  json list = json::parse(*list_images(meta, blobs, "", {}));
  std::uint64_t sum = 0;
  for (const auto& r : list["repositories"]) sum += r["size"].get<std::uint64_t>();
  EXPECT_LT(list["size"].get<std::uint64_t>(), sum);
  // Export and import again elsewhere: same manifest bytes come back.
  std::string again =
      export_to_string({image_ref("two:2"), ArchiveFormat::kDocker, {}, "copy/two:3"});
  ASSERT_TRUE(import(again));
  EXPECT_EQ(tag("copy/two", "3"), tag("two", "2"));
}

TEST_F(Store, OciLayoutRoundTripKeepsTheIndex) {
  auto index = put_index("multi", "1");
  std::string tar = export_to_string({image_ref("multi:1"), ArchiveFormat::kOci, {}, ""});
  ImportOptions o;
  o.repository = "mirror/multi";
  // The export names it multi:1 (io.containerd.image.name): that wins.
  auto r = import(tar, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->format, "oci-layout");
  EXPECT_EQ(r->images.at(0).manifest, index);
  // Only the bare tag: the repository comes from the option.
  auto files = read_tar(tar);
  json idx = json::parse(files["index.json"]);
  idx["manifests"][0]["annotations"].erase("io.containerd.image.name");
  files["index.json"] = idx.dump();
  Files list(files.begin(), files.end());
  r = import(make_tar(list), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(tag("mirror/multi", "1"), index);
  json inspected = json::parse(*inspect_image(meta, blobs, image_ref("mirror/multi:1"), {}));
  EXPECT_EQ(inspected["Architecture"], "amd64");
  EXPECT_EQ(inspected["Index"]["Manifests"].size(), 2u);
}

class BadImports : public Store {
 protected:
  std::string base = layer_tar("base", "b");
  std::string config = config_json({base});
  Files good() {
    json manifest = json::array({{{"Config", "blobs/sha256/" + hex_of(config)},
                                  {"RepoTags", {"team/app:v1"}},
                                  {"Layers", {"blobs/sha256/" + hex_of(base)}}}});
    return {{"blobs/sha256/" + hex_of(config), config},
            {"blobs/sha256/" + hex_of(base), base},
            {"manifest.json", manifest.dump()}};
  }
  void expect_refused(const std::string& tar, ErrorCode code, const std::string& words,
                      ImportOptions o = {}) {
    auto r = import(tar, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
    EXPECT_FALSE(tag("team/app", "v1"));
    EXPECT_FALSE(*meta.linked_blob_size("team/app", storage::digest_of(base)));
    EXPECT_TRUE(fs::is_empty(dir.path() / "data" / "imports"));
  }
};

TEST_F(BadImports, AreRefusedAndChangeNothing) {
  ASSERT_TRUE(fs::create_directories(dir.path() / "data" / "imports"));
  expect_refused("this is not a tar at all, not even close........", ErrorCode::kImageInvalid,
                 "not a tar");
  expect_refused(make_tar({{"hello.txt", "hi"}}), ErrorCode::kImageInvalid, "manifest.json");
  Files f = good();
  f.erase(f.begin() + 1);
  expect_refused(make_tar(f), ErrorCode::kImageInvalid, "does not hold");
  f = good();
  f[1].second = layer_tar("base", "tampered");
  expect_refused(make_tar(f), ErrorCode::kDigestInvalid, "does not match");
  // A consistent name but content that is not the config's diff_id.
  f = good();
  std::string other = layer_tar("other", "x");
  f[1] = {"blobs/sha256/" + hex_of(other), other};
  json m = json::parse(f[2].second);
  m[0]["Layers"][0] = f[1].first;
  f[2].second = m.dump();
  expect_refused(make_tar(f), ErrorCode::kDigestInvalid, "diff_id");
  f = good();
  m = json::parse(f[2].second);
  m[0]["RepoTags"] = nullptr;
  f[2].second = m.dump();
  expect_refused(make_tar(f), ErrorCode::kImageInvalid, "repository=");
  ImportOptions no_push;
  no_push.may_push = [](std::string_view repo) { return repo != "team/app"; };
  expect_refused(make_tar(good()), ErrorCode::kDenied, "team/app", no_push);
}

TEST_F(BadImports, AnImportOverTheNamespaceQuotaIsRefusedWhole) {
  ASSERT_TRUE(fs::create_directories(dir.path() / "data" / "imports"));
  storage::QuotaLimits limits;
  limits.namespaces["team"] = 100;  // less than the layer alone
  meta.set_quotas(limits);
  expect_refused(make_tar(good()), ErrorCode::kDenied, "quota exceeded for namespace \"team\"");
  limits.namespaces["team"] = std::nullopt;
  meta.set_quotas(limits);
  ASSERT_TRUE(import(make_tar(good())));
  EXPECT_TRUE(tag("team/app", "v1"));
}

TEST_F(BadImports, ImmutableTagsAreNotMoved) {
  meta.set_immutable_tags([](std::string_view, std::string_view t) -> std::optional<std::string> {
    if (t.starts_with("v")) return std::string("team/** v*");
    return std::nullopt;
  });
  auto before = put_image("team/app", "v1", {layer_tar("x", "y")});
  auto r = import(make_tar(good()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDenied);
  EXPECT_NE(r.error().message.find("team/app:v1 is immutable"), std::string::npos);
  EXPECT_EQ(tag("team/app", "v1"), before);
}

TEST_F(Store, RemoveKeepsAManifestAnIndexLists) {
  auto index = load_manifest(meta, blobs, "multi", put_index("multi", "1"));
  ASSERT_TRUE(index);
  auto amd = *storage::parse_digest(index->json["manifests"][0]["digest"].get<std::string>());
  put_manifest("multi", "amd", *blobs.read_all(amd, 1 << 20), std::string(registry::kOciManifest));
  json out = json::parse(*remove_image(meta, blobs, image_ref("multi:amd")));
  EXPECT_EQ(out["untagged"][0], "multi:amd");
  EXPECT_TRUE(out["deleted"].empty());
  EXPECT_TRUE(*meta.get_manifest("multi", amd));
}

TEST_F(Store, RemoveUntagsThenDeletesTheLastTag) {
  auto d = put_image("team/app", "1", {layer_tar("a", "1")});
  ASSERT_TRUE(put_manifest("team/app", "2", *blobs.read_all(d, 1 << 20),
                           std::string(registry::kOciManifest)) == d);
  json first = json::parse(*remove_image(meta, blobs, image_ref("team/app:1")));
  EXPECT_TRUE(first["deleted"].empty());
  EXPECT_TRUE(tag("team/app", "2"));
  json second = json::parse(*remove_image(meta, blobs, image_ref("team/app:2")));
  EXPECT_EQ(second["deleted"][0], d.str());
  EXPECT_FALSE(*meta.get_manifest("team/app", d));
  EXPECT_EQ(remove_image(meta, blobs, image_ref("team/app:2")).error().code,
            ErrorCode::kManifestUnknown);
}

}  // namespace
}  // namespace drydock::images
