#pragma once

// Process-level test harness: runs the real `drydock` binary as a child
// process (fork + exec), reads the port it prints, signals and reaps it by
// PID, and runs one-shot CLI invocations. Also small helpers the process
// tests share: scratch directories, a streaming SHA-256, fast deterministic
// pseudo-random bytes, and /proc readings.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::testing {

// The binary under test (set by CMake).
std::filesystem::path drydock_binary();

// A fresh directory under the system temp dir, removed with its contents at
// destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// How a child ended: exactly one of `exit_code` / `signal` is set.
struct ExitStatus {
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool ok() const { return exit_code == 0; }
  std::string describe() const;
};

// A running `drydock` child. The destructor SIGKILLs and reaps it if it is
// still running, so a failing test never leaves a server behind.
class ServerProcess {
 public:
  // Spawns `drydock <args...>` with stderr appended to `log`, and waits (up
  // to 30 s, polling the pipe) for "listening on 127.0.0.1:PORT" on stdout.
  // Throws with the log's tail if the child exits or prints something else.
  ServerProcess(const std::vector<std::string>& args, std::filesystem::path log);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // `drydock serve --listen 127.0.0.1:0 --data DATA --no-access-log`.
  static std::vector<std::string> serve_args(const std::filesystem::path& data);

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  const std::string& listen_line() const { return listen_line_; }

  void send_signal(int sig) const;
  // SIGKILL and reap.
  void kill();
  // Polls for the child's exit; nullopt if it is still running at the deadline.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM, then wait_exit(timeout).
  std::optional<ExitStatus> terminate(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }

  // VmHWM (peak resident set) of the running child, in KiB.
  std::uint64_t vm_hwm_kib() const;
  // The last `max` bytes of the child's stderr log.
  std::string log_tail(std::size_t max = 4000) const;

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string listen_line_;
  std::filesystem::path log_;
};

// A finished one-shot CLI run.
struct CliResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

// Runs `drydock <args...>` to completion (SIGKILL after `timeout`), with
// `input` as its stdin (else /dev/null).
CliResult run_cli(const std::vector<std::string>& args,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30),
                  std::optional<std::string> input = std::nullopt);

// A one-shot CLI run in the background (stdin /dev/null, stdout and stderr
// to files), for tests that signal it meanwhile or measure its memory. The
// destructor SIGKILLs and reaps it if it still runs.
class CliProcess {
 public:
  explicit CliProcess(const std::vector<std::string>& args);
  ~CliProcess();
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  pid_t pid() const { return pid_; }
  void send_signal(int sig) const;
  // What it has written to stdout so far.
  std::string out() const;
  // Waits for it to end (SIGKILL after `timeout`) and returns the result.
  CliResult wait(std::chrono::milliseconds timeout);
  // Its peak resident set (ru_maxrss) in KiB; valid after wait().
  std::uint64_t max_rss_kib() const { return max_rss_kib_; }

 private:
  ScratchDir dir_;
  pid_t pid_ = -1;
  std::uint64_t max_rss_kib_ = 0;
};

// Polls connect() to 127.0.0.1:port until it is refused; true if refused
// within `timeout`.
bool wait_connect_refused(std::uint16_t port, std::chrono::milliseconds timeout);

// Incremental SHA-256 (OpenSSL), as "sha256:<hex>".
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string finish();

 private:
  void* ctx_;
};

std::string sha256_of(std::string_view data);

// Fast deterministic pseudo-random bytes (splitmix64), for large bodies.
class ByteStream {
 public:
  explicit ByteStream(std::uint64_t seed) : state_(seed) {}
  void fill(std::span<char> out);
  std::string take(std::size_t n);

 private:
  std::uint64_t state_;
};

// "/blobs/sha256/ab/abcdef..." under `data` for "sha256:abcdef...".
std::filesystem::path blob_path(const std::filesystem::path& data, std::string_view digest);

// Reads a whole file; "" if it cannot be opened.
std::string read_file(const std::filesystem::path& p);

}  // namespace drydock::testing
