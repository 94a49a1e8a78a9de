#include "server/build_cli.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "auth/secrets.hpp"
#include "builder/context_pack.hpp"
#include "builder/context_sync.hpp"
#include "builder/dockerignore.hpp"
#include "builder/mount.hpp"
#include "server/cli_http_client.hpp"

namespace drydock::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kExitSucceeded = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report it
// The largest Dockerfile read from outside the context or stdin (the
// server's own limit).
constexpr std::uintmax_t kMaxDockerfileBytes = 16U << 20;

constexpr const char* kBuildUsage =
    R"(Usage: drydock build [options] DIR

Builds an image on a drydock server from the Dockerfile in DIR: sends DIR as
the build context (a tar, streamed, honouring DIR/.dockerignore), prints the
build log as it is written, and exits with the build's outcome.

Options:
  -t, --tag REPO[:TAG]   tag the result (repeatable; no tag means :latest). A
                         leading HOST/ may name this server (localhost:5000/
                         team/app:1); another registry is refused
  -f, --file FILE        the Dockerfile (default DIR/Dockerfile). A relative
                         FILE is taken from the current directory as docker
                         does, or from DIR if it is not there. A Dockerfile
                         outside DIR is sent with the context under a generated
                         name (.dockerfile.<random>) that .dockerignore rules
                         drop before the build, as docker does; "-" reads it
                         from stdin
  --target STAGE         build up to this stage
  --build-arg K=V        set a build argument (repeatable); a bare K takes its
                         value from the environment (skipped if unset)
  --no-cache             do not use the build cache
  --full-context         send the whole context even if the server kept it
                         from the last build of DIR (see below)
  --secret id=ID,src=FILE | id=ID,env=VAR
                         a secret for RUN --mount=type=secret,id=ID (repeatable):
                         sent in a request header, kept in the server's memory
                         for this build only (max ~12 KiB in all)
  --no-cache-filter STAGES
                         do not use the build cache for these stages (names
                         or indices, comma-separated; repeatable)
  --server URL           the server (default $DRYDOCK_SERVER, else
                         http://127.0.0.1:5000); https:// uses TLS verified
                         against the system CAs
  --ca-cert FILE         also trust this PEM CA bundle ($DRYDOCK_CA_CERT)
  --user NAME            authenticate as NAME ($DRYDOCK_USER) with the password
                         or access token in $DRYDOCK_PASSWORD (HTTP Basic on
                         every request)
  -h, --help             this text

The context: regular files, directories, symlinks (not followed) and hard
links, with their modes, owners and mtimes. Paths .dockerignore excludes are
not sent ("!" exceptions re-include), except the Dockerfile and .dockerignore
themselves, which are always sent. With -f sub/Dockerfile, a
sub/Dockerfile.dockerignore next to it replaces .dockerignore.

The server keeps the last context it got for DIR (per user), so a rebuild
sends only what changed: first a manifest (names, types, modes, owners, sizes,
mtimes; no contents), then a tar of the new and changed entries. A file whose
size, mode, owner and mtime are unchanged is taken to be unchanged, as docker
build (BuildKit) does. When the server cannot (an older server, or another
build of DIR is using the kept copy) the whole context is sent.

Ctrl-C while the build runs cancels it (DELETE /builds/<id>) and exits 130; a
second Ctrl-C quits at once.

Exit status: 0 the build succeeded; 1 it failed or was cancelled, or the
server refused it (the reason is printed); 2 usage error, or the server could
not be reached; 130 interrupted.
)";

