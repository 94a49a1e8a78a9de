// The Docker Engine API subset that lets `DOCKER_BUILDKIT=0 docker -H
// tcp://HOST:PORT build` build into this registry: /_ping, /version and
// /build, with or without a /v1.NN prefix. The protocol (query, messages,
// bodies) is builder/engine_api's; this file moves bytes, checks access and
// cancels the build when the client goes away.
//
// g++ 12: never `co_await` inside `?:`, and keep values that live across a
// co_await in named locals (see auth_routes.cpp).

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>

#include "auth/authenticator.hpp"
#include "builder/build_service.hpp"
#include "builder/engine_api.hpp"
#include "registry/reference.hpp"
#include "server/blocking.hpp"
#include "server/build_stream.hpp"
#include "server/session.hpp"

namespace drydock::server {

namespace {

using builder::EngineEndpoint;
using registry::Reply;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kServerVersion = "drydock";

// An Engine API error: {"message": ...}, which the docker CLI prints as
// "Error response from daemon: <message>".
Reply engine_error(unsigned status, std::string_view message) {
  Reply r;
  r.status = status;
  r.body = builder::engine_error_json(message);
  r.header("Content-Type", "application/json");
  return r;
}

Reply ping_reply() {
  Reply r;
  r.body = "OK";
  r.header("Content-Type", "text/plain; charset=utf-8");
  for (auto& [k, v] : builder::ping_headers()) r.header(k, v);
  return r;
}

// Notices the client closing the connection while the build runs. The
// request has been read, so a readable socket means EOF or a reset, or more
// bytes: over TLS those are the client's close_notify (docker's Ctrl-C
// closes its connection cleanly; it never pipelines), over plain HTTP a
// pipelined request, which is left for after the build (then a failed write
// is what tells).
struct DisconnectWatch {
  bool gone = false;
};

void watch_disconnect(asio::ip::tcp::socket& socket, bool tls, asio::any_io_executor executor,
                      std::shared_ptr<DisconnectWatch> watch) {
  int fd = socket.native_handle();
  socket.async_wait(asio::ip::tcp::socket::wait_read,
                    asio::bind_executor(executor, [fd, tls, watch](beast::error_code ec) {
                      if (ec == asio::error::operation_aborted) return;
                      if (ec) {
                        watch->gone = true;
                        return;
                      }
                      char c;
                      ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
                      bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
                      if (closed || (n > 0 && tls)) watch->gone = true;
                    }));
}

}  // namespace

asio::awaitable<bool> Session::handle_engine(RequestParser& p, Exchange& ex, int endpoint,
                                             const registry::Query& query) {
  auto verb = p.get().method();
  auto e = static_cast<EngineEndpoint>(endpoint);
  if (e == EngineEndpoint::kBuild && verb == http::verb::post) {
    co_return co_await handle_engine_build(p, ex, query);
  }
  if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
  bool read = verb == http::verb::get || verb == http::verb::head;
  Reply reply;
  switch (e) {
    case EngineEndpoint::kPing:
      reply = read ? ping_reply() : engine_error(405, "use GET or HEAD");
      break;
    case EngineEndpoint::kVersion:
      if (read) {
        reply.body = builder::version_json(kServerVersion);
        reply.header("Content-Type", "application/json");
      } else {
        reply = engine_error(405, "use GET");
      }
      break;
    case EngineEndpoint::kBuild:
      reply = engine_error(405, "use POST");
      break;
    case EngineEndpoint::kBuildKit:
      reply = engine_error(400,
                           "BuildKit is not supported by this server: build with "
                           "DOCKER_BUILDKIT=0 (the classic builder)");
      break;
    case EngineEndpoint::kUnknown:
      reply = engine_error(404,
                           "page not found: this server implements /_ping, /version and "
                           "/build of the Docker Engine API");
      break;
  }
  co_return co_await write_reply(std::move(reply), ex);
}

asio::awaitable<bool> Session::handle_engine_build(RequestParser& p, Exchange& ex,
                                                   const registry::Query& query) {
  auto refuse = [&](unsigned status, std::string message) -> asio::awaitable<bool> {
    if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
    co_return co_await write_reply(engine_error(status, message), ex);
  };
  if (ctx_.builds == nullptr) {
    co_return co_await refuse(503, "the build service is disabled on this server");
  }
  auth::Principal who;
  if (ctx_.auth != nullptr) {
    std::optional<auth::Requirement> need = auth::Requirement{auth::Resource::kBase, {}, {}};
    std::optional<auth::Principal> allowed = co_await authorize_for(p, ex, need);
    if (!allowed) co_return ex.keep_alive;
    who = std::move(*allowed);
  }
  auto parsed =
      builder::parse_engine_build([&query](std::string_view k) { return query.get_all(k); });
  if (!parsed) co_return co_await refuse(400, parsed.error());
  auto build = std::move(*parsed);
  for (const auto& t : build.params.tags) {
    auto colon = t.rfind(':');
    std::string repo = t.substr(0, colon);
    if (!registry::valid_repository_name(repo) || !registry::valid_tag(t.substr(colon + 1))) {
      co_return co_await refuse(400, "invalid reference format: " + t);
    }
    // Building into a repository is pushing to it.
    if (ctx_.auth != nullptr && !ctx_.auth->allowed(who, repo).has(auth::Action::kPush)) {
      co_return co_await refuse(403, "push access to " + repo + " denied");
    }
  }
  build.params.user = who.user;

  auto& builds = *ctx_.builds;
  std::filesystem::path upload = builds.upload_path();
  auto receipt = co_await receive_context(p, ex, upload);
  using Outcome = ContextReceipt::Outcome;
  if (receipt.outcome == Outcome::kGone) co_return false;
  if (receipt.outcome != Outcome::kStored) {
    ex.keep_alive = false;
    bool too_large = receipt.outcome == Outcome::kTooLarge;
    Reply refused =
        too_large ? engine_error(413, "build context larger than " +
                                          std::to_string(builds.max_upload_bytes()) + " bytes")
                  : engine_error(500, receipt.message);
    co_return co_await write_reply(std::move(refused), ex);
  }
  auto completed =
      co_await run_blocking(ctx_.workers, [&] { return builder::complete_tar(upload); });
  if (!completed) {
    std::error_code ignored;
    std::filesystem::remove(upload, ignored);
    co_return co_await write_reply(engine_error(500, completed.error()), ex);
  }
  builder::PullCheck may_pull;
  if (ctx_.auth != nullptr) {
    may_pull = [auth = ctx_.auth, who](std::string_view repo) {
      return auth->allowed(who, repo).has(auth::Action::kPull);
    };
  }
  auto submitted = co_await run_blocking(ctx_.workers, [&] {
    return builds.submit(std::move(build.params), upload, std::move(may_pull));
  });
  if (!submitted) {
    using Kind = builder::SubmitError::Kind;
    const auto& err = submitted.error();
    unsigned status = err.kind == Kind::kInvalid ? 400 : err.kind == Kind::kBusy ? 503 : 500;
    co_return co_await write_reply(engine_error(status, err.message), ex);
  }
  co_return co_await stream_engine_build(ex, submitted->id, build.shown_tags, build.quiet);
}

// The build's log as the classic builder's JSON messages, chunked, until it
// ends; then the result. The connection closes afterwards: a read is pending
// on it to notice the client leaving, which cancels the build.
asio::awaitable<bool> Session::stream_engine_build(Exchange& ex, const std::string& id,
                                                   const std::vector<std::string>& shown_tags,
                                                   bool quiet) {
  auto& builds = *ctx_.builds;
  ex.keep_alive = false;
  http::response<http::empty_body> res{http::status::ok, ex.version};
  res.set(http::field::content_type, "application/json");
  res.set("Api-Version", builder::kEngineApiVersion);
  res.keep_alive(false);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  stream_.tcp().expires_after(std::chrono::seconds(ctx_.config.body_timeout_seconds));
  auto [hec, hn] =
      co_await stream_.visit([&](auto& s) { return http::async_write_header(s, sr, kTuple); });
  auto executor = co_await asio::this_coro::executor;
  auto watch = std::make_shared<DisconnectWatch>();
  watch->gone = static_cast<bool>(hec);
  if (!watch->gone)
    watch_disconnect(stream_.tcp().socket(), stream_.tls() != nullptr, executor, watch);

  builder::BuildMessages messages(quiet);
  std::uint64_t offset = 0, bytes_out = 0;
  auto send = [&](const std::string& text) -> asio::awaitable<void> {
    if (text.empty() || watch->gone) co_return;
    stream_.tcp().expires_after(std::chrono::seconds(ctx_.config.body_timeout_seconds));
    auto chunk = http::make_chunk(asio::buffer(text));
    auto [ec, n] =
        co_await stream_.visit([&](auto& s) { return asio::async_write(s, chunk, kTuple); });
    if (ec) watch->gone = true;
    bytes_out += text.size();
  };
  asio::steady_timer pause(executor);
  LogPoll poll;
  bool complete = false;
  // A stopping server cancels the build below, like a client leaving.
  while (!watch->gone && !ctx_.stopping) {
    auto piece =
        co_await run_blocking(ctx_.workers, [&] { return builds.read_log(id, offset, kLogPiece); });
    if (!piece) break;
    offset += piece->data.size();
    std::string out = messages.feed(piece->data);
    if (piece->data.empty()) out += messages.flush();
    co_await send(out);
    if (piece->complete) {
      complete = true;
      break;
    }
    if (piece->data.size() == kLogPiece) continue;  // more is there already
    if (!piece->data.empty()) poll.reset();
    pause.expires_after(poll.next());
    co_await pause.async_wait(kTuple);
  }
  if (watch->gone || !complete) {
    // The client left (docker killed, Ctrl-C): nobody would see the result.
    co_await run_blocking(ctx_.workers, [&] { return builds.cancel(id, kCancelWait); });
    log(ex, 499, bytes_out);
    co_return false;
  }
  auto rec = co_await run_blocking(ctx_.workers, [&] { return builds.get(id); });
  std::string end;
  if (rec && *rec && (*rec)->status == builder::BuildStatus::kSucceeded) {
    end = messages.succeeded(shown_tags);
  } else {
    std::string error = rec && *rec ? (*rec)->error : "the build record cannot be read";
    if (error.empty()) error = "build " + std::string(builder::to_string((*rec)->status));
    end = messages.failed(error);
  }
  co_await send(end);
  beast::error_code ignored;
  stream_.tcp().socket().cancel(ignored);  // the watch
  if (!watch->gone) {
    auto last = http::make_chunk_last();
    stream_.tcp().expires_after(std::chrono::seconds(ctx_.config.body_timeout_seconds));
    co_await stream_.visit([&](auto& s) { return asio::async_write(s, last, kTuple); });
  }
  log(ex, 200, bytes_out);
  co_return false;
}

}  // namespace drydock::server
