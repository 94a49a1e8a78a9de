#include "tests/server/process_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace drydock::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Everything exec needs, built before fork: after fork in a multithreaded
// process only async-signal-safe calls are allowed.
struct ExecPlan {
  std::string binary;
  std::vector<std::string> storage;
  std::vector<char*> argv;

  explicit ExecPlan(const std::vector<std::string>& args) : binary(drydock_binary().string()) {
    storage.push_back(binary);
    storage.insert(storage.end(), args.begin(), args.end());
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
  }
};

// Runs in the child between fork and exec; async-signal-safe calls only.
[[noreturn]] void exec_child(const ExecPlan& plan, pid_t parent, int out_fd, int err_fd,
                             int in_fd) {
  // Die with the test process, so a crashed test leaves no server behind.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(126);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGTERM, SIGINT}) ::sigaction(sig, &dfl, nullptr);
  int input = in_fd >= 0 ? in_fd : ::open("/dev/null", O_RDONLY);
  if (input >= 0) ::dup2(input, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  ::execve(plan.binary.c_str(), plan.argv.data(), environ);
  ::_exit(127);
}

pid_t spawn(const std::vector<std::string>& args, int out_fd, int err_fd, int in_fd = -1) {
  ExecPlan plan(args);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errno_text("fork"));
  if (pid == 0) exec_child(plan, parent, out_fd, err_fd, in_fd);
  return pid;
}

ExitStatus decode(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) s.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) s.signal = WTERMSIG(status);
  return s;
}

// Polls waitpid; nullopt while the child runs past the deadline.
std::optional<ExitStatus> poll_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode(status);
    if (r < 0 && errno != EINTR) throw std::runtime_error(errno_text("waitpid"));
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

int open_log(const fs::path& log) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(errno_text("open log"));
  return fd;
}

// Reads one line from `fd` (up to the deadline); "" with eof=true if the
// child closed stdout first.
std::string read_line(int fd, std::chrono::milliseconds timeout, bool& eof) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  eof = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("no 'listening on' line within the timeout");
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      return line;
    }
    if (c == '\n') return line;
    line.push_back(c);
  }
}

}  // namespace

fs::path drydock_binary() { return DRYDOCK_BINARY; }

// --- ScratchDir -----------------------------------------------------------------

ScratchDir::ScratchDir() {
  std::string tmpl = (fs::temp_directory_path() / "drydock-proc-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error(errno_text("mkdtemp"));
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string ExitStatus::describe() const {
  if (exit_code) return "exit code " + std::to_string(*exit_code);
  if (signal) return std::string("killed by ") + strsignal(*signal);
  return "unknown";
}

// --- ServerProcess ----------------------------------------------------------------

ServerProcess::ServerProcess(const std::vector<std::string>& args, fs::path log)
    : log_(std::move(log)) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  int err_fd = open_log(log_);
  try {
    pid_ = spawn(args, pipe_fds[1], err_fd);
  } catch (...) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::close(err_fd);
    throw;
  }
  ::close(pipe_fds[1]);
  ::close(err_fd);
  stdout_fd_ = pipe_fds[0];
  try {
    bool eof = false;
    listen_line_ = read_line(stdout_fd_, 30s, eof);
    static const std::regex kLine(R"(listening on 127\.0\.0\.1:(\d+))");
    std::smatch m;
    if (eof || !std::regex_match(listen_line_, m, kLine)) {
      throw std::runtime_error("unexpected first stdout line '" + listen_line_ + "'");
    }
    port_ = static_cast<std::uint16_t>(std::stoul(m[1].str()));
  } catch (const std::exception& e) {
    std::string tail = log_tail();
    kill();
    throw std::runtime_error(std::string("drydock did not start: ") + e.what() +
                             "\n--- stderr ---\n" + tail);
  }
}

ServerProcess::~ServerProcess() {
  if (running()) kill();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::vector<std::string> ServerProcess::serve_args(const fs::path& data) {
  return {"serve", "--listen", "127.0.0.1:0", "--data", data.string(), "--no-access-log"};
}

void ServerProcess::send_signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

void ServerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::optional<ExitStatus> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) throw std::logic_error("wait_exit: no child");
  auto s = poll_exit(pid_, timeout);
  if (s) pid_ = -1;
  return s;
}

