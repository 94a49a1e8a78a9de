// bench_blobclient: a small, CPU-cheap HTTP/1.1 client for the registry benchmark.
//
// The benchmark shares two cores with the servers it measures, so the client must
// not spend CPU copying bodies: uploads go out with sendfile() straight from the
// page cache, downloads are read into one reusable buffer and discarded. Plain POSIX
// sockets, no TLS, loopback only.
//
//   bench_blobclient freeport
//   bench_blobclient upload   HOST:PORT REPO FILE DIGEST CHUNK_MIB
//   bench_blobclient download HOST:PORT REPO DIGEST SIZE
//   bench_blobclient push     HOST:PORT REPO TAG IMAGE_DIR
//   bench_blobclient pushmany HOST:PORT REPO_PREFIX IMAGES_DIR COUNT
//   bench_blobclient hammer   HOST:PORT METHOD TARGET CONNECTIONS THREADS SECONDS [HEADER...]
//
// An IMAGE_DIR holds layer, layer.digest, config.json, config.digest, manifest.json
// and manifest.digest (bench/run prepares them, so no hashing happens while timing).
// Results go to stdout as one line of key=value pairs; every failure prints the exact
// request and response status, headers and body start to stderr and exits non-zero.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <expected>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hammer.hpp"

namespace {

constexpr std::size_t kReadBufferSize = 1 << 20;
constexpr std::size_t kKeptBodyBytes = 4096;  // enough for error JSON
constexpr int kSocketTimeoutSeconds = 120;

template <typename T>
using Result = std::expected<T, std::string>;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string errno_text(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string out = text.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A body to send: nothing, a string, or a byte range of an open file (sent with sendfile).
struct FileRange {
  int fd = -1;
  off_t offset = 0;
  std::size_t length = 0;
};

struct Request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  FileRange file;  // used when file.fd >= 0
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // first kKeptBodyBytes only
  std::uint64_t body_bytes = 0;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string describe(const Request& request, const Response& response) {
  std::ostringstream out;
  out << "request: " << request.method << " " << request.target << "\n";
  for (const auto& [name, value] : request.headers) out << "  " << name << ": " << value << "\n";
  out << "response: " << response.status << "\n";
  for (const auto& [name, value] : response.headers) out << "  " << name << ": " << value << "\n";
  out << "  body: " << response.body.substr(0, 600) << "\n";
  return out.str();
}

// "http://127.0.0.1:5000/v2/x?y" or "/v2/x?y" -> "/v2/x?y".
std::string location_target(const std::string& location) {
  auto scheme = location.find("://");
  if (scheme == std::string::npos) return location;
  auto path = location.find('/', scheme + 3);
  return path == std::string::npos ? "/" : location.substr(path);
}

std::string with_query(const std::string& target, const std::string& query) {
  return target + (target.find('?') == std::string::npos ? "?" : "&") + query;
}

struct Endpoint {
  std::string host;
  std::string port;
};

Result<Endpoint> parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::unexpected("expected HOST:PORT, got " + text);
  return Endpoint{text.substr(0, colon), text.substr(colon + 1)};
}

// One keep-alive HTTP/1.1 connection. Reconnects when the server closed it.
class Connection {
 public:
  explicit Connection(Endpoint endpoint)
      : endpoint_(std::move(endpoint)), buffer_(kReadBufferSize) {}
  ~Connection() { close_socket(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends the request and reads the whole response (body discarded past kKeptBodyBytes).
  // A request on a reused connection that fails before any response byte is retried once
  // on a fresh connection: the server may have closed an idle keep-alive connection.
  Result<Response> exchange(const Request& request) {
    bool reused = fd_ >= 0;
    auto response = exchange_once(request);
    if (!response && reused && !got_response_bytes_) {
      close_socket();
      response = exchange_once(request);
    }
    if (!response) close_socket();
    return response;
  }

 private:
  Result<Response> exchange_once(const Request& request) {
    got_response_bytes_ = false;
    if (fd_ < 0) {
      if (auto connected = connect_socket(); !connected) return std::unexpected(connected.error());
    }
    if (auto sent = send_request(request); !sent) return std::unexpected(sent.error());
    return read_response(request.method == "HEAD");
  }

  Result<void> connect_socket() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(endpoint_.host.c_str(), endpoint_.port.c_str(), &hints, &found);
        rc != 0) {
      return std::unexpected(std::string("getaddrinfo: ") + gai_strerror(rc));
    }
    fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = fd_ < 0 ? -1 : connect(fd_, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (rc != 0) {
      auto error = errno_text("connect " + endpoint_.host + ":" + endpoint_.port);
      close_socket();
      return std::unexpected(error);
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval timeout{kSocketTimeoutSeconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    begin_ = end_ = 0;
    return {};
  }

  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    begin_ = end_ = 0;
  }

  Result<void> write_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::unexpected(errno_text("send"));
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  Result<void> send_file(FileRange range) {
    off_t offset = range.offset;
    std::size_t left = range.length;
    while (left > 0) {
      ssize_t n = ::sendfile(fd_, range.fd, &offset, std::min<std::size_t>(left, 1 << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::unexpected(errno_text("sendfile"));
      left -= static_cast<std::size_t>(n);
    }
    return {};
  }

  Result<void> send_request(const Request& request) {
    std::size_t length = request.file.fd >= 0 ? request.file.length : request.body.size();
    std::string head = request.method + " " + request.target +
                       " HTTP/1.1\r\nHost: " + endpoint_.host + ":" + endpoint_.port +
                       "\r\nUser-Agent: drydock-bench\r\n";
    for (const auto& [name, value] : request.headers) head += name + ": " + value + "\r\n";
    if (length > 0 || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      head += "Content-Length: " + std::to_string(length) + "\r\n";
    }
    head += "\r\n";
    if (request.file.fd < 0) head += request.body;
    if (auto sent = write_all(head); !sent) return sent;
    if (request.file.fd >= 0) return send_file(request.file);
    return {};
  }

  // Fills the buffer when empty; returns the number of buffered bytes (0 at EOF).
  Result<std::size_t> fill() {
    if (begin_ < end_) return end_ - begin_;
    begin_ = end_ = 0;
    for (;;) {
      ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::unexpected(errno_text("recv"));
      if (n > 0) got_response_bytes_ = true;
      end_ = static_cast<std::size_t>(n);
      return end_;
    }
  }

  Result<std::string> read_line() {
    std::string line;
    for (;;) {
      auto available = fill();
      if (!available) return std::unexpected(available.error());
      if (*available == 0) return std::unexpected("connection closed by server mid-response");
      auto* first = buffer_.data() + begin_;
      auto* newline = static_cast<char*>(std::memchr(first, '\n', end_ - begin_));
      std::size_t take = newline ? static_cast<std::size_t>(newline - first) + 1 : end_ - begin_;
      line.append(first, take);
      begin_ += take;
      if (newline) break;
      if (line.size() > 65536) return std::unexpected("header line too long");
    }
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
  }

  // Consumes up to `limit` body bytes (all until EOF when limit is UINT64_MAX).
  Result<void> read_body_bytes(Response& response, std::uint64_t limit) {
    while (limit > 0) {
      auto available = fill();
      if (!available) return std::unexpected(available.error());
      if (*available == 0) {
        if (limit == UINT64_MAX) return {};
        return std::unexpected("connection closed with " + std::to_string(limit) +
                               " body bytes missing");
      }
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(limit, *available));
      if (response.body.size() < kKeptBodyBytes) {
        response.body.append(buffer_.data() + begin_,
                             std::min(take, kKeptBodyBytes - response.body.size()));
      }
      response.body_bytes += take;
      begin_ += take;
      if (limit != UINT64_MAX) limit -= take;
    }
    return {};
  }

  Result<void> read_chunked_body(Response& response) {
    for (;;) {
      auto size_line = read_line();
      if (!size_line) return std::unexpected(size_line.error());
      std::uint64_t size = std::strtoull(size_line->c_str(), nullptr, 16);
      if (size == 0) break;
      if (auto read = read_body_bytes(response, size); !read) return read;
      if (auto crlf = read_line(); !crlf) return std::unexpected(crlf.error());
    }
    for (;;) {  // trailers up to the empty line
      auto line = read_line();
      if (!line) return std::unexpected(line.error());
      if (line->empty()) return {};
    }
  }

  Result<Response> read_response(bool head_request) {
    Response response;
    auto status_line = read_line();
    if (!status_line) return std::unexpected(status_line.error());
    if (status_line->size() < 12 || !status_line->starts_with("HTTP/1.")) {
      return std::unexpected("bad status line: " + *status_line);
    }
    response.status = std::atoi(status_line->c_str() + 9);
    for (;;) {
      auto line = read_line();
      if (!line) return std::unexpected(line.error());
      if (line->empty()) break;
      auto colon = line->find(':');
      if (colon == std::string::npos) continue;
      auto value_start = line->find_first_not_of(" \t", colon + 1);
      response.headers[lower(line->substr(0, colon))] =
          value_start == std::string::npos ? "" : line->substr(value_start);
    }
    auto body = read_body(response, head_request);
    if (!body) return std::unexpected(body.error());
    if (lower(response.header("connection")) == "close") close_socket();
    return response;
  }

  Result<void> read_body(Response& response, bool head_request) {
    if (head_request || response.status == 204 || response.status == 304 || response.status < 200) {
      return {};
    }
    if (lower(response.header("transfer-encoding")).find("chunked") != std::string::npos) {
      return read_chunked_body(response);
    }
    auto length = response.header("content-length");
    if (!length.empty())
      return read_body_bytes(response, std::strtoull(length.c_str(), nullptr, 10));
    auto read = read_body_bytes(response, UINT64_MAX);
    close_socket();
    return read;
  }

  Endpoint endpoint_;
  int fd_ = -1;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool got_response_bytes_ = false;
};

// Sends `request` and checks the status; failures carry the full exchange.
Result<Response> expect_status(Connection& connection, const Request& request, int status) {
  auto response = connection.exchange(request);
  if (!response) {
    return std::unexpected("request: " + request.method + " " + request.target +
                           "\nerror: " + response.error() + "\n");
  }
  if (response->status != status) {
    return std::unexpected("expected " + std::to_string(status) + "\n" +
                           describe(request, *response));
  }
  return response;
}

Result<std::string> start_upload(Connection& connection, const std::string& repo) {
  Request post{"POST", "/v2/" + repo + "/blobs/uploads/", {}, {}, {}};
  auto response = expect_status(connection, post, 202);
  if (!response) return std::unexpected(response.error());
  auto location = response->header("location");
  if (location.empty())
    return std::unexpected("202 without Location\n" + describe(post, *response));
  return location_target(location);
}

Result<void> check_digest(const Request& request, const Response& response,
                          const std::string& digest) {
  if (response.header("docker-content-digest") == digest) return {};
  return std::unexpected("Docker-Content-Digest differs from " + digest + "\n" +
                         describe(request, response));
}

// POST, then PATCH the file in chunks following Location, then PUT ?digest=.
Result<void> chunked_upload(Connection& connection, const std::string& repo, int fd,
                            std::uint64_t size, const std::string& digest, std::uint64_t chunk) {
  auto location = start_upload(connection, repo);
  if (!location) return std::unexpected(location.error());
  for (std::uint64_t offset = 0; offset < size; offset += chunk) {
    std::uint64_t length = std::min(chunk, size - offset);
    Request patch{
        "PATCH",
        *location,
        {{"Content-Type", "application/octet-stream"},
         {"Content-Range", std::to_string(offset) + "-" + std::to_string(offset + length - 1)}},
        {},
        {fd, static_cast<off_t>(offset), static_cast<std::size_t>(length)}};
    auto response = expect_status(connection, patch, 202);
    if (!response) return std::unexpected(response.error());
    auto next = response->header("location");
    if (next.empty())
      return std::unexpected("PATCH 202 without Location\n" + describe(patch, *response));
    *location = location_target(next);
  }
  Request put{"PUT", with_query(*location, "digest=" + digest), {}, {}, {}};
  auto response = expect_status(connection, put, 201);
  if (!response) return std::unexpected(response.error());
  return check_digest(put, *response, digest);
}

// POST, then one PUT ?digest= carrying the whole blob.
Result<void> monolithic_upload(Connection& connection, const std::string& repo,
                               const std::string& path, const std::string& digest) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_text("open " + path));
  struct stat info {};
  fstat(fd, &info);
  auto location = start_upload(connection, repo);
  Result<void> result;
  if (!location) {
    result = std::unexpected(location.error());
  } else {
    Request put{"PUT",
                with_query(*location, "digest=" + digest),
                {{"Content-Type", "application/octet-stream"}},
                {},
                {fd, 0, static_cast<std::size_t>(info.st_size)}};
    auto response = expect_status(connection, put, 201);
    result = response ? check_digest(put, *response, digest) : std::unexpected(response.error());
  }
  ::close(fd);
  return result;
}

// Pushes layer, config and manifest from IMAGE_DIR and tags the manifest.
Result<void> push_image(Connection& connection, const std::string& repo, const std::string& tag,
                        const std::string& dir) {
  auto layer_digest = read_text_file(dir + "/layer.digest");
  auto config_digest = read_text_file(dir + "/config.digest");
  auto manifest = read_text_file(dir + "/manifest.json");
  auto manifest_digest = read_text_file(dir + "/manifest.digest");
  for (const auto* part : {&layer_digest, &config_digest, &manifest, &manifest_digest}) {
    if (!*part) return std::unexpected(part->error());
  }
  if (auto up = monolithic_upload(connection, repo, dir + "/layer", *layer_digest); !up) return up;
  if (auto up = monolithic_upload(connection, repo, dir + "/config.json", *config_digest); !up)
    return up;
  Request put{"PUT",
              "/v2/" + repo + "/manifests/" + tag,
              {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}},
              *manifest,
              {}};
  auto response = expect_status(connection, put, 201);
  if (!response) return std::unexpected(response.error());
  return check_digest(put, *response, *manifest_digest);
}

int fail(const std::string& message) {
  std::fprintf(stderr, "bench_blobclient: FAIL\n%s\n", message.c_str());
  return 1;
}

int cmd_freeport() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return fail(errno_text("bind 127.0.0.1:0"));
  }
  std::printf("%d\n", ntohs(address.sin_port));
  ::close(fd);
  return 0;
}

