// Image archives over a real server process on loopback: GET
// /images/<ref>/export parsed back, POST /images/import of docker-save
// tarballs built here, the refusals (bad tar, missing blob, digest
// mismatch, no push right, immutable tag) that must change nothing, the
// listing filtered by pull rights, and `drydock image` as a process.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "auth/secrets.hpp"
#include "tests/images/archive_test_util.hpp"
#include "tests/server/http_client.hpp"
#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using images::testing::config_json;
using images::testing::Files;
using images::testing::hex_of;
using images::testing::layer_tar;
using images::testing::make_tar;
using images::testing::read_tar;
using nlohmann::json;

Headers basic(const std::string& user, const std::string& secret) {
  return {{"Authorization", "Basic " + auth::base64_encode(user + ":" + secret)}};
}

// A docker save (docker < 25 layout) of one image named `name`.
struct SavedImage {
  std::string layer = layer_tar("hello", "hello from a saved image");
  std::string config = config_json({layer});
  Files files(const std::string& name) const {
    json manifest = json::array({{{"Config", hex_of(config) + ".json"},
                                  {"RepoTags", {name}},
                                  {"Layers", {"0123/layer.tar"}}}});
    return {{hex_of(config) + ".json", config},
            {"0123/layer.tar", layer},
            {"0123/VERSION", "1.0"},
            {"manifest.json", manifest.dump()}};
  }
  std::string tar(const std::string& name, bool gzip = false) const {
    return make_tar(files(name), gzip);
  }
};

class ImageProcess : public ::testing::Test {
 protected:
  void start(json registry = json::object(), std::vector<std::string> extra = {}) {
    fs::path config = dir_.path() / "drydock.json";
    std::ofstream(config) << json{
        {"listen", "127.0.0.1:0"},
        {"data", data().string()},
        {"server", {{"access_log", false}}},
        {"builder", {{"enabled", false}}},
        {"registry", registry}}.dump();
    std::vector<std::string> args{"serve", "--config", config.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    server_.emplace(args, dir_.path() / "server.log");
    client_.emplace(server_->port());
  }
  fs::path data() const { return dir_.path() / "data"; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  Client& c() { return *client_; }
  Response import(const std::string& tar, const std::string& query = "", Headers h = {}) {
    h.emplace_back("Content-Type", "application/x-tar");
    return c().post("/images/import" + query, tar, h);
  }
  CliResult cli(std::vector<std::string> args, std::optional<std::string> input = std::nullopt) {
    args.insert(args.begin(), "image");
    args.push_back("--server");
    args.push_back(url());
    return run_cli(args, 60s, std::move(input));
  }
  // Pushes team/app:1 (a config and two layers) the ordinary way.
  PushedManifest push_app(const std::string& repo = "team/app", const std::string& tag = "1") {
    std::string l1 = layer_tar("a", "1"), l2 = layer_tar("b", "2");
    BlobRef cfg = push_blob_monolithic(c(), repo, config_json({l1, l2}));
    BlobRef b1 = push_blob_monolithic(c(), repo, l1), b2 = push_blob_monolithic(c(), repo, l2);
    std::string body = image_manifest(cfg, {b1, b2});
    return {repo, tag, push_manifest(c(), repo, tag, body), body, {cfg, b1, b2}};
  }
  // Nothing in the store has anything to do with `repo`.
  void expect_untouched(const std::string& repo) {
    EXPECT_EQ(c().get("/v2/" + repo + "/tags/list").status, 404u);
    std::size_t files = 0;
    EXPECT_TRUE(audit_blob_files(data(), files).empty());
    EXPECT_TRUE(fs::is_empty(data() / "imports") || !fs::exists(data() / "imports"));
  }

  ScratchDir dir_;
  std::optional<ServerProcess> server_;
  std::optional<Client> client_;
};

TEST_F(ImageProcess, ExportStreamsADockerArchiveAndAnOciLayout) {
  start();
  auto pushed = push_app();
  auto r = c().get("/images/team/app:1/export");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/x-tar");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.header("Drydock-Image-Digest"), pushed.digest);
  auto files = read_tar(r.body);
  json manifest = json::parse(files["manifest.json"]);
  EXPECT_EQ(manifest[0]["RepoTags"][0], "team/app:1");
  EXPECT_EQ(sha256_of(files[manifest[0]["Layers"][1]]), pushed.blobs[2].digest);
  EXPECT_EQ(sha256_of(files[manifest[0]["Config"]]), pushed.blobs[0].digest);

  r = c().get("/images/team/app@" + pushed.digest + "/export?format=oci");
  ASSERT_EQ(r.status, 200u) << r.body;
  files = read_tar(r.body);
  EXPECT_EQ(json::parse(files["index.json"])["manifests"][0]["digest"], pushed.digest);
  EXPECT_EQ(files["blobs/sha256/" + pushed.digest.substr(7)], pushed.body);
  EXPECT_EQ(c().head("/images/team/app:1/export").status, 200u);

  EXPECT_EQ(c().get("/images/team/app:nope/export").error_code(), "MANIFEST_UNKNOWN");
  EXPECT_EQ(c().get("/images/team/app:1/export?format=zip").error_code(), "IMAGE_INVALID");
  EXPECT_EQ(c().get("/images/Team/App:1/export").error_code(), "NAME_INVALID");
  EXPECT_EQ(c().post("/images/team/app:1/export", "").status, 405u);
}

TEST_F(ImageProcess, ImportStoresAndTagsImagesAsAPushWould) {
  start();
  SavedImage saved;
  auto r = import(saved.tar("localhost:5000/team/saved:v1", /*gzip=*/true));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["images"][0]["name"], "team/saved:v1");
  std::string digest = r.json()["images"][0]["digest"];
  auto m = c().get("/v2/team/saved/manifests/v1",
                   {{"Accept", "application/vnd.oci.image.manifest.v1+json"}});
  ASSERT_EQ(m.status, 200u);
  EXPECT_EQ(m.header("Docker-Content-Digest"), digest);
  // The plain layer is stored as it came: its digest is its diff_id.
  std::string layer_digest = m.json()["layers"][0]["digest"];
  EXPECT_EQ(layer_digest, "sha256:" + hex_of(saved.layer));
  EXPECT_EQ(c().get("/v2/team/saved/blobs/" + layer_digest).body, saved.layer);
  // The listing and inspect see it.
  json list = c().get("/images").json();
  EXPECT_EQ(list["repositories"][0]["name"], "team/saved");
  EXPECT_EQ(list["repositories"][0]["tags"][0]["platforms"][0], "linux/amd64");
  json inspected = c().get("/images/team/saved:v1/json").json();
  EXPECT_EQ(inspected["Id"], "sha256:" + hex_of(saved.config));
  EXPECT_EQ(inspected["RootFS"]["diff_ids"][0], layer_digest);
  std::size_t tags = 0;
  EXPECT_TRUE(audit_over_http(c(), tags).empty());
  EXPECT_TRUE(audit_metadata(data()).empty());
}

TEST_F(ImageProcess, BadArchivesAreRefusedAndChangeNothing) {
  start();
  SavedImage saved;
  auto not_tar = import(std::string(4096, 'x'));
  EXPECT_EQ(not_tar.status, 400u);
  EXPECT_EQ(not_tar.error_code(), "IMAGE_INVALID") << not_tar.body;

  Files missing = saved.files("team/bad:1");
  missing.erase(missing.begin() + 1);  // the layer
  auto r = import(make_tar(missing));
  EXPECT_EQ(r.error_code(), "IMAGE_INVALID") << r.body;
  EXPECT_NE(r.body.find("0123/layer.tar"), std::string::npos) << r.body;

  Files tampered = saved.files("team/bad:1");
  tampered[1].second = layer_tar("hello", "not what the config says");
  r = import(make_tar(tampered));
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "DIGEST_INVALID") << r.body;

