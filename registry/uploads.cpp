// Upload endpoints: POST /v2/<name>/blobs/uploads/ and
// GET/PATCH/PUT/DELETE /v2/<name>/blobs/uploads/<id>
// (distribution-spec "Pushing blobs", monolithic and chunked).

#include <nlohmann/json.hpp>

#include "registry/http_ranges.hpp"
#include "registry/reference.hpp"
#include "registry/registry.hpp"
#include "registry/registry_internal.hpp"

namespace drydock::registry {

using nlohmann::json;

namespace {

// A body streamed without a declared length is checked against the
// namespace's quota each time this much more of it has arrived.
constexpr std::uint64_t kQuotaCheckBytes = 16u << 20;

Reply upload_unknown(std::string_view id) {
  return error_reply(ErrorCode::kBlobUploadUnknown, "blob upload unknown to registry",
                     json_text(json{{"id", id}}));
}

void session_headers(Reply& r, std::string_view name, std::string_view id, std::uint64_t size) {
  r.header("Location", upload_location(name, id));
  r.header("Range", upload_range(size));
  r.header("Docker-Upload-UUID", std::string(id));
}

// 416 for a chunk that does not start where the upload ends; the headers
// tell the client where to resume (distribution-spec "Pushing a blob in
// chunks": out-of-order chunks MUST be rejected with 416).
Reply out_of_order(std::string_view name, std::string_view id, std::uint64_t size) {
  Reply r = error_reply(ErrorCode::kRangeInvalid, "chunk does not start at the end of the upload",
                        json_text(json{{"expected_offset", size}}));
  session_headers(r, name, id, size);
  return r;
}

// The body length a chunk must have: from Content-Range when given (it must
// start at the session's end and agree with Content-Length), else from
// Content-Length, else unknown (chunked, streamed like docker's PATCH).
// nullopt inside: no constraint; outer nullopt: the range is unacceptable.
std::optional<std::optional<std::uint64_t>> expected_body(const RequestInfo& r,
                                                          std::uint64_t size) {
  if (r.content_range.empty()) return std::optional<std::uint64_t>(r.content_length);
  auto range = parse_content_range(r.content_range);
  if (!range || range->first != size) return std::nullopt;
  if (r.content_length && *r.content_length != range->length()) return std::nullopt;
  return std::optional<std::uint64_t>(range->length());
}

Reply from_storage(storage::StorageError e, const UploadWrite& w) {
  switch (e) {
    case storage::StorageError::kInvalidRange:
      return error_reply(ErrorCode::kRangeInvalid, "concurrent write to the same upload");
    case storage::StorageError::kNotFound:
      return upload_unknown(w.id);
    default:
      return storage_failure(e);
  }
}

}  // namespace

std::optional<Reply> Registry::check_upload(std::string_view name, std::string_view id,
                                            storage::UploadStatus& out) const {
  if (auto bad = check_name(name)) return bad;
  auto status = uploads_.status(id);
  if (!status) {
    if (status.error() == storage::StorageError::kNotFound) return upload_unknown(id);
    return storage_failure(status.error());
  }
  // A session belongs to the repository it was started in.
  if (status->repository != name) return upload_unknown(id);
  out = std::move(*status);
  return std::nullopt;
}

// Cross-repository mount (distribution-spec "Mounting a blob from another
// repository"): succeeds only if the blob is linked in `from`; otherwise the
// caller falls back to an ordinary upload session.
std::optional<Reply> Registry::try_mount(std::string_view name, const Query& q) {
  auto from = q.get("from");
  if (!from || !valid_repository_name(*from)) return std::nullopt;
  auto digest = parse_client_digest(*q.get("mount"));
  if (!digest) return std::nullopt;
  storage::BlobLease lease = blobs_.hold(*digest);  // until the new link is committed
  auto size = meta_.linked_blob_size(*from, *digest);
  if (!size || !*size) return std::nullopt;
  storage::BlobInfo blob{*digest, **size};
  auto linked = meta_.link_blob(name, blob);
  if (!linked && linked.error() == storage::StorageError::kQuotaExceeded) {
    return quota_refused(meta_, name, std::span<const storage::BlobInfo>(&blob, 1));
  }
  if (!linked) return storage_failure(linked.error());
  Reply r;
  r.status = 201;
  r.header("Location", blob_location(name, digest->str()));
  r.header("Docker-Content-Digest", digest->str());
  return r;
}

UploadStep Registry::begin_post(std::string_view name, const Query& q, const RequestInfo& r) {
  if (auto bad = check_name(name)) return std::move(*bad);
  if (q.has("mount")) {
    if (auto mounted = try_mount(name, q)) return std::move(*mounted);
  }
  std::optional<storage::Digest> digest;
  if (auto text = q.get("digest")) {
    auto d = parse_client_digest(*text);
    if (!d) return error_reply(d.error());
    digest = *d;
  }
  // A monolithic upload declares its size: refuse before the body comes.
  if (digest && r.content_length) {
    if (auto refused = quota_precheck(name, *digest, *r.content_length)) return std::move(*refused);
  }
  auto session = uploads_.create(name);
  if (!session) return storage_failure(session.error());
  if (digest) {
    // Monolithic upload: the body is the whole blob.
    return UploadWrite{std::string(name),
                       session->id,
                       0,
                       0,
                       r.content_length,
                       UploadWrite::Then::kComplete,
                       *digest};
  }
  Reply reply;
  reply.status = 202;
  session_headers(reply, name, session->id, 0);
  if (options_.chunk_min_length > 0) {
    reply.header("OCI-Chunk-Min-Length", std::to_string(options_.chunk_min_length));
  }
  return reply;
}

UploadStep Registry::begin_patch(std::string_view name, std::string_view id, const RequestInfo& r) {
  return continue_upload(name, id, r, UploadWrite::Then::kAccept, {});
}

UploadStep Registry::begin_put(std::string_view name, std::string_view id, const Query& q,
                               const RequestInfo& r) {
  auto text = q.get("digest");
  if (!text) return error_reply(ErrorCode::kDigestInvalid, "digest parameter is required");
  auto digest = parse_client_digest(*text);
  if (!digest) return error_reply(digest.error());
  return continue_upload(name, id, r, UploadWrite::Then::kComplete, *digest);
}

// PATCH and PUT on a session: the body goes on where the session ends.
UploadStep Registry::continue_upload(std::string_view name, std::string_view id,
                                     const RequestInfo& r, UploadWrite::Then then,
                                     storage::Digest digest) {
  storage::UploadStatus status;
  if (auto bad = check_upload(name, id, status)) return std::move(*bad);
  auto expected = expected_body(r, status.size);
  if (!expected) return out_of_order(name, id, status.size);
  UploadWrite w{std::string(name), std::string(id), status.size, status.size, *expected, then,
                std::move(digest), status.size};
  // Refused before the body is read when the blob (what arrived plus what
  // the body declares) cannot fit: for the final PUT, the digest says
  // whether the namespace holds it already; for a PATCH, only a blob bigger
  // than all it holds is known not to.
  if (auto refused = upload_quota_check(w, status.size + expected->value_or(0))) {
    (void)uploads_.cancel(id);
    return std::move(*refused);
  }
  return w;
}

std::optional<Reply> Registry::write_upload(UploadWrite& w, std::span<const std::byte> bytes) {
  if (w.expected && w.offset - w.start + bytes.size() > *w.expected) {
    (void)uploads_.truncate(w.id, w.start);
    uploads_.release(w.id);
    return out_of_order(w.repository, w.id, w.start);
  }
  auto size = uploads_.append(w.id, w.offset, bytes);
  if (!size) return from_storage(size.error(), w);
  w.offset = *size;
  // A body of unknown length (chunked) is checked as it grows.
  if (w.offset - w.quota_checked >= kQuotaCheckBytes) {
    w.quota_checked = w.offset;
    if (auto refused = upload_quota_check(w, w.offset)) {
      (void)uploads_.cancel(w.id);
      return refused;
    }
  }
  return std::nullopt;
}

Reply Registry::finish_upload_write(const UploadWrite& w) {
  if (w.expected && w.offset - w.start != *w.expected) {
    // Possible only with a chunked body: Content-Length is enforced by HTTP.
    (void)uploads_.truncate(w.id, w.start);
    uploads_.release(w.id);
    return out_of_order(w.repository, w.id, w.start);
  }
  if (w.then == UploadWrite::Then::kComplete) return complete_upload(w);
  uploads_.release(w.id);
  Reply r;
  r.status = 202;
  session_headers(r, w.repository, w.id, w.offset);
  return r;
}

void Registry::abandon_upload_write(const UploadWrite& w) { uploads_.release(w.id); }

// A refused upload is cancelled: its bytes could only ever be refused again,
// and the client starts over (as docker does) once there is room.
std::optional<Reply> Registry::quota_precheck(std::string_view name, const storage::Digest& digest,
                                              std::uint64_t size) const {
  storage::BlobInfo blob{digest, size};
  auto refused = meta_.quota_check(name, std::span<const storage::BlobInfo>(&blob, 1));
  if (!refused) return storage_failure(refused.error());
  if (*refused) return quota_exceeded(**refused);
  return std::nullopt;
}

std::optional<Reply> Registry::upload_quota_check(const UploadWrite& w, std::uint64_t size) const {
  if (w.then == UploadWrite::Then::kComplete) return quota_precheck(w.repository, w.digest, size);
  auto refused = meta_.quota_check_upload(w.repository, size);
  if (!refused) return storage_failure(refused.error());
  if (*refused) return quota_exceeded(**refused);
  return std::nullopt;
}

Reply Registry::complete_upload(const UploadWrite& w) {
  storage::BlobLease lease = blobs_.hold(w.digest);  // from publishing until linked
  // Checked again before the blob is published (the body may have been
  // chunked, and other pushes went on meanwhile).
  if (auto refused = quota_precheck(w.repository, w.digest, w.offset)) {
    (void)uploads_.cancel(w.id);
    return std::move(*refused);
  }
  auto blob = uploads_.complete(w.id, w.digest);
  if (!blob) {
    if (blob.error() == storage::StorageError::kDigestMismatch) {
      return error_reply(ErrorCode::kDigestInvalid, "uploaded content does not match digest",
                         json_text(json{{"digest", w.digest.str()}}));
    }
    return from_storage(blob.error(), w);
  }
  // The authoritative check: a refused blob stays in the store unlinked,
  // for GC to reclaim.
  auto linked = meta_.link_blob(w.repository, *blob);
  if (!linked && linked.error() == storage::StorageError::kQuotaExceeded) {
    return quota_refused(meta_, w.repository, std::span<const storage::BlobInfo>(&*blob, 1));
  }
  if (!linked) return storage_failure(linked.error());
  Reply r;
  r.status = 201;
  r.header("Location", blob_location(w.repository, blob->digest.str()));
  r.header("Docker-Content-Digest", blob->digest.str());
  return r;
}

Reply Registry::upload_status(std::string_view name, std::string_view id) const {
  storage::UploadStatus status;
  if (auto bad = check_upload(name, id, status)) return std::move(*bad);
  Reply r;
  r.status = 204;
  session_headers(r, name, id, status.size);
  return r;
}

Reply Registry::cancel_upload(std::string_view name, std::string_view id) {
  storage::UploadStatus status;
  if (auto bad = check_upload(name, id, status)) return std::move(*bad);
  auto cancelled = uploads_.cancel(id);
  if (!cancelled) return from_storage(cancelled.error(), UploadWrite{{}, std::string(id)});
  Reply r;
  r.status = 204;
  return r;
}

}  // namespace drydock::registry