// The parsed command line.
struct BuildArgs {
  std::vector<std::string> tags;
  std::optional<std::string> file;
  std::optional<std::string> target;
  std::vector<std::string> build_args;  // "K=V"
  bool no_cache = false;
  std::vector<std::string> no_cache_filter;
  std::vector<std::string> secrets;  // "id=..,src=.." / "id=..,env=.."
  std::optional<std::string> server;
  std::optional<std::string> ca_cert;
  std::optional<std::string> user;
  std::string dir;
  bool full_context = false;
  bool help = false;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Applies option `flag`, taking its value from `value()`; false if `flag`
// is not an option of ours.
bool apply_option(BuildArgs& b, const std::string& flag,
                  const std::function<std::string()>& value) {
  if (flag == "-h" || flag == "--help") {
    b.help = true;
  } else if (flag == "-t" || flag == "--tag") {
    b.tags.push_back(value());
  } else if (flag == "-f" || flag == "--file") {
    b.file = value();
  } else if (flag == "--target") {
    b.target = value();
  } else if (flag == "--build-arg") {
    b.build_args.push_back(value());
  } else if (flag == "--no-cache") {
    b.no_cache = true;
  } else if (flag == "--full-context") {
    b.full_context = true;
  } else if (flag == "--secret") {
    b.secrets.push_back(value());
  } else if (flag == "--no-cache-filter") {
    b.no_cache_filter.push_back(value());
  } else if (flag == "--server") {
    b.server = value();
  } else if (flag == "--ca-cert") {
    b.ca_cert = value();
  } else if (flag == "--user") {
    b.user = value();
  } else {
    return false;
  }
  return true;
}

// "--flag=value" or "--flag value" (and "-t value"); one DIR.
BuildArgs parse_args(const std::vector<std::string>& args) {
  BuildArgs b;
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (flag.starts_with("--") && flag.find('=') != std::string::npos) {
      inline_value = flag.substr(flag.find('=') + 1);
      flag = flag.substr(0, flag.find('='));
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
      return args[++i];
    };
    if (apply_option(b, flag, value)) continue;
    if (flag.starts_with("-") && flag != "-") throw UsageError("unknown option " + flag);
    positional.push_back(flag);
  }
  if (b.help) return b;
  if (positional.size() != 1) throw UsageError("give exactly one context directory");
  b.dir = positional[0];
  return b;
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string read_all(std::istream& in, const std::string& what) {
  std::string text;
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxDockerfileBytes) throw UsageError(what + " is too large");
  }
  return text;
}

// The context to send and the Dockerfile's name in it.
struct ContextPlan {
  builder::ContextPackOptions pack;
  std::string dockerfile;  // the `dockerfile` query parameter
};

// A Dockerfile that is not in the context travels as an extra file; the
// context's .dockerignore gets lines that drop it (and itself) on the server
// before the build sees the context, as docker's AddDockerfileToBuildContext
// does.
ContextPlan plan_external(const fs::path& dir, std::string content) {
  ContextPlan plan;
  std::string name = ".dockerfile." + builder::random_hex(10);
  std::string ignore;
  if (std::ifstream in(dir / ".dockerignore", std::ios::binary); in) {
    ignore = read_all(in, ".dockerignore");
  }
  if (!ignore.empty() && ignore.back() != '\n') ignore += '\n';
  ignore += ".dockerignore\n" + name + "\n";
  plan.pack.dir = dir;
  plan.pack.dockerfile = "";
  plan.pack.ignore_file = ".dockerignore";
  plan.pack.extra_files = {{name, std::move(content)}, {".dockerignore", std::move(ignore)}};
  plan.dockerfile = name;
  return plan;
}

ContextPlan plan_in_context(const fs::path& dir, const std::string& rel) {
  ContextPlan plan;
  plan.pack.dir = dir;
  plan.pack.dockerfile = rel;
  plan.pack.ignore_file = builder::ignore_file_for(dir, rel);
  plan.dockerfile = rel;
  return plan;
}

// Where -f points: relative to the current directory (docker's rule), else
// relative to DIR.
fs::path locate_dockerfile(const fs::path& dir, const std::string& file) {
  fs::path p(file);
  std::error_code ec;
  if (p.is_relative() && !fs::exists(fs::symlink_status(p, ec)) &&
      fs::exists(fs::symlink_status(dir / p, ec))) {
    return dir / p;
  }
  if (!fs::exists(fs::symlink_status(p, ec))) throw UsageError("no Dockerfile at " + file);
  return p;
}

