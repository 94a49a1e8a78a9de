// MetadataStore: quotas per namespace and usage (storage/quota.hpp).

#include "storage/clock.hpp"
#include "storage/metadata_store_impl.hpp"

namespace drydock::storage {

using namespace metadata_detail;

// Inside the writer's transaction this is the authoritative check: no other
// link can commit between it and the write.
Result<std::optional<QuotaRefusal>> MetadataStore::Impl::over_quota(
    Connection& c, std::string_view repo, std::span<const BlobInfo> blobs) const {
  std::string_view ns = namespace_of(repo);
  std::optional<std::uint64_t> limit = quotas.limit(ns);
  if (!limit) return std::optional<QuotaRefusal>();
  std::uint64_t needed = 0;
  std::vector<const Digest*> counted;
  for (const BlobInfo& b : blobs) {
    if (std::ranges::any_of(counted, [&](const Digest* d) { return *d == b.digest; })) continue;
    counted.push_back(&b.digest);
    DigestText digest(b.digest);
    Query q = query(c, kQuotaBlobInNamespace);
    q.bind(1, ns).bind(2, digest.view());
    Result<bool> held = q.step();
    if (!held) return std::unexpected(held.error());
    if (!*held) needed += b.size;
  }
  if (needed == 0) return std::optional<QuotaRefusal>();  // nothing new: always allowed
  Query q = query(c, kQuotaNamespaceUsed);
  q.bind(1, ns);
  Result<bool> row = q.step();
  if (!row) return std::unexpected(row.error());
  std::uint64_t used = *row ? static_cast<std::uint64_t>(q.int64(0)) : 0;
  if (used <= *limit && needed <= *limit - used) return std::optional<QuotaRefusal>();
  return QuotaRefusal{std::string(ns), used, *limit, needed};
}

void MetadataStore::set_quotas(QuotaLimits limits) {
  std::lock_guard lock(impl_->write_mu);
  impl_->quotas = std::move(limits);
}

const QuotaLimits& MetadataStore::quotas() const { return impl_->quotas; }

Result<void> MetadataStore::link_blobs(std::string_view repo, std::span<const BlobInfo> blobs) {
  std::lock_guard lock(impl_->write_mu);
  Connection& c = *impl_->writer;
  Transaction tx(c);
  if (Result<void> r = tx.begin(); !r) return r;
  Result<std::optional<QuotaRefusal>> refused = impl_->over_quota(c, repo, blobs);
  if (!refused) return std::unexpected(refused.error());
  if (*refused) return std::unexpected(StorageError::kQuotaExceeded);  // tx rolls back
  Result<std::int64_t> id = impl_->ensure_repo(c, repo);
  if (!id) return std::unexpected(id.error());
  for (const BlobInfo& blob : blobs) {
    DigestText digest(blob.digest);
    Query q = query(c, kBlobLink);
    q.bind(1, *id).bind(2, digest.view()).bind(3, static_cast<std::int64_t>(blob.size));
    q.bind(4, unix_now());
    if (Result<void> r = run(q); !r) return r;
  }
  return tx.commit();
}

Result<std::optional<QuotaRefusal>> MetadataStore::quota_check(
    std::string_view repo, std::span<const BlobInfo> blobs) const {
  auto lease = impl_->readers.acquire();
  return impl_->over_quota(*lease, repo, blobs);
}

Result<std::optional<QuotaRefusal>> MetadataStore::quota_check_upload(std::string_view repo,
                                                                      std::uint64_t size) const {
  std::string_view ns = namespace_of(repo);
  std::optional<std::uint64_t> limit = impl_->quotas.limit(ns);
  if (!limit) return std::optional<QuotaRefusal>();
  auto lease = impl_->readers.acquire();
  std::uint64_t figures[2] = {0, 0};  // used, largest blob
  const Sql sql[2] = {kQuotaNamespaceUsed, kQuotaNamespaceLargest};
  for (int i = 0; i < 2; ++i) {
    Query q = query(*lease, sql[i]);
    q.bind(1, ns);
    Result<bool> row = q.step();
    if (!row) return std::unexpected(row.error());
    if (*row) figures[i] = static_cast<std::uint64_t>(q.int64(0));
  }
  const auto [used, largest] = figures;
  if (size <= largest || (used <= *limit && size <= *limit - used)) {
    return std::optional<QuotaRefusal>();
  }
  return QuotaRefusal{std::string(ns), used, *limit, size};
}

Result<std::vector<NamespaceUsage>> MetadataStore::namespace_usage(std::string_view ns) const {
  std::vector<NamespaceUsage> out;
  {
    auto lease = impl_->readers.acquire();
    Query q = query(*lease, kUsageNamespaces);
    q.bind(1, ns);
    for (;;) {
      Result<bool> row = q.step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      out.push_back(NamespaceUsage{std::string(q.text(0)), static_cast<std::uint64_t>(q.int64(1)),
                                   static_cast<std::uint64_t>(q.int64(2)), std::nullopt});
    }
  }
  // Configured namespaces that hold nothing yet are listed too.
  auto listed = [&](std::string_view name) {
    return std::ranges::any_of(out, [&](const NamespaceUsage& u) { return u.name == name; });
  };
  for (const auto& [name, limit] : impl_->quotas.namespaces) {
    if ((ns.empty() || name == ns) && !listed(name)) out.push_back(NamespaceUsage{name});
  }
  if (!ns.empty() && out.empty()) out.push_back(NamespaceUsage{std::string(ns)});
  std::ranges::sort(out, {}, &NamespaceUsage::name);
  for (NamespaceUsage& u : out) u.limit = impl_->quotas.limit(u.name);
  return out;
}

Result<std::vector<RepositoryUsage>> MetadataStore::repository_usage(std::string_view ns) const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kUsageRepositories);
  q.bind(1, ns);
  std::vector<RepositoryUsage> out;
  for (;;) {
    Result<bool> row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(RepositoryUsage{std::string(q.text(0)), static_cast<std::uint64_t>(q.int64(1)),
                                  static_cast<std::uint64_t>(q.int64(2))});
  }
}

}  // namespace drydock::storage
