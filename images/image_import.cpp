#include "images/image_import.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "images/archive_staging.hpp"
#include "images/stored_image.hpp"
#include "registry/manifest.hpp"
#include "storage/held_blob_store.hpp"

namespace drydock::images {

namespace {

using nlohmann::json;
using registry::Error;
using registry::ErrorCode;

constexpr const char* kOciConfigType = "application/vnd.oci.image.config.v1+json";

std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message), {}});
}

struct ManifestToStore {
  storage::Digest digest;
  std::string bytes;
  registry::ParsedManifest parsed;
};

// One image of the archive, planned: what it is and where it goes.
struct PlannedImage {
  std::string what;                        // for messages: "image 2 of manifest.json"
  std::vector<std::string> full_names;     // RepoTags / io.containerd.image.name
  std::optional<std::string> bare_tag;     // org.opencontainers.image.ref.name "1.0"
  std::vector<ImageRef> names;             // resolved
  std::vector<ManifestToStore> manifests;  // children first, the image's own last
  std::vector<storage::Digest> blobs;      // configs and layers, each once
  std::uint64_t size = 0;
  const ManifestToStore& top() const { return manifests.back(); }
};

struct Plan {
  std::string format;
  std::vector<PlannedImage> images;
  std::map<storage::Digest, const StagedFile*> blobs;
};

std::string blob_path(const storage::Digest& d) {
  return "blobs/" + std::string(storage::to_string(d.algorithm)) + "/" + d.hex;
}

class Planner {
 public:
  explicit Planner(const ArchiveStaging& st) : st_(st) {}

  std::expected<Plan, Error> plan() && {
    if (st_.find("manifest.json") != nullptr) {
      plan_.format = "docker-archive";
      if (auto r = plan_docker(); !r) return std::unexpected(r.error());
    } else if (st_.find("index.json") != nullptr) {
      plan_.format = "oci-layout";
      if (auto r = plan_oci(); !r) return std::unexpected(r.error());
    } else {
      return fail(ErrorCode::kImageInvalid,
                  "not an image archive: no manifest.json (docker save) or index.json (OCI "
                  "image layout) in it");
    }
    return std::move(plan_);
  }

 private:
  std::expected<const StagedFile*, Error> need(std::string_view path, std::string_view what) {
    const StagedFile* f = st_.find(path);
    if (f == nullptr) {
      return fail(ErrorCode::kImageInvalid, std::string(what) + " names " + std::string(path) +
                                                ", which the archive does not hold");
    }
    // A path that is a digest must be that content's digest.
    std::string_view name = path;
    std::optional<storage::Digest> claimed;
    if (name.starts_with("blobs/")) {
      std::string text(name.substr(6));
      if (auto slash = text.find('/'); slash != std::string::npos) text[slash] = ':';
      claimed = storage::parse_digest(text);
    } else if (name.size() == 69 && name.ends_with(".json")) {
      claimed = storage::parse_digest("sha256:" + std::string(name.substr(0, 64)));
    }
    if (claimed && claimed->algorithm != storage::DigestAlgorithm::kSha256) {
      return fail(ErrorCode::kUnsupported, std::string(path) + ": only sha256 blobs are imported");
    }
    if (claimed && *claimed != f->digest) {
      return fail(ErrorCode::kDigestInvalid, std::string(path) + " does not match its digest: " +
                                                 "its content hashes to " + f->digest.str());
    }
    return f;
  }

  std::expected<json, Error> small_json(const StagedFile& f, std::string_view path) {
    auto bytes = st_.read_small(f, path);
    if (!bytes) return std::unexpected(bytes.error());
    json j = json::parse(*bytes, nullptr, false);
    if (j.is_discarded()) return fail(ErrorCode::kImageInvalid, std::string(path) + " is not JSON");
    return j;
  }

  void add_blob(PlannedImage& img, const StagedFile* f) {
    plan_.blobs[f->digest] = f;
    for (const auto& d : img.blobs) {
      if (d == f->digest) return;
    }
    img.blobs.push_back(f->digest);
    img.size += f->size;
  }

  // The layer's media type once its content is checked against its diff_id.
  std::expected<std::string, Error> layer_type(const StagedFile& f, const storage::Digest& diff_id,
                                               const std::string& path) {
    auto compression = sniff_compression(f.path);
    storage::Digest content = f.digest;
    std::string type = "application/vnd.oci.image.layer.v1.tar";
    if (compression == Compression::kGzip || compression == Compression::kZstd) {
      auto d = uncompressed_digest(f.path);
      if (!d) return fail(ErrorCode::kImageInvalid, "layer " + path + ": " + d.error());
      content = *d;
      type += compression == Compression::kGzip ? "+gzip" : "+zstd";
    } else if (compression != Compression::kNone) {
      return fail(ErrorCode::kImageInvalid, "layer " + path +
                                                " is xz or bzip2 compressed; only plain, gzip and "
                                                "zstd layers can be stored");
    }
    if (content != diff_id) {
      return fail(ErrorCode::kDigestInvalid,
                  "layer " + path + " does not match the config's diff_id " + diff_id.str() +
                      ": it unpacks to " + content.str());
    }
    return type;
  }