  Files bad_config = saved.files("team/bad:1");
  bad_config[0].second += " ";  // no longer hashes to its name
  r = import(make_tar(bad_config));
  EXPECT_EQ(r.error_code(), "DIGEST_INVALID") << r.body;

  std::string truncated = saved.tar("team/bad:1");
  r = import(truncated.substr(0, 1536));
  EXPECT_EQ(r.status, 400u) << r.body;
  expect_untouched("team/bad");
}

TEST_F(ImageProcess, ImmutableTagsAreReported) {
  start({{"immutable_tags", {{{"repositories", "team/**"}, {"tags", "v*"}}}}});
  SavedImage saved;
  push_app("team/app", "v1");
  auto r = import(saved.tar("team/app:v1"));
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(r.error_code(), "DENIED");
  EXPECT_NE(r.body.find("team/app:v1 is immutable"), std::string::npos) << r.body;
  // A new immutable tag may be set once.
  EXPECT_EQ(import(saved.tar("team/app:v2")).status, 200u);
  EXPECT_EQ(c().del("/images/team/app:v2").status, 403u);
}

TEST_F(ImageProcess, AuthChecksEveryRepositoryBeforeStoring) {
  start(json::object(), {"--auth"});
  auto admin = run_cli({"user", "add", "dev", "--password-stdin", "--data", data().string()}, 30s,
                       "dev-pw\n");
  ASSERT_TRUE(admin.status.ok()) << admin.err;
  ASSERT_TRUE(
      run_cli({"grant", "dev", "team/**", "pull,push", "--data", data().string()}).status.ok());
  ASSERT_TRUE(run_cli({"grant", "dev", "ro/**", "pull", "--data", data().string()}).status.ok());
  SavedImage saved;
  EXPECT_EQ(import(saved.tar("team/a:1")).status, 401u);
  // Two images: one the user may push, one not: nothing is stored.
  Files files = saved.files("team/a:1");
  json manifest = json::parse(files.back().second);
  manifest[0]["RepoTags"].push_back("ro/b:1");
  files.back().second = manifest.dump();
  auto r = import(make_tar(files), "", basic("dev", "dev-pw"));
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_NE(r.body.find("ro/b"), std::string::npos);
  EXPECT_EQ(c().get("/v2/team/a/tags/list", basic("dev", "dev-pw")).status, 404u);
  r = import(saved.tar("team/a:1"), "", basic("dev", "dev-pw"));
  ASSERT_EQ(r.status, 200u) << r.body;
  // The listing shows only what the caller may pull.
  auto other = run_cli({"user", "add", "eve", "--password-stdin", "--data", data().string()}, 30s,
                       "eve-pw\n");
  ASSERT_TRUE(other.status.ok());
  EXPECT_TRUE(c().get("/images", basic("eve", "eve-pw")).json()["repositories"].empty());
  EXPECT_EQ(c().get("/images", basic("dev", "dev-pw")).json()["repositories"].size(), 1u);
  EXPECT_EQ(c().get("/images/team/a:1/export", basic("eve", "eve-pw")).status, 403u);
  EXPECT_EQ(c().get("/images/team/a:1/export", basic("dev", "dev-pw")).status, 200u);
}

