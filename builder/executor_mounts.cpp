// RUN --mount: secrets, cache directories, bind mounts and tmpfs, set up for
// one RUN step as runc mounts and undone when the step ends. What each type
// gives, as BuildKit does:
//   secret  a file with the secret's value (default /run/secrets/<id>, mode
//           0400, root), read-only; absent from every layer. required=true
//           fails the step when the build has no such secret.
//   cache   a directory kept on the server between builds
//           (cache_mount_dir/<hash of id>), read-write, never in a layer.
//           sharing=shared (default) lets steps use it at once; locked and
//           private make them take turns.
//   bind    a file or directory of the context, a stage (from=stage) or an
//           image (from=image), read-only unless rw (writes then go to a
//           throwaway copy). Its content is part of the step's cache key.
//   tmpfs   an empty in-memory file system (size= in bytes).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <mutex>

#include "builder/archive_extract.hpp"
#include "builder/executor_mounts.hpp"
#include "builder/layer_plan.hpp"
#include "builder/mount.hpp"

namespace drydock::builder::exec_detail {

namespace fs = std::filesystem;

namespace {

struct MountSpec {
  std::string type = "bind";
  std::string target;
  std::string source;
  std::string from;
  std::string id;
  std::string sharing = "shared";
  bool readonly = false;
  bool readonly_set = false;
  bool required = false;
  std::optional<mode_t> mode;
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  std::optional<std::uint64_t> size;
};

StepRes<std::uint64_t> number(std::string_view key, std::string_view v, int base = 10) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return step_error(BuildErrc::kDockerfile, "--mount: bad " + std::string(key) + " \"" +
                                                  std::string(v) + "\"");
  }
  return n;
}

bool truthy(std::string_view v) { return v.empty() || v == "true" || v == "1"; }

StepRes<MountSpec> parse_mount(std::string_view raw) {
  MountSpec m;
  std::size_t start = 0;
  while (start <= raw.size()) {
    auto comma = raw.find(',', start);
    std::string_view field =
        raw.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? raw.size() + 1 : comma + 1;
    if (field.empty()) continue;
    auto eq = field.find('=');
    std::string key(field.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? "" : field.substr(eq + 1);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key == "type") {
      m.type = value;
    } else if (key == "target" || key == "dst" || key == "destination") {
      m.target = value;
    } else if (key == "source" || key == "src") {
      m.source = value;
    } else if (key == "from") {
      m.from = value;
    } else if (key == "id") {
      m.id = value;
    } else if (key == "sharing") {
      m.sharing = value;
    } else if (key == "required") {
      m.required = truthy(value);
    } else if (key == "ro" || key == "readonly") {
      m.readonly = truthy(value);
      m.readonly_set = true;
    } else if (key == "rw" || key == "readwrite") {
      m.readonly = !truthy(value);
      m.readonly_set = true;
    } else if (key == "mode") {
      auto n = number(key, value, 8);
      if (!n) return std::unexpected(n.error());
      m.mode = static_cast<mode_t>(*n & 07777);
    } else if (key == "uid" || key == "gid") {
      auto n = number(key, value);
      if (!n) return std::unexpected(n.error());
      (key == "uid" ? m.uid : m.gid) = static_cast<std::uint32_t>(*n);
    } else if (key == "size") {
      auto n = number(key, value);
      if (!n) return std::unexpected(n.error());
      m.size = *n;
    } else if (key == "env") {
      return step_error(BuildErrc::kDockerfile, "--mount: secrets as env are not supported");
    } else {
      return step_error(BuildErrc::kDockerfile, "--mount: unknown option \"" + key + "\"");
    }
  }
  if (m.type != "bind" && m.type != "cache" && m.type != "secret" && m.type != "tmpfs") {
    return step_error(BuildErrc::kDockerfile,
                      "RUN --mount=type=" + m.type + " is not supported");
  }
  if (m.sharing != "shared" && m.sharing != "locked" && m.sharing != "private") {
    return step_error(BuildErrc::kDockerfile, "--mount: bad sharing \"" + m.sharing + "\"");
  }
  return m;
}

