#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace drydock::config {

// What the HTTP server needs. Plain values; main hands it to server/.
struct ServerConfig {
  std::string listen_host = "0.0.0.0";
  std::uint16_t listen_port = 5000;     // 0: pick a free port (tests)
  unsigned io_threads = 0;              // 0: one per core
  unsigned worker_threads = 0;          // blocking work (fsync, SQLite writes); 0: 2 x cores
  unsigned idle_timeout_seconds = 60;   // keep-alive idle / slow header limit
  unsigned body_timeout_seconds = 300;  // max gap between body reads/writes
  std::size_t header_limit_bytes = 16 * 1024;
  unsigned shutdown_grace_seconds = 30;  // in-flight requests may finish
  bool access_log = true;
};

// What the registry protocol layer needs.
// Tags that may not be moved or removed once they exist: `tags` (a glob:
// `*` any run of characters) in repositories matching `repositories` (a
// grant pattern: `team/*`, `team/**`, `**`).
struct ImmutableTagRule {
  std::string repositories = "**";
  std::string tags;
};

// Bytes each namespace (a repository name's first path component) may hold,
// each distinct blob counted once. A namespace listed has its own limit
// (nullopt: unlimited); the others have default_bytes (nullopt: unlimited).
struct QuotaConfig {
  std::optional<std::uint64_t> default_bytes;
  std::map<std::string, std::optional<std::uint64_t>> namespaces;
};

struct RegistryConfig {
  std::vector<ImmutableTagRule> immutable_tags;
  QuotaConfig quotas;
  std::size_t max_manifest_bytes = 4 * 1024 * 1024;
  std::uint64_t chunk_min_length = 0;  // advertised as OCI-Chunk-Min-Length if > 0
  unsigned upload_expiry_hours = 168;  // abandoned upload sessions go after this; 0: never
  // POST /images/import: the uploaded archive, and the files it unpacks to.
  std::uint64_t max_import_bytes = 16ULL << 30;
};

// Which tags garbage collection drops in repositories matching
// `repositories` (a grant pattern): a tag stays if it is one of the
// `keep_last` most recently pushed, or matches `keep_tags` (an ECMAScript
// regex, whole tag), or was pushed within `keep_days`; criteria left unset
// keep nothing, and at least one must be set. Immutable tags always stay.
// The first rule matching a repository applies.
struct RetentionRule {
  std::string repositories = "**";
  std::optional<std::size_t> keep_last;
  std::string keep_tags;  // empty: none
  std::optional<unsigned> keep_days;
};

// Garbage collection (storage/gc.hpp), online.
struct GcConfig {
  unsigned interval_minutes = 360;  // a collection every this often; 0: only on demand
  unsigned grace_seconds = 3600;    // younger blobs, links and manifests always stay
  // An upload session keeps its repository's unused blob links this long
  // after it started (an abandoned one: no longer).
  unsigned upload_session_hours = 24;
  // Untagged manifests pushed on their own (not an index's child, not a
  // referrer): kept (unset) or collected once older than this.
  std::optional<unsigned> untagged_retention_hours;
  std::vector<RetentionRule> retention;
};

struct StorageConfig {
  std::filesystem::path data_dir = "data";
};

// TLS for the listener. Empty cert/key: plain HTTP.
struct TlsConfig {
  std::filesystem::path cert;       // PEM certificate chain
  std::filesystem::path key;        // PEM private key
  std::filesystem::path client_ca;  // PEM CA bundle; set: clients must present a cert it signed
  bool enabled() const { return !cert.empty(); }
};

// Authentication and authorization (auth/). Disabled: everyone may do
// everything (the embedded default for a first local run; logged loudly).
struct AuthConfig {
  bool enabled = false;
  std::string realm;              // token endpoint URL in challenges; empty: from the Host header
  std::string service = "drydock";  // `service` in challenges, `aud` in tokens
  std::string issuer = "drydock";   // `iss` in tokens
  unsigned token_ttl_seconds = 300;  // bearer tokens from the token endpoint
  unsigned refresh_token_days = 90;  // refresh tokens (docker login's identity token)
  std::vector<std::string> anonymous_pull;  // repository patterns anyone may pull
  // The first admin for container deployments: created at startup when no
  // user of that name exists. Also from DRYDOCK_ADMIN_USER and
  // DRYDOCK_ADMIN_PASSWORD (the environment wins over the file).
  std::string admin_user;
  std::string admin_password;
  unsigned free_failures = 5;         // failed logins per user / address before slowing down
  unsigned max_delay_seconds = 300;   // the longest wait imposed after repeated failures
};

// How to reach another registry that base images are pulled from.
struct UpstreamRegistryConfig {
  std::string username;  // Basic auth, and for the token endpoint of Docker's token flow
  std::string password;  // or an access token
  // Plain HTTP to this host even if it is not loopback (loopback hosts always
  // may use it). Credentials then cross the network in the clear.
  bool insecure = false;
  std::filesystem::path ca_file;  // extra trusted CAs (PEM) for its HTTPS
};

