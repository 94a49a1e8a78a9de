// Fuzz target "reference": registry/reference.hpp, storage/digest.hpp and
// builder/image_ref.hpp.

#include <regex>

#include "builder/image_ref.hpp"
#include "fuzz/fuzz_target.hpp"
#include "registry/reference.hpp"

namespace drydock::fuzz {
namespace {

// The grammars as the specs write them (distribution-spec "Pulling
// manifests", image-spec descriptor.md), as a second opinion on the
// hand-written scanners. std::regex recurses per character, so only short
// inputs are compared.
constexpr std::size_t kMaxRegexInput = 300;

const std::regex& name_regex() {
  static const std::regex re(
      R"([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*)");
  return re;
}
const std::regex& tag_regex() {
  static const std::regex re(R"([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})");
  return re;
}
const std::regex& digest_regex() {
  static const std::regex re(R"([a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)");
  return re;
}

void check_grammars(std::string_view s) {
  if (s.size() > kMaxRegexInput) return;
  const std::string text(s);
  expect(registry::valid_repository_name(s) ==
             (s.size() <= 255 && std::regex_match(text, name_regex())),
         "valid_repository_name disagrees with the spec's grammar");
  expect(registry::valid_tag(s) == std::regex_match(text, tag_regex()),
         "valid_tag disagrees with the spec's grammar");
  expect(registry::looks_like_digest(s) == std::regex_match(text, digest_regex()),
         "looks_like_digest disagrees with the spec's grammar");
}

void check_digests(std::string_view s) {
  const auto plain = storage::parse_digest(s);
  if (plain) expect(plain->str() == s, "parse_digest result does not print as its input");
  const auto client = registry::parse_client_digest(s);
  if (client) {
    expect(registry::looks_like_digest(s), "parse_client_digest accepts a non-digest");
    expect(client->str() == s, "parse_client_digest result does not print as its input");
    expect(plain == *client, "parse_client_digest and parse_digest disagree");
  } else {
    expect(client.error().code == registry::ErrorCode::kDigestInvalid ||
               client.error().code == registry::ErrorCode::kUnsupported,
           "parse_client_digest failed with an unexpected code");
    expect(!plain, "parse_digest accepts what parse_client_digest refuses");
  }
}

// host/path:tag@digest, leaving out what the reference does not have.
std::string image_ref_string(const builder::ImageRef& r) {
  std::string out = r.host.empty() ? r.path : r.host + "/" + r.path;
  if (!r.tag.empty()) out += ":" + r.tag;
  if (r.digest) out += "@" + r.digest->str();
  return out;
}

void check_image_ref(std::string_view s) {
  const auto ref = builder::parse_image_ref(s);
  if (!ref) return;
  expect(registry::valid_repository_name(ref->path),
         "parse_image_ref accepts a path the registry refuses");
  expect(ref->tag.empty() || registry::valid_tag(ref->tag),
         "parse_image_ref accepts a tag the registry refuses");
  expect(!ref->manifest_reference().empty(), "an image reference with no tag or digest");
  const std::string printed = image_ref_string(*ref);
  const auto again = builder::parse_image_ref(printed);
  expect(again.has_value(), "a parsed image reference does not re-parse: " + printed);
  expect(again->host == ref->host && again->path == ref->path && again->tag == ref->tag &&
             again->digest == ref->digest,
         "an image reference re-parses differently: " + printed);
  builder::UpstreamPolicy policy;
  policy.mirrors.emplace("docker.io", "https://mirror.example");
  (void)builder::is_local_host(policy, ref->host);
  if (auto source = builder::source_of(policy, *ref); source && source->upstream) {
    expect(builder::is_upstream_repository(source->store_repository),
           "an upstream source outside the upstream namespace");
    expect(registry::valid_repository_name(source->store_repository),
           "an upstream source kept under an invalid repository name");
  }
  if (auto hub = builder::docker_hub_fallback(policy, *ref)) {
    expect(registry::valid_repository_name(hub->store_repository),
           "a Docker Hub fallback kept under an invalid repository name");
  }
}

}  // namespace

void fuzz_reference(Input in) {
  const std::string_view s = as_text(in);
  check_grammars(s);
  check_digests(s);
  check_image_ref(s);
}

}  // namespace drydock::fuzz
