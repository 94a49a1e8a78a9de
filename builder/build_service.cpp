#include "builder/build_service.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include "builder/build_labels.hpp"
#include "builder/context.hpp"
#include "builder/executor.hpp"
#include "builder/mount.hpp"
#include "builder/snapshotter.hpp"
#include "storage/clock.hpp"
#include "storage/held_blob_store.hpp"

namespace drydock::builder {

namespace fs = std::filesystem;

namespace {

// A build's log stops growing here: a step printing without end must not
// fill the disk. The log says so.
constexpr std::uint64_t kMaxLogBytes = 64ULL << 20;

std::int64_t now() { return storage::unix_now(); }

// Stands in for the OCI runtime when none could be opened: builds without a
// RUN step still work, the others fail saying why.
class UnavailableRuntime final : public Runtime {
 public:
  explicit UnavailableRuntime(std::string why) : why_(std::move(why)) {}
  ExecResult<RunResult> run(const RunSpec&) override {
    return std::unexpected(ExecError{ExecErrc::kRuntime, "no OCI runtime: " + why_});
  }

 private:
  std::string why_;
};

// "repo:tag" (a colon after the last slash), or "repo" meaning :latest.
ImageTarget parse_target(const std::string& t) {
  auto colon = t.rfind(':');
  auto slash = t.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
    return {t, "latest"};
  }
  return {t.substr(0, colon), t.substr(colon + 1)};
}

// Appends to a build's log file, unbuffered (followers read it as it grows),
// up to kMaxLogBytes.
class LogFile {
 public:
  explicit LogFile(const fs::path& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) {}
  ~LogFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  void write(std::string_view text) {
    if (fd_ < 0 || truncated_) return;
    if (written_ + text.size() > kMaxLogBytes) {
      text = text.substr(0, kMaxLogBytes - written_);
      truncated_ = true;
    }
    write_all(text);
    if (truncated_) write_all("\n[log truncated: over 64 MiB; the build goes on]\n");
  }

 private:
  void write_all(std::string_view text) {
    while (!text.empty()) {
      ssize_t n = ::write(fd_, text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a full disk loses log text, never the build
      written_ += static_cast<std::uint64_t>(n);
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  int fd_;
  std::uint64_t written_ = 0;
  bool truncated_ = false;
};

// `text` with every secret value of the build replaced: a step that prints a
// secret does not put it in the log. (A value split across two output
// chunks can slip through; values shorter than 4 bytes are left alone.)
std::string redact(std::string_view text, const Secrets& secrets) {
  std::string out(text);
  for (const auto& [id, value] : secrets) {
    if (value.size() < 4) continue;
    for (auto p = out.find(value); p != std::string::npos; p = out.find(value, p)) {
      out.replace(p, value.size(), "[secret " + id + "]");
      p += id.size() + 9;
    }
  }
  return out;
}

// Removes the least recently used RUN --mount=type=cache directories until
// their total size is within `max` (0: unbounded).
void trim_cache_mounts(const fs::path& dir, std::uint64_t max) {
  if (max == 0) return;
  struct Entry {
    fs::path path;
    fs::file_time_type used;
    std::uint64_t bytes = 0;
  };
  std::vector<Entry> entries;
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(dir, ec)) {
    Entry e{d.path(), fs::last_write_time(d.path(), ec), 0};
    for (auto it = fs::recursive_directory_iterator(d.path(), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) e.bytes += it->file_size(ec);
    }
    total += e.bytes;
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  for (const auto& e : entries) {
    if (total <= max) break;
    (void)remove_tree(e.path);
    total -= std::min(total, e.bytes);
  }
}

// Detaches every mount at or below `root`, deepest first (from
// /proc/self/mountinfo): views and rootfs mounts a killed server left.
void unmount_below(const fs::path& root) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::vector<std::string> targets;
  const std::string prefix = root.string() + "/";
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, source, target;
    fields >> id >> parent >> dev >> source >> target;
    if (target.starts_with(prefix)) targets.push_back(target);
  }
  std::sort(targets.begin(), targets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& t : targets) ::umount2(t.c_str(), MNT_DETACH);
}

struct Job {
  enum class Stop { kNone, kUser, kTimeout, kShutdown };
  std::string id;
  BuildParams params;
  fs::path context_dir;
  std::string sync_session;  // context_dir is a kept context, held by this session
  std::string dockerfile_text;
  PullCheck may_pull;
  Secrets secrets;
  std::stop_source stop;
  Stop why = Stop::kNone;  // under Impl::mu
  bool running = false;    // under Impl::mu
  bool done = false;       // under Impl::mu
};

}  // namespace

struct BuildService::Impl {
  Impl(BuildServiceOptions o, storage::BlobStore& b, storage::MetadataStore& m)
      : options(std::move(o)),
        blobs(b),
        meta(m),
        store(options.metadata_db, options.root / "logs"),
        cache(options.metadata_db, options.cache_max_bytes) {}

