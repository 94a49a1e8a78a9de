#pragma once
// The two builders of the differential build test (build_diff_test.cpp) and what it
// reads back from their images: `docker build` with BuildKit against a local dockerd,
// and Drydock's POST /builds, both from the same context made from build_corpus/<case>.
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "command.hpp"
#include "image_flatten.hpp"
#include "registry_server.hpp"

namespace drydock::e2e {

// One corpus case: the directory build_corpus/<name> and how to build it.
struct BuildCase {
  std::string name;
  std::string target;                   // --target; empty: the last stage
  std::vector<std::string> build_args;  // K=V, besides BASE
};

// For GoogleTest's messages: the case name.
void PrintTo(const BuildCase& build_case, std::ostream* out);

// What the whole suite shares: one Drydock server, dockerd, the base image pushed once.
struct DiffSuite {
  std::filesystem::path tmp_dir;
  std::unique_ptr<RegistryServer> registry;
  std::string docker;  // client command prefix, BuildKit on
  std::string base;    // "localhost:PORT/e2e/busybox:1"

  // "localhost:PORT/<path>".
  std::string image(const std::string& path) const;
};

// Starts the registry (the Drydock binary CMake built, or DRYDOCK_E2E_BINARY) and
// dockerd if needed, then imports a busybox rootfs and pushes it as `base`.
std::expected<std::unique_ptr<DiffSuite>, std::string> start_diff_suite();

// The modification time of every context file (and of the entries of the tars that
// prepare.sh scripts make): 2020-01-01T00:00:00Z. COPY and ADD keep it.
inline constexpr long long kContextMtime = 1577836800;

// A case laid out for building, in its own directory.
struct PreparedCase {
  std::filesystem::path context;            // copy of the case, prepare.sh run in it
  std::filesystem::path docker_dockerfile;  // Dockerfile.docker if the case has one
  std::filesystem::path context_tar;        // the context as a tar, for POST /builds
};

// Copies build_corpus/<case> into `dir`, runs its prepare.sh in the copy, replaces
// @BASE@ in the Dockerfiles with the base reference, sets every mtime to
// kContextMtime and tars the context.
std::expected<PreparedCase, std::string> prepare_case(const DiffSuite& suite,
                                                      const BuildCase& build_case,
                                                      const std::filesystem::path& dir);

// DOCKER_BUILDKIT=1 docker build of the case, tagged `tag`.
CommandResult docker_build(const DiffSuite& suite, const BuildCase& build_case,
                           const PreparedCase& prepared, const std::string& tag, bool no_cache);

// POST /builds of the case into `repo_tag` ("diff/<case>:1"), waits until it has
// finished; on failure the message has the build's error and log. Then docker pull.
std::expected<void, std::string> drydock_build(const DiffSuite& suite, const BuildCase& build_case,
                                               const PreparedCase& prepared,
                                               const std::string& repo_tag);

// docker create + docker export of `image` into `tar`, read back flattened.
std::expected<FlatFs, std::string> flatten_image(const DiffSuite& suite, const std::string& image,
                                                 const std::filesystem::path& tar);

// The compared parts of `docker image inspect`: "Config.Env" etc., "Architecture",
// "Os", "RootFS.Layers.count" and "History.created_by" (one line per step, newest
// first). Empty lists and objects read as null.
std::expected<std::map<std::string, nlohmann::json>, std::string> inspect_image(
    const DiffSuite& suite, const std::string& image);

// docker rmi -f of the images, ignoring errors.
void remove_images(const DiffSuite& suite, const std::vector<std::string>& images);

}  // namespace drydock::e2e
