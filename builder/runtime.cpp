// The runtime's pure parts: user resolution and the OCI runtime spec.
// RuncRuntime's process handling is in runc_runtime.cpp.

#include "builder/runtime.hpp"

#include <charconv>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "builder/in_root.hpp"

namespace drydock::builder {
namespace {

using nlohmann::json;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return out;
    s.remove_prefix(pos + 1);
  }
}

// A uid/gid as runc accepts it: decimal, 0 .. 2^31-1.
std::optional<std::uint32_t> parse_id(std::string_view s) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v > 0x7fffffffu) {
    return std::nullopt;
  }
  return v;
}

// BuildKit's fast path: both parts numeric ("root" counts as 0).
std::optional<std::uint32_t> parse_fast_id(std::string_view s) {
  return s == "root" ? std::optional<std::uint32_t>(0) : parse_id(s);
}

struct PasswdEntry {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

struct GroupEntry {
  std::string name;
  std::uint32_t gid = 0;
  std::vector<std::string> members;
};

// passwd(5) lines "name:pw:uid:gid:gecos:home:shell"; malformed lines skipped.
std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> out;
  for (auto line : split(text, '\n')) {
    auto f = split(line, ':');
    if (f.size() < 4 || line.starts_with('#')) continue;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (uid && gid) out.push_back({std::string(f[0]), *uid, *gid});
  }
  return out;
}

// group(5) lines "name:pw:gid:member,member".
std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> out;
  for (auto line : split(text, '\n')) {
    auto f = split(line, ':');
    if (f.size() < 3 || line.starts_with('#')) continue;
    auto gid = parse_id(f[2]);
    if (!gid) continue;
    GroupEntry g{std::string(f[0]), *gid, {}};
    if (f.size() > 3 && !f[3].empty()) {
      for (auto m : split(f[3], ',')) g.members.emplace_back(m);
    }
    out.push_back(std::move(g));
  }
  return out;
}

ExecError not_found(std::string what, std::string_view name, std::string_view file) {
  return {ExecErrc::kNotFound, "unable to find " + what + " " + std::string(name) +
                                   ": no matching entries in " + std::string(file) + " file"};
}

// Applies the group part of a USER value (runc's GetExecUser rules).
ExecResult<void> resolve_group(User& u, std::string_view user_name, std::string_view group_arg,
                               const std::optional<std::string>& group_file) {
  auto groups = group_file ? parse_group(*group_file) : std::vector<GroupEntry>{};
  if (group_arg.empty()) {
    for (const auto& g : groups) {
      for (const auto& m : g.members) {
        if (m == user_name) u.additional_gids.push_back(g.gid);
      }
    }
    return {};
  }
  auto gid_arg = parse_id(group_arg);
  for (const auto& g : groups) {
    if (gid_arg ? g.gid == *gid_arg : g.name == group_arg) {
      u.gid = g.gid;
      return {};
    }
  }
  if (!gid_arg) return std::unexpected(not_found("group", group_arg, "group"));
  u.gid = *gid_arg;
  return {};
}