ContextPlan plan_context(const BuildArgs& a) {
  fs::path dir(a.dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError("the context " + a.dir + " is not a directory");
  if (a.file == "-") return plan_external(dir, read_all(std::cin, "the Dockerfile on stdin"));
  if (!a.file) {
    if (!fs::exists(fs::symlink_status(dir / "Dockerfile", ec))) {
      throw UsageError("no Dockerfile in " + a.dir + " (give -f FILE)");
    }
    return plan_in_context(dir, "Dockerfile");
  }
  fs::path df = locate_dockerfile(dir, *a.file);
  // Compare real directories, but keep the Dockerfile's own name (it may be
  // a symlink inside the context).
  fs::path real_dir = fs::canonical(dir);
  fs::path real_df = fs::canonical(fs::absolute(df).parent_path()) / df.filename();
  fs::path rel = real_df.lexically_relative(real_dir);
  if (!rel.empty() && *rel.begin() != ".." && !rel.is_absolute()) {
    return plan_in_context(dir, builder::clean_path(rel.generic_string()));
  }
  std::ifstream in(df, std::ios::binary);
  if (!in) throw UsageError("cannot read " + df.string());
  return plan_external(dir, read_all(in, df.string()));
}

// POST /builds?... with every option.
std::string build_target(const BuildArgs& a, const ContextPlan& plan) {
  std::string q = "/builds?dockerfile=" + url_encode(plan.dockerfile);
  for (const auto& t : a.tags) q += "&t=" + url_encode(t);
  if (a.target) q += "&target=" + url_encode(*a.target);
  for (const auto& kv : a.build_args) {
    std::string arg = kv;
    if (kv.find('=') == std::string::npos) {
      auto value = env(kv.c_str());
      if (!value) continue;  // docker skips an unset bare name
      arg += "=" + *value;
    }
    q += "&buildarg=" + url_encode(arg);
  }
  if (a.no_cache) q += "&nocache=1";
  for (const auto& f : a.no_cache_filter) q += "&nocachefilter=" + url_encode(f);
  return q;
}

CliHttpOptions client_options(const BuildArgs& a) {
  auto o = cli_connection(a.server, a.ca_cert, a.user);
  if (!o) throw UsageError(o.error());
  return *std::move(o);
}


// Cancels the build on SIGINT or SIGTERM: a thread waits for the signals
// (blocked everywhere else), sends DELETE /builds/<id>, and leaves the main
// thread to see the log end and report. Before the build exists (during the
// upload) a signal just ends the process: the server drops a body that stops
// half way.
class Interrupts {
 public:
  explicit Interrupts(const CliHttpOptions& options) : client_(options) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::thread([this] { loop(); }).detach();
  }
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  // From now on a signal cancels build `id`.
  void follow(const std::string& id) {
    id_ = id;
    following_.store(true);
  }
  // True once a signal has cancelled the build.
  bool cancelled() const { return cancelled_.load(); }
  // The main thread is reporting the outcome: no more waiting for it.
  void finish() { finished_.store(true); }

 private:
  void loop() {
    for (;;) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      if (!following_.load()) {
        std::fputs("\ndrydock: interrupted; the context upload was abandoned\n", stderr);
        std::_Exit(kExitInterrupted);
      }
      if (cancelling_.exchange(true)) std::_Exit(kExitInterrupted);
      cancel();
    }
  }

  void cancel() {
    std::fprintf(stderr, "\ndrydock: cancelling build %s (again to quit at once)\n", id_.c_str());
    auto r = client_.request("DELETE", "/builds/" + id_);
    if (!r || r->status != 200) {
      std::fprintf(stderr, "drydock: could not cancel build %s: %s\n", id_.c_str(),
                   r ? describe_error(*r).c_str() : r.error().message.c_str());
      std::_Exit(kExitInterrupted);
    }
    cancelled_.store(true);
    // The server ends the followed log when the build stops; give the main
    // thread a moment to print the end of it.
    for (int i = 0; i < 100 && !finished_.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!finished_.load()) std::_Exit(kExitInterrupted);
  }

  CliHttpClient client_;
  sigset_t set_{};
  std::string id_;
  std::atomic<bool> following_{false};
  std::atomic<bool> cancelling_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> finished_{false};
};

