#include "server/store_rules.hpp"

#include <optional>
#include <string>
#include <string_view>

#include "auth/access.hpp"

namespace drydock::server {
namespace {

// registry.immutable_tags as the store's rules: the first rule matching the
// repository (a grant pattern) and the tag (a glob) names itself.
storage::TagRules immutable_tags(const config::RegistryConfig& r) {
  return [rules = r.immutable_tags](std::string_view repo,
                                    std::string_view tag) -> std::optional<std::string> {
    for (const auto& rule : rules) {
      if (auth::pattern_matches(rule.repositories, repo) && auth::pattern_matches(rule.tags, tag)) {
        return "registry.immutable_tags: repositories \"" + rule.repositories + "\", tags \"" +
               rule.tags + "\"";
      }
    }
    return std::nullopt;
  };
}

// registry.quotas as the store's limits.
storage::QuotaLimits quota_limits(const config::QuotaConfig& q) {
  storage::QuotaLimits out;
  out.default_bytes = q.default_bytes;
  for (const auto& [ns, limit] : q.namespaces) out.namespaces[ns] = limit;
  return out;
}

}  // namespace

void apply_store_rules(storage::MetadataStore& meta, const config::RegistryConfig& registry) {
  if (!registry.immutable_tags.empty()) meta.set_immutable_tags(immutable_tags(registry));
  meta.set_quotas(quota_limits(registry.quotas));
}

}  // namespace drydock::server