// One mutex per cache directory, for sharing=locked/private: steps of all
// builds on the server take turns.
std::mutex& cache_dir_mutex(const std::string& dir) {
  static std::mutex guard;
  static std::map<std::string, std::unique_ptr<std::mutex>> locks;
  std::lock_guard lock(guard);
  auto& m = locks[dir];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

std::string hex_tail(const std::string& digest) {
  auto colon = digest.find(':');
  return colon == std::string::npos ? digest : digest.substr(colon + 1);
}

}  // namespace

RunMounts::~RunMounts() {
  locks_.clear();
  views_.clear();
  for (const auto& d : scratch_) (void)remove_tree(d);
}

StepRes<std::unique_ptr<RunMounts>> RunMounts::prepare(BuildCtx& b, const StageCtx& st,
                                                       const RunCommand& run, CacheKey& key) {
  auto out = std::unique_ptr<RunMounts>(new RunMounts());
  key.add(static_cast<std::uint64_t>(run.mounts.size()));
  for (const auto& raw : run.mounts) {
    auto expanded = expand_step_word(st, b, raw);
    if (!expanded) return std::unexpected(expanded.error());
    auto spec = parse_mount(*expanded);
    if (!spec) return std::unexpected(spec.error());
    MountSpec& m = *spec;
    std::string wd = st.state.image.config.working_dir.empty() ? "/" : st.state.image.config.working_dir;
    if (!m.target.empty() && m.target.front() != '/') {
      m.target = (fs::path(wd) / m.target).lexically_normal().string();
    }
    key.add(m.type).add(m.target).add(m.from).add(m.source).add(m.id).add(m.sharing);
    key.add(std::uint64_t{m.readonly}).add(std::uint64_t{m.required});
    key.add(std::uint64_t{m.mode.value_or(0)}).add(std::uint64_t{m.uid.value_or(0)});
    key.add(std::uint64_t{m.gid.value_or(0)}).add(m.size.value_or(0));
    StepRes<void> r;
    if (m.type == "secret") {
      r = out->add_secret(b, m.id, m.target, m.required, m.mode, m.uid, m.gid);
    } else if (m.type == "cache") {
      r = out->add_cache(b, m.id, m.target, m.sharing, m.readonly, m.mode, m.uid, m.gid);
    } else if (m.type == "tmpfs") {
      if (m.target.empty()) return step_error(BuildErrc::kDockerfile, "--mount: tmpfs needs a target");
      std::vector<std::string> opts{"nosuid", "nodev", "mode=1777"};
      if (m.size) opts.push_back("size=" + std::to_string(*m.size));
      out->mounts_.push_back(ContainerMount{m.target, "tmpfs", "tmpfs", std::move(opts)});
    } else {
      bool rw = m.readonly_set && !m.readonly;
      r = out->add_bind(b, m.from, m.source, m.target, rw, key);
    }
    if (!r) return std::unexpected(r.error());
  }
  return out;
}

