#include "builder/archive_extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <locale.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include "builder/dockerignore.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using archive_detail::entry_error;
using storage::UniqueFd;

constexpr std::size_t kReadBlock = 128 * 1024;

// Always on: libarchive's own guards (belt and braces with our checks), exact
// modes and times, and no implicit parent directories (prepare_parents makes
// them, so that every parent is checked first).
constexpr int kBaseFlags = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                           ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_PERM |
                           ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_NO_AUTODIR;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

ArchiveError path_errno(ArchiveErrc code, std::string_view what, std::string_view path, int err) {
  return {code, std::string(what) + " \"" + std::string(path) + "\": " + errno_text(err)};
}

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

// The reading side of libarchive, fed block by block from a descriptor.
struct FdSource {
  int fd = -1;
  std::uint64_t bytes = 0;
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kReadBlock);
};

la_ssize_t read_callback(archive* a, void* data, const void** out) {
  auto* src = static_cast<FdSource*>(data);
  while (true) {
    const ssize_t n = ::read(src->fd, src->buffer.get(), kReadBlock);
    if (n >= 0) {
      src->bytes += static_cast<std::uint64_t>(n);
      *out = src->buffer.get();
      return n;
    }
    if (errno != EINTR) {
      const int err = errno;
      archive_set_error(a, err, "read failed: %s", errno_text(err).c_str());
      return -1;
    }
  }
}

const char* error_text(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown libarchive error";
}

std::string entry_name(archive_entry* e) {
  const char* name = archive_entry_pathname(e);
  if (name == nullptr) name = archive_entry_pathname_utf8(e);
  return name != nullptr ? name : "";
}

archive_detail::NewEntry new_entry(archive_entry* e) {
  const bool dir = archive_entry_hardlink(e) == nullptr && archive_entry_filetype(e) == AE_IFDIR;
  return dir ? archive_detail::NewEntry::kDirectory : archive_detail::NewEntry::kOther;
}

// Copies mode, owner and times of `prefix` in the first lower layer that has
// it onto the directory just created at `prefix` (containerd's mkparent).
void copy_lower_metadata(const std::string& prefix, const std::vector<fs::path>& lower_dirs) {
  for (const fs::path& lower : lower_dirs) {
    UniqueFd lower_fd(::open(lower.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!lower_fd.valid()) continue;
    UniqueFd fd(archive_detail::open_in_root(lower_fd.get(), prefix, O_PATH | O_NOFOLLOW));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) return;  // replaced in that layer: keep the defaults
    ::chmod(prefix.c_str(), st.st_mode & 07777);
    ::lchown(prefix.c_str(), st.st_uid, st.st_gid);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    ::utimensat(AT_FDCWD, prefix.c_str(), times, AT_SYMLINK_NOFOLLOW);
    return;
  }
}

// One extraction, run on the private thread whose cwd is the target root.
class Extraction {
 public:
  Extraction(int fd, const archive_detail::ExtractSpec& spec) : spec_(spec) { src_.fd = fd; }

  ArchiveResult<ExtractStats> run() {
    if (auto opened = open(); !opened) return std::unexpected(opened.error());
    while (true) {
      auto entry = next_entry();
      if (!entry) return std::unexpected(entry.error());
      if (*entry == nullptr) break;
      if (auto handled = handle(*entry); !handled) return std::unexpected(handled.error());
    }
    if (archive_write_close(out_.get()) != ARCHIVE_OK) {
      return std::unexpected(ArchiveError{ArchiveErrc::kIo, error_text(out_.get())});
    }
    stats_.archive_bytes = src_.bytes;
    return std::move(stats_);
  }

 private:
  ArchiveResult<void> open() {
    in_.reset(archive_read_new());
    out_.reset(archive_write_disk_new());
    if (!in_ || !out_) return std::unexpected(ArchiveError{ArchiveErrc::kIo, "out of memory"});
    archive_read_support_format_tar(in_.get());
    // Linked-in decompressors on Debian; tar.lz4/lzip etc. are not accepted.
    archive_read_support_filter_gzip(in_.get());
    archive_read_support_filter_zstd(in_.get());
    archive_read_support_filter_xz(in_.get());
    archive_read_support_filter_bzip2(in_.get());
    if (archive_read_open(in_.get(), &src_, nullptr, read_callback, nullptr) != ARCHIVE_OK) {
      return std::unexpected(ArchiveError{ArchiveErrc::kNotArchive,
                                          std::string("not an archive: ") + error_text(in_.get())});
    }
    archive_write_disk_set_options(out_.get(), kBaseFlags | spec_.disk_flags);
    return {};
  }

