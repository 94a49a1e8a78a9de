#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "builder/runtime.hpp"

namespace drydock::builder {

// A Runtime for unit tests of code above it: records every RunSpec, "prints"
// the configured output through the spec's callback, and returns the
// configured result. Set `reply` (or `handler`, for per-call behaviour) before
// use. Thread-safe.
class FakeRuntime final : public Runtime {
 public:
  struct Reply {
    ExecResult<RunResult> result = RunResult{};
    std::string stdout_text;
    std::string stderr_text;
  };

  ExecResult<RunResult> run(const RunSpec& spec) override {
    Reply r;
    {
      std::lock_guard lock(mu_);
      calls_.push_back(spec);
      r = handler ? handler(spec) : reply;
    }
    if (spec.on_output) {
      if (!r.stdout_text.empty()) spec.on_output(OutputStream::kStdout, r.stdout_text);
      if (!r.stderr_text.empty()) spec.on_output(OutputStream::kStderr, r.stderr_text);
    }
    return r.result;
  }

  // Every spec run() received, in order.
  std::vector<RunSpec> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

  Reply reply;                                   // returned when `handler` is empty
  std::function<Reply(const RunSpec&)> handler;  // called under the lock

 private:
  mutable std::mutex mu_;
  std::vector<RunSpec> calls_;
};

}  // namespace drydock::builder