  std::expected<void, Error> plan_docker_image(const json& entry, std::size_t n) {
    PlannedImage img;
    img.what = "image " + std::to_string(n + 1) + " of manifest.json";
    if (!entry.is_object() || !entry.value("Config", json()).is_string() ||
        !entry.value("Layers", json()).is_array()) {
      return fail(ErrorCode::kImageInvalid, img.what + " needs Config and Layers");
    }
    std::string config_path = entry["Config"];
    auto cfg = need(config_path, img.what);
    if (!cfg) return std::unexpected(cfg.error());
    auto config = small_json(**cfg, config_path);
    if (!config) return std::unexpected(config.error());
    const json& diff_ids = config->value("rootfs", json::object()).value("diff_ids", json());
    const json& layers = entry["Layers"];
    if (!diff_ids.is_array() || diff_ids.size() != layers.size()) {
      return fail(ErrorCode::kImageInvalid, img.what +
                                                ": the config's rootfs.diff_ids do not "
                                                "match its Layers");
    }
    add_blob(img, *cfg);
    json descriptors = json::array();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      std::string path = layers[i].is_string() ? layers[i].get<std::string>() : "";
      auto diff_id =
          storage::parse_digest(diff_ids[i].is_string() ? diff_ids[i].get<std::string>() : "");
      if (!diff_id) return fail(ErrorCode::kImageInvalid, img.what + ": bad diff_id");
      auto f = need(path, img.what);
      if (!f) return std::unexpected(f.error());
      auto type = layer_type(**f, *diff_id, path);
      if (!type) return std::unexpected(type.error());
      add_blob(img, *f);
      descriptors.push_back(
          {{"mediaType", *type}, {"digest", (*f)->digest.str()}, {"size", (*f)->size}});
    }
    json manifest{
        {"schemaVersion", 2},
        {"mediaType", registry::kOciManifest},
        {"config",
         {{"mediaType", kOciConfigType}, {"digest", (*cfg)->digest.str()}, {"size", (*cfg)->size}}},
        {"layers", std::move(descriptors)}};
    if (auto r = add_manifest(img, manifest.dump(), registry::kOciManifest); !r) return r;
    if (const json& tags = entry.value("RepoTags", json()); tags.is_array()) {
      for (const auto& t : tags) {
        if (t.is_string()) img.full_names.push_back(t);
      }
    }
    plan_.images.push_back(std::move(img));
    return {};
  }

  std::expected<void, Error> add_manifest(PlannedImage& img, std::string bytes,
                                          std::string_view media_type) {
    auto parsed = registry::parse_manifest(bytes, media_type);
    if (!parsed) return fail(ErrorCode::kImageInvalid, img.what + ": " + parsed.error().message);
    storage::Digest d = storage::digest_of(bytes);
    img.size += bytes.size();
    img.manifests.push_back({d, std::move(bytes), std::move(*parsed)});
    return {};
  }

  std::expected<void, Error> plan_docker() {
    auto doc = small_json(*st_.find("manifest.json"), "manifest.json");
    if (!doc) return std::unexpected(doc.error());
    if (!doc->is_array() || doc->empty()) {
      return fail(ErrorCode::kImageInvalid, "manifest.json must list at least one image");
    }
    for (std::size_t i = 0; i < doc->size(); ++i) {
      if (auto r = plan_docker_image((*doc)[i], i); !r) return r;
    }
    return {};
  }

  // The media types an index gives its children, by digest.
  static std::map<std::string, std::string> child_types(const json& m) {
    std::map<std::string, std::string> out;
    for (const auto& c : m.value("manifests", json::array())) {
      if (c.is_object()) out[c.value("digest", "")] = c.value("mediaType", "");
    }
    return out;
  }

  std::expected<void, Error> collect(PlannedImage& img, const storage::Digest& digest,
                                     const std::string& media_type, int depth) {
    if (depth > kMaxIndexDepth) return fail(ErrorCode::kImageInvalid, "indexes nested too deep");
    std::string what = "manifest " + digest.str();
    auto f = need(blob_path(digest), depth == 0 ? img.what : "an index");
    if (!f) return std::unexpected(f.error());
    auto bytes = st_.read_small(**f, blob_path(digest));
    if (!bytes) return std::unexpected(bytes.error());
    auto parsed = registry::parse_manifest(*bytes, media_type);
    if (!parsed) return fail(ErrorCode::kImageInvalid, what + ": " + parsed.error().message);
    auto types = child_types(json::parse(*bytes, nullptr, false));
    for (const auto& ref : parsed->refs) {
      if (ref.kind == storage::RefKind::kManifest) {
        if (auto r = collect(img, ref.digest, types[ref.digest.str()], depth + 1); !r) return r;
        continue;
      }
      auto blob = need(blob_path(ref.digest), what);
      if (!blob) return std::unexpected(blob.error());
      add_blob(img, *blob);
    }
    img.size += bytes->size();
    img.manifests.push_back({digest, std::move(*bytes), std::move(*parsed)});
    return {};
  }

  std::expected<void, Error> plan_oci() {
    auto doc = small_json(*st_.find("index.json"), "index.json");
    if (!doc) return std::unexpected(doc.error());
    const json& list = doc->is_object() ? doc->value("manifests", json()) : json();
    if (!list.is_array() || list.empty()) {
      return fail(ErrorCode::kImageInvalid, "index.json must list at least one manifest");
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      PlannedImage img;
      img.what = "entry " + std::to_string(i + 1) + " of index.json";
      const json& desc = list[i];
      auto digest = storage::parse_digest(desc.is_object() ? desc.value("digest", "") : "");
      if (!digest) return fail(ErrorCode::kImageInvalid, img.what + " has no valid digest");
      if (auto r = collect(img, *digest, desc.value("mediaType", ""), 0); !r) return r;
      const json& notes = desc.value("annotations", json::object());
      if (notes.is_object()) {
        std::string full = notes.value(kImageNameAnnotation, "");
        std::string ref = notes.value(kRefNameAnnotation, "");
        if (full.empty() && ref.find_first_of("/:") != std::string::npos) full = ref;
        if (!full.empty()) {
          img.full_names.push_back(full);
        } else if (!ref.empty()) {
          img.bare_tag = ref;
        }
      }
      plan_.images.push_back(std::move(img));
    }
    return {};
  }

  const ArchiveStaging& st_;
  Plan plan_;
};

