#include "images/image_catalog.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace drydock::images {

namespace {

using nlohmann::json;
using registry::Error;
using registry::ErrorCode;

constexpr std::size_t kPage = 1000;
constexpr std::size_t kMaxTags = 100000;

std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message), {}});
}

using Sizes = std::map<std::string, std::uint64_t>;  // digest -> bytes

// What the listing shows of one manifest.
struct Summary {
  std::string media_type;
  std::vector<std::string> platforms;
  std::string created;
  Sizes blobs;  // every blob it holds, itself included
};

void add_descriptor(Sizes& s, const json& d) {
  if (d.is_object() && d.value("digest", json()).is_string() &&
      d.value("size", json()).is_number_unsigned()) {
    s[d["digest"]] = d["size"].get<std::uint64_t>();
  }
}

// The summary of an image manifest (`m`), its config read for the platform.
void summarise_image(const storage::BlobStore& blobs, const StoredManifest& m, Summary& out) {
  const json& config = m.json.value("config", json::object());
  add_descriptor(out.blobs, config);
  for (const auto& l : m.json.value("layers", json::array())) add_descriptor(out.blobs, l);
  auto digest = storage::parse_digest(config.value("digest", ""));
  if (!digest) return;
  auto c = load_json_blob(blobs, *digest);
  if (!c || !c->is_object() || !c->contains("architecture")) return;  // an artifact
  out.platforms.push_back(platform_of(*c).str());
  if (out.created.empty()) out.created = c->value("created", "");
}

std::expected<Summary, Error> summarise(const storage::MetadataStore& meta,
                                        const storage::BlobStore& blobs, std::string_view repo,
                                        const storage::Digest& d) {
  auto m = load_manifest(meta, blobs, repo, d);
  if (!m) return std::unexpected(m.error());
  Summary out;
  out.media_type = m->record.media_type;
  out.blobs[d.str()] = m->record.size;
  if (!m->is_index()) {
    summarise_image(blobs, *m, out);
    return out;
  }
  for (const auto& entry : m->json.value("manifests", json::array())) {
    auto child_digest = storage::parse_digest(entry.value("digest", ""));
    if (!child_digest) continue;
    auto child = load_manifest(meta, blobs, repo, *child_digest);
    if (!child) continue;  // not stored here: nothing of it to count
    out.blobs[child_digest->str()] = child->record.size;
    if (child->is_index()) continue;
    Summary sub;
    summarise_image(blobs, *child, sub);
    out.blobs.insert(sub.blobs.begin(), sub.blobs.end());
    Platform p = platform_of(entry.value("platform", json::object()));
    if (p.os != "unknown" && !p.os.empty()) out.platforms.push_back(p.str());
    if (out.created.empty()) out.created = sub.created;
  }
  return out;
}

std::uint64_t total(const Sizes& s) {
  std::uint64_t n = 0;
  for (const auto& [d, size] : s) n += size;
  return n;
}

std::expected<std::vector<std::string>, Error> all_tags(const storage::MetadataStore& meta,
                                                        std::string_view repo) {
  auto tags = meta.list_tags(repo, "", kMaxTags);
  if (!tags) return std::unexpected(storage_error(tags.error(), "listing tags"));
  return std::move(*tags);
}

std::expected<json, Error> list_repository(const storage::MetadataStore& meta,
                                           const storage::BlobStore& blobs, const std::string& repo,
                                           Sizes& everything) {
  auto tags = all_tags(meta, repo);
  if (!tags) return std::unexpected(tags.error());
  json rows = json::array();
  Sizes here;
  std::map<std::string, Summary> seen;
  for (const auto& tag : *tags) {
    auto d = meta.resolve_tag(repo, tag);
    if (!d) return std::unexpected(storage_error(d.error(), "resolving a tag"));
    if (!*d) continue;  // removed meanwhile
    auto it = seen.find((*d)->str());
    if (it == seen.end()) {
      auto s = summarise(meta, blobs, repo, **d);
      if (!s) continue;  // deleted meanwhile
      it = seen.emplace((*d)->str(), std::move(*s)).first;
    }
    const Summary& s = it->second;
    here.insert(s.blobs.begin(), s.blobs.end());
    rows.push_back({{"tag", tag},
                    {"digest", (*d)->str()},
                    {"mediaType", s.media_type},
                    {"platforms", s.platforms},
                    {"size", total(s.blobs)},
                    {"created", s.created}});
  }
  everything.insert(here.begin(), here.end());
  return json{{"name", repo}, {"size", total(here)}, {"tags", std::move(rows)}};
}

