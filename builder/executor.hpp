#pragma once
// Runs a parsed Dockerfile into an image, as `docker build` (BuildKit) does
// (DESIGN.md "Build flow"): the stages the target needs, base images from
// Drydock's own store (or pulled into it from another registry through
// BuildEnv's ImageFetcher, see upstream_pull.hpp) unpacked once into
// content-addressed snapshots (lazily, when a step needs the tree), RUN in
// an OCI runtime container over an overlay of those snapshots, COPY/ADD
// written straight into layers, and the result committed through storage/.
//
// Synchronous: the caller runs it on a worker thread. Cancel through
// BuildEnv::cancel: the running step is killed and nothing is tagged.
//
// RUN --mount supports type=secret, cache, bind and tmpfs (executor_mounts.cpp).
// Not supported (an error says so): RUN --mount=type=ssh, RUN --security=insecure,
// COPY --parents, COPY --exclude,
// symbolic --chmod (u+x), ADD of URLs and git sources, FROM --platform other
// than linux/amd64. Accepted and ignored: COPY --link (layers are independent
// anyway), ADD --checksum/--keep-git-dir (URL-only), MAINTAINER (the config
// has no author field).
//
// With BuildEnv::cache, RUN, COPY, ADD and WORKDIR (the steps that make
// layers) look up their cache key first and reuse the cached layer on a hit
// without running anything; see executor_cache.cpp for what a key covers.
// A directory that a RUN only touched (same mode and owner as below, nothing
// changed inside) is left out of the layer.
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "builder/build_cache.hpp"
#include "builder/image_commit.hpp"
#include "builder/runtime.hpp"
#include "builder/snapshotter.hpp"
#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::builder {

struct UpstreamPolicy;  // image_ref.hpp
class ImageFetcher;     // image_fetcher.hpp

// What to build.
struct BuildRequest {
  std::filesystem::path context_dir;  // an extracted context (extract_context)
  std::string dockerfile_text;
  std::string dockerfile_name = "Dockerfile";  // for error messages
  std::string target;                          // stage name or index; empty: the last
  std::vector<std::pair<std::string, std::string>> build_args;  // --build-arg K=V
  std::vector<ImageTarget> targets;                             // tags to commit to
  bool no_cache = false;  // run every step (results still go into the cache)
  // Stages (names or indices) whose steps ignore the cache (--no-cache-filter).
  std::vector<std::string> no_cache_filter;
  // RUN --mount=type=secret values by id. Only in memory: never written to
  // the image, the history, the cache key or the log.
  std::map<std::string, std::string, std::less<>> secrets;
};

// Where the build runs. `work_dir` is scratch space and must be on the same
// filesystem as the blob store (layers are published by rename).
struct BuildEnv {
  storage::BlobStore& blobs;
  storage::MetadataStore& meta;
  Snapshotter& snapshots;
  Runtime& runtime;
  std::filesystem::path work_dir;
  Limits limits;
  std::chrono::milliseconds step_timeout{0};  // 0: none
  bool allow_host_network = false;            // RUN --network=host
  NetworkMode default_network = NetworkMode::kNone;  // RUN without --network
  // Whether the build may read images of `repository` (FROM, COPY --from);
  // empty: every image in the store. With auth on, the caller's pull rights.
  std::function<bool(std::string_view repository)> may_pull;
  BuildCache* cache = nullptr;  // the step cache; null: every step runs
  // RUN --mount=type=cache directories live here, one per id; empty: cache
  // mounts are refused.
  std::filesystem::path cache_mount_dir;
  std::function<void(std::string_view)> log;  // lines and output chunks; may be empty
  std::stop_token cancel;
  std::int64_t now = 0;  // unix seconds for `created`; 0: the clock
  // Base images from other registries (image_ref.hpp): which hosts are this
  // server and the mirrors, and the client that pulls. No policy: every
  // reference is read from the store, its host ignored. No fetcher: images
  // of other registries are used only if already pulled.
  const UpstreamPolicy* upstream = nullptr;
  ImageFetcher* fetcher = nullptr;
};

enum class BuildErrc {
  kDockerfile,  // parse error, unknown stage, bad flag, unsupported feature
  kBaseImage,   // a FROM / COPY --from image not in the store
  kContext,     // a COPY/ADD source missing or outside the context
  kStepFailed,  // RUN returned non-zero or timed out
  kCancelled,   // the stop token was triggered
  kInternal,    // storage, snapshot, mount or runtime failure
};

// A failed build: which instruction (file, line) and why.
struct BuildError {
  BuildErrc code = BuildErrc::kInternal;
  std::string message;
  std::string file;
  int line = 0;
  std::string instruction;  // the instruction as written, e.g. "RUN false"
  // "Dockerfile:3: RUN false: <message>" (empty parts left out).
  std::string to_string() const;
};

// A successful build.
struct BuildOutcome {
  storage::Digest manifest;
  storage::Digest config;
  std::string manifest_json;
  std::string config_json;
  std::size_t stages_built = 0;
};

// Builds `req` in `env`. Only the stages the target needs, transitively through
// FROM <stage> and COPY --from, are built. On any failure nothing is tagged
// and every snapshot, mount and temp file the build made is gone.
std::expected<BuildOutcome, BuildError> run_build(const BuildRequest& req, BuildEnv& env);

}  // namespace drydock::builder