  ArchiveResult<archive_entry*> next_entry() {
    archive_entry* e = nullptr;
    int r = ARCHIVE_RETRY;
    while (r == ARCHIVE_RETRY) r = archive_read_next_header(in_.get(), &e);
    if (r == ARCHIVE_EOF) return nullptr;
    if (r == ARCHIVE_WARN) warn(in_.get());
    if (r >= ARCHIVE_WARN) return e;
    if (stats_.entries == 0) {
      return std::unexpected(ArchiveError{
          ArchiveErrc::kNotArchive, std::string("not a tar archive: ") + error_text(in_.get())});
    }
    return std::unexpected(ArchiveError{ArchiveErrc::kCorrupt,
                                        "corrupt archive after " + std::to_string(stats_.entries) +
                                            " entries: " + error_text(in_.get())});
  }

  // Validates a raw entry name, or with `role` "hard link target " a link
  // target, and returns it cleaned; "." stands for the root itself.
  ArchiveResult<std::string> checked_name(std::string_view entry, std::string_view raw,
                                          std::string_view role = "") const {
    const std::string quoted = std::string(role) + "\"" + std::string(raw) + "\"";
    if (raw.empty()) {
      return std::unexpected(
          entry_error(ArchiveErrc::kCorrupt, entry, std::string(role) + "empty name"));
    }
    if (raw.front() == '/') {
      return std::unexpected(entry_error(ArchiveErrc::kUnsafePath, entry, quoted + " is absolute"));
    }
    std::string clean = clean_path(raw);
    if (clean == ".." || clean.starts_with("../")) {
      return std::unexpected(
          entry_error(ArchiveErrc::kUnsafePath, entry, quoted + " escapes the target directory"));
    }
    if (clean.size() > spec_.limits.max_path_length) {
      return std::unexpected(entry_error(
          ArchiveErrc::kLimitExceeded, entry,
          quoted + " is longer than " + std::to_string(spec_.limits.max_path_length) + " bytes"));
    }
    return clean;
  }

  ArchiveResult<void> handle(archive_entry* e) {
    const std::string raw = entry_name(e);
    if (++stats_.entries > spec_.limits.max_entries) {
      return std::unexpected(entry_error(
          ArchiveErrc::kLimitExceeded, raw,
          "archive has more than " + std::to_string(spec_.limits.max_entries) + " entries"));
    }
    auto name = checked_name(raw, raw);
    if (!name) return std::unexpected(name.error());
    if (*name == ".") {  // the target itself already exists; its entry is ignored
      ++stats_.skipped;
      return {};
    }
    archive_entry_copy_pathname(e, name->c_str());
    std::optional<std::string> target;
    if (const char* link = archive_entry_hardlink(e); link != nullptr) {
      auto checked = checked_name(raw, link, "hard link target ");
      if (!checked) return std::unexpected(checked.error());
      target = std::move(*checked);
      archive_entry_copy_hardlink(e, target->c_str());
    }
    if (spec_.hook) {
      auto action = spec_.hook(e, *name, stats_);
      if (!action) return std::unexpected(action.error());
      if (*action == archive_detail::EntryAction::kSkip) return {};
    }
    if (auto ok = archive_detail::prepare_parents(*name, spec_.lower_dirs); !ok) return ok;
    if (target) {
      if (auto ok = check_link_target(raw, *target); !ok) return ok;
    }
    if (auto ok = archive_detail::remove_existing(*name, new_entry(e)); !ok) return ok;
    return write(e, raw);
  }

