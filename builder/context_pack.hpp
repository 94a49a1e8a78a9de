#pragma once

// The client side of a build context: a directory streamed out as a tar,
// honouring .dockerignore, as `docker build DIR` sends it. The counterpart of
// context.hpp (which extracts such a tar on the server).
//
// What the tar holds:
//   - Regular files, directories, symlinks (the link itself, never followed),
//     fifos, and hard links (a second name of an already sent file becomes a
//     hard link entry). Modes, numeric uid/gid and mtimes (seconds) are kept;
//     names are relative ("a/b", directories "a/"); no entry for the root.
//     Sockets and device nodes are skipped (counted in PackStats::skipped).
//   - Paths the ignore file excludes are left out; a directory that is
//     excluded is not even read unless a "!" exception could re-include
//     something below it (DockerIgnore::can_skip_dir). A directory header is
//     sent only with the first entry below it that is sent, or when the
//     directory itself is included.
//   - The Dockerfile and the ignore file are always sent, even when excluded
//     (Docker's rule; the server reads the Dockerfile, then drops them).
//   - Entries come in a fixed order (bytewise by name, parents first), so the
//     same tree gives the same bytes.
// Memory stays bounded whatever the size of the context: files are read and
// written in 64 KiB pieces, and only one directory listing per level of the
// walk and the names of multiply linked files are kept.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "builder/layer_sink.hpp"

namespace drydock::builder {

// A file that is not in the directory but is sent as if it were, e.g. a
// Dockerfile from outside the context under a generated name.
struct ExtraFile {
  std::string name;  // relative, '/'-separated, in the root of the tar
  std::string content;
};

// An entry of the context as the walk meets it (context_sync.hpp's manifest).
struct PackedEntry {
  std::string name;         // relative, '/'-separated
  unsigned type = 0;        // S_IFREG, S_IFDIR, S_IFLNK or S_IFIFO
  unsigned perm = 0;        // mode & 07777
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime_ns = 0;  // nanoseconds since the epoch
  std::uint64_t size = 0;     // regular files that are not hard links
  std::string symlink;        // a symlink's target
  std::string hardlink;       // a second name of a file: the first name sent
};

// What to pack.
struct ContextPackOptions {
  // The context directory.
  std::filesystem::path dir;
  // The Dockerfile's path inside `dir` (relative, '/'-separated); always
  // sent. Empty when the Dockerfile comes in `extra_files` instead.
  std::string dockerfile = "Dockerfile";
  // The ignore file, relative to `dir`: "<dockerfile>.dockerignore" if that
  // exists, else ".dockerignore" (BuildKit's rule; see ignore_file_for).
  // Read if it exists, and always sent unless `replace_ignore_file` is set.
  std::string ignore_file = ".dockerignore";
  // Sent after the walk, in this order, as 0644 files owned by 0:0 with the
  // current time. An extra file named like the ignore file replaces it in
  // the tar (the walk skips the real one) while the real one's patterns
  // still decide what the walk sends.
  std::vector<ExtraFile> extra_files;
  // Called for every entry the tar would hold, in tar order, before it is
  // written (or not, see `send`).
  std::function<void(const PackedEntry&)> on_entry;
  // When set, only the entries it accepts (by name) go into the tar; the walk
  // and the names of hard links are as without it. An update for a context
  // the server keeps sends only what changed.
  std::function<bool(const std::string& name)> send;
};

// What was sent.
struct PackStats {
  std::uint64_t entries = 0;     // tar entries written
  std::uint64_t walked = 0;      // entries met (written or left out by `send`)
  std::uint64_t file_bytes = 0;  // content bytes of regular files
  std::uint64_t ignored = 0;     // paths left out by the ignore file (a skipped dir counts once)
  std::uint64_t skipped = 0;     // sockets and devices
};

// The ignore file BuildKit applies for `dockerfile` in `dir`:
// "<dockerfile>.dockerignore" when it exists there, else ".dockerignore".
std::string ignore_file_for(const std::filesystem::path& dir, const std::string& dockerfile);

// Streams `options.dir` as an uncompressed PAX tar into `out`. Fails (kIo)
// naming the path if something cannot be read, if a file changes size while
// it is sent, or (kInvalidPath) if the ignore file does not parse; fails
// with the sink's error if `out` refuses bytes. `out` may have received part
// of the tar when this fails.
LayerResult<PackStats> pack_context(const ContextPackOptions& options, LayerSink& out);

}  // namespace drydock::builder
