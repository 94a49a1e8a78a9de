#pragma once

// A small blocking HTTP/1.1 client over POSIX sockets, optionally over TLS
// (OpenSSL directly), for the API tests. It is deliberately dumb: it writes
// exactly the bytes it is told to (so tests can send malformed or
// half-finished requests) and parses responses just enough to check them
// (status line, headers, Content-Length / chunked / until-close bodies).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;

namespace drydock::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  unsigned status = 0;
  std::string reason;
  Headers headers;
  std::string body;

  // First header with this name (case-insensitive), or nullopt.
  std::optional<std::string> find(std::string_view name) const;
  // Same, but "" when absent (handy in EXPECT_EQ).
  std::string header(std::string_view name) const { return find(name).value_or(""); }
  bool has(std::string_view name) const { return find(name).has_value(); }
  // Number of headers with this name.
  std::size_t count(std::string_view name) const;
  // The body parsed as JSON; a discarded value if it is not JSON.
  nlohmann::json json() const;
  // errors[0].code of an OCI error body, or "" if the body is not one.
  std::string error_code() const;
  // Every errors[].code.
  std::vector<std::string> error_codes() const;
};

// A request to serialize. Content-Length is added for a non-empty body, and
// for PUT/POST/PATCH always (unless `chunked` or the caller set one).
struct Request {
  std::string method = "GET";
  std::string target = "/v2/";
  Headers headers;
  std::string body;
  bool chunked = false;            // send body with Transfer-Encoding: chunked
  std::size_t chunk_size = 4096;   // piece size when chunked
  bool no_content_length = false;  // never add Content-Length automatically

  // The wire bytes.
  std::string serialize() const;
  // The header block only (everything before the body).
  std::string head() const;
  // The body as it goes on the wire (chunk-encoded if `chunked`).
  std::string wire_body() const;
};

class HttpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How a Connection speaks TLS. The defaults verify the server's certificate
// against `ca` for 127.0.0.1 with OpenSSL's default versions and ciphers.
struct TlsOptions {
  std::filesystem::path ca;        // trusted CA bundle; empty: do not verify the server
  std::string host = "127.0.0.1";  // name (IP or DNS) the certificate must carry; DNS: SNI too
  std::filesystem::path cert;      // client certificate chain (mutual TLS); empty: none
  std::filesystem::path key;       // its private key
  int min_version = 0;             // TLS1_1_VERSION...; 0: OpenSSL's default
  int max_version = 0;             // 0: OpenSSL's default
  std::string ciphers;             // TLS 1.2-and-older cipher list; empty: OpenSSL's default
};

// One TCP connection to the server. Not thread-safe. Every blocking call has
// a receive/send timeout (default 15 s) so a broken server fails the test
// instead of hanging it.
class Connection {
 public:
  explicit Connection(std::uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Connects, then completes a TLS handshake; throws HttpError with
  // OpenSSL's reason if the handshake fails.
  Connection(std::uint16_t port, const TlsOptions& tls,
             std::chrono::milliseconds timeout = std::chrono::seconds(15));
  ~Connection();
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Writes all bytes; throws HttpError on failure.
  void send(std::string_view bytes);
  // Writes what it can; false if the peer is gone (EPIPE, ECONNRESET).
  bool try_send(std::string_view bytes) noexcept;

  // Reads one response. `head` means: the request was HEAD, so no body
  // follows whatever Content-Length says. Interim 1xx responses are skipped
  // unless keep_interim. Throws HttpError if the connection closes or times
  // out before a complete response.
  Response read_response(bool head = false, bool keep_interim = false);
  std::optional<Response> try_read_response(bool head = false) noexcept;

  // Sends the request and reads its response.
  Response roundtrip(const Request& r);

  // Half-closes (FIN): the server sees end of stream, and can still answer.
  void shutdown_write();
  // Closes with an RST (SO_LINGER 0): an abrupt disconnect.
  void reset();
  void close();

  // Waits until the server closes the connection (EOF or reset), discarding
  // any bytes it sends meanwhile. True if closed within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);

  // True if response bytes are buffered or arrive within `timeout`.
  bool wait_readable(std::chrono::milliseconds timeout);

  bool is_open() const { return fd_ >= 0; }
  // The socket: raw reads on it bypass TLS, so only for plain connections.
  int fd() const { return fd_; }

  // On a TLS connection: the server certificate's subject ("/CN=..."), the
  // protocol ("TLSv1.3") and the cipher; "" on a plain one.
  std::string peer_subject() const;
  std::string tls_version() const;
  std::string tls_cipher() const;

 private:
  void start_tls(const TlsOptions& tls);
  // One read / write through TLS or the socket: bytes moved, 0 at the end of
  // the stream (reads), -1 on error with `error` saying why.
  long recv_some(char* buf, std::size_t n, std::string& error) noexcept;
  long send_some(std::string_view bytes, std::string& error) noexcept;
  void free_tls() noexcept;
  // Reads more bytes into in_; false on EOF. Throws on error / timeout.
  bool fill();
  std::string read_line();
  std::string read_exact(std::size_t n);
  std::string read_chunked();

  int fd_ = -1;
  ssl_ctx_st* tls_ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;  // null: plain TCP
  std::string in_;         // received, not yet consumed
};

// Convenience: one keep-alive connection that reconnects when the server
// closed it, with shorthand verbs.
class Client {
 public:
  explicit Client(std::uint16_t port) : port_(port) {}
  Client(std::uint16_t port, TlsOptions tls) : port_(port), tls_(std::move(tls)) {}

  Response send(const Request& r);
  Response get(std::string target, Headers h = {});
  Response head(std::string target, Headers h = {});
  Response del(std::string target, Headers h = {});
  Response put(std::string target, std::string body, Headers h = {});
  Response post(std::string target, std::string body = {}, Headers h = {});
  Response patch(std::string target, std::string body, Headers h = {});

  std::uint16_t port() const { return port_; }
  // Drops the kept connection (the next request opens a new one).
  void disconnect() { conn_.reset(); }

 private:
  std::uint16_t port_;
  std::optional<TlsOptions> tls_;
  std::optional<Connection> conn_;
};

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);

}  // namespace drydock::testing
