#pragma once

// Online garbage collection (DESIGN.md "Storage model"): retention, then
// mark and sweep of manifests, blob links and blob files, while the registry
// keeps serving pushes and pulls.
//
// What lives, per repository:
//   - tagged manifests (after retention has untagged what it drops);
//   - manifests an index that lives references (children), and manifests
//     whose subject lives (referrers: signatures, SBOMs);
//   - untagged manifests pushed on their own (by digest), unless
//     `untagged_retention_seconds` is set and they are older than that;
//   - anything pushed, linked or written within the grace period;
//   - the blobs the living manifests reference, and their own bytes.
// A manifest that an index once referenced, or that retention untagged, is
// "released": once nothing references or tags it, it is garbage whatever the
// untagged retention says. Deleting a manifest or a tag through the API
// therefore frees an image's layers and an index's platform manifests.
//
// Safety against concurrent writes: the graph is read in one read
// transaction; every delete re-checks its condition in its own write
// transaction (a push in between wins); blob files are removed only under
// FsBlobStore::collect (no holder, old enough, no link anywhere).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/blob_store.hpp"
#include "storage/error.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::storage {

// Which tags of a repository retention keeps: a tag stays if any criterion
// set keeps it, and goes if none does. Immutable tags always stay.
struct RetentionPolicy {
  std::optional<std::size_t> keep_last;                // the N most recently pushed tags
  std::function<bool(std::string_view tag)> keep_tag;  // tags matching a pattern
  std::optional<std::int64_t> keep_younger_seconds;    // tags pushed within this time
};
// The policy for a repository, or nullopt (all its tags stay).
using RetentionRules = std::function<std::optional<RetentionPolicy>(std::string_view repository)>;

struct GcOptions {
  std::int64_t now = 0;                // Unix seconds
  std::int64_t grace_seconds = 3600;   // younger manifests, links and files always stay
  // An upload session keeps its repository's unused links (the layers of a
  // push whose manifest has not come yet) this long after it started, or
  // for grace_seconds if longer; an abandoned one stops keeping them then.
  std::int64_t upload_session_seconds = 86400;
  // Untagged manifests pushed on their own: nullopt keeps them; else they go
  // once older than this (`drydock prune --untagged --older-than`).
  std::optional<std::int64_t> untagged_retention_seconds;
  RetentionRules retention;  // null: no retention
  bool dry_run = false;      // plan and report only
  // Blobs that live outside the registry's graph (the build cache's
  // layers); a failure to list them stops the collection before any sweep.
  std::function<Result<std::vector<Digest>>()> extra_roots;
};

struct GcReport {
  bool dry_run = false;
  std::vector<std::string> tags_deleted;         // "repo:tag" (retention)
  std::vector<std::string> tags_kept_immutable;  // retention would drop them: "repo:tag (rule)"
  std::vector<std::string> manifests_deleted;    // "repo@digest"
  std::uint64_t links_removed = 0;
  std::uint64_t blobs_deleted = 0;
  std::uint64_t bytes_freed = 0;
  std::uint64_t blobs_remaining = 0;  // blob files left (dry run: that would be left)
  std::uint64_t bytes_remaining = 0;
  double seconds = 0;
};

// Runs one collection. Thread-safe with everything else the registry does;
// callers run one collection at a time (GarbageCollector does).
Result<GcReport> collect_garbage(MetadataStore& meta, FsBlobStore& blobs, const GcOptions& options);

}  // namespace drydock::storage
