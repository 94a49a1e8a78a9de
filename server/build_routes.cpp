// The build API: POST /builds (the context streamed to disk), GET
// /builds[/<id>], GET /builds/<id>/logs (followed as it grows) and DELETE
// /builds/<id>. The rules are the BuildService's; this file moves bytes,
// checks access and picks threads.
//
// g++ 12: never `co_await` inside `?:`, and keep values that live across a
// co_await in named locals (see auth_routes.cpp).

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <variant>

#include "auth/authenticator.hpp"
#include "auth/secrets.hpp"
#include "builder/build_service.hpp"
#include "registry/reference.hpp"
#include "server/blocking.hpp"
#include "server/build_stream.hpp"
#include "server/session.hpp"

namespace drydock::server {

namespace {

using registry::ErrorCode;
using registry::Reply;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kUploadPiece = 1 << 20;
constexpr std::size_t kDefaultListLimit = 50;
constexpr std::size_t kMaxListLimit = 1000;
// The largest context manifest (POST /builds/contexts): ~100 bytes an entry.
constexpr std::uint64_t kMaxManifestBytes = 256ULL << 20;

Reply json_reply(unsigned status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  r.header("Content-Type", "application/json");
  return r;
}

Reply build_unknown() {
  return registry::error_reply(ErrorCode::kBuildUnknown, "no such build");
}

Reply storage_failure(storage::StorageError e) {
  return registry::error_reply(ErrorCode::kInternal, std::string(storage::to_string(e)));
}

// The first component of `t` if it names a registry host ("localhost",
// or with a '.' or ':', as docker reads it), else empty.
std::string registry_host_of(const std::string& t) {
  auto slash = t.find('/');
  if (slash == std::string::npos) return {};
  std::string first = t.substr(0, slash);
  bool host = first == "localhost" || first.find_first_of(".:") != std::string::npos;
  return host ? first : std::string();
}

// The parameters of POST /builds, checked; or the 400 that says what is wrong.
// A tag may name this server as its registry (`localhost:5000/team/app:1`,
// as docker users write it); the host is dropped. Another registry is refused.
std::variant<builder::BuildParams, Reply> build_params(const registry::Query& q,
                                                       const builder::BuildService& builds) {
  auto invalid = [](std::string m) { return registry::error_reply(ErrorCode::kBuildInvalid, m); };
  builder::BuildParams p;
  for (auto t : q.get_all("t")) {
    if (std::string host = registry_host_of(t); !host.empty()) {
      if (!builds.is_own_host(host)) {
        return invalid("t=" + t + ": images are built into this registry; " + host +
                       " is another one (drop the host, or push the result there yourself)");
      }
      t = t.substr(host.size() + 1);
    }
    auto colon = t.rfind(':');
    auto slash = t.rfind('/');
    std::string repo = t, tag = "latest";
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
      repo = t.substr(0, colon);
      tag = t.substr(colon + 1);
    }
    if (!registry::valid_repository_name(repo)) {
      return invalid("invalid repository name in t=" + t);
    }
    if (!registry::valid_tag(tag)) return invalid("invalid tag in t=" + t);
    p.tags.push_back(repo + ":" + tag);
  }
  if (auto d = q.get("dockerfile"); d && !d->empty()) p.dockerfile = *d;
  if (p.dockerfile.front() == '/' || p.dockerfile.size() > 4096) {
    return invalid("dockerfile must be a path inside the context");
  }
  p.target = q.get("target").value_or("");
  for (const auto& kv : q.get_all("buildarg")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return invalid("buildarg must be K=V: " + kv);
    p.build_args.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  auto nocache = q.get("nocache").value_or("");
  p.no_cache = nocache == "1" || nocache == "true";
  // --no-cache-filter: stage names or indices, repeated or comma-separated.
  for (const auto& f : q.get_all("nocachefilter")) {
    std::size_t start = 0;
    while (start <= f.size()) {
      auto comma = f.find(',', start);
      std::string stage = f.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!stage.empty()) p.no_cache_filter.push_back(stage);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return p;
}

// What POST /builds asks for.
struct BuildRequest {
  builder::BuildParams params;
  builder::Secrets secrets;
};

// The answer to a refused submit() or begin_context().
Reply submit_failure(const builder::SubmitError& e) {
  using Kind = builder::SubmitError::Kind;
  ErrorCode code = e.kind == Kind::kInvalid ? ErrorCode::kBuildInvalid
                   : e.kind == Kind::kBusy  ? ErrorCode::kUnavailable
                                            : ErrorCode::kInternal;
  return registry::error_reply(code, e.message);
}

// The answer to a body that was not stored (413 or 500).
Reply receipt_failure(const ContextReceipt& receipt, std::string_view what,
                      std::uint64_t limit) {
  if (receipt.outcome == ContextReceipt::Outcome::kTooLarge) {
    return registry::error_reply(ErrorCode::kContextTooLarge, std::string(what) + " larger than " +
                                                                  std::to_string(limit) + " bytes");
  }
  return registry::error_reply(ErrorCode::kInternal, receipt.message);
}

// {"session":..,"need":[..],"need_bytes":..,"deleted":..}
std::string plan_json(const builder::SyncPlan& plan) {
  nlohmann::json j = {{"session", plan.session},
                      {"need", plan.need},
                      {"need_bytes", plan.need_bytes},
                      {"deleted", plan.deleted}};
  return j.dump();
}

// Reads the manifest from `file` (then removed) and starts the session.
std::expected<builder::SyncPlan, builder::SubmitError> begin_context(
    builder::BuildService& builds, const std::string& user, const std::string& key,
    const std::filesystem::path& file) {
  std::string text;
  {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  std::error_code ec;
  std::filesystem::remove(file, ec);
  return builds.begin_context(user, key, text);
}

// The repository part of "repo:tag" (tags are checked by build_params).
std::string repository_of(const std::string& tag_ref) {
  return tag_ref.substr(0, tag_ref.rfind(':'));
}

}  // namespace

namespace {

// Who may see a build: anyone with auth off; with it, admins and the user
// who started it.
bool may_see(const builder::BuildRecord& r, const auth::Principal& who, bool auth_on) {
  return !auth_on || who.admin || (!who.anonymous() && r.params.user == who.user);
}

// "/builds", "/builds/<id>" or "/builds/<id>/logs"; anything else is not valid.
struct BuildPath {
  std::string id;
  bool logs = false;
  bool valid = true;
};

BuildPath parse_build_path(std::string_view path) {
  BuildPath out;
  std::string_view rest = path.substr(std::string_view("/builds").size());
  if (rest.empty()) return out;
  rest.remove_prefix(1);  // the '/'
  auto slash = rest.find('/');
  out.id = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    out.logs = true;
    if (rest.substr(slash) != "/logs") out.id.clear();
  }
  out.valid = !out.id.empty();
  return out;
}

// GET /builds (blocking: runs on the worker pool).
Reply list_builds(builder::BuildService& builds, const registry::Query& query,
                  const auth::Principal& who, bool auth_on) {
  std::size_t limit = kDefaultListLimit;
  if (auto l = query.get("limit")) {
    try {
      limit = std::clamp<std::size_t>(std::stoul(*l), 1, kMaxListLimit);
    } catch (const std::exception&) {
      return registry::error_reply(ErrorCode::kBuildInvalid, "limit must be a number");
    }
  }
  // Non-admins see their own builds only: read more and filter.
  auto all = builds.list(!auth_on || who.admin ? limit : kMaxListLimit);
  if (!all) return storage_failure(all.error());
  std::vector<builder::BuildRecord> seen;
  for (auto& r : *all) {
    if (seen.size() < limit && may_see(r, who, auth_on)) seen.push_back(std::move(r));
  }
  return json_reply(200, builder::builds_json(seen));
}

// The build `id` if the caller may see it, else the reply that says no.
std::variant<builder::BuildRecord, Reply> visible_build(builder::BuildService& builds,
                                                        const std::string& id,
                                                        const auth::Principal& who, bool auth_on) {
  auto rec = builds.get(id);
  if (!rec) return storage_failure(rec.error());
  if (!*rec || !may_see(**rec, who, auth_on)) return build_unknown();
  return std::move(**rec);
}

// GET/HEAD/DELETE /builds/<id> (blocking: runs on the worker pool).
Reply build_request(builder::BuildService& builds, http::verb verb, const std::string& id,
                    const auth::Principal& who, bool auth_on) {
  auto rec = visible_build(builds, id, who, auth_on);
  if (auto* refused = std::get_if<Reply>(&rec)) return std::move(*refused);
  if (verb == http::verb::get || verb == http::verb::head) {
    return json_reply(200, builder::build_json(std::get<0>(rec)));
  }
  if (verb != http::verb::delete_) {
    return registry::error_reply(ErrorCode::kMethodNotAllowed, "use GET or DELETE");
  }
  auto after = builds.cancel(id, kCancelWait);
  if (!after) return storage_failure(after.error());
  if (!*after) return build_unknown();
  return json_reply(200, builder::build_json(**after));
}

// Why GET /builds/<id>/logs is refused, or nullopt (blocking).
std::optional<Reply> log_refusal(builder::BuildService& builds, http::verb verb,
                                 const std::string& id, const auth::Principal& who,
                                 bool auth_on) {
  if (verb != http::verb::get) return registry::error_reply(ErrorCode::kMethodNotAllowed, "use GET");
  auto rec = visible_build(builds, id, who, auth_on);
  if (auto* refused = std::get_if<Reply>(&rec)) return std::move(*refused);
  return std::nullopt;
}

}  // namespace

asio::awaitable<bool> Session::handle_builds(RequestParser& p, Exchange& ex,
                                             std::string_view path, const registry::Query& query) {
  auto verb = p.get().method();
  BuildPath target = parse_build_path(path);
  if (!target.valid || ctx_.builds == nullptr) {
    if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
    Reply reply = ctx_.builds == nullptr
                      ? registry::error_reply(ErrorCode::kUnavailable,
                                              "the build service is disabled on this server")
                      : registry::error_reply(ErrorCode::kNotFound, "no such endpoint");
    co_return co_await write_reply(std::move(reply), ex);
  }
  auth::Principal who;
  if (ctx_.auth != nullptr) {
    std::optional<auth::Requirement> need = auth::Requirement{auth::Resource::kBase, {}, {}};
    std::optional<auth::Principal> allowed = co_await authorize_for(p, ex, need);
    if (!allowed) co_return ex.keep_alive;
    who = std::move(*allowed);
  }
  if (target.id.empty() && verb == http::verb::post) {
    co_return co_await handle_build_post(p, ex, query, who);
  }
  if (target.id == "contexts" && !target.logs) {
    co_return co_await handle_context_post(p, ex, query, who);
  }
  if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
  auto& builds = *ctx_.builds;
  const bool auth_on = ctx_.auth != nullptr;
  if (target.logs) {
    std::optional<Reply> refused = co_await run_blocking(
        ctx_.workers, [&] { return log_refusal(builds, verb, target.id, who, auth_on); });
    if (refused) co_return co_await write_reply(std::move(*refused), ex);
    auto follow = query.get("follow").value_or("");
    co_return co_await stream_build_log(ex, target.id, follow == "1" || follow == "true");
  }
  if (target.id.empty() && verb != http::verb::get && verb != http::verb::head) {
    co_return co_await write_reply(
        registry::error_reply(ErrorCode::kMethodNotAllowed, "use GET or POST"), ex);
  }
  Reply reply = co_await run_blocking(ctx_.workers, [&] {
    if (target.id.empty()) return list_builds(builds, query, who, auth_on);
    return build_request(builds, verb, target.id, who, auth_on);
  });
  co_return co_await write_reply(std::move(reply), ex);
}

namespace {

// The build's parameters and secrets from the request, or the reply that
// refuses it (a bad parameter or secret, or no push access to a tag).
std::variant<BuildRequest, Reply> read_build_request(const http::request_header<>& req,
                                                     const registry::Query& query,
                                                     const auth::Principal& who,
                                                     const auth::Authenticator* auth,
                                                     const builder::BuildService& builds) {
  auto parsed = build_params(query, builds);
  if (parsed.index() == 1) return std::get<1>(std::move(parsed));
  BuildRequest out{std::get<0>(std::move(parsed)), {}};
  out.params.user = who.user;
  // Secrets come in headers ("Drydock-Build-Secret: ID=BASE64"), never in the
  // query (which is logged) and never stored.
  auto [first, last] = req.equal_range("Drydock-Build-Secret");
  for (auto it = first; it != last; ++it) {
    std::string_view v = it->value();
    auto eq = v.find('=');
    auto value = eq == std::string_view::npos || eq == 0
                     ? std::nullopt
                     : auth::base64_decode(v.substr(eq + 1));
    if (!value) {
      return registry::error_reply(ErrorCode::kBuildInvalid,
                                   "Drydock-Build-Secret must be ID=BASE64");
    }
    out.secrets[std::string(v.substr(0, eq))] = std::move(*value);
  }
  // Building into a repository is pushing to it.
  if (auth != nullptr) {
    for (const auto& t : out.params.tags) {
      auto repo = repository_of(t);
      if (!auth->allowed(who, repo).has(auth::Action::kPush)) {
        return registry::error_reply(ErrorCode::kDenied, "push access to " + repo + " denied");
      }
    }
  }
  return out;
}

}  // namespace

asio::awaitable<bool> Session::handle_build_post(RequestParser& p, Exchange& ex,
                                                 const registry::Query& query,
                                                 const auth::Principal& who) {
  auto& builds = *ctx_.builds;
  // An incremental upload: the body holds what begin_context() asked for.
  std::string session = query.get("context").value_or("");
  auto request = read_build_request(p.get(), query, who, ctx_.auth, builds);
  if (request.index() == 1) {
    if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
    if (!session.empty()) {
      bool ended = co_await run_blocking(ctx_.workers, [&] {
        builds.end_context(session, who.user);
        return true;
      });
      (void)ended;
    }
    co_return co_await write_reply(std::get<1>(std::move(request)), ex);
  }
  auto params = std::move(std::get<0>(request).params);
  auto secrets = std::move(std::get<0>(request).secrets);
  std::filesystem::path upload = builds.upload_path();
  auto receipt = co_await receive_context(p, ex, upload);
  using Outcome = ContextReceipt::Outcome;
  if (receipt.outcome != Outcome::kStored) {
    if (!session.empty()) {
      bool ended = co_await run_blocking(ctx_.workers, [&] {
        builds.end_context(session, who.user);
        return true;
      });
      (void)ended;
    }
    if (receipt.outcome == Outcome::kGone) co_return false;
    ex.keep_alive = false;
    co_return co_await write_reply(receipt_failure(receipt, "build context", builds.max_upload_bytes()), ex);
  }

  builder::PullCheck may_pull;
  if (ctx_.auth != nullptr) {
    may_pull = [auth = ctx_.auth, who](std::string_view repo) {
      return auth->allowed(who, repo).has(auth::Action::kPull);
    };
  }
  auto submitted = co_await run_blocking(ctx_.workers, [&] {
    return builds.submit(std::move(params), upload, std::move(may_pull), std::move(secrets),
                         session);
  });
  if (!submitted) co_return co_await write_reply(submit_failure(submitted.error()), ex);
  Reply reply = json_reply(202, builder::build_json(*submitted));
  reply.header("Location", "/builds/" + submitted->id);
  co_return co_await write_reply(std::move(reply), ex);
}

// POST /builds/contexts?key=KEY: the manifest that starts an incremental
// context upload (builder/context_sync.hpp); answers the plan.
asio::awaitable<bool> Session::handle_context_post(RequestParser& p, Exchange& ex,
                                                   const registry::Query& query,
                                                   const auth::Principal& who) {
  auto& builds = *ctx_.builds;
  if (p.get().method() != http::verb::post) {
    if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
    co_return co_await write_reply(
        registry::error_reply(ErrorCode::kMethodNotAllowed, "use POST"), ex);
  }
  std::filesystem::path upload = builds.upload_path();
  auto receipt = co_await receive_context(p, ex, upload, kMaxManifestBytes);
  if (receipt.outcome == ContextReceipt::Outcome::kGone) co_return false;
  if (receipt.outcome != ContextReceipt::Outcome::kStored) {
    ex.keep_alive = false;
    co_return co_await write_reply(receipt_failure(receipt, "context manifest", kMaxManifestBytes), ex);
  }
  std::string key = query.get("key").value_or("");
  auto planned = co_await run_blocking(
      ctx_.workers, [&] { return begin_context(builds, who.user, key, upload); });
  if (!planned) co_return co_await write_reply(submit_failure(planned.error()), ex);
  co_return co_await write_reply(json_reply(200, plan_json(*planned)), ex);
}

asio::awaitable<ContextReceipt> Session::receive_context(RequestParser& p, Exchange& ex,
                                                         const std::filesystem::path& upload,
                                                         std::uint64_t limit) {
  using Outcome = ContextReceipt::Outcome;
  // The context is refused by its declared size before a byte is read, and
  // cut off once a chunked body passes the limit.
  if (limit == 0) limit = ctx_.builds->max_upload_bytes();
  if (!p.chunked() && p.content_length() && *p.content_length() > limit) {
    co_return ContextReceipt{Outcome::kTooLarge, {}};
  }
  if (!co_await send_continue(p)) co_return ContextReceipt{Outcome::kGone, {}};
  int fd = ::open(upload.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    co_return ContextReceipt{Outcome::kFailed,
                             "create " + upload.string() + ": " + std::strerror(errno)};
  }
  std::unique_ptr<std::byte[]> piece = std::make_unique<std::byte[]>(kUploadPiece);
  buffer_.reserve(buffer_.max_size());
  ContextReceipt receipt;
  while (!body_done(p)) {
    auto r = co_await read_body(p, {piece.get(), kUploadPiece});
    if (r.ec) {
      receipt.outcome = Outcome::kGone;
      break;
    }
    ex.bytes_in += r.bytes;
    if (ex.bytes_in > limit) {
      receipt.outcome = Outcome::kTooLarge;
      break;
    }
    if (r.bytes == 0) continue;
    auto* data = piece.get();
    std::size_t n = r.bytes;
    bool written = co_await run_blocking(ctx_.workers, [fd, data, n] {
      std::size_t off = 0;
      while (off < n) {
        ssize_t w = ::write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        off += static_cast<std::size_t>(w);
      }
      return true;
    });
    if (!written) {
      receipt = {Outcome::kFailed, "cannot store the build context"};
      break;
    }
  }
  ::close(fd);
  buffer_.shrink_to_fit();
  if (receipt.outcome != Outcome::kStored) {
    std::error_code ec;
    std::filesystem::remove(upload, ec);
  }
  co_return receipt;
}

// The log as a chunked body: what is there, then (following) what is
// appended, until the build has finished and everything was sent.
asio::awaitable<bool> Session::stream_build_log(Exchange& ex, const std::string& id, bool follow) {
  auto& builds = *ctx_.builds;
  http::response<http::empty_body> res{http::status::ok, ex.version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(ex.keep_alive);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  stream_.tcp().expires_after(std::chrono::seconds(ctx_.config.body_timeout_seconds));
  auto [hec, hn] =
      co_await stream_.visit([&](auto& s) { return http::async_write_header(s, sr, kTuple); });
  if (hec) co_return false;
  std::uint64_t offset = 0;
  asio::steady_timer pause(co_await asio::this_coro::executor);
  LogPoll poll;
  for (;;) {
    auto piece = co_await run_blocking(ctx_.workers,
                                       [&] { return builds.read_log(id, offset, kLogPiece); });
    if (!piece) break;
    if (!piece->data.empty()) {
      offset += piece->data.size();
      stream_.tcp().expires_after(std::chrono::seconds(ctx_.config.body_timeout_seconds));
      auto chunk = http::make_chunk(asio::buffer(piece->data));
      auto [ec, n] =
          co_await stream_.visit([&](auto& s) { return asio::async_write(s, chunk, kTuple); });
      if (ec) co_return false;
      if (piece->data.size() == kLogPiece) continue;  // more is there already
      poll.reset();
    }
    if (piece->complete || !follow || ctx_.stopping) break;
    pause.expires_after(poll.next());
    co_await pause.async_wait(kTuple);
  }
  stream_.tcp().expires_after(std::chrono::seconds(ctx_.config.body_timeout_seconds));
  auto last = http::make_chunk_last();
  auto [ec, n] = co_await stream_.visit([&](auto& s) { return asio::async_write(s, last, kTuple); });
  log(ex, 200, offset);
  co_return !ec;
}

}  // namespace drydock::server