int cmd_upload(const Endpoint& endpoint, const std::string& repo, const std::string& path,
               const std::string& digest, std::uint64_t chunk_mib) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno_text("open " + path));
  struct stat info {};
  fstat(fd, &info);
  auto size = static_cast<std::uint64_t>(info.st_size);
  Connection connection(endpoint);
  auto start = Clock::now();
  auto result = chunked_upload(connection, repo, fd, size, digest, chunk_mib << 20);
  double seconds = seconds_since(start);
  ::close(fd);
  if (!result) return fail(result.error());
  std::printf("bytes=%llu seconds=%.3f mbps=%.1f\n", static_cast<unsigned long long>(size), seconds,
              size / seconds / 1e6);
  return 0;
}

int cmd_download(const Endpoint& endpoint, const std::string& repo, const std::string& digest,
                 std::uint64_t size) {
  Connection connection(endpoint);
  Request get{"GET", "/v2/" + repo + "/blobs/" + digest, {}, {}, {}};
  auto start = Clock::now();
  auto response = expect_status(connection, get, 200);
  double seconds = seconds_since(start);
  if (!response) return fail(response.error());
  if (response->body_bytes != size) {
    return fail("got " + std::to_string(response->body_bytes) + " bytes, expected " +
                std::to_string(size) + "\n" + describe(get, *response));
  }
  std::printf("bytes=%llu seconds=%.3f mbps=%.1f\n", static_cast<unsigned long long>(size), seconds,
              size / seconds / 1e6);
  return 0;
}