  void worker();
  void run_job(Job& job);
  void finish(Job& job, BuildStatus status, std::string_view digest, std::string_view error);
  fs::path set_context_aside(const Job& job);
  void discard_context(const Job& job);
  std::expected<ExtractedContext, SubmitError> take_context(Job& job, const fs::path& upload,
                                                            const ContextOptions& options,
                                                            std::string_view session);

  BuildServiceOptions options;
  storage::BlobStore& blobs;
  storage::MetadataStore& meta;
  BuildStore store;
  BuildCache cache;
  std::unique_ptr<OverlaySnapshotter> snapshots;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<ContextSync> sync;
  std::string unavailable;  // the snapshotter could not open: no builds at all
  std::string warning;

  std::mutex mu;
  std::condition_variable wake;     // a job was queued, or stopping
  std::condition_variable changed;  // a job finished
  std::deque<std::shared_ptr<Job>> queue;
  std::map<std::string, std::shared_ptr<Job>, std::less<>> active;  // queued and running
  bool stopping = false;
  std::chrono::steady_clock::time_point last_trim{};
  std::vector<std::thread> workers;
};

void BuildService::Impl::worker() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu);
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      job = queue.front();
      queue.pop_front();
      job->running = true;
    }
    run_job(*job);
  }
}

// The context is moved aside (one rename) so that the build can be marked
// finished at once; deleting its files can take long (one discard per file
// on some disks) and happens after.
fs::path BuildService::Impl::set_context_aside(const Job& job) {
  if (!job.sync_session.empty()) {
    sync->release(job.sync_session, job.params.user);  // kept for the next build
    return {};
  }
  if (job.context_dir.empty()) return {};
  fs::path aside = options.root / "trash" / job.id;
  if (::rename(job.context_dir.c_str(), aside.c_str()) == 0) return aside;
  (void)remove_context(job.context_dir);
  return {};
}

// Clears the context, records the outcome, then lets followers see the end:
// the log is complete once the job has left `active`.
void BuildService::Impl::finish(Job& job, BuildStatus status, std::string_view digest,
                                std::string_view error) {
  fs::path aside = set_context_aside(job);  // a finished build has left nothing in contexts/
  {
    // Cache directories are trimmed while no other build may be using them.
    std::unique_lock lock(mu);
    bool alone = std::count_if(active.begin(), active.end(),
                               [](const auto& kv) { return kv.second->running; }) <= 1;
    // Walking the cache directories costs time: at most once a minute.
    auto t = std::chrono::steady_clock::now();
    bool due = t - last_trim > std::chrono::minutes(1);
    if (alone && due) last_trim = t;
    lock.unlock();
    if (alone && due) trim_cache_mounts(options.root / "cache-mounts", options.cache_max_bytes);
  }
  (void)store.mark_finished(job.id, status, digest, error, now());
  {
    std::lock_guard lock(mu);
    job.done = true;
    active.erase(job.id);
    changed.notify_all();
  }
  if (!aside.empty()) (void)remove_context(aside);
  sync->empty_trash();
}

