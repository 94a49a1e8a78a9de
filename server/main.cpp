// The `drydock` command line: `serve`, the admin subcommands and the
// `build` client.

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "auth/authenticator.hpp"
#include "builder/build_service.hpp"
#include "images/image_store.hpp"
#include "registry/registry.hpp"
#include "server/admin_cli.hpp"
#include "server/build_cli.hpp"
#include "server/fsck_cli.hpp"
#include "server/gc_cli.hpp"
#include "server/gc_service.hpp"
#include "server/image_cli.hpp"
#include "server/usage_cli.hpp"
#include "server/registry_fetcher.hpp"
#include "server/server.hpp"
#include "server/store_rules.hpp"
#include "storage/blob_store.hpp"
#include "storage/clock.hpp"
#include "storage/data_lock.hpp"
#include "storage/metadata_store.hpp"
#include "storage/upload_store.hpp"

namespace {

using namespace drydock;

constexpr const char* kUsage = R"(drydock: an OCI container registry with a build service

Usage:
  drydock serve [options]     run the registry server
  drydock user|grant|token    manage users, permissions and access tokens
  drydock build [options] DIR build DIR's Dockerfile on a server, follow the log
  drydock image COMMAND       export, import, ls, inspect, rm images on a server
  drydock fsck [options]      check (and --repair) a data directory's integrity
  drydock gc [--dry-run]      collect garbage on a running server now
  drydock prune --untagged    delete untagged images on a running server
  drydock usage [NAMESPACE]   bytes held per namespace (and its quota) and repository
  drydock --help              this text
  drydock serve --help        the server's options

Run `drydock serve --help` for every option of the server, and
`drydock build --help` for the build client's, `drydock image --help`
for the image commands'.

)";

constexpr const char* kServeUsage =
    R"(Usage: drydock serve [--config FILE] [--listen HOST:PORT] [--data DIR] [--auth]
                     [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]

Serves the OCI distribution API (v2) over HTTP, or HTTPS with a certificate.

