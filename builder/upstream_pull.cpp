#include "builder/upstream_pull.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "builder/executor_store.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
template <class T>
using Res = std::expected<T, std::string>;

constexpr std::size_t kMaxManifestBytes = 4 << 20;

bool is_index_type(std::string_view t) {
  return t == "application/vnd.oci.image.index.v1+json" ||
         t == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_manifest_type(std::string_view t) {
  return t == "application/vnd.oci.image.manifest.v1+json" ||
         t == "application/vnd.docker.distribution.manifest.v2+json";
}

std::string describe(const UpstreamImage& image, std::string_view reference) {
  std::string sep =
      reference.starts_with("sha") && reference.find(':') != std::string_view::npos ? "@" : ":";
  return image.registry + "/" + image.repository + sep + std::string(reference);
}

// A manifest as fetched and verified.
struct Manifest {
  storage::Digest digest;
  std::string media_type;
  std::string bytes;
  json doc;
};

// The media type: the document's own mediaType, else the Content-Type
// (image-spec manifest.md: mediaType SHOULD be set; Docker's always is).
std::string media_type_of(const json& doc, std::string_view content_type) {
  std::string t = doc.value("mediaType", "");
  if (!t.empty()) return t;
  if (doc.contains("manifests")) return "application/vnd.oci.image.index.v1+json";
  std::string ct(content_type.substr(0, content_type.find(';')));
  return ct.empty() ? "application/vnd.oci.image.manifest.v1+json" : ct;
}

Res<Manifest> fetch_manifest(BuildEnv& env, ImageFetcher& fetcher, const UpstreamImage& image,
                             std::string_view reference) {
  auto got = fetcher.fetch_manifest(image, reference, kMaxManifestBytes, env.cancel);
  if (!got) return std::unexpected(got.error());
  Manifest m;
  auto expected = storage::parse_digest(reference);
  m.digest = storage::digest_of(got->bytes,
                                expected ? expected->algorithm : storage::DigestAlgorithm::kSha256);
  // A manifest fetched by digest must hash to it (distribution-spec "Pulling
  // manifests": the client SHOULD verify); by tag, its digest is what we store.
  if (expected && *expected != m.digest) {
    return std::unexpected(describe(image, reference) + ": the manifest's digest is " +
                           m.digest.str());
  }
  m.doc = json::parse(got->bytes, nullptr, false);
  if (m.doc.is_discarded() || !m.doc.is_object()) {
    return std::unexpected(describe(image, reference) + ": the manifest is not JSON");
  }
  m.media_type = media_type_of(m.doc, got->media_type);
  if (!is_index_type(m.media_type) && !is_manifest_type(m.media_type)) {
    return std::unexpected(describe(image, reference) + ": unsupported manifest type " +
                           m.media_type);
  }
  m.bytes = std::move(got->bytes);
  return m;
}

// The linux/amd64 entry of an index (image-spec image-index.md "platform").
Res<storage::Digest> amd64_entry(const Manifest& index, const std::string& what) {
  const json list = index.doc.value("manifests", json::array());
  for (const auto& m : list) {
    if (!m.is_object()) continue;
    const json p = m.value("platform", json::object());
    if (p.value("os", "") == "linux" && p.value("architecture", "") == "amd64") {
      if (auto d = storage::parse_digest(m.value("digest", ""))) return *d;
    }
  }
  return std::unexpected(what + ": no linux/amd64 manifest in the index");
}

struct Descriptor {
  storage::Digest digest;
  std::uint64_t size = 0;
};

Res<Descriptor> descriptor(const json& d, const std::string& what) {
  if (!d.is_object()) return std::unexpected(what + ": bad descriptor");
  auto digest = storage::parse_digest(d.value("digest", ""));
  if (!digest || !d.contains("size") || !d["size"].is_number_unsigned()) {
    return std::unexpected(what + ": bad descriptor");
  }
  return Descriptor{*digest, d["size"].get<std::uint64_t>()};
}

// Streams one blob into a temp file while hashing, checks size and digest,
// publishes it. Skipped when the blob store has it already.
Res<void> pull_blob(BuildEnv& env, ImageFetcher& fetcher, const UpstreamImage& image,
                    const Descriptor& d) {
  if (auto st = env.blobs.stat(d.digest); st && st->size == d.size) return {};
  fs::path tmp = env.work_dir / exec_detail::unique_name("pull");
  storage::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return std::unexpected("create " + tmp.string() + ": " + std::strerror(errno));
  storage::Hasher hasher(d.digest.algorithm);
  std::uint64_t received = 0;
  const std::string what = image.registry + "/" + image.repository + "@" + d.digest.str();
  auto sink = [&](std::string_view piece) -> Res<void> {
    if (env.cancel.stop_requested()) return std::unexpected("cancelled");
    received += piece.size();
    if (received > d.size) return std::unexpected(what + ": more bytes than the manifest says");
    hasher.update(piece);
    for (std::size_t off = 0; off < piece.size();) {
      ssize_t n = ::write(fd.get(), piece.data() + off, piece.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::unexpected("write " + tmp.string() + ": " + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
    return {};
  };
  auto fetched = fetcher.fetch_blob(image, d.digest, sink, env.cancel);
  fd.reset();
  auto fail = [&](std::string msg) -> Res<void> {
    std::error_code ec;
    fs::remove(tmp, ec);
    return std::unexpected(std::move(msg));
  };
  if (!fetched) return fail(fetched.error());
  if (received != d.size) return fail(what + ": the blob ended early");
  if (hasher.current() != d.digest) return fail(what + ": the content does not match its digest");
  auto pub = env.blobs.publish(tmp, d.digest);
  if (!pub) return fail(what + ": store: " + std::string(storage::to_string(pub.error())));
  return {};
}

// Why linking `blobs` into `repo` was refused (its namespace's quota; the
// "upstream" namespace is one like any other).
Res<void> quota_error(BuildEnv& env, const std::string& repo,
                      std::span<const storage::BlobInfo> blobs) {
  auto why = env.meta.quota_check(repo, blobs);
  if (why && *why) return std::unexpected((*why)->message());
  return std::unexpected(std::string(storage::to_string(storage::StorageError::kQuotaExceeded)));
}

Res<void> store_manifest(BuildEnv& env, const std::string& repo, const Manifest& m,
                         const std::vector<storage::ManifestRef>& refs,
                         std::optional<std::string_view> tag) {
  auto put = env.blobs.put(m.bytes, m.digest);
  if (!put)
    return std::unexpected("store manifest: " + std::string(storage::to_string(put.error())));
  std::vector<storage::BlobInfo> blobs;
  for (const auto& r : refs) {
    if (r.kind != storage::RefKind::kBlob) continue;
    auto st = env.blobs.stat(r.digest);
    if (!st) return std::unexpected("stat " + r.digest.str());
    blobs.push_back(*st);
  }
  if (auto l = env.meta.link_blobs(repo, blobs); !l) {
    if (l.error() == storage::StorageError::kQuotaExceeded) return quota_error(env, repo, blobs);
    return std::unexpected("link: " + std::string(storage::to_string(l.error())));
  }
  std::string artifact = m.doc.value("artifactType", "");
  if (artifact.empty() && m.doc.contains("config") && m.doc["config"].is_object()) {
    artifact = m.doc["config"].value("mediaType", "");
  }
  std::string annotations = m.doc.contains("annotations") ? m.doc["annotations"].dump() : "{}";
  std::int64_t now = env.now != 0 ? env.now : static_cast<std::int64_t>(::time(nullptr));
  storage::ManifestRecord rec{repo,         m.digest, m.media_type, m.bytes.size(),
                              std::nullopt, artifact, annotations,  now};
  auto r = env.meta.put_manifest(rec, refs, tag);
  if (!r) return std::unexpected("record manifest: " + std::string(storage::to_string(r.error())));
  if (!r->missing.empty())
    return std::unexpected("record manifest: missing " + r->missing[0].str());
  if (r->quota) return std::unexpected(r->quota->message());
  return {};
}

// Config and layers of an image manifest, then the manifest itself.
Res<void> pull_manifest_content(BuildEnv& env, ImageFetcher& fetcher, const UpstreamImage& image,
                                const std::string& repo, const Manifest& m,
                                std::optional<std::string_view> tag, const std::string& what) {
  std::vector<Descriptor> blobs;
  auto cfg = descriptor(m.doc.value("config", json()), what);
  if (!cfg) return std::unexpected(cfg.error());
  blobs.push_back(*cfg);
  for (const auto& l : m.doc.value("layers", json::array())) {
    auto d = descriptor(l, what);
    if (!d) return std::unexpected(d.error());
    blobs.push_back(*d);
  }
  // Refused before downloading anything when the image cannot fit.
  std::vector<storage::BlobInfo> infos{{m.digest, m.bytes.size()}};
  for (const auto& b : blobs) infos.push_back(storage::BlobInfo{b.digest, b.size});
  if (auto why = env.meta.quota_check(repo, infos); why && *why) {
    return std::unexpected(what + ": " + (*why)->message());
  }
  std::vector<storage::ManifestRef> refs;
  for (const auto& b : blobs) {
    if (auto r = pull_blob(env, fetcher, image, b); !r) return r;
    refs.push_back({b.digest, storage::RefKind::kBlob});
  }
  return store_manifest(env, repo, m, refs, tag);
}

}  // namespace

std::expected<storage::Digest, std::string> pull_image(BuildEnv& env, ImageFetcher& fetcher,
                                                       const UpstreamImage& image,
                                                       std::string_view reference,
                                                       const std::string& store_repository) {
  const std::string what = describe(image, reference);
  std::optional<std::string_view> tag;
  if (!storage::parse_digest(reference)) tag = reference;
  auto top = fetch_manifest(env, fetcher, image, reference);
  if (!top) return std::unexpected(top.error());
  if (is_manifest_type(top->media_type)) {
    auto r = pull_manifest_content(env, fetcher, image, store_repository, *top, tag, what);
    if (!r) return std::unexpected(r.error());
    return top->digest;
  }
  auto child_digest = amd64_entry(*top, what);
  if (!child_digest) return std::unexpected(child_digest.error());
  auto child = fetch_manifest(env, fetcher, image, child_digest->str());
  if (!child) return std::unexpected(child.error());
  if (!is_manifest_type(child->media_type)) {
    return std::unexpected(what + ": the linux/amd64 entry is not an image manifest");
  }
  auto r = pull_manifest_content(env, fetcher, image, store_repository, *child, std::nullopt, what);
  if (!r) return std::unexpected(r.error());
  std::vector<storage::ManifestRef> refs{{child->digest, storage::RefKind::kManifest}};
  if (auto s = store_manifest(env, store_repository, *top, refs, tag); !s) {
    return std::unexpected(s.error());
  }
  return top->digest;
}

}  // namespace drydock::builder
