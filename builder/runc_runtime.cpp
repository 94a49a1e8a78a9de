// RuncRuntime: bundles, runc processes, output pumping, kill and cleanup.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "builder/in_root.hpp"
#include "builder/runtime.hpp"

extern char** environ;

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using storage::UniqueFd;
using Clock = std::chrono::steady_clock;

constexpr auto kKillRetry = 200ms;     // runc kill again while the container is starting
constexpr auto kRuncGrace = 10s;       // after the first kill, before killing runc itself
constexpr auto kDrainGrace = 2s;       // output still arriving after runc exited
constexpr auto kCommandTimeout = 30s;  // runc kill / delete / list

ExecError runtime_error(std::string message) { return {ExecErrc::kRuntime, std::move(message)}; }

int ms_until(Clock::time_point t) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 60'000));
}

// A child process, killed and reaped if it is still running when destroyed, so
// that no return path leaves a runc process behind.
class Child {
 public:
  Child(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)) {}
  Child& operator=(Child&&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
  }

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }

  // The wait status if the child has exited (reaping it), else nullopt.
  std::optional<int> try_wait() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    return std::nullopt;
  }

  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
};

struct Spawned {
  Child child;
  UniqueFd out;  // stdout (and stderr, if merged); non-blocking
  UniqueFd err;  // stderr when separate
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

ExecResult<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(io_error("pipe", "", errno));
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  ::fcntl(p.read.get(), F_SETFL, O_NONBLOCK);
  return p;
}

enum class StderrTo { kOwnPipe, kStdoutPipe };

// posix_spawn with stdin from /dev/null, output into pipes, every other fd
// closed, default signal dispositions and its own process group (a terminal's
// ^C reaches the server, which then cancels properly).
ExecResult<Spawned> spawn(const std::vector<std::string>& argv, StderrTo stderr_to) {
  auto out = make_pipe();
  if (!out) return std::unexpected(out.error());
  std::optional<Pipe> err;
  if (stderr_to == StderrTo::kOwnPipe) {
    auto p = make_pipe();
    if (!p) return std::unexpected(p.error());
    err = std::move(*p);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out->write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err ? err->write.get() : out->write.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return std::unexpected(runtime_error("spawn " + argv[0] + ": " + std::strerror(rc)));
  Child child(pid, UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))));
  if (child.pidfd() < 0) return std::unexpected(runtime_error("pidfd_open failed"));
  return Spawned{std::move(child), std::move(out->read), err ? std::move(err->read) : UniqueFd{}};
}

// Reads what is available from a non-blocking fd. Returns false at end of file
// (or on an error other than EAGAIN), after which the fd is done.
bool read_some(int fd, std::string& chunk) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      chunk.assign(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    chunk.clear();
    return n < 0 && errno == EAGAIN;
  }
}

struct CommandResult {
  int status = 0;
  std::string output;  // stdout and stderr
};

// Runs a short command (runc kill, delete, list) to completion, collecting its
// output; killed after kCommandTimeout.
ExecResult<CommandResult> run_command(const std::vector<std::string>& argv) {
  auto sp = spawn(argv, StderrTo::kStdoutPipe);
  if (!sp) return std::unexpected(sp.error());
  auto deadline = Clock::now() + kCommandTimeout;
  CommandResult r;
  std::string chunk;
  while (sp->out.valid()) {
    pollfd p{sp->out.get(), POLLIN, 0};
    if (::poll(&p, 1, ms_until(deadline)) == 0 && Clock::now() >= deadline) break;
    if (!read_some(sp->out.get(), chunk)) sp->out.reset();
    r.output += chunk;
  }
  if (sp->out.valid()) ::kill(sp->child.pid(), SIGKILL);
  r.status = sp->child.wait();
  return r;
}

