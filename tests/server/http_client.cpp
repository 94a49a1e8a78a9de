#include "tests/server/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace drydock::testing {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

bool has_header(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (iequals(k, name)) return true;
  }
  return false;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void set_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// --- Response -----------------------------------------------------------------

std::optional<std::string> Response::find(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

std::size_t Response::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& [k, v] : headers) n += iequals(k, name) ? 1 : 0;
  return n;
}

nlohmann::json Response::json() const { return nlohmann::json::parse(body, nullptr, false); }

std::vector<std::string> Response::error_codes() const {
  std::vector<std::string> codes;
  auto j = json();
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array()) return codes;
  for (const auto& e : j["errors"]) {
    if (e.is_object() && e.contains("code") && e["code"].is_string()) {
      codes.push_back(e["code"].get<std::string>());
    }
  }
  return codes;
}

std::string Response::error_code() const {
  auto codes = error_codes();
  return codes.empty() ? std::string() : codes.front();
}

// --- Request ------------------------------------------------------------------

std::string Request::head() const {
  std::string out = method + " " + target + " HTTP/1.1\r\n";
  if (!has_header(headers, "Host")) out += "Host: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (chunked) {
    if (!has_header(headers, "Transfer-Encoding")) out += "Transfer-Encoding: chunked\r\n";
  } else if (!no_content_length && !has_header(headers, "Content-Length")) {
    bool body_method = method == "PUT" || method == "POST" || method == "PATCH";
    if (!body.empty() || body_method) {
      out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

std::string Request::wire_body() const {
  if (!chunked) return body;
  std::string out;
  char size[32];
  for (std::size_t i = 0; i < body.size(); i += chunk_size) {
    std::size_t n = std::min(chunk_size, body.size() - i);
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    out += size;
    out.append(body, i, n);
    out += "\r\n";
  }
  out += "0\r\n\r\n";
  return out;
}

std::string Request::serialize() const { return head() + wire_body(); }

// --- Connection ---------------------------------------------------------------

Connection::Connection(std::uint16_t port, std::chrono::milliseconds timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw HttpError(errno_text("socket"));
  set_timeout(fd_, timeout);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = errno_text("connect");
    ::close(fd_);
    fd_ = -1;
    throw HttpError(why);
  }
}

Connection::~Connection() { close(); }

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), in_(std::move(other.in_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    in_ = std::move(other.in_);
  }
  return *this;
}

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Connection::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

void Connection::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool Connection::try_send(std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void Connection::send(std::string_view bytes) {
  if (fd_ < 0) throw HttpError("send on a closed connection");
  if (!try_send(bytes)) throw HttpError(errno_text("send"));
}

bool Connection::fill() {
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) throw HttpError("timed out reading a response");
    throw HttpError(errno_text("recv"));
  }
}

std::string Connection::read_line() {
  for (;;) {
    auto pos = in_.find("\r\n");
    if (pos != std::string::npos) {
      std::string line = in_.substr(0, pos);
      in_.erase(0, pos + 2);
      return line;
    }
    if (!fill()) throw HttpError("connection closed in the middle of a response header");
  }
}

std::string Connection::read_exact(std::size_t n) {
  while (in_.size() < n) {
    if (!fill()) throw HttpError("connection closed in the middle of a response body");
  }
  std::string out = in_.substr(0, n);
  in_.erase(0, n);
  return out;
}

std::string Connection::read_chunked() {
  std::string body;
  for (;;) {
    std::string line = read_line();
    std::size_t size = std::stoul(line.substr(0, line.find(';')), nullptr, 16);
    if (size == 0) {
      while (!read_line().empty()) {
      }  // trailers
      return body;
    }
    body += read_exact(size);
    if (!read_line().empty()) throw HttpError("bad chunk terminator");
  }
}

Response Connection::read_response(bool head, bool keep_interim) {
  if (fd_ < 0) throw HttpError("read on a closed connection");
  for (;;) {
    if (in_.empty() && !fill()) throw HttpError("connection closed before a response");
    Response r;
    std::string status_line = read_line();
    // "HTTP/1.1 200 OK"
    if (!status_line.starts_with("HTTP/1.")) throw HttpError("bad status line: " + status_line);
    auto sp = status_line.find(' ');
    r.status = static_cast<unsigned>(std::stoul(status_line.substr(sp + 1, 3)));
    if (status_line.size() > sp + 5) r.reason = status_line.substr(sp + 5);
    for (;;) {
      std::string line = read_line();
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string::npos) throw HttpError("bad header line: " + line);
      r.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
    }
    if (r.status >= 100 && r.status < 200) {
      if (keep_interim) return r;
      continue;
    }
    bool bodiless = head || r.status == 204 || r.status == 304;
    if (bodiless) return r;
    auto te = r.find("Transfer-Encoding");
    if (te && iequals(*te, "chunked")) {
      r.body = read_chunked();
    } else if (auto cl = r.find("Content-Length")) {
      r.body = read_exact(std::stoull(*cl));
    } else {
      while (fill()) {
      }
      r.body = std::move(in_);
      in_.clear();
    }
    return r;
  }
}

std::optional<Response> Connection::try_read_response(bool head) noexcept {
  try {
    return read_response(head);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Response Connection::roundtrip(const Request& r) {
  if (fd_ < 0) throw HttpError("send on a closed connection");
  if (!try_send(r.serialize())) {
    // The server may have answered early (413, 404...) and closed before
    // taking the whole body: its answer is still worth reading.
    std::string why = errno_text("send");
    if (auto res = try_read_response(r.method == "HEAD")) return *std::move(res);
    throw HttpError(why);
  }
  return read_response(r.method == "HEAD");
}

bool Connection::wait_readable(std::chrono::milliseconds timeout) {
  if (!in_.empty()) return true;
  pollfd p{fd_, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

bool Connection::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;  // reset
  }
}

// --- Client -------------------------------------------------------------------

Response Client::send(const Request& r) {
  // A kept connection the server has since closed fails before any response
  // byte: then retry once on a fresh one, as HTTP clients do.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = conn_.has_value();
    if (!conn_) conn_.emplace(port_);
    try {
      Response res = conn_->roundtrip(r);
      auto connection = res.find("Connection");
      if (connection && iequals(*connection, "close")) conn_.reset();
      return res;
    } catch (const HttpError&) {
      conn_.reset();
      if (!reused) throw;
    }
  }
  throw HttpError("unreachable");
}

Response Client::get(std::string target, Headers h) {
  return send(Request{.method = "GET", .target = std::move(target), .headers = std::move(h)});
}

Response Client::head(std::string target, Headers h) {
  return send(Request{.method = "HEAD", .target = std::move(target), .headers = std::move(h)});
}

Response Client::del(std::string target, Headers h) {
  return send(Request{.method = "DELETE", .target = std::move(target), .headers = std::move(h)});
}

Response Client::put(std::string target, std::string body, Headers h) {
  return send(Request{.method = "PUT",
                      .target = std::move(target),
                      .headers = std::move(h),
                      .body = std::move(body)});
}

Response Client::post(std::string target, std::string body, Headers h) {
  return send(Request{.method = "POST",
                      .target = std::move(target),
                      .headers = std::move(h),
                      .body = std::move(body)});
}

Response Client::patch(std::string target, std::string body, Headers h) {
  return send(Request{.method = "PATCH",
                      .target = std::move(target),
                      .headers = std::move(h),
                      .body = std::move(body)});
}

}  // namespace drydock::testing
