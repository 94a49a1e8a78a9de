// Quotas in the protocol: the 403 a refused link gets, and the usage report
// (GET /usage, Drydock's own endpoint, not the distribution spec's).

#include <map>
#include <nlohmann/json.hpp>

#include "registry/reference.hpp"
#include "registry/registry.hpp"
#include "registry/registry_internal.hpp"

namespace drydock::registry {

using nlohmann::json;

// DENIED is the spec's code for "access to the resource is denied"; the
// message names namespace, usage, limit and the size asked, because docker
// and other clients show only the message.
Reply quota_exceeded(const storage::QuotaRefusal& r) {
  return error_reply(ErrorCode::kDenied, r.message(),
                     json_text(json{{"namespace", r.namespace_name},
                                    {"used", r.used},
                                    {"limit", r.limit},
                                    {"needed", r.needed}}));
}

Reply quota_refused(const storage::MetadataStore& meta, std::string_view repository,
                    std::span<const storage::BlobInfo> blobs) {
  auto why = meta.quota_check(repository, blobs);
  if (why && *why) return quota_exceeded(**why);
  // Space was freed since the refusal: say what happened without figures.
  return error_reply(ErrorCode::kDenied, "quota exceeded for namespace \"" +
                                             std::string(storage::namespace_of(repository)) +
                                             "\"; try again");
}

namespace {

json usage_json(const storage::NamespaceUsage& ns, json repositories) {
  json limit = ns.limit ? json(*ns.limit) : json(nullptr);
  return json{{"name", ns.name},
              {"used", ns.used},
              {"blobs", ns.blobs},
              {"limit", std::move(limit)},
              {"repositories", std::move(repositories)}};
}

}  // namespace

Reply Registry::usage(const Query& q, const Visible& visible) const {
  std::string ns(q.get("namespace").value_or(""));
  if (!ns.empty() && !valid_repository_name(ns)) {
    return error_reply(ErrorCode::kNameInvalid, "invalid namespace", json_text(json{{"namespace", ns}}));
  }
  auto namespaces = meta_.namespace_usage(storage::namespace_of(ns));
  if (!namespaces) return storage_failure(namespaces.error());
  auto repositories = meta_.repository_usage(storage::namespace_of(ns));
  if (!repositories) return storage_failure(repositories.error());
  std::map<std::string_view, json> by_namespace;
  for (const auto& repo : *repositories) {
    if (visible && !visible(repo.name)) continue;
    by_namespace[storage::namespace_of(repo.name)].push_back(
        json{{"name", repo.name}, {"used", repo.used}, {"blobs", repo.blobs}});
  }
  json list = json::array();
  for (const auto& n : *namespaces) {
    auto found = by_namespace.find(n.name);
    json repos = found == by_namespace.end() ? json::array() : std::move(found->second);
    // Without full view, a namespace shows when some repository of it does.
    if (visible && repos.empty()) continue;
    list.push_back(usage_json(n, std::move(repos)));
  }
  Reply r;
  r.body = json_text(json{{"namespaces", std::move(list)}});
  r.header("Content-Type", "application/json");
  return r;
}

}  // namespace drydock::registry
