// Routing: turns an HTTP request into a registry call. All protocol rules
// live in registry/; this file only moves bytes and picks threads.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/string_body.hpp>

#include "auth/authenticator.hpp"
#include "builder/engine_api.hpp"
#include "registry/route.hpp"
#include "server/blocking.hpp"
#include "server/session.hpp"

namespace drydock::server {

using registry::Endpoint;
using registry::Reply;

namespace {

constexpr std::size_t kUploadPiece = 1 << 20;  // bytes per read/write step

registry::RequestInfo request_info(const RequestParser& p, std::string& accept_joined) {
  const auto& req = p.get();
  for (auto it = req.find(http::field::accept);
       it != req.end() && it->name() == http::field::accept; ++it) {
    if (!accept_joined.empty()) accept_joined += ',';
    accept_joined.append(it->value());
  }
  registry::RequestInfo info;
  info.content_type = req[http::field::content_type];
  info.content_range = req[http::field::content_range];
  info.accept = accept_joined;
  info.range = req[http::field::range];
  info.if_none_match = req[http::field::if_none_match];
  if (!p.chunked() && p.content_length()) info.content_length = *p.content_length();
  if (!p.chunked() && !p.content_length()) info.content_length = 0;
  return info;
}

// RFC 9112 3.2.2: a server MUST accept the absolute form
// ("http://host/v2/"); only its path and query matter here.
std::string_view origin_form(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && beast::iequals(target.substr(0, scheme.size()), scheme)) {
      auto slash = target.find('/', scheme.size());
      return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  return target;
}

Reply method_not_allowed() {
  return registry::error_reply(registry::ErrorCode::kMethodNotAllowed,
                               "method not allowed on this endpoint");
}

// Why a write step failed, for the client, when the upload cannot go on.
Reply client_gone() {
  return registry::error_reply(registry::ErrorCode::kBlobUploadInvalid, "request body ended early");
}

// Tracks one write running on the worker pool while the next piece is read
// from the socket: reading and hashing/writing overlap, yet only one write
// is ever in flight, so order and backpressure are kept.
struct PendingWrite {
  explicit PendingWrite(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  bool active = false;
  bool done = false;
  std::optional<Reply> failure;
};

asio::awaitable<void> wait_for(PendingWrite& w) {
  while (w.active && !w.done) {
    w.timer.expires_at(asio::steady_timer::time_point::max());
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  w.active = false;
}

// A request without a streamed body, ready to be answered.
struct Call {
  http::verb verb;
  bool head = false;
  const registry::Route& route;
  const registry::Query& query;
  const registry::RequestInfo& info;
  const auth::Principal& who;
  bool read() const { return verb == http::verb::get || verb == http::verb::head; }
};

// GET/HEAD answered inline (reads are fast and must never queue behind
// writes); DELETE on the worker pool.
asio::awaitable<Reply> manifest_call(ServerContext& ctx, const Call& c) {
  auto& reg = ctx.registry;
  const auto& [endpoint, name, ref] = c.route;
  if (c.read()) co_return reg.get_manifest(name, ref, c.info, c.head);
  if (c.verb != http::verb::delete_) co_return method_not_allowed();
  co_return co_await run_blocking(ctx.workers, [&] { return reg.delete_manifest(name, ref); });
}

asio::awaitable<Reply> blob_call(ServerContext& ctx, const Call& c) {
  auto& reg = ctx.registry;
  const auto& [endpoint, name, ref] = c.route;
  if (c.read()) co_return reg.get_blob(name, ref, c.info, c.head);
  if (c.verb != http::verb::delete_) co_return method_not_allowed();
  co_return co_await run_blocking(ctx.workers, [&] { return reg.delete_blob(name, ref); });
}

// Upload status may rebuild a session from disk after a restart: pool.
asio::awaitable<Reply> upload_call(ServerContext& ctx, const Call& c) {
  auto& reg = ctx.registry;
  const auto& [endpoint, name, ref] = c.route;
  if (c.verb == http::verb::get) {
    co_return co_await run_blocking(ctx.workers, [&] { return reg.upload_status(name, ref); });
  }
  if (c.verb != http::verb::delete_) co_return method_not_allowed();
  co_return co_await run_blocking(ctx.workers, [&] { return reg.cancel_upload(name, ref); });
}

asio::awaitable<Reply> answer(ServerContext& ctx, const Call& c) {
  auto& reg = ctx.registry;
  const auto& [endpoint, name, ref] = c.route;
  switch (endpoint) {
    case Endpoint::kBase:
      co_return c.read() ? reg.base() : method_not_allowed();
    case Endpoint::kCatalog:
      if (!c.read()) co_return method_not_allowed();
      if (ctx.auth == nullptr) co_return reg.catalog(c.query);
      // Only the repositories the caller may pull are listed.
      co_return reg.catalog(c.query, [&](std::string_view repo) {
        return ctx.auth->allowed(c.who, repo).has(auth::Action::kPull);
      });
    case Endpoint::kTags:
      co_return c.read() ? reg.tags(name, c.query) : method_not_allowed();
    case Endpoint::kReferrers:
      co_return c.read() ? reg.referrers(name, ref, c.query) : method_not_allowed();
    case Endpoint::kManifest:
      co_return co_await manifest_call(ctx, c);
    case Endpoint::kBlob:
      co_return co_await blob_call(ctx, c);
    case Endpoint::kUpload:
      co_return co_await upload_call(ctx, c);
    case Endpoint::kUploads:
      co_return method_not_allowed();
    case Endpoint::kUnknown:
      break;
  }
  co_return registry::error_reply(registry::ErrorCode::kNotFound, "no such endpoint");
}

}  // namespace

asio::awaitable<bool> Session::dispatch(RequestParser& p, Exchange& ex) {
  auto& reg = ctx_.registry;
  auto& pool = ctx_.workers;
  auto target = registry::split_target(origin_form(p.get().target()));
  if (!target) {
    co_await reply_and_close(400, "malformed request target");
    co_return false;
  }
  auto query = registry::Query::parse(target->raw_query);
  if (ctx_.auth != nullptr && target->path == "/token") co_return co_await handle_token(p, ex, query);
  if (target->path.starts_with("/admin/")) co_return co_await handle_admin(p, ex, target->path, query);
  if (target->path == "/usage") co_return co_await handle_usage(p, ex, query);
  if (target->path == "/builds" || target->path.starts_with("/builds/")) {
    co_return co_await handle_builds(p, ex, target->path, query);
  }
  if (target->path == "/images" || target->path.starts_with("/images/")) {
    co_return co_await handle_images(p, ex, target->path, query);
  }
  // The Docker Engine API's paths (/_ping, /version, /build, /v1.NN/...)
  // never collide with the registry's (/v2/...).
  if (auto engine = builder::engine_endpoint(target->path)) {
    co_return co_await handle_engine(p, ex, static_cast<int>(*engine), query);
  }
  auto route = registry::parse_route(target->path);
  auth::Principal who;
  if (ctx_.auth != nullptr) {
    auto allowed = co_await authorize(p, ex, route);
    if (!allowed) co_return ex.keep_alive;  // refused, and answered
    who = std::move(*allowed);
    // Mounting needs pull on the source too; without it the blob is simply
    // not mountable, and the spec's fallback (a fresh upload session) applies.
    auto from = query.get("from");
    if (route.endpoint == Endpoint::kUploads && query.has("mount") &&
        (!from || !ctx_.auth->allowed(who, *from).has(auth::Action::kPull))) {
      query.erase("mount");
    }
  }
  std::string accept;
  auto info = request_info(p, accept);
  auto verb = p.get().method();
  const auto& name = route.name;
  const auto& ref = route.reference;

  // Streamed-body requests first: they read the body themselves.
  if (route.endpoint == Endpoint::kManifest && verb == http::verb::put) {
    co_return co_await handle_manifest_put(p, ex, name, ref, info);
  }
  if (route.endpoint == Endpoint::kUploads && verb == http::verb::post) {
    auto step = co_await run_blocking(pool, [&] { return reg.begin_post(name, query, info); });
    co_return co_await handle_upload(p, ex, std::move(step));
  }
  if (route.endpoint == Endpoint::kUpload &&
      (verb == http::verb::patch || verb == http::verb::put)) {
    auto step = co_await run_blocking(pool, [&] {
      return verb == http::verb::patch ? reg.begin_patch(name, ref, info)
                                       : reg.begin_put(name, ref, query, info);
    });
    co_return co_await handle_upload(p, ex, std::move(step));
  }

  // Everything else has no meaningful body.
  if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
  Call call{verb, ex.head, route, query, info, who};
  co_return co_await write_reply(co_await answer(ctx_, call), ex);
}

// GET /usage: with auth on, any caller (as for the catalog); admins see
// every namespace, others the repositories they may pull and their
// namespaces.
asio::awaitable<bool> Session::handle_usage(RequestParser& p, Exchange& ex,
                                            const registry::Query& query) {
  auth::Principal who;
  if (ctx_.auth != nullptr) {
    std::optional<auth::Requirement> need = auth::Requirement{auth::Resource::kCatalog, {}, {}};
    std::optional<auth::Principal> allowed = co_await authorize_for(p, ex, need);
    if (!allowed) co_return ex.keep_alive;
    who = std::move(*allowed);
  }
  if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
  auto verb = p.get().method();
  if (verb != http::verb::get && verb != http::verb::head) {
    co_return co_await write_reply(method_not_allowed(), ex);
  }
  registry::Registry::Visible visible;
  if (ctx_.auth != nullptr && !who.admin) {
    visible = [&](std::string_view repo) {
      return ctx_.auth->allowed(who, repo).has(auth::Action::kPull);
    };
  }
  Reply reply = co_await run_blocking(ctx_.workers, [&] { return ctx_.registry.usage(query, visible); });
  co_return co_await write_reply(std::move(reply), ex);
}

asio::awaitable<bool> Session::handle_manifest_put(RequestParser& p, Exchange& ex, std::string name,
                                                   std::string ref, registry::RequestInfo info) {
  auto limit = ctx_.registry.max_manifest_bytes();
  // A declared size over the limit is refused before reading: the body is
  // never buffered. A chunked body is cut off once it passes the limit.
  bool too_large = info.content_length && *info.content_length > limit;
  std::string body;
  if (!too_large) {
    if (!co_await send_continue(p)) co_return false;
    std::array<std::byte, 64 * 1024> piece;
    while (!body_done(p) && !too_large) {
      auto r = co_await read_body(p, piece);
      if (r.ec) co_return false;
      body.append(reinterpret_cast<const char*>(piece.data()), r.bytes);
      too_large = body.size() > limit;
    }
  }
  if (too_large) {
    ex.keep_alive = false;
    co_return co_await write_reply(registry::Registry::manifest_too_large(), ex);
  }
  ex.bytes_in = body.size();
  auto reply = co_await run_blocking(
      ctx_.workers, [&] { return ctx_.registry.put_manifest(name, ref, info, body); });
  co_return co_await write_reply(std::move(reply), ex);
}

asio::awaitable<bool> Session::handle_upload(RequestParser& p, Exchange& ex,
                                             registry::UploadStep step) {
  if (auto* reply = std::get_if<Reply>(&step)) {
    // Refused before reading the body: drain a small one, else close.
    if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
    co_return co_await write_reply(std::move(*reply), ex);
  }
  auto& w = std::get<registry::UploadWrite>(step);
  if (!co_await send_continue(p)) co_return false;
  auto failure = co_await stream_upload(p, w, ex);
  if (failure) {
    co_await run_blocking(ctx_.workers, [&] {
      ctx_.registry.abandon_upload_write(w);
      return true;
    });
    ex.keep_alive = false;
    co_return co_await write_reply(std::move(*failure), ex);
  }
  auto reply =
      co_await run_blocking(ctx_.workers, [&] { return ctx_.registry.finish_upload_write(w); });
  co_return co_await write_reply(std::move(reply), ex);
}

// Streams the request body into the upload session, one piece at a time,
// overlapping the socket read of piece N+1 with the hash+write of piece N.
asio::awaitable<std::optional<Reply>> Session::stream_upload(RequestParser& p,
                                                             registry::UploadWrite& w,
                                                             Exchange& ex) {
  auto executor = co_await asio::this_coro::executor;
  std::unique_ptr<std::byte[]> buffers[2] = {std::make_unique<std::byte[]>(kUploadPiece),
                                             std::make_unique<std::byte[]>(kUploadPiece)};
  int current = 0;
  // Beast sizes each socket read by the buffer's free capacity, which after a
  // header is tiny (hundreds of bytes); give it room for 64 KiB reads while
  // the body streams, and hand the memory back afterwards.
  buffer_.reserve(buffer_.max_size());
  struct Shrink {
    beast::flat_buffer& b;
    ~Shrink() { b.shrink_to_fit(); }
  } shrink{buffer_};
  PendingWrite pending(executor);
  auto self = shared_from_this();
  while (!body_done(p)) {
    auto r = co_await read_body(p, {buffers[current].get(), kUploadPiece});
    if (r.ec) {
      co_await wait_for(pending);
      co_return client_gone();
    }
    if (r.bytes == 0) continue;
    ex.bytes_in += r.bytes;
    co_await wait_for(pending);
    if (pending.failure) co_return std::move(pending.failure);
    pending.active = true;
    pending.done = false;
    std::span<const std::byte> piece(buffers[current].get(), r.bytes);
    asio::post(ctx_.workers, [this, self, &w, &pending, piece, executor] {
      auto failure = ctx_.registry.write_upload(w, piece);
      asio::post(executor, [&pending, failure = std::move(failure)]() mutable {
        pending.failure = std::move(failure);
        pending.done = true;
        pending.timer.cancel();
      });
    });
    current ^= 1;
  }
  co_await wait_for(pending);
  if (pending.failure) co_return std::move(pending.failure);
  co_return std::nullopt;
}

}  // namespace drydock::server
