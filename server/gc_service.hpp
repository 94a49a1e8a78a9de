#pragma once

// Garbage collection as the server runs it: on a schedule (gc.interval_minutes)
// and on demand (POST /admin/gc, /admin/prune; `drydock gc`, `drydock prune`),
// one collection at a time, with the config's grace period, untagged
// retention and retention rules (storage/gc.hpp does the work).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "storage/gc.hpp"

namespace drydock::server {

class GcService {
 public:
  // Blobs outside the registry's graph that must stay (the build cache).
  using Roots = std::function<storage::Result<std::vector<storage::Digest>>()>;

  // Throws std::runtime_error if a retention rule's regex is invalid
  // (config::load_file has checked it already).
  GcService(storage::MetadataStore& meta, storage::FsBlobStore& blobs, config::GcConfig config,
            Roots roots);
  // Stops the schedule, waiting for a collection in progress.
  ~GcService();
  GcService(const GcService&) = delete;
  GcService& operator=(const GcService&) = delete;

  // Starts the schedule (no-op when interval_minutes is 0): the first
  // collection one interval after the start.
  void start();

  // One collection now, as configured; waits for one in progress. Blocking.
  storage::Result<storage::GcReport> collect(bool dry_run);
  // Deletes untagged manifests pushed on their own more than `older_than`
  // seconds ago (beyond the grace period) and collects what that frees; no
  // retention rules. Blocking.
  storage::Result<storage::GcReport> prune_untagged(std::int64_t older_than, bool dry_run);

  // The store it collects (for the admin API's repository delete).
  storage::MetadataStore& metadata();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The report as the admin endpoints send it (JSON object).
std::string gc_report_json(const storage::GcReport& r);

// "90", "90s", "15m", "24h", "7d" as seconds; nullopt if malformed.
std::optional<std::int64_t> parse_duration(std::string_view text);

}  // namespace drydock::server
