#pragma once
// What the builder needs from another registry to pull a base image: a
// manifest by tag or digest, and a blob streamed piece by piece. builder/
// knows nothing of sockets (DESIGN.md): the HTTP client, authentication
// (Docker token flow, Basic) and redirects live behind this interface, in
// server/ (HttpImageFetcher). Every digest is verified by the caller, never
// trusted from the fetcher.
#include <cstddef>
#include <expected>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "storage/digest.hpp"

namespace drydock::builder {

// Which repository of which registry.
struct UpstreamImage {
  std::string registry;    // as named in the reference: "docker.io", "127.0.0.1:5001"
  std::string endpoint;    // a mirror URL ("https://mirror.example.com"); empty: the registry
  std::string repository;  // "library/busybox"
};

struct FetchedManifest {
  std::string media_type;  // the response's Content-Type
  std::string bytes;
};

// Receives a blob's bytes in order; an error stops the transfer.
using BlobSink = std::function<std::expected<void, std::string>(std::string_view)>;

class ImageFetcher {
 public:
  virtual ~ImageFetcher() = default;

  // GET /v2/<repository>/manifests/<reference> accepting OCI and Docker
  // manifest and index types. Errors (unreachable, denied, not found, larger
  // than `max_bytes`) say which registry and image. Both calls give up soon
  // after `cancel` is triggered, even while waiting on the network.
  virtual std::expected<FetchedManifest, std::string> fetch_manifest(const UpstreamImage& image,
                                                                     std::string_view reference,
                                                                     std::size_t max_bytes,
                                                                     std::stop_token cancel) = 0;

  // GET /v2/<repository>/blobs/<digest>, following redirects, each piece of
  // the body handed to `sink` as it arrives.
  virtual std::expected<void, std::string> fetch_blob(const UpstreamImage& image,
                                                      const storage::Digest& digest,
                                                      const BlobSink& sink,
                                                      std::stop_token cancel) = 0;
};

}  // namespace drydock::builder