std::expected<std::vector<std::string>, Error> tags_of(const storage::MetadataStore& meta,
                                                       std::string_view repo,
                                                       const storage::Digest& d) {
  auto tags = all_tags(meta, repo);
  if (!tags) return std::unexpected(tags.error());
  std::vector<std::string> out;
  for (const auto& t : *tags) {
    auto r = meta.resolve_tag(repo, t);
    if (r && *r && **r == d) out.push_back(t);
  }
  return out;
}

// Whether a tagged index of `repo` other than `d` lists `d` (deleting `d`
// would break it).
bool listed_by_tagged_index(const storage::MetadataStore& meta, const storage::BlobStore& blobs,
                            std::string_view repo, const storage::Digest& d) {
  auto tags = all_tags(meta, repo);
  if (!tags) return true;  // unsure: keep it
  std::set<storage::Digest> seen;
  for (const auto& t : *tags) {
    auto r = meta.resolve_tag(repo, t);
    if (!r || !*r || **r == d || !seen.insert(**r).second) continue;
    auto m = load_manifest(meta, blobs, repo, **r);
    if (!m || !m->is_index()) continue;
    for (const auto& e : m->json.value("manifests", json::array())) {
      if (e.is_object() && e.value("digest", "") == d.str()) return true;
    }
  }
  return false;
}

}  // namespace

std::expected<std::string, Error> list_images(const storage::MetadataStore& meta,
                                              const storage::BlobStore& blobs,
                                              std::string_view repository, const Visible& visible) {
  std::vector<std::string> repos;
  if (!repository.empty()) {
    repos.emplace_back(repository);
  } else {
    std::string after;
    for (;;) {
      auto page = meta.list_repositories(after, kPage);
      if (!page) return std::unexpected(storage_error(page.error(), "listing repositories"));
      repos.insert(repos.end(), page->begin(), page->end());
      if (page->size() < kPage) break;
      after = page->back();
    }
  }
  json list = json::array();
  Sizes everything;
  for (const auto& repo : repos) {
    if (visible && !visible(repo)) continue;
    auto row = list_repository(meta, blobs, repo, everything);
    if (!row) return std::unexpected(row.error());
    if (!(*row)["tags"].empty()) list.push_back(std::move(*row));
  }
  return json{{"repositories", std::move(list)}, {"size", total(everything)}}.dump();
}

