#include "tests/server/api_fixture.hpp"

#include <openssl/evp.h>
#include <stdlib.h>

#include <csignal>
#include <iterator>
#include <random>
#include <stdexcept>

namespace drydock::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string hex_digest(const EVP_MD* md, std::string_view prefix, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(prefix);
  for (unsigned int i = 0; i < len; ++i) {
    s.push_back(kHex[out[i] >> 4]);
    s.push_back(kHex[out[i] & 0xf]);
  }
  return s;
}

}  // namespace

std::string sha256(std::string_view data) { return hex_digest(EVP_sha256(), "sha256:", data); }
std::string sha512(std::string_view data) { return hex_digest(EVP_sha512(), "sha512:", data); }

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

json descriptor(std::string_view media_type, std::string_view digest, std::size_t size) {
  return json{{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

std::size_t open_fd_count() {
  // The iterator holds one descriptor itself, the same one every time.
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator()));
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "drydock-api-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string with_digest(std::string_view location, std::string_view digest) {
  std::string s(location);
  s += location.find('?') == std::string_view::npos ? '?' : '&';
  s += "digest=";
  s += digest;
  return s;
}

std::string upload_id(std::string_view location) {
  location = location.substr(0, location.find('?'));
  return std::string(location.substr(location.rfind('/') + 1));
}

// --- fixture --------------------------------------------------------------------

config::ServerConfig ApiTest::default_config() {
  config::ServerConfig c;
  c.listen_host = "127.0.0.1";
  c.listen_port = 0;
  c.io_threads = 2;
  c.worker_threads = 2;
  c.idle_timeout_seconds = 10;
  c.body_timeout_seconds = 10;
  c.shutdown_grace_seconds = 5;
  c.access_log = false;
  return c;
}

void ApiTest::SetUp() {
  // The server sends blobs with sendfile(2), which raises SIGPIPE on a peer
  // that is gone; `drydock serve` ignores it (server/main.cpp), and so must
  // any process that embeds the server.
  std::signal(SIGPIPE, SIG_IGN);
  start_server();
}

void ApiTest::TearDown() { stop_server(); }

void ApiTest::start_server(const config::ServerConfig& c, registry::RegistryOptions options) {
  config_ = c;
  options_ = options;
  const fs::path& data = data_dir();
  blobs_ = std::make_unique<storage::FsBlobStore>(data);
  meta_ = std::make_unique<storage::MetadataStore>(data / "metadata.db");
  uploads_ = std::make_unique<storage::UploadStore>(data / "uploads", *blobs_, *meta_);
  registry_ = std::make_unique<registry::Registry>(*blobs_, *meta_, *uploads_, options_);
  server_ = std::make_unique<server::Server>(config_, *registry_, nullptr, server_tls_);
  port_ = server_->start();
  client_.emplace(make_client());
}

void ApiTest::use_tls(config::TlsConfig server, TlsOptions client) {
  server_tls_ = std::move(server);
  client_tls_ = std::move(client);
}

Connection ApiTest::connect() {
  return client_tls_ ? Connection(port_, *client_tls_) : Connection(port_);
}

Client ApiTest::make_client() const {
  return client_tls_ ? Client(port_, *client_tls_) : Client(port_);
}

void ApiTest::stop_server() {
  client_.reset();
  if (server_) server_->stop();
  server_.reset();
  registry_.reset();
  uploads_.reset();
  meta_.reset();
  blobs_.reset();
}

void ApiTest::restart_server() {
  auto c = config_;
  auto o = options_;
  stop_server();
  start_server(c, o);
}

void ApiTest::expect_alive() {
  Client fresh = make_client();
  Response r = fresh.get("/v2/");
  EXPECT_EQ(r.status, 200u) << "the server no longer answers GET /v2/";
}

std::string ApiTest::push_blob(std::string_view repo, std::string_view content) {
  std::string digest = sha256(content);
  Response r = http().post("/v2/" + std::string(repo) + "/blobs/uploads/?digest=" + digest,
                           std::string(content));
  EXPECT_EQ(r.status, 201u) << "push_blob " << repo << ": " << r.body;
  return digest;
}

std::string ApiTest::start_upload(std::string_view repo) {
  Response r = http().post("/v2/" + std::string(repo) + "/blobs/uploads/");
  EXPECT_EQ(r.status, 202u) << r.body;
  EXPECT_TRUE(r.has("Location"));
  return r.header("Location");
}

Response ApiTest::put_manifest(std::string_view repo, std::string_view ref,
                               std::string_view media_type, std::string_view body) {
  Headers h;
  if (!media_type.empty()) h.emplace_back("Content-Type", std::string(media_type));
  return http().put("/v2/" + std::string(repo) + "/manifests/" + std::string(ref),
                    std::string(body), h);
}

std::string ApiTest::push_manifest(std::string_view repo, std::string_view ref,
                                   std::string_view media_type, std::string_view body) {
  Response r = put_manifest(repo, ref, media_type, body);
  EXPECT_EQ(r.status, 201u) << "push_manifest " << repo << ":" << ref << ": " << r.body;
  EXPECT_EQ(r.header("Docker-Content-Digest"), sha256(body));
  return sha256(body);
}

std::string image_manifest(std::string_view media_type, const json& config, const json& layers,
                           const json& extra) {
  json m{{"schemaVersion", 2}, {"mediaType", media_type}, {"config", config}, {"layers", layers}};
  for (const auto& [k, v] : extra.items()) m[k] = v;
  return m.dump(2);
}

PushedImage ApiTest::push_image(std::string_view repo, std::string_view ref,
                                std::string_view media_type, int layers, std::uint32_t seed) {
  bool docker = media_type == kDockerManifest;
  PushedImage img;
  img.media_type = std::string(media_type);
  std::string config = json{{"architecture", "amd64"},
                            {"os", "linux"},
                            {"seed", seed},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}}
                           .dump();
  img.config_digest = push_blob(repo, config);
  json layer_list = json::array();
  for (int i = 0; i < layers; ++i) {
    std::string layer = random_bytes(1000 + 100 * static_cast<std::size_t>(i), seed * 100 + i);
    std::string d = push_blob(repo, layer);
    img.layer_digests.push_back(d);
    layer_list.push_back(descriptor(docker ? kDockerLayer : kOciLayer, d, layer.size()));
  }
  img.manifest = image_manifest(
      media_type, descriptor(docker ? kDockerConfig : kOciConfig, img.config_digest, config.size()),
      layer_list);
  img.digest = push_manifest(repo, ref, media_type, img.manifest);
  return img;
}

}  // namespace drydock::testing