bool succeeded(const ExecResult<CommandResult>& r) {
  return r && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

ExecResult<void> write_file(const fs::path& path, std::string_view content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return std::unexpected(io_error("create", path, errno));
  while (!content.empty()) {
    ssize_t n = ::write(fd.get(), content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::unexpected(io_error("write", path, errno));
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// BuildKit's /etc/hosts for a RUN step.
std::string hosts_file(const std::string& hostname) {
  return "127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
}

// The host's resolv.conf; in a private network namespace, loopback name
// servers mean nothing, so they go, and Google's stand in if none is left
// (BuildKit's rule, from Docker's).
std::string resolv_conf(NetworkMode mode) {
  std::string host = read_text("/etc/resolv.conf");
  if (mode == NetworkMode::kHost) return host;
  std::string out;
  bool has_server = false;
  std::istringstream in(host);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, addr;
    words >> key >> addr;
    if (key == "nameserver") {
      if (addr.starts_with("127.") || addr == "::1") continue;
      has_server = true;
    }
    out += line + "\n";
  }
  if (!has_server) out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
  return out;
}

// The bundle directory: config.json, hosts, resolv.conf, runc.log and the
// rootfs mount point. Removed file by file, never recursively: if the rootfs
// were somehow still mounted, a recursive delete would eat the snapshot.
class Bundle {
 public:
  static constexpr const char* kFiles[] = {"config.json", "hosts", "resolv.conf", "runc.log"};

  explicit Bundle(fs::path dir) : dir_(std::move(dir)) {}
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;
  ~Bundle() { remove(dir_); }

  static void remove(const fs::path& dir) {
    for (const char* f : kFiles) ::unlink((dir / f).c_str());
    ::rmdir((dir / "rootfs").c_str());
    ::rmdir(dir.c_str());
  }

  const fs::path& dir() const { return dir_; }
  fs::path rootfs() const { return dir_ / "rootfs"; }

 private:
  fs::path dir_;
};

// Mount points runc creates in the rootfs for bind mounts that have nowhere
// to go (/etc/hosts in a rootfs without one): removed again after the run if
// still empty, so they do not end up in the layer. BuildKit's MountStubsCleaner.
class StubCleaner {
 public:
  StubCleaner(UniqueFd root, std::vector<std::string> paths)
      : root_(std::move(root)), paths_(std::move(paths)) {}
  StubCleaner(const StubCleaner&) = delete;
  StubCleaner& operator=(const StubCleaner&) = delete;
  // Runs before the rootfs is unmounted, and closes the rootfs fd, which
  // would otherwise keep the mount busy.
  ~StubCleaner() {
    for (const auto& p : paths_) in_root::remove_if_empty(root_.get(), p);
  }

 private:
  UniqueFd root_;
  std::vector<std::string> paths_;  // deepest first, per mount
};

// Deletes the container's runc state and cgroups when destroyed. After a
// normal exit, `runc run` has already done so and this costs one stat.
class ContainerGuard {
 public:
  ContainerGuard(std::vector<std::string> delete_cmd, fs::path state_dir,
                 std::vector<fs::path> cgroup_dirs)
      : delete_cmd_(std::move(delete_cmd)),
        state_dir_(std::move(state_dir)),
        cgroup_dirs_(std::move(cgroup_dirs)) {}
  ContainerGuard(const ContainerGuard&) = delete;
  ContainerGuard& operator=(const ContainerGuard&) = delete;
  ~ContainerGuard() {
    struct stat st;
    if (::stat(state_dir_.c_str(), &st) == 0) (void)run_command(delete_cmd_);
    for (const auto& d : cgroup_dirs_) ::rmdir(d.c_str());  // empty by now; ENOENT is normal
  }

 private:
  std::vector<std::string> delete_cmd_;
  fs::path state_dir_;
  std::vector<fs::path> cgroup_dirs_;
};

// The first error runc logged (JSON lines: {"level":"error","msg":...}).
std::optional<std::string> runc_logged_error(const fs::path& log) {
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("level", "") == "error") return j.value("msg", "runc failed");
  }
  return std::nullopt;
}

std::vector<fs::path> hierarchy_dirs(const std::string& parent) {
  std::vector<fs::path> out;
  std::ifstream cg("/proc/self/cgroup");
  for (std::string line; std::getline(cg, line);) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string one = controllers.substr(0, controllers.find(','));
    if (auto dir = own_cgroup_dir(one)) out.push_back(*dir / parent);
  }
  return out;
}

