#include "builder/layer_writer.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>
#include <utility>
#include <vector>

#include "builder/layer_stream.hpp"
#include "builder/layer_xattrs.hpp"
#include "builder/tar_writer.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

using storage::UniqueFd;

// Big enough to keep syscalls and zlib calls few, small enough not to matter.
constexpr std::size_t kCopyBufferSize = std::size_t{128} * 1024;

bool keep_xattr(std::string_view name, XattrPolicy policy) {
  if (name == "security.capability") return true;
  if (name.starts_with("user.overlay.")) return false;
  return policy == XattrPolicy::kCapabilityAndUser && name.starts_with("user.");
}

std::unexpected<LayerError> changed(const std::filesystem::path& path) {
  return std::unexpected(
      LayerError{LayerErrorCode::kIo, "file changed while writing the layer: " + path.native()});
}

// Writes the plan's entries, one at a time, into a TarWriter.
class LayerEmitter {
 public:
  LayerEmitter(TarWriter& tar, const LayerOptions& options)
      : tar_(tar),
        options_(options),
        made_mtime_(options.made_mtime.value_or(static_cast<std::int64_t>(std::time(nullptr)))),
        buffer_(kCopyBufferSize) {}

  LayerResult<void> emit(const std::string& name, const PlanEntry& e) {
    ++count_;
    switch (e.origin) {
      case EntryOrigin::kSource:
        return emit_source(name, e);
      case EntryOrigin::kWhiteout:
      case EntryOrigin::kOpaqueMarker:
        return emit_marker(name);
      case EntryOrigin::kImplicitDir:
        return emit_implicit_dir(name, e);
      case EntryOrigin::kMadeDir:
      case EntryOrigin::kMadeFile:
        return emit_made(name, e);
    }
    return {};
  }

  std::uint64_t count() const { return count_; }

 private:
  std::int64_t adjust(std::int64_t mtime) const {
    switch (options_.mtime_policy) {
      case MtimePolicy::kKeep:
        return mtime;
      case MtimePolicy::kClamp:
        return std::min(mtime, options_.epoch);
      case MtimePolicy::kSet:
        return options_.epoch;
    }
    return mtime;
  }

  // Whiteouts and opaque markers: empty regular files, mode 0, owner 0:0,
  // mtime 0 - as containerd (v2) writes whiteouts, never SOURCE_DATE_EPOCH.
  LayerResult<void> emit_marker(const std::string& name) {
    TarHeader h;
    h.name = name;
    h.type = S_IFREG;
    return tar_.write_header(h);
  }

  LayerResult<void> emit_implicit_dir(const std::string& name, const PlanEntry& e) {
    DirMeta meta{0755, e.attrs.owner.value_or(Owner{}), made_mtime_};
    if (options_.parent_lookup) {
      auto found = options_.parent_lookup(name);
      if (!found) return std::unexpected(found.error());
      if (*found) meta = **found;
    }
    TarHeader h;
    h.name = name;
    h.type = S_IFDIR;
    h.perm = meta.mode;
    h.owner = meta.owner;
    h.mtime = adjust(meta.mtime);
    return tar_.write_header(h);
  }

  LayerResult<void> emit_made(const std::string& name, const PlanEntry& e) {
    TarHeader h;
    h.name = name;
    h.type = e.type;
    h.perm = e.made.mode;
    h.owner = e.made.owner;
    h.mtime = adjust(e.made.mtime.value_or(made_mtime_));
    if (e.origin == EntryOrigin::kMadeDir) return tar_.write_header(h);
    h.size = e.content.size();
    if (auto r = tar_.write_header(h); !r) return r;
    return tar_.write_data(std::as_bytes(std::span(e.content.data(), e.content.size())));
  }

