#pragma once

// Mount descriptions and the one place that turns them into mounts.
//
// Snapshotters describe filesystems as `Mount` values and never mount anything
// themselves (containerd's contract); whoever needs the filesystem (the Runtime,
// for a container's rootfs; later code that reads a stage's tree) calls
// `mount_all`, and a `MountGuard` undoes it. The error type here is shared by the
// execution side of the builder: mounts, snapshots and the runtime.

#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::builder {

// What went wrong in the execution layer (mounts, snapshots, runtime).
enum class ExecErrc {
  kInvalidArgument,  // a key, name, path or spec the caller got wrong
  kNotFound,         // no such snapshot
  kAlreadyExists,    // the key or name is taken
  kIo,               // a filesystem call failed
  kMount,            // mount(2) or the new mount API refused
  kTooManyLayers,    // the overlay cannot stack this many lower layers here
  kRuntime,          // the OCI runtime failed (could not start, kill or delete)
};

std::string_view to_string(ExecErrc e);

struct ExecError {
  ExecErrc code;
  std::string message;  // human-readable, names the path or container and errno text
};

template <class T>
using ExecResult = std::expected<T, ExecError>;

// kIo error "WHAT PATH: strerror(err)".
ExecError io_error(std::string what, const std::filesystem::path& path, int err);

// `bytes` random bytes (getrandom) as lower-case hex: ids for containers,
// bundles and snapshots.
std::string random_hex(std::size_t bytes);

// One filesystem, as mount(8) would take it: a type ("overlay", "bind",
// "tmpfs"...), a source, and option words. Option words are either mount flags
// ("ro", "rbind", "nosuid"...) or filesystem data ("lowerdir=...", "size=64m").
struct Mount {
  std::string type;
  std::string source;
  std::vector<std::string> options;

  bool operator==(const Mount&) const = default;
};

// Mounts each of `mounts` on `target`, in order (later ones stack on earlier
// ones). On failure, whatever this call mounted is unmounted again.
//
// Overlay data longer than the kernel's mount-data limit (one page, 4096 bytes
// here) cannot go through mount(2): such overlays are mounted with the new mount
// API, one `lowerdir+` parameter per layer (Linux >= 6.5), which also keeps
// absolute paths. On older kernels this fails with kTooManyLayers and says why.
ExecResult<void> mount_all(std::span<const Mount> mounts, const std::filesystem::path& target);

// Unmounts `target`. A busy mount is retried briefly, then detached (MNT_DETACH),
// so the path never stays mounted. "Not mounted" counts as success.
ExecResult<void> unmount(const std::filesystem::path& target);

// Unmounts `target` (once per mount it stacked) when destroyed, unless
// released. Move-only.
class MountGuard {
 public:
  MountGuard() = default;
  MountGuard(std::filesystem::path target, std::size_t layers)
      : target_(std::move(target)), layers_(layers) {}
  MountGuard(MountGuard&& o) noexcept;
  MountGuard& operator=(MountGuard&& o) noexcept;
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard() { reset(); }

  // Unmounts now; returns the first failure.
  ExecResult<void> reset();
  // Forgets the mount: the caller takes over unmounting.
  void release() { layers_ = 0; }
  const std::filesystem::path& target() const { return target_; }

 private:
  std::filesystem::path target_;
  std::size_t layers_ = 0;
};

// mount_all, returning a guard that unmounts on destruction.
ExecResult<MountGuard> mount_guarded(std::span<const Mount> mounts,
                                     const std::filesystem::path& target);

}  // namespace drydock::builder
