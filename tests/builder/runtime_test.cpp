#include "builder/runtime.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "builder/fake_runtime.hpp"
#include "builder/snapshotter.hpp"
#include "exec_test_util.hpp"

namespace drydock::builder {
namespace {

using namespace test_util;
using namespace std::chrono_literals;

struct Output {
  std::mutex mu;
  std::string out;
  std::string err;
  std::optional<std::chrono::steady_clock::time_point> first_chunk;
};

std::string popen_read(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  ::pclose(f);
  return out;
}

// Whether any process's argv is exactly `argv` (NUL-separated in /proc).
bool process_running(const std::string& argv_nul) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (read_file(e.path() / "cmdline") == argv_nul) return true;
  }
  return false;
}

// A TCP server on the host's 127.0.0.1 that answers every connection with a
// tiny HTTP response.
class LoopbackServer {
 public:
  LoopbackServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      static constexpr char kReply[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
      (void)!::write(c, kReply, sizeof kReply - 1);
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Real runc over real overlayfs snapshots of a busybox rootfs. Every test has
// its own directories, runc state root and cgroup parent, so tests can run in
// parallel; every test ends by checking that nothing was left behind.
class RuncRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRunc, X_OK) != 0) GTEST_SKIP() << "runc is not installed at " << kRunc;
    auto s = OverlaySnapshotter::open(dir_.path() / "snapshots");
    ASSERT_TRUE(s) << s.error().message;
    snap_ = std::move(*s);
    ASSERT_TRUE(snap_->prepare("base-build", {}));
    make_busybox_rootfs(*snap_->upper_dir("base-build"));
    ASSERT_TRUE(snap_->commit("base-build", "base"));
    RuncOptions o;
    o.runc = kRunc;
    o.state_root = dir_.path() / "state";
    o.bundle_root = dir_.path() / "bundles";
    o.cgroup_parent = "drydock-test-" + random_suffix();
    auto rt = RuncRuntime::open(o);
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
    fds_at_start_ = open_fds();
  }

  void TearDown() override {
    if (!rt_) return;
    expect_nothing_left();
    for (const char* c : {"pids", "memory", "cpu", "devices", "freezer", "blkio", "cpuset",
                          "cpuacct", "name=systemd", ""}) {
      if (auto d = own_cgroup_dir(c)) ::rmdir((*d / rt_->options().cgroup_parent).c_str());
    }
  }

  static std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  }

  void expect_nothing_left() {
    int status;
    EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1) << "a child process was left";
    EXPECT_EQ(open_fds(), fds_at_start_) << "a file descriptor leaked";
    const auto& o = rt_->options();
    EXPECT_EQ(popen_read(std::string(kRunc) + " --root " + o.state_root.string() + " list -q"), "");
    EXPECT_TRUE(fs::is_empty(o.bundle_root)) << "a bundle was left in " << o.bundle_root;
    std::string mounts = read_file("/proc/self/mountinfo");
    EXPECT_EQ(mounts.find(o.bundle_root.string()), std::string::npos) << mounts;
    for (const char* c : {"pids", "memory"}) {
      auto d = own_cgroup_dir(c);
      if (!d || !fs::exists(*d / o.cgroup_parent)) continue;
      for (const auto& e : fs::directory_iterator(*d / o.cgroup_parent)) {
        EXPECT_FALSE(e.is_directory()) << "cgroup left: " << e.path();
      }
    }
  }

  // A spec over a fresh active snapshot on top of the busybox base.
  RunSpec step(std::vector<std::string> args, const std::string& key = "step") {
    auto mounts = snap_->prepare(key, std::vector<std::string>{"base"});
    EXPECT_TRUE(mounts) << mounts.error().message;
    RunSpec spec;
    spec.rootfs_mounts = mounts.value_or(std::vector<Mount>{});
    spec.args = std::move(args);
    spec.env = {"PATH=/bin"};
    return spec;
  }

  ExecResult<RunResult> run(RunSpec spec, Output& out) {
    spec.on_output = [&out](OutputStream s, std::string_view chunk) {
      std::lock_guard lock(out.mu);
      if (!out.first_chunk) out.first_chunk = std::chrono::steady_clock::now();
      (s == OutputStream::kStdout ? out.out : out.err) += chunk;
    };
    return rt_->run(spec);
  }

  TempDir dir_{"runtime"};
  std::unique_ptr<OverlaySnapshotter> snap_;
  std::unique_ptr<RuncRuntime> rt_;
  std::size_t fds_at_start_ = 0;
};

