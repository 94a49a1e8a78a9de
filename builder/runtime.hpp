#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "builder/mount.hpp"

namespace drydock::builder {

// The identity a container process runs as (numeric, as the kernel sees it).
struct User {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> additional_gids;

  bool operator==(const User&) const = default;
};

// Resolves a Dockerfile USER value, "user[:group]", against the rootfs's
// /etc/passwd and /etc/group, as BuildKit does (runc's GetExecUser rules):
// "uid:gid" both numeric needs no files; a numeric uid absent from passwd runs
// with gid 0; a name absent from passwd is kNotFound; without an explicit group
// the user's supplementary groups come from /etc/group. "" means root. Files
// are opened inside `rootfs` (symlinks cannot lead out of it).
ExecResult<User> resolve_user(std::string_view spec, const std::filesystem::path& rootfs);

enum class NetworkMode {
  kNone,  // a new network namespace with only `lo` (docker build's default sandbox)
  kHost,  // the host's network namespace (RUN --network=host)
};

enum class OutputStream { kStdout, kStderr };

// A mount inside the container, as the OCI runtime spec writes it (RUN
// --mount=type=bind/tmpfs/cache later): {destination, type, source, options}.
struct ContainerMount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

struct Limits {
  std::optional<std::uint64_t> memory_bytes;  // cgroup memory limit
  std::optional<std::int64_t> pids;           // cgroup pids.max
};

// Receives the container's output as it comes, in chunks, on the thread that
// called run(). stdout and stderr are separate pipes, so their relative order
// is only approximate.
using OutputCallback = std::function<void(OutputStream, std::string_view)>;

// One process to run in a container.
struct RunSpec {
  // The rootfs: mounts from a Snapshotter (mounted by the runtime), or, if
  // empty, the directory `rootfs_path` (bind-mounted).
  std::vector<Mount> rootfs_mounts;
  std::filesystem::path rootfs_path;

  std::vector<std::string> args;  // argv; args[0] is looked up in env's PATH
  std::vector<std::string> env;   // "K=V", exactly what the process gets
  std::string cwd = "/";          // created (owned by `user`) if missing
  User user;
  std::string hostname = "buildkitsandbox";  // what docker build's RUN sees
  std::vector<ContainerMount> mounts;        // after the standard ones
  NetworkMode network = NetworkMode::kNone;
  Limits limits;
  std::chrono::milliseconds timeout{0};  // 0: none
  std::stop_token stop;                  // a stop request kills the container
  OutputCallback on_output;              // may be empty: output is dropped
};

enum class Termination {
  kExited,     // the process ended by itself (exit or signal)
  kTimedOut,   // killed because `timeout` passed
  kCancelled,  // killed because `stop` was requested
};

struct RunResult {
  // As a shell reports it: the exit status, or 128 + signal number if the
  // process died of a signal (137 for SIGKILL).
  int exit_code = 0;
  Termination termination = Termination::kExited;
  std::chrono::milliseconds duration{0};
  std::string container_id;  // for logs; gone by the time run() returns
};

// Runs one process in a container and waits for it.
class Runtime {
 public:
  virtual ~Runtime() = default;

  // Runs `spec` to completion. A process that fails is a RunResult with its
  // exit code; errors are for what stopped it from running at all (bad spec,
  // mount failure, the runtime refusing: "executable not found" included).
  // Nothing outlives the call: no process, mount, cgroup or runtime state.
  virtual ExecResult<RunResult> run(const RunSpec& spec) = 0;
};

// Where RuncRuntime keeps its state.
struct RuncOptions {
  std::filesystem::path runc = "/usr/sbin/runc";
  std::filesystem::path state_root;       // runc --root; Drydock's alone
  std::filesystem::path bundle_root;      // one bundle directory per running container
  std::string cgroup_parent = "drydock";  // relative: under the server's own cgroups
};

// What goes into config.json besides the RunSpec (RuncRuntime fills it in).
struct OciSpecContext {
  std::filesystem::path rootfs;       // absolute path of the mounted rootfs
  std::string cgroups_path;           // linux.cgroupsPath
  std::filesystem::path hosts_file;   // bound read-only on /etc/hosts
  std::filesystem::path resolv_conf;  // bound read-only on /etc/resolv.conf
  std::uint64_t nofile = 1048576;     // RLIMIT_NOFILE soft and hard
};

// The OCI runtime-spec 1.0.2 config.json for `spec`, shaped like the one
// BuildKit gives a docker build RUN step (see runtime.cpp for what differs).
std::string oci_spec_json(const RunSpec& spec, const OciSpecContext& ctx);

// The cgroup directory of this process for `controller` ("memory", "pids",
// "name=systemd"): the v1 hierarchy that has it, else the unified one ("" asks
// for the unified one directly). nullopt if none is mounted.
std::optional<std::filesystem::path> own_cgroup_dir(std::string_view controller);

// Runs containers with runc (`runc run`, foreground, output through pipes).
//
// Per run: a bundle directory under bundle_root, the rootfs mounted in it,
// config.json, /etc/hosts and /etc/resolv.conf files, a container id
// "drydock-<random>" and cgroups "<cgroup_parent>/<id>" below the server's
// own. Every step of the setup has a guard, undone in reverse on every path:
// runc delete -f, stub mount points removed from the rootfs (as BuildKit does),
// unmount, bundle removed.
//
// Cancel and timeout: `runc kill ID KILL`, retried until `runc run` returns
// (the container may still be starting), then the guards above; if runc
// itself hangs for 10 s after the first kill, it is killed too.
//
// Thread-safe: runs share nothing but the directories.
class RuncRuntime final : public Runtime {
 public:
  // Checks the runc binary, creates the directories and clears what a previous
  // server left behind (cleanup_stale).
  static ExecResult<std::unique_ptr<RuncRuntime>> open(RuncOptions options);

  ExecResult<RunResult> run(const RunSpec& spec) override;

  // Deletes every container in state_root and every container whose bundle
  // is left in bundle_root (runc delete -f, then SIGKILL to what is still in
  // its cgroups), then unmounts and removes the bundles. For startup: a
  // server that died mid-build leaves them. Returns how many bundles went.
  ExecResult<std::size_t> cleanup_stale();

  const RuncOptions& options() const { return options_; }

 private:
  RuncRuntime(RuncOptions options, std::uint64_t nofile,
              std::vector<std::filesystem::path> cgroup_bases)
      : options_(std::move(options)), nofile_(nofile), cgroup_bases_(std::move(cgroup_bases)) {}

  std::vector<std::string> runc_command(std::initializer_list<std::string> args) const;
  void kill_cgroup(const std::string& id) const;
  ExecResult<RunResult> supervise(const RunSpec& spec, const std::filesystem::path& bundle,
                                  const std::string& id);

  RuncOptions options_;
  std::uint64_t nofile_;  // RLIMIT_NOFILE for containers: min(1048576, our hard limit)
  // <own cgroup dir>/<cgroup_parent> in every hierarchy: where containers' cgroups
  // appear, and where a safety net rmdirs them after `runc delete`.
  std::vector<std::filesystem::path> cgroup_bases_;
};

}  // namespace drydock::builder
