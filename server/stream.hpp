#pragma once

// The byte stream under a Session: plain TCP, or TLS over TCP. Server-private
// (brings Beast's SSL stream and OpenSSL's headers with it).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <utility>
#include <variant>

namespace drydock::server {

namespace asio = boost::asio;
namespace beast = boost::beast;

// One connection's stream. Session code is written once: every read and
// write goes through visit(), which hands the lambda whichever stream is
// live; timeouts, cancel and close go to the TCP layer under both.
class Stream {
 public:
  using Plain = beast::tcp_stream;
  using Tls = beast::ssl_stream<beast::tcp_stream>;

  // `tls` null: plain TCP. Otherwise the stream keeps the context alive for
  // as long as it lives (a reload may replace the server's current one).
  Stream(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls)
      : context_(std::move(tls)), stream_(make(std::move(socket), context_.get())) {}

  // Calls fn(Plain&) or fn(Tls&); both must return the same type.
  template <class F>
  decltype(auto) visit(F&& fn) {
    return std::visit(std::forward<F>(fn), stream_);
  }

  // The TCP layer: expires_after(), cancel(), close(), socket().
  beast::tcp_stream& tcp() {
    if (auto* tls = std::get_if<Tls>(&stream_)) return tls->next_layer();
    return std::get<Plain>(stream_);
  }

  // The TLS stream, or null on a plain connection.
  Tls* tls() { return std::get_if<Tls>(&stream_); }

  asio::any_io_executor get_executor() { return tcp().get_executor(); }

 private:
  static std::variant<Plain, Tls> make(asio::ip::tcp::socket socket, asio::ssl::context* tls) {
    if (tls == nullptr)
      return std::variant<Plain, Tls>(std::in_place_type<Plain>, std::move(socket));
    return std::variant<Plain, Tls>(std::in_place_type<Tls>, std::move(socket), *tls);
  }

  std::shared_ptr<asio::ssl::context> context_;  // declared first: outlives stream_
  std::variant<Plain, Tls> stream_;
};

}  // namespace drydock::server
