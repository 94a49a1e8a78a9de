#pragma once

// Distribution-protocol helpers for the process tests, over the blocking
// test client: push blobs (monolithic or chunked) and manifests, pull and
// verify them, and audit a whole store (over HTTP, on disk, and in the
// metadata database) for the invariants a crash must not break.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/server/http_client.hpp"

namespace drydock::testing {

inline constexpr std::string_view kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfigType = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerType = "application/vnd.oci.image.layer.v1.tar+gzip";

// The server answered, but not what the protocol says it should: unlike an
// HttpError (connection gone), this is a finding even in a crash test.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BlobRef {
  std::string digest;
  std::uint64_t size = 0;
};

// A manifest pushed and acknowledged (201) under `tag`.
struct PushedManifest {
  std::string repo;
  std::string tag;
  std::string digest;
  std::string body;
  std::vector<BlobRef> blobs;  // config first, then layers
};

// An upload Location with "digest=<d>" appended (it may already carry a query).
std::string with_digest(std::string_view location, std::string_view digest);

// POST ?digest= with the whole body; 201 expected.
BlobRef push_blob_monolithic(Client& c, std::string_view repo, std::string_view data);
// POST, then PATCHes of `chunk` bytes with Content-Range (each 202 with the
// right Range), then PUT ?digest=; 201 expected.
BlobRef push_blob_chunked(Client& c, std::string_view repo, std::string_view data,
                          std::size_t chunk);
// An OCI image manifest over `config` and `layers`.
std::string image_manifest(const BlobRef& config, const std::vector<BlobRef>& layers);
// PUT /manifests/<tag>; 201 with the right Docker-Content-Digest expected.
std::string push_manifest(Client& c, std::string_view repo, std::string_view tag,
                          std::string_view body);

// GET /blobs/<digest>: 200 and the body hashes to the digest with that size.
// Returns "" if fine, else what is wrong.
std::string check_blob(Client& c, std::string_view repo, const BlobRef& blob);
// GET /manifests/<ref>: the exact bytes and digest pushed, and every blob it
// references pullable and intact. "" if fine.
std::string check_pull(Client& c, const PushedManifest& m, std::string_view ref);

// Walks /v2/_catalog and every tags/list: each tagged manifest must be
// served with a matching digest and each blob it references must be served
// intact. Returns the problems found (empty: consistent); counts in `tags`.
std::vector<std::string> audit_over_http(Client& c, std::size_t& tags);

// Every file under DATA/blobs is DATA/blobs/<alg>/<2 hex>/<hex> and hashes
// to its own name: no half-written or temp file became visible.
std::vector<std::string> audit_blob_files(const std::filesystem::path& data, std::size_t& files);

// Opens DATA/metadata.db read-only: integrity and foreign keys hold, and
// every manifest, manifest->blob reference and repository blob link points
// at a blob file that exists (with the recorded size where there is one).
std::vector<std::string> audit_metadata(const std::filesystem::path& data);

// "a; b; c" for failure messages (the first `max` items).
std::string join(const std::vector<std::string>& items, std::size_t max = 20);

}  // namespace drydock::testing
