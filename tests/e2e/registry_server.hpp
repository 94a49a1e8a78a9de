#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace drydock::e2e {

// Which registry the end-to-end tests talk to. Drydock is the product; the reference
// (CNCF Distribution, Debian's docker-registry) is there to check the tests themselves.
enum class RegistryKind { kDrydock, kReference };

struct RegistryOptions {
  RegistryKind kind = RegistryKind::kDrydock;
  std::filesystem::path binary;
  // Fresh, empty directory: the data dir, the reference's config and both logs go below.
  std::filesystem::path work_dir;
  // Drydock only: more `serve` arguments, environment for the process, and
  // the CA that signed its TLS certificate (set: the registry speaks HTTPS,
  // and answering GET /v2/ with 401 counts as up).
  std::vector<std::string> extra_args;
  std::vector<std::pair<std::string, std::string>> env;
  std::filesystem::path ca_cert;
};

// A registry process on a free loopback port with its own data directory.
class RegistryServer {
 public:
  // Starts the registry and returns once GET /v2/ answers 200. On failure returns
  // nullptr and describes why (with the server's logs) in *error.
  static std::unique_ptr<RegistryServer> start(const RegistryOptions& options, std::string* error);
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  int port() const { return port_; }
  // Registry host as image references name it: "localhost:PORT". Docker and podman
  // treat loopback registries as plain HTTP.
  std::string host() const;
  // "http://127.0.0.1:PORT", for curl; "https://localhost:PORT" with TLS.
  std::string base_url() const;
  // curl's options to trust the registry ("--cacert CA" with TLS, else "").
  std::string curl_tls() const;
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // The directory holding one file per stored blob (layouts differ per registry).
  std::filesystem::path blobs_dir() const;
  // The file that holds blob `digest` ("sha256:<hex>").
  std::filesystem::path blob_path(const std::string& digest) const;

  // Sends SIGTERM and waits up to 20 s (then SIGKILL). Returns "" for a graceful stop,
  // otherwise what went wrong. Idempotent.
  std::string stop();
  // The server's stdout and stderr so far, for failure messages.
  std::string logs() const;

 private:
  RegistryServer(RegistryKind kind, std::filesystem::path work_dir);
  bool spawn(const RegistryOptions& options, std::string* error);
  bool wait_for_drydock_port(std::string* error);
  bool wait_until_serving(std::string* error);
  bool exited();

  RegistryKind kind_;
  std::filesystem::path work_dir_;
  std::filesystem::path data_dir_;
  std::filesystem::path ca_cert_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = 0;
};

}  // namespace drydock::e2e
