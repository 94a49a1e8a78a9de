#include "server/cli_http_client.hpp"

#include <openssl/ssl.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "auth/secrets.hpp"

namespace drydock::server {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

// How long a POST waits for "100 Continue" (or an early refusal) before
// sending the body anyway, as curl does for servers that ignore Expect
// (RFC 9110 section 10.1.1). Drydock answers at once; the margin covers a
// slow password check.
constexpr int kContinueWaitMs = 10'000;
// Piece size when reading response bodies.
constexpr std::size_t kReadPiece = 16 * 1024;

std::unexpected<CliHttpError> fail(CliHttpErrc code, std::string message) {
  return std::unexpected(CliHttpError{code, std::move(message)});
}

bool is_ip_address(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string host_header(const ServerUrl& url) {
  std::string host = bracketed(url.host);
  bool default_port = url.port == (url.tls ? "443" : "80");
  return default_port ? host : host + ":" + url.port;
}

// True if `fd` becomes readable within `timeout_ms`.
bool wait_readable(int fd, int timeout_ms) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

using ReplyParser = http::response_parser<http::buffer_body>;

// Reads the rest of a response whose header `parser` has read. A 2xx body
// goes to `on_data` when there is one, else into reply.body up to the cap.
template <class Stream>
CliHttpResult<CliHttpReply> read_body(Stream& stream, boost::beast::flat_buffer& buffer,
                                      ReplyParser& parser,
                                      const std::function<void(std::string_view)>* on_data) {
  const auto& head = parser.get();
  CliHttpReply reply{.status = head.result_int(),
                     .reason = std::string(head.reason()),
                     .content_type = std::string(head[http::field::content_type]),
                     .location = std::string(head[http::field::location])};
  bool stream_body = on_data != nullptr && reply.status / 100 == 2;
  char piece[kReadPiece];
  error_code ec;
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    http::read_some(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return fail(CliHttpErrc::kTransfer, "reading the response body: " + ec.message());
    std::size_t n = sizeof piece - parser.get().body().size;
    if (stream_body && n > 0) {
      (*on_data)(std::string_view(piece, n));
    } else if (reply.body.size() + n <= CliHttpClient::kMaxBodyBytes) {
      reply.body.append(piece, n);
    }
  }
  return reply;
}

// Reads one final response, skipping interim (1xx) ones.
template <class Stream>
CliHttpResult<CliHttpReply> read_reply(Stream& stream, boost::beast::flat_buffer& buffer,
                                       const std::function<void(std::string_view)>* on_data) {
  std::optional<ReplyParser> parser;
  do {
    parser.emplace();
    parser->body_limit(boost::none);  // streamed, or capped in read_body
    error_code ec;
    http::read_header(stream, buffer, *parser, ec);
    if (ec) return fail(CliHttpErrc::kTransfer, "reading the response: " + ec.message());
  } while (parser->get().result_int() / 100 == 1);
  return read_body(stream, buffer, *parser, on_data);
}

}  // namespace

std::string ServerUrl::text() const {
  return (tls ? "https://" : "http://") + bracketed(host) + ":" + port;
}

std::expected<ServerUrl, std::string> parse_server_url(std::string_view url) {
  ServerUrl out;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    out.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return std::unexpected("unsupported scheme in " + std::string(url) + " (http:// or https://)");
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      return std::unexpected("a server URL has no path: " + std::string(url));
    }
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      return std::unexpected("bad IPv6 host in " + std::string(url));
    out.host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return std::unexpected("bad host in " + std::string(url));
    }
    port = after.empty() ? after : after.substr(1);
  } else {
    auto colon = rest.rfind(':');
    out.host = rest.substr(0, colon);
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (out.host.empty()) return std::unexpected("no host in server URL " + std::string(url));
  if (port.empty() && rest.ends_with(':')) return std::unexpected("no port in " + std::string(url));
  for (char c : port) {
    if (c < '0' || c > '9') return std::unexpected("bad port in server URL " + std::string(url));
  }
  out.port = port.empty() ? (out.tls ? "443" : "80") : std::string(port);
  return out;
}

