#pragma once

#include <string>
#include <string_view>

namespace drydock::auth {

// What a request wants to do to a repository.
enum class Action { kPull, kPush, kDelete };

// Who is asking. Anonymous until issue 3 brings users and tokens.
struct Principal {
  std::string name;  // empty: anonymous
};

// Decides whether a principal may perform an action on a repository.
class AccessPolicy {
 public:
  virtual ~AccessPolicy() = default;
  virtual bool allowed(const Principal& who, std::string_view repository, Action a) const = 0;
};

// The policy with authentication disabled: everything is allowed. The server
// logs loudly at startup when it runs with this policy.
class AllowAllPolicy final : public AccessPolicy {
 public:
  bool allowed(const Principal&, std::string_view, Action) const override { return true; }
};

}  // namespace drydock::auth
