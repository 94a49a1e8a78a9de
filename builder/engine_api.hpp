#pragma once

// The protocol side of the Docker Engine API subset Drydock serves so that
// `DOCKER_BUILDKIT=0 docker -H tcp://HOST:PORT build` works against it
// (Docker Engine API v1.41: /_ping, /version, /build). Transport-free: the
// server maps paths with engine_endpoint(), turns the /build query into
// BuildParams with parse_engine_build(), and streams what BuildMessages makes
// of the build log. README "Docker Engine API" lists what is used and ignored.

#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "builder/build_store.hpp"

namespace drydock::builder {

// The API version answered in Api-Version: the newest whose /build we speak
// (the classic builder's JSON stream). A client negotiates down to it.
inline constexpr std::string_view kEngineApiVersion = "1.41";
inline constexpr std::string_view kEngineMinApiVersion = "1.24";

enum class EngineEndpoint {
  kPing,      // GET/HEAD /_ping
  kVersion,   // GET /version
  kBuild,     // POST /build
  kBuildKit,  // /session, /grpc: BuildKit only, refused
  kUnknown,   // another /v1.NN/... path: 404 in the Engine API's format
};

// Which Engine API endpoint `path` is, with or without a "/v1.NN" prefix;
// nullopt when it is not an Engine API path (e.g. /v2/..., the registry's).
std::optional<EngineEndpoint> engine_endpoint(std::string_view path);

// The headers of GET/HEAD /_ping: Api-Version, Ostype, Builder-Version ("1":
// the classic builder) and the rest a docker client looks at.
std::vector<std::pair<std::string, std::string>> ping_headers();

// The body of GET /version.
std::string version_json(std::string_view server_version);

// An Engine API error body: {"message":"..."}.
std::string engine_error_json(std::string_view message);

// A /build request as Drydock runs it.
struct EngineBuild {
  BuildParams params;                   // tags as "repo:tag", the registry host removed
  std::vector<std::string> shown_tags;  // as the client named them, for "Successfully tagged"
  bool quiet = false;                   // q=1: only the image ID
};

// Every value of a query parameter, in order (empty: absent).
using QueryValues = std::function<std::vector<std::string>(std::string_view key)>;

// The /build query as BuildParams: t (repeated), dockerfile, buildargs and
// labels (JSON objects), target, nocache, q. BuildKit (version=2), a remote
// context, and a platform other than linux/amd64 are refused; the other
// documented parameters are accepted and ignored. The error says which
// parameter is wrong. Repository names and tags are not validated here.
std::expected<EngineBuild, std::string> parse_engine_build(const QueryValues& query);

// A tag as the build service takes it: "repo:tag" from a docker reference
// ("127.0.0.1:5000/app:1" -> "app:1", "app" -> "app:latest"); any registry
// host is dropped, since the image lands in this registry. Empty for a
// reference with a digest or an empty name.
std::string engine_tag(std::string_view reference);

// The docker CLI (20.10 and 28 alike) ends the context tar right after the
// last file's data when `-f` names a Dockerfile outside the context: the
// padding and the end-of-archive blocks are missing. Go's tar reader
// (dockerd's) takes that as a clean end; libarchive calls it truncated. This
// appends what is missing to the uncompressed tar at `path` (anything else
// is left alone; zero blocks after a complete tar change nothing).
std::expected<void, std::string> complete_tar(const std::filesystem::path& path);

// Turns a build log (BuildService::read_log pieces) into the classic
// builder's JSON messages, each followed by "\r\n" as dockerd writes them:
// "#N [stage k/n] INSTR" lines become "Step N/n : INSTR", "#N CACHED"
// " ---> Using cache", output becomes
// {"stream":...}; the service's own "#done" lines are consumed. Not
// thread-safe; one per build.
class BuildMessages {
 public:
  explicit BuildMessages(bool quiet = false) : quiet_(quiet) {}

  // Messages for the complete lines in `log_piece` (a partial last line is
  // kept for the next call).
  std::string feed(std::string_view log_piece);
  // A partial line held back, as a message (call when no more log came for
  // a while: a RUN printing a progress line without a newline).
  std::string flush();
  // The end of a successful build: the rest of the log, {"aux":{"ID":...}},
  // "Successfully built" and one "Successfully tagged" per tag (with q, the
  // image ID alone).
  std::string succeeded(const std::vector<std::string>& shown_tags);
  // The end of a failed or cancelled build: {"errorDetail":...,"error":...}.
  std::string failed(std::string_view error);

  // The image config digest the log named ("sha256:..."), once seen.
  const std::string& image_id() const { return image_id_; }

 private:
  std::string line(std::string_view text);
  std::string stream(std::string_view text);

  bool quiet_;
  std::string partial_;
  std::string held_error_;  // an "ERROR: " line: the build's own, if it is the last
  std::string image_id_;
};

}  // namespace drydock::builder
