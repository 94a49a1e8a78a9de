#pragma once

// Unpacking one image layer (an OCI or Docker layer tar, uncompressed or
// compressed with gzip, zstd, xz or bzip2, detected from the bytes) into its
// own snapshot directory, as containerd's archive.Apply does with the overlay
// whiteout converter, so that snapshots stack as overlayfs lower directories:
//   - ".wh.NAME" becomes a whiteout: a character device 0/0 named NAME,
//     owned by the whiteout entry's uid/gid;
//   - ".wh..wh..opq" becomes the xattr trusted.overlay.opaque="y" on its
//     directory; other ".wh..wh.*" entries (aufs metadata) are dropped;
//   - everything else keeps its mode, numeric owner, mtime, xattrs
//     (security.capability, ...), symlink target (verbatim) and hard links;
//     device nodes and fifos are created (this needs root, like containerd);
//   - absolute names, ".." escapes, writes through symlinks and hard links
//     leaving the layer are refused (see archive_extract.hpp). containerd
//     instead resolves such names inside the root; a layer that relies on that
//     is rejected here.
//
// Contract: the caller picks a temporary `target` next to the final snapshot
// directory, calls unpack_layer, and on success renames `target` into its
// content-addressed place (rename is atomic, so a snapshot is either complete
// or absent). On failure it calls remove_tree(target). Nothing else may write
// into `target` meanwhile.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "builder/archive_extract.hpp"

namespace drydock::builder {

// How to unpack a layer.
struct UnpackOptions {
  // Caps against decompression bombs; unlimited bytes by default because
  // layers come from our own store, already size-checked when pushed.
  ExtractLimits limits{.max_bytes = UINT64_MAX, .max_entries = 10'000'000, .max_path_length = 4096};
  // Snapshot directories of the layers below, topmost first. Only used to give
  // a directory that the layer needs but does not contain the mode, owner and
  // times it has below (containerd's mkparent); otherwise it gets 0755 root.
  std::vector<std::filesystem::path> lower_dirs;
};

// What unpacking did.
struct UnpackStats {
  ExtractStats archive;           // entries, bytes, ...
  std::uint64_t whiteouts = 0;    // ".wh.NAME" entries turned into 0/0 devices
  std::uint64_t opaque_dirs = 0;  // ".wh..wh..opq" entries turned into xattrs
};

// Unpacks the layer read from `fd` (not closed) into `target`, which must not
// exist (its parent must) and is created with mode 0755. Errors name the
// offending entry; on error `target` is left for the caller to remove.
ArchiveResult<UnpackStats> unpack_layer(int fd, const std::filesystem::path& target,
                                        const UnpackOptions& options = {});

// Same, reading the layer from the file `layer`.
ArchiveResult<UnpackStats> unpack_layer(const std::filesystem::path& layer,
                                        const std::filesystem::path& target,
                                        const UnpackOptions& options = {});

}  // namespace drydock::builder
