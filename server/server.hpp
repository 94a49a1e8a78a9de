#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "config/config.hpp"

namespace drydock::registry {
class Registry;
}
namespace drydock::auth {
class Authenticator;
}
namespace drydock::builder {
class BuildService;
}
namespace drydock::images {
class ImageStore;
}

namespace drydock::server {

// The HTTP front end: a listener, a pool of network threads driving one
// io_context, a pool of worker threads for blocking work, and one session per
// connection. Kept free of Asio/Beast headers so that main and tests compile
// quickly.
class GcService;

class Server {
 public:
  // `auth` null: authentication disabled (every request allowed). `tls`
  // without a certificate: plain HTTP; with one: HTTPS only. `builds` null:
  // the build API answers 503. `images` null: /images answers 503.
  Server(const config::ServerConfig& config, registry::Registry& registry,
         auth::Authenticator* auth = nullptr, const config::TlsConfig& tls = {},
         builder::BuildService* builds = nullptr, images::ImageStore* images = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate and key if configured, binds and listens
  // (throws std::runtime_error on failure, naming the file or address), then
  // starts the network and worker threads. Returns the bound port (useful
  // with port 0).
  std::uint16_t start();

  // Serves /admin/gc and /admin/prune with `gc` (else they are 404). Call
  // before start().
  void set_gc(GcService* gc);

  // Reads the TLS files again (same paths) into a fresh context for new
  // connections; open connections keep the one they started with. On
  // failure the current context stays and the error says why. Safe from
  // any thread, at any time after start().
  std::expected<void, std::string> reload_tls();

  // Graceful stop: stops accepting, closes idle connections, lets in-flight
  // requests finish for up to shutdown_grace_seconds, then closes the rest
  // and joins every thread. Idempotent; safe from any thread except the
  // server's own.
  void stop();

  // Blocks until stop() has completed.
  void wait();

  std::string listen_address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::server