// Hands the tar to the HTTP body writer chunk by chunk.
class ChunkSink final : public builder::LayerSink {
 public:
  explicit ChunkSink(const BodyWriter& writer) : writer_(writer) {}
  builder::LayerResult<void> write(std::span<const std::byte> bytes) override {
    auto r = writer_(bytes);
    if (!r) return std::unexpected(builder::LayerError{builder::LayerErrorCode::kSink, r.error()});
    return {};
  }

 private:
  const BodyWriter& writer_;
};

std::string megabytes(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// "Drydock-Build-Secret: ID=BASE64" headers from --secret values, as docker
// takes them: id=ID with src=FILE (or source=), or env=VAR; a bare id=ID
// reads the environment variable ID.
std::vector<std::pair<std::string, std::string>> secret_headers(const BuildArgs& a) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& spec : a.secrets) {
    std::string id, src, var;
    std::size_t start = 0;
    while (start <= spec.size()) {
      auto comma = spec.find(',', start);
      std::string field = spec.substr(start, comma == std::string::npos ? std::string::npos
                                                                        : comma - start);
      start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
      auto eq = field.find('=');
      std::string k = field.substr(0, eq), v = eq == std::string::npos ? "" : field.substr(eq + 1);
      if (k == "id") {
        id = v;
      } else if (k == "src" || k == "source") {
        src = v;
      } else if (k == "env") {
        var = v;
      } else if (k != "type") {
        throw UsageError("--secret: unknown field \"" + k + "\" in " + spec);
      }
    }
    if (id.empty()) throw UsageError("--secret needs id=ID: " + spec);
    std::string value;
    if (!src.empty()) {
      std::ifstream in(src, std::ios::binary);
      if (!in) throw UsageError("--secret: cannot read " + src);
      value.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } else {
      auto v = env((var.empty() ? id : var).c_str());
      if (!v) throw UsageError("--secret " + id + ": environment variable " +
                               (var.empty() ? id : var) + " is not set");
      value = *v;
    }
    out.emplace_back("Drydock-Build-Secret", id + "=" + auth::base64_encode(value));
  }
  return out;
}

// Takes the tar and keeps nothing: the manifest walk.
class DiscardSink final : public builder::LayerSink {
 public:
  builder::LayerResult<void> write(std::span<const std::byte>) override { return {}; }
};

// The manifest of the context as plan.pack would send it.
std::expected<std::vector<builder::SyncEntry>, std::string> context_manifest(
    const ContextPlan& plan) {
  std::vector<builder::SyncEntry> entries;
  builder::ContextPackOptions options = plan.pack;
  options.on_entry = [&](const builder::PackedEntry& e) {
    entries.push_back(builder::sync_entry(e));
  };
  options.send = [](const std::string&) { return false; };
  DiscardSink sink;
  auto packed = builder::pack_context(options, sink);
  if (!packed) return std::unexpected(packed.error().message);
  return entries;
}

// Names the server's kept copy of this context: this host, the directory
// and the ignore file that shapes it.
std::string context_key(const ContextPlan& plan) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::error_code ec;
  fs::path dir = fs::canonical(plan.pack.dir, ec);
  if (ec) dir = fs::absolute(plan.pack.dir);
  std::string id = std::string(host) + '\0' + dir.string() + '\0' + plan.pack.ignore_file;
  return auth::sha256_hex(id).substr(0, 40);
}