namespace {

std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace

std::expected<CliHttpOptions, std::string> cli_connection(std::optional<std::string> server,
                                                          std::optional<std::string> ca_cert,
                                                          std::optional<std::string> user) {
  auto url = parse_server_url(
      server.value_or(env_value("DRYDOCK_SERVER").value_or("http://127.0.0.1:5000")));
  if (!url) return std::unexpected(url.error());
  CliHttpOptions o{.url = *url, .ca_file = ca_cert.value_or(env_value("DRYDOCK_CA_CERT").value_or(""))};
  if (!user) user = env_value("DRYDOCK_USER");
  auto password = env_value("DRYDOCK_PASSWORD");
  if (user && !password) {
    return std::unexpected("user " + *user + " needs a password or token in DRYDOCK_PASSWORD");
  }
  if (user) o.authorization = "Basic " + auth::base64_encode(*user + ":" + *password);
  return o;
}

std::string describe_error(const CliHttpReply& r) {
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
      !doc["errors"].empty() && doc["errors"][0].is_object()) {
    const auto& e = doc["errors"][0];
    std::string code = e.value("code", "");
    std::string message = e.value("message", "");
    if (e.contains("detail") && e["detail"].is_string()) {
      message += ": " + e["detail"].get<std::string>();
    }
    return code.empty() ? message : code + ": " + message;
  }
  std::string text = "the server answered " + std::to_string(r.status) + " " + r.reason;
  if (!r.body.empty()) text += ": " + r.body.substr(0, 300);
  return text;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// One connection: a TCP socket, or TLS over one.
struct CliHttpClient::Connection {
  net::io_context ioc;
  std::unique_ptr<ssl::context> tls;
  std::unique_ptr<tcp::socket> plain;
  std::unique_ptr<ssl::stream<tcp::socket>> secure;
  boost::beast::flat_buffer buffer;

  template <class F>
  auto with_stream(F&& f) {
    if (secure) return f(*secure);
    return f(*plain);
  }
  int fd() { return secure ? secure->next_layer().native_handle() : plain->native_handle(); }
};

CliHttpClient::CliHttpClient(CliHttpOptions options) : options_(std::move(options)) {}
CliHttpClient::~CliHttpClient() = default;

CliHttpResult<std::unique_ptr<CliHttpClient::Connection>> CliHttpClient::connect() {
  const ServerUrl& url = options_.url;
  auto c = std::make_unique<Connection>();
  error_code ec;
  tcp::resolver resolver(c->ioc);
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec)
    return fail(CliHttpErrc::kUnreachable, "cannot resolve " + url.host + ": " + ec.message());
  tcp::socket socket(c->ioc);
  net::connect(socket, endpoints, ec);
  if (ec) {
    return fail(CliHttpErrc::kUnreachable, "cannot connect to " + url.text() + ": " + ec.message());
  }
  if (!url.tls) {
    c->plain = std::make_unique<tcp::socket>(std::move(socket));
    return c;
  }
  c->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  c->tls->set_default_verify_paths(ec);
  if (!options_.ca_file.empty()) {
    c->tls->load_verify_file(options_.ca_file, ec);
    if (ec) {
      return fail(CliHttpErrc::kUnreachable,
                  "cannot load CA certificates from " + options_.ca_file + ": " + ec.message());
    }
  }
  c->tls->set_verify_mode(ssl::verify_peer);
  c->secure = std::make_unique<ssl::stream<tcp::socket>>(std::move(socket), *c->tls);
  // SNI takes DNS names only (RFC 6066 section 3).
  if (!is_ip_address(url.host))
    SSL_set_tlsext_host_name(c->secure->native_handle(), url.host.c_str());
  c->secure->set_verify_callback(ssl::host_name_verification(url.host));
  c->secure->handshake(ssl::stream_base::client, ec);
  if (ec) {
    return fail(CliHttpErrc::kUnreachable,
                "TLS handshake with " + url.text() + " failed: " + ec.message());
  }
  return c;
}