// Resolves every image's names; refuses unnamed images and a name given
// to two different images.
std::expected<void, Error> resolve_names(Plan& plan, const ImportOptions& o) {
  std::optional<ImageRef> fallback;
  if (!o.repository.empty()) {
    auto r = parse_image_ref(o.repository);
    if (!r || r->digest) return fail(ErrorCode::kNameInvalid, "bad repository=" + o.repository);
    fallback = *r;
  }
  bool explicit_tag = o.repository.find(':') != std::string::npos;
  std::map<std::string, storage::Digest> seen;
  for (auto& img : plan.images) {
    for (const auto& n : img.full_names) {
      auto r = parse_foreign_ref(n);
      if (!r) return std::unexpected(r.error());
      img.names.push_back(*r);
    }
    if (img.names.empty()) {
      if (!fallback) {
        return fail(ErrorCode::kImageInvalid,
                    img.what + " has no name (RepoTags or an OCI ref.name annotation" +
                        (img.bare_tag ? " other than the bare tag " + *img.bare_tag : "") +
                        "); import it with repository=NAME[:TAG]");
      }
      ImageRef r = *fallback;
      if (img.bare_tag && !explicit_tag) r.tag = *img.bare_tag;
      img.names.push_back(r);
    }
    for (const auto& n : img.names) {
      auto [it, fresh] = seen.emplace(n.str(), img.top().digest);
      if (!fresh && it->second != img.top().digest) {
        return fail(ErrorCode::kImageInvalid, "the archive names two different images " + n.str());
      }
    }
  }
  return {};
}

// Every repository's namespace quota, for all it would receive at once
// (the links are checked again, one by one, as they are made).
std::expected<void, Error> check_quotas(const Plan& plan, const storage::MetadataStore& meta) {
  std::map<std::string, std::vector<storage::BlobInfo>> by_repo;
  for (const auto& img : plan.images) {
    std::set<std::string> repos;
    for (const auto& n : img.names) repos.insert(n.repository);
    for (const auto& repo : repos) {
      auto& list = by_repo[repo];
      for (const auto& d : img.blobs) list.push_back({d, plan.blobs.at(d)->size});
      for (const auto& m : img.manifests) list.push_back({m.digest, m.bytes.size()});
    }
  }
  for (const auto& [repo, blobs] : by_repo) {
    auto refused = meta.quota_check(repo, blobs);
    if (!refused) return std::unexpected(storage_error(refused.error(), "checking " + repo));
    if (*refused) {
      return fail(ErrorCode::kDenied, (*refused)->message() + "; nothing was imported");
    }
  }
  return {};
}