// The build service (POST /builds). Its working data lives under
// DATA/builder/: snapshots, contexts, the runtime's state and build logs.
struct BuilderConfig {
  bool enabled = true;
  unsigned concurrency = 1;                         // builds running at once; more wait queued
  unsigned build_timeout_seconds = 3600;            // a build running longer is cancelled; 0: none
  unsigned step_timeout_seconds = 0;                // one RUN step; 0: none
  std::uint64_t max_context_bytes = 2ULL << 30;     // the uploaded (possibly compressed) context
  std::uint64_t max_extracted_bytes = 8ULL << 30;   // file data once extracted
  std::uint64_t max_context_entries = 1'000'000;    // archive entries
  std::uint64_t memory_limit_bytes = 4ULL << 30;    // per RUN container; 0: none
  std::int64_t pids_limit = 4096;                   // per RUN container; 0: none
  std::string runtime = "/usr/sbin/runc";           // the OCI runtime binary (runc or crun)
  // "none": RUN steps have no network (only lo), and RUN --network=host is
  // refused. "host": RUN steps use the host's network, as `docker build` on a
  // host network would.
  std::string network = "none";
  unsigned max_queued = 100;  // builds waiting; more are refused (503)
  // The step cache: total size of the layers it keeps (least recently used
  // entries go first); 0: unbounded.
  std::uint64_t cache_max_bytes = 20ULL << 30;
  // Contexts kept per user and directory so that a rebuild sends only what
  // changed (drydock build): total file bytes; least recently used go first;
  // 0: keep none (every build sends its whole context).
  std::uint64_t kept_contexts_max_bytes = 4ULL << 30;
  // Base images (builder/image_ref.hpp). FROM with one of these hosts reads
  // this server's store: "name" on any port, "name:port" on that port only.
  // A host not listed is another registry, pulled into "upstream/<host>/...".
  std::vector<std::string> local_hosts{"localhost"};
  // Registry host -> URL to pull it from, e.g. {"docker.io":
  // "https://mirror.example.com"}; a "docker.io" entry also sends
  // unqualified names missing from the store (FROM debian:bookworm) there.
  std::map<std::string, std::string> mirrors;
  // Credentials and transport per registry "host[:port]" (as in the URL
  // actually contacted: a mirror's host for mirrored names).
  std::map<std::string, UpstreamRegistryConfig> registries;
  bool pull = true;                    // false: only images already in the store
  unsigned pull_timeout_seconds = 60;  // per network read or write while pulling
};

struct Config {
  ServerConfig server;
  RegistryConfig registry;
  StorageConfig storage;
  TlsConfig tls;
  AuthConfig auth;
  BuilderConfig builder;
  GcConfig gc;
};

// Reads a JSON config file. Every key is optional; unknown keys are an error
// (a typo must not be silently ignored). Throws std::runtime_error with the
// file name and the offending key.
//
//   { "listen": "0.0.0.0:5000", "data": "data",
//     "server":   { "io_threads": 2, "worker_threads": 4, "idle_timeout_seconds": 60,
//                   "body_timeout_seconds": 300, "header_limit_bytes": 16384,
//                   "shutdown_grace_seconds": 30, "access_log": true },
//     "registry": { "max_manifest_bytes": 4194304, "chunk_min_length": 0,
//                   "upload_expiry_hours": 168, "max_import_bytes": 17179869184,
//                   "quotas": { "default_bytes": null,
//                               "namespaces": { "team": "10GiB", "ci": 5000000000 } } },
//     "gc":       { "interval_minutes": 360, "grace_seconds": 3600,
//                   "untagged_retention_hours": null,
//                   "retention": [ { "repositories": "team/**", "keep_last": 10,
//                                    "keep_tags": "v[0-9.]+", "keep_days": 30 } ] },
//     "tls":      { "cert": "cert.pem", "key": "key.pem", "client_ca": "" },
//     "auth":     { "enabled": true, "realm": "", "service": "drydock", "issuer": "drydock",
//                   "token_ttl_seconds": 300, "refresh_token_days": 90,
//                   "anonymous_pull": ["public/**"], "admin_user": "", "admin_password": "",
//                   "free_failures": 5, "max_delay_seconds": 300 },
//     "builder":  { "enabled": true, "concurrency": 1, "build_timeout_seconds": 3600,
//                   "step_timeout_seconds": 0, "max_context_bytes": 2147483648,
//                   "max_extracted_bytes": 8589934592, "max_context_entries": 1000000,
//                   "memory_limit_bytes": 4294967296, "pids_limit": 4096,
//                   "runtime": "/usr/sbin/runc", "network": "none", "max_queued": 100,
//                   "cache_max_bytes": 21474836480, "kept_contexts_max_bytes": 4294967296,
//                   "local_hosts": ["localhost"], "pull": true, "pull_timeout_seconds": 60,
//                   "mirrors": { "docker.io": "https://mirror.example.com" },
//                   "registries": { "mirror.example.com": { "username": "u",
//                       "password": "p", "insecure": false, "ca_file": "" } } } }
Config load_file(const std::filesystem::path& file, Config base = {});

// Checks what no single key can: TLS cert and key come together, a client CA
// needs TLS. Throws std::runtime_error.
void validate(const Config& c);

// Parses a byte size: a non-negative integer, optionally followed by a
// unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB or K/M/G/T (powers
// of 1024); case-insensitive, a space allowed, a decimal fraction allowed
// with a unit ("1.5GiB"). nullopt if malformed or too large.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

// Parses "HOST:PORT", "[v6]:PORT" or ":PORT" into the server config.
// Throws std::runtime_error on a malformed value.
void apply_listen(ServerConfig& s, const std::string& host_port);

}  // namespace drydock::config
