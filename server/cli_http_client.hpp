#pragma once

// A small blocking HTTP/1.1 client for the command line subcommands that talk
// to a running server (`drydock build`): Beast's synchronous API over a TCP
// socket, or TLS with the system's CAs plus an optional CA file. One
// connection per request: the client sends a handful of requests per run.
// Beast and Asio stay in the .cpp.

#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace drydock::server {

// Where the server is: "http://host[:port]" or "https://host[:port]"
// (a bare "host:port" means http). IPv6 hosts in brackets.
struct ServerUrl {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;  // default 80 / 443
  // "http://127.0.0.1:5000", for messages.
  std::string text() const;
};

// Parses a server URL; the error says what is wrong with it. A path other
// than "/" is refused: the API lives at the root.
std::expected<ServerUrl, std::string> parse_server_url(std::string_view url);

// How to reach the server.
struct CliHttpOptions {
  ServerUrl url;
  std::string ca_file;        // extra trusted CA bundle (PEM) for https; empty: system CAs only
  std::string authorization;  // Authorization header value sent on every request; may be empty
};

// Why a request did not produce a response.
enum class CliHttpErrc {
  kUnreachable,  // resolving, connecting or the TLS handshake failed
  kTransfer,     // the connection broke or the response was malformed
  kBody,         // the request body's producer failed (its message is kept)
};

struct CliHttpError {
  CliHttpErrc code = CliHttpErrc::kTransfer;
  std::string message;
};

// A response. For get_streaming with a 2xx status, the body went to the
// callback and `body` is empty.
struct CliHttpReply {
  unsigned status = 0;
  std::string reason;
  std::string content_type;
  std::string location;
  std::string body;  // at most kMaxBodyBytes
};

template <class T>
using CliHttpResult = std::expected<T, CliHttpError>;

// Sends one piece of a streamed request body; fails if the connection broke.
using BodyWriter = std::function<std::expected<void, std::string>(std::span<const std::byte>)>;

class CliHttpClient {
 public:
  // Bodies read whole (JSON, error documents) are cut off past this size.
  static constexpr std::size_t kMaxBodyBytes = 4U << 20;

  explicit CliHttpClient(CliHttpOptions options);
  ~CliHttpClient();
  CliHttpClient(const CliHttpClient&) = delete;
  CliHttpClient& operator=(const CliHttpClient&) = delete;

  // A request without a body (GET, DELETE); the response body read whole.
  CliHttpResult<CliHttpReply> request(std::string_view method, std::string_view target);

  // POST with `Expect: 100-continue` and a chunked body: `produce` is called
  // once and hands the body to the writer piece by piece, each piece going
  // out as one chunk at once (nothing is buffered). If the server answers
  // before the body is sent (401, 413...), that answer is returned without
  // calling `produce`. If `produce` fails, the connection is dropped without
  // the last chunk, so the server sees an incomplete body.
  CliHttpResult<CliHttpReply> post_chunked(
      std::string_view target, std::string_view content_type,
      const std::function<std::expected<void, std::string>(const BodyWriter&)>& produce,
      const std::vector<std::pair<std::string, std::string>>& headers = {});

  // GET whose 2xx body is handed to `on_data` as it arrives (a followed
  // log); other statuses have their body in the reply.
  CliHttpResult<CliHttpReply> get_streaming(std::string_view target,
                                            const std::function<void(std::string_view)>& on_data);

 private:
  struct Connection;
  CliHttpResult<std::unique_ptr<Connection>> connect();

  CliHttpOptions options_;
};

// The connection options of a client subcommand from its --server,
// --ca-cert and --user flags (unset: $DRYDOCK_SERVER, $DRYDOCK_CA_CERT,
// $DRYDOCK_USER; the server defaults to http://127.0.0.1:5000), with HTTP
// Basic credentials from the user and $DRYDOCK_PASSWORD (a password or an
// access token). The error is a usage message.
std::expected<CliHttpOptions, std::string> cli_connection(std::optional<std::string> server,
                                                          std::optional<std::string> ca_cert,
                                                          std::optional<std::string> user);

// What a refusal says: "CODE: message[: detail]" from an OCI error document,
// else the status line and the start of the body.
std::string describe_error(const CliHttpReply& reply);

// Percent-encodes a query component (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view text);

}  // namespace drydock::server
