#include "builder/snapshotter.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ranges>
#include <system_error>

#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using storage::UniqueFd;

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 200 || !std::isalnum(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

ExecResult<void> check_name(std::string_view what, std::string_view s) {
  if (valid_name(s)) return {};
  return std::unexpected(
      ExecError{ExecErrc::kInvalidArgument,
                "invalid snapshot " + std::string(what) + " \"" + std::string(s) + "\""});
}

// ':' separates overlay lower layers, so it cannot appear in a directory name
// that goes into lowerdir=; '+' is not allowed in names, so the mapping is 1:1.
std::string dir_name(std::string_view name) {
  std::string out(name);
  std::ranges::replace(out, ':', '+');
  return out;
}

bool is_dir(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

ExecResult<void> make_dir(const fs::path& p, mode_t mode) {
  if (::mkdir(p.c_str(), mode) == 0 || errno == EEXIST) return {};
  return std::unexpected(io_error("mkdir", p, errno));
}

ExecResult<void> write_lines(const fs::path& path, std::span<const std::string> lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
  out.flush();
  if (!out) return std::unexpected(io_error("write", path, EIO));
  return {};
}

ExecResult<std::vector<std::string>> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(io_error("read", path, errno ? errno : ENOENT));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

// Flushes everything written on the snapshot filesystem (a committed layer is
// thousands of files: one syncfs beats an fsync each), then makes `dir`'s
// entries durable.
ExecResult<void> sync_filesystem(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return std::unexpected(io_error("open", dir, errno));
  if (::syncfs(fd.get()) != 0) return std::unexpected(io_error("syncfs", dir, errno));
  return {};
}

ExecResult<void> fsync_dir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) return std::unexpected(io_error("fsync", dir, errno));
  return {};
}

std::string lowerdir_option(std::span<const fs::path> lowers_topmost_first) {
  std::string opt = "lowerdir=";
  for (std::size_t i = 0; i < lowers_topmost_first.size(); ++i) {
    if (i != 0) opt += ':';
    opt += lowers_topmost_first[i].string();
  }
  return opt;
}

// Why each: index=off lets one upper be mounted over different lowers (and is
// what containerd passes); metacopy=off and redirect_dir=off make every change
// a full copy in the upper dir, so a differ that walks only the upper dir sees
// file data and renamed directories as they are.
constexpr std::string_view kOverlayTuning[] = {"index=off", "metacopy=off", "redirect_dir=off"};

}  // namespace