// A context that no build will use.
void BuildService::Impl::discard_context(const Job& job) {
  if (!job.sync_session.empty()) {
    sync->release(job.sync_session, job.params.user);
  } else if (!job.context_dir.empty()) {
    (void)remove_context(job.context_dir);
  }
}

// The job's context: the upload extracted into a fresh directory, or with a
// session, the kept context it completes.
std::expected<ExtractedContext, SubmitError> BuildService::Impl::take_context(
    Job& job, const fs::path& upload, const ContextOptions& options, std::string_view session) {
  using Kind = SubmitError::Kind;
  if (!session.empty()) {
    auto synced = sync->complete(session, job.params.user, upload, options);
    if (!synced) {
      auto kind = synced.error().kind == SyncError::Kind::kIo ? Kind::kInternal : Kind::kInvalid;
      return std::unexpected(SubmitError{kind, synced.error().message});
    }
    job.sync_session = session;
    job.context_dir = synced->tree;
    return std::move(synced->context);
  }
  job.context_dir = this->options.root / "contexts" / ("ctx-" + random_hex(8));
  auto extracted = extract_context(upload, job.context_dir, options);
  if (!extracted) {
    (void)remove_context(job.context_dir);
    job.context_dir.clear();
    auto kind = extracted.error().code == ArchiveErrc::kIo ? Kind::kInternal : Kind::kInvalid;
    return std::unexpected(SubmitError{kind, "build context: " + extracted.error().message});
  }
  return std::move(*extracted);
}

void BuildService::Impl::run_job(Job& job) {
  if (!store.mark_running(job.id, now())) {
    finish(job, BuildStatus::kFailed, {}, "could not start: the build record is gone");
    return;
  }
  LogFile log(store.log_path(job.id));
  // The per-build deadline: a timer thread that cancels the build.
  std::jthread timer;
  if (options.build_timeout.count() > 0) {
    timer = std::jthread([this, &job](std::stop_token st) {
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      if (cv.wait_for(lock, st, options.build_timeout, [] { return false; })) return;
      if (st.stop_requested()) return;
      {
        std::lock_guard g(mu);
        if (job.why == Job::Stop::kNone) job.why = Job::Stop::kTimeout;
      }
      job.stop.request_stop();
    });
  }

  // Every blob the build touches stays until it ends (garbage collection).
  storage::HeldBlobStore held(blobs);
  BuildEnv env{.blobs = held,
               .meta = meta,
               .snapshots = *snapshots,
               .runtime = *runtime,
               .work_dir = options.root / "work",
               .limits = options.limits,
               .step_timeout = options.step_timeout,
               .allow_host_network = options.network == NetworkMode::kHost,
               .default_network = options.network,
               .may_pull = job.may_pull,
               .cache = &cache,
               .cache_mount_dir = options.root / "cache-mounts",
               .log = [&log, &job](std::string_view text) { log.write(redact(text, job.secrets)); },
               .cancel = job.stop.get_token(),
               .now = 0};
  env.upstream = &options.upstream;
  env.fetcher = options.fetcher.get();
  BuildRequest req;
  req.context_dir = job.context_dir;
  req.dockerfile_text = job.dockerfile_text;
  req.dockerfile_name = job.params.dockerfile;
  req.target = job.params.target;
  req.build_args = job.params.build_args;
  req.no_cache = job.params.no_cache;
  req.no_cache_filter = job.params.no_cache_filter;
  req.secrets = job.secrets;
  for (const auto& t : job.params.tags) req.targets.push_back(parse_target(t));

  auto started = std::chrono::steady_clock::now();
  auto outcome = run_build(req, env);
  timer.request_stop();
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char took[32];
  std::snprintf(took, sizeof took, "%.1fs", seconds);

  if (outcome) {
    std::string digest = outcome->manifest.str();
    log.write("#done writing image " + digest + " " + took + "\n");
    // The image ID docker clients show (the Engine API's aux message).
    log.write("#done image config " + outcome->config.str() + "\n");
    for (const auto& t : job.params.tags) log.write("#done naming to " + t + "\n");
    finish(job, BuildStatus::kSucceeded, digest, {});
    return;
  }
  Job::Stop why;
  {
    std::lock_guard lock(mu);
    why = job.why;
  }
  BuildStatus status = BuildStatus::kFailed;
  std::string error = outcome.error().to_string();
  if (outcome.error().code == BuildErrc::kCancelled || why != Job::Stop::kNone) {
    switch (why) {
      case Job::Stop::kUser:
        status = BuildStatus::kCancelled;
        error = "cancelled";
        break;
      case Job::Stop::kTimeout:
        error = "build timed out after " + std::to_string(options.build_timeout.count()) + " s";
        break;
      case Job::Stop::kShutdown:
        error = "server shut down during the build";
        break;
      case Job::Stop::kNone:
        break;
    }
  }
  log.write("ERROR: " + error + "\n");
  finish(job, status, {}, error);
}

