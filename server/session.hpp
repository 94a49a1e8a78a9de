#pragma once

// One HTTP/1.1 connection, over TCP or TLS (server-private header: includes
// Beast and, through stream.hpp, OpenSSL).

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "auth/access.hpp"
#include "config/config.hpp"
#include "registry/registry.hpp"
#include "server/stream.hpp"

namespace drydock::auth {
class Authenticator;
struct Requirement;
}
namespace drydock::builder {
class BuildService;
struct BuildRecord;
}
namespace drydock::images {
class ImageStore;
struct ExportPlan;
}

namespace drydock::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

class SessionTracker;
class GcService;

// What every session shares; owned by the Server.
struct ServerContext {
  const config::ServerConfig& config;
  registry::Registry& registry;
  asio::thread_pool& workers;
  SessionTracker& tracker;
  auth::Authenticator* auth = nullptr;  // null: authentication disabled
  builder::BuildService* builds = nullptr;  // null: the build API answers 503
  GcService* gc = nullptr;                  // null: /admin/gc and /admin/prune are 404
  images::ImageStore* images = nullptr;     // null: /images answers 503
  bool tls = false;                     // the listener speaks HTTPS
  std::atomic<bool> stopping{false};
};

using RequestParser = http::request_parser<http::buffer_body>;

// The most of a body that a request which needs none may carry: drained and
// dropped (drain_body) so the connection can be kept.
inline constexpr std::size_t kIgnoredBodyLimit = 64 * 1024;

// Facts about the request being served, for replies and the access log.
struct Exchange {
  std::string method;
  std::string target;
  unsigned version = 11;
  bool keep_alive = true;
  bool head = false;
  std::chrono::steady_clock::time_point started;
  std::uint64_t bytes_in = 0;
};

// How receiving a build context (a request body streamed to a file) ended.
struct ContextReceipt {
  enum class Outcome {
    kStored,
    kTooLarge,  // over the build service's upload limit: the file is removed
    kFailed,    // the file could not be written: removed, `message` says why
    kGone,      // the client went away mid-body: removed, nothing to answer
  };
  Outcome outcome = Outcome::kStored;
  std::string message;
};

struct BodyRead {
  std::size_t bytes = 0;
  bool done = false;
  beast::error_code ec;
};

