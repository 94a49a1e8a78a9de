#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace drydock::server {

class Session;

// Knows the live sessions so that a graceful stop can reach them.
class SessionTracker {
 public:
  void add(const std::shared_ptr<Session>& s) {
    std::lock_guard lock(mu_);
    sessions_[s.get()] = s;
  }
  // Returns the number of sessions left.
  std::size_t remove(Session* s) {
    std::lock_guard lock(mu_);
    sessions_.erase(s);
    if (sessions_.empty() && on_empty_) on_empty_();
    return sessions_.size();
  }
  void for_each(const std::function<void(Session&)>& fn) {
    std::lock_guard lock(mu_);
    for (auto& [_, weak] : sessions_) {
      if (auto s = weak.lock()) fn(*s);
    }
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }
  // Called (under the lock) when the last session goes; used by stop().
  void on_empty(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    on_empty_ = std::move(fn);
    if (sessions_.empty() && on_empty_) on_empty_();
  }

 private:
  std::mutex mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::function<void()> on_empty_;
};

}  // namespace drydock::server