// A 256 MiB layer in and out: the server's memory does not grow with it
// (the upload goes to a file, unpacking uses one buffer, the export is
// sent from the blob file).
TEST_F(ImageProcess, BigImagesGoInAndOutInBoundedMemory) {
  constexpr std::size_t kLayer = 256u << 20;
  constexpr std::uint64_t kMaxHwmKib = 128 * 1024;
  start();
  SavedImage saved;
  saved.layer = ByteStream(7).take(kLayer);
  saved.layer[0] = 'x';  // not mistaken for a compressed layer
  saved.config = config_json({saved.layer});
  std::string tar = saved.tar("big/image:1");
  auto r = import(tar);
  ASSERT_EQ(r.status, 200u) << r.body;
  tar.clear();
  tar.shrink_to_fit();
  auto out = c().get("/images/big/image:1/export");
  ASSERT_EQ(out.status, 200u);
  EXPECT_GT(out.body.size(), kLayer);
  auto files = read_tar(out.body);
  EXPECT_EQ(sha256_of(files[json::parse(files["manifest.json"])[0]["Layers"][0]]),
            "sha256:" + hex_of(saved.layer));
  std::uint64_t hwm = server_->vm_hwm_kib();
  EXPECT_LT(hwm, kMaxHwmKib) << "server peak RSS " << hwm << " KiB";
}

TEST_F(ImageProcess, TheImageCommand) {
  start();
  SavedImage saved;
  fs::path tar = dir_.path() / "saved.tar";
  std::ofstream(tar, std::ios::binary) << saved.tar("team/cli:1");
  auto r = cli({"import", tar.string()});
  ASSERT_TRUE(r.status.ok()) << r.err;
  EXPECT_NE(r.out.find("Loaded image: team/cli:1"), std::string::npos) << r.out;
  r = cli({"import", "-", "--repository", "x/y"}, saved.tar("team/stdin:2"));
  ASSERT_TRUE(r.status.ok()) << r.err;
  r = cli({"ls"});
  ASSERT_TRUE(r.status.ok()) << r.err;
  EXPECT_NE(r.out.find("team/cli"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 tags in 2 repositories"), std::string::npos) << r.out;
  fs::path out = dir_.path() / "out.tar";
  r = cli({"export", "team/cli:1", "-o", out.string()});
  ASSERT_TRUE(r.status.ok()) << r.err;
  auto files = read_tar(read_file(out));
  EXPECT_EQ(files[json::parse(files["manifest.json"])[0]["Layers"][0]], saved.layer);
  r = cli({"inspect", "team/cli:1"});
  ASSERT_TRUE(r.status.ok()) << r.err;
  EXPECT_EQ(json::parse(r.out)[0]["Architecture"], "amd64");
  r = cli({"rm", "team/cli:1"});
  ASSERT_TRUE(r.status.ok()) << r.err;
  EXPECT_NE(r.out.find("Deleted: sha256:"), std::string::npos) << r.out;
  r = cli({"rm", "team/cli:1"});
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("MANIFEST_UNKNOWN"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"frobnicate"}).status.exit_code, 2);
  EXPECT_EQ(cli({"export"}).status.exit_code, 2);
  EXPECT_EQ(run_cli({"image", "ls", "--server", "http://127.0.0.1:1"}).status.exit_code, 2);
  EXPECT_TRUE(run_cli({"image", "--help"}).out.find("docker load") != std::string::npos);
}

}  // namespace
}  // namespace drydock::testing
