// run_build: stage selection, base images, and the dispatch of every
// instruction. Layer-making steps live in executor_steps.cpp/executor_copy.cpp.
#include "builder/executor.hpp"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>

#include "builder/executor_steps.hpp"

namespace drydock::builder {
namespace {

using namespace exec_detail;

// Build args that need no ARG (BuildKit's predefined proxy args).
constexpr const char* kProxyArgs[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                      "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                      "ALL_PROXY",  "all_proxy"};

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

BuildError at(const std::string& file, const Instruction& ins, StepError e) {
  return BuildError{e.code, std::move(e.message), file, ins.start_line, ins.original};
}

StepRes<std::string> expand_in(const Variables& vars, char escape, std::string_view word) {
  auto r = expand_word(word, vars, WordOptions{.escape = escape});
  if (!r) return step_error(BuildErrc::kDockerfile, r.error().message);
  return *r;
}

StepRes<Variables> global_args(const BuildCtx& b) {
  Variables vars;
  for (const auto& ins : b.df.global_args) {
    for (const auto& def : std::get<ArgCommand>(ins.command).args) {
      if (auto it = b.build_args.find(def.name); it != b.build_args.end()) {
        vars[def.name] = it->second;
      } else if (def.default_value) {
        auto v = expand_in(vars, b.df.escape, *def.default_value);
        if (!v) return std::unexpected(v.error());
        vars[def.name] = *v;
      }
    }
  }
  return vars;
}

// Stages the target needs, by index.
// The from= of a raw RUN --mount value, if it has one.
std::optional<std::string> mount_from(std::string_view raw) {
  std::size_t start = 0;
  while (start < raw.size()) {
    auto comma = raw.find(',', start);
    auto field = raw.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                   : comma - start);
    if (field.starts_with("from=") && field.size() > 5) return std::string(field.substr(5));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return std::nullopt;
}

// The stages the target needs, each with the stages it reads (its FROM,
// COPY --from, RUN --mount from=), all earlier ones.
using StagePlan = std::map<std::size_t, std::set<std::size_t>>;

StepRes<StagePlan> needed_stages(const BuildCtx& b, const Variables& globals,
                                 std::size_t target) {
  StagePlan need;
  std::vector<std::size_t> todo{target};
  while (!todo.empty()) {
    std::size_t i = todo.back();
    todo.pop_back();
    if (need.contains(i)) continue;
    auto& deps = need[i];
    const Stage& s = b.df.stages[i];
    auto base = expand_in(globals, b.df.escape, s.base_name);
    if (!base) return std::unexpected(base.error());
    auto dep = b.df.find_stage(*base);
    if (dep && *dep < i && !b.df.stages[*dep].name.empty()) {
      todo.push_back(*dep);
      deps.insert(*dep);
    }
    std::vector<const Instruction*> steps;
    for (const auto& ins : s.instructions) steps.push_back(&ins);
    // A stage built FROM another runs that one's ONBUILD triggers too.
    if (dep && *dep < i) {
      for (const auto& ins : b.df.stages[*dep].instructions) {
        if (const auto* o = std::get_if<OnbuildCommand>(&ins.command))
          steps.push_back(o->trigger.get());
      }
    }
    // Sources in other stages: COPY --from and RUN --mount=...,from=.
    std::vector<std::pair<std::string, std::string>> froms;  // (what, raw name)
    for (const Instruction* ins : steps) {
      if (const auto* c = std::get_if<CopyCommand>(&ins->command); c && !c->from.empty()) {
        froms.emplace_back("COPY --from=", c->from);
      }
      if (const auto* r = std::get_if<RunCommand>(&ins->command)) {
        for (const auto& m : r->mounts) {
          if (auto f = mount_from(m)) froms.emplace_back("RUN --mount from=", *f);
        }
      }
    }
    for (const auto& [what, raw] : froms) {
      auto from = expand_in(globals, b.df.escape, raw);
      if (!from) return std::unexpected(from.error());
      auto d = b.df.find_stage(*from);
      if (d && *d >= i)
        return step_error(BuildErrc::kDockerfile, what + raw + " refers to a later stage");
      if (d) {
        todo.push_back(*d);
        deps.insert(*d);
      }
    }
  }
  return need;
}

StepRes<void> declare_args(BuildCtx& b, StageCtx& st, const ArgCommand& arg,
                           const Variables& globals) {
  for (const auto& def : arg.args) {
    std::erase(st.arg_order, def.name);
    st.arg_order.push_back(def.name);
    if (auto it = b.build_args.find(def.name); it != b.build_args.end()) {
      st.args[def.name] = it->second;
    } else if (def.default_value) {
      auto v = expand_in(st.vars(), b.df.escape, *def.default_value);
      if (!v) return std::unexpected(v.error());
      st.args[def.name] = *v;
    } else if (auto g = globals.find(def.name); g != globals.end()) {
      st.args[def.name] = g->second;
    }
  }
  return {};
}

std::vector<std::string> command_of(const StageCtx& st, const CommandLine& cmd) {
  if (cmd.form == CommandForm::kExec) return cmd.args;
  std::vector<std::string> out =
      st.state.image.config.shell.empty() ? default_shell() : st.state.image.config.shell;
  if (!cmd.args.empty()) out.push_back(cmd.args.front());
  return out;
}

void insert_sorted(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
  std::sort(v.begin(), v.end());
}

StepRes<void> set_pairs(const BuildCtx& b, StageCtx& st, const std::vector<KeyValue>& pairs,
                        bool env) {
  for (const auto& kv : pairs) {
    auto k = expand_in(st.vars(), b.df.escape, kv.key);
    if (!k) return std::unexpected(k.error());
    auto v = expand_in(st.vars(), b.df.escape, kv.value);
    if (!v) return std::unexpected(v.error());
    if (env) {
      st.state.image.config.setenv(*k, *v);
    } else {
      st.state.image.config.labels[*k] = *v;
    }
  }
  return {};
}

// EXPOSE port[-port][/proto]: a range is one entry per port (Docker's
// nat.ParsePortSpecs); the protocol defaults to tcp.
StepRes<void> expose(RunConfig& cfg, const std::string& spec) {
  auto slash = spec.find('/');
  std::string ports = spec.substr(0, slash);
  std::string proto = slash == std::string::npos ? "tcp" : spec.substr(slash + 1);
  unsigned first = 0;
  unsigned last = 0;
  auto dash = ports.find('-');
  const char* b = ports.data();
  const char* e = ports.data() + ports.size();
  const char* mid = dash == std::string::npos ? e : ports.data() + dash;
  auto r1 = std::from_chars(b, mid, first);
  auto r2 = dash == std::string::npos ? r1 : std::from_chars(mid + 1, e, last);
  if (dash == std::string::npos) last = first;
  if (r1.ec != std::errc() || r1.ptr != mid || r2.ec != std::errc() || r2.ptr != e ||
      last < first || last > 65535 || proto.empty()) {
    return step_error(BuildErrc::kDockerfile, "invalid port \"" + spec + "\"");
  }
  for (unsigned p = first; p <= last; ++p) {
    insert_sorted(cfg.exposed_ports, std::to_string(p) + "/" + proto);
  }
  return {};
}

Healthcheck to_healthcheck(const HealthcheckCommand& h) {
  return Healthcheck{h.test,
                     h.interval.count(),
                     h.timeout.count(),
                     h.start_period.count(),
                     h.start_interval.count(),
                     h.retries};
}

// Instructions that only change the config.
StepRes<void> config_step(BuildCtx& b, StageCtx& st, const Instruction& ins,
                          const Variables& globals) {
  RunConfig& cfg = st.state.image.config;
  auto ex = [&](std::string_view w) { return expand_in(st.vars(), b.df.escape, w); };
  StepRes<void> result;
  std::visit(Overloaded{
                 [&](const EnvCommand& c) { result = set_pairs(b, st, c.pairs, true); },
                 [&](const LabelCommand& c) { result = set_pairs(b, st, c.pairs, false); },
                 [&](const ArgCommand& c) { result = declare_args(b, st, c, globals); },
                 [&](const CmdCommand& c) {
                   cfg.cmd = command_of(st, c.command);
                   st.cmd_set = true;
                 },
                 [&](const EntrypointCommand& c) {
                   cfg.entrypoint = command_of(st, c.command);
                   if (!st.cmd_set) cfg.cmd.reset();
                 },
                 [&](const ShellCommand& c) { cfg.shell = c.shell; },
                 [&](const UserCommand& c) {
                   auto v = ex(c.user);
                   if (v)
                     cfg.user = *v;
                   else
                     result = std::unexpected(v.error());
                 },
                 [&](const StopsignalCommand& c) {
                   auto v = ex(c.signal);
                   if (v)
                     cfg.stop_signal = *v;
                   else
                     result = std::unexpected(v.error());
                 },
                 [&](const ExposeCommand& c) {
                   for (const auto& p : c.ports) {
                     auto v = ex(p);
                     if (!v) {
                       result = std::unexpected(v.error());
                       return;
                     }
                     if (auto e = expose(cfg, *v); !e) result = std::unexpected(e.error());
                   }
                 },
                 [&](const VolumeCommand& c) {
                   for (const auto& p : c.paths) {
                     auto v = ex(p);
                     if (!v) {
                       result = std::unexpected(v.error());
                       return;
                     }
                     insert_sorted(cfg.volumes, *v);
                   }
                 },
                 [&](const HealthcheckCommand& c) { cfg.healthcheck = to_healthcheck(c); },
                 [&](const OnbuildCommand& c) { cfg.on_build.push_back(c.expression); },
                 [&](const MaintainerCommand&) {},
                 [&](const auto&) {
                   result = step_error(BuildErrc::kInternal, "not a config instruction");
                 },
             },
             ins.command);
  return result;
}

StepRes<void> dispatch(BuildCtx& b, StageCtx& st, const Instruction& ins,
                       const Variables& globals) {
  if (const auto* r = std::get_if<RunCommand>(&ins.command)) return run_step(b, st, ins, *r);
  if (const auto* c = std::get_if<CopyCommand>(&ins.command)) {
    if (c->parents) return step_error(BuildErrc::kDockerfile, "COPY --parents is not supported");
    return copy_step(b, st, ins, c->spec, c->from, false);
  }
  if (const auto* a = std::get_if<AddCommand>(&ins.command)) {
    return copy_step(b, st, ins, a->spec, "", a->unpack.value_or(true));
  }
  if (const auto* w = std::get_if<WorkdirCommand>(&ins.command)) {
    auto p = expand_in(st.vars(), b.df.escape, w->path);
    if (!p) return std::unexpected(p.error());
    return workdir_step(b, st, *p);
  }
  if (auto r = config_step(b, st, ins, globals); !r) return r;
  add_history(st, b, ins.original, std::nullopt);
  return {};
}

std::string stage_label(const Stage& s, std::size_t i) {
  return s.name.empty() ? "stage-" + std::to_string(i) : s.name;
}

// Logs "#N [label k/n] text"; returns N.
int log_step(BuildCtx& b, const std::string& label, std::size_t k, std::size_t n,
             const std::string& text) {
  int step = ++b.step;
  b.log("#" + std::to_string(step) + " [" + label + " " + std::to_string(k) + "/" +
        std::to_string(n) + "] " + text + "\n");
  return step;
}

StepRes<ImageState> stage_base(BuildCtx& b, std::size_t i, const std::string& base) {
  if (base == "scratch") {
    // As BuildKit's empty image (dockerfile2llb emptyImage): WorkingDir "/".
    ImageState empty;
    empty.image.config.working_dir = "/";
    return empty;
  }
  auto dep = b.df.find_stage(base);
  if (dep && *dep < i && !b.df.stages[*dep].name.empty()) {
    if (!b.built[*dep]) return step_error(BuildErrc::kInternal, "stage " + base + " was not built");
    return *b.built[*dep];
  }
  auto img = load_image(b.env, base);
  if (!img) return step_error(BuildErrc::kBaseImage, img.error());
  return std::move(*img);
}

std::expected<void, BuildError> run_triggers(BuildCtx& b, StageCtx& st,
                                             const std::vector<std::string>& triggers,
                                             const Variables& globals, const Instruction& from) {
  for (const auto& t : triggers) {
    auto ins = parse_trigger(t, b.req.dockerfile_name);
    if (!ins)
      return std::unexpected(
          at(b.req.dockerfile_name, from, {BuildErrc::kDockerfile, ins.error().to_string()}));
    st.step = ++b.step;
    b.log("#" + std::to_string(st.step) + " [" + std::to_string(st.index) + "] ONBUILD " + t +
          "\n");
    if (auto r = dispatch(b, st, *ins, globals); !r)
      return std::unexpected(at(b.req.dockerfile_name, from, r.error()));
  }
  return {};
}

std::expected<void, BuildError> build_stage(BuildCtx& b, std::size_t i, const Variables& globals) {
  const Stage& s = b.df.stages[i];
  const std::string& file = b.req.dockerfile_name;
  std::string label = stage_label(s, i);
  std::size_t n = s.instructions.size() + 1;
  auto base_name = expand_in(globals, b.df.escape, s.base_name);
  if (!base_name) return std::unexpected(at(file, s.from, base_name.error()));
  auto platform = expand_in(globals, b.df.escape, s.platform);
  if (!platform) return std::unexpected(at(file, s.from, platform.error()));
  if (!platform->empty() && !platform->starts_with("linux/amd64")) {
    return std::unexpected(
        at(file, s.from, {BuildErrc::kDockerfile, "platform " + *platform + " is not supported"}));
  }
  int from_step = log_step(b, label, 1, n, "FROM " + *base_name);
  auto base = stage_base(b, i, *base_name);
  if (!base) return std::unexpected(at(file, s.from, base.error()));
  StageCtx st;
  st.index = i;
  st.step = from_step;
  st.state = std::move(*base);
  std::vector<std::string> triggers = std::move(st.state.image.config.on_build);
  st.state.image.config.on_build.clear();
  st.state.image.architecture = "amd64";
  st.state.image.os = "linux";
  if (!st.state.image.config.getenv("PATH")) {
    st.state.image.config.setenv("PATH",
                                 "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  for (const char* proxy : kProxyArgs) {
    if (auto it = b.build_args.find(proxy); it != b.build_args.end()) st.args[proxy] = it->second;
  }
  if (auto r = run_triggers(b, st, triggers, globals, s.from); !r) return r;
  for (std::size_t k = 0; k < s.instructions.size(); ++k) {
    const Instruction& ins = s.instructions[k];
    if (b.env.cancel.stop_requested())
      return std::unexpected(at(file, ins, {BuildErrc::kCancelled, "cancelled"}));
    st.step = log_step(b, label, k + 2, n, ins.original);
    if (auto r = dispatch(b, st, ins, globals); !r)
      return std::unexpected(at(file, ins, r.error()));
  }
  st.state.image.created = created_time(b.env);
  b.built[i] = std::move(st.state);
  return {};
}

// Builds the planned stages, each as soon as the stages it reads are built,
// up to kParallelStages at once (BuildKit solves independent stages
// concurrently too). The first failure cancels the others (through `stop`,
// which b.env.cancel follows) and is the result.
constexpr std::size_t kParallelStages = 4;

std::expected<void, BuildError> build_stages(BuildCtx& b, const StagePlan& plan,
                                             const Variables& globals, std::stop_source& stop) {
  std::mutex mu;
  std::condition_variable changed;
  std::set<std::size_t> started, finished;
  std::optional<BuildError> error;
  std::size_t running = 0;
  std::vector<std::thread> threads;
  std::unique_lock lock(mu);
  for (;;) {
    for (const auto& [i, deps] : plan) {
      if (error || running >= kParallelStages) break;
      if (started.contains(i) ||
          !std::all_of(deps.begin(), deps.end(), [&](auto d) { return finished.contains(d); })) {
        continue;
      }
      started.insert(i);
      ++running;
      threads.emplace_back([&, i] {
        auto r = build_stage(b, i, globals);
        std::lock_guard done(mu);
        if (!r && !error) {
          error = r.error();
          stop.request_stop();
        }
        finished.insert(i);
        --running;
        changed.notify_all();
      });
    }
    if (running == 0) break;
    changed.wait(lock);
  }
  lock.unlock();
  for (auto& t : threads) t.join();
  if (error) return std::unexpected(*error);
  return {};
}

std::expected<std::size_t, BuildError> pick_target(const BuildCtx& b) {
  if (b.req.target.empty()) return b.df.stages.size() - 1;
  if (auto i = b.df.find_stage(b.req.target)) return *i;
  return std::unexpected(BuildError{BuildErrc::kDockerfile,
                                    "target stage \"" + b.req.target + "\" could not be found",
                                    b.req.dockerfile_name, 0, ""});
}

}  // namespace

std::string BuildError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  if (!instruction.empty()) out += (out.empty() ? "" : ": ") + instruction;
  return out + (out.empty() ? "" : ": ") + message;
}

std::expected<BuildOutcome, BuildError> run_build(const BuildRequest& req, BuildEnv& env) {
  auto df = parse_dockerfile(req.dockerfile_text, req.dockerfile_name);
  if (!df) {
    const auto& e = df.error();
    return std::unexpected(
        BuildError{BuildErrc::kDockerfile, e.message, e.file, e.line, e.instruction});
  }
  // Stages may run at once: one log at a time, and a failing stage stops
  // the others.
  std::mutex log_mu;
  std::stop_source stop;
  std::stop_callback follow(env.cancel, [&stop] { stop.request_stop(); });
  BuildEnv stage_env = env;
  stage_env.cancel = stop.get_token();
  stage_env.log = [&log_mu, &env](std::string_view text) {
    std::lock_guard lock(log_mu);
    if (env.log) env.log(text);
  };
  BuildCtx b{req, stage_env, *df, {}, std::vector<std::optional<ImageState>>(df->stages.size()),
             0};
  for (const auto& [k, v] : req.build_args) b.build_args[k] = v;
  auto target = pick_target(b);
  if (!target) return std::unexpected(target.error());
  auto globals = global_args(b);
  if (!globals)
    return std::unexpected(
        BuildError{globals.error().code, globals.error().message, req.dockerfile_name, 0, "ARG"});
  auto need = needed_stages(b, *globals, *target);
  if (!need)
    return std::unexpected(
        BuildError{need.error().code, need.error().message, req.dockerfile_name, 0, ""});
  if (auto r = build_stages(b, *need, *globals, stop); !r) return std::unexpected(r.error());
  if (env.cancel.stop_requested())
    return std::unexpected(
        BuildError{BuildErrc::kCancelled, "cancelled", req.dockerfile_name, 0, ""});
  const ImageState& img = *b.built[*target];
  std::int64_t now = env.now != 0 ? env.now : static_cast<std::int64_t>(std::time(nullptr));
  auto done = commit_image(env.blobs, env.meta, img.image, img.layers, req.targets, now);
  if (!done) {
    std::string why(storage::to_string(done.error()));
    if (done.error() == storage::StorageError::kQuotaExceeded) {
      auto refused = check_image_quota(env.meta, img.image, img.layers, req.targets);
      if (refused && *refused) why = (*refused)->message();
    }
    return std::unexpected(
        BuildError{BuildErrc::kInternal, "commit image: " + why, req.dockerfile_name, 0, ""});
  }
  BuildOutcome out{done->manifest, done->config, done->manifest_json, to_json(img.image),
                   need->size()};
  return out;
}

}  // namespace drydock::builder