  // A hard link may only point at something this archive already wrote, by a
  // path without symlinks: link(2) must never reach outside the root.
  static ArchiveResult<void> check_link_target(std::string_view raw, const std::string& target) {
    if (target == ".") {
      return std::unexpected(entry_error(ArchiveErrc::kUnsafePath, raw, "hard link to the root"));
    }
    struct stat st {};
    for (auto slash = target.find('/'); slash != std::string::npos;
         slash = target.find('/', slash + 1)) {
      const std::string prefix = target.substr(0, slash);
      if (::lstat(prefix.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
        return std::unexpected(
            entry_error(ArchiveErrc::kUnsafePath, raw,
                        "hard link target goes through the symlink \"" + prefix + "\""));
      }
    }
    if (::lstat(target.c_str(), &st) != 0) {
      return std::unexpected(entry_error(
          ArchiveErrc::kCorrupt, raw,
          "hard link target \"" + target + "\" is not an earlier entry of the archive"));
    }
    if (S_ISDIR(st.st_mode)) {
      return std::unexpected(
          entry_error(ArchiveErrc::kUnsupportedEntry, raw, "hard link to a directory"));
    }
    return {};
  }

  ArchiveResult<void> write(archive_entry* e, std::string_view raw) {
    const la_int64_t size = archive_entry_size(e);
    if (size > 0 && stats_.bytes + static_cast<std::uint64_t>(size) > spec_.limits.max_bytes) {
      return std::unexpected(over_size(raw));
    }
    int r = archive_write_header(out_.get(), e);
    if (r < ARCHIVE_WARN) return std::unexpected(write_error(raw));
    if (r == ARCHIVE_WARN) warn(out_.get());
    if (size > 0) {
      if (auto ok = copy_data(raw); !ok) return ok;
    }
    r = archive_write_finish_entry(out_.get());
    if (r < ARCHIVE_WARN) return std::unexpected(write_error(raw));
    if (r == ARCHIVE_WARN) warn(out_.get());
    count(e);
    return {};
  }

  ArchiveResult<void> copy_data(std::string_view raw) {
    while (true) {
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      const int r = archive_read_data_block(in_.get(), &block, &size, &offset);
      if (r == ARCHIVE_EOF) return {};
      if (r < ARCHIVE_WARN) {
        return std::unexpected(entry_error(ArchiveErrc::kCorrupt, raw, error_text(in_.get())));
      }
      stats_.bytes += size;
      if (stats_.bytes > spec_.limits.max_bytes) return std::unexpected(over_size(raw));
      if (archive_write_data_block(out_.get(), block, size, offset) < ARCHIVE_WARN) {
        return std::unexpected(write_error(raw));
      }
    }
  }

  ArchiveError over_size(std::string_view raw) const {
    return entry_error(
        ArchiveErrc::kLimitExceeded, raw,
        "archive expands past the limit of " + std::to_string(spec_.limits.max_bytes) + " bytes");
  }

  ArchiveError write_error(std::string_view raw) const {
    return entry_error(ArchiveErrc::kIo, raw, error_text(out_.get()));
  }

  void warn(archive* a) {
    if (stats_.warnings++ == 0) stats_.first_warning = error_text(a);
  }

  void count(archive_entry* e) {
    if (archive_entry_hardlink(e) != nullptr) {
      ++stats_.hard_links;
      return;
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        ++stats_.files;
        break;
      case AE_IFDIR:
        ++stats_.directories;
        break;
      case AE_IFLNK:
        ++stats_.symlinks;
        break;
      default:
        ++stats_.special_files;
    }
  }

  const archive_detail::ExtractSpec& spec_;
  FdSource src_;
  std::unique_ptr<archive, ReadFree> in_;
  std::unique_ptr<archive, WriteFree> out_;
  ExtractStats stats_;
};

// Runs `fn` on a fresh thread whose cwd is `dir_fd` and whose cwd and umask
// are its own (unshare(CLONE_FS)), so that the rest of the process never sees
// them change. The thread also switches to a UTF-8 LC_CTYPE for libarchive's
// name conversions.
template <class Fn>
ArchiveResult<ExtractStats> run_in_directory(int dir_fd, Fn&& fn) {
  std::optional<ArchiveResult<ExtractStats>> result;
  auto body = [&] {
    if (::unshare(CLONE_FS) != 0) {
      result = std::unexpected(ArchiveError{
          ArchiveErrc::kIo, "unshare(CLONE_FS) for the extraction thread: " + errno_text(errno)});
      return;
    }
    if (::fchdir(dir_fd) != 0) {
      result = std::unexpected(ArchiveError{ArchiveErrc::kIo, "fchdir: " + errno_text(errno)});
      return;
    }
    ::umask(022);
    locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t{});
    if (utf8 != locale_t{}) ::uselocale(utf8);
    result.emplace(fn());
    if (utf8 != locale_t{}) {
      ::uselocale(LC_GLOBAL_LOCALE);
      ::freelocale(utf8);
    }
  };
  try {
    std::thread(body).join();
  } catch (const std::system_error& e) {
    return std::unexpected(ArchiveError{ArchiveErrc::kIo, std::string("thread: ") + e.what()});
  }
  return std::move(*result);
}

