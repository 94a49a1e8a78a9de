#include "builder/context.hpp"

#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>
#include <vector>

#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using archive_detail::EntryAction;
using storage::UniqueFd;

constexpr std::string_view kDockerIgnore = ".dockerignore";

ArchiveError context_error(std::string what) {
  return {ArchiveErrc::kInvalidContext, std::move(what)};
}

ArchiveError io_error(std::string_view what, const fs::path& path, const std::error_code& ec) {
  return {ArchiveErrc::kIo, std::string(what) + " \"" + path.string() + "\": " + ec.message()};
}

// Context entries keep mode and mtime only. Devices are not created.
ArchiveResult<EntryAction> context_entry(archive_entry* e, ExtractStats& stats) {
  const auto type = archive_entry_filetype(e);
  if (archive_entry_hardlink(e) == nullptr &&
      (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK)) {
    ++stats.skipped;
    return EntryAction::kSkip;
  }
  // Not restored anyway without ARCHIVE_EXTRACT_OWNER; matching the process
  // keeps libarchive from clearing set-user/group-ID bits for a mismatch.
  archive_entry_set_uid(e, ::geteuid());
  archive_entry_set_gid(e, ::getegid());
  archive_entry_copy_uname(e, nullptr);
  archive_entry_copy_gname(e, nullptr);
  archive_entry_xattr_clear(e);
  archive_entry_acl_clear(e);
  archive_entry_set_fflags(e, 0, 0);
  return EntryAction::kWrite;
}

// The validated Dockerfile location, or an error for an unusable one.
ArchiveResult<std::string> dockerfile_location(const std::string& requested) {
  if (requested.empty()) return std::string();
  std::string clean = clean_path(requested);
  if (requested.front() == '/' || clean == "." || clean == ".." || clean.starts_with("../")) {
    return std::unexpected(
        ArchiveError{ArchiveErrc::kInvalidArgument,
                     "Dockerfile path \"" + requested + "\" must be a file inside the context"});
  }
  return clean;
}

// Reads `path` inside the context (symlinks resolved within it). nullopt if
// there is no such file.
ArchiveResult<std::optional<std::string>> read_context_file(int root_fd, const std::string& path,
                                                            std::size_t max_bytes) {
  // O_NONBLOCK: opening a fifo must not wait for a writer.
  UniqueFd fd(archive_detail::open_in_root(root_fd, path, O_RDONLY | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    return std::unexpected(io_error("open", path, std::error_code(errno, std::generic_category())));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return std::unexpected(context_error("\"" + path + "\" is not a regular file"));
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return std::unexpected(
        ArchiveError{ArchiveErrc::kLimitExceeded,
                     "\"" + path + "\" is larger than " + std::to_string(max_bytes) + " bytes"});
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return std::unexpected(
          io_error("read", path, std::error_code(errno, std::generic_category())));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  return text;
}

// Removes the paths `ignore` excludes below one directory; restores the
// directory's times if it changed. Recursion depth is bounded by the path
// length limit.
class Pruner {
 public:
  explicit Pruner(const DockerIgnore& ignore) : ignore_(ignore) {}

  // Returns whether anything is left in `dir` (`rel` below the root).
  ArchiveResult<bool> prune(const fs::path& dir, const std::string& rel) {
    struct stat before {};
    if (::lstat(dir.c_str(), &before) != 0) {
      return std::unexpected(
          io_error("lstat", dir, std::error_code(errno, std::generic_category())));
    }
    auto children = list(dir);
    if (!children) return std::unexpected(children.error());
    bool changed = false;
    bool kept_any = false;
    for (const auto& [name, is_dir] : *children) {
      const std::string child_rel = rel.empty() ? name : rel + "/" + name;
      auto kept = visit(dir / name, child_rel, is_dir);
      if (!kept) return std::unexpected(kept.error());
      kept_any = kept_any || *kept;
      changed = changed || !*kept;
    }
    if (changed) {
      const timespec times[2] = {before.st_atim, before.st_mtim};
      ::utimensat(AT_FDCWD, dir.c_str(), times, AT_SYMLINK_NOFOLLOW);
    }
    return kept_any;
  }

  std::uint64_t removed() const { return removed_; }
  std::vector<std::string> take_removed_paths() { return std::move(removed_paths_); }

 private:
  // Returns whether `path` is still there afterwards.
  ArchiveResult<bool> visit(const fs::path& path, const std::string& rel, bool is_dir) {
    const bool excluded = ignore_.excluded(rel);
    if (is_dir && !(excluded && ignore_.can_skip_dir(rel))) {
      auto kept = prune(path, rel);
      if (!kept) return kept;
      if (*kept || !excluded) return true;
    } else if (!excluded) {
      return true;
    }
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return std::unexpected(io_error("remove", path, ec));
    ++removed_;
    removed_paths_.push_back(rel);
    return false;
  }

  // Child names and whether each is a real directory (symlinks are not).
  static ArchiveResult<std::vector<std::pair<std::string, bool>>> list(const fs::path& dir) {
    std::vector<std::pair<std::string, bool>> children;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const bool is_dir = it->symlink_status(ec).type() == fs::file_type::directory;
      if (ec) break;
      children.emplace_back(it->path().filename().string(), is_dir);
    }
    if (ec) return std::unexpected(io_error("list", dir, ec));
    return children;
  }

  const DockerIgnore& ignore_;
  std::uint64_t removed_ = 0;
  std::vector<std::string> removed_paths_;
};

// Finds, parses and applies the ignore file; fills the ignore fields.
ArchiveResult<void> apply_ignore_file(int root_fd, const fs::path& dir,
                                      const std::string& dockerfile, const ContextOptions& options,
                                      ExtractedContext& out) {
  std::vector<std::string> candidates;
  if (!dockerfile.empty()) candidates.push_back(dockerfile + std::string(kDockerIgnore));
  candidates.emplace_back(kDockerIgnore);
  for (const std::string& name : candidates) {
    auto text = read_context_file(root_fd, name, options.max_dockerfile_bytes);
    if (!text) return std::unexpected(text.error());
    if (!*text) continue;
    auto parsed = DockerIgnore::parse(**text);
    if (!parsed) {
      return std::unexpected(context_error(name + " line " + std::to_string(parsed.error().line) +
                                           ": " + parsed.error().message));
    }
    out.ignore_file = name;
    out.ignore = std::move(*parsed);
    break;
  }
  if (out.ignore.empty()) return {};
  Pruner pruner(out.ignore);
  if (auto kept = pruner.prune(dir, ""); !kept) return std::unexpected(kept.error());
  out.ignored_paths = pruner.removed();
  out.ignored = pruner.take_removed_paths();
  return {};
}

// After extraction: reads the Dockerfile, applies the ignore file.
ArchiveResult<ExtractedContext> finish_context(const fs::path& dir, const std::string& dockerfile,
                                               const ContextOptions& options,
                                               ExtractedContext out) {
  UniqueFd root_fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) {
    return std::unexpected(io_error("open", dir, std::error_code(errno, std::generic_category())));
  }
  if (!dockerfile.empty()) {
    auto text = read_context_file(root_fd.get(), dockerfile, options.max_dockerfile_bytes);
    if (!text) return std::unexpected(text.error());
    out.dockerfile = std::move(*text);
  }
  if (auto ok = apply_ignore_file(root_fd.get(), dir, dockerfile, options, out); !ok) {
    return std::unexpected(ok.error());
  }
  return out;
}

