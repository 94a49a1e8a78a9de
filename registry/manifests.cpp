// Manifest endpoints: GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>.

#include <nlohmann/json.hpp>

#include "registry/manifest.hpp"
#include "registry/reference.hpp"
#include "registry/registry.hpp"
#include "registry/registry_internal.hpp"
#include "storage/clock.hpp"

namespace drydock::registry {

using nlohmann::json;

namespace {

// A manifest reference is a digest if it contains ':' (tags cannot).
bool is_digest_reference(std::string_view ref) { return ref.find(':') != std::string_view::npos; }

Reply manifest_unknown(std::string_view ref) {
  return error_reply(ErrorCode::kManifestUnknown, "manifest unknown",
                     json_text(json{{"reference", ref}}));
}

// Resolves a tag or digest to a manifest row; on failure the reply to send.
std::expected<storage::ManifestRecord, Reply> resolve(const storage::MetadataStore& meta,
                                                      std::string_view name, std::string_view ref) {
  storage::Digest digest;
  if (is_digest_reference(ref)) {
    auto d = parse_client_digest(ref);
    if (!d) return std::unexpected(error_reply(d.error()));
    digest = *d;
  } else {
    // A reference that is no valid tag names no manifest: 404, as the spec's
    // endpoint table (end-3) and its conformance suite expect for reads.
    if (!valid_tag(ref)) return std::unexpected(manifest_unknown(ref));
    auto d = meta.resolve_tag(name, ref);
    if (!d) return std::unexpected(storage_failure(d.error()));
    if (!*d) return std::unexpected(manifest_unknown(ref));
    digest = **d;
  }
  auto m = meta.get_manifest(name, digest);
  if (!m) return std::unexpected(storage_failure(m.error()));
  if (!*m) return std::unexpected(manifest_unknown(ref));
  return std::move(**m);
}

}  // namespace

Reply Registry::manifest_reply(const storage::ManifestRecord& m, const RequestInfo& r,
                               bool head) const {
  // Content negotiation (distribution-spec "Pulling manifests"): a client
  // that cannot parse the stored type gets 404, as distribution answers,
  // rather than bytes it would misread.
  if (!accepts(r.accept, m.media_type)) {
    return error_reply(ErrorCode::kManifestUnknown,
                       "manifest media type " + m.media_type + " not in Accept header");
  }
  Reply reply;
  std::string digest = m.digest.str();
  reply.header("Content-Type", m.media_type);
  reply.header("Docker-Content-Digest", digest);
  reply.header("ETag", "\"" + digest + "\"");
  if (head) {
    reply.content_length = m.size;
    return reply;
  }
  auto bytes = cached_manifest(m.digest);
  if (!bytes) {
    auto read = blobs_.read_all(m.digest, options_.max_manifest_bytes);
    if (!read) return storage_failure(read.error());
    bytes = std::make_shared<const std::string>(std::move(*read));
    remember_manifest(m.digest, bytes);
  }
  reply.body = *bytes;
  return reply;
}

Reply Registry::get_manifest(std::string_view name, std::string_view ref, const RequestInfo& r,
                             bool head) const {
  if (auto bad = check_name(name)) return std::move(*bad);
  auto m = resolve(meta_, name, ref);
  if (!m) return std::move(m.error());
  return manifest_reply(*m, r, head);
}

namespace {

// The reference a manifest is pushed under: a tag, or a digest that must be
// the content's own digest in the same algorithm.
struct PushTarget {
  std::optional<std::string_view> tag;
  storage::Digest digest;
};

std::expected<PushTarget, Reply> push_target(std::string_view ref, std::string_view body) {
  PushTarget t;
  if (!is_digest_reference(ref)) {
    if (!valid_tag(ref)) {
      return std::unexpected(
          error_reply(ErrorCode::kManifestInvalid, "invalid tag", json_text(json{{"tag", ref}})));
    }
    t.tag = ref;
    t.digest = storage::digest_of(body);
    return t;
  }
  auto d = parse_client_digest(ref);
  if (!d) return std::unexpected(error_reply(d.error()));
  t.digest = storage::digest_of(body, d->algorithm);
  if (t.digest != *d) {
    return std::unexpected(
        error_reply(ErrorCode::kDigestInvalid, "manifest digest does not match its content",
                    json_text(json{{"expected", ref}, {"actual", t.digest.str()}})));
  }
  return t;
}

Reply missing_references(const std::vector<storage::Digest>& missing) {
  json list = json::array();
  for (const auto& d : missing) list.push_back(d.str());
  return error_reply(ErrorCode::kManifestBlobUnknown,
                     "manifest references blobs or manifests unknown to the repository",
                     json_text(json{{"missing", list}}));
}

}  // namespace

Reply Registry::manifest_too_large() {
  return error_reply(ErrorCode::kManifestTooLarge, "manifest exceeds the size limit");
}

Reply Registry::put_manifest(std::string_view name, std::string_view ref, const RequestInfo& r,
                             std::string_view body) {
  if (auto bad = check_name(name)) return std::move(*bad);
  if (body.size() > options_.max_manifest_bytes) {
    return manifest_too_large();
  }
  auto target = push_target(ref, body);
  if (!target) return std::move(target.error());
  auto parsed = parse_manifest(body, r.content_type);
  if (!parsed) return error_reply(parsed.error());

  storage::BlobLease lease = blobs_.hold(target->digest);  // until its rows are committed
  // Refused before the manifest's bytes are stored when they cannot fit;
  // put_manifest checks again in its transaction.
  if (auto refused = quota_precheck(name, target->digest, body.size())) return std::move(*refused);
  auto stored = blobs_.put(body, target->digest);
  if (!stored) return storage_failure(stored.error());
  storage::ManifestRecord rec{
      std::string(name), target->digest,        parsed->media_type,       body.size(),
      parsed->subject,   parsed->artifact_type, parsed->annotations_json, storage::unix_now()};
  auto put = meta_.put_manifest(rec, parsed->refs, target->tag);
  if (!put) return storage_failure(put.error());
  if (!put->missing.empty()) return missing_references(put->missing);
  if (put->quota) return quota_exceeded(*put->quota);
  if (put->immutable_rule) {
    return error_reply(ErrorCode::kDenied, "tag " + std::string(*target->tag) + " of " +
                                               std::string(name) + " is immutable (" +
                                               *put->immutable_rule +
                                               "): it cannot be overwritten; push a new tag");
  }

  std::string digest = target->digest.str();
  Reply reply;
  reply.status = 201;
  reply.header("Location", "/v2/" + std::string(name) + "/manifests/" + digest);
  reply.header("Docker-Content-Digest", digest);
  if (parsed->subject) reply.header("OCI-Subject", parsed->subject->str());
  return reply;
}

Reply Registry::delete_manifest(std::string_view name, std::string_view ref) {
  if (auto bad = check_name(name)) return std::move(*bad);
  storage::Result<bool> removed;
  if (is_digest_reference(ref)) {
    auto d = parse_client_digest(ref);
    if (!d) return error_reply(d.error());
    removed = meta_.delete_manifest(name, *d);
  } else {
    if (!valid_tag(ref)) return error_reply(ErrorCode::kManifestInvalid, "invalid tag");
    // Deleting by tag removes only the tag (distribution-spec "Deleting
    // tags"); the manifest stays reachable by digest.
    removed = meta_.delete_tag(name, ref);
  }
  if (!removed && removed.error() == storage::StorageError::kImmutable) {
    return error_reply(ErrorCode::kDenied,
                       is_digest_reference(ref)
                           ? "an immutable tag of " + std::string(name) + " points at " +
                                 std::string(ref) + ": it cannot be deleted"
                           : "tag " + std::string(ref) + " of " + std::string(name) +
                                 " is immutable: it cannot be deleted");
  }
  if (!removed) return storage_failure(removed.error());
  if (!*removed) return manifest_unknown(ref);
  Reply reply;
  reply.status = 202;
  return reply;
}

}  // namespace drydock::registry
