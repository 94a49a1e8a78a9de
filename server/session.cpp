#include "server/session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstdio>

#include "registry/errors.hpp"
#include "server/session_tracker.hpp"

namespace drydock::server {

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t kLingerLimit = 64 << 20;
constexpr std::size_t kCopyPiece = 256 * 1024;  // blob bytes per write when sendfile can't serve
constexpr std::chrono::seconds kTlsShutdownTimeout(2);

std::chrono::seconds seconds(unsigned s) { return std::chrono::seconds(s); }

template <class Body>
void fill_headers(http::response<Body>& res, registry::Reply& reply, const Exchange& ex) {
  for (auto& h : reply.headers) res.insert(h.name, h.value);
  res.set("Docker-Distribution-API-Version", "registry/2.0");
  res.keep_alive(ex.keep_alive);
}

// RFC 9112 3.2: an HTTP/1.1 request without a Host header, or with more than
// one, MUST be answered with 400.
template <class Request>
bool host_ok(const Request& req) {
  auto hosts = req.count(http::field::host);
  return req.version() < 11 ? hosts <= 1 : hosts == 1;
}

// 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
bool bodiless(unsigned status) { return status == 204 || status == 304 || status < 200; }

// OpenSSL recognises "GET ", "POST ", "HEAD " and "PUT " where a TLS record
// should start: a client that was told http:// instead of https://.
bool plain_http_request(const beast::error_code& ec) {
  auto code = static_cast<unsigned long>(ec.value());
  return ec.category() == asio::error::get_ssl_category() && ERR_GET_LIB(code) == ERR_LIB_SSL &&
         ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST;
}

// The connection itself is broken at the TLS layer (bad record, failed MAC,
// unexpected message): no HTTP answer could get through, so just close.
bool tls_failure(const beast::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() ||
         ec.category() == asio::ssl::error::get_stream_category();
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, ServerContext& ctx,
                 std::shared_ptr<asio::ssl::context> tls)
    : stream_(std::move(socket), std::move(tls)),
      buffer_(ctx.config.header_limit_bytes + 64 * 1024),
      ctx_(ctx),
      watchdog_(stream_.get_executor()) {
  beast::error_code ec;
  auto remote = stream_.tcp().socket().remote_endpoint(ec);
  if (!ec) peer_address_ = remote.address().to_string();
}

Session::~Session() = default;

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  ctx_.tracker.add(self);
  try {
    if (co_await handshake()) {
      while (!closed_ && co_await serve_one()) {
        if (ctx_.stopping.load()) break;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock: session error: %s\n", e.what());
  }
  co_await close_stream();
  stream_.tcp().close();
  ctx_.tracker.remove(this);
}

// On a TLS connection, the handshake comes first, bounded by the idle
// timeout: a client that connects and says nothing must not hold a session.
// False: the connection is to be closed without a word.
asio::awaitable<bool> Session::handshake() {
  auto* tls = stream_.tls();
  if (tls == nullptr) co_return true;
  stream_.tcp().expires_after(seconds(ctx_.config.idle_timeout_seconds));
  auto [ec] = co_await tls->async_handshake(asio::ssl::stream_base::server, kTuple);
  if (!ec) {
    tls_up_ = true;
    co_return true;
  }
  if (plain_http_request(ec)) {
    co_await refuse_plain_http();
  } else if (ctx_.config.access_log && ec != beast::error::timeout &&
             ec != asio::error::operation_aborted) {
    std::fprintf(stderr, "drydock: TLS handshake with %s failed: %s\n", peer_address_.c_str(),
                 ec.message().c_str());
  }
  co_return false;
}

// Plain HTTP sent to the TLS port: OpenSSL has read the request line and sent
// nothing. Answer in plain HTTP, as nginx does, so that the user reads why
// instead of seeing a reset.
asio::awaitable<void> Session::refuse_plain_http() {
  http::response<http::string_body> res{http::status::bad_request, 11};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = registry::error_body(
      {registry::ErrorCode::kUnsupported, "this port speaks HTTPS, not plain HTTP", {}});
  res.prepare_payload();
  stream_.tcp().expires_after(seconds(ctx_.config.idle_timeout_seconds));
  co_await http::async_write(stream_.tcp(), res, kTuple);
  beast::error_code ec;
  stream_.tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

// Ends the connection gracefully: plain TCP sends FIN at once; TLS reads
// (lingers) first if it must, then sends close_notify. The caller closes.
asio::awaitable<void> Session::close_stream() {
  if (!stream_.tls()) {
    beast::error_code ec;
    stream_.tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }
  bool open = stream_.tcp().socket().is_open();
  if (linger_ && !closed_ && open && (tls_up_ || !stream_.tls())) co_await linger();
  if (tls_up_ && open) co_await tls_shutdown();
}

// Sends close_notify, so that the client can tell a complete reply from a
// cut one, without waiting for the client's own: the side that closes need
// not wait for the answer (RFC 8446 6.1, RFC 5246 7.2.1), and a pooled idle
// client (curl, for one) only answers when it next looks at the connection,
// so waiting would hold the session for the whole timeout. Marking the
// peer's close_notify as received makes async_shutdown write ours and
// complete. Failures mean the client is gone already: nothing left to say.
asio::awaitable<void> Session::tls_shutdown() {
  auto* tls = stream_.tls();
  SSL* ssl = tls->native_handle();
  SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
  stream_.tcp().expires_after(kTlsShutdownTimeout);
  co_await tls->async_shutdown(kTuple);
}

// We answered without reading the whole request body (a refused chunk, an
// oversized manifest). Closing now would make the kernel reset the
// connection while the client is still sending, and a reset can destroy our
// answer before the client reads it. So, like nginx's lingering close, read
// and discard for a short while until the client stops sending.
asio::awaitable<void> Session::linger() {
  std::array<std::byte, 64 * 1024> scratch;
  std::uint64_t discarded = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (discarded < kLingerLimit && std::chrono::steady_clock::now() < deadline) {
    stream_.tcp().expires_at(deadline);
    auto [ec, n] = co_await stream_.visit(
        [&](auto& s) { return s.async_read_some(asio::buffer(scratch), kTuple); });
    if (ec) break;
    discarded += n;
  }
}

void Session::close_if_idle() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->idle_) {
      self->closed_ = true;
      self->stream_.tcp().cancel();
    }
  });
}