// How an incremental upload goes: the session and the entries to send, or
// nothing when the server cannot keep contexts (older server, the kept
// context busy): then the whole context goes.
struct SyncStart {
  std::string session;
  std::vector<builder::SyncEntry> manifest;
  std::unordered_set<std::string> send;
};

// POST /builds/contexts: the manifest; what the server needs. A refusal that
// a full upload would get too (401, 403) is left to that upload to report.
std::optional<SyncStart> start_sync(CliHttpClient& client, const ContextPlan& plan) {
  auto manifest = context_manifest(plan);
  if (!manifest) return std::nullopt;  // the full upload reports it
  std::string body = builder::manifest_json(*manifest);
  auto reply = client.post_chunked(
      "/builds/contexts?key=" + context_key(plan), "application/json",
      [&](const BodyWriter& writer) { return writer(std::as_bytes(std::span(body))); });
  if (!reply || reply->status != 200) return std::nullopt;
  json doc = json::parse(reply->body, nullptr, false);
  if (!doc.is_object() || !doc.contains("session") || !doc["session"].is_string() ||
      !doc.contains("need") || !doc["need"].is_array()) {
    return std::nullopt;
  }
  SyncStart out;
  out.session = doc["session"].get<std::string>();
  for (const auto& n : doc["need"]) {
    if (!n.is_number_unsigned() || n.get<std::size_t>() >= manifest->size()) return std::nullopt;
    out.send.insert((*manifest)[n.get<std::size_t>()].path);
  }
  out.manifest = std::move(*manifest);
  return out;
}

// Uploads the context, or with `sync` only what the server asked for; the
// build's id, or the exit status on failure.
std::expected<std::string, int> submit(CliHttpClient& client, const BuildArgs& a,
                                       const ContextPlan& plan,
                                       const std::optional<SyncStart>& sync) {
  builder::PackStats stats;
  builder::ContextPackOptions pack = plan.pack;
  std::string target = build_target(a, plan);
  std::size_t seen = 0;
  bool moved = false;
  if (sync) {
    target += "&context=" + url_encode(sync->session);
    pack.send = [&](const std::string& name) { return sync->send.contains(name); };
    // The second walk must meet what the manifest said.
    pack.on_entry = [&](const builder::PackedEntry& e) {
      auto entry = builder::sync_entry(e);
      bool extra = entry.path.starts_with(".dockerfile.") || entry.path == plan.pack.ignore_file;
      if (seen >= sync->manifest.size() ||
          (!(sync->manifest[seen] == entry) && !(extra && sync->manifest[seen].path == entry.path))) {
        moved = true;
      }
      ++seen;
    };
  }
  auto reply =
      client.post_chunked(target, "application/x-tar",
                          [&](const BodyWriter& writer) -> std::expected<void, std::string> {
                            ChunkSink sink(writer);
                            auto packed = builder::pack_context(pack, sink);
                            if (!packed) return std::unexpected(packed.error().message);
                            if (sync && seen != sync->manifest.size()) moved = true;
                            if (moved) {
                              return std::unexpected(
                                  std::string("the context changed while it was being sent"));
                            }
                            stats = *packed;
                            return {};
                          },
                          secret_headers(a));
  if (!reply) {
    std::fprintf(stderr, "drydock: %s\n", reply.error().message.c_str());
    return std::unexpected(reply.error().code == CliHttpErrc::kUnreachable ? kExitUsage
                                                                           : kExitFailed);
  }
  if (reply->status != 202) {
    std::fprintf(stderr, "drydock: build refused: %s\n", describe_error(*reply).c_str());
    if (reply->status == 401) {
      std::fputs("drydock: give --user NAME (or DRYDOCK_USER) and DRYDOCK_PASSWORD\n", stderr);
    }
    return std::unexpected(kExitFailed);
  }
  json doc = json::parse(reply->body, nullptr, false);
  if (!doc.is_object() || !doc.contains("id") || !doc["id"].is_string()) {
    std::fputs("drydock: the server's answer has no build id\n", stderr);
    return std::unexpected(kExitFailed);
  }
  if (sync) {
    std::fprintf(stderr,
                 "drydock: sent the build context (%llu of %llu entries, %s; the server kept the "
                 "rest); build %s\n",
                 static_cast<unsigned long long>(stats.entries),
                 static_cast<unsigned long long>(stats.walked), megabytes(stats.file_bytes).c_str(),
                 doc["id"].get<std::string>().c_str());
  } else {
    std::fprintf(stderr, "drydock: sent the build context (%llu entries, %s); build %s\n",
                 static_cast<unsigned long long>(stats.entries),
                 megabytes(stats.file_bytes).c_str(), doc["id"].get<std::string>().c_str());
  }
  return doc["id"].get<std::string>();
}

