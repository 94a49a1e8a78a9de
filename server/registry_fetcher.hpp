#pragma once
// The registry client behind builder::ImageFetcher: pulls manifests and blobs
// of base images from other registries over HTTP(S), with Beast's
// synchronous API on the build's worker thread (one connection per request;
// a pull makes a handful). Beast and Asio stay in the .cpp.
//
// Authentication (distribution-spec "Authentication", Docker token spec):
// a request is sent as is (or with the token obtained earlier for that
// registry and repository); a 401 with `WWW-Authenticate: Bearer
// realm,service` makes the client GET the realm with the configured
// credentials as Basic auth (anonymously without) for a pull token, then
// retry; a `Basic` challenge is answered with the credentials themselves.
// Redirects (blob downloads from object storage) are followed up to 5 times,
// without the Authorization header once the host changes.
//
// Transport: https, verified against the system CAs plus the registry's
// `ca_file`; plain http only to loopback hosts or registries marked
// `insecure` (for a registry named without a mirror URL, http is then used
// instead of https). Every socket read and write has `timeout`.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "builder/image_fetcher.hpp"
#include "config/config.hpp"

namespace drydock::server {

struct HttpReply;  // registry_fetcher.cpp

struct RegistryFetcherOptions {
  // Per "host[:port]" as contacted (config builder.registries).
  std::map<std::string, config::UpstreamRegistryConfig> registries;
  std::chrono::seconds timeout{60};
};

class HttpImageFetcher final : public builder::ImageFetcher {
 public:
  explicit HttpImageFetcher(RegistryFetcherOptions options);
  ~HttpImageFetcher() override;

  std::expected<builder::FetchedManifest, std::string> fetch_manifest(
      const builder::UpstreamImage& image, std::string_view reference, std::size_t max_bytes,
      std::stop_token cancel) override;
  std::expected<void, std::string> fetch_blob(const builder::UpstreamImage& image,
                                              const storage::Digest& digest,
                                              const builder::BlobSink& sink,
                                              std::stop_token cancel) override;

 private:
  struct Call;
  std::expected<HttpReply, std::string> get(Call& call);
  std::expected<std::string, std::string> authorize(Call& call, const HttpReply& challenge);
  const config::UpstreamRegistryConfig* registry_config(const std::string& authority) const;

  RegistryFetcherOptions options_;
  std::mutex mu_;
  // "authority repository" -> Authorization value that worked last.
  std::map<std::string, std::string> auth_cache_;
};

}  // namespace drydock::server