BuildService::BuildService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<BuildService> BuildService::open(BuildServiceOptions options,
                                                 storage::BlobStore& blobs,
                                                 storage::MetadataStore& meta) {
  fs::path root = options.root;
  for (const char* dir :
       {"uploads", "contexts", "work", "snapshots", "runc", "logs", "cache-mounts", "trash"}) {
    fs::create_directories(root / dir);
  }
  auto impl = std::make_unique<Impl>(std::move(options), blobs, meta);
  auto& i = *impl;
  // What a previous process left if it died mid-build: its containers go
  // first (runc delete, inside RuncRuntime::open), then its mounts, then its
  // half-received uploads, contexts and scratch files.
  RuncOptions runc{.runc = i.options.runtime_binary,
                   .state_root = root / "runc" / "state",
                   .bundle_root = root / "runc" / "bundles",
                   .cgroup_parent = "drydock"};
  if (auto rt = RuncRuntime::open(runc)) {
    i.runtime = std::move(*rt);
  } else {
    i.runtime = std::make_unique<UnavailableRuntime>(rt.error().message);
    i.warning = "RUN steps cannot run: " + rt.error().message;
  }
  unmount_below(root);
  i.sync = ContextSync::open(ContextSyncOptions{.root = root / "kept",
                                                .max_bytes = i.options.kept_contexts_max_bytes,
                                                .max_sessions = i.options.max_queued});
  for (const char* dir : {"uploads", "contexts", "work", "trash"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root / dir, ec)) {
      if (e.is_directory()) {
        (void)remove_context(e.path());
      } else {
        fs::remove(e.path(), ec);
      }
    }
  }
  if (auto r = i.store.fail_unfinished("server restarted during the build", now()); !r) {
    throw std::runtime_error("build records: " + std::string(storage::to_string(r.error())));
  }
  if (auto s = OverlaySnapshotter::open(root / "snapshots", SnapshotDurability::kRebuildable)) {
    i.snapshots = std::move(*s);
  } else {
    i.unavailable = "the snapshotter cannot start: " + s.error().message;
    i.warning = i.unavailable;
  }
  unsigned n = std::max(1u, i.options.concurrency);
  for (unsigned k = 0; k < n; ++k) i.workers.emplace_back([&i] { i.worker(); });
  return std::unique_ptr<BuildService>(new BuildService(std::move(impl)));
}

BuildService::~BuildService() {
  auto& i = *impl_;
  std::vector<std::shared_ptr<Job>> waiting;
  {
    std::lock_guard lock(i.mu);
    i.stopping = true;
    waiting.assign(i.queue.begin(), i.queue.end());
    i.queue.clear();
    for (auto& [id, job] : i.active) {
      if (job->running) {
        job->why = Job::Stop::kShutdown;
        job->stop.request_stop();
      }
    }
  }
  i.wake.notify_all();
  for (auto& job : waiting) {
    i.finish(*job, BuildStatus::kFailed, {}, "server shut down before the build started");
  }
  for (auto& t : i.workers) t.join();
}

