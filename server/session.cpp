#include "server/session.hpp"

#include <sys/sendfile.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
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

}  // namespace

Session::Session(asio::ip::tcp::socket socket, ServerContext& ctx)
    : stream_(std::move(socket)),
      buffer_(ctx.config.header_limit_bytes + 64 * 1024),
      ctx_(ctx),
      watchdog_(stream_.get_executor()) {
  beast::error_code ec;
  auto remote = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_address_ = remote.address().to_string();
}

Session::~Session() = default;

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  ctx_.tracker.add(self);
  try {
    while (!closed_ && co_await serve_one()) {
      if (ctx_.stopping.load()) break;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock: session error: %s\n", e.what());
  }
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (linger_ && !closed_) co_await linger();
  stream_.close();
  ctx_.tracker.remove(this);
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
    stream_.expires_at(deadline);
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(scratch), kTuple);
    if (ec) break;
    discarded += n;
  }
}

void Session::close_if_idle() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->idle_) {
      self->closed_ = true;
      self->stream_.cancel();
    }
  });
}

void Session::force_close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->closed_ = true;
    beast::error_code ec;
    self->stream_.socket().close(ec);
  });
}

// Reads one request header and serves it. Returns false when the connection
// must close (client gone, protocol error, Connection: close, timeout).
asio::awaitable<bool> Session::serve_one() {
  RequestParser parser;
  parser.header_limit(static_cast<std::uint32_t>(ctx_.config.header_limit_bytes));
  parser.body_limit(boost::none);  // bodies are streamed; each handler enforces its limit
  idle_ = true;
  stream_.expires_after(seconds(ctx_.config.idle_timeout_seconds));
  auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kTuple);
  idle_ = false;
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
    co_return false;  // the client left, idled out, or we are shutting down
  }
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
  Exchange ex;
  ex.keep_alive = false;
  ex.method = "-";
  ex.started = std::chrono::steady_clock::now();
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
  stream_.expires_after(seconds(ctx_.config.body_timeout_seconds));
  auto [ec, n] = co_await http::async_read(stream_, buffer_, p, kTuple);
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
    stream_.expires_after(seconds(ctx_.config.body_timeout_seconds));
    auto [ec, n] = co_await stream_.async_read_some(
        asio::buffer(buf.data() + out.bytes, want - out.bytes), kTuple);
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
  stream_.expires_after(seconds(ctx_.config.body_timeout_seconds));
  auto [ec, n] = co_await http::async_write(stream_, cont, kTuple);
  co_return !ec;
}

asio::awaitable<bool> Session::write_reply(registry::Reply reply, Exchange& ex) {
  stream_.expires_after(seconds(ctx_.config.body_timeout_seconds));
  auto status = static_cast<http::status>(reply.status);
  if (reply.blob || ex.head || bodiless(reply.status)) {
    http::response<http::empty_body> res{status, ex.version};
    fill_headers(res, reply, ex);
    std::uint64_t length =
        reply.blob ? reply.blob->length : reply.content_length.value_or(reply.body.size());
    if (!bodiless(reply.status)) res.content_length(length);
    auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
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
  auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
  log(ex, reply.status, length);
  co_return !ec;
}

// Streams a blob range with sendfile(2): the kernel copies from the page
// cache to the socket, no user-space buffer, memory flat whatever the size.
// A watchdog closes the socket if the client stops reading for body_timeout.
asio::awaitable<bool> Session::send_blob(registry::BlobBody& blob) {
  auto& socket = stream_.socket();
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
      if (!ec) self->stream_.socket().cancel();
    });
    auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_write, kTuple);
    watchdog_.cancel();
    if (ec) co_return false;
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
