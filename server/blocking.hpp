#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>
#include <type_traits>

namespace drydock::server {

// Runs `fn` on the worker pool and resumes the calling coroutine on its own
// executor with the result. The one way blocking work (fsync, SQLite writes,
// hashing) leaves the network threads (STYLE.md "Transport-neutral core").
template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_blocking(boost::asio::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F>;
  auto home = co_await boost::asio::this_coro::executor;
  std::optional<R> out;
  std::exception_ptr failure;
  co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
      [&](auto handler) {
        // The work guard keeps the io_context running while the pool works.
        auto guard = boost::asio::make_work_guard(home);
        boost::asio::post(pool, [&, home, guard, handler = std::move(handler)]() mutable {
          try {
            out.emplace(fn());
          } catch (...) {
            failure = std::current_exception();
          }
          boost::asio::post(home, std::move(handler));
        });
      },
      boost::asio::use_awaitable);
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*out);
}

}  // namespace drydock::server
