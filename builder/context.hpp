#pragma once

// Build context intake: a context archive (tar, or tar compressed with gzip,
// zstd, xz or bzip2), streamed from a descriptor or a file, is extracted into
// a fresh directory with the guards of archive_extract.hpp, then
// .dockerignore is applied.
//
// What the directory holds afterwards, compared with Docker:
//   - Files, directories, symlinks (verbatim), hard links and fifos keep their
//     modes and mtimes. Owners in the archive are ignored: files belong to the
//     extracting process, because COPY/ADD give everything 0:0 unless
//     --chown says otherwise. Extended attributes, ACLs and file flags are
//     not restored.
//   - Character and block devices are skipped (counted in stats.skipped).
//     Docker's classic builder would mknod them; a build server should not
//     create device nodes from an upload.
//   - The ignore file is "<dockerfile_path>.dockerignore" if the archive has
//     one, else ".dockerignore" (BuildKit's rule). Excluded paths are removed
//     after the whole archive is written, so the ignore file may come anywhere
//     in the tar; directories that lose children keep their mtime. An excluded
//     directory stays only if something below it is re-included by a "!"
//     exception (as BuildKit sends it).
//   - The Dockerfile and the ignore file are removed like any other path when
//     the patterns exclude them, but the Dockerfile's text is read first and
//     returned: the builder always has it, COPY never sees it (Docker's rule).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "builder/archive_extract.hpp"
#include "builder/dockerignore.hpp"

namespace drydock::builder {

// Defaults for a context; the server passes its configured limits.
inline constexpr std::uint64_t kDefaultContextMaxBytes = 4ULL << 30;
inline constexpr std::uint64_t kDefaultContextMaxEntries = 1'000'000;
inline constexpr std::size_t kDefaultMaxDockerfileBytes = 16U << 20;

// How to extract a context.
struct ContextOptions {
  // Dockerfile location inside the context ("-f"); relative, '/'-separated.
  // Empty: the Dockerfile does not come from the context.
  std::string dockerfile_path = "Dockerfile";
  // Caps on the archive (a tar bomb stops with kLimitExceeded).
  ExtractLimits limits{.max_bytes = kDefaultContextMaxBytes,
                       .max_entries = kDefaultContextMaxEntries,
                       .max_path_length = 4096};
  // Largest Dockerfile or ignore file accepted.
  std::size_t max_dockerfile_bytes = kDefaultMaxDockerfileBytes;
};

// A context extracted into a directory.
struct ExtractedContext {
  // Text of the Dockerfile at options.dockerfile_path, if the context has one
  // (a symlink to it is followed inside the context).
  std::optional<std::string> dockerfile;
  // The ignore file that was applied, relative to the root; empty if none.
  std::string ignore_file;
  // Its patterns (empty if there was none): COPY uses them to refuse sources
  // the context no longer has.
  DockerIgnore ignore;
  // What extraction did.
  ExtractStats stats;
  // Paths (files, or whole directories) removed because they were excluded.
  std::uint64_t ignored_paths = 0;
  // Those paths, relative to the root ("a/b").
  std::vector<std::string> ignored;
};

// Extracts the context archive read from `fd` (not closed) into `dir`, which
// must not exist yet (its parent must) and is created with mode 0700. On
// error the message names the offending entry, and whatever was written is
// left for the caller to delete with remove_context().
ArchiveResult<ExtractedContext> extract_context(int fd, const std::filesystem::path& dir,
                                                const ContextOptions& options = {});

// Same, reading the archive from the file `archive`.
ArchiveResult<ExtractedContext> extract_context(const std::filesystem::path& archive,
                                                const std::filesystem::path& dir,
                                                const ContextOptions& options = {});

// Updates a context kept in the existing directory `dir` (context_sync.hpp)
// from the archive read from `fd`: entries replace what is there, and an
// entry whose path `allowed` refuses fails the update (kInvalidContext).
// Then, as extract_context does, reads the Dockerfile and applies the ignore
// file. On failure `dir` is left in between, for the caller to discard.
ArchiveResult<ExtractedContext> update_context(
    int fd, const std::filesystem::path& dir, const ContextOptions& options,
    const std::function<bool(const std::string& path)>& allowed);

// Deletes an extracted (or partly extracted) context directory.
inline ArchiveResult<void> remove_context(const std::filesystem::path& dir) {
  return remove_tree(dir);
}

}  // namespace drydock::builder
