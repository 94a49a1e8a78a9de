#pragma once
// Internal to builder/: RUN --mount for one step (see executor_mounts.cpp).
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "builder/executor_steps.hpp"

namespace drydock::builder::exec_detail {

// The mounts of one RUN step, ready for the runtime; everything they needed
// (secret files, copies, views, cache locks) goes when this is destroyed.
class RunMounts {
 public:
  // Parses and expands every --mount of `run`, sets each up, and feeds what
  // the step's result depends on into `key` (the options; for bind mounts the
  // bound content; never secret values or cache contents).
  static StepRes<std::unique_ptr<RunMounts>> prepare(BuildCtx& b, const StageCtx& st,
                                                     const RunCommand& run, CacheKey& key);
  ~RunMounts();
  RunMounts(const RunMounts&) = delete;
  RunMounts& operator=(const RunMounts&) = delete;

  const std::vector<ContainerMount>& mounts() const { return mounts_; }

 private:
  RunMounts() = default;
  StepRes<void> add_secret(BuildCtx& b, std::string id, std::string target, bool required,
                           std::optional<mode_t> mode, std::optional<std::uint32_t> uid,
                           std::optional<std::uint32_t> gid);
  StepRes<void> add_cache(BuildCtx& b, std::string id, std::string target,
                          const std::string& sharing, bool readonly, std::optional<mode_t> mode,
                          std::optional<std::uint32_t> uid, std::optional<std::uint32_t> gid);
  StepRes<void> add_bind(BuildCtx& b, const std::string& from, std::string source,
                         const std::string& target, bool rw, CacheKey& key);

  std::vector<ContainerMount> mounts_;
  std::vector<std::filesystem::path> scratch_;  // removed at the end
  std::filesystem::path secret_dir_;
  std::vector<std::unique_ptr<MountedView>> views_;
  std::vector<std::unique_lock<std::mutex>> locks_;
};

}  // namespace drydock::builder::exec_detail
