#include "images/image_export.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

#include "images/tar_format.hpp"
#include "registry/manifest.hpp"
#include "storage/posix_io.hpp"

namespace drydock::images {

namespace {

using nlohmann::json;
using registry::Error;
using registry::ErrorCode;


std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message), {}});
}

std::string blob_path(const storage::Digest& d) {
  return "blobs/" + std::string(storage::to_string(d.algorithm)) + "/" + d.hex;
}

// The archive's entries, in order, each blob once.
class PlanBuilder {
 public:
  PlanBuilder(const storage::BlobStore& blobs, std::int64_t mtime) : blobs_(blobs), mtime_(mtime) {}

  std::expected<void, Error> add_file(std::string path, std::string data) {
    auto header = ustar_file_header(path, data.size(), mtime_);
    if (!header) return fail(ErrorCode::kInternal, header.error());
    ExportEntry e{std::move(path), std::move(*header), std::move(data), std::nullopt, 0};
    e.size = e.data.size();
    plan_.entries.push_back(std::move(e));
    return {};
  }

  std::expected<void, Error> add_blob(const storage::Digest& d) {
    if (!seen_.insert(d).second) return {};
    auto info = blobs_.stat(d);
    if (!info) {
      if (info.error() == storage::StorageError::kNotFound) {
        return fail(ErrorCode::kBlobUnknown,
                    "blob " + d.str() + " of the image is not in the store");
      }
      return std::unexpected(storage_error(info.error(), "stat " + d.str()));
    }
    std::string path = blob_path(d);
    auto header = ustar_file_header(path, info->size, mtime_);
    if (!header) return fail(ErrorCode::kInternal, header.error());
    plan_.entries.push_back(ExportEntry{std::move(path), std::move(*header), {}, d, info->size});
    return {};
  }

  ExportPlan finish() && {
    plan_.total_bytes = kTarEndBytes;
    for (const auto& e : plan_.entries) plan_.total_bytes += tar_entry_bytes(e.size);
    return std::move(plan_);
  }

 private:
  const storage::BlobStore& blobs_;
  std::int64_t mtime_;
  ExportPlan plan_;
  std::set<storage::Digest> seen_;
};

// The descriptor of `m` for index.json, annotated with `name` ("repo:tag").
json top_descriptor(const StoredManifest& m, const std::string& name) {
  json d{{"mediaType", m.record.media_type},
         {"digest", m.record.digest.str()},
         {"size", m.record.size}};
  if (!name.empty()) {
    auto colon = name.rfind(':');
    d["annotations"] = {{kImageNameAnnotation, name}, {kRefNameAnnotation, name.substr(colon + 1)}};
  }
  return d;
}

std::string index_json(const json& descriptor) {
  json j{{"schemaVersion", 2},
         {"mediaType", registry::kOciIndex},
         {"manifests", json::array({descriptor})}};
  return j.dump();
}

// The name to write into the archive (see ExportRequest::name).
std::expected<std::string, Error> archive_name(const ExportRequest& r) {
  if (r.name.empty()) return r.ref.digest ? std::string() : r.ref.str();
  auto parsed = parse_foreign_ref(r.name);
  if (!parsed) return std::unexpected(parsed.error());
  auto slash = r.name.rfind('/');
  auto colon = r.name.rfind(':');
  bool tagged = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  return tagged ? r.name : r.name + ":latest";
}

bool is_image_config(std::string_view media_type) {
  return media_type == "application/vnd.oci.image.config.v1+json" ||
         media_type == "application/vnd.docker.container.image.v1+json";
}

// Adds `m`'s blobs and, for an index, its child manifests' (recursively).
std::expected<void, Error> add_tree(PlanBuilder& plan, const storage::MetadataStore& meta,
                                    const storage::BlobStore& blobs, const StoredManifest& m,
                                    int depth) {
  if (depth > kMaxIndexDepth) return fail(ErrorCode::kImageInvalid, "indexes nested too deep");
  auto parsed = registry::parse_manifest(m.bytes, m.record.media_type);
  if (!parsed) return fail(ErrorCode::kInternal, "stored manifest: " + parsed.error().message);
  for (const auto& ref : parsed->refs) {
    if (ref.kind == storage::RefKind::kBlob) {
      if (auto r = plan.add_blob(ref.digest); !r) return r;
      continue;
    }
    auto child = load_manifest(meta, blobs, m.record.repository, ref.digest);
    if (!child) return std::unexpected(child.error());
    if (auto r = add_tree(plan, meta, blobs, *child, depth + 1); !r) return r;
  }
  return plan.add_blob(m.record.digest);
}

std::expected<ExportPlan, Error> plan_oci(const storage::MetadataStore& meta,
                                          const storage::BlobStore& blobs,
                                          const StoredManifest& top, const std::string& name) {
  PlanBuilder plan(blobs, top.record.created_unix);
  if (auto r = plan.add_file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = add_tree(plan, meta, blobs, top, 0); !r) return std::unexpected(r.error());
  if (auto r = plan.add_file("index.json", index_json(top_descriptor(top, name))); !r) {
    return std::unexpected(r.error());
  }
  auto out = std::move(plan).finish();
  out.manifest = top.record.digest;
  return out;
}

