#include "builder/image_ref.hpp"

#include <algorithm>
#include <cctype>

namespace drydock::builder {
namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* (OCI distribution
// spec, "Pulling manifests": the <name> grammar).
bool valid_component(std::string_view c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size();) {
    if (lower_alnum(c[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < c.size() && !lower_alnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool ok = sep == "." || sep == "_" || sep == "__" ||
              std::all_of(sep.begin(), sep.end(), [](char s) { return s == '-'; });
    if (!ok) return false;
    i = j;
  }
  return true;
}

bool valid_path(std::string_view path) {
  if (path.empty() || path.size() > 255) return false;
  std::size_t start = 0;
  while (true) {
    auto slash = path.find('/', start);
    if (!valid_component(path.substr(start, slash - start))) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t.front())) return false;
  return std::all_of(t.begin(), t.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "name:port" -> ("name", "port"); IPv6 "[::1]:5000" -> ("[::1]", "5000").
std::pair<std::string_view, std::string_view> split_port(std::string_view host) {
  auto colon = host.rfind(':');
  auto bracket = host.rfind(']');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket)) {
    return {host, {}};
  }
  return {host.substr(0, colon), host.substr(colon + 1)};
}

std::string_view mirror_endpoint(const UpstreamPolicy& policy, std::string_view registry) {
  auto it = policy.mirrors.find(registry);
  return it == policy.mirrors.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace

std::string ImageRef::manifest_reference() const { return digest ? digest->str() : tag; }

std::expected<ImageRef, std::string> parse_image_ref(std::string_view text) {
  auto bad = [&](std::string why) {
    return std::unexpected("invalid reference \"" + std::string(text) + "\": " + why);
  };
  std::string_view s = text;
  ImageRef r;
  if (auto at = s.find('@'); at != std::string_view::npos) {
    r.digest = storage::parse_digest(s.substr(at + 1));
    if (!r.digest) return bad("bad digest");
    s = s.substr(0, at);
  }
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    std::string_view first = s.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
      r.host = lowercase(first);
      s = s.substr(slash + 1);
    }
  }
  auto colon = s.rfind(':');
  if (colon != std::string_view::npos) {
    r.tag = s.substr(colon + 1);
    if (!valid_tag(r.tag)) return bad("bad tag");
    s = s.substr(0, colon);
  } else if (!r.digest) {
    r.tag = "latest";
  }
  if (!valid_path(s)) return bad("bad repository name");
  r.path = s;
  return r;
}

bool is_local_host(const UpstreamPolicy& policy, std::string_view host) {
  std::string h = lowercase(host);
  auto [name, port] = split_port(h);
  for (const auto& entry : policy.local_hosts) {
    std::string e = lowercase(entry);
    if (e == h) return true;
    if (split_port(e).second.empty() && e == name) return true;  // any port
  }
  unsigned own = policy.own_port ? policy.own_port->load() : 0;
  return own != 0 && (name == "127.0.0.1" || name == "[::1]") && port == std::to_string(own);
}

std::expected<std::string, std::string> upstream_repository(std::string_view host,
                                                            std::string_view path) {
  std::string mapped;
  for (char c : lowercase(host)) {
    if (c == '[' || c == ']') continue;
    mapped += c == ':' ? '_' : c;
  }
  if (!valid_component(mapped)) {
    return std::unexpected("registry host \"" + std::string(host) +
                           "\" cannot be kept in the store (use a name or IPv4 address)");
  }
  std::string repository = std::string(kUpstreamNamespace) + "/" + mapped + "/" + std::string(path);
  // The prefix makes the name longer than the one the client wrote; past 255
  // characters the registry would refuse to serve it (NAME_INVALID).
  if (!valid_path(repository)) {
    return std::unexpected("\"" + std::string(host) + "/" + std::string(path) +
                           "\" cannot be kept in the store: with its \"" +
                           std::string(kUpstreamNamespace) +
                           "/\" prefix it is not a valid repository name (255 characters at most)");
  }
  return repository;
}

bool is_upstream_repository(std::string_view repository) {
  return repository.starts_with(kUpstreamNamespace) &&
         repository.substr(kUpstreamNamespace.size()).starts_with('/');
}

std::expected<ImageSource, std::string> source_of(const UpstreamPolicy& policy,
                                                  const ImageRef& ref) {
  if (ref.host.empty() || is_local_host(policy, ref.host)) {
    return ImageSource{.store_repository = ref.path};
  }
  ImageSource src{.upstream = true, .registry = ref.host, .remote_repository = ref.path};
  // Docker Hub's aliases and its implicit "library/" (distribution/reference
  // normalize.go).
  if (src.registry == "index.docker.io" || src.registry == "registry-1.docker.io") {
    src.registry = "docker.io";
  }
  if (src.registry == "docker.io" && src.remote_repository.find('/') == std::string::npos) {
    src.remote_repository = "library/" + src.remote_repository;
  }
  src.endpoint = mirror_endpoint(policy, src.registry);
  // Docker Hub serves the API on another name than the one images carry.
  if (src.endpoint.empty() && src.registry == "docker.io") {
    src.endpoint = "https://registry-1.docker.io";
  }
  auto repo = upstream_repository(src.registry, src.remote_repository);
  if (!repo) return std::unexpected(repo.error());
  src.store_repository = std::move(*repo);
  return src;
}

std::optional<ImageSource> docker_hub_fallback(const UpstreamPolicy& policy, const ImageRef& ref) {
  if (!ref.host.empty() || mirror_endpoint(policy, "docker.io").empty()) return std::nullopt;
  ImageRef qualified = ref;
  qualified.host = "docker.io";
  auto src = source_of(policy, qualified);
  if (!src) return std::nullopt;
  return *src;
}

}  // namespace drydock::builder
