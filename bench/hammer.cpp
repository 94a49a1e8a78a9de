#include "hammer.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr int kMaxEvents = 64;

struct Totals {
  std::uint64_t requests = 0;
  std::uint64_t non2xx = 0;
  std::uint64_t errors = 0;
  std::vector<std::uint32_t> latencies_us;
};

// One connection's state: request being sent, response being read.
struct Slot {
  int fd = -1;
  std::size_t sent = 0;
  std::string head;  // response header bytes so far
  std::uint64_t body_left = 0;
  bool in_body = false;
  bool close_after = false;  // the server said Connection: close
  int status = 0;
  Clock::time_point started;
};

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// One thread: an epoll loop over its connections until the deadline.
class Worker {
 public:
  Worker(const addrinfo& address, std::string request, bool head, int connections,
         Clock::time_point deadline)
      : address_(address),
        request_(std::move(request)),
        head_(head),
        slots_(connections),
        deadline_(deadline) {}

  Totals run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    for (auto& slot : slots_) open_slot(slot);
    std::vector<epoll_event> events(kMaxEvents);
    std::vector<char> buffer(256 * 1024);
    while (Clock::now() < deadline_) {
      int n = epoll_wait(epoll_, events.data(), kMaxEvents, 50);
      for (int i = 0; i < n; ++i) {
        auto& slot = slots_[events[i].data.u32];
        if (events[i].events & (EPOLLERR | EPOLLHUP) && !(events[i].events & EPOLLIN)) {
          fail(slot);
        } else if (events[i].events & EPOLLIN) {
          on_readable(slot, buffer);
        } else if (events[i].events & EPOLLOUT) {
          send_more(slot);
        }
      }
    }
    for (auto& slot : slots_) close(slot.fd);
    close(epoll_);
    return std::move(totals_);
  }

 private:
  std::uint32_t index_of(const Slot& slot) const {
    return static_cast<std::uint32_t>(&slot - slots_.data());
  }

  void open_slot(Slot& slot) {
    slot = Slot{};
    slot.fd = socket(address_.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(slot.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(slot.fd, address_.ai_addr, address_.ai_addrlen) != 0 && errno != EINPROGRESS) {
      ++totals_.errors;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.u32 = index_of(slot);
    epoll_ctl(epoll_, EPOLL_CTL_ADD, slot.fd, &event);
    slot.started = Clock::now();
  }

  void fail(Slot& slot) {
    ++totals_.errors;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, slot.fd, nullptr);
    close(slot.fd);
    open_slot(slot);
  }

  void send_more(Slot& slot) {
    while (slot.sent < request_.size()) {
      ssize_t n =
          send(slot.fd, request_.data() + slot.sent, request_.size() - slot.sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) return fail(slot);
      slot.sent += static_cast<std::size_t>(n);
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = index_of(slot);
    epoll_ctl(epoll_, EPOLL_CTL_MOD, slot.fd, &event);
  }

  void on_readable(Slot& slot, std::vector<char>& buffer) {
    ssize_t n = recv(slot.fd, buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) return fail(slot);
    std::size_t used = 0;
    auto size = static_cast<std::size_t>(n);
    if (!slot.in_body) {
      std::size_t old = slot.head.size();
      slot.head.append(buffer.data(), size);
      auto end = slot.head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (slot.head.size() > kHeaderLimit) fail(slot);
        return;
      }
      used = end + 4 - old;
      if (!parse_head(slot)) return fail(slot);
    }
    auto body = std::min<std::uint64_t>(slot.body_left, size - used);
    slot.body_left -= body;
    if (slot.body_left == 0) complete(slot);
  }

  // Reads the status and the body length; false when the response can't be handled.
  bool parse_head(Slot& slot) {
    if (slot.head.size() < 12 || slot.head.compare(0, 7, "HTTP/1.") != 0) return false;
    int status = std::atoi(slot.head.c_str() + 9);
    slot.status = status;
    auto headers = lower(slot.head);
    if (headers.find("\r\ntransfer-encoding: chunked") != std::string::npos && !head_) return false;
    auto length = headers.find("\r\ncontent-length:");
    slot.body_left = head_ || length == std::string::npos
                         ? 0
                         : std::strtoull(headers.c_str() + length + 17, nullptr, 10);
    slot.close_after = headers.find("\r\nconnection: close") != std::string::npos;
    slot.in_body = true;
    return true;
  }

  void complete(Slot& slot) {
    auto elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - slot.started);
    if (Clock::now() >= deadline_) return;
    ++totals_.requests;
    if (slot.status < 200 || slot.status > 399) ++totals_.non2xx;
    totals_.latencies_us.push_back(static_cast<std::uint32_t>(elapsed.count()));
    if (slot.close_after) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, slot.fd, nullptr);
      close(slot.fd);
      open_slot(slot);
      return;
    }
    int fd = slot.fd;
    slot = Slot{};
    slot.fd = fd;
    slot.started = Clock::now();
    send_more(slot);
  }

  const addrinfo& address_;
  std::string request_;
  bool head_;
  std::vector<Slot> slots_;
  Clock::time_point deadline_;
  int epoll_ = -1;
  Totals totals_;
};

double percentile_ms(std::vector<std::uint32_t>& values, double fraction) {
  if (values.empty()) return 0;
  auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<long>(index), values.end());
  return values[index] / 1000.0;
}

}  // namespace

int run_hammer(const std::vector<std::string>& args) {
  if (args.size() < 7) {
    std::fprintf(stderr,
                 "usage: bench_blobclient hammer HOST:PORT METHOD TARGET CONNECTIONS "
                 "THREADS SECONDS [HEADER...]\n");
    return 2;
  }
  auto colon = args[1].rfind(':');
  std::string host = args[1].substr(0, colon), port = args[1].substr(colon + 1);
  const std::string& method = args[2];
  int connections = std::stoi(args[4]), threads = std::stoi(args[5]);
  double seconds = std::stod(args[6]);
  std::string request = method + " " + args[3] + " HTTP/1.1\r\nHost: " + args[1] + "\r\n";
  for (std::size_t i = 7; i < args.size(); ++i) request += args[i] + "\r\n";
  request += "\r\n";

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* address = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &address) != 0) {
    std::fprintf(stderr, "bench_blobclient: FAIL\ncannot resolve %s\n", args[1].c_str());
    return 1;
  }
  auto start = Clock::now();
  auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<Totals> results(threads);
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      int share = connections / threads + (t < connections % threads ? 1 : 0);
      workers.emplace_back([&, t, share] {
        results[t] = Worker(*address, request, method == "HEAD", share, deadline).run();
      });
    }
  }
  freeaddrinfo(address);
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Totals all;
  for (auto& part : results) {
    all.requests += part.requests;
    all.non2xx += part.non2xx;
    all.errors += part.errors;
    all.latencies_us.insert(all.latencies_us.end(), part.latencies_us.begin(),
                            part.latencies_us.end());
  }
  double p50 = percentile_ms(all.latencies_us, 0.50);
  double p99 = percentile_ms(all.latencies_us, 0.99);
  std::printf(
      "requests=%llu seconds=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%llu errors=%llu\n",
      static_cast<unsigned long long>(all.requests), elapsed, all.requests / elapsed, p50, p99,
      static_cast<unsigned long long>(all.non2xx), static_cast<unsigned long long>(all.errors));
  return all.requests > 0 ? 0 : 1;
}
