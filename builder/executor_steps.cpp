// The steps that make layers: RUN (in a container over the stage's
// snapshots), COPY/ADD (straight from the context or another stage) and
// WORKDIR (the directory, when missing).
#include "builder/executor_steps.hpp"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <memory>
#include <system_error>

#include "builder/archive_extract.hpp"
#include "builder/executor_mounts.hpp"
#include "builder/layer_unpack.hpp"

namespace drydock::builder::exec_detail {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* kHistoryComment = "buildkit.dockerfile.v0";

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// Removes an active snapshot unless it was committed.
struct ActiveGuard {
  Snapshotter& snapshots;
  std::string key;
  bool done = false;
  ~ActiveGuard() {
    if (!done) (void)snapshots.remove(key);
  }
};

std::vector<std::string> run_env(const StageCtx& st) {
  std::vector<std::string> env = st.state.image.config.env;
  if (!st.state.image.config.getenv("PATH"))
    env.insert(env.begin(), std::string("PATH=") + kDefaultPath);
  for (const auto& [k, v] : st.args) {
    if (!st.state.image.config.getenv(k)) env.push_back(k + "=" + v);
  }
  return env;
}

StepRes<User> stage_user(const fs::path& rootfs, const std::string& spec) {
  auto u = resolve_user(spec, rootfs);
  if (!u)
    return step_error(BuildErrc::kStepFailed,
                      "unable to find user " + spec + ": " + u.error().message);
  return *u;
}

// What a RUN runs: argv, and for `RUN <<EOF` with a "#!" body the script,
// bound at /dev/pipes/<name> and executed as BuildKit does.
struct RunCommandLine {
  std::vector<std::string> args;
  std::string script_name;
  std::string script;
};

// The command a heredoc RUN runs, as BuildKit builds it: `RUN <<EOF` alone runs
// the body as the script (a "#!" body as an executable file); otherwise the
// shell gets the line with the bodies appended and handles them itself.
StepRes<void> heredoc_command(const RunCommand& run, RunCommandLine& cmd) {
  const std::string& line = run.command.args.front();
  if (run.heredocs.size() == 1 && line.starts_with("<<") &&
      line.find_first_of(" \t") == std::string::npos) {
    const Heredoc& h = run.heredocs.front();
    std::string body = h.body();
    if (!body.starts_with("#!")) {
      cmd.args.push_back(std::move(body));
      return {};
    }
    if (h.name.empty() || h.name.find('/') != std::string::npos || h.name.starts_with(".")) {
      return step_error(BuildErrc::kDockerfile, "bad heredoc name \"" + h.name + "\"");
    }
    cmd.args = {"/dev/pipes/" + h.name};
    cmd.script_name = h.name;
    cmd.script = std::move(body);
    return {};
  }
  std::string script = line;
  for (const auto& h : run.heredocs) script += "\n" + h.content + h.name;
  cmd.args.push_back(script + "\n");
  return {};
}

StepRes<RunCommandLine> run_args(const StageCtx& st, const RunCommand& run) {
  if (run.command.form == CommandForm::kExec) return RunCommandLine{run.command.args, "", ""};
  if (run.command.args.empty()) return step_error(BuildErrc::kDockerfile, "RUN needs a command");
  RunCommandLine cmd{st.state.image.config.shell, "", ""};
  if (cmd.args.empty()) cmd.args = default_shell();
  if (run.heredocs.empty()) {
    cmd.args.push_back(run.command.args.front());
    return cmd;
  }
  if (auto r = heredoc_command(run, cmd); !r) return std::unexpected(r.error());
  return cmd;
}

// Writes a heredoc script to a scratch file and binds it into the container;
// the file goes when the step ends.
struct ScriptMount {
  fs::path file;
  ~ScriptMount() {
    std::error_code ec;
    if (!file.empty()) fs::remove(file, ec);
  }
  StepRes<std::vector<ContainerMount>> prepare(const BuildEnv& env, const RunCommandLine& cmd) {
    if (cmd.script.empty()) return std::vector<ContainerMount>{};
    file = env.work_dir / unique_name("script");
    {
      std::ofstream out(file, std::ios::binary);
      out << cmd.script;
      if (!out) return step_error(BuildErrc::kInternal, "write " + file.string());
    }
    fs::permissions(file, fs::perms(0755));
    return std::vector<ContainerMount>{
        {"/dev/pipes/" + cmd.script_name, "bind", file.string(), {"rbind", "ro"}}};
  }
};

StepRes<RunResult> execute(BuildCtx& b, StageCtx& st, const RunCommand& run,
                           const std::vector<std::string>& args, const fs::path& view,
                           const std::vector<Mount>& mounts, std::vector<ContainerMount> extra) {
  RunSpec spec;
  spec.rootfs_mounts = mounts;
  spec.mounts = std::move(extra);
  spec.args = args;
  spec.env = run_env(st);
  spec.cwd = st.state.image.config.working_dir.empty() ? "/" : st.state.image.config.working_dir;
  auto user = stage_user(view, st.state.image.config.user);
  if (!user) return std::unexpected(user.error());
  spec.user = *user;
  spec.network = run.network == "host"   ? NetworkMode::kHost
                 : run.network == "none" ? NetworkMode::kNone
                                         : b.env.default_network;
  spec.limits = b.env.limits;
  spec.timeout = b.env.step_timeout;
  spec.stop = b.env.cancel;
  spec.on_output = [&b](OutputStream, std::string_view chunk) { b.log(chunk); };
  auto r = b.env.runtime.run(spec);
  if (!r) return step_error(BuildErrc::kInternal, r.error().message);
  if (r->termination == Termination::kCancelled)
    return step_error(BuildErrc::kCancelled, "cancelled");
  if (r->termination == Termination::kTimedOut) {
    return step_error(BuildErrc::kStepFailed, "The command '" + join(args) + "' timed out");
  }
  if (r->exit_code != 0) {
    return step_error(BuildErrc::kStepFailed,
                      "The command '" + join(args) +
                          "' returned a non-zero code: " + std::to_string(r->exit_code));
  }
  return *r;
}

// "|N K=V ... " for the build args a RUN saw, as BuildKit writes history.
std::string history_args(const StageCtx& st) {
  std::vector<std::string> kv;
  for (const auto& name : st.arg_order) {
    if (auto it = st.args.find(name); it != st.args.end()) kv.push_back(name + "=" + it->second);
  }
  if (kv.empty()) return "";
  return "|" + std::to_string(kv.size()) + " " + join(kv) + " ";
}

}  // namespace

