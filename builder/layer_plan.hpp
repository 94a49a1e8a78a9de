#pragma once

// The list of entries a layer will hold, in layer order, gathered before any
// byte is written: from an overlay upper directory (after a RUN step) or from
// source paths placed at destinations (COPY/ADD). Only names and source paths
// are kept; file contents are read when the layer is written.

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "builder/layer_sink.hpp"

namespace drydock::builder {

// Numeric owner of an entry (layers carry no user names).
struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
  friend bool operator==(const Owner&, const Owner&) = default;
};

// Overrides applied to every entry a COPY adds: `--chown` and `--chmod`.
struct CopyAttrs {
  std::optional<Owner> owner;
  // Permission bits (07777) replacing the source's; not applied to symlinks.
  std::optional<mode_t> mode;
};

// Metadata of an entry the plan makes itself (add_directory, add_file).
struct MadeAttrs {
  mode_t mode = 0755;  // permission bits
  Owner owner;
  // nullopt: LayerOptions::made_mtime.
  std::optional<std::int64_t> mtime;
};

// Where an entry's header and content come from.
enum class EntryOrigin : std::uint8_t {
  kSource,        // lstat/read of `source` at write time
  kWhiteout,      // ".wh.NAME": NAME is deleted from the layers below
  kOpaqueMarker,  // ".wh..wh..opq": the directory hides the layers below
  kImplicitDir,   // a parent a child needs; metadata from the lower or defaults
  kMadeDir,       // a directory with MadeAttrs
  kMadeFile,      // a regular file with MadeAttrs and in-memory content
};

// How a source tree is read: as plain files, or as an overlay upper dir whose
// whiteouts and opaque markers are translated.
enum class SourceKind : std::uint8_t { kPlain, kOverlayUpper };

// One planned entry. `type` is the S_IFMT type seen when planning; the writer
// fails if the file changed type before it was written.
struct PlanEntry {
  EntryOrigin origin = EntryOrigin::kSource;
  mode_t type = 0;
  std::filesystem::path source;  // kSource only
  CopyAttrs attrs;               // kSource: overrides; kImplicitDir: owner to create with
  MadeAttrs made;                // kMadeDir, kMadeFile
  std::string content;           // kMadeFile
};

// Layer order: bytewise, except that '/' sorts before every other byte, so
// that comparing two paths compares their components in turn. This is the
// order of a depth-first walk with sorted names (Go's filepath.Walk, used by
// containerd's differ): "a/", "a/b", "a-b". Parents come before children.
struct LayerPathLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

// Cleans a destination inside the layer as Go's path.Clean does for a rooted
// path ("/app/../etc//x/." -> "etc/x"); ".." cannot climb above the root.
// Returns "" for the root itself. Fails on an embedded NUL.
LayerResult<std::string> clean_layer_path(std::string_view dest);

// The entries of one layer, keyed by path inside the layer (no leading '/',
// no trailing '/'), in layer order. Adding the same path twice keeps the
// later entry (COPY overwrites), except that a directory that has children
// cannot be replaced by a non-directory.
class LayerPlan {
 public:
  using Entries = std::map<std::string, PlanEntry, LayerPathLess>;

  // Mode A: the whole upper directory of an overlay mount, translated to OCI
  // form: a 0/0 character device becomes ".wh.NAME"; a directory with the
  // opaque xattr ("y") is followed by "DIR/.wh..wh..opq". Sockets are skipped.
  // Fails (kUnsupported) on redirect_dir or metacopy entries, whose content
  // lives in a lower layer.
  LayerResult<void> add_overlay_upper(const std::filesystem::path& upper);

  // Mode B: puts `source` (not followed if it is a symlink) at `dest`; a
  // directory brings its whole subtree. Missing parents of `dest` become
  // implicit directories (owned by attrs.owner when given).
  LayerResult<void> add_path(const std::filesystem::path& source, std::string_view dest,
                             const CopyAttrs& attrs = {});

  // Mode B: puts the children of directory `source_dir` under `dest` (COPY
  // dir/ /dst/); `dest` itself becomes an implicit directory unless present.
  LayerResult<void> add_contents(const std::filesystem::path& source_dir, std::string_view dest,
                                 const CopyAttrs& attrs = {});

  // A directory with explicit metadata (e.g. a COPY destination to create).
  LayerResult<void> add_directory(std::string_view dest, const MadeAttrs& attrs);

  // A regular file whose content is given (e.g. COPY <<EOF heredocs).
  LayerResult<void> add_file(std::string_view dest, std::string content, const MadeAttrs& attrs);

  // True when the layer would have no entries: an upper dir in which nothing
  // changed. BuildKit drops such a layer and marks the history entry
  // empty_layer; the caller should do the same.
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  const Entries& entries() const { return entries_; }

 private:
  LayerResult<void> put(std::string name, PlanEntry entry);
  LayerResult<void> ensure_parents(std::string_view name, const CopyAttrs& attrs);
  bool has_children(Entries::const_iterator it) const;
  LayerResult<void> add_tree(const std::filesystem::path& source, const std::string& dest,
                             const CopyAttrs& attrs, SourceKind kind);
  // Adds "NAME/.wh..wh..opq" if directory `dir` carries the opaque xattr.
  LayerResult<void> add_opaque_marker(const std::filesystem::path& dir, const std::string& name);
  // Returns whether the walk descends into the entry.
  LayerResult<bool> add_overlay_child(const std::filesystem::path& source, const std::string& name,
                                      const struct stat& st);

  Entries entries_;
};

}  // namespace drydock::builder
