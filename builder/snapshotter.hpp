#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "builder/mount.hpp"

namespace drydock::builder {

// Layered filesystems for build steps, after containerd's snapshotter.
//
// A committed snapshot is one layer's content, named by the caller (the layer's
// diff_id, so content addressing is the caller's) and never written again. An
// active snapshot, named by a key, is a writable layer over an ordered list of
// committed parents; commit turns it into a committed snapshot. Snapshotters
// only describe filesystems as Mounts: they never mount anything themselves.
//
// Keys and names: 1-200 characters from [A-Za-z0-9._:-], starting with a letter
// or digit ("sha256:<hex>" is fine). Keys and names share one namespace.
// Parent lists are ordered base layer first, as an image lists its layers.
class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // Creates the active snapshot `key` over committed `parents` and returns the
  // mounts of its writable root. kAlreadyExists if `key` is taken, kNotFound if
  // a parent is not committed.
  virtual ExecResult<std::vector<Mount>> prepare(std::string_view key,
                                                 std::span<const std::string> parents) = 0;

  // The mounts of active snapshot `key`, as prepare returned them.
  virtual ExecResult<std::vector<Mount>> mounts(std::string_view key) = 0;

  // Read-only mounts of committed `parents` merged; creates no state.
  virtual ExecResult<std::vector<Mount>> view(std::span<const std::string> parents) = 0;

  // Turns active snapshot `key` (unmounted) into committed snapshot `name`;
  // `key` is gone afterwards. If `name` already exists, that is the same
  // content by the caller's addressing: the active snapshot is discarded and
  // commit succeeds.
  virtual ExecResult<void> commit(std::string_view key, std::string_view name) = 0;

  // Removes the active or committed snapshot `key`; kNotFound if neither.
  // Removing a committed snapshot that something still stacks on is the
  // caller's mistake.
  virtual ExecResult<void> remove(std::string_view key) = 0;

  // Whether committed snapshot `name` exists.
  virtual bool exists(std::string_view name) = 0;

  // The directory holding active snapshot `key`'s changes (the overlay upper
  // dir: whiteouts are 0/0 character devices, opaque directories carry the
  // trusted.overlay.opaque xattr). For the differ, and for unpacking a layer
  // straight into a prepared snapshot.
  virtual ExecResult<std::filesystem::path> upper_dir(std::string_view key) = 0;
};

// Snapshots as plain directories stacked with overlayfs.
//
// Layout under the root (which must be on a filesystem that can be an overlay
// upper layer, and whose path contains neither ',' nor ':'):
//
//   ROOT/committed/<name>/       a committed layer (':' in names becomes '+')
//   ROOT/active/<key>/fs/        the upper dir (or the bound root, without parents)
//   ROOT/active/<key>/work/      overlayfs's work dir
//   ROOT/active/<key>/parents    committed parent names, base first, one a line
//   ROOT/empty/                  an empty directory: the root of a parentless view
//   ROOT/trash/                  prepares are built and removals moved here first
//
// Every state change is one rename, so a crash never leaves half a snapshot
// under a real name; whatever it leaves in trash/ goes at the next open.
//
// Overlay details: lowerdir lists the parents topmost first. index, metacopy
// and redirect_dir are forced off, so that every change is a full copy in the
// upper dir (what a differ can read). mount(2) takes at most one page of
// options (4096 bytes here, i.e. roughly 40 layers of ~90-character paths);
// longer stacks need mount_all's lowerdir+ path (Linux >= 6.5). The kernel's
// hard limit is 500 lower layers (OVL_MAX_STACK); prepare and view refuse more.
//
// Thread-safe: every operation is a filesystem operation on distinct paths or
// an atomic rename; two commits to one name race harmlessly.
// How committed snapshots survive a crash.
enum class SnapshotDurability {
  // Each commit flushes the filesystem (syncfs) before its rename: a
  // committed snapshot is complete after any crash.
  kSynced,
  // No flush per commit. Committed snapshots must be rebuildable (a build's
  // are: every one is a layer blob unpacked, and the blob store is durable).
  // ROOT/in-use marks an open snapshotter; finding it at open() means the
  // last process did not close cleanly, and every committed snapshot is
  // discarded. A clean close flushes once and removes the mark.
  kRebuildable,
};

class OverlaySnapshotter final : public Snapshotter {
 public:
  static constexpr std::size_t kMaxLayers = 500;

  // Creates the layout under `root` if needed and empties ROOT/trash.
  static ExecResult<std::unique_ptr<OverlaySnapshotter>> open(
      std::filesystem::path root, SnapshotDurability durability = SnapshotDurability::kSynced);
  ~OverlaySnapshotter() override;

  ExecResult<std::vector<Mount>> prepare(std::string_view key,
                                         std::span<const std::string> parents) override;
  ExecResult<std::vector<Mount>> mounts(std::string_view key) override;
  ExecResult<std::vector<Mount>> view(std::span<const std::string> parents) override;
  ExecResult<void> commit(std::string_view key, std::string_view name) override;
  ExecResult<void> remove(std::string_view key) override;
  bool exists(std::string_view name) override;
  ExecResult<std::filesystem::path> upper_dir(std::string_view key) override;

  const std::filesystem::path& root() const { return root_; }

 private:
  OverlaySnapshotter(std::filesystem::path root, SnapshotDurability durability)
      : root_(std::move(root)), durability_(durability) {}

  std::filesystem::path committed_dir(std::string_view name) const;
  std::filesystem::path active_dir(std::string_view key) const;
  ExecResult<void> check_parents(std::span<const std::string> parents) const;
  std::vector<Mount> active_mounts(std::string_view key,
                                   std::span<const std::string> parents) const;
  ExecResult<void> move_to_trash(const std::filesystem::path& path);

  std::filesystem::path root_;
  SnapshotDurability durability_ = SnapshotDurability::kSynced;
};

}  // namespace drydock::builder
