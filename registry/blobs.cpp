// Blob endpoints: GET/HEAD/DELETE /v2/<name>/blobs/<digest>.

#include <nlohmann/json.hpp>

#include "registry/http_ranges.hpp"
#include "registry/reference.hpp"
#include "registry/registry.hpp"
#include "registry/registry_internal.hpp"

namespace drydock::registry {

using nlohmann::json;

namespace {

Reply blob_unknown(std::string_view digest) {
  return error_reply(ErrorCode::kBlobUnknown, "blob unknown to registry",
                     json_text(json{{"digest", digest}}));
}

void blob_headers(Reply& r, const std::string& digest) {
  r.header("Content-Type", "application/octet-stream");
  r.header("Docker-Content-Digest", digest);
  r.header("ETag", "\"" + digest + "\"");
  r.header("Accept-Ranges", "bytes");
}

bool etag_matches(std::string_view if_none_match, std::string_view digest) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  return if_none_match.find(digest) != std::string_view::npos;
}

}  // namespace

Reply Registry::get_blob(std::string_view name, std::string_view digest_text, const RequestInfo& r,
                         bool head) const {
  if (auto bad = check_name(name)) return std::move(*bad);
  auto digest = parse_client_digest(digest_text);
  if (!digest) return error_reply(digest.error());
  // Visibility is per repository: knowing a digest grants nothing unless the
  // blob was pushed or mounted here (DESIGN.md "Storage model").
  auto size = meta_.linked_blob_size(name, *digest);
  if (!size) return storage_failure(size.error());
  if (!*size) return blob_unknown(digest_text);

  Reply reply;
  std::string d = digest->str();
  blob_headers(reply, d);
  if (etag_matches(r.if_none_match, d)) {
    reply.status = 304;
    return reply;
  }
  RangeRequest range = parse_range(r.range, **size);
  if (range.result == RangeResult::kUnsatisfiable) {
    Reply bad = error_reply(ErrorCode::kRangeInvalid, "requested range not satisfiable");
    bad.header("Content-Range", "bytes */" + std::to_string(**size));
    return bad;
  }
  ByteRange bytes{0, **size == 0 ? 0 : **size - 1};
  std::uint64_t length = **size;
  if (range.result == RangeResult::kSatisfiable) {
    reply.status = 206;
    bytes = range.range;
    length = bytes.length();
    reply.header("Content-Range", "bytes " + std::to_string(bytes.first) + "-" +
                                      std::to_string(bytes.last) + "/" + std::to_string(**size));
  }
  if (head) {
    reply.content_length = length;
    return reply;
  }
  auto fd = blobs_.open(*digest);
  if (!fd)
    return fd.error() == storage::StorageError::kNotFound ? blob_unknown(digest_text)
                                                          : storage_failure(fd.error());
  reply.blob = BlobBody{std::move(*fd), bytes.first, length};
  return reply;
}

Reply Registry::delete_blob(std::string_view name, std::string_view digest_text) {
  if (auto bad = check_name(name)) return std::move(*bad);
  auto digest = parse_client_digest(digest_text);
  if (!digest) return error_reply(digest.error());
  // Only the repository's link goes; the file is shared and is reclaimed by
  // garbage collection once nothing links it.
  auto removed = meta_.unlink_blob(name, *digest);
  if (!removed) return storage_failure(removed.error());
  if (!*removed) return blob_unknown(digest_text);
  Reply reply;
  reply.status = 202;
  return reply;
}

}  // namespace drydock::registry