std::vector<std::string> shell(const std::string& script) { return {"/bin/sh", "-c", script}; }

TEST_F(RuncRuntimeTest, OutputReachesTheCallbackAsItComes) {
  Output out;
  auto r = run(step(shell("echo hello; echo oops >&2; sleep 1; echo bye")), out);
  ASSERT_TRUE(r) << r.error().message;
  auto end = std::chrono::steady_clock::now();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->termination, Termination::kExited);
  EXPECT_EQ(out.out, "hello\nbye\n");
  EXPECT_EQ(out.err, "oops\n");
  ASSERT_TRUE(out.first_chunk);
  EXPECT_GT(end - *out.first_chunk, 700ms) << "output was not streamed";
}

TEST_F(RuncRuntimeTest, ExitCodesPropagate) {
  Output out;
  auto r = run(step(shell("exit 42")), out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 42);
  EXPECT_EQ(r->termination, Termination::kExited);
  ASSERT_TRUE(snap_->remove("step"));
  r = run(step({"/bin/false"}), out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 1);
}

TEST_F(RuncRuntimeTest, EnvCwdAndNumericUser) {
  RunSpec spec = step(shell("echo $FOO; pwd; id -u; id -g; id -G; touch mine"));
  spec.env.push_back("FOO=bar baz");
  spec.cwd = "/work/dir";
  spec.user = User{1000, 1000, {2000, 3000}};
  Output out;
  auto r = run(spec, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "bar baz\n/work/dir\n1000\n1000\n1000 2000 3000\n");
  // The missing working directory was created for the user, as BuildKit does.
  struct stat st;
  fs::path upper = *snap_->upper_dir("step");
  ASSERT_EQ(::stat((upper / "work/dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  ASSERT_EQ(::stat((upper / "work/dir/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
}

TEST_F(RuncRuntimeTest, UserNameResolvedFromTheRootfs) {
  fs::path base = snap_->root() / "committed/base";
  auto u = resolve_user("builder", base);
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(*u, (User{1000, 1000, {2000}}));
  RunSpec spec = step(shell("id"));
  spec.user = *u;
  Output out;
  auto r = run(spec, out);
  ASSERT_TRUE(r) << r.error().message;
  // busybox id prints getgroups(): the additional gids, which for a name come
  // from /etc/group memberships (BuildKit passes the same).
  EXPECT_EQ(out.out, "uid=1000(builder) gid=1000(builder) groups=2000(extra)\n");
}

TEST(ResolveUserTest, FollowsRuncRules) {
  TempDir dir("user");
  make_busybox_rootfs(dir.path());
  auto get = [&](std::string_view spec) { return resolve_user(spec, dir.path()); };
  EXPECT_EQ(*get(""), (User{0, 0, {}}));
  EXPECT_EQ(*get("root"), (User{0, 0, {}}));
  EXPECT_EQ(*get("1000"), (User{1000, 1000, {2000}}));
  EXPECT_EQ(*get("4242"), (User{4242, 0, {}}));
  EXPECT_EQ(*get("5:6"), (User{5, 6, {}}));
  EXPECT_EQ(*get("builder:extra"), (User{1000, 2000, {}}));
  EXPECT_EQ(*get("builder:777"), (User{1000, 777, {}}));
  EXPECT_EQ(*get("4242:extra"), (User{4242, 2000, {}}));
  EXPECT_EQ(get("nobody-here").error().code, ExecErrc::kNotFound);
  EXPECT_EQ(get("builder:nogroup").error().code, ExecErrc::kNotFound);
}

TEST(ResolveUserTest, SymlinksCannotLeaveTheRootfs) {
  // /etc points "up and out"; resolved in the rootfs it is "/", which has no
  // passwd, so "root" is unknown even though the host has one.
  TempDir dir("user-escape");
  fs::create_symlink("../../../../../../../../etc", dir.path() / "etc");
  EXPECT_EQ(resolve_user("root", dir.path()).error().code, ExecErrc::kNotFound);
  fs::remove(dir.path() / "etc");
  fs::create_directories(dir.path() / "etc");
  fs::create_symlink("/etc/passwd", dir.path() / "etc/passwd");  // absolute: also in-root
  EXPECT_EQ(resolve_user("root", dir.path()).error().code, ExecErrc::kNotFound);
}

TEST_F(RuncRuntimeTest, WritesLandInTheUpperDirAndDeletionsAreWhiteouts) {
  Output out;
  auto r = run(step(shell("echo new > /newfile; rm /bin/ls; echo more >> /etc/passwd")), out);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->exit_code, 0) << out.err;
  fs::path upper = *snap_->upper_dir("step");
  fs::path lower = snap_->root() / "committed/base";
  EXPECT_EQ(read_file(upper / "newfile"), "new\n");
  EXPECT_TRUE(is_whiteout(upper / "bin/ls"));
  EXPECT_NE(read_file(upper / "etc/passwd").find("more"), std::string::npos);
  EXPECT_FALSE(lexists(lower / "newfile"));
  EXPECT_TRUE(fs::is_symlink(lower / "bin/ls"));
  EXPECT_EQ(read_file(lower / "etc/passwd").find("more"), std::string::npos);
  // The /etc/hosts and /etc/resolv.conf mount points were stubs: gone again.
  EXPECT_FALSE(lexists(upper / "etc/hosts"));
  EXPECT_FALSE(lexists(upper / "etc/resolv.conf"));
}

TEST_F(RuncRuntimeTest, NoNetworkMeansOnlyLoopbackAndNoHostServices) {
  LoopbackServer server;
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  Output out;
  auto r = run(step(shell("grep -c : /proc/net/dev; grep -o 'lo:' /proc/net/dev; "
                          "wget -q -O - " +
                          url + " && echo reached")),
               out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out.out, "1\nlo:\n");
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(out.err.find("Connection refused"), std::string::npos) << out.err;

  // Control: with the host's network the same request gets through.
  ASSERT_TRUE(snap_->remove("step"));
  RunSpec host = step(shell("wget -q -O - " + url));
  host.network = NetworkMode::kHost;
  Output host_out;
  r = run(host, host_out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(host_out.out, "hi") << host_out.err << " exit " << r->exit_code;
}

TEST_F(RuncRuntimeTest, TheHostFilesystemAndProcessesAreInvisible) {
  TempDir marker_dir("marker");
  write_file(marker_dir.path() / "secret", "host");
  Output out;
  RunSpec spec = step(shell("ls " + marker_dir.path().string() +
                            "/secret; echo rc=$?; "
                            "ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline; echo; "
                            "hostname; cat /etc/hosts"));
  auto r = run(spec, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(out.out.find("rc=1\n"), std::string::npos) << out.out;
  // Only the shell, ls/grep's own pids at most: pid 1 is our shell.
  EXPECT_NE(out.out.find("/bin/sh"), std::string::npos) << out.out;
  auto count_line = out.out.substr(out.out.find("rc=1\n") + 5);
  EXPECT_LE(std::stoi(count_line), 3) << out.out;
  EXPECT_NE(out.out.find("buildkitsandbox\n127.0.0.1\tlocalhost buildkitsandbox\n"),
            std::string::npos)
      << out.out;
}

TEST_F(RuncRuntimeTest, PidsLimitIsEnforced) {
  RunSpec spec =
      step(shell("cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
                 "i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done; wait"));
  spec.limits.pids = 16;
  Output out;
  auto r = run(spec, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out.out.substr(0, 3), "16\n");
  EXPECT_NE(out.err.find("Resource temporarily unavailable"), std::string::npos) << out.err;
}

TEST_F(RuncRuntimeTest, MemoryLimitIsApplied) {
  RunSpec spec =
      step(shell("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                 "cat /sys/fs/cgroup/memory.max"));
  spec.limits.memory_bytes = 64ull << 20;
  Output out;
  auto r = run(spec, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out.out, "67108864\n");
}

// `sleep N` with an N no other test uses, to find it among host processes.
std::string unique_sleep_seconds() { return std::to_string(100000 + (::getpid() % 100000)); }

TEST_F(RuncRuntimeTest, CancelKillsTheContainerAndLeavesNothing) {
  std::string secs = unique_sleep_seconds();
  RunSpec spec = step(shell("echo started; exec sleep " + secs));
  std::stop_source stop;
  spec.stop = stop.get_token();
  Output out;
  std::thread canceller([&] {
    for (int i = 0; i < 100 && !process_running(std::string("sleep\0", 6) + secs + '\0'); ++i) {
      std::this_thread::sleep_for(50ms);
    }
    stop.request_stop();
  });
  auto begin = std::chrono::steady_clock::now();
  auto r = run(spec, out);
  canceller.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->termination, Termination::kCancelled);
  EXPECT_EQ(r->exit_code, 137);
  EXPECT_EQ(out.out, "started\n");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 8s);
  EXPECT_FALSE(process_running(std::string("sleep\0", 6) + secs + '\0'));
}

TEST_F(RuncRuntimeTest, TimeoutKillsTheContainer) {
  std::string secs = unique_sleep_seconds();
  RunSpec spec = step({"/bin/sleep", secs});
  spec.timeout = 700ms;
  Output out;
  auto begin = std::chrono::steady_clock::now();
  auto r = run(spec, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->termination, Termination::kTimedOut);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 700ms);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  EXPECT_FALSE(process_running(std::string("/bin/sleep\0", 11) + secs + '\0'));
}

// Stops landing while runc is still creating the container: `runc kill` is
// retried until it takes, and nothing is left behind either way.
TEST_F(RuncRuntimeTest, CancelDuringStartup) {
  for (int delay_ms : {1, 20, 60, 120}) {
    std::string key = "startup-" + std::to_string(delay_ms);
    RunSpec spec = step({"/bin/sleep", "300"}, key);
    std::stop_source stop;
    spec.stop = stop.get_token();
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      stop.request_stop();
    });
    Output out;
    auto r = run(spec, out);
    canceller.join();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->termination, Termination::kCancelled) << delay_ms;
    EXPECT_LT(r->duration, 5s);
  }
}

