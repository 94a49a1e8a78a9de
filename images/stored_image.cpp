#include "images/stored_image.hpp"

#include "registry/manifest.hpp"
#include "registry/reference.hpp"

namespace drydock::images {

namespace {

using nlohmann::json;
using registry::Error;
using registry::ErrorCode;

constexpr std::uint64_t kMaxJsonBlob = 4U << 20;

std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message), {}});
}

// Splits "name[:tag]" at the tag's colon (one after the last '/').
std::expected<ImageRef, Error> split_tagged(std::string_view text, std::string_view shown) {
  ImageRef out;
  auto slash = text.rfind('/');
  auto colon = text.rfind(':');
  out.repository = std::string(text);
  out.tag = "latest";
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    out.repository = std::string(text.substr(0, colon));
    out.tag = std::string(text.substr(colon + 1));
  }
  if (!registry::valid_repository_name(out.repository)) {
    return fail(ErrorCode::kNameInvalid, "invalid repository name in " + std::string(shown));
  }
  if (!registry::valid_tag(out.tag)) {
    return fail(ErrorCode::kImageInvalid, "invalid tag in " + std::string(shown));
  }
  return out;
}

}  // namespace

std::string ImageRef::str() const {
  return digest ? repository + "@" + digest->str() : repository + ":" + tag;
}

std::expected<ImageRef, Error> parse_image_ref(std::string_view text) {
  auto at = text.find('@');
  if (at == std::string_view::npos) return split_tagged(text, text);
  ImageRef out;
  out.repository = std::string(text.substr(0, at));
  if (!registry::valid_repository_name(out.repository)) {
    return fail(ErrorCode::kNameInvalid, "invalid repository name in " + std::string(text));
  }
  auto d = registry::parse_client_digest(text.substr(at + 1));
  if (!d) return std::unexpected(d.error());
  out.digest = *d;
  return out;
}

std::expected<ImageRef, Error> parse_foreign_ref(std::string_view text) {
  if (text.find('@') != std::string_view::npos) {
    return fail(ErrorCode::kImageInvalid,
                "a digest cannot name an imported image: " + std::string(text));
  }
  std::string_view rest = text;
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    auto first = rest.substr(0, slash);
    // docker's rule: a first component with '.' or ':', or "localhost", is a host.
    if (first == "localhost" || first.find_first_of(".:") != std::string_view::npos) {
      bool hub = first == "docker.io" || first == "index.docker.io";
      rest.remove_prefix(slash + 1);
      if (hub && rest.starts_with("library/")) rest.remove_prefix(8);
    }
  }
  return split_tagged(rest, text);
}

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

std::optional<Platform> parse_platform(std::string_view text) {
  Platform p;
  auto a = text.find('/');
  if (a == std::string_view::npos || a == 0) return std::nullopt;
  p.os = std::string(text.substr(0, a));
  auto rest = text.substr(a + 1);
  auto b = rest.find('/');
  p.architecture = std::string(rest.substr(0, b));
  if (b != std::string_view::npos) p.variant = std::string(rest.substr(b + 1));
  if (p.architecture.empty() || (b != std::string_view::npos && p.variant.empty())) {
    return std::nullopt;
  }
  return p;
}

Platform platform_of(const json& j) {
  Platform p;
  if (!j.is_object()) return p;
  auto text = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  p.os = text("os");
  p.architecture = text("architecture");
  p.variant = text("variant");
  return p;
}

bool platform_matches(const Platform& want, const Platform& have) {
  if (want.os != have.os || want.architecture != have.architecture) return false;
  if (want.variant.empty()) return true;
  std::string variant = have.variant;
  if (variant.empty() && have.architecture == "arm64") variant = "v8";
  return want.variant == variant;
}

bool StoredManifest::is_index() const {
  return record.media_type == registry::kOciIndex ||
         record.media_type == registry::kDockerManifestList;
}

std::expected<storage::Digest, Error> resolve(const storage::MetadataStore& meta,
                                              const ImageRef& ref) {
  if (ref.digest) return *ref.digest;
  auto d = meta.resolve_tag(ref.repository, ref.tag);
  if (!d) return std::unexpected(storage_error(d.error(), "resolving " + ref.str()));
  if (!*d) return fail(ErrorCode::kManifestUnknown, "no image " + ref.str());
  return **d;
}

std::expected<StoredManifest, Error> load_manifest(const storage::MetadataStore& meta,
                                                   const storage::BlobStore& blobs,
                                                   std::string_view repository,
                                                   const storage::Digest& digest) {
  auto rec = meta.get_manifest(repository, digest);
  if (!rec) return std::unexpected(storage_error(rec.error(), "reading a manifest"));
  if (!*rec) {
    return fail(ErrorCode::kManifestUnknown,
                "no manifest " + digest.str() + " in " + std::string(repository));
  }
  StoredManifest out{std::move(**rec), {}, {}};
  auto bytes = blobs.read_all(digest, registry::kMaxManifestBytes * 4);
  if (!bytes) return std::unexpected(storage_error(bytes.error(), "reading " + digest.str()));
  out.bytes = std::move(*bytes);
  out.json = json::parse(out.bytes, nullptr, false);
  if (!out.json.is_object()) return fail(ErrorCode::kInternal, "stored manifest is not JSON");
  return out;
}

std::expected<json, Error> load_json_blob(const storage::BlobStore& blobs,
                                          const storage::Digest& digest) {
  auto bytes = blobs.read_all(digest, kMaxJsonBlob);
  if (!bytes) return std::unexpected(storage_error(bytes.error(), "reading " + digest.str()));
  json j = json::parse(*bytes, nullptr, false);
  if (j.is_discarded()) return fail(ErrorCode::kImageInvalid, digest.str() + " is not JSON");
  return j;
}

std::expected<json, Error> select_platform(const StoredManifest& index, const Platform& want) {
  std::string have;
  const json& list = index.json.value("manifests", json::array());
  for (const auto& m : list) {
    if (!m.is_object()) continue;
    Platform p = platform_of(m.value("platform", json::object()));
    if (p.os == "unknown") continue;  // attestation manifests (BuildKit)
    if (platform_matches(want, p)) return m;
    if (!have.empty()) have += ", ";
    have += p.str();
  }
  return fail(ErrorCode::kImageInvalid, "the index has no image for platform " + want.str() +
                                            " (it has: " + (have.empty() ? "none" : have) +
                                            "); choose one with platform=os/arch[/variant]");
}

Error storage_error(storage::StorageError e, std::string_view doing) {
  if (e == storage::StorageError::kNotFound) {
    return Error{ErrorCode::kBlobUnknown, std::string(doing) + ": not found", {}};
  }
  if (e == storage::StorageError::kQuotaExceeded) {
    return Error{ErrorCode::kDenied, std::string(doing) + ": namespace quota exceeded", {}};
  }
  return Error{
      ErrorCode::kInternal, std::string(doing) + ": " + std::string(storage::to_string(e)), {}};
}

}  // namespace drydock::images
