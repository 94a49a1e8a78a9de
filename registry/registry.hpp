#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "registry/reply.hpp"
#include "registry/route.hpp"
#include "storage/blob_store.hpp"
#include "storage/digest.hpp"
#include "storage/metadata_store.hpp"
#include "storage/upload_store.hpp"

namespace drydock::registry {

struct RegistryOptions {
  std::size_t max_manifest_bytes = 4 * 1024 * 1024;
  std::uint64_t chunk_min_length = 0;  // advertised when > 0
  std::size_t manifest_cache_bytes = 32 * 1024 * 1024;
};

// The request facts the protocol needs, extracted by the transport.
struct RequestInfo {
  std::string_view content_type;
  std::string_view content_range;
  std::string_view accept;  // all Accept headers joined with ','
  std::string_view range;
  std::string_view if_none_match;
  std::optional<std::uint64_t> content_length;  // nullopt: chunked or absent
};

// A request body the transport must stream into an upload session, then hand
// back to finish_upload_write(). Produced by the begin_* calls.
struct UploadWrite {
  enum class Then { kAccept, kComplete };  // PATCH: 202; POST/PUT with digest: 201
  std::string repository;
  std::string id;
  std::uint64_t start = 0;                // the session's size when the body began
  std::uint64_t offset = 0;               // where the next byte goes
  std::optional<std::uint64_t> expected;  // bytes the body must carry, if known
  Then then = Then::kAccept;
  storage::Digest digest;  // for kComplete
  std::uint64_t quota_checked = 0;  // the offset the namespace quota was last checked at
};

using UploadStep = std::variant<Reply, UploadWrite>;

// The OCI distribution API (spec v1.1) over the storage layer. Synchronous and
// transport-neutral; every method validates names, references and digests
// and answers with the spec's status codes and error JSON. Thread-safe.
// Methods marked (blocking) may fsync or write SQLite: run them off the
// network threads.
class Registry {
 public:
  Registry(storage::BlobStore& blobs, storage::MetadataStore& meta, storage::UploadStore& uploads,
           RegistryOptions options);
  ~Registry();

  // GET /v2/
  Reply base() const;
  // GET /v2/_catalog?n=&last=. With `visible`, lists only the repositories
  // it accepts (the caller's pull rights), paginated over that filtered list.
  using Visible = std::function<bool(std::string_view repository)>;
  Reply catalog(const Query& q, const Visible& visible = {}) const;
  // GET /usage[?namespace=NS]: bytes held per namespace (with its limit) and
  // per repository, as JSON. With `visible`, only the repositories it
  // accepts, and the namespaces of those.
  Reply usage(const Query& q, const Visible& visible = {}) const;
  // GET /v2/<name>/tags/list?n=&last=
  Reply tags(std::string_view name, const Query& q) const;
  // GET|HEAD /v2/<name>/manifests/<ref>
  Reply get_manifest(std::string_view name, std::string_view ref, const RequestInfo& r,
                     bool head) const;
  // PUT /v2/<name>/manifests/<ref> (blocking)
  Reply put_manifest(std::string_view name, std::string_view ref, const RequestInfo& r,
                     std::string_view body);
  // DELETE /v2/<name>/manifests/<ref> (blocking)
  Reply delete_manifest(std::string_view name, std::string_view ref);
  // GET|HEAD /v2/<name>/blobs/<digest>
  Reply get_blob(std::string_view name, std::string_view digest, const RequestInfo& r,
                 bool head) const;
  // DELETE /v2/<name>/blobs/<digest> (blocking): unlinks from the repository.
  Reply delete_blob(std::string_view name, std::string_view digest);
  // GET /v2/<name>/referrers/<digest>?artifactType=
  Reply referrers(std::string_view name, std::string_view digest, const Query& q) const;

  // POST /v2/<name>/blobs/uploads/[?digest=|?mount=&from=] (blocking)
  UploadStep begin_post(std::string_view name, const Query& q, const RequestInfo& r);
  // PATCH /v2/<name>/blobs/uploads/<id>
  UploadStep begin_patch(std::string_view name, std::string_view id, const RequestInfo& r);
  // PUT /v2/<name>/blobs/uploads/<id>?digest=
  UploadStep begin_put(std::string_view name, std::string_view id, const Query& q,
                       const RequestInfo& r);
  // Appends the next piece of a body (blocking). An error reply ends the
  // request; the transport then closes the connection.
  std::optional<Reply> write_upload(UploadWrite& w, std::span<const std::byte> bytes);
  // After the whole body was written (blocking). A body whose length differs
  // from its Content-Range is cut back off the session and refused (416).
  Reply finish_upload_write(const UploadWrite& w);
  // After a body that ended early (client gone): what arrived stays, so the
  // client can resume from the status call; the session's file is closed.
  void abandon_upload_write(const UploadWrite& w);
  std::size_t max_manifest_bytes() const { return options_.max_manifest_bytes; }
  // 413 SIZE_INVALID for a manifest over max_manifest_bytes; the transport
  // sends it without reading such a body.
  static Reply manifest_too_large();
  // GET /v2/<name>/blobs/uploads/<id>
  Reply upload_status(std::string_view name, std::string_view id) const;
  // DELETE /v2/<name>/blobs/uploads/<id> (blocking)
  Reply cancel_upload(std::string_view name, std::string_view id);

 private:
  class ManifestCache;
  std::optional<Reply> check_name(std::string_view name) const;
  std::optional<Reply> check_upload(std::string_view name, std::string_view id,
                                    storage::UploadStatus& out) const;
  Reply complete_upload(const UploadWrite& w);
  // 403 if a blob of `size` bytes would take `name`'s namespace over its
  // quota (unless the namespace holds `digest` already).
  std::optional<Reply> quota_precheck(std::string_view name, const storage::Digest& digest,
                                      std::uint64_t size) const;
  // 403 if the session, `size` bytes long, can no longer become a blob the
  // namespace has room for (quota_precheck once the digest is known).
  std::optional<Reply> upload_quota_check(const UploadWrite& w, std::uint64_t size) const;
  UploadStep continue_upload(std::string_view name, std::string_view id, const RequestInfo& r,
                             UploadWrite::Then then, storage::Digest digest);
  std::optional<Reply> try_mount(std::string_view name, const Query& q);
  Reply manifest_reply(const storage::ManifestRecord& m, const RequestInfo& r, bool head) const;
  std::shared_ptr<const std::string> cached_manifest(const storage::Digest& d) const;
  void remember_manifest(const storage::Digest& d, std::shared_ptr<const std::string> b) const;

  storage::BlobStore& blobs_;
  storage::MetadataStore& meta_;
  storage::UploadStore& uploads_;
  RegistryOptions options_;
  std::unique_ptr<ManifestCache> cache_;
};

}  // namespace drydock::registry
