#include "builder/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "builder/dockerignore.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using archive_detail::entry_error;
using archive_detail::EntryAction;

// OCI image spec, "Whiteouts": the prefix and the opaque marker.
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// What overlayfs reads as "this directory hides the lower ones".
constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

ArchiveError errno_error(std::string_view entry, std::string_view what) {
  return entry_error(
      ArchiveErrc::kIo, entry,
      std::string(what) + ": " + std::error_code(errno, std::generic_category()).message());
}

std::string_view base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Turns "DIR/.wh..wh..opq" into the opaque xattr on DIR.
ArchiveResult<void> make_opaque(const std::string& path, const UnpackOptions& options) {
  if (auto ok = archive_detail::prepare_parents(path, options.lower_dirs); !ok) return ok;
  const std::string dir = parent_path(path);
  if (::lsetxattr(dir.c_str(), kOpaqueXattr, "y", 1, 0) != 0) {
    return std::unexpected(errno_error(path, "set " + std::string(kOpaqueXattr)));
  }
  return {};
}

// Turns "DIR/.wh.NAME" into a 0/0 character device DIR/NAME.
ArchiveResult<void> make_whiteout(archive_entry* e, const std::string& path,
                                  const UnpackOptions& options) {
  const std::string_view name = base_name(path).substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") {
    return std::unexpected(entry_error(ArchiveErrc::kCorrupt, path, "invalid whiteout name"));
  }
  if (auto ok = archive_detail::prepare_parents(path, options.lower_dirs); !ok) return ok;
  const std::string dir = parent_path(path);
  const std::string hidden = dir == "." ? std::string(name) : dir + "/" + std::string(name);
  if (auto ok = archive_detail::remove_existing(hidden, archive_detail::NewEntry::kOther); !ok)
    return ok;
  if (::mknod(hidden.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
    return std::unexpected(errno_error(path, "mknod whiteout"));
  }
  const auto uid = static_cast<uid_t>(archive_entry_uid(e));
  const auto gid = static_cast<gid_t>(archive_entry_gid(e));
  if (::lchown(hidden.c_str(), uid, gid) != 0) {
    return std::unexpected(errno_error(path, "chown whiteout"));
  }
  return {};
}

// Handles the whiteout entries; everything else is written by the engine.
// `stats.archive` is not used here: the engine's counters are `archive_stats`.
ArchiveResult<EntryAction> layer_entry(archive_entry* e, const std::string& path,
                                       const UnpackOptions& options, ExtractStats& archive_stats,
                                       UnpackStats& stats) {
  const std::string_view base = base_name(path);
  if (!base.starts_with(kWhiteoutPrefix)) return EntryAction::kWrite;
  if (base == kOpaqueMarker) {
    if (auto ok = make_opaque(path, options); !ok) return std::unexpected(ok.error());
    ++stats.opaque_dirs;
    return EntryAction::kSkip;
  }
  if (base.starts_with(kWhiteoutMetaPrefix)) {  // aufs bookkeeping, meaningless here
    ++archive_stats.skipped;
    return EntryAction::kSkip;
  }
  if (auto ok = make_whiteout(e, path, options); !ok) return std::unexpected(ok.error());
  ++stats.whiteouts;
  return EntryAction::kSkip;
}

}  // namespace

ArchiveResult<UnpackStats> unpack_layer(int fd, const fs::path& target,
                                        const UnpackOptions& options) {
  UnpackStats stats;
  archive_detail::ExtractSpec spec;
  spec.disk_flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR;
  spec.limits = options.limits;
  spec.root_mode = 0755;
  spec.lower_dirs = options.lower_dirs;
  spec.hook = [&](archive_entry* e, const std::string& path, ExtractStats& archive_stats) {
    return layer_entry(e, path, options, archive_stats, stats);
  };
  auto extracted = archive_detail::extract(fd, target, spec);
  if (!extracted) return std::unexpected(extracted.error());
  stats.archive = std::move(*extracted);
  return stats;
}

ArchiveResult<UnpackStats> unpack_layer(const fs::path& layer, const fs::path& target,
                                        const UnpackOptions& options) {
  storage::UniqueFd fd(::open(layer.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return std::unexpected(ArchiveError{
        ArchiveErrc::kIo, "open \"" + layer.string() +
                              "\": " + std::error_code(errno, std::generic_category()).message()});
  }
  return unpack_layer(fd.get(), target, options);
}

}  // namespace drydock::builder
