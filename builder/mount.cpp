#include "builder/mount.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

using storage::UniqueFd;

ExecError mount_error(std::string what, const std::filesystem::path& target, int err) {
  return {ExecErrc::kMount, what + " " + target.string() + ": " + std::strerror(err)};
}

// Mount flags by option word, as mount(8) and containerd spell them. `set`
// flags are or-ed in, `clear` flags are removed (for words like "rw", "dev").
struct FlagWord {
  std::string_view word;
  unsigned long set;
  unsigned long clear;
};

constexpr FlagWord kFlagWords[] = {
    {"async", 0, MS_SYNCHRONOUS},
    {"atime", 0, MS_NOATIME},
    {"bind", MS_BIND, 0},
    {"defaults", 0, 0},
    {"dev", 0, MS_NODEV},
    {"diratime", 0, MS_NODIRATIME},
    {"dirsync", MS_DIRSYNC, 0},
    {"exec", 0, MS_NOEXEC},
    {"noatime", MS_NOATIME, 0},
    {"nodev", MS_NODEV, 0},
    {"nodiratime", MS_NODIRATIME, 0},
    {"noexec", MS_NOEXEC, 0},
    {"nosuid", MS_NOSUID, 0},
    {"rbind", MS_BIND | MS_REC, 0},
    {"relatime", MS_RELATIME, 0},
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"strictatime", MS_STRICTATIME, 0},
    {"suid", 0, MS_NOSUID},
    {"sync", MS_SYNCHRONOUS, 0},
};

constexpr FlagWord kPropagationWords[] = {
    {"private", MS_PRIVATE, 0},       {"rprivate", MS_PRIVATE | MS_REC, 0},
    {"shared", MS_SHARED, 0},         {"rshared", MS_SHARED | MS_REC, 0},
    {"slave", MS_SLAVE, 0},           {"rslave", MS_SLAVE | MS_REC, 0},
    {"unbindable", MS_UNBINDABLE, 0}, {"runbindable", MS_UNBINDABLE | MS_REC, 0},
};

struct ParsedOptions {
  unsigned long flags = 0;
  unsigned long propagation = 0;
  std::vector<std::string> data;  // filesystem-specific words, in order
};

const FlagWord* find_word(std::span<const FlagWord> table, std::string_view word) {
  for (const auto& w : table) {
    if (w.word == word) return &w;
  }
  return nullptr;
}

ParsedOptions parse_options(std::span<const std::string> options) {
  ParsedOptions out;
  for (const auto& o : options) {
    if (const FlagWord* w = find_word(kFlagWords, o)) {
      out.flags = (out.flags | w->set) & ~w->clear;
    } else if (const FlagWord* p = find_word(kPropagationWords, o)) {
      out.propagation |= p->set;
    } else {
      out.data.push_back(o);
    }
  }
  return out;
}

std::string join(std::span<const std::string> words, char sep) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += sep;
    out += w;
  }
  return out;
}

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// Reads the messages a filesystem context logged ("e overlayfs: ..."), which say
// far more than errno does.
std::string context_messages(int fs_fd) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fs_fd, buf, sizeof buf);
    if (n <= 0) break;
    if (!out.empty()) out += "; ";
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

unsigned int mount_attrs(unsigned long flags) {
  unsigned int attrs = 0;
  if (flags & MS_RDONLY) attrs |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID) attrs |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NODEV) attrs |= MOUNT_ATTR_NODEV;
  if (flags & MS_NOEXEC) attrs |= MOUNT_ATTR_NOEXEC;
  if (flags & MS_NOATIME) attrs |= MOUNT_ATTR_NOATIME;
  return attrs;
}

// Passes one overlay data word to a filesystem context; "lowerdir=a:b:c"
// becomes one "lowerdir+" per layer, which lifts the one-page limit.
ExecResult<void> configure_word(int fs_fd, const std::string& word) {
  auto eq = word.find('=');
  int rc = 0;
  if (eq == std::string::npos) {
    rc = ::fsconfig(fs_fd, FSCONFIG_SET_FLAG, word.c_str(), nullptr, 0);
  } else if (word.starts_with("lowerdir=")) {
    std::string_view rest = std::string_view(word).substr(eq + 1);
    while (rc == 0 && !rest.empty()) {
      auto colon = rest.find(':');
      std::string layer(rest.substr(0, colon));
      rc = ::fsconfig(fs_fd, FSCONFIG_SET_STRING, "lowerdir+", layer.c_str(), 0);
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
  } else {
    std::string key = word.substr(0, eq);
    rc = ::fsconfig(fs_fd, FSCONFIG_SET_STRING, key.c_str(), word.c_str() + eq + 1, 0);
  }
  if (rc == 0) return {};
  int err = errno;
  std::string why = std::strerror(err);
  std::string log = context_messages(fs_fd);
  if (!log.empty()) why += " (" + log + ")";
  ExecErrc code = word.starts_with("lowerdir=") ? ExecErrc::kTooManyLayers : ExecErrc::kMount;
  std::string hint = code == ExecErrc::kTooManyLayers
                         ? ": the lowerdir option exceeds one page and this kernel rejects "
                           "lowerdir+ (needs Linux >= 6.5); use fewer layers"
                         : "";
  return std::unexpected(
      ExecError{code, "overlay option " + word.substr(0, eq) + ": " + why + hint});
}

// Mounts an overlay whose data does not fit mount(2)'s one page, with fsopen,
// fsconfig, fsmount and move_mount.
ExecResult<void> mount_overlay_new_api(const ParsedOptions& opts,
                                       const std::filesystem::path& target) {
  UniqueFd fs_fd(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs_fd.valid()) return std::unexpected(mount_error("fsopen overlay for", target, errno));
  for (const auto& word : opts.data) {
    if (auto r = configure_word(fs_fd.get(), word); !r) return r;
  }
  if (::fsconfig(fs_fd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int err = errno;
    ExecError e = mount_error("create overlay for", target, err);
    e.message += " (" + context_messages(fs_fd.get()) + ")";
    return std::unexpected(e);
  }
  UniqueFd mnt(::fsmount(fs_fd.get(), FSMOUNT_CLOEXEC, mount_attrs(opts.flags)));
  if (!mnt.valid()) return std::unexpected(mount_error("fsmount overlay for", target, errno));
  if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return std::unexpected(mount_error("move_mount overlay to", target, errno));
  }
  return {};
}

// A bind mount ignores most flags on the first call: they need a remount.
ExecResult<void> remount_bind(unsigned long flags, const std::filesystem::path& target) {
  unsigned long extra = flags & ~(MS_BIND | MS_REC);
  if (extra == 0) return {};
  if (::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | extra, nullptr) != 0) {
    int err = errno;
    ::umount2(target.c_str(), MNT_DETACH);
    return std::unexpected(mount_error("remount bind", target, err));
  }
  return {};
}