// Makes every directory under `path` (not following symlinks) rwx for its
// owner, so that a non-root process can delete what an archive made read-only.
void make_writable(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  ::chmod(path.c_str(), (st.st_mode & 07777) | S_IRWXU);
  std::error_code ec;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    make_writable(it->path());
  }
}

}  // namespace

std::string_view to_string(ArchiveErrc code) {
  switch (code) {
    case ArchiveErrc::kNotArchive:
      return "not an archive";
    case ArchiveErrc::kCorrupt:
      return "corrupt archive";
    case ArchiveErrc::kUnsafePath:
      return "unsafe path";
    case ArchiveErrc::kLimitExceeded:
      return "limit exceeded";
    case ArchiveErrc::kUnsupportedEntry:
      return "unsupported entry";
    case ArchiveErrc::kInvalidContext:
      return "invalid build context";
    case ArchiveErrc::kInvalidArgument:
      return "invalid argument";
    case ArchiveErrc::kIo:
      return "i/o error";
  }
  return "unknown archive error";
}

ArchiveResult<void> remove_tree(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec) return {};
  make_writable(dir);
  fs::remove_all(dir, ec);
  if (!ec) return {};
  return std::unexpected(
      ArchiveError{ArchiveErrc::kIo, "remove " + dir.string() + ": " + ec.message()});
}

namespace archive_detail {

ArchiveError entry_error(ArchiveErrc code, std::string_view name, std::string_view what) {
  return {code, "entry \"" + std::string(name) + "\": " + std::string(what)};
}

int open_in_root(int root_fd, std::string_view path, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const std::string p(path);
  long fd = -1;
  for (int attempt = 0; attempt < 16; ++attempt) {  // EAGAIN: a concurrent rename
    fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
  }
  return static_cast<int>(fd);
}

ArchiveResult<void> prepare_parents(std::string_view path,
                                    const std::vector<fs::path>& lower_dirs) {
  for (auto slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    const std::string prefix(path.substr(0, slash));
    struct stat st {};
    if (::lstat(prefix.c_str(), &st) == 0) {
      if (S_ISLNK(st.st_mode)) {
        return std::unexpected(entry_error(ArchiveErrc::kUnsafePath, path,
                                           "goes through the symlink \"" + prefix + "\""));
      }
      if (!S_ISDIR(st.st_mode)) {
        return std::unexpected(entry_error(ArchiveErrc::kCorrupt, path,
                                           "parent \"" + prefix + "\" is not a directory"));
      }
      continue;
    }
    if (errno != ENOENT)
      return std::unexpected(path_errno(ArchiveErrc::kIo, "lstat", prefix, errno));
    if (::mkdir(prefix.c_str(), 0755) != 0) {
      return std::unexpected(path_errno(ArchiveErrc::kIo, "mkdir", prefix, errno));
    }
    copy_lower_metadata(prefix, lower_dirs);
  }
  return {};
}

ArchiveResult<void> remove_existing(std::string_view path, NewEntry entry) {
  const std::string p(path);
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return std::unexpected(path_errno(ArchiveErrc::kIo, "lstat", p, errno));
  }
  if (S_ISDIR(st.st_mode) && entry == NewEntry::kDirectory) return {};
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec) return std::unexpected(path_errno(ArchiveErrc::kIo, "remove", p, ec.value()));
    return {};
  }
  if (::unlink(p.c_str()) != 0)
    return std::unexpected(path_errno(ArchiveErrc::kIo, "unlink", p, errno));
  return {};
}

ArchiveResult<ExtractStats> extract(int fd, const fs::path& root, const ExtractSpec& spec) {
  if (!spec.root_exists) {
    if (::mkdir(root.c_str(), 0700) != 0) {
      const ArchiveErrc code = errno == EEXIST ? ArchiveErrc::kInvalidArgument : ArchiveErrc::kIo;
      return std::unexpected(path_errno(code, "create target", root.string(), errno));
    }
    if (::chmod(root.c_str(), spec.root_mode) != 0) {
      return std::unexpected(path_errno(ArchiveErrc::kIo, "chmod", root.string(), errno));
    }
  }
  UniqueFd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid())
    return std::unexpected(path_errno(ArchiveErrc::kIo, "open", root.string(), errno));
  return run_in_directory(root_fd.get(), [&] { return Extraction(fd, spec).run(); });
}

}  // namespace archive_detail
}  // namespace drydock::builder