void Session::force_close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->closed_ = true;
    beast::error_code ec;
    self->stream_.tcp().socket().close(ec);
  });
}

// Reads one request header and serves it. Returns false when the connection
// must close (client gone, protocol error, Connection: close, timeout).
asio::awaitable<bool> Session::serve_one() {
  RequestParser parser;
  parser.header_limit(static_cast<std::uint32_t>(ctx_.config.header_limit_bytes));
  parser.body_limit(boost::none);  // bodies are streamed; each handler enforces its limit
  idle_ = true;
  stream_.tcp().expires_after(seconds(ctx_.config.idle_timeout_seconds));
  auto [ec, n] = co_await stream_.visit(
      [&](auto& s) { return http::async_read_header(s, buffer_, parser, kTuple); });
  idle_ = false;
  // A TLS client that closes the TCP connection without close_notify gives
  // ssl::error::stream_truncated. Between requests that is expected, not an
  // attack on the reply: many clients close that way (curl, Go, Docker), and
  // there is nothing of ours it could cut short. Same as end_of_stream.
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
      ec == asio::ssl::error::stream_truncated) {
    co_return false;  // the client left, idled out, or we are shutting down
  }
  if (tls_failure(ec)) co_return false;
  if (ec == http::error::header_limit) {
    co_await reply_and_close(431, "request header fields too large");
    co_return false;
  }
  if (ec) {
    co_await reply_and_close(400, "malformed HTTP request");
    co_return false;
  }
  const auto& req = parser.get();
  Exchange ex;
  ex.method = std::string(req.method_string());
  ex.target = std::string(req.target());
  ex.version = req.version();
  ex.keep_alive = req.keep_alive() && !ctx_.stopping.load();
  ex.head = req.method() == http::verb::head;
  ex.started = std::chrono::steady_clock::now();
  if (!host_ok(req)) {
    co_await reply_and_close(400, "HTTP/1.1 requests need exactly one Host header");
    co_return false;
  }
  continue_sent_ = false;
  raw_body_ = !parser.chunked() && parser.content_length().has_value();
  raw_left_ = raw_body_ ? *parser.content_length() : 0;
  bool keep = false;
  bool failed = false;
  try {
    keep = co_await dispatch(parser, ex);
  } catch (const std::exception& e) {
    // A bug or resource exhaustion in one request must not take the process
    // down; the client gets a 500 and the connection closes.
    std::fprintf(stderr, "drydock: %s %s failed: %s\n", ex.method.c_str(), ex.target.c_str(),
                 e.what());
    failed = true;
  }
  if (failed) {
    co_await reply_and_close(500, "internal error");
    co_return false;
  }
  // A body nobody finished reading leaves the stream out of sync.
  if (!body_done(parser)) {
    keep = false;
    linger_ = true;
  }
  co_return keep&& ex.keep_alive;
}

