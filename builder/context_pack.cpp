#include "builder/context_pack.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "builder/dockerignore.hpp"
#include "builder/tar_writer.hpp"

namespace drydock::builder {
namespace {

// Piece size for file reads; libarchive regroups them into 64 KiB blocks.
constexpr std::size_t kReadPiece = std::size_t{64} * 1024;
// Largest ignore file read (the server's max_dockerfile_bytes default).
constexpr std::uintmax_t kMaxIgnoreFileBytes = 16U << 20;

struct FileId {
  dev_t dev;
  ino_t ino;
  friend auto operator<=>(const FileId&, const FileId&) = default;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// The names in directory `path` except "." and "..", sorted bytewise.
LayerResult<std::vector<std::string>> list_dir(const std::filesystem::path& path) {
  std::unique_ptr<DIR, DirCloser> dir(::opendir(path.c_str()));
  if (!dir) return errno_error("open directory", path.string(), errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* d = ::readdir(dir.get())) {
    std::string_view name = d->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  if (errno != 0) return errno_error("read directory", path.string(), errno);
  std::sort(names.begin(), names.end());
  return names;
}

LayerResult<std::string> read_link(const std::filesystem::path& path) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return errno_error("read symlink", path.string(), errno);
    if (static_cast<std::size_t>(n) < target.size()) {
      target.resize(static_cast<std::size_t>(n));
      return target;
    }
    target.resize(target.size() * 2);
  }
}

// The patterns of the ignore file `name` in `dir`; none if it does not exist.
LayerResult<DockerIgnore> load_ignore(const std::filesystem::path& dir, const std::string& name) {
  auto path = dir / name;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return DockerIgnore{};
    return errno_error("stat", path.string(), errno);
  }
  if (static_cast<std::uintmax_t>(st.st_size) > kMaxIgnoreFileBytes) {
    return std::unexpected(LayerError{LayerErrorCode::kInvalidPath, name + " is too large"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("open", path.string(), errno);
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = DockerIgnore::parse(text.str());
  if (!parsed) {
    return std::unexpected(LayerError{
        LayerErrorCode::kInvalidPath,
        name + ":" + std::to_string(parsed.error().line) + ": " + parsed.error().message});
  }
  return std::move(*parsed);
}

// Walks the context depth first and writes what it sends to the tar.
class Packer {
 public:
  Packer(const ContextPackOptions& options, DockerIgnore ignore, TarWriter& tar)
      : options_(options), ignore_(std::move(ignore)), tar_(tar), buffer_(kReadPiece) {
    if (!options.dockerfile.empty()) forced_.push_back(clean_path(options.dockerfile));
    bool replaced = std::any_of(options.extra_files.begin(), options.extra_files.end(),
                                [&](const ExtraFile& f) { return f.name == options.ignore_file; });
    if (replaced) {
      replaced_ = clean_path(options.ignore_file);
    } else {
      forced_.push_back(clean_path(options.ignore_file));
    }
  }

  // Sends everything below the directory `rel` ("" for the root).
  LayerResult<void> walk_dir(const std::string& rel) {
    auto names = list_dir(path_of(rel));
    if (!names) return std::unexpected(names.error());
    for (const std::string& name : *names) {
      std::string child = rel.empty() ? name : rel + "/" + name;
      struct stat st {};
      if (::lstat(path_of(child).c_str(), &st) != 0) {
        return errno_error("stat", path_of(child).string(), errno);
      }
      if (auto r = visit(child, st); !r) return r;
    }
    return {};
  }

  LayerResult<void> write_extra(const ExtraFile& file) {
    TarHeader h{.name = file.name, .type = S_IFREG, .perm = 0644};
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    h.mtime = now.tv_sec;
    h.size = file.content.size();
    if (!describe(h, now)) return {};
    if (auto r = tar_.write_header(h); !r) return r;
    ++stats_.entries;
    stats_.file_bytes += file.content.size();
    return tar_.write_data(std::as_bytes(std::span(file.content)));
  }

  const PackStats& stats() const { return stats_; }

 private:
  std::filesystem::path path_of(const std::string& rel) const {
    return rel.empty() ? options_.dir : options_.dir / rel;
  }

  // Tells on_entry about the entry; whether to write it.
  bool describe(const TarHeader& h, const timespec& mtime) {
    ++stats_.walked;
    if (options_.on_entry) {
      PackedEntry e{.name = h.name,
                    .type = h.type,
                    .perm = h.perm,
                    .uid = h.owner.uid,
                    .gid = h.owner.gid,
                    .size = h.size};
      e.mtime_ns = std::int64_t{mtime.tv_sec} * 1'000'000'000 + mtime.tv_nsec;
      e.symlink = h.symlink;
      e.hardlink = h.hardlink;
      if (!e.hardlink.empty()) e.size = 0;
      options_.on_entry(e);
    }
    return !options_.send || options_.send(h.name);
  }

  bool forced(const std::string& rel) const {
    return std::find(forced_.begin(), forced_.end(), rel) != forced_.end();
  }

  // True if a path that is always sent lies below directory `rel`.
  bool forced_below(const std::string& rel) const {
    return std::any_of(forced_.begin(), forced_.end(), [&](const std::string& f) {
      return f.size() > rel.size() && f.starts_with(rel) && f[rel.size()] == '/';
    });
  }

  LayerResult<void> visit(const std::string& rel, const struct stat& st) {
    mode_t type = st.st_mode & S_IFMT;
    if (type == S_IFSOCK || type == S_IFCHR || type == S_IFBLK) {
      ++stats_.skipped;
      return {};
    }
    if (rel == replaced_) return {};
    if (!ignore_.excluded(rel) || forced(rel)) {
      if (auto r = flush_pending(); !r) return r;
      if (auto r = write_entry(rel, st); !r) return r;
      return type == S_IFDIR ? walk_dir(rel) : LayerResult<void>{};
    }
    if (type != S_IFDIR || (ignore_.can_skip_dir(rel) && !forced_below(rel))) {
      ++stats_.ignored;
      return {};
    }
    // An excluded directory that an exception (or a forced path) may reach
    // into: look inside, and send its header only if something below is sent.
    pending_.emplace_back(rel, st);
    auto r = walk_dir(rel);
    if (!pending_.empty() && pending_.back().first == rel) {
      pending_.pop_back();
      ++stats_.ignored;
    }
    return r;
  }

  LayerResult<void> flush_pending() {
    for (const auto& [rel, st] : pending_) {
      if (auto r = write_entry(rel, st); !r) return r;
    }
    pending_.clear();
    return {};
  }

  LayerResult<void> write_entry(const std::string& rel, const struct stat& st) {
    TarHeader h{.name = rel, .type = st.st_mode & S_IFMT, .perm = st.st_mode & 07777};
    h.owner = Owner{st.st_uid, st.st_gid};
    h.mtime = st.st_mtim.tv_sec;
    if (h.type == S_IFLNK) {
      auto target = read_link(path_of(rel));
      if (!target) return std::unexpected(target.error());
      h.symlink = std::move(*target);
    } else if (h.type == S_IFREG) {
      h.size = static_cast<std::uint64_t>(st.st_size);
      if (st.st_nlink > 1) {
        auto [it, first] = links_.try_emplace(FileId{st.st_dev, st.st_ino}, rel);
        if (!first) h.hardlink = it->second;
      }
    }
    if (!describe(h, st.st_mtim)) return {};
    if (auto r = tar_.write_header(h); !r) return r;
    ++stats_.entries;
    if (h.type != S_IFREG || !h.hardlink.empty()) return {};
    return send_file(rel, h.size);
  }

  // Sends exactly `size` bytes of the file (its size when it was listed).
  LayerResult<void> send_file(const std::string& rel, std::uint64_t size) {
    auto path = path_of(rel);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) return errno_error("open", path.string(), errno);
    for (std::uint64_t left = size; left > 0;) {
      std::size_t want = std::min<std::uint64_t>(left, buffer_.size());
      ssize_t n = ::read(fd.get(), buffer_.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("read", path.string(), errno);
      if (n == 0) {
        return std::unexpected(
            LayerError{LayerErrorCode::kIo, path.string() + " shrank while it was being sent"});
      }
      auto piece = std::span(buffer_.data(), static_cast<std::size_t>(n));
      if (auto r = tar_.write_data(piece); !r) return r;
      left -= static_cast<std::uint64_t>(n);
    }
    stats_.file_bytes += size;
    return {};
  }

  const ContextPackOptions& options_;
  DockerIgnore ignore_;
  TarWriter& tar_;
  std::vector<std::byte> buffer_;
  std::vector<std::string> forced_;  // the Dockerfile and the ignore file
  std::string replaced_;             // the real ignore file when an extra file replaces it
  std::vector<std::pair<std::string, struct stat>> pending_;  // excluded dirs not sent yet
  std::map<FileId, std::string> links_;                       // first name of each linked file
  PackStats stats_;
};

}  // namespace

std::string ignore_file_for(const std::filesystem::path& dir, const std::string& dockerfile) {
  if (!dockerfile.empty()) {
    std::string specific = clean_path(dockerfile) + ".dockerignore";
    std::error_code ec;
    if (std::filesystem::exists(dir / specific, ec)) return specific;
  }
  return ".dockerignore";
}

LayerResult<PackStats> pack_context(const ContextPackOptions& options, LayerSink& out) {
  auto ignore = load_ignore(options.dir, options.ignore_file);
  if (!ignore) return std::unexpected(ignore.error());
  auto tar = TarWriter::open(out);
  if (!tar) return std::unexpected(tar.error());
  Packer packer(options, std::move(*ignore), **tar);
  if (auto r = packer.walk_dir(""); !r) return std::unexpected(r.error());
  for (const ExtraFile& file : options.extra_files) {
    if (auto r = packer.write_extra(file); !r) return std::unexpected(r.error());
  }
  if (auto r = (*tar)->close(); !r) return std::unexpected(r.error());
  return packer.stats();
}

}  // namespace drydock::builder