// Reads requests one after the other on a keep-alive connection, routes each
// to the registry and writes the reply. Runs as one coroutine on its own
// strand; handlers never run concurrently.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `tls` null: plain HTTP. Otherwise the session does a TLS handshake first
  // and keeps this context for its whole life, whatever a reload installs.
  Session(asio::ip::tcp::socket socket, ServerContext& ctx,
          std::shared_ptr<asio::ssl::context> tls = nullptr);
  ~Session();

  asio::awaitable<void> run();
  asio::any_io_executor run_executor() { return stream_.get_executor(); }

  // For graceful shutdown; both post to the session's strand.
  void close_if_idle();
  void force_close();

 private:
  // session.cpp: the connection loop and I/O primitives.
  asio::awaitable<bool> serve_one();
  asio::awaitable<bool> handshake();
  asio::awaitable<void> refuse_plain_http();
  asio::awaitable<void> close_stream();
  asio::awaitable<void> tls_shutdown();
  asio::awaitable<void> linger();
  asio::awaitable<void> reply_and_close(unsigned status, std::string_view message);
  asio::awaitable<BodyRead> read_body(RequestParser& p, std::span<std::byte> buf);
  asio::awaitable<BodyRead> read_raw_body(std::span<std::byte> buf);
  bool body_done(const RequestParser& p) const;
  asio::awaitable<bool> drain_body(RequestParser& p, std::size_t limit);
  asio::awaitable<bool> send_continue(RequestParser& p);
  bool expects_continue(const RequestParser& p) const;
  asio::awaitable<bool> write_reply(registry::Reply reply, Exchange& ex);
  asio::awaitable<bool> send_blob(registry::BlobBody& blob);
  asio::awaitable<bool> copy_blob(registry::BlobBody& blob);
  void log(const Exchange& ex, unsigned status, std::uint64_t bytes_out) const;

  // dispatch.cpp: routing and the streamed-body handlers.
  asio::awaitable<bool> dispatch(RequestParser& p, Exchange& ex);
  // auth_routes.cpp: the access check before each registry request, and the
  // token endpoint. authorize() answers a refused request itself and
  // returns nullopt; else the principal to serve the request as.
  asio::awaitable<std::optional<auth::Principal>> authorize(RequestParser& p, Exchange& ex,
                                                            const registry::Route& route);
  // The same check for a requirement that is not a registry route's.
  asio::awaitable<std::optional<auth::Principal>> authorize_for(RequestParser& p, Exchange& ex,
                                                                std::optional<auth::Requirement> need);
  asio::awaitable<bool> handle_token(RequestParser& p, Exchange& ex, const registry::Query& query);
  // admin_routes.cpp: /admin/gc and /admin/prune.
  asio::awaitable<bool> handle_admin(RequestParser& p, Exchange& ex, std::string_view path,
                                     const registry::Query& query);
  std::string realm(const RequestParser& p) const;
  // dispatch.cpp: GET /usage, bytes held per namespace and repository.
  asio::awaitable<bool> handle_usage(RequestParser& p, Exchange& ex, const registry::Query& query);
  // build_routes.cpp: the build API (/builds).
  asio::awaitable<bool> handle_builds(RequestParser& p, Exchange& ex, std::string_view path,
                                      const registry::Query& query);
  asio::awaitable<bool> handle_build_post(RequestParser& p, Exchange& ex,
                                          const registry::Query& query,
                                          const auth::Principal& who);
  asio::awaitable<bool> handle_context_post(RequestParser& p, Exchange& ex,
                                            const registry::Query& query,
                                            const auth::Principal& who);
  asio::awaitable<bool> stream_build_log(Exchange& ex, const std::string& id, bool follow);
  // The request body into `upload` (created here), up to `limit` bytes (0:
  // the build service's upload limit); sends 100-continue first when asked.
  asio::awaitable<ContextReceipt> receive_context(RequestParser& p, Exchange& ex,
                                                  const std::filesystem::path& upload,
                                                  std::uint64_t limit = 0);
  // image_routes.cpp: image archives and the image listing (/images).
  asio::awaitable<bool> handle_images(RequestParser& p, Exchange& ex, std::string_view path,
                                      const registry::Query& query);
  asio::awaitable<bool> handle_image_import(RequestParser& p, Exchange& ex,
                                            const registry::Query& query,
                                            const auth::Principal& who);
  asio::awaitable<bool> stream_export(Exchange& ex, images::ExportPlan& plan);
  // engine_routes.cpp: the Docker Engine API subset (/_ping, /version,
  // /build), `endpoint` a builder::EngineEndpoint.
  asio::awaitable<bool> handle_engine(RequestParser& p, Exchange& ex, int endpoint,
                                      const registry::Query& query);
  asio::awaitable<bool> handle_engine_build(RequestParser& p, Exchange& ex,
                                            const registry::Query& query);
  asio::awaitable<bool> stream_engine_build(Exchange& ex, const std::string& id,
                                            const std::vector<std::string>& shown_tags,
                                            bool quiet);
  asio::awaitable<bool> handle_manifest_put(RequestParser& p, Exchange& ex, std::string name,
                                            std::string ref, registry::RequestInfo info);
  asio::awaitable<bool> handle_upload(RequestParser& p, Exchange& ex, registry::UploadStep step);
  asio::awaitable<std::optional<registry::Reply>> stream_upload(RequestParser& p,
                                                                registry::UploadWrite& w,
                                                                Exchange& ex);

  Stream stream_;
  std::string peer_address_;  // the client's IP, for rate limiting and logs
  beast::flat_buffer buffer_;
  ServerContext& ctx_;
  asio::steady_timer watchdog_;
  // A body with a Content-Length is read straight from the socket into the
  // caller's buffer (no copy through the parser); `raw_left_` counts what is
  // still to come. Chunked bodies go through the parser.
  bool raw_body_ = false;
  std::uint64_t raw_left_ = 0;
  bool continue_sent_ = false;
  bool linger_ = false;
  bool tls_up_ = false;  // handshake done: close_notify is owed at the end
  bool idle_ = true;
  bool closed_ = false;
};

}  // namespace drydock::server