asio::awaitable<void> Session::reply_and_close(unsigned status, std::string_view message) {
  registry::Reply reply;
  reply.status = status;
  // HTTP-level failures have no OCI error code of their own; UNSUPPORTED
  // ("the operation is unsupported") is the closest for a request we cannot
  // parse, INTERNAL_ERROR for our own failures.
  auto code = status >= 500 ? registry::ErrorCode::kInternal : registry::ErrorCode::kUnsupported;
  reply.body = registry::error_body({code, std::string(message), {}});
  reply.header("Content-Type", "application/json");
  // Initialised, not assigned: g++ 12 misreports `ex.method = "-"` here
  // (-Wrestrict false positive, GCC PR 105329).
  Exchange ex{.method = "-", .keep_alive = false, .started = std::chrono::steady_clock::now()};
  co_await write_reply(std::move(reply), ex);
}

bool Session::body_done(const RequestParser& p) const {
  return raw_body_ ? raw_left_ == 0 : p.is_done();
}

asio::awaitable<BodyRead> Session::read_body(RequestParser& p, std::span<std::byte> buf) {
  if (raw_body_) co_return co_await read_raw_body(buf);
  BodyRead out;
  if (p.is_done()) {
    out.done = true;
    co_return out;
  }
  p.get().body().data = buf.data();
  p.get().body().size = buf.size();
  stream_.tcp().expires_after(seconds(ctx_.config.body_timeout_seconds));
  auto [ec, n] =
      co_await stream_.visit([&](auto& s) { return http::async_read(s, buffer_, p, kTuple); });
  if (ec == http::error::need_buffer) ec = {};
  out.bytes = buf.size() - p.get().body().size;
  out.done = p.is_done();
  out.ec = ec;
  co_return out;
}

// Fills `buf` (or reads what is left of the body): first the bytes that came
// in with the header, then straight from the socket.
asio::awaitable<BodyRead> Session::read_raw_body(std::span<std::byte> buf) {
  BodyRead out;
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), raw_left_));
  if (buffer_.size() > 0) {
    out.bytes = asio::buffer_copy(asio::buffer(buf.data(), want), buffer_.data());
    buffer_.consume(out.bytes);
  }
  while (out.bytes < want) {
    stream_.tcp().expires_after(seconds(ctx_.config.body_timeout_seconds));
    auto piece = asio::buffer(buf.data() + out.bytes, want - out.bytes);
    auto [ec, n] =
        co_await stream_.visit([&](auto& s) { return s.async_read_some(piece, kTuple); });
    out.bytes += n;
    if (ec) {
      out.ec = ec;
      break;
    }
  }
  raw_left_ -= out.bytes;
  out.done = raw_left_ == 0;
  co_return out;
}

// Reads and discards a body the handler does not need. False if it was larger
// than `limit` or broken: the connection must then close.
asio::awaitable<bool> Session::drain_body(RequestParser& p, std::size_t limit) {
  // A client waiting for 100 Continue sends nothing more: answer now and
  // close, rather than wait for a body that is not coming (RFC 9110 10.1.1).
  if (expects_continue(p)) co_return false;
  std::array<std::byte, 16 * 1024> scratch;
  std::size_t total = 0;
  while (!body_done(p)) {
    auto r = co_await read_body(p, scratch);
    total += r.bytes;
    if (r.ec || total > limit) co_return false;
  }
  co_return true;
}

// Answers "Expect: 100-continue" before reading a body we are going to accept
// (RFC 9110 10.1.1), so clients like curl don't wait a second for it.
bool Session::expects_continue(const RequestParser& p) const {
  return !continue_sent_ && !body_done(p) &&
         beast::iequals(p.get()[http::field::expect], "100-continue");
}

