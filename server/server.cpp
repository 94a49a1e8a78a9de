#include "server/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "server/session.hpp"
#include "server/session_tracker.hpp"
#include "server/tls_context.hpp"

namespace drydock::server {

namespace {

unsigned or_default(unsigned value, unsigned fallback) { return value ? value : fallback; }

unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace

struct Server::Impl {
  Impl(const config::ServerConfig& cfg, registry::Registry& reg, auth::Authenticator* auth,
       const config::TlsConfig& tls_cfg, builder::BuildService* builds,
       images::ImageStore* images)
      : config(cfg),
        tls(tls_cfg),
        workers(or_default(cfg.worker_threads, 2 * cores())),
        ctx{config, reg, workers, tracker, auth},
        strand(asio::make_strand(ioc)),
        acceptor(strand),
        grace(strand) {
    ctx.tls = tls.enabled();
    ctx.builds = builds;
    ctx.images = images;
  }

  asio::awaitable<void> accept_loop();
  void begin_stop();
  std::shared_ptr<asio::ssl::context> current_tls();

  config::ServerConfig config;
  config::TlsConfig tls;
  asio::io_context ioc;
  asio::thread_pool workers;
  SessionTracker tracker;
  ServerContext ctx;
  // The acceptor, the grace timer and stop() all run on this strand: Asio
  // objects are not safe to use from two threads at once.
  asio::strand<asio::io_context::executor_type> strand;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer grace;
  // The context new connections get; null: plain HTTP. Replaced whole by a
  // reload, so a session holding the old one is never affected.
  std::mutex tls_mu;
  std::shared_ptr<asio::ssl::context> tls_context;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::condition_variable stopped_cv;
  bool started = false;
  bool stop_requested = false;
  bool stopped = false;
};

asio::awaitable<void> Server::Impl::accept_loop() {
  while (acceptor.is_open()) {
    auto [ec, socket] =
        co_await acceptor.async_accept(asio::make_strand(ioc), asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || ctx.stopping || !acceptor.is_open()) break;
    if (ec) {
      // EMFILE and friends: keep serving the connections we have, and back off
      // instead of spinning on an accept that fails at once every time.
      std::fprintf(stderr, "drydock: accept failed: %s\n", ec.message().c_str());
      asio::steady_timer pause(strand, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    beast::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto session = std::make_shared<Session>(std::move(socket), ctx, current_tls());
    auto executor = session->run_executor();
    asio::co_spawn(executor, session->run(), asio::detached);
  }
}

std::shared_ptr<asio::ssl::context> Server::Impl::current_tls() {
  std::lock_guard lock(tls_mu);
  return tls_context;
}

// Runs on the io_context: stop accepting, close idle connections, give busy
// ones the grace period, then close whatever is left.
void Server::Impl::begin_stop() {
  ctx.stopping = true;
  beast::error_code ec;
  acceptor.close(ec);
  tracker.for_each([](Session& s) { s.close_if_idle(); });
  grace.expires_after(std::chrono::seconds(config.shutdown_grace_seconds));
  grace.async_wait([this](beast::error_code e) {
    if (!e) tracker.for_each([](Session& s) { s.force_close(); });
  });
  tracker.on_empty([this] { asio::post(strand, [this] { grace.cancel(); }); });
}

Server::Server(const config::ServerConfig& config, registry::Registry& registry,
               auth::Authenticator* auth, const config::TlsConfig& tls,
               builder::BuildService* builds, images::ImageStore* images)
    : impl_(std::make_unique<Impl>(config, registry, auth, tls, builds, images)) {}

Server::~Server() { stop(); }

void Server::set_gc(GcService* gc) { impl_->ctx.gc = gc; }

std::uint16_t Server::start() {
  auto& i = *impl_;
  if (i.tls.enabled()) i.tls_context = make_tls_context(i.tls);
  beast::error_code ec;
  auto address = asio::ip::make_address(i.config.listen_host, ec);
  if (ec) throw std::runtime_error("bad listen host: " + i.config.listen_host);
  asio::ip::tcp::endpoint endpoint(address, i.config.listen_port);
  i.acceptor.open(endpoint.protocol());
  i.acceptor.set_option(asio::socket_base::reuse_address(true));
  i.acceptor.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + i.config.listen_host + ":" +
                             std::to_string(i.config.listen_port) + ": " + ec.message());
  }
  i.acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(i.strand, i.accept_loop(), asio::detached);
  unsigned n = or_default(i.config.io_threads, cores());
  for (unsigned t = 0; t < n; ++t) i.threads.emplace_back([&i] { i.ioc.run(); });
  i.started = true;
  return i.acceptor.local_endpoint().port();
}

std::expected<void, std::string> Server::reload_tls() {
  auto& i = *impl_;
  if (!i.tls.enabled()) return std::unexpected("TLS is not enabled");
  std::shared_ptr<asio::ssl::context> fresh;
  try {
    fresh = make_tls_context(i.tls);
  } catch (const std::exception& e) {
    return std::unexpected(e.what());
  }
  std::lock_guard lock(i.tls_mu);
  i.tls_context = std::move(fresh);
  return {};
}

std::string Server::listen_address() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  if (ec) return {};
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void Server::stop() {
  auto& i = *impl_;
  {
    std::unique_lock lock(i.mu);
    if (!i.started) {
      i.stopped = true;
      return;
    }
    if (i.stop_requested) {
      i.stopped_cv.wait(lock, [&i] { return i.stopped; });
      return;
    }
    i.stop_requested = true;
  }
  asio::post(i.strand, [&i] { i.begin_stop(); });
  for (auto& t : i.threads) t.join();
  i.threads.clear();
  i.workers.join();
  std::lock_guard lock(i.mu);
  i.stopped = true;
  i.stopped_cv.notify_all();
}

void Server::wait() {
  auto& i = *impl_;
  std::unique_lock lock(i.mu);
  i.stopped_cv.wait(lock, [&i] { return i.stopped; });
}

}  // namespace drydock::server
