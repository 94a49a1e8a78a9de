#pragma once
// The build service behind POST /builds (DESIGN.md "builder/api"): accepts an
// uploaded context, keeps a queue of build jobs run by a fixed number of
// worker threads, writes each build's log to a file as it goes, enforces a
// per-build timeout and cancels on request. Knows nothing of HTTP: the server
// streams the upload to upload_path(), calls submit(), and serves records and
// logs from here.
//
// Records and logs live in the BuildStore, so they survive a restart; a build
// left queued or running by a previous process is marked failed at open().
//
// On-disk layout under the root (DATA/builder, the same filesystem as the
// blob store: layers are published by rename):
//   uploads/    contexts being received, one file per upload
//   contexts/   extracted contexts of queued and running builds
//   kept/       contexts kept for incremental uploads (context_sync.hpp)
//   work/       the executor's scratch files
//   snapshots/  the overlay snapshotter (base layers unpacked once, reused)
//   runc/       the OCI runtime's state and bundles
//   cache-mounts/  RUN --mount=type=cache directories, one per id
//   logs/       one <id>.log per build

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/build_store.hpp"
#include "builder/context_sync.hpp"
#include "builder/image_fetcher.hpp"
#include "builder/image_ref.hpp"
#include "builder/runtime.hpp"
#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::builder {

struct BuildServiceOptions {
  std::filesystem::path root;         // DATA/builder
  std::filesystem::path metadata_db;  // the database file holding the `builds` table
  std::filesystem::path runtime_binary = "/usr/sbin/runc";
  unsigned concurrency = 1;
  std::uint64_t max_upload_bytes = 2ULL << 30;  // the context as uploaded (the server enforces it)
  std::size_t max_queued = 100;
  std::chrono::seconds build_timeout{3600};   // 0: none
  std::chrono::milliseconds step_timeout{0};  // 0: none
  std::uint64_t max_extracted_bytes = 8ULL << 30;
  std::uint64_t max_context_entries = 1'000'000;
  std::uint64_t cache_max_bytes = 20ULL << 30;  // the step cache's layers; 0: unbounded
  // Contexts kept for incremental uploads (context_sync.hpp), file bytes of
  // all of them; 0 keeps none.
  std::uint64_t kept_contexts_max_bytes = 4ULL << 30;
  Limits limits;
  // kNone: no network in RUN, --network=host refused. kHost: RUN uses the
  // host's network, and --network=host is allowed.
  NetworkMode network = NetworkMode::kNone;
  // Base images from other registries: this server's own names, mirrors,
  // and the client that pulls (null: only images already in the store).
  UpstreamPolicy upstream;
  std::shared_ptr<ImageFetcher> fetcher;
};

// Why submit() refused a build. Nothing was recorded or queued.
struct SubmitError {
  enum class Kind {
    kInvalid,  // the context or the parameters: the message says which entry or value
    kBusy,     // the queue is full
    kInternal,
  };
  Kind kind = Kind::kInternal;
  std::string message;
};

// A piece of a build's log.
struct LogRead {
  std::string data;
  // The build has finished and `data` reaches the end of its log.
  bool complete = false;
};

// Whether the build may read images of `repository`; empty: all of them.
using PullCheck = std::function<bool(std::string_view repository)>;

// RUN --mount=type=secret values by id: kept in memory for the build only.
using Secrets = std::map<std::string, std::string, std::less<>>;

class BuildService {
 public:
  // Creates the directories, opens the build records (marking builds a
  // previous process left unfinished as failed), clears stale runtime state
  // and starts the workers. Throws std::runtime_error when it cannot (startup
  // only). A missing or unusable OCI runtime is not fatal: builds that reach
  // a RUN step fail with the reason, and warning() says it.
  static std::unique_ptr<BuildService> open(BuildServiceOptions options,
                                            storage::BlobStore& blobs,
                                            storage::MetadataStore& meta);
  // Cancels queued and running builds (marked failed: "server shut down"),
  // waits for the workers to stop.
  ~BuildService();
  BuildService(const BuildService&) = delete;
  BuildService& operator=(const BuildService&) = delete;

  // A fresh path (not created) under uploads/ for the server to stream an
  // upload into. Hand it to submit(), or delete it yourself on failure.
  std::filesystem::path upload_path() const;

  // Starts an incremental context upload for params.user's kept context
  // `key`: `manifest` is the client's manifest_json() of its context. The
  // plan says which entries to send (ContextSync::begin). Blocking.
  std::expected<SyncPlan, SubmitError> begin_context(std::string_view user, std::string_view key,
                                                     std::string_view manifest);

  // Ends `user`'s context session that will not be submitted (its upload
  // failed or the request was refused).
  void end_context(std::string_view session, std::string_view user);

  // Extracts the context archive at `upload` (removed in every case), finds
  // the Dockerfile in it, records the build and queues it. With a
  // `context_session` from begin_context(), `upload` holds only the entries
  // the plan asked for, and the build uses the kept context they complete.
  // Blocking: call it off the network threads.
  std::expected<BuildRecord, SubmitError> submit(BuildParams params,
                                                 const std::filesystem::path& upload,
                                                 PullCheck may_pull = {}, Secrets secrets = {},
                                                 std::string_view context_session = {});

  storage::Result<std::optional<BuildRecord>> get(std::string_view id);
  storage::Result<std::vector<BuildRecord>> list(std::size_t limit);

  // Cancels a queued or running build and waits up to `wait` for it to stop
  // (its running step killed, nothing tagged). A finished build is returned
  // unchanged. nullopt: no such build.
  storage::Result<std::optional<BuildRecord>> cancel(std::string_view id,
                                                     std::chrono::milliseconds wait);

  // Up to `max` bytes of build `id`'s log from `offset`; nullopt: no such
  // build.
  std::optional<LogRead> read_log(std::string_view id, std::uint64_t offset, std::size_t max);

  std::uint64_t max_upload_bytes() const;

  // Whether `host` ("name" or "name:port") is this server, as FROM reads it
  // (UpstreamPolicy: local_hosts, and loopback on the port it listens on).
  bool is_own_host(std::string_view host) const;

  // Why the service is degraded (no OCI runtime), or empty.
  const std::string& warning() const;

  // The layer blobs the step cache names (garbage collection keeps them).
  storage::Result<std::vector<storage::Digest>> cache_layers();

 private:
  struct Impl;
  explicit BuildService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The JSON a client sees for a build (GET /builds/<id>).
std::string build_json(const BuildRecord& r);
// {"builds":[...]}.
std::string builds_json(const std::vector<BuildRecord>& records);

}  // namespace drydock::builder
