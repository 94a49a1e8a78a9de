#pragma once

// Integrity check of a data directory (`drydock fsck`): blob files against
// their digests, metadata rows against files, manifests against what they
// reference, tags against manifests. Optionally repairs what can be healed by
// pushing again.

#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/digest.hpp"
#include "storage/error.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::storage {

enum class FsckFinding {
  // Problems (the data directory is not healthy):
  kCorruptBlob,       // a blob file does not hash to its name (flipped, truncated)
  kUnreadableBlob,    // a blob file could not be read (I/O error, permissions)
  kMissingBlob,       // a repository links a blob (or has a manifest) with no file
  kSizeMismatch,      // the database records another size than the file has
  kBadManifest,       // manifest bytes do not parse, or disagree with their rows
  kMissingReference,  // a manifest references a blob/manifest its repository lacks
  kDanglingTag,       // a tag points at a manifest its repository does not have
  kBadRow,            // a row whose digest text does not parse
  // Warnings (normal until garbage collection exists; exit status unaffected):
  kOrphanBlob,  // a blob file no repository links (deleted, or never linked)
  kStrayFile,   // a file under blobs/ whose path is not a digest's
};

// Short stable name ("corrupt-blob", "orphan-blob", ...), used in reports.
std::string_view to_string(FsckFinding f);
// True for findings that make the directory unhealthy (exit status 1).
bool is_problem(FsckFinding f);

struct FsckIssue {
  FsckFinding finding = FsckFinding::kCorruptBlob;
  std::string repository;  // empty when no repository is concerned (a file)
  std::string what;        // the digest, "tag:<name>" or a path
  std::string detail;      // one human sentence
  std::uint64_t bytes = 0;
  bool repaired = false;
  std::string repair;  // what --repair did, when repaired
};

struct FsckReport {
  std::vector<FsckIssue> issues;
  std::size_t blob_files = 0;
  std::uint64_t blob_bytes = 0;
  std::size_t repositories = 0;
  std::size_t blob_links = 0;
  std::size_t manifests = 0;
  std::size_t tags = 0;
  std::size_t extra_roots = 0;  // blobs only the build cache holds, not orphans

  std::size_t problems() const;
  std::size_t warnings() const;
  std::size_t repaired() const;
};

// Parses a manifest's bytes (registry/ knows the formats; storage/ does not):
// its references, or why it does not parse.
using FsckManifestParser = std::function<std::expected<std::vector<ManifestRef>, std::string>(
    std::string_view media_type, std::string_view bytes)>;

enum class FsckMode { kCheck, kRepair };

struct FsckOptions {
  std::filesystem::path data_dir;  // holds blobs/ and metadata.db
  FsckMode mode = FsckMode::kCheck;
  // Optional: without it, references come from the database rows only.
  FsckManifestParser parse_manifest;
  std::uint64_t max_manifest_bytes = 4u << 20;
  // Optional: blobs kept outside the repositories (the build cache's
  // layers), which are therefore not orphans. Called once, after the
  // database is read.
  std::function<Result<std::vector<Digest>>()> extra_roots;
};

// Checks the data directory. Check mode never writes. Repair mode moves each
// corrupt blob file to DATA/quarantine/<alg>-<hex>.<unix time> and deletes
// every repository link to that digest (and the links to digests whose file
// is missing), in one transaction per digest, so that a push of the same
// digest is accepted as new content and heals it. Nothing else is changed:
// orphans are left for garbage collection, manifests and tags stay.
//
// Errors: kNotFound if DATA has no metadata.db, kDatabase if it cannot be
// read, kIo if the blobs directory cannot be listed.
Result<FsckReport> run_fsck(const FsckOptions& options);

}  // namespace drydock::storage