fs::path BuildService::upload_path() const {
  return impl_->options.root / "uploads" / ("upload-" + random_hex(8) + ".tar");
}

std::expected<BuildRecord, SubmitError> BuildService::submit(BuildParams params,
                                                             const fs::path& upload,
                                                             PullCheck may_pull,
                                                             Secrets secrets,
                                                             std::string_view context_session) {
  auto& i = *impl_;
  struct RemoveUpload {
    const fs::path& p;
    ~RemoveUpload() {
      std::error_code ec;
      fs::remove(p, ec);
    }
  } remove_upload{upload};
  using Kind = SubmitError::Kind;
  auto job = std::make_shared<Job>();
  job->params = params;
  auto refuse = [&](Kind kind, std::string message) {
    if (job->context_dir.empty() && !context_session.empty()) {
      // Never completed: the tree is dropped at its next session.
      i.sync->release(context_session, job->params.user);
    }
    i.discard_context(*job);
    return std::unexpected(SubmitError{kind, std::move(message)});
  };
  if (!i.unavailable.empty()) return refuse(Kind::kBusy, "builds are unavailable: " + i.unavailable);
  {
    std::lock_guard lock(i.mu);
    if (i.stopping) return refuse(Kind::kBusy, "the server is shutting down");
    if (i.queue.size() >= i.options.max_queued) {
      return refuse(Kind::kBusy, "too many builds waiting (" + std::to_string(i.queue.size()) + ")");
    }
  }
  ContextOptions copt;
  copt.dockerfile_path = params.dockerfile;
  copt.limits.max_bytes = i.options.max_extracted_bytes;
  copt.limits.max_entries = i.options.max_context_entries;
  auto extracted = i.take_context(*job, upload, copt, context_session);
  if (!extracted) return refuse(extracted.error().kind, extracted.error().message);
  if (!extracted->dockerfile) {
    return refuse(Kind::kInvalid,
                  "the build context has no Dockerfile at \"" + params.dockerfile + "\"");
  }
  auto text = dockerfile_with_labels(*extracted->dockerfile, params.dockerfile, params.target,
                                     params.labels);
  if (!text) return refuse(Kind::kInvalid, text.error());
  job->dockerfile_text = std::move(*text);
  job->may_pull = std::move(may_pull);
  job->secrets = std::move(secrets);
  auto rec = i.store.create(std::move(params), now());
  if (!rec) {
    return refuse(Kind::kInternal,
                  "record the build: " + std::string(storage::to_string(rec.error())));
  }
  job->id = rec->id;
  {
    std::lock_guard lock(i.mu);
    if (i.stopping) {
      job->done = true;
      (void)i.store.mark_finished(job->id, BuildStatus::kFailed, {},
                                  "server shut down before the build started", now());
      i.discard_context(*job);
      return std::unexpected(SubmitError{Kind::kBusy, "the server is shutting down"});
    }
    i.active.emplace(job->id, job);
    i.queue.push_back(job);
  }
  i.wake.notify_one();
  return *rec;
}

std::expected<SyncPlan, SubmitError> BuildService::begin_context(std::string_view user,
                                                                 std::string_view key,
                                                                 std::string_view manifest) {
  auto& i = *impl_;
  using Kind = SubmitError::Kind;
  if (!i.unavailable.empty()) {
    return std::unexpected(SubmitError{Kind::kBusy, "builds are unavailable: " + i.unavailable});
  }
  auto entries = parse_manifest(manifest, i.options.max_context_entries);
  if (!entries) return std::unexpected(SubmitError{Kind::kInvalid, entries.error()});
  auto plan = i.sync->begin(user, key, std::move(*entries));
  if (!plan) {
    const auto& e = plan.error();
    Kind kind = e.kind == SyncError::Kind::kInvalid ? Kind::kInvalid
                : e.kind == SyncError::Kind::kBusy  ? Kind::kBusy
                                                    : Kind::kInternal;
    return std::unexpected(SubmitError{kind, e.message});
  }
  return std::move(*plan);
}

