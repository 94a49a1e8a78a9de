#include "tests/server/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
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

// OpenSSL's queued errors as text, oldest first ("" if none).
std::string tls_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

bool is_ip(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
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

Connection::Connection(std::uint16_t port, const TlsOptions& tls, std::chrono::milliseconds timeout)
    : Connection(port, timeout) {
  start_tls(tls);
}

void Connection::start_tls(const TlsOptions& tls) {
  // OpenSSL writes with write(2), which raises SIGPIPE on a connection the
  // server has reset; that must fail a send, not kill the test process.
  std::signal(SIGPIPE, SIG_IGN);
  ERR_clear_error();
  tls_ctx_ = SSL_CTX_new(TLS_client_method());
  if (tls_ctx_ == nullptr) throw HttpError("SSL_CTX_new: " + tls_errors());
  // A server that closes without close_notify reads as a plain end of stream.
  SSL_CTX_set_options(tls_ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (tls.min_version) SSL_CTX_set_min_proto_version(tls_ctx_, tls.min_version);
  if (tls.max_version) SSL_CTX_set_max_proto_version(tls_ctx_, tls.max_version);
  if (!tls.ciphers.empty() && SSL_CTX_set_cipher_list(tls_ctx_, tls.ciphers.c_str()) != 1) {
    throw HttpError("cipher list " + tls.ciphers + ": " + tls_errors());
  }
  if (!tls.ca.empty()) {
    if (SSL_CTX_load_verify_locations(tls_ctx_, tls.ca.c_str(), nullptr) != 1) {
      throw HttpError("CA " + tls.ca.string() + ": " + tls_errors());
    }
    SSL_CTX_set_verify(tls_ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!tls.cert.empty() &&
      (SSL_CTX_use_certificate_chain_file(tls_ctx_, tls.cert.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(tls_ctx_, tls.key.c_str(), SSL_FILETYPE_PEM) != 1)) {
    throw HttpError("client certificate " + tls.cert.string() + ": " + tls_errors());
  }
  ssl_ = SSL_new(tls_ctx_);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) throw HttpError("SSL_new: " + tls_errors());
  if (is_ip(tls.host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), tls.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, tls.host.c_str());
    SSL_set1_host(ssl_, tls.host.c_str());
  }
  errno = 0;
  if (SSL_connect(ssl_) != 1) {
    std::string why = tls_errors();
    if (why.empty()) why = errno ? std::strerror(errno) : "connection closed";
    throw HttpError("TLS handshake failed: " + why);
  }
}

Connection::~Connection() { close(); }

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      tls_ctx_(std::exchange(other.tls_ctx_, nullptr)),
      ssl_(std::exchange(other.ssl_, nullptr)),
      in_(std::move(other.in_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    tls_ctx_ = std::exchange(other.tls_ctx_, nullptr);
    ssl_ = std::exchange(other.ssl_, nullptr);
    in_ = std::move(other.in_);
  }
  return *this;
}

void Connection::free_tls() noexcept {
  if (ssl_) SSL_free(ssl_);
  if (tls_ctx_) SSL_CTX_free(tls_ctx_);
  ssl_ = nullptr;
  tls_ctx_ = nullptr;
}

// TLS: close_notify first (best effort), as a well-behaved client does.
void Connection::close() {
  if (ssl_ && fd_ >= 0 && SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
  free_tls();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Connection::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  free_tls();  // no close_notify: the point is an abrupt end
  close();
}

void Connection::shutdown_write() {
  if (ssl_ && fd_ >= 0) SSL_shutdown(ssl_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

long Connection::send_some(std::string_view bytes, std::string& error) noexcept {
  if (ssl_ == nullptr) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) error = errno_text("send");
    return n;
  }
  ERR_clear_error();
  int n =
      SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 30)));
  if (n > 0) return n;
  int e = SSL_get_error(ssl_, n);
  error = e == SSL_ERROR_WANT_WRITE ? "timed out sending" : "TLS send: " + tls_errors();
  if (e == SSL_ERROR_SYSCALL) error = errno_text("TLS send");
  return -1;
}

long Connection::recv_some(char* buf, std::size_t n, std::string& error) noexcept {
  if (ssl_ == nullptr) {
    for (;;) {
      ssize_t got = ::recv(fd_, buf, n, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got >= 0) return got;
      error = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out reading a response"
                                                      : errno_text("recv");
      return -1;
    }
  }
  ERR_clear_error();
  int got = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
  if (got > 0) return got;
  switch (SSL_get_error(ssl_, got)) {
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    case SSL_ERROR_WANT_READ:
      error = "timed out reading a response";
      return -1;
    case SSL_ERROR_SYSCALL:
      error = errno ? errno_text("TLS recv") : std::string("TLS recv: connection closed");
      return -1;
    default:
      error = "TLS recv: " + tls_errors();
      return -1;
  }
}

bool Connection::try_send(std::string_view bytes) noexcept {
  std::string error;
  while (!bytes.empty()) {
    long n = send_some(bytes, error);
    if (n < 0 && errno == EINTR && ssl_ == nullptr) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string Connection::peer_subject() const {
  if (ssl_ == nullptr) return {};
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

std::string Connection::tls_version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

std::string Connection::tls_cipher() const { return ssl_ ? SSL_get_cipher_name(ssl_) : ""; }

void Connection::send(std::string_view bytes) {
  if (fd_ < 0) throw HttpError("send on a closed connection");
  if (!try_send(bytes)) throw HttpError(errno_text("send"));
}

bool Connection::fill() {
  char buf[64 * 1024];
  std::string error;
  long n = recv_some(buf, sizeof buf, error);
  if (n < 0) throw HttpError(error);
  in_.append(buf, static_cast<std::size_t>(n));
  return n > 0;
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

// On TLS, poll also wakes for records that carry no response bytes (a TLS 1.3
// session ticket after the handshake): "maybe readable" there.
bool Connection::wait_readable(std::chrono::milliseconds timeout) {
  if (!in_.empty() || (ssl_ && SSL_pending(ssl_) > 0)) return true;
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
    std::string error;
    long n = recv_some(buf, sizeof buf, error);
    if (n == 0) return true;
    if (n < 0 && !error.starts_with("timed out")) return true;  // reset
  }
}

// --- Client -------------------------------------------------------------------

Response Client::send(const Request& r) {
  // A kept connection the server has since closed fails before any response
  // byte: then retry once on a fresh one, as HTTP clients do.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = conn_.has_value();
    if (!conn_ && tls_) conn_.emplace(port_, *tls_);
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
