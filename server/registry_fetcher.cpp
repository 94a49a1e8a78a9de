#include "server/registry_fetcher.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "auth/secrets.hpp"
#include "server/upstream_http.hpp"

namespace drydock::server {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

// A response: the head fields the client uses, and the body unless it was
// streamed to a sink.
struct HttpReply {
  unsigned status = 0;
  std::string content_type;
  std::string location;
  std::string www_authenticate;
  std::string body;  // capped; a 200 body with a sink went there instead
};

namespace {

constexpr int kMaxRedirects = 5;
constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::size_t kReadPiece = 64 * 1024;
constexpr const char* kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

// What one request needs besides the URL.
struct Exchange {
  std::string accept;
  std::string authorization;
  const builder::BlobSink* sink = nullptr;  // a 200 body goes here
  std::size_t max_body = 0;                 // else kept up to this size
  std::chrono::seconds timeout{60};
  std::filesystem::path ca_file;
  std::stop_token cancel;
};

constexpr std::chrono::milliseconds kCancelPoll{100};

// Runs one asynchronous operation on `lowest` (or a stream over it) to
// completion on `ioc`. The stream's expiry is how every step gets a timeout,
// which Beast's synchronous calls lack; `x.cancel` is polled meanwhile and
// cancels the operation, so a cancelled build never waits on a stalled
// registry.
template <class Start>
error_code run_op(net::io_context& ioc, beast::tcp_stream& lowest, const Exchange& x,
                  Start&& start) {
  error_code result = net::error::operation_aborted;
  bool done = false;
  lowest.expires_after(x.timeout);
  start([&](error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  ioc.restart();
  bool cancelled = false;
  while (!done && !ioc.stopped()) {
    ioc.run_for(kCancelPoll);
    if (!done && !cancelled && x.cancel.stop_requested()) {
      lowest.cancel();  // the handler runs with operation_aborted
      cancelled = true;
    }
  }
  return result;
}

// The message for a failed step: "cancelled" when the build was.
std::string io_error(std::string_view what, const std::string& authority, const Exchange& x,
                     error_code ec) {
  if (x.cancel.stop_requested()) return "cancelled";
  return std::string(what) + authority + ": " + ec.message();
}

template <class Stream>
std::expected<HttpReply, std::string> exchange_on(net::io_context& ioc, Stream& stream,
                                                  beast::tcp_stream& lowest, const HttpUrl& url,
                                                  const Exchange& x) {
  http::request<http::empty_body> req(http::verb::get, url.target, 11);
  req.set(http::field::host, url.authority);
  req.set(http::field::user_agent, "drydock");
  if (!x.accept.empty()) req.set(http::field::accept, x.accept);
  if (!x.authorization.empty()) req.set(http::field::authorization, x.authorization);
  auto ec = run_op(ioc, lowest, x, [&](auto h) { http::async_write(stream, req, h); });
  if (ec) return std::unexpected(io_error("sending to ", url.authority, x, ec));
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // streamed or capped below
  ec = run_op(ioc, lowest, x, [&](auto h) { http::async_read_header(stream, buffer, parser, h); });
  if (ec) return std::unexpected(io_error("reading from ", url.authority, x, ec));
  const auto& head = parser.get();
  HttpReply reply{.status = head.result_int(),
                  .content_type = std::string(head[http::field::content_type]),
                  .location = std::string(head[http::field::location]),
                  .www_authenticate = std::string(head[http::field::www_authenticate])};
  const bool to_sink = x.sink != nullptr && reply.status == 200;
  const std::size_t cap = reply.status == 200 ? x.max_body : kMaxErrorBody;
  std::vector<char> piece(kReadPiece);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    ec = run_op(ioc, lowest, x, [&](auto h) { http::async_read_some(stream, buffer, parser, h); });
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return std::unexpected(io_error("reading from ", url.authority, x, ec));
    std::string_view got(piece.data(), piece.size() - parser.get().body().size);
    if (to_sink) {
      if (auto r = (*x.sink)(got); !r) return std::unexpected(r.error());
    } else if (reply.body.size() + got.size() > cap) {
      if (reply.status == 200) {
        return std::unexpected(url.authority + ": the answer is larger than " +
                               std::to_string(cap) + " bytes");
      }
      // An error document: what we have explains enough.
    } else {
      reply.body.append(got);
    }
  }
  return reply;
}

// One request on a fresh connection.
std::expected<HttpReply, std::string> exchange(const HttpUrl& url, const Exchange& x) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return std::unexpected("cannot resolve " + url.host + ": " + ec.message());
  beast::tcp_stream tcp_stream(ioc);
  ec = run_op(ioc, tcp_stream, x, [&](auto h) { tcp_stream.async_connect(endpoints, h); });
  if (ec) return std::unexpected(io_error("cannot connect to ", url.authority, x, ec));
  if (!url.tls) return exchange_on(ioc, tcp_stream, tcp_stream, url, x);
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_default_verify_paths(ec);
  if (!x.ca_file.empty()) {
    ctx.load_verify_file(x.ca_file.string(), ec);
    if (ec) return std::unexpected("cannot load " + x.ca_file.string() + ": " + ec.message());
  }
  ctx.set_verify_mode(ssl::verify_peer);
  ssl::stream<beast::tcp_stream> tls(std::move(tcp_stream), ctx);
  error_code addr_ec;
  net::ip::make_address(url.host, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str());  // SNI: names only
  tls.set_verify_callback(ssl::host_name_verification(url.host));
  ec = run_op(ioc, tls.next_layer(), x,
              [&](auto h) { tls.async_handshake(ssl::stream_base::client, h); });
  if (ec) {
    if (x.cancel.stop_requested()) return std::unexpected("cancelled");
    return std::unexpected("TLS with " + url.authority + " failed: " + ec.message());
  }
  return exchange_on(ioc, tls, tls.next_layer(), url, x);
}

std::string excerpt(const HttpReply& r) {
  std::string b = r.body.substr(0, 300);
  while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) b.pop_back();
  return b.empty() ? "" : ": " + b;
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

// One logical GET against a registry: its URL as it moves through redirects,
// and what the answer should look like.
struct HttpImageFetcher::Call {
  HttpUrl url;
  std::string registry_authority;  // whose credentials and token apply
  std::string repository;
  std::string accept;
  std::string authorization;
  const builder::BlobSink* sink = nullptr;
  std::size_t max_body = 0;
  std::string what;  // "127.0.0.1:5001/lib/busybox:1", for messages
  std::stop_token cancel;
};

HttpImageFetcher::HttpImageFetcher(RegistryFetcherOptions options) : options_(std::move(options)) {}
HttpImageFetcher::~HttpImageFetcher() = default;

const config::UpstreamRegistryConfig* HttpImageFetcher::registry_config(
    const std::string& authority) const {
  if (auto it = options_.registries.find(authority); it != options_.registries.end()) {
    return &it->second;
  }
  return nullptr;
}

namespace {

// Plain http is allowed to loopback hosts and to registries marked insecure.
std::expected<void, std::string> check_transport(const HttpUrl& url,
                                                 const config::UpstreamRegistryConfig* cfg) {
  if (url.tls || is_loopback_host(url.host) || (cfg && cfg->insecure)) return {};
  return std::unexpected("refusing plain http to " + url.authority +
                         " (use https, or mark it insecure in builder.registries)");
}

// The registry's base URL: the mirror's, or the host itself (https unless
// loopback or insecure, as dockerd decides).
std::expected<HttpUrl, std::string> base_url(const builder::UpstreamImage& image,
                                             const config::UpstreamRegistryConfig* cfg) {
  if (!image.endpoint.empty()) return parse_http_url(image.endpoint);
  bool plain = is_loopback_host(image.registry.substr(0, image.registry.rfind(':'))) ||
               is_loopback_host(image.registry) || (cfg && cfg->insecure);
  return parse_http_url((plain ? "http://" : "https://") + image.registry);
}

}  // namespace

std::expected<std::string, std::string> HttpImageFetcher::authorize(Call& call,
                                                                    const HttpReply& reply) {
  const auto* cfg = registry_config(call.registry_authority);
  auto challenge = parse_www_authenticate(reply.www_authenticate);
  const std::string denied = call.what + ": " + call.registry_authority + " wants credentials";
  if (!challenge) return std::unexpected(denied + " and sent no usable challenge");
  bool have_creds = cfg && !cfg->username.empty();
  std::string basic =
      have_creds ? "Basic " + auth::base64_encode(cfg->username + ":" + cfg->password) : "";
  if (challenge->scheme == "basic") {
    if (!have_creds) return std::unexpected(denied + " (none in builder.registries)");
    return basic;
  }
  if (challenge->scheme != "bearer") {
    return std::unexpected(denied + " with an unsupported scheme " + challenge->scheme);
  }
  auto url = token_url(*challenge, call.repository);
  if (!url) return std::unexpected(call.what + ": " + url.error());
  if (auto t = check_transport(
          *url, registry_config(url->authority) ? registry_config(url->authority) : cfg);
      !t) {
    return std::unexpected(call.what + ": token endpoint: " + t.error());
  }
  Exchange x{.authorization = basic,
             .max_body = kMaxErrorBody,
             .timeout = options_.timeout,
             .ca_file = cfg ? cfg->ca_file : std::filesystem::path(),
             .cancel = call.cancel};
  auto got = exchange(*url, x);
  if (!got) return std::unexpected(call.what + ": token endpoint: " + got.error());
  if (got->status == 401 || got->status == 403) {
    return std::unexpected(call.what + ": " + call.registry_authority + " refused the credentials" +
                           (have_creds ? " configured for it" : " (none configured)") +
                           excerpt(*got));
  }
  if (got->status != 200) {
    return std::unexpected(call.what + ": token endpoint answered " + std::to_string(got->status) +
                           excerpt(*got));
  }
  auto token = parse_token_answer(got->body);
  if (!token) return std::unexpected(call.what + ": " + token.error());
  return "Bearer " + *token;
}

std::expected<HttpReply, std::string> HttpImageFetcher::get(Call& call) {
  const auto* cfg = registry_config(call.registry_authority);
  const std::string cache_key = call.registry_authority + " " + call.repository;
  {
    std::lock_guard lock(mu_);
    if (auto it = auth_cache_.find(cache_key); it != auth_cache_.end()) {
      call.authorization = it->second;
    }
  }
  bool authorized_now = false;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    bool same_host = call.url.authority == call.registry_authority;
    const auto* hop_cfg = same_host ? cfg : registry_config(call.url.authority);
    if (auto t = check_transport(call.url, hop_cfg); !t)
      return std::unexpected(call.what + ": " + t.error());
    Exchange x{.accept = call.accept,
               // Credentials stay with the registry: a redirect elsewhere
               // (object storage with a signed URL) gets none.
               .authorization = same_host ? call.authorization : "",
               .sink = call.sink,
               .max_body = call.max_body,
               .timeout = options_.timeout,
               .ca_file = hop_cfg ? hop_cfg->ca_file : std::filesystem::path(),
               .cancel = call.cancel};
    auto reply = exchange(call.url, x);
    if (!reply) return std::unexpected(call.what + ": " + reply.error());
    if (reply->status == 401 && same_host && !authorized_now) {
      auto a = authorize(call, *reply);
      if (!a) return std::unexpected(a.error());
      call.authorization = *a;
      authorized_now = true;
      {
        std::lock_guard lock(mu_);
        auth_cache_[cache_key] = *a;
      }
      --hop;  // the same URL again, with credentials
      continue;
    }
    if (is_redirect(reply->status) && !reply->location.empty()) {
      auto next = resolve_location(call.url, reply->location);
      if (!next) return std::unexpected(call.what + ": bad redirect: " + next.error());
      call.url = *next;
      continue;
    }
    return reply;
  }
  return std::unexpected(call.what + ": more than " + std::to_string(kMaxRedirects) + " redirects");
}

namespace {

std::string status_error(const std::string& what, const std::string& registry, const HttpReply& r) {
  if (r.status == 404) return what + ": not found in " + registry;
  if (r.status == 401 || r.status == 403) {
    return what + ": " + registry + " denied access (check builder.registries)" + excerpt(r);
  }
  return what + ": " + registry + " answered " + std::to_string(r.status) + excerpt(r);
}

}  // namespace

std::expected<builder::FetchedManifest, std::string> HttpImageFetcher::fetch_manifest(
    const builder::UpstreamImage& image, std::string_view reference, std::size_t max_bytes,
    std::stop_token cancel) {
  Call call;
  call.cancel = std::move(cancel);
  call.what = image.registry + "/" + image.repository +
              (reference.find(':') != std::string_view::npos ? "@" : ":") + std::string(reference);
  auto base = base_url(image, registry_config(image.registry));
  if (!base) return std::unexpected(call.what + ": " + base.error());
  call.url = *base;
  call.registry_authority = base->authority;
  call.url.target = "/v2/" + image.repository + "/manifests/" + std::string(reference);
  call.repository = image.repository;
  call.accept = kManifestAccept;
  call.max_body = max_bytes;
  auto reply = get(call);
  if (!reply) return std::unexpected(reply.error());
  if (reply->status != 200) {
    return std::unexpected(status_error(call.what, call.registry_authority, *reply));
  }
  return builder::FetchedManifest{reply->content_type, std::move(reply->body)};
}

std::expected<void, std::string> HttpImageFetcher::fetch_blob(const builder::UpstreamImage& image,
                                                              const storage::Digest& digest,
                                                              const builder::BlobSink& sink,
                                                              std::stop_token cancel) {
  Call call;
  call.cancel = std::move(cancel);
  call.what = image.registry + "/" + image.repository + "@" + digest.str();
  auto base = base_url(image, registry_config(image.registry));
  if (!base) return std::unexpected(call.what + ": " + base.error());
  call.url = *base;
  call.registry_authority = base->authority;
  call.url.target = "/v2/" + image.repository + "/blobs/" + digest.str();
  call.repository = image.repository;
  call.sink = &sink;
  auto reply = get(call);
  if (!reply) return std::unexpected(reply.error());
  if (reply->status != 200) {
    return std::unexpected(status_error(call.what, call.registry_authority, *reply));
  }
  return {};
}

}  // namespace drydock::server