asio::awaitable<bool> Session::send_continue(RequestParser& p) {
  if (!expects_continue(p)) co_return true;
  continue_sent_ = true;
  http::response<http::empty_body> cont{http::status::continue_, p.get().version()};
  stream_.tcp().expires_after(seconds(ctx_.config.body_timeout_seconds));
  auto [ec, n] =
      co_await stream_.visit([&](auto& s) { return http::async_write(s, cont, kTuple); });
  co_return !ec;
}

asio::awaitable<bool> Session::write_reply(registry::Reply reply, Exchange& ex) {
  stream_.tcp().expires_after(seconds(ctx_.config.body_timeout_seconds));
  auto status = static_cast<http::status>(reply.status);
  if (reply.blob || ex.head || bodiless(reply.status)) {
    http::response<http::empty_body> res{status, ex.version};
    fill_headers(res, reply, ex);
    std::uint64_t length =
        reply.blob ? reply.blob->length : reply.content_length.value_or(reply.body.size());
    if (!bodiless(reply.status)) res.content_length(length);
    auto [ec, n] =
        co_await stream_.visit([&](auto& s) { return http::async_write(s, res, kTuple); });
    bool ok = !ec;
    if (ok && reply.blob && !ex.head) ok = co_await send_blob(*reply.blob);
    log(ex, reply.status, reply.blob && !ex.head ? length : 0);
    co_return ok;
  }
  http::response<http::string_body> res{status, ex.version};
  fill_headers(res, reply, ex);
  res.body() = std::move(reply.body);
  res.prepare_payload();
  std::uint64_t length = res.body().size();
  auto [ec, n] = co_await stream_.visit([&](auto& s) { return http::async_write(s, res, kTuple); });
  log(ex, reply.status, length);
  co_return !ec;
}

// Streams a blob range with sendfile(2): the kernel copies from the page
// cache to the socket, no user-space buffer, memory flat whatever the size.
// A watchdog closes the socket if the client stops reading for body_timeout.
asio::awaitable<bool> Session::send_blob(registry::BlobBody& blob) {
  if (stream_.tls()) co_return co_await copy_blob(blob);
  auto& socket = stream_.tcp().socket();
  socket.native_non_blocking(true);
  off_t offset = static_cast<off_t>(blob.offset);
  std::uint64_t left = blob.length;
  while (left > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, 16u << 20));
    ssize_t sent = ::sendfile(socket.native_handle(), blob.fd.get(), &offset, want);
    if (sent > 0) {
      left -= static_cast<std::uint64_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) co_return false;
    watchdog_.expires_after(seconds(ctx_.config.body_timeout_seconds));
    watchdog_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->stream_.tcp().socket().cancel();
    });
    auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_write, kTuple);
    watchdog_.cancel();
    if (ec) co_return false;
  }
  co_return true;
}

// TLS encrypts in user space, so sendfile(2) cannot serve it: read the range
// with pread into one 256 KiB buffer and write it piece by piece. Memory
// stays flat whatever the blob size; each write must progress within
// body_timeout.
asio::awaitable<bool> Session::copy_blob(registry::BlobBody& blob) {
  auto piece = std::make_unique_for_overwrite<char[]>(kCopyPiece);
  auto offset = static_cast<off_t>(blob.offset);
  std::uint64_t left = blob.length;
  while (left > 0) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, kCopyPiece));
    ssize_t got = ::pread(blob.fd.get(), piece.get(), want, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) co_return false;  // a read error, or the file is shorter than promised
    auto bytes = asio::buffer(piece.get(), static_cast<std::size_t>(got));
    stream_.tcp().expires_after(seconds(ctx_.config.body_timeout_seconds));
    auto [ec, n] =
        co_await stream_.visit([&](auto& s) { return asio::async_write(s, bytes, kTuple); });
    if (ec) co_return false;
    offset += got;
    left -= static_cast<std::uint64_t>(got);
  }
  co_return true;
}

void Session::log(const Exchange& ex, unsigned status, std::uint64_t bytes_out) const {
  if (!ctx_.config.access_log) return;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  ex.started)
                .count();
  std::fprintf(stderr, "access: %s %s %u in=%llu out=%llu %.3fms\n", ex.method.c_str(),
               ex.target.c_str(), status, static_cast<unsigned long long>(ex.bytes_in),
               static_cast<unsigned long long>(bytes_out), static_cast<double>(us) / 1000.0);
}

}  // namespace drydock::server