// The rootfs of one run, mounted in the bundle. Destroyed in reverse: the
// stub cleaner (which holds a descriptor on the mount) first, then the mount.
struct MountedRootfs {
  MountGuard mount;
  std::unique_ptr<StubCleaner> stubs;
};

std::vector<std::string> mount_stubs(int root_fd, const RunSpec& spec) {
  std::vector<std::string> stubs;
  auto add = [&](std::string_view dest) {
    auto missing = in_root::missing_paths(root_fd, dest);
    stubs.insert(stubs.end(), missing.begin(), missing.end());
  };
  add("/etc/resolv.conf");
  add("/etc/hosts");
  for (const auto& m : spec.mounts) add(m.destination);
  return stubs;
}

// Mounts the rootfs on `target`, notes which mount points runc will have to
// create, and creates the working directory if missing (owned by the step's
// user, as BuildKit does).
ExecResult<MountedRootfs> mount_rootfs(const RunSpec& spec, const fs::path& target) {
  std::vector<Mount> mounts = spec.rootfs_mounts;
  if (mounts.empty()) {
    if (spec.rootfs_path.empty()) {
      return std::unexpected(ExecError{ExecErrc::kInvalidArgument, "no rootfs"});
    }
    mounts.push_back(Mount{"bind", spec.rootfs_path.string(), {"rbind"}});
  }
  MountedRootfs out;
  auto guard = mount_guarded(mounts, target);
  if (!guard) return std::unexpected(guard.error());
  out.mount = std::move(*guard);
  UniqueFd root = in_root::open_root(target);
  if (!root.valid()) return std::unexpected(io_error("open", target, errno));
  std::vector<std::string> stubs = mount_stubs(root.get(), spec);
  if (!in_root::open(root.get(), in_root::clean(spec.cwd), O_PATH | O_DIRECTORY).valid()) {
    auto made = in_root::mkdir_all(root.get(), spec.cwd, spec.user.uid, spec.user.gid);
    if (!made) return std::unexpected(made.error());
  }
  out.stubs = std::make_unique<StubCleaner>(std::move(root), std::move(stubs));
  return out;
}

// Watches one `runc run`: forwards its output, turns a stop request or the
// deadline into kills, and reaps it. Single-threaded: one poll loop.
class Supervisor {
 public:
  Supervisor(const RunSpec& spec, Spawned& runc, int wake_fd, std::function<bool()> kill)
      : spec_(spec), runc_(runc), wake_fd_(wake_fd), kill_(std::move(kill)) {
    if (spec.timeout.count() > 0) deadline_ = Clock::now() + spec.timeout;
  }

  // Returns runc's wait status once it has exited and its output is drained
  // (or kDrainGrace passed); `termination()` then says why it ended.
  int wait() {
    while (!done()) {
      pollfd fds[4] = {{runc_.out.get(), POLLIN, 0},
                       {runc_.err.get(), POLLIN, 0},
                       {status_ ? -1 : runc_.child.pidfd(), POLLIN, 0},
                       {wake_fd_, POLLIN, 0}};
      ::poll(fds, 4, poll_timeout());
      forward(runc_.out, fds[0].revents, OutputStream::kStdout);
      forward(runc_.err, fds[1].revents, OutputStream::kStderr);
      auto now = Clock::now();
      std::uint64_t n;
      bool woken = fds[3].revents != 0 && ::read(wake_fd_, &n, sizeof n) == sizeof n;
      decide(woken, now);
      if (!status_ && (status_ = runc_.child.try_wait())) drain_until_ = now + kDrainGrace;
      if (!status_ && next_kill_ && now >= *next_kill_) kill(now);
    }
    return *status_;
  }

  Termination termination() const { return termination_; }

 private:
  bool done() const {
    return status_ && ((!runc_.out.valid() && !runc_.err.valid()) || Clock::now() >= *drain_until_);
  }

