#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::registry {

// The distribution API endpoints (distribution-spec "Endpoints" table).
enum class Endpoint {
  kBase,       // /v2/
  kCatalog,    // /v2/_catalog
  kTags,       // /v2/<name>/tags/list
  kManifest,   // /v2/<name>/manifests/<reference>
  kBlob,       // /v2/<name>/blobs/<digest>
  kUploads,    // /v2/<name>/blobs/uploads/          (POST: start)
  kUpload,     // /v2/<name>/blobs/uploads/<id>      (GET/PATCH/PUT/DELETE)
  kReferrers,  // /v2/<name>/referrers/<digest>
  kUnknown,    // anything else under or outside /v2/
};

struct Route {
  Endpoint endpoint = Endpoint::kUnknown;
  std::string name;       // repository name, not yet validated
  std::string reference;  // tag or digest, upload id, or digest; not validated
};

// Maps a request path (no query string, already percent-decoded) to an
// endpoint. Names can contain '/', so the path is split at the last
// "/manifests/", "/blobs/", "/tags/list" or "/referrers/" component.
Route parse_route(std::string_view path);

// A decoded query string. Keys may repeat; `get` returns the first value.
class Query {
 public:
  Query() = default;
  // Parses "a=1&b=x%2Fy&c" (percent-decoding keys and values, '+' as space).
  static Query parse(std::string_view raw);
  std::optional<std::string> get(std::string_view key) const;
  // Every value of `key`, in the order given.
  std::vector<std::string> get_all(std::string_view key) const;
  bool has(std::string_view key) const;
  void erase(std::string_view key);

 private:
  std::multimap<std::string, std::string, std::less<>> values_;
};

// Splits "path?query" into its two parts and percent-decodes the path.
// nullopt for a malformed percent escape or a path with NUL.
struct Target {
  std::string path;
  std::string raw_query;
};
std::optional<Target> split_target(std::string_view target);

// Percent-encodes a query value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

}  // namespace drydock::registry
