#include "registry/registry.hpp"

#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "registry/manifest.hpp"
#include "registry/pagination.hpp"
#include "registry/reference.hpp"
#include "registry/registry_internal.hpp"

namespace drydock::registry {

using nlohmann::json;

// Manifest bytes by digest. Content-addressed, so entries never go stale;
// bounded by total bytes, least recently used evicted first.
class Registry::ManifestCache {
 public:
  explicit ManifestCache(std::size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<const std::string> get(const std::string& digest) {
    std::lock_guard lock(mu_);
    auto it = index_.find(digest);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }

  void put(const std::string& digest, std::shared_ptr<const std::string> bytes) {
    if (bytes->size() > capacity_ / 4) return;
    std::lock_guard lock(mu_);
    if (index_.contains(digest)) return;
    used_ += bytes->size();
    order_.emplace_front(digest, std::move(bytes));
    index_[digest] = order_.begin();
    while (used_ > capacity_ && !order_.empty()) {
      used_ -= order_.back().second->size();
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const std::string>>;
  std::mutex mu_;
  std::size_t capacity_;
  std::size_t used_ = 0;
  std::list<Entry> order_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

Registry::Registry(storage::BlobStore& blobs, storage::MetadataStore& meta,
                   storage::UploadStore& uploads, RegistryOptions options)
    : blobs_(blobs),
      meta_(meta),
      uploads_(uploads),
      options_(options),
      cache_(std::make_unique<ManifestCache>(options.manifest_cache_bytes)) {}

Registry::~Registry() = default;

Reply storage_failure(storage::StorageError e) {
  return error_reply(ErrorCode::kInternal,
                     std::string("storage: ") + std::string(storage::to_string(e)));
}

std::optional<Reply> Registry::check_name(std::string_view name) const {
  if (valid_repository_name(name)) return std::nullopt;
  return error_reply(ErrorCode::kNameInvalid, "invalid repository name",
                     json_text(json{{"name", name}}));
}

Reply Registry::base() const {
  Reply r;
  r.body = "{}";
  r.header("Content-Type", "application/json");
  return r;
}

// Adds the RFC 8288 Link header when the page is full and more may follow
// (distribution-spec "Listing Tags": the Link header carries n and last).
static void paginate(Reply& r, std::string_view path, const Page& page,
                     std::vector<std::string>& items) {
  if (items.size() <= page.limit) return;
  items.resize(page.limit);
  r.header("Link", next_link(path, page.limit, items.back()));
}

Reply Registry::catalog(const Query& q, const Visible& visible) const {
  auto page = parse_page(q);
  if (!page) return error_reply(page.error());
  std::vector<std::string> repos;
  // One more than the page, so that paginate() knows whether to link on.
  // Filtered out names are skipped batch by batch.
  const std::size_t want = page->limit + 1;
  std::string after = page->last;
  while (page->limit > 0 && repos.size() < want) {
    std::size_t batch = visible ? std::max<std::size_t>(want, 256) : want;
    auto listed = meta_.list_repositories(after, batch);
    if (!listed) return storage_failure(listed.error());
    for (auto& name : *listed) {
      if (repos.size() < want && (!visible || visible(name))) repos.push_back(name);
    }
    if (listed->size() < batch) break;
    after = listed->back();
  }
  Reply r;
  paginate(r, "/v2/_catalog", *page, repos);
  r.body = json_text(json{{"repositories", repos}});
  r.header("Content-Type", "application/json");
  return r;
}

Reply Registry::tags(std::string_view name, const Query& q) const {
  if (auto bad = check_name(name)) return std::move(*bad);
  auto page = parse_page(q);
  if (!page) return error_reply(page.error());
  auto exists = meta_.repository_exists(name);
  if (!exists) return storage_failure(exists.error());
  if (!*exists) {
    return error_reply(ErrorCode::kNameUnknown, "repository name not known to registry",
                       json_text(json{{"name", name}}));
  }
  std::vector<std::string> tags;
  if (page->limit > 0) {
    auto listed = meta_.list_tags(name, page->last, page->limit + 1);
    if (!listed) return storage_failure(listed.error());
    tags = std::move(*listed);
  }
  Reply r;
  paginate(r, "/v2/" + std::string(name) + "/tags/list", *page, tags);
  r.body = json_text(json{{"name", name}, {"tags", tags}});
  r.header("Content-Type", "application/json");
  return r;
}

static json referrer_descriptor(const storage::ManifestRecord& m) {
  json d{{"mediaType", m.media_type}, {"digest", m.digest.str()}, {"size", m.size}};
  if (!m.artifact_type.empty()) d["artifactType"] = m.artifact_type;
  json annotations = json::parse(m.annotations_json, nullptr, false);
  if (annotations.is_object() && !annotations.empty()) d["annotations"] = annotations;
  return d;
}

Reply Registry::referrers(std::string_view name, std::string_view digest, const Query& q) const {
  if (auto bad = check_name(name)) return std::move(*bad);
  auto subject = parse_client_digest(digest);
  if (!subject) return error_reply(subject.error());
  auto found = meta_.referrers(name, *subject);
  if (!found) return storage_failure(found.error());
  auto filter = q.get("artifactType");
  json manifests = json::array();
  for (const auto& m : *found) {
    if (filter && m.artifact_type != *filter) continue;
    manifests.push_back(referrer_descriptor(m));
  }
  // distribution-spec "Listing Referrers": always a 200 image index, empty
  // when nothing refers to the digest; filters applied are reported.
  Reply r;
  r.body =
      json_text(json{{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", manifests}});
  r.header("Content-Type", std::string(kOciIndex));
  if (filter) r.header("OCI-Filters-Applied", "artifactType");
  return r;
}

std::shared_ptr<const std::string> Registry::cached_manifest(const storage::Digest& d) const {
  return cache_->get(d.str());
}

void Registry::remember_manifest(const storage::Digest& d,
                                 std::shared_ptr<const std::string> bytes) const {
  cache_->put(d.str(), std::move(bytes));
}

}  // namespace drydock::registry