StepRes<void> RunMounts::add_secret(BuildCtx& b, std::string id, std::string target, bool required,
                                    std::optional<mode_t> mode, std::optional<std::uint32_t> uid,
                                    std::optional<std::uint32_t> gid) {
  if (id.empty()) id = target.empty() ? "" : fs::path(target).filename().string();
  if (id.empty()) return step_error(BuildErrc::kDockerfile, "--mount=type=secret needs an id");
  if (target.empty()) target = "/run/secrets/" + id;
  auto it = b.req.secrets.find(id);
  if (it == b.req.secrets.end()) {
    if (required) {
      return step_error(BuildErrc::kDockerfile,
                        "secret \"" + id + "\" is required but was not provided");
    }
    return {};
  }
  if (secret_dir_.empty()) {
    secret_dir_ = b.env.work_dir / unique_name("secrets");
    if (::mkdir(secret_dir_.c_str(), 0700) != 0) {
      return step_error(BuildErrc::kInternal,
                        "mkdir " + secret_dir_.string() + ": " + std::strerror(errno));
    }
    scratch_.push_back(secret_dir_);
  }
  fs::path file = secret_dir_ / ("s" + std::to_string(mounts_.size()));
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return step_error(BuildErrc::kInternal, "create secret file: " + std::string(std::strerror(errno)));
  const std::string& value = it->second;
  std::size_t off = 0;
  while (off < value.size()) {
    ssize_t n = ::write(fd, value.data() + off, value.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  bool ok = off == value.size() && ::fchown(fd, uid.value_or(0), gid.value_or(0)) == 0 &&
            ::fchmod(fd, mode.value_or(0400)) == 0;
  ::close(fd);
  if (!ok) return step_error(BuildErrc::kInternal, "write secret \"" + id + "\"");
  mounts_.push_back(ContainerMount{target, "bind", file.string(), {"rbind", "ro"}});
  return {};
}

StepRes<void> RunMounts::add_cache(BuildCtx& b, std::string id, std::string target,
                                   const std::string& sharing, bool readonly,
                                   std::optional<mode_t> mode, std::optional<std::uint32_t> uid,
                                   std::optional<std::uint32_t> gid) {
  if (target.empty()) return step_error(BuildErrc::kDockerfile, "--mount=type=cache needs a target");
  if (id.empty()) id = target;
  if (b.env.cache_mount_dir.empty()) {
    return step_error(BuildErrc::kDockerfile, "cache mounts are not available on this server");
  }
  fs::path dir = b.env.cache_mount_dir / hex_tail(CacheKey("cache-mount").add(id).str());
  std::error_code ec;
  fs::create_directories(b.env.cache_mount_dir, ec);
  if (::mkdir(dir.c_str(), mode.value_or(0755)) == 0) {
    if (::chown(dir.c_str(), uid.value_or(0), gid.value_or(0)) != 0 ||
        ::chmod(dir.c_str(), mode.value_or(0755)) != 0) {
      return step_error(BuildErrc::kInternal, "prepare cache mount " + dir.string());
    }
  } else if (errno != EEXIST) {
    return step_error(BuildErrc::kInternal,
                      "mkdir " + dir.string() + ": " + std::strerror(errno));
  }
  // The server evicts the least recently used cache directories first.
  fs::last_write_time(dir, fs::file_time_type::clock::now(), ec);
  if (sharing != "shared") locks_.emplace_back(cache_dir_mutex(dir.string()));
  mounts_.push_back(
      ContainerMount{target, "bind", dir.string(), {"rbind", readonly ? "ro" : "rw"}});
  return {};
}

StepRes<void> RunMounts::add_bind(BuildCtx& b, const std::string& from, std::string source,
                                  const std::string& target, bool rw, CacheKey& key) {
  if (target.empty()) return step_error(BuildErrc::kDockerfile, "--mount=type=bind needs a target");
  auto root = source_root(b, from);
  if (!root) return std::unexpected(root.error());
  if (source.empty()) source = "/";
  auto rel = resolve_inside(root->root, source, true);
  if (!rel) return std::unexpected(rel.error());
  fs::path path = rel->empty() ? root->root : root->root / *rel;
  struct stat sb {};
  if (::lstat(path.c_str(), &sb) != 0) {
    return step_error(BuildErrc::kContext, "--mount=type=bind: source \"" + source +
                                               "\" not found" +
                                               (from.empty() ? " in the context" : " in " + from));
  }
  // The bound content is an input of the step.
  LayerPlan plan;
  auto planned = S_ISDIR(sb.st_mode) ? plan.add_contents(path, "b") : plan.add_path(path, "b");
  if (!planned) return step_error(BuildErrc::kInternal, planned.error().message);
  if (auto h = hash_plan(key, plan); !h) return step_error(BuildErrc::kInternal, h.error());
  if (rw) {
    // Writes are thrown away: the step gets its own copy.
    fs::path copy = b.env.work_dir / unique_name("bind");
    scratch_.push_back(copy);
    std::error_code ec;
    fs::copy(path, S_ISDIR(sb.st_mode) ? copy : copy,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return step_error(BuildErrc::kInternal, "copy bind source: " + ec.message());
    path = copy;
  }
  if (root->view) views_.push_back(std::move(root->view));
  mounts_.push_back(ContainerMount{target, "bind", path.string(), {"rbind", rw ? "rw" : "ro"}});
  return {};
}

}  // namespace drydock::builder::exec_detail