void BuildService::end_context(std::string_view session, std::string_view user) {
  impl_->sync->release(session, user);
}

storage::Result<std::optional<BuildRecord>> BuildService::get(std::string_view id) {
  return impl_->store.get(id);
}

storage::Result<std::vector<BuildRecord>> BuildService::list(std::size_t limit) {
  return impl_->store.list_recent(limit);
}

storage::Result<std::optional<BuildRecord>> BuildService::cancel(std::string_view id,
                                                                 std::chrono::milliseconds wait) {
  auto& i = *impl_;
  std::shared_ptr<Job> queued;
  {
    std::unique_lock lock(i.mu);
    auto it = i.active.find(id);
    if (it != i.active.end()) {
      auto job = it->second;
      if (!job->running) {
        std::erase(i.queue, job);
        queued = job;
      } else {
        if (job->why == Job::Stop::kNone) job->why = Job::Stop::kUser;
        job->stop.request_stop();
        i.changed.wait_for(lock, wait, [&] { return job->done; });
      }
    }
  }
  if (queued) i.finish(*queued, BuildStatus::kCancelled, {}, "cancelled before it started");
  return i.store.get(id);
}

std::optional<LogRead> BuildService::read_log(std::string_view id, std::uint64_t offset,
                                              std::size_t max) {
  auto& i = *impl_;
  bool running;
  {
    std::lock_guard lock(i.mu);
    running = i.active.contains(id);
  }
  bool ended = false;
  if (!running) {
    auto rec = i.store.get(id);
    if (!rec || !*rec) return std::nullopt;
    ended = finished((*rec)->status);
  }
  LogRead out;
  int fd = ::open(i.store.log_path(id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    out.data.resize(max);
    ssize_t n;
    do {
      n = ::pread(fd, out.data.data(), max, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    out.data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  out.complete = ended && out.data.size() < max;
  return out;
}

storage::Result<std::vector<storage::Digest>> BuildService::cache_layers() {
  return impl_->cache.layers();
}

const std::string& BuildService::warning() const { return impl_->warning; }

std::uint64_t BuildService::max_upload_bytes() const { return impl_->options.max_upload_bytes; }

bool BuildService::is_own_host(std::string_view host) const {
  return is_local_host(impl_->options.upstream, host);
}

namespace {

using storage::rfc3339_utc;

nlohmann::json record_json(const BuildRecord& r) {
  using nlohmann::json;
  json j = {{"id", r.id},
            {"status", std::string(to_string(r.status))},
            {"tags", r.params.tags},
            {"dockerfile", r.params.dockerfile},
            {"target", r.params.target},
            {"build_args", json::object()},
            {"no_cache", r.params.no_cache},
            {"no_cache_filter", r.params.no_cache_filter},
            {"user", r.params.user},
            {"created", rfc3339_utc(r.created)}};
  for (const auto& [k, v] : r.params.build_args) j["build_args"][k] = v;
  if (r.started > 0) j["started"] = rfc3339_utc(r.started);
  if (r.finished > 0) {
    j["finished"] = rfc3339_utc(r.finished);
    j["duration_seconds"] = r.finished - (r.started > 0 ? r.started : r.created);
  }
  if (!r.digest.empty()) j["digest"] = r.digest;
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

}  // namespace

std::string build_json(const BuildRecord& r) {
  return record_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string builds_json(const std::vector<BuildRecord>& records) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : records) list.push_back(record_json(r));
  return nlohmann::json{{"builds", std::move(list)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace drydock::builder
