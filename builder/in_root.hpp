#pragma once

// Path operations confined to a container's rootfs (internal to builder/).
//
// A rootfs comes from an image, so its symlinks are untrusted: "/etc" may point
// at "/" or "../../..". Every lookup here goes through openat2(RESOLVE_IN_ROOT),
// which resolves absolute symlinks and ".." against the rootfs, as the container
// itself would see them, never against the host.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/mount.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::builder::in_root {

// Cleans `path` lexically as an absolute path: "a/./b/../c" -> "/a/c".
std::string clean(std::string_view path);

// Opens the rootfs directory itself (O_PATH), the anchor for the calls below.
storage::UniqueFd open_root(const std::filesystem::path& rootfs);

// openat2(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
// Invalid fd with errno set on failure.
storage::UniqueFd open(int root_fd, std::string_view path, int flags);

// The whole content of a regular file, at most `max_bytes`; nullopt if it
// cannot be opened or read (errno set).
std::optional<std::string> read_file(int root_fd, std::string_view path,
                                     std::size_t max_bytes = 4 << 20);

// Whether `path` exists; a final symlink counts as existing (lstat).
bool exists(int root_fd, std::string_view path);

// mkdir -p inside the rootfs; directories it creates get mode 0755 and
// owner `uid:gid` (those that existed are left alone, as BuildKit does).
ExecResult<void> mkdir_all(int root_fd, std::string_view path, uid_t uid, gid_t gid);

// The paths of `path` and its ancestors that do not exist yet, deepest first:
// what the runtime will create as mount points.
std::vector<std::string> missing_paths(int root_fd, std::string_view path);

// Removes `path` if it is an empty directory or an empty non-directory, and
// gives its parent back the timestamps it had (reproducible layers, as in
// BuildKit's mount stub cleaner). Anything else is left alone.
void remove_if_empty(int root_fd, std::string_view path);

}  // namespace drydock::builder::in_root