// Push rights and immutable tags, for every name, before anything is stored.
std::expected<void, Error> check_targets(const Plan& plan, const storage::MetadataStore& meta,
                                         const ImportOptions& o) {
  for (const auto& img : plan.images) {
    for (const auto& n : img.names) {
      if (o.may_push && !o.may_push(n.repository)) {
        return fail(ErrorCode::kDenied, "push access to " + n.repository +
                                            " denied (the archive "
                                            "tags " +
                                            n.str() + "); nothing was imported");
      }
      auto rule = meta.immutable_move(n.repository, n.tag, img.top().digest);
      if (!rule) return std::unexpected(storage_error(rule.error(), "checking " + n.str()));
      if (*rule) {
        return fail(ErrorCode::kDenied, "tag " + n.str() + " is immutable (" + **rule +
                                            ") and points at another image; nothing was imported");
      }
    }
  }
  return check_quotas(plan, meta);
}

std::expected<void, Error> store_image(const PlannedImage& img, const Plan& plan,
                                       storage::MetadataStore& meta, std::int64_t now) {
  std::set<std::string> repos;
  for (const auto& n : img.names) repos.insert(n.repository);
  for (const auto& repo : repos) {
    for (const auto& d : img.blobs) {
      auto linked = meta.link_blob(repo, storage::BlobInfo{d, plan.blobs.at(d)->size});
      if (!linked) return std::unexpected(storage_error(linked.error(), "linking " + d.str()));
    }
    for (const auto& m : img.manifests) {
      storage::ManifestRecord rec{repo,
                                  m.digest,
                                  m.parsed.media_type,
                                  m.bytes.size(),
                                  m.parsed.subject,
                                  m.parsed.artifact_type,
                                  m.parsed.annotations_json,
                                  now};
      std::vector<std::optional<std::string_view>> tags;
      if (&m == &img.top()) {
        for (const auto& n : img.names) {
          if (n.repository == repo) tags.emplace_back(n.tag);
        }
      } else {
        tags.emplace_back(std::nullopt);
      }
      for (const auto& tag : tags) {
        auto put = meta.put_manifest(rec, m.parsed.refs, tag);
        if (!put) return std::unexpected(storage_error(put.error(), "storing " + m.digest.str()));
        if (!put->missing.empty()) {
          return fail(ErrorCode::kInternal, "storing " + m.digest.str() + ": references missing");
        }
        if (put->immutable_rule) {
          return fail(ErrorCode::kDenied, "tag " + repo + ":" + std::string(*tag) +
                                              " is immutable (" + *put->immutable_rule + ")");
        }
      }
    }
  }
  return {};
}

std::expected<void, Error> store(const Plan& plan, storage::BlobStore& blobs,
                                 storage::MetadataStore& meta, std::int64_t now) {
  for (const auto& [digest, file] : plan.blobs) {
    auto r = blobs.publish(file->path, digest);
    if (!r) return std::unexpected(storage_error(r.error(), "storing " + digest.str()));
  }
  for (const auto& img : plan.images) {
    for (const auto& m : img.manifests) {
      auto r = blobs.put(m.bytes, m.digest);
      if (!r) return std::unexpected(storage_error(r.error(), "storing " + m.digest.str()));
    }
  }
  for (const auto& img : plan.images) {
    if (auto r = store_image(img, plan, meta, now); !r) return r;
  }
  return {};
}

}  // namespace

std::expected<ImportResult, Error> import_archive(storage::BlobStore& blobs,
                                                  storage::MetadataStore& meta,
                                                  const std::filesystem::path& archive,
                                                  const std::filesystem::path& staging_root,
                                                  const ImportOptions& options) {
  ArchiveStaging staging(staging_root);
  if (auto r = staging.unpack(archive, {options.max_unpacked_bytes}); !r) {
    return std::unexpected(r.error());
  }
  auto plan = Planner(staging).plan();
  if (!plan) return std::unexpected(plan.error());
  if (auto r = resolve_names(*plan, options); !r) return std::unexpected(r.error());
  if (auto r = check_targets(*plan, meta, options); !r) return std::unexpected(r.error());
  // Every blob stays held against garbage collection until it is linked.
  storage::HeldBlobStore held(blobs);
  if (auto r = store(*plan, held, meta, options.now); !r) return std::unexpected(r.error());
  ImportResult out{plan->format, {}};
  for (const auto& img : plan->images) {
    for (const auto& n : img.names) {
      out.images.push_back({n.str(), img.top().digest, img.top().parsed.media_type, img.size});
    }
  }
  return out;
}

std::string import_result_json(const ImportResult& r) {
  json images = json::array();
  for (const auto& i : r.images) {
    images.push_back({{"name", i.name},
                      {"digest", i.manifest.str()},
                      {"mediaType", i.media_type},
                      {"size", i.size}});
  }
  return json{{"format", r.format}, {"images", std::move(images)}}.dump();
}

}  // namespace drydock::images