std::expected<std::string, Error> inspect_image(const storage::MetadataStore& meta,
                                                const storage::BlobStore& blobs,
                                                const ImageRef& ref,
                                                std::optional<Platform> platform) {
  auto digest = resolve(meta, ref);
  if (!digest) return std::unexpected(digest.error());
  auto top = load_manifest(meta, blobs, ref.repository, *digest);
  if (!top) return std::unexpected(top.error());
  json out = json::object();
  StoredManifest image = *top;
  if (top->is_index()) {
    json children = json::array();
    for (const auto& e : top->json.value("manifests", json::array())) {
      children.push_back({{"digest", e.value("digest", "")},
                          {"mediaType", e.value("mediaType", "")},
                          {"size", e.value("size", 0)},
                          {"platform", platform_of(e.value("platform", json::object())).str()}});
    }
    out["Index"] = {{"digest", digest->str()},
                    {"mediaType", top->record.media_type},
                    {"Manifests", std::move(children)}};
    auto entry = select_platform(*top, platform.value_or(Platform{"linux", "amd64", ""}));
    if (!entry && platform) return std::unexpected(entry.error());
    json chosen = entry ? *entry : top->json["manifests"].at(0);
    auto child_digest = storage::parse_digest(chosen.value("digest", ""));
    if (!child_digest) return fail(ErrorCode::kInternal, "stored index has a bad digest");
    auto child = load_manifest(meta, blobs, ref.repository, *child_digest);
    if (!child) return std::unexpected(child.error());
    image = std::move(*child);
  }
  const json& config_desc = image.json.value("config", json::object());
  auto config_digest = storage::parse_digest(config_desc.value("digest", ""));
  if (!config_digest) return fail(ErrorCode::kImageInvalid, "not an image manifest");
  auto config = load_json_blob(blobs, *config_digest);
  if (!config) return std::unexpected(config.error());
  auto tags = tags_of(meta, ref.repository, *digest);
  if (!tags) return std::unexpected(tags.error());
  json repo_tags = json::array();
  for (const auto& t : *tags) repo_tags.push_back(ref.repository + ":" + t);
  std::uint64_t size = config_desc.value("size", 0ULL);
  json layers = json::array();
  for (const auto& l : image.json.value("layers", json::array())) {
    layers.push_back({{"digest", l.value("digest", "")},
                      {"size", l.value("size", 0ULL)},
                      {"mediaType", l.value("mediaType", "")}});
    size += l.value("size", 0ULL);
  }
  out["Id"] = config_digest->str();
  out["RepoTags"] = std::move(repo_tags);
  out["RepoDigests"] = json::array({ref.repository + "@" + digest->str()});
  for (const char* key : {"created", "author", "architecture", "os", "variant"}) {
    std::string name(key);
    name[0] = static_cast<char>(std::toupper(name[0]));
    if (config->contains(key)) out[name] = (*config)[key];
  }
  out["Config"] = config->value("config", json::object());
  out["RootFS"] = config->value("rootfs", json::object());
  out["History"] = config->value("history", json::array());
  out["Size"] = size;
  out["Manifest"] = {{"digest", image.record.digest.str()},
                     {"mediaType", image.record.media_type},
                     {"size", image.record.size}};
  out["Layers"] = std::move(layers);
  return out.dump();
}

std::expected<std::string, Error> remove_image(storage::MetadataStore& meta,
                                               const storage::BlobStore& blobs,
                                               const ImageRef& ref) {
  auto digest = resolve(meta, ref);
  if (!digest) return std::unexpected(digest.error());
  auto tags = tags_of(meta, ref.repository, *digest);
  if (!tags) return std::unexpected(tags.error());
  json untagged = json::array(), deleted = json::array();
  auto refused = [&](storage::StorageError e, const std::string& what) {
    if (e == storage::StorageError::kImmutable) {
      return Error{ErrorCode::kDenied, what + " is immutable: it cannot be removed", {}};
    }
    return storage_error(e, "removing " + what);
  };
  bool delete_manifest = true;
  if (!ref.digest) {
    auto gone = meta.delete_tag(ref.repository, ref.tag);
    if (!gone) return std::unexpected(refused(gone.error(), ref.str()));
    untagged.push_back(ref.str());
    // The last tag goes with the manifest, unless an index still lists it.
    delete_manifest =
        tags->size() <= 1 && !listed_by_tagged_index(meta, blobs, ref.repository, *digest);
  } else {
    for (const auto& t : *tags) untagged.push_back(ref.repository + ":" + t);
  }
  if (delete_manifest) {
    auto gone = meta.delete_manifest(ref.repository, *digest);
    if (!gone) return std::unexpected(refused(gone.error(), ref.str()));
    if (*gone) deleted.push_back(digest->str());
  }
  return json{{"untagged", std::move(untagged)}, {"deleted", std::move(deleted)}}.dump();
}

}  // namespace drydock::images
