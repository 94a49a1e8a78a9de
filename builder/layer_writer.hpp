#pragma once

// The Differ: turns a planned set of entries (an overlay upper dir after RUN,
// or COPY/ADD sources) into an OCI layer blob - a gzip-compressed PAX tar -
// streamed into a sink and hashed compressed and uncompressed in one pass.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

#include "builder/layer_plan.hpp"
#include "builder/layer_sink.hpp"
#include "storage/digest.hpp"

namespace drydock::builder {

// What happens to the mtimes written into the tar.
enum class MtimePolicy {
  kKeep,   // the file's own mtime (seconds; sub-seconds are dropped)
  kClamp,  // min(file's mtime, epoch): SOURCE_DATE_EPOCH, as BuildKit's rewrite-timestamp
  kSet,    // every entry gets epoch
};

// Which xattrs go into the tar. overlayfs's own (trusted.overlay.*,
// user.overlay.*) never do, nor do other trusted.*, security.* or ACLs.
enum class XattrPolicy {
  kCapabilityAndUser,  // security.capability and user.*
  kCapabilityOnly,     // security.capability only: exactly containerd's ChangeWriter
};

// Metadata of a directory that already exists in the layers below.
struct DirMeta {
  mode_t mode = 0755;  // permission bits
  Owner owner;
  std::int64_t mtime = 0;
};

// Looks up a directory of the lower layers by layer path ("usr/local"):
// nullopt if absent there. Implicit parents (COPY into /usr/local/bin) take
// their metadata from it, so that extracting the layer does not change the
// mode/owner of directories it merely passes through (BuildKit's layers carry
// the lower's metadata for such parents).
using ParentLookup = std::function<LayerResult<std::optional<DirMeta>>(std::string_view path)>;

// A ParentLookup reading a merged root filesystem (or one snapshot dir),
// resolving the path inside `root` only (openat2 RESOLVE_IN_ROOT). A parent
// that exists but is not a directory there (a symlink, a file) is a kConflict
// error: the caller must resolve COPY destinations through symlinks first.
ParentLookup lookup_in_rootfs(std::filesystem::path root);

// Options for writing one layer.
struct LayerOptions {
  MtimePolicy mtime_policy = MtimePolicy::kKeep;
  std::int64_t epoch = 0;  // for kClamp and kSet
  // mtime of implicit parents and made entries without their own; nullopt:
  // the time writing starts (BuildKit uses the copy time too).
  std::optional<std::int64_t> made_mtime;
  XattrPolicy xattrs = XattrPolicy::kCapabilityAndUser;
  int gzip_level = 6;
  // Empty: implicit parents get mode 0755 and the owner of the child that
  // needed them (--chown) or 0:0.
  ParentLookup parent_lookup;
};

// The written layer: what the image config and manifest need.
struct LayerInfo {
  storage::Digest diff_id;            // sha256 of the uncompressed tar (config rootfs.diff_ids)
  storage::Digest digest;             // sha256 of the blob (manifest layers[].digest)
  std::uint64_t compressed_size = 0;  // blob size (manifest layers[].size)
  std::uint64_t uncompressed_size = 0;
  std::uint64_t entry_count = 0;  // tar entries, whiteouts included

  // No entries: the tar is just its end blocks. BuildKit does not keep such
  // a layer: it drops it from the manifest and marks the history entry
  // "empty_layer": true (exporter normalizeLayersAndHistory).
  bool empty() const { return entry_count == 0; }
};

// Writes `plan` into `sink` as a gzip'd tar, entries in plan order. Hard links
// are detected by device+inode among the plan's source files: the first in
// layer order carries the content, later ones link to it. Memory stays
// bounded by a fixed buffer whatever the file sizes. Errors name the path.
LayerResult<LayerInfo> write_layer(const LayerPlan& plan, LayerSink& sink,
                                   const LayerOptions& options = {});

// Turns what a RUN step changed into a layer (containerd's diff.Comparer,
// narrowed to what the builder needs).
class Differ {
 public:
  virtual ~Differ() = default;
  // Writes the layer for overlay upper directory `upper` into `sink`. An
  // unchanged upper gives LayerInfo::empty() (and a valid empty tar); to avoid
  // sending any bytes for it, build a LayerPlan and check empty() first.
  virtual LayerResult<LayerInfo> diff(const std::filesystem::path& upper, LayerSink& sink) = 0;
};

// The Differ for overlayfs upper directories (LayerPlan::add_overlay_upper).
class OverlayDiffer final : public Differ {
 public:
  explicit OverlayDiffer(LayerOptions options = {}) : options_(std::move(options)) {}
  LayerResult<LayerInfo> diff(const std::filesystem::path& upper, LayerSink& sink) override;

 private:
  LayerOptions options_;
};

}  // namespace drydock::builder
