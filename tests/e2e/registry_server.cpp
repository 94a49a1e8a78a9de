#include "registry_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "command.hpp"

namespace drydock::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A port that was free a moment ago. Only for the reference registry, which cannot
// report the port it bound; Drydock binds port 0 itself and tells us.
int pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

void write_reference_config(const std::filesystem::path& file,
                            const std::filesystem::path& data_dir, int port) {
  std::ofstream out(file);
  out << "version: 0.1\n"
      << "log:\n  level: info\n"
      << "storage:\n"
      << "  filesystem:\n    rootdirectory: " << data_dir.string() << "\n"
      << "  delete:\n    enabled: true\n"
      << "http:\n  addr: 127.0.0.1:" << port << "\n";
}

}  // namespace

RegistryServer::RegistryServer(RegistryKind kind, std::filesystem::path work_dir)
    : kind_(kind), work_dir_(std::move(work_dir)), data_dir_(work_dir_ / "data") {}

RegistryServer::~RegistryServer() { stop(); }

std::unique_ptr<RegistryServer> RegistryServer::start(const RegistryOptions& options,
                                                      std::string* error) {
  // The reference may lose the race for its port to another process: retry then.
  const int attempts = options.kind == RegistryKind::kReference ? 3 : 1;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    std::unique_ptr<RegistryServer> server(new RegistryServer(options.kind, options.work_dir));
    std::filesystem::remove_all(server->data_dir_);
    std::filesystem::create_directories(server->data_dir_);
    if (options.kind == RegistryKind::kReference) {
      server->port_ = pick_free_port();
      write_reference_config(options.work_dir / "reference.yml", server->data_dir_, server->port_);
    }
    server->ca_cert_ = options.ca_cert;
    if (!server->spawn(options, error)) return nullptr;
    bool ready =
        options.kind == RegistryKind::kDrydock ? server->wait_for_drydock_port(error) : true;
    if (ready && server->wait_until_serving(error)) return server;
    *error += "\n--- server logs ---\n" + server->logs();
    server->stop();
  }
  return nullptr;
}

bool RegistryServer::spawn(const RegistryOptions& options, std::string* error) {
  const auto& binary = options.binary;
  std::vector<std::string> args;
  if (kind_ == RegistryKind::kDrydock) {
    args = {binary.string(), "serve", "--listen", "127.0.0.1:0", "--data", data_dir_.string()};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  } else {
    args = {binary.string(), "serve", (work_dir_ / "reference.yml").string()};
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string out = (work_dir_ / "server.stdout").string();
  const std::string err = (work_dir_ / "server.stderr").string();
  pid_ = ::fork();
  if (pid_ == 0) {
    // Output goes to files, never to a pipe we would have to keep draining.
    ::dup2(::open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
    ::dup2(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), 1);
    ::dup2(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), 2);
    for (const auto& [name, value] : options.env) ::setenv(name.c_str(), value.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid_ < 0) {
    *error = "fork failed";
    return false;
  }
  return true;
}

// Contract: Drydock prints exactly one line "listening on 127.0.0.1:PORT" once ready.
bool RegistryServer::wait_for_drydock_port(std::string* error) {
  static const std::regex kLine(R"((?:^|\n)listening on 127\.0\.0\.1:(\d+)\n)");
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    std::smatch match;
    const std::string out = read_file(work_dir_ / "server.stdout");
    if (std::regex_search(out, match, kLine)) {
      port_ = std::stoi(match[1]);
      return true;
    }
    if (exited()) {
      *error = "drydock exited (status " + std::to_string(exit_status_) +
               ") before printing 'listening on 127.0.0.1:PORT'";
      return false;
    }
    std::this_thread::sleep_for(50ms);
  }
  *error = "drydock printed no 'listening on 127.0.0.1:PORT' line within 30 s";
  return false;
}

bool RegistryServer::wait_until_serving(std::string* error) {
  const auto deadline = Clock::now() + 30s;
  CommandResult last;
  while (Clock::now() < deadline) {
    last = run_command("curl -sS " + curl_tls() + " -o /dev/null -w '%{http_code}' " + base_url() +
                           "/v2/",
                       10s);
    // With authentication on, the challenge (401) is the healthy answer.
    if (last.ok() && (last.output == "200" || (!ca_cert_.empty() && last.output == "401"))) {
      return true;
    }
    if (exited()) {
      *error = "registry exited (status " + std::to_string(exit_status_) +
               ") before GET /v2/ answered 200";
      return false;
    }
    std::this_thread::sleep_for(100ms);
  }
  *error = "GET /v2/ did not answer 200 within 30 s; last try:\n" + last.describe();
  return false;
}

bool RegistryServer::exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return true;
}

std::string RegistryServer::stop() {
  if (pid_ <= 0) return "";
  const pid_t pid = pid_;
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + 20s;
  while (!exited() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  if (pid_ > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid_ = -1;
    return "registry did not exit within 20 s of SIGTERM; killed";
  }
  // Drydock promises a graceful stop (exit 0). Distribution 2.x has no SIGTERM
  // handler and simply dies of the signal, which is fine for the reference.
  const bool graceful =
      exit_status_ == 0 || (kind_ == RegistryKind::kReference && exit_status_ == 128 + SIGTERM);
  return graceful
             ? ""
             : "registry exited with status " + std::to_string(exit_status_) + " after SIGTERM";
}

std::string RegistryServer::logs() const {
  // The end of each log is what explains a failure; the reference logs every request.
  constexpr size_t kTail = 12 * 1024;
  auto tail = [](std::string text) {
    return text.size() <= kTail ? text : "[...]" + text.substr(text.size() - kTail);
  };
  return "[stdout]\n" + tail(read_file(work_dir_ / "server.stdout")) + "\n[stderr]\n" +
         tail(read_file(work_dir_ / "server.stderr"));
}

std::string RegistryServer::host() const { return "localhost:" + std::to_string(port_); }

std::string RegistryServer::base_url() const {
  if (!ca_cert_.empty()) return "https://localhost:" + std::to_string(port_);
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string RegistryServer::curl_tls() const {
  return ca_cert_.empty() ? "" : "--cacert " + shell_quote(ca_cert_.string());
}

std::filesystem::path RegistryServer::blobs_dir() const {
  // Drydock: DATA/blobs/sha256/ab/<hex>. Distribution: .../blobs/sha256/ab/<hex>/data.
  return kind_ == RegistryKind::kDrydock ? data_dir_ / "blobs"
                                         : data_dir_ / "docker/registry/v2/blobs";
}

std::filesystem::path RegistryServer::blob_path(const std::string& digest) const {
  const std::string hex = digest.substr(digest.find(':') + 1);
  auto path = blobs_dir() / "sha256" / hex.substr(0, 2) / hex;
  return kind_ == RegistryKind::kDrydock ? path : path / "data";
}

}  // namespace drydock::e2e