ExecResult<std::unique_ptr<OverlaySnapshotter>> OverlaySnapshotter::open(
    fs::path root, SnapshotDurability durability) {
  if (!root.is_absolute() || root.string().find_first_of(",:") != std::string::npos) {
    return std::unexpected(
        ExecError{ExecErrc::kInvalidArgument,
                  "snapshot root must be absolute and free of ',' and ':': " + root.string()});
  }
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return std::unexpected(io_error("create", root, ec.value()));
  for (const char* sub : {"committed", "active", "empty", "trash"}) {
    if (auto r = make_dir(root / sub, 0711); !r) return std::unexpected(r.error());
  }
  if (durability == SnapshotDurability::kRebuildable) {
    fs::path mark = root / "in-use";
    if (fs::exists(mark, ec)) {
      // Unflushed snapshots of a process that died: none can be trusted.
      for (const auto& entry : fs::directory_iterator(root / "committed", ec)) {
        fs::path to = root / "trash" / ("stale-" + random_hex(8));
        if (::rename(entry.path().c_str(), to.c_str()) != 0) fs::remove_all(entry.path(), ec);
      }
    } else if (int fd = ::open(mark.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
      ::fsync(fd);
      ::close(fd);
      (void)fsync_dir(root);
    } else {
      return std::unexpected(io_error("create", mark, errno));
    }
  }
  for (const auto& entry : fs::directory_iterator(root / "trash", ec)) {
    fs::remove_all(entry.path(), ec);
  }
  return std::unique_ptr<OverlaySnapshotter>(new OverlaySnapshotter(std::move(root), durability));
}

OverlaySnapshotter::~OverlaySnapshotter() {
  if (durability_ != SnapshotDurability::kRebuildable) return;
  // Everything committed is flushed before the mark goes: the next open
  // trusts the snapshots.
  if (sync_filesystem(root_)) {
    std::error_code ec;
    fs::remove(root_ / "in-use", ec);
    (void)fsync_dir(root_);
  }
}

fs::path OverlaySnapshotter::committed_dir(std::string_view name) const {
  return root_ / "committed" / dir_name(name);
}

fs::path OverlaySnapshotter::active_dir(std::string_view key) const {
  return root_ / "active" / dir_name(key);
}

ExecResult<void> OverlaySnapshotter::check_parents(std::span<const std::string> parents) const {
  if (parents.size() > kMaxLayers) {
    return std::unexpected(
        ExecError{ExecErrc::kTooManyLayers,
                  "overlayfs stacks at most 500 layers, got " + std::to_string(parents.size())});
  }
  for (const auto& p : parents) {
    if (auto r = check_name("parent", p); !r) return r;
    if (!is_dir(committed_dir(p))) {
      return std::unexpected(ExecError{ExecErrc::kNotFound, "no committed snapshot \"" + p + "\""});
    }
  }
  return {};
}

std::vector<Mount> OverlaySnapshotter::active_mounts(std::string_view key,
                                                     std::span<const std::string> parents) const {
  fs::path dir = active_dir(key);
  if (parents.empty()) return {Mount{"bind", (dir / "fs").string(), {"rw", "rbind"}}};
  std::vector<fs::path> lowers;
  for (const auto& p : std::views::reverse(parents)) lowers.push_back(committed_dir(p));
  Mount m{"overlay", "overlay", {}};
  for (auto t : kOverlayTuning) m.options.emplace_back(t);
  m.options.push_back(lowerdir_option(lowers));
  m.options.push_back("upperdir=" + (dir / "fs").string());
  m.options.push_back("workdir=" + (dir / "work").string());
  return {m};
}

ExecResult<std::vector<Mount>> OverlaySnapshotter::prepare(std::string_view key,
                                                           std::span<const std::string> parents) {
  if (auto r = check_name("key", key); !r) return std::unexpected(r.error());
  if (auto r = check_parents(parents); !r) return std::unexpected(r.error());
  if (is_dir(committed_dir(key))) {
    return std::unexpected(
        ExecError{ExecErrc::kAlreadyExists, "snapshot \"" + std::string(key) + "\" exists"});
  }
  // Build the whole directory in trash/, then rename it into place: the key
  // appears complete or not at all, and a taken key fails the rename.
  fs::path tmp = root_ / "trash" / ("prepare-" + random_hex(8));
  ExecResult<void> built = make_dir(tmp, 0711);
  if (built) built = make_dir(tmp / "fs", 0755);
  if (built) built = make_dir(tmp / "work", 0700);
  if (built) built = write_lines(tmp / "parents", parents);
  if (built && ::rename(tmp.c_str(), active_dir(key).c_str()) == 0) {
    return active_mounts(key, parents);
  }
  int err = errno;
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (!built) return std::unexpected(built.error());
  if (err == EEXIST || err == ENOTEMPTY) {
    return std::unexpected(
        ExecError{ExecErrc::kAlreadyExists, "snapshot \"" + std::string(key) + "\" exists"});
  }
  return std::unexpected(io_error("rename into", active_dir(key), err));
}

ExecResult<std::vector<Mount>> OverlaySnapshotter::mounts(std::string_view key) {
  if (auto r = check_name("key", key); !r) return std::unexpected(r.error());
  fs::path dir = active_dir(key);
  if (!is_dir(dir)) {
    return std::unexpected(
        ExecError{ExecErrc::kNotFound, "no active snapshot \"" + std::string(key) + "\""});
  }
  auto parents = read_lines(dir / "parents");
  if (!parents) return std::unexpected(parents.error());
  return active_mounts(key, *parents);
}

ExecResult<std::vector<Mount>> OverlaySnapshotter::view(std::span<const std::string> parents) {
  if (auto r = check_parents(parents); !r) return std::unexpected(r.error());
  // Overlayfs without an upper dir needs two lower layers; fewer is a bind.
  if (parents.empty())
    return std::vector{Mount{"bind", (root_ / "empty").string(), {"ro", "rbind"}}};
  if (parents.size() == 1) {
    return std::vector{Mount{"bind", committed_dir(parents[0]).string(), {"ro", "rbind"}}};
  }
  std::vector<fs::path> lowers;
  for (const auto& p : std::views::reverse(parents)) lowers.push_back(committed_dir(p));
  Mount m{"overlay", "overlay", {"ro"}};
  for (auto t : kOverlayTuning) m.options.emplace_back(t);
  m.options.push_back(lowerdir_option(lowers));
  return std::vector{m};
}

ExecResult<void> OverlaySnapshotter::commit(std::string_view key, std::string_view name) {
  if (auto r = check_name("key", key); !r) return r;
  if (auto r = check_name("name", name); !r) return r;
  fs::path active = active_dir(key);
  if (!is_dir(active)) {
    return std::unexpected(
        ExecError{ExecErrc::kNotFound, "no active snapshot \"" + std::string(key) + "\""});
  }
  if (is_dir(active_dir(name))) {
    return std::unexpected(
        ExecError{ExecErrc::kAlreadyExists, "\"" + std::string(name) + "\" is an active snapshot"});
  }
  fs::path target = committed_dir(name);
  if (!is_dir(target)) {
    if (durability_ == SnapshotDurability::kSynced) {
      if (auto r = sync_filesystem(active / "fs"); !r) return r;
    }
    if (::rename((active / "fs").c_str(), target.c_str()) != 0) {
      // Lost a race to an identical commit: that one stands, ours is discarded.
      if (errno != EEXIST && errno != ENOTEMPTY) {
        return std::unexpected(io_error("rename into", target, errno));
      }
    } else if (durability_ == SnapshotDurability::kSynced) {
      if (auto r = fsync_dir(root_ / "committed"); !r) return r;
    }
  }
  return move_to_trash(active);
}

ExecResult<void> OverlaySnapshotter::remove(std::string_view key) {
  if (auto r = check_name("key", key); !r) return r;
  for (const fs::path& dir : {active_dir(key), committed_dir(key)}) {
    if (is_dir(dir)) return move_to_trash(dir);
  }
  return std::unexpected(
      ExecError{ExecErrc::kNotFound, "no snapshot \"" + std::string(key) + "\""});
}

ExecResult<void> OverlaySnapshotter::move_to_trash(const fs::path& path) {
  fs::path tmp = root_ / "trash" / ("remove-" + random_hex(8));
  if (::rename(path.c_str(), tmp.c_str()) != 0) {
    if (errno == ENOENT) {
      return std::unexpected(ExecError{ExecErrc::kNotFound, "no snapshot at " + path.string()});
    }
    return std::unexpected(io_error("rename", path, errno));
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (ec) return std::unexpected(io_error("remove", tmp, ec.value()));
  return {};
}

bool OverlaySnapshotter::exists(std::string_view name) {
  return valid_name(name) && is_dir(committed_dir(name));
}

ExecResult<fs::path> OverlaySnapshotter::upper_dir(std::string_view key) {
  if (auto r = check_name("key", key); !r) return std::unexpected(r.error());
  fs::path dir = active_dir(key) / "fs";
  if (!is_dir(dir)) {
    return std::unexpected(
        ExecError{ExecErrc::kNotFound, "no active snapshot \"" + std::string(key) + "\""});
  }
  return dir;
}

}  // namespace drydock::builder