Options (flags override the config file, which overrides the defaults):
  --config FILE       JSON configuration file. Every option below, and more, can
                      be set there:
                        { "listen": "0.0.0.0:5000", "data": "data",
                          "server": { "io_threads": 0, "worker_threads": 0,
                                      "idle_timeout_seconds": 60,
                                      "body_timeout_seconds": 300,
                                      "header_limit_bytes": 16384,
                                      "shutdown_grace_seconds": 30,
                                      "access_log": true },
                          "registry": { "max_manifest_bytes": 4194304,
                                        "chunk_min_length": 0,
                                        "upload_expiry_hours": 168,
                                        "max_import_bytes": 17179869184,
                                        "quotas": { "default_bytes": null,
                                                    "namespaces": { "team": "10GiB" } },
                                        "immutable_tags": [ { "repositories": "**",
                                                              "tags": "v*" } ] },
                          "tls": { "cert": "", "key": "", "client_ca": "" },
                          "gc": { "interval_minutes": 360, "grace_seconds": 3600,
                                  "untagged_retention_hours": null,
                                  "retention": [ { "repositories": "**",
                                                   "keep_last": 10,
                                                   "keep_tags": "v.*",
                                                   "keep_days": 30 } ] },
                          "builder": { "enabled": true, "concurrency": 1,
                                       "build_timeout_seconds": 3600,
                                       "step_timeout_seconds": 0,
                                       "max_context_bytes": 2147483648,
                                       "max_extracted_bytes": 8589934592,
                                       "max_context_entries": 1000000,
                                       "memory_limit_bytes": 4294967296,
                                       "pids_limit": 4096,
                                       "runtime": "/usr/sbin/runc",
                                       "network": "none", "max_queued": 100,
                                       "cache_max_bytes": 21474836480,
                                       "kept_contexts_max_bytes": 4294967296 } }
                      io_threads/worker_threads 0 mean one per core / two per core.
                      Upload sessions older than upload_expiry_hours are removed
                      at startup and every hour (0: never).
                      builder: the build service (POST /builds; see README).
                      registry.immutable_tags (default none): a tag matching
                      "tags" (a glob) in a repository matching "repositories"
                      (a grant pattern, default "**") cannot be moved to
                      another manifest or deleted once it exists (DENIED).
                      gc: garbage collection, online, every interval_minutes
                      (0: only `drydock gc`); nothing younger than
                      grace_seconds goes; untagged manifests pushed on their
                      own stay unless untagged_retention_hours; retention
                      (default none): per repository pattern, tags kept are
                      the keep_last newest, those matching keep_tags (regex)
                      and those pushed within keep_days; the rest go.
                      registry.quotas (default none): bytes a namespace (the
                      first path component of a repository name) may hold,
                      each distinct blob counted once; a number, a size
                      ("10GiB", "500MB") or null (unlimited). A push past it
                      is DENIED; see GET /usage and `drydock usage`.
                      network "none": RUN steps get only lo; "host": the
                      host's network. Limits apply per RUN container (0:
                      none); the timeouts per build / per RUN step (0: none).
  --listen HOST:PORT  address to listen on (default 0.0.0.0:5000; port 0 picks a
                      free port, printed as "listening on HOST:PORT")
  --data DIR          data directory: blobs, uploads and the SQLite metadata
                      database (default ./data)
  --auth              require authentication (auth.enabled in the config): users
                      and tokens (see `drydock user --help`), Basic auth and the
                      Docker token flow at /token. The config's "auth" section:
                        { "enabled": true, "realm": "", "service": "drydock",
                          "issuer": "drydock", "token_ttl_seconds": 300,
                          "refresh_token_days": 90,
                          "anonymous_pull": ["public/**"],
                          "admin_user": "", "admin_password": "",
                          "free_failures": 5, "max_delay_seconds": 300 }
                      realm: the token endpoint URL put in challenges (default:
                      this server's /token as the client reached it).
                      anonymous_pull: repository patterns anyone may pull.
                      admin_user/admin_password (or DRYDOCK_ADMIN_USER and
                      DRYDOCK_ADMIN_PASSWORD): the first admin, created at start.
                      Without --auth everyone may push, pull and delete.
  --tls-cert FILE     serve HTTPS with this PEM certificate chain (server
                      certificate first, then intermediates); needs --tls-key
  --tls-key FILE      the certificate's PEM private key (not encrypted)
  --tls-client-ca FILE
                      mutual TLS: every client must present a certificate
                      signed by a CA in this PEM bundle
  --no-access-log     do not log one line per request
  --help              this text

TLS: 1.2 or 1.3; TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305.
On SIGHUP the certificate, key and client CA are read again from the same
files: new connections use them, open connections keep theirs; if they fail
to load, the server goes on with the old ones and logs why.

Stops gracefully on SIGINT or SIGTERM: in-flight requests finish (up to
shutdown_grace_seconds), nothing half-written becomes visible.
)";

struct ServeFlags {
  std::optional<std::string> config_file;
  std::optional<std::string> listen;
  std::optional<std::string> data;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::optional<std::string> tls_client_ca;
  bool no_access_log = false;
  bool auth = false;
  bool help = false;
};

ServeFlags parse_serve_flags(const std::vector<std::string>& args) {
  ServeFlags f;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= args.size()) throw std::runtime_error(std::string(flag) + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      f.help = true;
    } else if (a == "--config") {
      f.config_file = value("--config");
    } else if (a == "--listen") {
      f.listen = value("--listen");
    } else if (a == "--data") {
      f.data = value("--data");
    } else if (a == "--tls-cert") {
      f.tls_cert = value("--tls-cert");
    } else if (a == "--tls-key") {
      f.tls_key = value("--tls-key");
    } else if (a == "--tls-client-ca") {
      f.tls_client_ca = value("--tls-client-ca");
    } else if (a == "--no-access-log") {
      f.no_access_log = true;
    } else if (a == "--auth") {
      f.auth = true;
    } else {
      throw std::runtime_error("unknown option " + a + " (see drydock serve --help)");
    }
  }
  return f;
}

config::Config build_config(const ServeFlags& f) {
  config::Config c;
  if (f.config_file) c = config::load_file(*f.config_file, c);
  if (f.listen) config::apply_listen(c.server, *f.listen);
  if (f.data) c.storage.data_dir = *f.data;
  if (f.tls_cert) c.tls.cert = *f.tls_cert;
  if (f.tls_key) c.tls.key = *f.tls_key;
  if (f.tls_client_ca) c.tls.client_ca = *f.tls_client_ca;
  if (f.no_access_log) c.server.access_log = false;
  if (f.auth) c.auth.enabled = true;
  config::validate(c);
  return c;
}

