#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"
#include "registry_server.hpp"

// Asserts that a CommandResult exited 0, showing the command and its output otherwise.
#define ASSERT_COMMAND_OK(result) ASSERT_TRUE((result).ok()) << (result).describe()
#define EXPECT_COMMAND_OK(result) EXPECT_TRUE((result).ok()) << (result).describe()

namespace drydock::e2e {

// Number and total size of the files under a directory.
struct DiskUsage {
  std::uintmax_t files = 0;
  std::uintmax_t bytes = 0;
  bool operator==(const DiskUsage&) const = default;
};
std::ostream& operator<<(std::ostream& out, const DiskUsage& usage);
DiskUsage disk_usage(const std::filesystem::path& dir);

// Base fixture of the end-to-end tests. Each test gets a fresh temp dir and its own
// registry on a free loopback port (Drydock, or the reference registry when
// DRYDOCK_E2E_REGISTRY=reference), stopped with SIGTERM at the end. The temp dir is
// removed when the test passes and kept (path printed) when it fails.
class E2E : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Called before the registry starts, with tmp_dir_ made: a fixture may
  // add arguments, environment or TLS (see RegistryOptions).
  virtual void configure_registry(RegistryOptions* /*options*/) {}

  // Runs a bash command line; see run_command.
  CommandResult sh(const std::string& command,
                   std::chrono::seconds timeout = std::chrono::seconds(300)) const;
  // Quoted path of a helper script in tests/e2e.
  std::string script(std::string_view name) const;
  // `docker` client command prefix (the distribution's client, legacy builder).
  std::string docker() const;
  // `podman` command prefix.
  std::string podman() const;
  // "localhost:PORT/<path>".
  std::string image(std::string_view path) const;
  // Quoted path of `name` in this test's temp dir.
  std::string tmp(std::string_view name) const;

  // Starts dockerd when it does not answer (left running afterwards).
  void ensure_dockerd();
  // Builds localhost:PORT/e2e/busybox:1 (docker import of a busybox rootfs) and
  // localhost:PORT/e2e/busybox:2 (one more layer from a Dockerfile RUN).
  void build_busybox_images();
  // docker push `ref`; stores the digest the push reported.
  void docker_push(const std::string& ref, std::string* digest);
  // Config and layer digests of manifest `repo`:`reference`, read over HTTP.
  void manifest_blobs(const std::string& repo, const std::string& reference,
                      std::vector<std::string>* digests);
  // Docker-Content-Digest of HEAD /v2/<repo>/manifests/<reference>.
  void head_manifest_digest(const std::string& repo, const std::string& reference,
                            std::string* digest);

  std::filesystem::path tmp_dir_;
  std::unique_ptr<RegistryServer> registry_;
  bool used_docker_ = false;
  bool used_podman_ = false;
};

}  // namespace drydock::e2e
