// The access check in front of every registry request, and the token
// endpoint of the Docker token flow. The decisions are auth/'s; this file
// only carries header values in and replies out.

#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <cstring>
#include <variant>

#include "auth/authenticator.hpp"
#include "registry/route.hpp"
#include "server/blocking.hpp"
#include "server/session.hpp"
#include "storage/clock.hpp"

namespace drydock::server {

namespace {

using registry::Endpoint;
using registry::Reply;

constexpr std::size_t kTokenFormLimit = 64 * 1024;

// What the request needs, by endpoint and method (the actions Distribution
// asks for: pull to read, push to write, delete to delete). Unknown
// endpoints need nothing: they answer 404 whoever asks.
std::optional<auth::Requirement> requirement(const registry::Route& r, http::verb v) {
  auto repo = [&](auth::Action a) {
    return auth::Requirement{auth::Resource::kRepository, r.name, a};
  };
  bool read = v == http::verb::get || v == http::verb::head;
  switch (r.endpoint) {
    case Endpoint::kBase:
      return auth::Requirement{auth::Resource::kBase, {}, {}};
    case Endpoint::kCatalog:
      return auth::Requirement{auth::Resource::kCatalog, {}, {}};
    case Endpoint::kTags:
    case Endpoint::kReferrers:
      return repo(auth::Action::kPull);
    case Endpoint::kManifest:
    case Endpoint::kBlob:
      if (read) return repo(auth::Action::kPull);
      return repo(v == http::verb::delete_ ? auth::Action::kDelete : auth::Action::kPush);
    case Endpoint::kUploads:
    case Endpoint::kUpload:
      return repo(auth::Action::kPush);
    case Endpoint::kUnknown:
      break;
  }
  return std::nullopt;
}

Reply refusal(const auth::Decision& d) {
  using Kind = auth::Decision::Kind;
  if (d.kind == Kind::kTooMany) {
    auto r = registry::error_reply(registry::ErrorCode::kTooManyRequests, d.message);
    r.header("Retry-After", std::to_string(d.retry_after));
    return r;
  }
  if (d.kind == Kind::kDeny) return registry::error_reply(registry::ErrorCode::kDenied, d.message);
  auto r = registry::error_reply(registry::ErrorCode::kUnauthorized, d.message);
  r.header("WWW-Authenticate", d.challenge);
  return r;
}

bool is_basic(std::string_view header) {
  return header.size() > 6 && beast::iequals(header.substr(0, 6), "Basic ");
}

auth::TokenRequest token_request(const registry::Query& q) {
  auth::TokenRequest t;
  t.service = q.get("service").value_or("");
  t.scopes = q.get_all("scope");
  auto offline = q.get("offline_token").value_or("");
  t.offline_token = offline == "true" || offline == "1" || q.get("access_type") == "offline";
  t.grant_type = q.get("grant_type").value_or("");
  t.username = q.get("username").value_or("");
  t.password = q.get("password").value_or("");
  t.refresh_token = q.get("refresh_token").value_or("");
  t.client_id = q.get("client_id").value_or("");
  return t;
}

Reply token_reply(auth::TokenReply t) {
  Reply r;
  r.status = t.status;
  r.body = std::move(t.body);
  r.header("Content-Type", "application/json");
  // RFC 6749 5.1: token responses must not be cached.
  r.header("Cache-Control", "no-store");
  if (!t.challenge.empty()) r.header("WWW-Authenticate", t.challenge);
  if (t.retry_after > 0) r.header("Retry-After", std::to_string(t.retry_after));
  return r;
}

}  // namespace

// The token endpoint URL for challenges: configured, or this server's own
// /token as the client reached it.
std::string Session::realm(const RequestParser& p) const {
  const auto& configured = ctx_.auth->options().realm;
  if (!configured.empty()) return configured;
  // The Host header as the client sent it, minus anything that could break
  // out of the quoted challenge parameter.
  std::string host;
  for (char c : p.get()[http::field::host]) {
    if (std::isalnum(static_cast<unsigned char>(c)) || std::strchr(".-:[]_", c) != nullptr) {
      host += c;
    }
  }
  return std::string(ctx_.tls ? "https://" : "http://") + host + "/token";
}

asio::awaitable<std::optional<auth::Principal>> Session::authorize(RequestParser& p,
                                                                  Exchange& ex,
                                                                  const registry::Route& route) {
  // Named locals only across co_await (g++ 12, see below).
  std::optional<auth::Requirement> need = requirement(route, p.get().method());
  std::optional<auth::Principal> who = co_await authorize_for(p, ex, need);
  co_return who;
}

asio::awaitable<std::optional<auth::Principal>> Session::authorize_for(
    RequestParser& p, Exchange& ex, std::optional<auth::Requirement> need) {
  if (!need) co_return auth::Principal{};
  std::string header(p.get()[http::field::authorization]);
  std::string url = realm(p);
  auto now = storage::unix_now();
  // The decision becomes a principal or a reply in plain code: g++ 12
  // miscompiles some temporaries that live across co_await (it destroyed a
  // Decision twice here), so the coroutine only holds a variant.
  auto decide = [&]() -> std::variant<auth::Principal, Reply> {
    auto d = ctx_.auth->authorize(header, peer_address_, *need, url, now);
    if (d.kind == auth::Decision::Kind::kAllow) return std::move(d.who);
    return refusal(d);
  };
  // Basic credentials may cost an scrypt run (~0.1 s): off the network
  // threads. Bearer tokens are one ECDSA verify: inline.
  std::variant<auth::Principal, Reply> outcome;
  if (is_basic(header)) {
    outcome = co_await run_blocking(ctx_.workers, decide);
  } else {
    outcome = decide();
  }
  if (outcome.index() == 0) co_return std::get<0>(std::move(outcome));
  bool drained = co_await drain_body(p, kIgnoredBodyLimit);
  if (!drained) ex.keep_alive = false;
  bool written = co_await write_reply(std::get<1>(std::move(outcome)), ex);
  if (!written) ex.keep_alive = false;
  co_return std::nullopt;
}

// GET /token?service=&scope=&offline_token= with optional Basic
// credentials, or POST /token with an OAuth2 form (grant_type=password or
// refresh_token), as in the distribution token and OAuth2 token specs.
asio::awaitable<bool> Session::handle_token(RequestParser& p, Exchange& ex,
                                            const registry::Query& query) {
  auto verb = p.get().method();
  std::string url = realm(p);
  auto now = storage::unix_now();
  if (verb == http::verb::get) {
    if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
    std::string header(p.get()[http::field::authorization]);
    auto req = token_request(query);
    auto reply = co_await run_blocking(ctx_.workers, [&] {
      return ctx_.auth->token_get(header, peer_address_, req, url, now);
    });
    co_return co_await write_reply(token_reply(std::move(reply)), ex);
  }
  if (verb != http::verb::post) {
    if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
    co_return co_await write_reply(
        registry::error_reply(registry::ErrorCode::kMethodNotAllowed, "use GET or POST"), ex);
  }
  if (!co_await send_continue(p)) co_return false;
  std::string form;
  std::array<std::byte, 16 * 1024> piece;
  while (!body_done(p)) {
    auto r = co_await read_body(p, piece);
    if (r.ec) co_return false;
    form.append(reinterpret_cast<const char*>(piece.data()), r.bytes);
    if (form.size() > kTokenFormLimit) {
      ex.keep_alive = false;
      co_return co_await write_reply(
          registry::error_reply(registry::ErrorCode::kManifestTooLarge, "token form too large"),
          ex);
    }
  }
  auto req = token_request(registry::Query::parse(form));
  auto reply = co_await run_blocking(
      ctx_.workers, [&] { return ctx_.auth->token_post(peer_address_, req, url, now); });
  co_return co_await write_reply(token_reply(std::move(reply)), ex);
}

}  // namespace drydock::server