  int poll_timeout() const {
    int ms = -1;
    for (auto t : {status_ ? drain_until_ : std::nullopt, next_kill_,
                   termination_ == Termination::kExited ? deadline_ : std::nullopt}) {
      if (t) ms = ms < 0 ? ms_until(*t) : std::min(ms, ms_until(*t));
    }
    return ms;
  }

  void forward(UniqueFd& fd, short revents, OutputStream stream) {
    if (!fd.valid() || revents == 0) return;
    if (!read_some(fd.get(), chunk_)) fd.reset();
    if (!chunk_.empty() && spec_.on_output) spec_.on_output(stream, chunk_);
  }

  // The first of stop and deadline decides how the run ends.
  void decide(bool woken, Clock::time_point now) {
    if (status_ || termination_ != Termination::kExited) return;
    if (woken) {
      termination_ = Termination::kCancelled;
    } else if (deadline_ && now >= *deadline_) {
      termination_ = Termination::kTimedOut;
    }
    if (termination_ != Termination::kExited) next_kill_ = now;
  }

  // `runc kill` fails while the container is still being created, so it is
  // retried until runc exits; runc itself goes if it hangs on regardless.
  void kill(Clock::time_point now) {
    if (!first_kill_) first_kill_ = now;
    next_kill_ = now + (kill_() ? 5 * kKillRetry : kKillRetry);
    if (now - *first_kill_ > kRuncGrace) ::kill(runc_.child.pid(), SIGKILL);
  }

  const RunSpec& spec_;
  Spawned& runc_;
  int wake_fd_;
  std::function<bool()> kill_;
  Termination termination_ = Termination::kExited;
  std::optional<Clock::time_point> deadline_, next_kill_, first_kill_, drain_until_;
  std::optional<int> status_;
  std::string chunk_;
};

}  // namespace

ExecResult<std::unique_ptr<RuncRuntime>> RuncRuntime::open(RuncOptions options) {
  if (::access(options.runc.c_str(), X_OK) != 0) {
    return std::unexpected(io_error("runc binary", options.runc, errno));
  }
  if (!options.state_root.is_absolute() || !options.bundle_root.is_absolute()) {
    return std::unexpected(ExecError{ExecErrc::kInvalidArgument,
                                     "runc's state and bundle roots must be absolute paths"});
  }
  std::error_code ec;
  for (const auto& dir : {options.state_root, options.bundle_root}) {
    fs::create_directories(dir, ec);
    if (ec) return std::unexpected(io_error("create", dir, ec.value()));
  }
  // Images expect many open files (Docker gives 1048576), but runc cannot
  // raise a hard limit above its own.
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  std::uint64_t nofile = std::min<std::uint64_t>(1048576, lim.rlim_max);
  auto bases = hierarchy_dirs(options.cgroup_parent);
  std::unique_ptr<RuncRuntime> rt(new RuncRuntime(std::move(options), nofile, std::move(bases)));
  if (auto r = rt->cleanup_stale(); !r) return std::unexpected(r.error());
  return rt;
}