std::optional<ExitStatus> ServerProcess::terminate(std::chrono::milliseconds timeout) {
  send_signal(SIGTERM);
  return wait_exit(timeout);
}

std::uint64_t ServerProcess::vm_hwm_kib() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6));
  }
  throw std::runtime_error("no VmHWM in /proc/" + std::to_string(pid_) + "/status");
}

std::string ServerProcess::log_tail(std::size_t max) const {
  std::string all = read_file(log_);
  return all.size() > max ? all.substr(all.size() - max) : all;
}

// --- one-shot CLI -----------------------------------------------------------------

CliResult run_cli(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                  std::optional<std::string> input) {
  ScratchDir dir;
  fs::path out_path = dir.path() / "out";
  fs::path err_path = dir.path() / "err";
  int in_fd = -1;
  if (input) {
    fs::path in_path = dir.path() / "in";
    std::ofstream(in_path, std::ios::binary) << *input;
    in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  int out_fd = open_log(out_path);
  int err_fd = open_log(err_path);
  pid_t pid = -1;
  try {
    pid = spawn(args, out_fd, err_fd, in_fd);
  } catch (...) {
    ::close(out_fd);
    ::close(err_fd);
    if (in_fd >= 0) ::close(in_fd);
    throw;
  }
  ::close(out_fd);
  ::close(err_fd);
  if (in_fd >= 0) ::close(in_fd);
  CliResult r;
  auto status = poll_exit(pid, timeout);
  if (!status) {
    ::kill(pid, SIGKILL);
    int raw = 0;
    ::waitpid(pid, &raw, 0);
    status = decode(raw);
    r.err = "[test harness: still running after the timeout, killed]\n";
  }
  r.status = *status;
  r.out = read_file(out_path);
  r.err += read_file(err_path);
  return r;
}

CliProcess::CliProcess(const std::vector<std::string>& args) {
  int out_fd = open_log(dir_.path() / "out");
  int err_fd = open_log(dir_.path() / "err");
  try {
    pid_ = spawn(args, out_fd, err_fd);
  } catch (...) {
    ::close(out_fd);
    ::close(err_fd);
    throw;
  }
  ::close(out_fd);
  ::close(err_fd);
}

CliProcess::~CliProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int raw = 0;
  ::waitpid(pid_, &raw, 0);
}

void CliProcess::send_signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::string CliProcess::out() const { return read_file(dir_.path() / "out"); }

CliResult CliProcess::wait(std::chrono::milliseconds timeout) {
  CliResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int raw = 0;
  rusage usage{};
  for (;;) {
    pid_t done = ::wait4(pid_, &raw, WNOHANG, &usage);
    if (done == pid_) break;
    if (done < 0 && errno != EINTR) throw std::runtime_error(errno_text("wait4"));
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::wait4(pid_, &raw, 0, &usage);
      r.err = "[test harness: still running after the timeout, killed]\n";
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid_ = -1;
  max_rss_kib_ = static_cast<std::uint64_t>(usage.ru_maxrss);
  r.status = decode(raw);
  r.out = read_file(dir_.path() / "out");
  r.err += read_file(dir_.path() / "err");
  return r;
}

bool wait_connect_refused(std::uint16_t port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(errno_text("socket"));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = errno;
    ::close(fd);
    if (rc != 0 && err == ECONNREFUSED) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// --- hashing and bytes --------------------------------------------------------------

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::update(const void* data, std::size_t n) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
}

std::string Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    s.push_back(kHex[out[i] >> 4]);
    s.push_back(kHex[out[i] & 0xf]);
  }
  return s;
}

std::string sha256_of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

void ByteStream::fill(std::span<char> out) {
  std::size_t i = 0;
  while (i < out.size()) {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::size_t n = std::min<std::size_t>(8, out.size() - i);
    std::memcpy(out.data() + i, &z, n);
    i += n;
  }
}

std::string ByteStream::take(std::size_t n) {
  std::string s(n, '\0');
  fill(s);
  return s;
}

fs::path blob_path(const fs::path& data, std::string_view digest) {
  auto colon = digest.find(':');
  std::string alg(digest.substr(0, colon));
  std::string hex(digest.substr(colon + 1));
  return data / "blobs" / alg / hex.substr(0, 2) / hex;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace drydock::testing