// Copies the build's log to stdout until the build ends.
void follow_log(CliHttpClient& client, const std::string& id) {
  auto reply = client.get_streaming("/builds/" + id + "/logs?follow=1", [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  if (!reply) {
    std::fprintf(stderr, "drydock: the log stopped: %s\n", reply.error().message.c_str());
  } else if (reply->status != 200) {
    std::fprintf(stderr, "drydock: cannot follow the log: %s\n", describe_error(*reply).c_str());
  }
}

bool finished(const std::string& status) {
  return status == "succeeded" || status == "failed" || status == "cancelled";
}

// The build's final JSON (polling while it still runs, e.g. after the log
// connection broke); nullopt if it cannot be read.
std::optional<json> final_state(CliHttpClient& client, const std::string& id) {
  for (;;) {
    auto reply = client.request("GET", "/builds/" + id);
    if (!reply || reply->status != 200) {
      std::fprintf(stderr, "drydock: cannot read build %s: %s\n", id.c_str(),
                   reply ? describe_error(*reply).c_str() : reply.error().message.c_str());
      return std::nullopt;
    }
    json doc = json::parse(reply->body, nullptr, false);
    if (doc.is_object() && finished(doc.value("status", ""))) return doc;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int report(const json& build, bool interrupted) {
  std::string id = build.value("id", "");
  std::string status = build.value("status", "");
  if (status == "succeeded") {
    std::string tags;
    if (build.contains("tags") && build["tags"].is_array()) {
      for (const auto& t : build["tags"]) tags += (tags.empty() ? "" : ", ") + t.get<std::string>();
    }
    std::fprintf(stderr, "drydock: build %s succeeded: %s%s%s\n", id.c_str(),
                 build.value("digest", "").c_str(), tags.empty() ? "" : " tagged ", tags.c_str());
    return kExitSucceeded;
  }
  std::string error = build.value("error", "");
  std::fprintf(stderr, "drydock: build %s %s%s%s\n", id.c_str(), status.c_str(),
               error.empty() ? "" : ": ", error.c_str());
  return interrupted && status == "cancelled" ? kExitInterrupted : kExitFailed;
}

int run(const BuildArgs& a) {
  ContextPlan plan = plan_context(a);
  CliHttpOptions options = client_options(a);
  std::signal(SIGPIPE, SIG_IGN);
  Interrupts interrupts(options);
  CliHttpClient client(options);
  std::optional<SyncStart> sync;
  if (!a.full_context) sync = start_sync(client, plan);
  auto id = submit(client, a, plan, sync);
  if (!id) return id.error();
  interrupts.follow(*id);
  follow_log(client, *id);
  auto build = final_state(client, *id);
  interrupts.finish();
  if (!build) return kExitFailed;
  return report(*build, interrupts.cancelled());
}

}  // namespace

int run_build_command(const std::vector<std::string>& args) {
  try {
    BuildArgs a = parse_args(args);
    if (a.help) {
      std::fputs(kBuildUsage, stdout);
      return kExitSucceeded;
    }
    return run(a);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "drydock build: %s (see drydock build --help)\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock build: %s\n", e.what());
    return kExitUsage;
  }
}

}  // namespace drydock::server