// SIGKILLs whatever still runs in container `id`'s cgroups (what runc delete
// missed), waits up to 5 s for them to empty, and removes them.
void RuncRuntime::kill_cgroup(const std::string& id) const {
  auto deadline = Clock::now() + 5s;
  for (const auto& base : cgroup_bases_) {
    fs::path dir = base / id;
    for (;;) {
      std::ifstream procs(dir / "cgroup.procs");
      if (!procs) break;
      bool any = false;
      for (pid_t pid; procs >> pid;) {
        any = true;
        ::kill(pid, SIGKILL);
      }
      if (!any || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(10ms);
    }
    ::rmdir(dir.c_str());
  }
}

std::vector<std::string> RuncRuntime::runc_command(std::initializer_list<std::string> args) const {
  std::vector<std::string> argv = {options_.runc.string(), "--root", options_.state_root.string()};
  argv.insert(argv.end(), args);
  return argv;
}

ExecResult<std::size_t> RuncRuntime::cleanup_stale() {
  auto listed = run_command(runc_command({"list", "-q"}));
  if (!succeeded(listed)) {
    return std::unexpected(runtime_error("runc list: " + (listed ? listed->output : "")));
  }
  // Containers runc knows, and any whose bundle is left: a dead server's
  // `runc run` may not have recorded its container's state yet.
  std::set<std::string> ids;
  std::istringstream listed_ids(listed->output);
  for (std::string id; std::getline(listed_ids, id);) {
    if (id.starts_with("drydock-")) ids.insert(id);
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.bundle_root, ec)) {
    ids.insert(entry.path().filename().string());
  }
  for (const auto& id : ids) {
    (void)run_command(runc_command({"delete", "-f", id}));
    kill_cgroup(id);
  }
  std::size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(options_.bundle_root, ec)) {
    fs::path rootfs = entry.path() / "rootfs";
    // A rootfs may carry several stacked mounts; unmount until it is none.
    for (int i = 0; i < 16 && ::umount2(rootfs.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0; ++i) {
    }
    Bundle::remove(entry.path());
    if (!fs::exists(entry.path())) ++removed;
  }
  return removed;
}

ExecResult<RunResult> RuncRuntime::run(const RunSpec& spec) {
  if (spec.args.empty()) {
    return std::unexpected(ExecError{ExecErrc::kInvalidArgument, "no command to run"});
  }
  std::string id = "drydock-" + random_hex(8);
  if (spec.stop.stop_requested()) return RunResult{128 + SIGKILL, Termination::kCancelled, {}, id};
  Bundle bundle(options_.bundle_root / id);
  if (::mkdir(bundle.dir().c_str(), 0711) != 0 || ::mkdir(bundle.rootfs().c_str(), 0711) != 0) {
    return std::unexpected(io_error("create bundle", bundle.dir(), errno));
  }
  auto rootfs = mount_rootfs(spec, bundle.rootfs());
  if (!rootfs) return std::unexpected(rootfs.error());
  OciSpecContext ctx{bundle.rootfs(), options_.cgroup_parent + "/" + id, bundle.dir() / "hosts",
                     bundle.dir() / "resolv.conf", nofile_};
  for (auto r : {write_file(ctx.hosts_file, hosts_file(spec.hostname)),
                 write_file(ctx.resolv_conf, resolv_conf(spec.network)),
                 write_file(bundle.dir() / "config.json", oci_spec_json(spec, ctx))}) {
    if (!r) return std::unexpected(r.error());
  }
  std::vector<fs::path> cgroup_dirs;
  for (const auto& base : cgroup_bases_) cgroup_dirs.push_back(base / id);
  ContainerGuard container(runc_command({"delete", "-f", id}), options_.state_root / id,
                           std::move(cgroup_dirs));
  return supervise(spec, bundle.dir(), id);
}

// Starts `runc run` and waits for it; a non-zero exit with an error in runc's
// log means runc failed (to start the process), not the process.
ExecResult<RunResult> RuncRuntime::supervise(const RunSpec& spec, const fs::path& bundle,
                                             const std::string& id) {
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return std::unexpected(io_error("eventfd", "", errno));
  std::stop_callback on_stop(spec.stop, [fd = wake.get()] {
    std::uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);
  });
  auto start = Clock::now();
  auto runc = spawn(runc_command({"--log", (bundle / "runc.log").string(), "--log-format", "json",
                                  "run", "--bundle", bundle.string(), id}),
                    StderrTo::kOwnPipe);
  if (!runc) return std::unexpected(runc.error());
  Supervisor supervisor(spec, *runc, wake.get(), [&] {
    return succeeded(run_command(runc_command({"kill", id, "KILL"})));
  });
  int status = supervisor.wait();
  RunResult result{exit_code_of(status), supervisor.termination(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start), id};
  if (result.termination == Termination::kExited && result.exit_code != 0) {
    if (auto err = runc_logged_error(bundle / "runc.log"))
      return std::unexpected(runtime_error(*err));
  }
  return result;
}

}  // namespace drydock::builder
