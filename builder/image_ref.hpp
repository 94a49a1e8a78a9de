#pragma once
// Image references as FROM and COPY --from write them, and where they are
// read from: Drydock's own store or another registry (DESIGN.md "Build flow":
// base images resolved from the store, or an upstream registry).
//
// The grammar is Docker's (distribution/reference): an optional registry
// host, recognised as a first path component holding '.' or ':' or being
// "localhost"; a repository path; ":tag" and/or "@digest".
//
// Which references are local:
//   - an unqualified name ("team/base:1", "busybox:1") is looked up in the
//     store first; only when it is missing there, and a mirror is configured
//     for "docker.io", is it read from that mirror as Docker would read it
//     from Docker Hub ("busybox" -> "docker.io/library/busybox");
//   - a name whose host is one of this server's own names (`local_hosts`:
//     "localhost" on any port by default; "host" matches any port,
//     "host:port" that port only) is local: the host is dropped;
//   - any other host is a registry to pull from.
// Pulled images are kept in the store under a reserved namespace,
// "upstream/<host>/<path>" (see upstream_repository()), so a later build
// reuses them without the network and they never mix with pushed
// repositories.
#include <memory>
#include <atomic>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/digest.hpp"

namespace drydock::builder {

// A parsed reference. `host` is empty when the name had none.
struct ImageRef {
  std::string host;  // "registry.example.com:5000", "docker.io"; as written, lowercased
  std::string path;  // "team/base"
  std::string tag;   // "latest" when neither tag nor digest was given
  std::optional<storage::Digest> digest;
  // "tag" or "sha256:..." (the digest wins when both are given).
  std::string manifest_reference() const;
};

// Parses a reference; the error says what is wrong with it. The path must be
// a valid OCI repository name (lowercase components separated by '/').
std::expected<ImageRef, std::string> parse_image_ref(std::string_view text);

// Where base images may come from (BuilderConfig: local_hosts, mirrors).
struct UpstreamPolicy {
  // This server's own names: "host" (any port) or "host:port".
  std::vector<std::string> local_hosts{"localhost"};
  // The port this server listens on, once it is known (it may be chosen at
  // bind time): 127.0.0.1 and [::1] on it are this server too. 0: unknown.
  std::shared_ptr<std::atomic<unsigned>> own_port = std::make_shared<std::atomic<unsigned>>(0);
  // Registry host -> the URL to read it from ("docker.io" ->
  // "https://mirror.example.com"). A "docker.io" entry also makes
  // unqualified names missing from the store resolve there.
  std::map<std::string, std::string, std::less<>> mirrors;
};

// The reserved first component of pulled images' repositories.
inline constexpr std::string_view kUpstreamNamespace = "upstream";

// Where to read a reference from.
struct ImageSource {
  // Local: the store repository holding it. Upstream: the repository the
  // pulled image is kept in ("upstream/<host>/<path>").
  std::string store_repository;
  bool upstream = false;
  // Upstream only: the registry as named ("docker.io"), the repository there
  // ("library/busybox") and the endpoint URL of a mirror (empty: the host).
  std::string registry;
  std::string remote_repository;
  std::string endpoint;
};

// Whether `host` ("name" or "name:port") is one of this server's names.
bool is_local_host(const UpstreamPolicy& policy, std::string_view host);

// The source of a qualified or local reference: local when the host is empty
// or local, else upstream (Docker Hub names normalised: "docker.io/busybox"
// is "docker.io/library/busybox"; "index.docker.io" is "docker.io").
std::expected<ImageSource, std::string> source_of(const UpstreamPolicy& policy,
                                                  const ImageRef& ref);

// For an unqualified name missing from the store: the Docker Hub source
// through the "docker.io" mirror, or nullopt when none is configured.
std::optional<ImageSource> docker_hub_fallback(const UpstreamPolicy& policy, const ImageRef& ref);

// "upstream/<host>/<path>" with the host lowercased, ':' as '_' and IPv6
// brackets dropped; an error if that is not a valid repository name.
std::expected<std::string, std::string> upstream_repository(std::string_view host,
                                                            std::string_view path);

// Whether `repository` is in the reserved namespace of pulled images.
bool is_upstream_repository(std::string_view repository);

}  // namespace drydock::builder
