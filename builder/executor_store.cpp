#include "builder/executor_store.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

#include "builder/archive_extract.hpp"
#include "builder/image_ref.hpp"
#include "builder/layer_unpack.hpp"
#include "builder/upstream_pull.hpp"

namespace drydock::builder::exec_detail {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMaxManifestBytes = 4 << 20;
constexpr const char* kIndexTypes[] = {"application/vnd.oci.image.index.v1+json",
                                       "application/vnd.docker.distribution.manifest.list.v2+json"};

std::string storage_message(std::string_view what, storage::StorageError e) {
  return std::string(what) + ": " + std::string(storage::to_string(e));
}

Res<json> read_json(BuildEnv& env, const storage::Digest& d) {
  auto text = env.blobs.read_all(d, kMaxManifestBytes);
  if (!text) return std::unexpected(storage_message("read " + d.str(), text.error()));
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected(d.str() + " is not JSON");
  return j;
}

// The linux/amd64 manifest of an index.
Res<storage::Digest> pick_platform(const json& index) {
  if (!index.contains("manifests") || !index["manifests"].is_array()) {
    return std::unexpected("index without manifests");
  }
  for (const auto& m : index["manifests"]) {
    const json p = m.value("platform", json::object());
    if (p.value("os", "") == "linux" && p.value("architecture", "") == "amd64") {
      if (auto d = storage::parse_digest(m.value("digest", ""))) return *d;
    }
  }
  return std::unexpected("no linux/amd64 manifest in the index");
}

std::string not_found(std::string_view text) {
  return "base image \"" + std::string(text) + "\" not found";
}

// The manifest `ref` names in `repository`, or nullopt if the store has none.
Res<std::optional<storage::Digest>> lookup(BuildEnv& env, const std::string& repository,
                                           const ImageRef& ref, std::string_view text) {
  storage::Digest d;
  if (ref.digest) {
    d = *ref.digest;
  } else {
    auto t = env.meta.resolve_tag(repository, ref.tag);
    if (!t) return std::unexpected(storage_message("resolve " + std::string(text), t.error()));
    if (!*t) return std::nullopt;
    d = **t;
  }
  auto rec = env.meta.get_manifest(repository, d);
  if (!rec) return std::unexpected(storage_message("resolve " + std::string(text), rec.error()));
  if (!*rec) return std::nullopt;
  return d;
}

// A local image, read with the caller's pull rights. Without them an image is
// reported exactly like a missing one: a build must not reveal what the
// caller may not read.
Res<std::optional<storage::Digest>> lookup_local(BuildEnv& env, const std::string& repository,
                                                 const ImageRef& ref, std::string_view text) {
  if (env.may_pull && !env.may_pull(repository)) return std::nullopt;
  return lookup(env, repository, ref, text);
}

// An image of another registry: the copy pulled earlier if the store has it
// (later builds need no network; a tag is not re-checked upstream, as `docker
// build` without --pull), else pulled now. The caller's pull rights on the
// store do not apply: the image is whatever the upstream serves with the
// server's configured credentials, which any builder may use.
Res<storage::Digest> resolve_upstream(BuildEnv& env, const ImageSource& src, const ImageRef& ref,
                                      std::string_view text) {
  auto have = lookup(env, src.store_repository, ref, text);
  if (!have) return std::unexpected(have.error());
  if (*have) return **have;
  if (!env.fetcher) {
    return std::unexpected(not_found(text) + " (pulling from other registries is off)");
  }
  UpstreamImage image{src.registry, src.endpoint, src.remote_repository};
  if (env.log) {
    std::string via = src.endpoint.empty() ? "" : " via " + src.endpoint;
    env.log("pulling " + src.registry + "/" + src.remote_repository + ":" +
            ref.manifest_reference() + via + " into " + src.store_repository + "\n");
  }
  auto pulled =
      pull_image(env, *env.fetcher, image, ref.manifest_reference(), src.store_repository);
  if (!pulled) return std::unexpected("pulling failed: " + pulled.error());
  return *pulled;
}

// Where FROM / COPY --from `text` is read from (image_ref.hpp has the rules).
Res<storage::Digest> resolve_manifest(BuildEnv& env, std::string_view text) {
  auto ref = parse_image_ref(text);
  if (!ref) return std::unexpected(ref.error());
  if (!env.upstream) {  // no upstream policy: the store only, any host ignored
    auto local = lookup_local(env, ref->path, *ref, text);
    if (!local) return std::unexpected(local.error());
    if (!*local) return std::unexpected(not_found(text));
    return **local;
  }
  auto src = source_of(*env.upstream, *ref);
  if (!src) return std::unexpected(src.error());
  if (src->upstream) return resolve_upstream(env, *src, *ref, text);
  auto local = lookup_local(env, src->store_repository, *ref, text);
  if (!local) return std::unexpected(local.error());
  if (*local) return **local;
  // An unqualified name missing here may be Docker Hub's, through its mirror.
  if (auto hub = docker_hub_fallback(*env.upstream, *ref)) {
    return resolve_upstream(env, *hub, *ref, text);
  }
  return std::unexpected(not_found(text));
}

std::string random_hex() {
  std::uint64_t r = 0;
  while (::getrandom(&r, sizeof r, 0) != sizeof r) {
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

}  // namespace

std::string unique_name(std::string_view prefix) {
  return std::string(prefix) + "-" + random_hex();
}

Res<ImageState> load_image(BuildEnv& env, std::string_view reference) {
  auto digest = resolve_manifest(env, reference);
  if (!digest) return std::unexpected(digest.error());
  auto manifest = read_json(env, *digest);
  if (!manifest) return std::unexpected(manifest.error());
  std::string media = manifest->value("mediaType", "");
  if (media == kIndexTypes[0] || media == kIndexTypes[1] || manifest->contains("manifests")) {
    auto child = pick_platform(*manifest);
    if (!child) return std::unexpected(std::string(reference) + ": " + child.error());
    manifest = read_json(env, *child);
    if (!manifest) return std::unexpected(manifest.error());
  }
  auto cfg_digest =
      storage::parse_digest(manifest->value("config", json::object()).value("digest", ""));
  if (!cfg_digest) return std::unexpected(std::string(reference) + ": manifest without config");
  auto cfg_text = env.blobs.read_all(*cfg_digest, kMaxManifestBytes);
  if (!cfg_text) return std::unexpected(storage_message("read config", cfg_text.error()));
  auto cfg = parse_image_config(*cfg_text);
  if (!cfg) return std::unexpected(std::string(reference) + ": " + cfg.error());
  ImageState st;
  st.image = std::move(*cfg);
  const json layers = manifest->value("layers", json::array());
  if (layers.size() != st.image.diff_ids.size()) {
    return std::unexpected(std::string(reference) + ": layers and diff_ids differ in number");
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto d = storage::parse_digest(layers[i].value("digest", ""));
    if (!d) return std::unexpected(std::string(reference) + ": bad layer digest");
    LayerBlob blob{*d, layers[i].value("size", std::uint64_t{0}),
                   layers[i].value("mediaType", std::string(kOciLayerGzipType))};
    if (auto r = ensure_snapshot(env, blob, st.image.diff_ids[i]); !r)
      return std::unexpected(r.error());
    st.layers.push_back(std::move(blob));
    std::erase(st.chain, st.image.diff_ids[i]);  // a repeated layer: keep the topmost
    st.chain.push_back(st.image.diff_ids[i]);
  }
  return st;
}

Res<void> ensure_snapshot(BuildEnv& env, const LayerBlob& blob, const std::string& diff_id) {
  if (env.snapshots.exists(diff_id)) return {};
  auto fd = env.blobs.open(blob.digest);
  if (!fd) return std::unexpected(storage_message("open layer " + blob.digest.str(), fd.error()));
  std::string key = unique_name("unpack");
  if (auto m = env.snapshots.prepare(key, {}); !m) return std::unexpected(m.error().message);
  auto fail = [&](std::string msg) -> Res<void> {
    (void)env.snapshots.remove(key);
    return std::unexpected(std::move(msg));
  };
  auto upper = env.snapshots.upper_dir(key);
  if (!upper) return fail(upper.error().message);
  std::error_code ec;
  fs::remove(*upper, ec);  // unpack_layer creates the directory itself
  if (auto u = unpack_layer(fd->get(), *upper); !u) {
    return fail("unpack " + blob.digest.str() + ": " + u.error().message);
  }
  if (auto c = env.snapshots.commit(key, diff_id); !c) return fail(c.error().message);
  return {};
}

Res<std::optional<WrittenLayer>> store_layer(BuildEnv& env, const LayerPlan& plan,
                                             const LayerOptions& options) {
  if (plan.empty()) return std::nullopt;
  fs::path tmp = env.work_dir / unique_name("layer");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected("create " + tmp.string() + ": " + std::strerror(errno));
  FdSink sink(fd);
  auto info = write_layer(plan, sink, options);
  ::close(fd);
  std::error_code ec;
  if (!info) {
    fs::remove(tmp, ec);
    return std::unexpected("write layer: " + info.error().message);
  }
  auto pub = env.blobs.publish(tmp, info->digest);
  if (!pub) {
    fs::remove(tmp, ec);
    return std::unexpected(storage_message("store layer", pub.error()));
  }
  return WrittenLayer{LayerBlob{info->digest, info->compressed_size}, info->diff_id.str()};
}

Res<std::unique_ptr<MountedView>> MountedView::mount(BuildEnv& env,
                                                     const std::vector<std::string>& chain) {
  auto mounts = env.snapshots.view(chain);
  if (!mounts) return std::unexpected(mounts.error().message);
  fs::path dir = env.work_dir / unique_name("view");
  std::error_code ec;
  fs::create_directory(dir, ec);
  if (ec) return std::unexpected("mkdir " + dir.string() + ": " + ec.message());
  std::unique_ptr<MountedView> v(new MountedView(dir));
  auto g = mount_guarded(*mounts, dir);
  if (!g) return std::unexpected(g.error().message);
  v->guard_ = std::move(*g);
  return v;
}

MountedView::~MountedView() {
  (void)guard_.reset();
  std::error_code ec;
  fs::remove(dir_, ec);
}

namespace {

bool same_dir_meta(const struct stat& a, const struct stat& b) {
  return S_ISDIR(a.st_mode) && S_ISDIR(b.st_mode) && a.st_mode == b.st_mode &&
         a.st_uid == b.st_uid && a.st_gid == b.st_gid;
}

bool is_opaque(const fs::path& p) {
  char v[4];
  ssize_t n = ::lgetxattr(p.c_str(), "trusted.overlay.opaque", v, sizeof v);
  return n > 0;
}

// Returns whether `upper/rel` was removed.
bool clean_entry(const fs::path& upper, const fs::path& lower, const fs::path& rel, bool top) {
  fs::path up = upper / rel;
  struct stat ust {};
  if (::lstat(up.c_str(), &ust) != 0) return false;
  struct stat lst {};
  bool in_lower = ::lstat((lower / rel).c_str(), &lst) == 0;
  if (!S_ISDIR(ust.st_mode)) {
    // A stub the runtime made: an empty regular file where the lower has nothing.
    static const char* kStubs[] = {"etc/hosts", "etc/resolv.conf", "etc/hostname", ".dockerenv"};
    for (const char* s : kStubs) {
      if (rel == s && !in_lower && S_ISREG(ust.st_mode) && ust.st_size == 0) {
        return ::unlink(up.c_str()) == 0;
      }
    }
    return false;
  }
  std::error_code ec;
  std::vector<fs::path> children;
  for (const auto& e : fs::directory_iterator(up, ec)) children.push_back(e.path().filename());
  bool all_gone = true;
  for (const auto& c : children) all_gone = clean_entry(upper, lower, rel / c, false) && all_gone;
  if (top || !all_gone || is_opaque(up)) return false;
  static const char* kMountDirs[] = {"proc", "dev", "sys", "dev/pts", "dev/shm", "dev/mqueue"};
  bool stub_dir = false;
  for (const char* s : kMountDirs) stub_dir = stub_dir || rel == s;
  if ((in_lower && same_dir_meta(ust, lst)) || (!in_lower && stub_dir)) {
    return ::rmdir(up.c_str()) == 0;
  }
  return false;
}

}  // namespace

void clean_run_upper(const fs::path& upper, const fs::path& lower) {
  clean_entry(upper, lower, fs::path(), true);
}

}  // namespace drydock::builder::exec_detail