Variables StageCtx::vars() const {
  Variables v = args;
  for (const auto& kv : state.image.config.env) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) v[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return v;
}

std::string created_time(const BuildEnv& env) {
  std::time_t t = env.now != 0 ? static_cast<std::time_t>(env.now) : std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void add_history(StageCtx& st, const BuildCtx& b, std::string created_by,
                 const std::optional<WrittenLayer>& layer, std::string created) {
  HistoryEntry h;
  h.created = created.empty() ? created_time(b.env) : std::move(created);
  h.created_by = std::move(created_by);
  h.comment = kHistoryComment;
  h.empty_layer = !layer.has_value();
  st.state.image.history.push_back(std::move(h));
  if (!layer) return;
  st.state.layers.push_back(layer->blob);
  st.state.image.diff_ids.push_back(layer->diff_id);
  // overlayfs refuses a lower dir listed twice (ELOOP); the topmost copy of a
  // repeated layer alone gives the same merged tree.
  std::erase(st.state.chain, layer->diff_id);
  st.state.chain.push_back(layer->diff_id);
}

StepRes<void> run_step(BuildCtx& b, StageCtx& st, const Instruction& ins, const RunCommand& run) {
  (void)ins;
  if (run.security == "insecure") {
    return step_error(BuildErrc::kDockerfile, "RUN --security=insecure is not allowed");
  }
  if (run.network == "host" && !b.env.allow_host_network) {
    return step_error(BuildErrc::kDockerfile, "RUN --network=host is not allowed on this server");
  }
  auto cmd = run_args(st, run);
  if (!cmd) return std::unexpected(cmd.error());
  const std::vector<std::string>* args = &cmd->args;
  std::string created_by = "RUN " + history_args(st) + join(*args) + " # buildkit";
  // The cache key: the filesystem, the command (and heredoc script), the
  // environment (build args included), working dir, user and network.
  CacheKey k = fs_key("RUN", st);
  for (const auto& a : *args) k.add(a);
  k.add(cmd->script).add(cmd->script_name);
  for (const auto& e : run_env(st)) k.add(e);
  k.add(st.state.image.config.working_dir).add(st.state.image.config.user).add(run.network);
  k.add(history_args(st));
  // Mounts are set up first: bind mounts feed their content into the key.
  auto run_mounts = RunMounts::prepare(b, st, run, k);
  if (!run_mounts) return std::unexpected(run_mounts.error());
  const std::string key = k.str();
  if (auto hit = cache_lookup(b, st, key)) {
    apply_cached(b, st, std::move(created_by), *hit);
    return {};
  }
  if (auto e = ensure_chain(b, st.state); !e) return std::unexpected(e.error());
  ScriptMount script;
  auto extra = script.prepare(b.env, *cmd);
  if (!extra) return std::unexpected(extra.error());
  for (const auto& m : (*run_mounts)->mounts()) extra->push_back(m);
  auto view = MountedView::mount(b.env, st.state.chain);
  if (!view) return step_error(BuildErrc::kInternal, view.error());
  ActiveGuard active{b.env.snapshots, unique_name("run")};
  auto mounts = b.env.snapshots.prepare(active.key, st.state.chain);
  if (!mounts) return step_error(BuildErrc::kInternal, mounts.error().message);
  if (auto r = execute(b, st, run, *args, (*view)->path(), *mounts, std::move(*extra)); !r)
    return std::unexpected(r.error());
  auto upper = b.env.snapshots.upper_dir(active.key);
  if (!upper) return step_error(BuildErrc::kInternal, upper.error().message);
  clean_run_upper(*upper, (*view)->path());
  LayerPlan plan;
  if (auto p = plan.add_overlay_upper(*upper); !p)
    return step_error(BuildErrc::kInternal, p.error().message);
  auto layer = store_layer(b.env, plan, LayerOptions{});
  if (!layer) return step_error(BuildErrc::kInternal, layer.error());
  if (*layer) {
    if (auto c = b.env.snapshots.commit(active.key, (*layer)->diff_id); !c) {
      return step_error(BuildErrc::kInternal, c.error().message);
    }
    active.done = true;
  }
  add_history(st, b, std::move(created_by), *layer);
  cache_store(b, key, *layer, st);
  return {};
}
}  // namespace drydock::builder::exec_detail
