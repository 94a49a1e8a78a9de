#pragma once

// The safe tar extraction engine shared by build-context intake (context.hpp)
// and image layer unpacking (layer_unpack.hpp). It streams a tar, optionally
// compressed (gzip, zstd, xz, bzip2; detected from the bytes), through
// libarchive's reader and disk writer, and refuses every entry that could
// write outside the target directory:
//   - absolute names, and names whose ".." climbs above the root (a name like
//     "a/../b" is cleaned lexically to "b", as Docker does);
//   - names whose parent directories include a symlink (checked here, and
//     again by libarchive's ARCHIVE_EXTRACT_SECURE_* flags);
//   - hard links whose target is absolute, escapes, goes through a symlink or
//     is not an earlier entry of the same archive.
// Symlinks themselves are data: stored verbatim, never followed while writing.
//
// libarchive's disk writer resolves names against the process working
// directory, so each extraction runs on a short-lived thread of its own that
// detaches its working directory and umask from the process
// (unshare(CLONE_FS)) before changing into the target: other threads never see
// a changed cwd. That thread also uses a UTF-8 locale so that names in pax
// headers are written byte for byte. unshare(2) must be allowed: Docker's
// default seccomp profile refuses it without CAP_SYS_ADMIN, which a build
// server running containers has anyway; without it extraction fails (kIo).
// The source descriptor must be blocking; it is read sequentially, never
// seeked, so a pipe or socket works.

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

struct archive_entry;

namespace drydock::builder {

// What went wrong while extracting an archive.
enum class ArchiveErrc {
  kNotArchive,        // the input is not a tar (or a compressed tar) at all
  kCorrupt,           // truncated or malformed archive, or inconsistent entries
  kUnsafePath,        // an entry would write (or link) outside the target
  kLimitExceeded,     // total size, entry count or path length over the limit
  kUnsupportedEntry,  // an entry type we refuse
  kInvalidContext,    // build context problem: bad .dockerignore, odd Dockerfile
  kInvalidArgument,   // caller error: target exists, bad option
  kIo,                // the filesystem failed
};

// A short name for the error code ("unsafe path", ...).
std::string_view to_string(ArchiveErrc code);

// An extraction failure. `message` is for people and names the offending
// entry when there is one.
struct ArchiveError {
  ArchiveErrc code = ArchiveErrc::kIo;
  std::string message;
};

template <class T>
using ArchiveResult = std::expected<T, ArchiveError>;

// Caps that keep a hostile archive from filling the disk (tar bombs).
struct ExtractLimits {
  std::uint64_t max_bytes = UINT64_MAX;    // sum of uncompressed file data
  std::uint64_t max_entries = UINT64_MAX;  // archive entries, skipped ones included
  std::size_t max_path_length = 4096;      // bytes in a cleaned entry name
};

// What an extraction did.
struct ExtractStats {
  std::uint64_t entries = 0;        // archive entries read
  std::uint64_t files = 0;          // regular files written
  std::uint64_t directories = 0;    // directory entries applied
  std::uint64_t symlinks = 0;       // symlinks written
  std::uint64_t hard_links = 0;     // hard links made
  std::uint64_t special_files = 0;  // device nodes and fifos written
  std::uint64_t skipped = 0;        // entries deliberately not written
  std::uint64_t bytes = 0;          // uncompressed file data written
  std::uint64_t archive_bytes = 0;  // bytes read from the source (compressed size)
  std::uint64_t warnings = 0;       // non-fatal libarchive warnings (e.g. an xattr)
  std::string first_warning;        // the first of those, for the log
};

// Removes `dir` and everything below it without following symlinks; makes
// unwritable directories writable first if it has to. Removing a path that
// does not exist succeeds. This is the cleanup after a failed extraction.
ArchiveResult<void> remove_tree(const std::filesystem::path& dir);

namespace archive_detail {

// What the per-entry hook decided.
enum class EntryAction {
  kWrite,  // let the engine write the (possibly modified) entry
  kSkip,   // the hook handled or refused it; the engine writes nothing
};

// Called for every entry except the root, with the cleaned name already set
// on `entry`, on the extraction thread (cwd = target root). May change the
// entry (owner, mode, ...), act on the filesystem itself, or fail.
using EntryHook = std::function<ArchiveResult<EntryAction>(
    archive_entry* entry, const std::string& path, ExtractStats& stats)>;

// How to extract.
struct ExtractSpec {
  int disk_flags = 0;                             // extra ARCHIVE_EXTRACT_* flags
  ExtractLimits limits;                           // caps
  mode_t root_mode = 0755;                        // mode of the created target
  bool root_exists = false;  // extract into an existing `root` (kept as it is) instead
  std::vector<std::filesystem::path> lower_dirs;  // see prepare_parents
  EntryHook hook;                                 // optional
};

// Creates `root` (which must not exist; its parent must) and extracts the
// archive read from `fd` (not closed) into it; with spec.root_exists, extracts
// into the existing directory `root`, replacing what entries name. On failure
// the partial tree is left for the caller to remove_tree().
ArchiveResult<ExtractStats> extract(int fd, const std::filesystem::path& root,
                                    const ExtractSpec& spec);

// Creates the missing parent directories of `path` (cwd-relative, clean), with
// mode 0755, or with the mode, owner and times of the same directory in the
// first of `lower_dirs` that has it (containerd's mkparent). Fails if a parent
// is a symlink (kUnsafePath) or not a directory (kCorrupt).
ArchiveResult<void> prepare_parents(std::string_view path,
                                    const std::vector<std::filesystem::path>& lower_dirs);

// What kind of entry is about to be written at a path.
enum class NewEntry { kDirectory, kOther };

// Removes whatever is at `path` unless both it and the new entry are
// directories (Docker's and containerd's overwrite rule).
ArchiveResult<void> remove_existing(std::string_view path, NewEntry entry);

// openat2(RESOLVE_IN_ROOT): opens `path` below `root_fd` with symlinks
// resolved as if `root_fd` were "/". Returns -1 with errno set on failure.
int open_in_root(int root_fd, std::string_view path, int flags);

// "entry \"NAME\": WHAT" as an ArchiveError.
ArchiveError entry_error(ArchiveErrc code, std::string_view name, std::string_view what);

}  // namespace archive_detail
}  // namespace drydock::builder
