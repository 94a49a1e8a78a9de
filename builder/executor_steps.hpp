#pragma once
// Internal to builder/: the state of a running build and the steps that make
// layers (RUN, COPY/ADD, WORKDIR), shared by executor.cpp and executor_steps.cpp.
#include <atomic>
#include <cstddef>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "builder/build_cache.hpp"
#include "builder/dockerfile.hpp"
#include "builder/executor.hpp"
#include "builder/executor_store.hpp"
#include "builder/shell_words.hpp"

namespace drydock::builder::exec_detail {

// A step's failure; the dispatcher adds file, line and instruction.
struct StepError {
  BuildErrc code = BuildErrc::kInternal;
  std::string message;
};
template <class T>
using StepRes = std::expected<T, StepError>;

inline std::unexpected<StepError> step_error(BuildErrc code, std::string message) {
  return std::unexpected(StepError{code, std::move(message)});
}

// One stage being built.
struct StageCtx {
  std::size_t index = 0;
  ImageState state;
  Variables args;  // ARGs declared in this stage, with their values
  // Declared ARGs with a value, in declaration order (for RUN's history).
  std::vector<std::string> arg_order;
  bool cmd_set = false;  // CMD given in this stage (ENTRYPOINT then keeps it)
  int step = 0;          // the number of the step running (#N in the log)
  // ARG and ENV together, ENV winning: what expansion sees.
  Variables vars() const;
};

// The whole build.
struct BuildCtx {
  const BuildRequest& req;
  BuildEnv& env;
  const Dockerfile& df;
  std::map<std::string, std::string, std::less<>> build_args;  // --build-arg
  std::vector<std::optional<ImageState>> built;                // per stage index
  std::atomic<int> step = 0;  // stages may run at once (build_stages)
  void log(std::string_view text) const {
    if (env.log) env.log(text);
  }
};

// Appends a history entry (and the layer, when one was written). `created`
// empty: now.
void add_history(StageCtx& st, const BuildCtx& b, std::string created_by,
                 const std::optional<WrittenLayer>& layer, std::string created = {});

// --- the step cache (executor_cache.cpp) ---------------------------------
// A key over `kind` and the stage's filesystem so far (its diff_ids, in
// order): what every layer-making step's result depends on besides its own
// inputs, which the caller adds.
CacheKey fs_key(std::string_view kind, const StageCtx& st);
// The cached result of `key`, if the stage may use the cache (not
// --no-cache, not in --no-cache-filter) and the layer blob still exists.
std::optional<CacheEntry> cache_lookup(BuildCtx& b, const StageCtx& st, const std::string& key);
// Applies a hit as the step's result: the layer and history entry; logs
// "#N CACHED".
void apply_cached(BuildCtx& b, StageCtx& st, std::string created_by, const CacheEntry& hit);
// Records what a step produced under `key` (also with --no-cache).
void cache_store(BuildCtx& b, const std::string& key, const std::optional<WrittenLayer>& layer,
                 const StageCtx& st);
// Feeds what `plan` would write into `k`: paths, origins, types, modes,
// owners, link targets and file contents (read from the sources), never mtimes.
std::expected<void, std::string> hash_plan(CacheKey& k, const LayerPlan& plan);
// Unpacks every layer of `st`'s chain that has no snapshot yet (a cached
// layer is unpacked only when a later step needs the filesystem).
StepRes<void> ensure_chain(BuildCtx& b, const ImageState& st);

StepRes<void> run_step(BuildCtx& b, StageCtx& st, const Instruction& ins, const RunCommand& run);
StepRes<void> copy_step(BuildCtx& b, StageCtx& st, const Instruction& ins, const CopySpec& spec,
                        const std::string& from, bool is_add);
StepRes<void> workdir_step(BuildCtx& b, StageCtx& st, const std::string& path);

// --- shared with RUN --mount (defined in executor_copy.cpp) ---------------
// A word expanded with the stage's ARG and ENV values.
StepRes<std::string> expand_step_word(const StageCtx& st, const BuildCtx& b, std::string_view word);
// Where COPY --from / RUN --mount from= reads: the context ("" ), a built
// stage, or an image, mounted read-only while `view` lives.
struct SourceRoot {
  std::filesystem::path root;
  std::unique_ptr<MountedView> view;
};
StepRes<SourceRoot> source_root(BuildCtx& b, const std::string& from);
// `path` resolved inside `root` (symlinks followed within it), relative.
StepRes<std::string> resolve_inside(const std::filesystem::path& root, const std::string& path,
                                    bool follow_last);

// The created time for history and config, RFC 3339.
std::string created_time(const BuildEnv& env);

}  // namespace drydock::builder::exec_detail