// Blocks SIGINT/SIGTERM (stop) and SIGHUP (reload) in every thread (call
// before any thread starts) so that one thread can wait for them with sigwait.
sigset_t block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return set;
}

// Removes abandoned upload sessions at startup and then every hour, until
// `stop` is set. Runs on its own thread: the work is disk and SQLite only.
class UploadJanitor {
 public:
  UploadJanitor(storage::UploadStore& uploads, unsigned expiry_hours)
      : uploads_(uploads), expiry_hours_(expiry_hours) {
    if (expiry_hours_ > 0) thread_ = std::thread([this] { loop(); });
  }
  ~UploadJanitor() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      sweep();
      lock.lock();
      cv_.wait_for(lock, std::chrono::hours(1), [this] { return stop_; });
    }
  }
  void sweep() {
    auto removed = uploads_.expire(storage::unix_now() - std::int64_t{expiry_hours_} * 3600);
    if (removed && *removed > 0) {
      std::fprintf(stderr, "drydock: removed %zu abandoned upload session(s)\n", *removed);
    }
  }

  storage::UploadStore& uploads_;
  unsigned expiry_hours_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Waits for SIGINT or SIGTERM and returns it; reloads the TLS files on
// each SIGHUP meanwhile.
int wait_for_stop(const sigset_t& signals, server::Server& srv, bool tls) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    if (!tls) {
      std::fprintf(stderr, "drydock: SIGHUP: nothing to reload (TLS is off)\n");
      continue;
    }
    auto reloaded = srv.reload_tls();
    if (reloaded) {
      std::fprintf(stderr, "drydock: TLS certificates reloaded\n");
    } else {
      std::fprintf(stderr, "drydock: TLS reload failed, keeping the current certificates: %s\n",
                   reloaded.error().c_str());
    }
  }
}

// The build service's options from the config; its data under DATA/builder.
builder::BuildServiceOptions builder_options(const config::Config& c) {
  const auto& b = c.builder;
  builder::BuildServiceOptions o;
  o.root = c.storage.data_dir / "builder";
  o.metadata_db = c.storage.data_dir / "metadata.db";
  o.runtime_binary = b.runtime;
  o.concurrency = b.concurrency;
  o.max_upload_bytes = b.max_context_bytes;
  o.max_queued = b.max_queued;
  o.build_timeout = std::chrono::seconds(b.build_timeout_seconds);
  o.step_timeout = std::chrono::seconds(b.step_timeout_seconds);
  o.max_extracted_bytes = b.max_extracted_bytes;
  o.max_context_entries = b.max_context_entries;
  o.cache_max_bytes = b.cache_max_bytes;
  o.kept_contexts_max_bytes = b.kept_contexts_max_bytes;
  if (b.memory_limit_bytes > 0) o.limits.memory_bytes = b.memory_limit_bytes;
  if (b.pids_limit > 0) o.limits.pids = b.pids_limit;
  o.network = b.network == "host" ? builder::NetworkMode::kHost : builder::NetworkMode::kNone;
  o.upstream.local_hosts = b.local_hosts;
  // Loopback addresses on our own port are this server too (own_port, set
  // once the server is bound, port 0 included); on another port they are
  // another registry (a second Drydock, a mirror on this host).
  o.upstream.own_port->store(c.server.listen_port);
  o.upstream.mirrors.insert(b.mirrors.begin(), b.mirrors.end());
  if (b.pull) {
    o.fetcher = std::make_shared<server::HttpImageFetcher>(
        server::RegistryFetcherOptions{b.registries, std::chrono::seconds(b.pull_timeout_seconds)});
  }
  return o;
}