namespace {

template <class Body>
void set_common_headers(http::request<Body>& req, const CliHttpOptions& options) {
  req.set(http::field::host, host_header(options.url));
  req.set(http::field::user_agent, "drydock-cli");
  if (!options.authorization.empty()) req.set(http::field::authorization, options.authorization);
}

}  // namespace

CliHttpResult<CliHttpReply> CliHttpClient::request(std::string_view method,
                                                   std::string_view target) {
  auto c = connect();
  if (!c) return std::unexpected(c.error());
  http::request<http::empty_body> req(http::string_to_verb(method), target, 11);
  set_common_headers(req, options_);
  return (*c)->with_stream([&](auto& stream) -> CliHttpResult<CliHttpReply> {
    error_code ec;
    http::write(stream, req, ec);
    if (ec) return fail(CliHttpErrc::kTransfer, "sending the request: " + ec.message());
    return read_reply(stream, (*c)->buffer, nullptr);
  });
}

CliHttpResult<CliHttpReply> CliHttpClient::get_streaming(
    std::string_view target, const std::function<void(std::string_view)>& on_data) {
  auto c = connect();
  if (!c) return std::unexpected(c.error());
  http::request<http::empty_body> req(http::verb::get, target, 11);
  set_common_headers(req, options_);
  return (*c)->with_stream([&](auto& stream) -> CliHttpResult<CliHttpReply> {
    error_code ec;
    http::write(stream, req, ec);
    if (ec) return fail(CliHttpErrc::kTransfer, "sending the request: " + ec.message());
    return read_reply(stream, (*c)->buffer, &on_data);
  });
}

CliHttpResult<CliHttpReply> CliHttpClient::post_chunked(
    std::string_view target, std::string_view content_type,
    const std::function<std::expected<void, std::string>(const BodyWriter&)>& produce,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  auto c = connect();
  if (!c) return std::unexpected(c.error());
  http::request<http::empty_body> req(http::verb::post, target, 11);
  set_common_headers(req, options_);
  req.set(http::field::content_type, content_type);
  req.set(http::field::expect, "100-continue");
  for (const auto& [name, value] : headers) req.insert(name, value);
  req.chunked(true);
  Connection& conn = **c;
  return conn.with_stream([&](auto& stream) -> CliHttpResult<CliHttpReply> {
    error_code ec;
    http::request_serializer<http::empty_body> head(req);
    http::write_header(stream, head, ec);
    if (ec) return fail(CliHttpErrc::kTransfer, "sending the request: " + ec.message());
    if (wait_readable(conn.fd(), kContinueWaitMs)) {
      // The first response: "100 Continue", or a refusal before any of the
      // body is sent (RFC 9110 section 10.1.1).
      ReplyParser first;
      first.body_limit(boost::none);
      http::read_header(stream, conn.buffer, first, ec);
      if (ec) return fail(CliHttpErrc::kTransfer, "reading the response: " + ec.message());
      if (first.get().result_int() / 100 != 1)
        return read_body(stream, conn.buffer, first, nullptr);
    }
    bool write_failed = false;
    BodyWriter writer = [&](std::span<const std::byte> bytes) -> std::expected<void, std::string> {
      if (bytes.empty()) return {};  // an empty chunk would end the body
      error_code wec;
      net::write(stream, http::make_chunk(net::const_buffer(bytes.data(), bytes.size())), wec);
      if (!wec) return {};
      write_failed = true;
      return std::unexpected("sending the body: " + wec.message());
    };
    auto produced = produce(writer);
    if (!produced && !write_failed) return fail(CliHttpErrc::kBody, produced.error());
    if (produced) net::write(stream, http::make_chunk_last(), ec);
    // After a failed write the server may still have said why (413, 401).
    auto reply = read_reply(stream, conn.buffer, nullptr);
    if (!reply && !produced) return fail(CliHttpErrc::kTransfer, produced.error());
    return reply;
  });
}

}  // namespace drydock::server
