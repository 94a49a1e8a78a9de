#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.hpp"

namespace drydock::registry {
class Registry;
}
namespace drydock::auth {
class Authenticator;
}

namespace drydock::server {

// The HTTP front end: a listener, a pool of network threads driving one
// io_context, a pool of worker threads for blocking work, and one session per
// connection. Kept free of Asio/Beast headers so that main and tests compile
// quickly.
class Server {
 public:
  // `auth` null: authentication disabled (every request allowed). `tls`
  // without a certificate: plain HTTP.
  Server(const config::ServerConfig& config, registry::Registry& registry,
         auth::Authenticator* auth = nullptr, const config::TlsConfig& tls = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (throws std::runtime_error on failure), then starts the
  // network and worker threads. Returns the bound port (useful with port 0).
  std::uint16_t start();

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