// manifest.json and repositories, as docker save writes them.
std::pair<std::string, std::string> docker_metadata(const json& config_desc, const json& layers,
                                                    const std::string& name) {
  json layer_paths = json::array();
  std::string top_layer;
  for (const auto& l : layers) {
    auto d = storage::parse_digest(l.value("digest", ""));
    layer_paths.push_back(blob_path(*d));
    top_layer = d->hex;
  }
  json repo_tags = json::array();
  json repositories = json::object();
  if (!name.empty()) {
    repo_tags.push_back(name);
    auto colon = name.rfind(':');
    repositories[name.substr(0, colon)] = {{name.substr(colon + 1), top_layer}};
  }
  auto config = storage::parse_digest(config_desc.value("digest", ""));
  json manifest = json::array(
      {{{"Config", blob_path(*config)}, {"RepoTags", repo_tags}, {"Layers", layer_paths}}});
  return {manifest.dump(), repositories.dump()};
}

std::expected<ExportPlan, Error> plan_docker(const storage::BlobStore& blobs,
                                             const StoredManifest& image, const std::string& name) {
  const json& config = image.json.value("config", json::object());
  const json& layers = image.json.value("layers", json::array());
  if (!is_image_config(config.value("mediaType", ""))) {
    return fail(ErrorCode::kImageInvalid,
                image.record.digest.str() + " is not a container image (config type " +
                    config.value("mediaType", "none") + "); try format=oci");
  }
  // parse_manifest validated every descriptor when the manifest was pushed.
  PlanBuilder plan(blobs, image.record.created_unix);
  if (auto r = plan.add_file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"); !r) {
    return std::unexpected(r.error());
  }
  std::vector<storage::Digest> wanted{*storage::parse_digest(config.value("digest", ""))};
  for (const auto& l : layers) wanted.push_back(*storage::parse_digest(l.value("digest", "")));
  wanted.push_back(image.record.digest);
  for (const auto& d : wanted) {
    if (auto r = plan.add_blob(d); !r) return std::unexpected(r.error());
  }
  auto [manifest, repositories] = docker_metadata(config, layers, name);
  for (auto& [path, data] :
       {std::pair{std::string("index.json"), index_json(top_descriptor(image, name))},
        std::pair{std::string("manifest.json"), std::move(manifest)},
        std::pair{std::string("repositories"), std::move(repositories)}}) {
    if (auto r = plan.add_file(path, data); !r) return std::unexpected(r.error());
  }
  auto out = std::move(plan).finish();
  out.manifest = image.record.digest;
  return out;
}

std::string file_name_for(const ImageRef& ref) {
  std::string base = ref.repository + "_" + (ref.digest ? ref.digest->hex.substr(0, 12) : ref.tag);
  for (char& c : base) {
    if (c == '/') c = '_';
  }
  return base + ".tar";
}

bool write_all(int fd, const char* data, std::size_t n) {
  return storage::posix::write_all(fd, data, n) == 0;
}

}  // namespace

std::expected<ExportPlan, Error> plan_export(const storage::MetadataStore& meta,
                                             const storage::BlobStore& blobs,
                                             const ExportRequest& request) {
  auto name = archive_name(request);
  if (!name) return std::unexpected(name.error());
  auto digest = resolve(meta, request.ref);
  if (!digest) return std::unexpected(digest.error());
  auto top = load_manifest(meta, blobs, request.ref.repository, *digest);
  if (!top) return std::unexpected(top.error());
  std::expected<ExportPlan, Error> plan;
  if (request.format == ArchiveFormat::kOci) {
    plan = plan_oci(meta, blobs, *top, *name);
  } else if (top->is_index()) {
    Platform want = request.platform.value_or(Platform{"linux", "amd64", ""});
    auto entry = select_platform(*top, want);
    if (!entry) return std::unexpected(entry.error());
    auto child_digest = storage::parse_digest(entry->value("digest", ""));
    if (!child_digest) return fail(ErrorCode::kInternal, "stored index has a bad digest");
    auto child = load_manifest(meta, blobs, request.ref.repository, *child_digest);
    if (!child) return std::unexpected(child.error());
    if (child->is_index()) return fail(ErrorCode::kImageInvalid, "nested index; try format=oci");
    plan = plan_docker(blobs, *child, *name);
  } else {
    plan = plan_docker(blobs, *top, *name);
  }
  if (plan) plan->file_name = file_name_for(request.ref);
  return plan;
}

std::expected<void, std::string> write_export(const ExportPlan& plan,
                                              const storage::BlobStore& blobs, int fd) {
  static const std::string kZeros(kTarEndBytes, '\0');
  constexpr std::size_t kPiece = 256 * 1024;
  auto buffer = std::make_unique_for_overwrite<char[]>(kPiece);
  for (const auto& e : plan.entries) {
    if (!write_all(fd, e.header.data(), e.header.size())) return std::unexpected("write failed");
    if (!e.blob) {
      if (!write_all(fd, e.data.data(), e.data.size())) return std::unexpected("write failed");
    } else {
      auto in = blobs.open(*e.blob);
      if (!in) return std::unexpected("cannot open " + e.blob->str());
      std::uint64_t left = e.size;
      off_t offset = 0;
      while (left > 0) {
        ssize_t got =
            ::pread(in->get(), buffer.get(), std::min<std::uint64_t>(left, kPiece), offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return std::unexpected(e.blob->str() + " is shorter than recorded");
        if (!write_all(fd, buffer.get(), static_cast<std::size_t>(got))) {
          return std::unexpected("write failed");
        }
        offset += got;
        left -= static_cast<std::uint64_t>(got);
      }
    }
    if (!write_all(fd, kZeros.data(), tar_padding(e.size))) return std::unexpected("write failed");
  }
  if (!write_all(fd, kZeros.data(), kTarEndBytes)) return std::unexpected("write failed");
  return {};
}

}  // namespace drydock::images