json capabilities() {
  // Docker's (and containerd's) default set. Inheritable stays empty, as since
  // Docker 20.10.14 / containerd 1.6.2 (CVE-2022-24769).
  json caps = {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
               "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
               "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
               "CAP_KILL",    "CAP_AUDIT_WRITE"};
  return {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
}

json process(const RunSpec& s, const OciSpecContext& ctx) {
  json user = {{"uid", s.user.uid}, {"gid", s.user.gid}};
  if (!s.user.additional_gids.empty()) user["additionalGids"] = s.user.additional_gids;
  return {
      {"terminal", false},
      {"user", user},
      {"args", s.args},
      {"env", s.env},
      {"cwd", in_root::clean(s.cwd)},
      {"capabilities", capabilities()},
      {"rlimits",
       json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", ctx.nofile}, {"soft", ctx.nofile}}})},
      // BuildKit allows setuid binaries in RUN (oci.WithNewPrivileges).
      {"noNewPrivileges", false},
  };
}

json mount(std::string_view dest, std::string_view type, std::string_view source,
           std::vector<std::string> options) {
  json m = {{"destination", dest}, {"type", type}, {"source", source}};
  if (!options.empty()) m["options"] = std::move(options);
  return m;
}

// BuildKit's GetMounts plus the cgroup mount it adds, then the bind mounts of
// /etc/hosts and /etc/resolv.conf, then the caller's.
json mounts(const RunSpec& s, const OciSpecContext& ctx) {
  json m = json::array({
      mount("/proc", "proc", "proc", {}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      mount("/sys/fs/cgroup", "cgroup", "cgroup", {"ro", "nosuid", "noexec", "nodev"}),
  });
  const std::vector<std::string> ro_bind = {"nosuid", "noexec", "nodev", "rbind", "ro"};
  m.push_back(mount("/etc/resolv.conf", "bind", ctx.resolv_conf.string(), ro_bind));
  m.push_back(mount("/etc/hosts", "bind", ctx.hosts_file.string(), ro_bind));
  for (const auto& x : s.mounts) m.push_back(mount(x.destination, x.type, x.source, x.options));
  return m;
}

json devices() {
  // Deny everything, then allow what runc and Docker allow by default: mknod
  // of any node, and use of null, zero, full, random, urandom, tty, console,
  // ptmx, the pts slaves and tun.
  auto allow = [](std::string type, std::int64_t major, std::int64_t minor, std::string access) {
    json d = {{"allow", true}, {"type", type}, {"access", access}};
    if (major >= 0) d["major"] = major;
    if (minor >= 0) d["minor"] = minor;
    return d;
  };
  return json::array({
      {{"allow", false}, {"access", "rwm"}},
      allow("c", -1, -1, "m"),
      allow("b", -1, -1, "m"),
      allow("c", 1, 3, "rwm"),
      allow("c", 1, 5, "rwm"),
      allow("c", 1, 7, "rwm"),
      allow("c", 1, 8, "rwm"),
      allow("c", 1, 9, "rwm"),
      allow("c", 5, 0, "rwm"),
      allow("c", 5, 1, "rwm"),
      allow("c", 5, 2, "rwm"),
      allow("c", 136, -1, "rwm"),
      allow("c", 10, 200, "rwm"),
  });
}

json linux_section(const RunSpec& s, const OciSpecContext& ctx) {
  json ns =
      json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (s.network == NetworkMode::kNone) ns.push_back({{"type", "network"}});
  json resources = {{"devices", devices()}};
  if (s.limits.memory_bytes) resources["memory"] = {{"limit", *s.limits.memory_bytes}};
  if (s.limits.pids) resources["pids"] = {{"limit", *s.limits.pids}};
  return {
      {"namespaces", ns},
      // Docker's defaults (moby oci/defaults.go).
      {"maskedPaths",
       {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
      {"cgroupsPath", ctx.cgroups_path},
      {"resources", resources},
  };
}

}  // namespace

ExecResult<User> resolve_user(std::string_view spec, const std::filesystem::path& rootfs) {
  if (spec.empty()) return User{};
  auto colon = spec.find(':');
  std::string_view user_arg = spec.substr(0, colon);
  std::string_view group_arg = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  if (colon != std::string_view::npos) {
    auto uid = parse_fast_id(user_arg);
    auto gid = parse_fast_id(group_arg);
    if (uid && gid) return User{*uid, *gid, {}};
  }
  storage::UniqueFd root = in_root::open_root(rootfs);
  if (!root.valid()) {
    return std::unexpected(ExecError{ExecErrc::kIo, "cannot open rootfs " + rootfs.string()});
  }
  auto passwd = in_root::read_file(root.get(), "/etc/passwd");
  auto group = in_root::read_file(root.get(), "/etc/group");
  auto uid_arg = parse_id(user_arg);
  User u;
  std::string name;
  bool matched = false;
  for (const auto& e : parse_passwd(passwd.value_or(""))) {
    if (uid_arg ? e.uid == *uid_arg : e.name == user_arg) {
      u = User{e.uid, e.gid, {}};
      name = e.name;
      matched = true;
      break;
    }
  }
  if (!matched) {
    if (!uid_arg) return std::unexpected(not_found("user", user_arg, "passwd"));
    u = User{*uid_arg, 0, {}};  // numeric and unknown: runs with gid 0
  }
  if (!group_arg.empty() || !name.empty()) {
    if (auto r = resolve_group(u, name, group_arg, group); !r) return std::unexpected(r.error());
  }
  return u;
}

std::string oci_spec_json(const RunSpec& spec, const OciSpecContext& ctx) {
  json doc = {
      {"ociVersion", "1.0.2"},
      {"process", process(spec, ctx)},
      {"root", {{"path", ctx.rootfs.string()}, {"readonly", false}}},
      {"hostname", spec.hostname},
      {"mounts", mounts(spec, ctx)},
      {"linux", linux_section(spec, ctx)},
  };
  return doc.dump(2);
}

std::optional<std::filesystem::path> own_cgroup_dir(std::string_view controller) {
  // /proc/self/cgroup: "ID:controller,list:/path" (v1) or "0::/path" (v2).
  std::ifstream cg("/proc/self/cgroup");
  std::string v1_path, v2_path;
  for (std::string line; std::getline(cg, line);) {
    auto f = split(line, ':');
    if (f.size() < 3) continue;
    std::string path(line.substr(f[0].size() + f[1].size() + 2));
    if (f[1].empty()) v2_path = path;
    for (auto c : split(f[1], ',')) {
      if (c == controller) v1_path = path;
    }
  }
  // /proc/self/mountinfo: "id parent dev root mountpoint opts - fstype source
  // superopts". A mount's root is where in the hierarchy it starts (not "/"
  // inside a container without a cgroup namespace).
  struct Found {
    std::string root, point;
  };
  std::ifstream mi("/proc/self/mountinfo");
  std::optional<Found> v1_mount, v2_mount;
  for (std::string line; std::getline(mi, line);) {
    std::istringstream in(line);
    std::string id, parent, dev, root, point;
    in >> id >> parent >> dev >> root >> point;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, opts;
    tail >> fstype >> source >> opts;
    // The first mount of the hierarchy's top wins over bind mounts of parts.
    auto better = [&](const std::optional<Found>& have) { return !have || have->root != "/"; };
    if (fstype == "cgroup2" && better(v2_mount)) v2_mount = Found{root, point};
    if (fstype == "cgroup" && better(v1_mount)) {
      for (auto o : split(opts, ',')) {
        if (o == controller) v1_mount = Found{root, point};
      }
    }
  }
  auto join = [](const Found& m, std::string_view path) -> std::optional<std::filesystem::path> {
    if (m.root != "/") {
      if (!path.starts_with(m.root)) return std::nullopt;  // our cgroup is not visible there
      path.remove_prefix(m.root.size());
    }
    return std::filesystem::path(m.point) / std::filesystem::path(path).relative_path();
  };
  if (!controller.empty() && v1_mount && !v1_path.empty()) return join(*v1_mount, v1_path);
  if (v2_mount) return join(*v2_mount, v2_path.empty() ? "/" : v2_path);
  return std::nullopt;
}

}  // namespace drydock::builder
