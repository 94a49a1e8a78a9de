#pragma once

// Build jobs as records: parameters, status, timings, result and where the
// log is, kept in the metadata database (table `builds`) and in
// DATA/builds/<id>.log, so that builds and their logs survive a restart.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/error.hpp"

namespace drydock::builder {

enum class BuildStatus { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

// "queued", "running", "succeeded", "failed", "cancelled".
std::string_view to_string(BuildStatus s);
std::optional<BuildStatus> parse_build_status(std::string_view s);
// Succeeded, failed or cancelled: nothing will change any more.
bool finished(BuildStatus s);

// What was asked for (POST /builds parameters).
struct BuildParams {
  std::vector<std::string> tags;  // "repo:tag"
  std::string dockerfile = "Dockerfile";
  std::string target;
  std::vector<std::pair<std::string, std::string>> build_args;
  bool no_cache = false;
  std::vector<std::string> no_cache_filter;  // stages that ignore the cache
  std::string user;  // who asked ("" with auth off)
  bool operator==(const BuildParams&) const = default;
};

struct BuildRecord {
  std::string id;
  BuildParams params;
  BuildStatus status = BuildStatus::kQueued;
  std::int64_t created = 0;  // unix seconds
  std::int64_t started = 0;  // 0: not yet
  std::int64_t finished = 0;
  std::string digest;  // the image manifest's, on success
  std::string error;   // why it failed, or was cancelled
};

class BuildStore {
 public:
  // Opens the database file (creating the table) and the log directory.
  // Throws std::runtime_error if it cannot (startup only).
  BuildStore(const std::filesystem::path& db_file, std::filesystem::path log_dir);
  ~BuildStore();
  BuildStore(const BuildStore&) = delete;
  BuildStore& operator=(const BuildStore&) = delete;

  // A new queued build with a fresh random id.
  storage::Result<BuildRecord> create(BuildParams params, std::int64_t now);
  storage::Result<std::optional<BuildRecord>> get(std::string_view id);
  // The most recent builds first.
  storage::Result<std::vector<BuildRecord>> list_recent(std::size_t limit);

  // queued → running. kNotFound if the build is not queued (cancelled meanwhile).
  storage::Result<void> mark_running(std::string_view id, std::int64_t now);
  // queued/running → a finished status. kNotFound if it had already finished.
  storage::Result<void> mark_finished(std::string_view id, BuildStatus status,
                                      std::string_view digest, std::string_view error,
                                      std::int64_t now);
  // At startup: builds left queued or running by a previous process are
  // marked failed with `reason`, not lost silently. Returns how many.
  storage::Result<std::size_t> fail_unfinished(std::string_view reason, std::int64_t now);

  // Where build `id`'s log is written.
  std::filesystem::path log_path(std::string_view id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::builder
