#pragma once

// The fixture of the API tests: a fresh data directory, the real stores, the
// Registry and the HTTP Server on 127.0.0.1:0, all in this process; plus
// helpers that speak the distribution protocol through the test client.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "registry/registry.hpp"
#include "server/server.hpp"
#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"
#include "storage/upload_store.hpp"
#include "tests/server/http_client.hpp"

namespace drydock::testing {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

// "sha256:<hex>" / "sha512:<hex>", computed with OpenSSL directly (an oracle
// independent of storage/digest.cpp).
std::string sha256(std::string_view data);
std::string sha512(std::string_view data);

// Deterministic pseudo-random bytes.
std::string random_bytes(std::size_t n, std::uint32_t seed = 1);

// An OCI/Docker descriptor.
nlohmann::json descriptor(std::string_view media_type, std::string_view digest, std::size_t size);

// An image manifest body (not pushed): schemaVersion, mediaType, config,
// layers, plus the fields of `extra` (artifactType, subject, annotations...).
std::string image_manifest(std::string_view media_type, const nlohmann::json& config,
                           const nlohmann::json& layers,
                           const nlohmann::json& extra = nlohmann::json::object());

// Open file descriptors of this process (entries of /proc/self/fd).
std::size_t open_fd_count();

// A fresh directory, removed with its contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// An image pushed to a repository by push_image().
struct PushedImage {
  std::string manifest;  // exact bytes pushed
  std::string digest;    // of the manifest
  std::string media_type;
  std::string config_digest;
  std::vector<std::string> layer_digests;
};

class ApiTest : public ::testing::Test {
 protected:
  // Small timeouts and few threads: tests run on a shared 2-core machine.
  static config::ServerConfig default_config();

  void SetUp() override;
  void TearDown() override;

  // Creates the stores, registry and server on data_dir() and starts it.
  void start_server(const config::ServerConfig& c = default_config(),
                    registry::RegistryOptions options = {});
  // Graceful stop, then destroys the server, registry and stores.
  void stop_server();
  // stop_server() + start_server() with the same config on the same data dir.
  void restart_server();
  // From the next start_server() on: serve HTTPS with `server`, and let
  // http(), connect(), make_client() and expect_alive() speak TLS with
  // `client`.
  void use_tls(config::TlsConfig server, TlsOptions client);

  const std::filesystem::path& data_dir() const { return temp_.path(); }
  std::uint16_t port() const { return port_; }
  server::Server& server() { return *server_; }
  Client& http() { return *client_; }
  // A new connection / client, over TLS after use_tls().
  Connection connect();
  Client make_client() const;

  // GET /v2/ on a new connection answers 200: the server is alive.
  void expect_alive();

  // --- protocol helpers; each checks the happy-path status -----------------
  // Monolithic POST ?digest=; returns the digest.
  std::string push_blob(std::string_view repo, std::string_view content);
  // POST /blobs/uploads/ -> 202; returns the Location.
  std::string start_upload(std::string_view repo);
  // PUT /manifests/<ref> with the given Content-Type (not checked).
  Response put_manifest(std::string_view repo, std::string_view ref, std::string_view media_type,
                        std::string_view body);
  // Same, expecting 201; returns the manifest digest.
  std::string push_manifest(std::string_view repo, std::string_view ref,
                            std::string_view media_type, std::string_view body);
  // Pushes a config and `layers` layer blobs, then an image manifest of
  // `media_type` (OCI or Docker) under `ref`.
  PushedImage push_image(std::string_view repo, std::string_view ref,
                         std::string_view media_type = kOciManifest, int layers = 1,
                         std::uint32_t seed = 1);
  // The store behind the server (e.g. to set immutable tags).
  storage::MetadataStore& meta() { return *meta_; }

 private:
  TempDir temp_;
  config::ServerConfig config_;
  registry::RegistryOptions options_;
  config::TlsConfig server_tls_;
  std::optional<TlsOptions> client_tls_;
  std::unique_ptr<storage::FsBlobStore> blobs_;
  std::unique_ptr<storage::MetadataStore> meta_;
  std::unique_ptr<storage::UploadStore> uploads_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<server::Server> server_;
  std::uint16_t port_ = 0;
  std::optional<Client> client_;
};

// Appends "digest=<d>" to an upload Location, which may already carry a query.
std::string with_digest(std::string_view location, std::string_view digest);

// The upload id: the last path component of an upload Location.
std::string upload_id(std::string_view location);

}  // namespace drydock::testing