ExecResult<void> mount_one(const Mount& m, const std::filesystem::path& target) {
  ParsedOptions opts = parse_options(m.options);
  std::string data = join(opts.data, ',');
  if (data.size() + 1 > page_size()) {
    if (m.type != "overlay") {
      return std::unexpected(ExecError{ExecErrc::kInvalidArgument,
                                       "mount data for " + target.string() + " exceeds a page"});
    }
    if (auto r = mount_overlay_new_api(opts, target); !r) return r;
  } else {
    const char* type = (opts.flags & MS_BIND) ? nullptr : m.type.c_str();
    if (::mount(m.source.c_str(), target.c_str(), type, opts.flags, data.c_str()) != 0) {
      return std::unexpected(
          mount_error("mount " + m.type + " " + m.source + " on", target, errno));
    }
    if (opts.flags & MS_BIND) {
      if (auto r = remount_bind(opts.flags, target); !r) return r;
    }
  }
  if (opts.propagation != 0 &&
      ::mount(nullptr, target.c_str(), nullptr, opts.propagation, nullptr) != 0) {
    int err = errno;
    ::umount2(target.c_str(), MNT_DETACH);
    return std::unexpected(mount_error("set propagation of", target, err));
  }
  return {};
}

}  // namespace

std::string_view to_string(ExecErrc e) {
  switch (e) {
    case ExecErrc::kInvalidArgument:
      return "invalid argument";
    case ExecErrc::kNotFound:
      return "not found";
    case ExecErrc::kAlreadyExists:
      return "already exists";
    case ExecErrc::kIo:
      return "i/o error";
    case ExecErrc::kMount:
      return "mount failed";
    case ExecErrc::kTooManyLayers:
      return "too many layers";
    case ExecErrc::kRuntime:
      return "runtime error";
  }
  return "unknown execution error";
}

ExecResult<void> mount_all(std::span<const Mount> mounts, const std::filesystem::path& target) {
  for (std::size_t i = 0; i < mounts.size(); ++i) {
    if (auto r = mount_one(mounts[i], target); !r) {
      for (std::size_t j = 0; j < i; ++j) (void)unmount(target);
      return r;
    }
  }
  return {};
}

ExecResult<void> unmount(const std::filesystem::path& target) {
  using namespace std::chrono_literals;
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return {};
    int err = errno;
    if (err == EINVAL || err == ENOENT) return {};  // not (or no longer) a mount point
    if (err != EBUSY) return std::unexpected(mount_error("unmount", target, err));
    std::this_thread::sleep_for(10ms);
  }
  // Still busy after half a second (a process holds a file in it): detach, so
  // the path is free and the kernel finishes once the last user lets go.
  if (::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return {};
  return std::unexpected(mount_error("detach", target, errno));
}

MountGuard::MountGuard(MountGuard&& o) noexcept
    : target_(std::move(o.target_)), layers_(std::exchange(o.layers_, 0)) {}

MountGuard& MountGuard::operator=(MountGuard&& o) noexcept {
  if (this != &o) {
    (void)reset();
    target_ = std::move(o.target_);
    layers_ = std::exchange(o.layers_, 0);
  }
  return *this;
}

ExecResult<void> MountGuard::reset() {
  ExecResult<void> first;
  for (; layers_ > 0; --layers_) {
    auto r = unmount(target_);
    if (!r && first) first = r;
  }
  return first;
}

ExecResult<MountGuard> mount_guarded(std::span<const Mount> mounts,
                                     const std::filesystem::path& target) {
  if (auto r = mount_all(mounts, target); !r) return std::unexpected(r.error());
  return MountGuard(target, mounts.size());
}

ExecError io_error(std::string what, const std::filesystem::path& path, int err) {
  return {ExecErrc::kIo, what + " " + path.string() + ": " + std::strerror(err)};
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  std::size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(buf.data() + got, bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace drydock::builder
