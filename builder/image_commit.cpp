#include "builder/image_commit.hpp"

#include <nlohmann/json.hpp>

namespace drydock::builder {

namespace {

using nlohmann::json;

json descriptor(std::string_view media_type, const storage::Digest& d, std::uint64_t size) {
  return json{{"mediaType", media_type}, {"digest", d.str()}, {"size", size}};
}

// Config and layers, linked in one transaction (all or none).
storage::Result<void> link_all(storage::MetadataStore& meta, std::string_view repo,
                               const storage::BlobInfo& config,
                               std::span<const LayerBlob> layers) {
  std::vector<storage::BlobInfo> blobs{config};
  for (const auto& l : layers) blobs.push_back(storage::BlobInfo{l.digest, l.size});
  return meta.link_blobs(repo, blobs);
}

}  // namespace

std::string image_manifest_json(std::string_view config_json, const storage::Digest& config,
                                std::span<const LayerBlob> layers) {
  json list = json::array();
  for (const auto& l : layers) list.push_back(descriptor(l.media_type, l.digest, l.size));
  json m{{"schemaVersion", 2},
         {"mediaType", kOciManifestType},
         {"config", descriptor(kOciConfigType, config, config_json.size())},
         {"layers", std::move(list)}};
  return m.dump();
}

storage::Result<std::optional<storage::QuotaRefusal>> check_image_quota(
    const storage::MetadataStore& meta, const ImageConfig& config,
    std::span<const LayerBlob> layers, std::span<const ImageTarget> targets) {
  // The config and manifest bytes are deterministic: their digests and
  // sizes without storing them.
  std::string config_json = to_json(config);
  storage::Digest config_digest = storage::digest_of(config_json);
  std::string manifest_json = image_manifest_json(config_json, config_digest, layers);
  std::vector<storage::BlobInfo> blobs{{config_digest, config_json.size()},
                                       {storage::digest_of(manifest_json), manifest_json.size()}};
  for (const auto& l : layers) blobs.push_back(storage::BlobInfo{l.digest, l.size});
  for (const auto& t : targets) {
    auto refused = meta.quota_check(t.repository, blobs);
    if (!refused || *refused) return refused;
  }
  return std::optional<storage::QuotaRefusal>();
}

storage::Result<CommittedImage> commit_image(storage::BlobStore& blobs,
                                             storage::MetadataStore& meta,
                                             const ImageConfig& config,
                                             std::span<const LayerBlob> layers,
                                             std::span<const ImageTarget> targets,
                                             std::int64_t now) {
  for (const auto& l : layers) {
    auto info = blobs.stat(l.digest);
    if (!info) return std::unexpected(info.error());
    if (info->size != l.size) return std::unexpected(storage::StorageError::kSizeMismatch);
  }
  if (!meta.quotas().empty()) {
    auto refused = check_image_quota(meta, config, layers, targets);
    if (!refused) return std::unexpected(refused.error());
    if (*refused) return std::unexpected(storage::StorageError::kQuotaExceeded);
  }
  std::string config_json = to_json(config);
  auto config_info = blobs.put(config_json, storage::digest_of(config_json));
  if (!config_info) return std::unexpected(config_info.error());
  CommittedImage out;
  out.config = config_info->digest;
  out.manifest_json = image_manifest_json(config_json, out.config, layers);
  out.manifest_size = out.manifest_json.size();
  auto stored = blobs.put(out.manifest_json, storage::digest_of(out.manifest_json));
  if (!stored) return std::unexpected(stored.error());
  out.manifest = stored->digest;
  std::vector<storage::ManifestRef> refs{{out.config, storage::RefKind::kBlob}};
  for (const auto& l : layers) refs.push_back({l.digest, storage::RefKind::kBlob});
  // An immutable tag refuses the whole commit, before any tag moves.
  for (const auto& t : targets) {
    if (t.tag.empty()) continue;
    auto rule = meta.immutable_move(t.repository, t.tag, out.manifest);
    if (!rule) return std::unexpected(rule.error());
    if (*rule) return std::unexpected(storage::StorageError::kImmutable);
  }
  for (const auto& t : targets) {
    if (auto linked = link_all(meta, t.repository, *config_info, layers); !linked) {
      return std::unexpected(linked.error());
    }
    storage::ManifestRecord rec{t.repository, out.manifest, kOciManifestType, out.manifest_size,
                                std::nullopt, kOciConfigType, "{}", now};
    std::optional<std::string_view> tag;
    if (!t.tag.empty()) tag = t.tag;
    auto put = meta.put_manifest(rec, refs, tag);
    if (!put) return std::unexpected(put.error());
    if (!put->missing.empty()) return std::unexpected(storage::StorageError::kMissingReference);
    if (put->immutable_rule) return std::unexpected(storage::StorageError::kImmutable);
    if (put->quota) return std::unexpected(storage::StorageError::kQuotaExceeded);
  }
  return out;
}

}  // namespace drydock::builder