TEST_F(RuncRuntimeTest, TheRunLastsUntilTheProcessExitsNotUntilItsOutputCloses) {
  Output out;
  auto r = run(step(shell("exec >/dev/null 2>&1; sleep 1; touch /done")), out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_TRUE(lexists(*snap_->upper_dir("step") / "done"));
}

TEST_F(RuncRuntimeTest, BackgroundProcessesDieWithTheStep) {
  Output out;
  auto r = run(step(shell("sleep 300 & echo started")), out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out.out, "started\n");
  EXPECT_LT(r->duration, 5s);
}

TEST_F(RuncRuntimeTest, AStopRequestedBeforeStartRunsNothing) {
  RunSpec spec = step(shell("touch /ran"));
  std::stop_source stop;
  stop.request_stop();
  spec.stop = stop.get_token();
  Output out;
  auto r = run(spec, out);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->termination, Termination::kCancelled);
  EXPECT_FALSE(lexists(*snap_->upper_dir("step") / "ran"));
}

TEST_F(RuncRuntimeTest, AMissingExecutableIsAnError) {
  Output out;
  auto r = run(step({"/no/such/binary"}), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExecErrc::kRuntime);
  EXPECT_NE(r.error().message.find("/no/such/binary"), std::string::npos) << r.error().message;
}