int serve(const ServeFlags& flags) {
  config::Config c = build_config(flags);
  sigset_t signals = block_signals();
  const auto& data = c.storage.data_dir;
  std::filesystem::create_directories(data);
  // Held until the process exits: one owner of the blobs (and their leases).
  auto lock = storage::DataDirLock::acquire(data, "serve");
  if (!lock) throw std::runtime_error(lock.error());
  storage::FsBlobStore blobs(data);
  storage::MetadataStore meta(data / "metadata.db");
  server::apply_store_rules(meta, c.registry);
  storage::UploadStore uploads(data / "uploads", blobs, meta);
  registry::Registry reg(
      blobs, meta, uploads,
      registry::RegistryOptions{c.registry.max_manifest_bytes, c.registry.chunk_min_length});
  UploadJanitor janitor(uploads, c.registry.upload_expiry_hours);
  std::unique_ptr<server::AuthRuntime> auth;
  if (c.auth.enabled) auth = std::make_unique<server::AuthRuntime>(c);
  // Declared before the server: running builds stop after the last request.
  std::unique_ptr<builder::BuildService> builds;
  std::shared_ptr<std::atomic<unsigned>> own_port;
  if (c.builder.enabled) {
    auto options = builder_options(c);
    own_port = options.upstream.own_port;
    builds = builder::BuildService::open(std::move(options), blobs, meta);
  }
  images::ImageStore images(blobs, meta, {data / "imports", c.registry.max_import_bytes});
  server::Server srv(c.server, reg, auth ? &auth->authenticator() : nullptr, c.tls, builds.get(),
                     &images);
  // Declared after the server: a collection in progress finishes first.
  server::GcService gc(meta, blobs, c.gc, [b = builds.get()] {
    return b ? b->cache_layers() : storage::Result<std::vector<storage::Digest>>();
  });
  srv.set_gc(&gc);
  std::uint16_t port = srv.start();
  gc.start();
  if (own_port) own_port->store(port);
  if (!builds) {
    std::fprintf(stderr, "drydock: the build service is off (builder.enabled)\n");
  } else if (!builds->warning().empty()) {
    std::fprintf(stderr, "drydock: WARNING: build service: %s\n", builds->warning().c_str());
  }
  if (auth) {
    std::fprintf(stderr, "drydock: authentication is on (token endpoint /token)\n");
  } else {
    std::fprintf(stderr,
                 "drydock: WARNING: authentication is DISABLED: anyone who can reach this port "
                 "can push, pull and delete (turn it on with --auth)\n");
  }
  std::fprintf(stderr, "drydock: data in %s\n", std::filesystem::absolute(data).c_str());
  if (c.tls.enabled()) {
    std::fprintf(stderr, "drydock: serving HTTPS\n");
    if (!c.tls.client_ca.empty()) std::fprintf(stderr, "drydock: client certificates required\n");
  }
  std::printf("listening on %s\n", srv.listen_address().c_str());
  std::fflush(stdout);
  int sig = wait_for_stop(signals, srv, c.tls.enabled());
  std::fprintf(stderr, "drydock: %s received, stopping gracefully\n", strsignal(sig));
  srv.stop();
  builds.reset();  // running builds are cancelled and marked failed
  std::fprintf(stderr, "drydock: stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      std::fputs(kUsage, stdout);
      std::fputs(server::admin_usage(), stdout);
      std::fputs(server::fsck_usage(), stdout);
      std::fputs(server::gc_usage(), stdout);
      std::fputs(server::usage_command_usage(), stdout);
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "serve") {
      ServeFlags flags = parse_serve_flags({args.begin() + 1, args.end()});
      if (flags.help) {
        std::fputs(kServeUsage, stdout);
        return 0;
      }
      return serve(flags);
    }
    if (args[0] == "fsck") return server::run_fsck_command({args.begin() + 1, args.end()});
    if (args[0] == "gc" || args[0] == "prune") {
      return server::run_gc_command(args[0], {args.begin() + 1, args.end()});
    }
    if (args[0] == "build") return server::run_build_command({args.begin() + 1, args.end()});
    if (args[0] == "image") return server::run_image_command({args.begin() + 1, args.end()});
    if (args[0] == "usage") return server::run_usage_command({args.begin() + 1, args.end()});
    if (server::is_admin_command(args[0])) {
      return server::run_admin_command(args[0], {args.begin() + 1, args.end()});
    }
    std::fprintf(stderr, "drydock: unknown command '%s'\n\n%s", args[0].c_str(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock: %s\n", e.what());
    return 1;
  }
}