int cmd_push(const Endpoint& endpoint, const std::string& repo, const std::string& tag,
             const std::string& dir) {
  Connection connection(endpoint);
  auto start = Clock::now();
  auto result = push_image(connection, repo, tag, dir);
  if (!result) return fail(result.error());
  std::printf("seconds=%.3f\n", seconds_since(start));
  return 0;
}

// COUNT images IMAGES_DIR/0 .. COUNT-1 pushed at once, one thread and connection each,
// to REPO_PREFIX-<i>:latest.
int cmd_pushmany(const Endpoint& endpoint, const std::string& prefix, const std::string& dir,
                 int count) {
  std::atomic<int> ok = 0;
  std::mutex error_mutex;
  std::string first_error;
  auto start = Clock::now();
  {
    std::vector<std::jthread> pushers;
    for (int i = 0; i < count; ++i) {
      pushers.emplace_back([&, i] {
        Connection connection(endpoint);
        auto result = push_image(connection, prefix + "-" + std::to_string(i), "latest",
                                 dir + "/" + std::to_string(i));
        if (result) {
          ++ok;
          return;
        }
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = result.error();
      });
    }
  }
  double seconds = seconds_since(start);
  int failed = count - ok.load();
  std::printf("seconds=%.3f ok=%d failed=%d pushes_per_s=%.2f\n", seconds, ok.load(), failed,
              ok.load() / seconds);
  if (failed > 0) return fail("first failed push:\n" + first_error);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_blobclient freeport\n"
               "       bench_blobclient upload   HOST:PORT REPO FILE DIGEST CHUNK_MIB\n"
               "       bench_blobclient download HOST:PORT REPO DIGEST SIZE\n"
               "       bench_blobclient push     HOST:PORT REPO TAG IMAGE_DIR\n"
               "       bench_blobclient pushmany HOST:PORT REPO_PREFIX IMAGES_DIR COUNT\n"
               "       bench_blobclient hammer   HOST:PORT METHOD TARGET CONNECTIONS THREADS "
               "SECONDS [HEADER...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "freeport") return cmd_freeport();
  if (args.size() < 2) return usage();
  if (args[0] == "hammer") return run_hammer(args);
  auto endpoint = parse_endpoint(args[1]);
  if (!endpoint) return fail(endpoint.error());
  const std::string& command = args[0];
  if (command == "upload" && args.size() == 6) {
    return cmd_upload(*endpoint, args[2], args[3], args[4], std::stoull(args[5]));
  }
  if (command == "download" && args.size() == 5) {
    return cmd_download(*endpoint, args[2], args[3], std::stoull(args[4]));
  }
  if (command == "push" && args.size() == 5) return cmd_push(*endpoint, args[2], args[3], args[4]);
  if (command == "pushmany" && args.size() == 5) {
    return cmd_pushmany(*endpoint, args[2], args[3], std::stoi(args[4]));
  }
  return usage();
}