TEST_F(RuncRuntimeTest, ExtraMountsAndAPlainRootfsDirectory) {
  TempDir data("data");
  write_file(data.path() / "file", "from host\n");
  TempDir rootfs("plain-rootfs");
  make_busybox_rootfs(rootfs.path());
  RunSpec spec;
  spec.rootfs_path = rootfs.path();
  spec.args = shell(
      "cat /data/file; touch /data/x 2>/dev/null || echo ro; "
      "touch /mnt/scratch/t && echo tmpfs-ok");
  spec.env = {"PATH=/bin"};
  spec.mounts.push_back({"/data", "bind", data.path().string(), {"rbind", "ro"}});
  spec.mounts.push_back({"/mnt/scratch", "tmpfs", "tmpfs", {"nosuid", "size=1m"}});
  Output out;
  auto r = run(spec, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out.out, "from host\nro\ntmpfs-ok\n") << out.err;
  // Mount points created for the run are removed again (BuildKit's stubs).
  EXPECT_FALSE(lexists(rootfs.path() / "data"));
  EXPECT_FALSE(lexists(rootfs.path() / "mnt"));
  EXPECT_FALSE(lexists(data.path() / "x"));
}

TEST_F(RuncRuntimeTest, ConcurrentRunsAreIndependent) {
  Output a, b;
  RunSpec sa = step(shell("sleep 1; echo a"), "step-a");
  RunSpec sb = step(shell("sleep 1; echo b"), "step-b");
  ExecResult<RunResult> ra, rb;
  std::thread ta([&] { ra = run(sa, a); });
  std::thread tb([&] { rb = run(sb, b); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(a.out, "a\n");
  EXPECT_EQ(b.out, "b\n");
  EXPECT_NE(ra->container_id, rb->container_id);
}

TEST_F(RuncRuntimeTest, CleanupStaleRemovesWhatACrashLeft) {
  // Simulate a crash: a bundle with a mounted rootfs and no runc state.
  fs::path bundle = rt_->options().bundle_root / "drydock-crashed";
  fs::create_directories(bundle / "rootfs");
  write_file(bundle / "config.json", "{}");
  auto mounts = snap_->prepare("crashed", std::vector<std::string>{"base"});
  ASSERT_TRUE(mounts);
  ASSERT_TRUE(mount_all(*mounts, bundle / "rootfs"));
  auto n = rt_->cleanup_stale();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1u);
}

TEST(OciSpecTest, ShapedLikeDockerBuild) {
  RunSpec spec;
  spec.args = {"/bin/sh", "-c", "true"};
  spec.env = {"PATH=/bin"};
  spec.cwd = "/a/../b/";
  spec.user = User{1000, 1000, {5}};
  spec.limits = {256ull << 20, 100};
  spec.mounts.push_back({"/cache", "bind", "/host/cache", {"rbind"}});
  OciSpecContext ctx{"/bundle/rootfs", "drydock/id", "/bundle/hosts", "/bundle/resolv.conf", 4096};
  auto j = nlohmann::json::parse(oci_spec_json(spec, ctx));
  EXPECT_EQ(j["ociVersion"], "1.0.2");
  EXPECT_EQ(j["process"]["cwd"], "/b");
  EXPECT_EQ(j["process"]["user"]["additionalGids"], nlohmann::json({5}));
  EXPECT_EQ(j["process"]["noNewPrivileges"], false);
  EXPECT_EQ(j["process"]["capabilities"]["bounding"].size(), 14u);
  EXPECT_FALSE(j["process"]["capabilities"].contains("inheritable"));
  EXPECT_EQ(j["process"]["rlimits"][0]["hard"], 4096);
  EXPECT_EQ(j["hostname"], "buildkitsandbox");
  std::vector<std::string> dests;
  for (const auto& m : j["mounts"]) dests.push_back(m["destination"]);
  EXPECT_EQ(dests, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                                             "/sys", "/sys/fs/cgroup", "/etc/resolv.conf",
                                             "/etc/hosts", "/cache"}));
  EXPECT_EQ(j["linux"]["namespaces"].size(), 5u);
  EXPECT_EQ(j["linux"]["resources"]["memory"]["limit"], 256ull << 20);
  EXPECT_EQ(j["linux"]["resources"]["pids"]["limit"], 100);
  EXPECT_EQ(j["linux"]["cgroupsPath"], "drydock/id");
  spec.network = NetworkMode::kHost;
  j = nlohmann::json::parse(oci_spec_json(spec, ctx));
  for (const auto& ns : j["linux"]["namespaces"]) EXPECT_NE(ns["type"], "network");
}

TEST(FakeRuntimeTest, RecordsSpecsAndReplies) {
  FakeRuntime fake;
  fake.reply.result = RunResult{3, Termination::kExited, {}, "fake"};
  fake.reply.stdout_text = "out";
  RunSpec spec;
  spec.args = {"make"};
  std::string seen;
  spec.on_output = [&](OutputStream, std::string_view s) { seen += s; };
  auto r = fake.run(spec);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(seen, "out");
  ASSERT_EQ(fake.calls().size(), 1u);
  EXPECT_EQ(fake.calls()[0].args, std::vector<std::string>{"make"});
}

}  // namespace
}  // namespace drydock::builder
