#include "e2e_fixture.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

namespace drydock::e2e {
namespace {

using namespace std::chrono_literals;

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// DRYDOCK_E2E_REGISTRY=reference selects /usr/bin/docker-registry (or
// DRYDOCK_E2E_REFERENCE_BINARY); otherwise Drydock: DRYDOCK_E2E_BINARY, else the
// binary CMake built (DRYDOCK_BINARY). Returns false when there is nothing to test.
bool choose_registry(RegistryOptions* options) {
  if (env_or("DRYDOCK_E2E_REGISTRY", "drydock") == "reference") {
    options->kind = RegistryKind::kReference;
    options->binary = env_or("DRYDOCK_E2E_REFERENCE_BINARY", "/usr/bin/docker-registry");
    return true;
  }
  options->kind = RegistryKind::kDrydock;
#ifdef DRYDOCK_BINARY
  options->binary = env_or("DRYDOCK_E2E_BINARY", DRYDOCK_BINARY);
#else
  options->binary = env_or("DRYDOCK_E2E_BINARY", "");
#endif
  return !options->binary.empty();
}

// The Debian client matches the Debian daemon (20.10); a newer client may sit first in
// PATH. DOCKER overrides.
std::string docker_client() {
  return env_or("DOCKER", access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "docker");
}

std::filesystem::path make_temp_dir() {
  const std::string base = env_or("TMPDIR", "/tmp");
  std::string pattern = base + "/drydock-e2e-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const DiskUsage& usage) {
  return out << usage.files << " files, " << usage.bytes << " bytes";
}

DiskUsage disk_usage(const std::filesystem::path& dir) {
  DiskUsage usage;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) {
      ++usage.files;
      usage.bytes += it->file_size();
    }
  }
  return usage;
}

void E2E::SetUp() {
  RegistryOptions options;
  if (!choose_registry(&options)) {
    GTEST_SKIP() << "no drydock binary was built and DRYDOCK_E2E_BINARY is unset; "
                    "set DRYDOCK_E2E_REGISTRY=reference to run against docker-registry";
  }
  ASSERT_TRUE(std::filesystem::exists(options.binary)) << options.binary << " does not exist";
  tmp_dir_ = make_temp_dir();
  ASSERT_FALSE(tmp_dir_.empty()) << "mkdtemp failed";
  options.work_dir = tmp_dir_;
  if (options.kind == RegistryKind::kDrydock) {
    ASSERT_NO_FATAL_FAILURE(configure_registry(&options));
  }
  std::string error;
  registry_ = RegistryServer::start(options, &error);
  ASSERT_NE(registry_, nullptr) << "starting " << options.binary << ": " << error;
}

void E2E::TearDown() {
  // Remove by name, not by ID: an ID that is the parent of another would survive -f.
  const std::string names =
      " --digests --filter reference=" + shell_quote(image("*/*")) +
      " --format '{{if eq .Tag \"<none>\"}}{{.Repository}}@{{.Digest}}{{else}}"
      "{{.Repository}}:{{.Tag}}{{end}}' | sort -u | xargs -r ";
  if (used_docker_) sh(docker() + " images" + names + docker() + " rmi -f");
  if (used_podman_) sh(podman() + " images" + names + podman() + " rmi -f");
  if (registry_) {
    const std::string problem = registry_->stop();
    EXPECT_EQ(problem, "");
    if (HasFailure()) {
      std::cout << "--- registry logs ---\n" << registry_->logs();
    }
  }
  if (tmp_dir_.empty()) return;
  if (HasFailure()) {
    std::cout << "kept test directory " << tmp_dir_ << "\n";
  } else {
    std::filesystem::remove_all(tmp_dir_);
  }
}

CommandResult E2E::sh(const std::string& command, std::chrono::seconds timeout) const {
  return run_command(command, timeout);
}

std::string E2E::script(std::string_view name) const {
  return shell_quote(std::string(E2E_SCRIPTS_DIR) + "/" + std::string(name));
}

std::string E2E::docker() const {
  // BuildKit is not available with this daemon setup: use the legacy builder.
  return "env DOCKER_BUILDKIT=0 " + shell_quote(docker_client());
}

std::string E2E::podman() const { return "podman"; }

std::string E2E::image(std::string_view path) const {
  return registry_->host() + "/" + std::string(path);
}

std::string E2E::tmp(std::string_view name) const {
  return shell_quote((tmp_dir_ / name).string());
}

void E2E::ensure_dockerd() {
  used_docker_ = true;
  auto result =
      sh("DOCKER=" + shell_quote(docker_client()) + " " + script("ensure_dockerd.sh"), 120s);
  ASSERT_COMMAND_OK(result);
}

void E2E::build_busybox_images() {
  ASSERT_COMMAND_OK(sh(script("make_rootfs.sh") + " " + tmp("rootfs.tar")));
  ASSERT_COMMAND_OK(sh(docker() + " import -c 'CMD [\"/bin/sh\"]' " + tmp("rootfs.tar") + " " +
                       image("e2e/busybox:1")));
  std::filesystem::create_directories(tmp_dir_ / "context");
  std::ofstream(tmp_dir_ / "context/Dockerfile")
      << "FROM " << image("e2e/busybox:1") << "\nRUN echo hi > /hi\n";
  // --network none: the step needs no network, and dockerd runs with --bridge=none.
  ASSERT_COMMAND_OK(
      sh(docker() + " build --network none -t " + image("e2e/busybox:2") + " " + tmp("context")));
}

void E2E::docker_push(const std::string& ref, std::string* digest) {
  auto push = sh(docker() + " push " + ref);
  ASSERT_COMMAND_OK(push);
  static const std::regex kDigest(R"(digest: (sha256:[0-9a-f]{64}) size: \d+)");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(push.output, match, kDigest)) << push.describe();
  *digest = match[1];
}

void E2E::manifest_blobs(const std::string& repo, const std::string& reference,
                         std::vector<std::string>* digests) {
  auto result =
      sh("curl -sSf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "
         "-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' " +
         registry_->base_url() + "/v2/" + repo + "/manifests/" + reference +
         " | jq -r '.config.digest, .layers[].digest'");
  ASSERT_COMMAND_OK(result);
  std::istringstream lines(result.output);
  for (std::string line; std::getline(lines, line);) {
    ASSERT_TRUE(line.starts_with("sha256:")) << result.describe();
    digests->push_back(line);
  }
  ASSERT_GE(digests->size(), 2u) << result.describe();
}

void E2E::head_manifest_digest(const std::string& repo, const std::string& reference,
                               std::string* digest) {
  auto result =
      sh("curl -sSf -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' "
         "-H 'Accept: application/vnd.oci.image.index.v1+json' "
         "-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
         "-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' " +
         registry_->base_url() + "/v2/" + repo + "/manifests/" + reference);
  ASSERT_COMMAND_OK(result);
  static const std::regex kHeader(R"((?:^|\n)docker-content-digest: *(sha256:[0-9a-f]{64}))",
                                  std::regex::icase);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(result.output, match, kHeader)) << result.describe();
  *digest = match[1];
}

}  // namespace drydock::e2e