// Extracts with `spec` (limits from `options`), then reads the Dockerfile
// and applies the ignore file.
ArchiveResult<ExtractedContext> extract_and_finish(int fd, const fs::path& dir,
                                                   const ContextOptions& options,
                                                   archive_detail::ExtractSpec spec) {
  auto dockerfile = dockerfile_location(options.dockerfile_path);
  if (!dockerfile) return std::unexpected(dockerfile.error());
  spec.limits = options.limits;
  ExtractedContext out;
  auto stats = archive_detail::extract(fd, dir, spec);
  if (!stats) return std::unexpected(stats.error());
  out.stats = std::move(*stats);
  return finish_context(dir, *dockerfile, options, std::move(out));
}

}  // namespace

ArchiveResult<ExtractedContext> extract_context(int fd, const fs::path& dir,
                                                const ContextOptions& options) {
  archive_detail::ExtractSpec spec;
  spec.root_mode = 0700;
  spec.hook = [](archive_entry* e, const std::string&, ExtractStats& stats) {
    return context_entry(e, stats);
  };
  return extract_and_finish(fd, dir, options, std::move(spec));
}

ArchiveResult<ExtractedContext> update_context(
    int fd, const fs::path& dir, const ContextOptions& options,
    const std::function<bool(const std::string& path)>& allowed) {
  archive_detail::ExtractSpec spec;
  spec.root_exists = true;
  spec.hook = [&allowed](archive_entry* e, const std::string& path,
                         ExtractStats& stats) -> ArchiveResult<EntryAction> {
    if (!allowed(path)) {
      return std::unexpected(archive_detail::entry_error(ArchiveErrc::kInvalidContext, path,
                                                         "was not asked for"));
    }
    return context_entry(e, stats);
  };
  return extract_and_finish(fd, dir, options, std::move(spec));
}

ArchiveResult<ExtractedContext> extract_context(const fs::path& archive, const fs::path& dir,
                                                const ContextOptions& options) {
  UniqueFd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return std::unexpected(
        io_error("open", archive, std::error_code(errno, std::generic_category())));
  }
  return extract_context(fd.get(), dir, options);
}

}  // namespace drydock::builder