  LayerResult<void> emit_source(const std::string& name, const PlanEntry& e) {
    struct stat st {};
    if (::lstat(e.source.c_str(), &st) != 0) return errno_error("lstat", e.source.native(), errno);
    if ((st.st_mode & S_IFMT) != e.type) return changed(e.source);
    auto h = header_from_stat(name, e, st);
    if (!h) return std::unexpected(h.error());
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, name);
      if (!first) {
        h->hardlink = it->second;
        h->size = 0;
        return tar_.write_header(*h);
      }
    }
    if (!S_ISREG(st.st_mode)) return tar_.write_header(*h);
    return emit_file(*h, e.source, st);
  }

  LayerResult<TarHeader> header_from_stat(const std::string& name, const PlanEntry& e,
                                          const struct stat& st) const {
    TarHeader h;
    h.name = name;
    h.type = st.st_mode & S_IFMT;
    h.perm = st.st_mode & 07777;
    h.owner = e.attrs.owner.value_or(Owner{st.st_uid, st.st_gid});
    if (e.attrs.mode && !S_ISLNK(st.st_mode)) h.perm = *e.attrs.mode & 07777;
    // Seconds only: containerd truncates, and sub-second mtimes would force a
    // PAX header onto every entry.
    h.mtime = adjust(st.st_mtim.tv_sec);
    if (S_ISREG(st.st_mode)) h.size = static_cast<std::uint64_t>(st.st_size);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      h.dev_major = major(st.st_rdev);
      h.dev_minor = minor(st.st_rdev);
    }
    if (S_ISLNK(st.st_mode)) {
      auto target = read_link(e.source, st);
      if (!target) return std::unexpected(target.error());
      h.symlink = std::move(*target);
    }
    auto xattrs = read_xattrs(
        e.source, [this](std::string_view n) { return keep_xattr(n, options_.xattrs); });
    if (!xattrs) return std::unexpected(xattrs.error());
    h.xattrs = std::move(*xattrs);
    return h;
  }

  static LayerResult<std::string> read_link(const std::filesystem::path& path,
                                            const struct stat& st) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return errno_error("readlink", path.native(), errno);
    // A longer target than lstat said means the link was replaced meanwhile.
    if (static_cast<std::size_t>(n) >= target.size()) return changed(path);
    target.resize(static_cast<std::size_t>(n));
    return target;
  }

  // Header, then exactly h.size bytes read through the fixed buffer.
  LayerResult<void> emit_file(const TarHeader& h, const std::filesystem::path& path,
                              const struct stat& st) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (!fd.valid()) return errno_error("open", path.native(), errno);
    struct stat now {};
    if (::fstat(fd.get(), &now) != 0) return errno_error("fstat", path.native(), errno);
    if (now.st_ino != st.st_ino || now.st_dev != st.st_dev || now.st_size != st.st_size) {
      return changed(path);
    }
    if (auto r = tar_.write_header(h); !r) return r;
    std::uint64_t left = h.size;
    while (left > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer_.size()));
      ssize_t n = ::read(fd.get(), buffer_.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("read", path.native(), errno);
      if (n == 0) return changed(path);
      if (auto r = tar_.write_data(std::span(buffer_.data(), static_cast<std::size_t>(n))); !r) {
        return r;
      }
      left -= static_cast<std::uint64_t>(n);
    }
    return {};
  }

  TarWriter& tar_;
  const LayerOptions& options_;
  std::int64_t made_mtime_;
  std::vector<std::byte> buffer_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first name per inode
  std::uint64_t count_ = 0;
};

LayerResult<std::optional<DirMeta>> lookup_dir(int root_fd, const std::filesystem::path& root,
                                               std::string_view path) {
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel(path);
  int fd = static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how)));
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    return errno_error("look up", (root / rel).native(), errno);
  }
  UniqueFd owned(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("fstat", (root / rel).native(), errno);
  if (!S_ISDIR(st.st_mode)) {
    return std::unexpected(
        LayerError{LayerErrorCode::kConflict,
                   "parent is not a directory in the lower layers: " + (root / rel).native()});
  }
  return DirMeta{static_cast<mode_t>(st.st_mode & 07777), Owner{st.st_uid, st.st_gid},
                 st.st_mtim.tv_sec};
}

}  // namespace

ParentLookup lookup_in_rootfs(std::filesystem::path root) {
  return [root = std::move(root)](std::string_view path) -> LayerResult<std::optional<DirMeta>> {
    UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd.valid()) return errno_error("open", root.native(), errno);
    return lookup_dir(root_fd.get(), root, path);
  };
}

LayerResult<LayerInfo> write_layer(const LayerPlan& plan, LayerSink& sink,
                                   const LayerOptions& options) {
  auto stream = GzipHashStream::create(sink, options.gzip_level);
  if (!stream) return std::unexpected(stream.error());
  auto tar = TarWriter::open(**stream);
  if (!tar) return std::unexpected(tar.error());
  LayerEmitter emitter(**tar, options);
  for (const auto& [name, entry] : plan.entries()) {
    if (auto r = emitter.emit(name, entry); !r) return std::unexpected(r.error());
  }
  if (auto r = (*tar)->close(); !r) return std::unexpected(r.error());
  auto totals = (*stream)->finish();
  if (!totals) return std::unexpected(totals.error());
  return LayerInfo{totals->diff_id, totals->digest, totals->compressed_size,
                   totals->uncompressed_size, emitter.count()};
}

LayerResult<LayerInfo> OverlayDiffer::diff(const std::filesystem::path& upper, LayerSink& sink) {
  LayerPlan plan;
  if (auto r = plan.add_overlay_upper(upper); !r) return std::unexpected(r.error());
  return write_layer(plan, sink, options_);
}

}  // namespace drydock::builder
