// MetadataStore: what garbage collection reads and deletes (storage/gc.hpp).

#include "storage/metadata_store_impl.hpp"

namespace drydock::storage {

using namespace metadata_detail;

namespace {

// Steps `q` to the end, calling `row` for each row; `row` returns false to
// stop with kDatabase (it logged why).
template <class F>
Result<void> each_row(Query& q, F&& row) {
  for (;;) {
    Result<bool> more = q.step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    if (Result<void> r = row(); !r) return r;
  }
}

Result<void> read_graph(Connection& c, GcSnapshot& s) {
  Query repos = query(c, kGcRepos);
  Result<void> r = each_row(repos, [&]() -> Result<void> {
    s.repositories.emplace_back(repos.int64(0), std::string(repos.text(1)));
    return {};
  });
  if (!r) return r;
  Query m = query(c, kGcManifests);
  r = each_row(m, [&]() -> Result<void> {
    GcSnapshot::Manifest row{.repo = m.int64(0)};
    Result<Digest> d = column_digest(m, 1);
    if (!d) return std::unexpected(d.error());
    row.digest = *std::move(d);
    row.size = static_cast<std::uint64_t>(m.int64(2));
    if (!m.is_null(3)) {
      Result<Digest> subject = column_digest(m, 3);
      if (!subject) return std::unexpected(subject.error());
      row.subject = *std::move(subject);
    }
    row.pushed = m.int64(4);
    row.released = m.int64(5) != 0;
    s.manifests.push_back(std::move(row));
    return {};
  });
  if (!r) return r;
  Query refs = query(c, kGcRefs);
  r = each_row(refs, [&]() -> Result<void> {
    Result<Digest> from = column_digest(refs, 1);
    Result<Digest> to = column_digest(refs, 2);
    if (!from || !to) return std::unexpected(StorageError::kDatabase);
    s.refs.push_back({refs.int64(0), *std::move(from), *std::move(to), refs.int64(3) == 1});
    return {};
  });
  if (!r) return r;
  Query tags = query(c, kGcTags);
  r = each_row(tags, [&]() -> Result<void> {
    Result<Digest> d = column_digest(tags, 2);
    if (!d) return std::unexpected(d.error());
    s.tags.push_back({tags.int64(0), std::string(tags.text(1)), *std::move(d), tags.int64(3)});
    return {};
  });
  if (!r) return r;
  Query links = query(c, kGcLinks);
  r = each_row(links, [&]() -> Result<void> {
    Result<Digest> d = column_digest(links, 1);
    if (!d) return std::unexpected(d.error());
    s.links.push_back({links.int64(0), *std::move(d), static_cast<std::uint64_t>(links.int64(2)),
                       links.int64(3)});
    return {};
  });
  if (!r) return r;
  Query up = query(c, kGcUploadRepos);
  return each_row(up, [&]() -> Result<void> {
    s.uploading.emplace_back(up.text(0), up.int64(1));
    return {};
  });
}

}  // namespace

Result<GcSnapshot> MetadataStore::gc_snapshot() const {
  auto lease = impl_->readers.acquire();
  Connection& c = *lease;
  Transaction read(c);
  if (Result<void> r = read.begin(Transaction::Mode::kDeferred); !r) {
    return std::unexpected(r.error());
  }
  GcSnapshot s;
  if (Result<void> r = read_graph(c, s); !r) return std::unexpected(r.error());
  if (Result<void> r = read.commit(); !r) return std::unexpected(r.error());
  return s;
}

Result<bool> MetadataStore::gc_delete_manifest(std::int64_t repo, const Digest& d,
                                               std::int64_t pushed_before,
                                               std::int64_t standalone_before) {
  std::lock_guard lock(impl_->write_mu);
  Connection& c = *impl_->writer;
  Transaction tx(c);
  if (Result<void> r = tx.begin(); !r) return std::unexpected(r.error());
  DigestText digest(d);
  Query del = query(c, kGcDeleteManifest);
  del.bind(1, repo).bind(2, digest.view()).bind(3, pushed_before).bind(4, standalone_before);
  Result<int> changed = del.run();
  if (!changed) return std::unexpected(changed.error());
  if (*changed == 0) return false;
  for (Sql step : {kRefsDelete, kBlobUnlinkById}) {
    Query q = query(c, step);
    q.bind(1, repo).bind(2, digest.view());
    if (Result<void> r = run(q); !r) return std::unexpected(r.error());
  }
  if (Result<void> r = tx.commit(); !r) return std::unexpected(r.error());
  return true;
}

Result<bool> MetadataStore::gc_unlink(std::int64_t repo, const Digest& d,
                                      std::int64_t linked_before, std::int64_t sessions_since) {
  std::lock_guard lock(impl_->write_mu);
  DigestText digest(d);
  Query q = query(*impl_->writer, kGcUnlink);
  q.bind(1, repo).bind(2, digest.view()).bind(3, linked_before).bind(4, sessions_since);
  Result<int> changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  return *changed > 0;
}

Result<bool> MetadataStore::gc_untag(std::int64_t repo, std::string_view repo_name,
                                     std::string_view tag, const Digest& d,
                                     std::int64_t updated) {
  std::lock_guard lock(impl_->write_mu);
  if (impl_->immutable && impl_->immutable(repo_name, tag)) {
    return std::unexpected(StorageError::kImmutable);
  }
  Connection& c = *impl_->writer;
  Transaction tx(c);
  if (Result<void> r = tx.begin(); !r) return std::unexpected(r.error());
  DigestText digest(d);
  Query del = query(c, kGcUntag);
  del.bind(1, repo).bind(2, tag).bind(3, digest.view()).bind(4, updated);
  Result<int> changed = del.run();
  if (!changed) return std::unexpected(changed.error());
  if (*changed == 0) return false;
  Query release = query(c, kGcReleaseIfUntagged);
  release.bind(1, repo).bind(2, digest.view());
  if (Result<void> r = run(release); !r) return std::unexpected(r.error());
  if (Result<void> r = tx.commit(); !r) return std::unexpected(r.error());
  return true;
}

std::optional<std::string> MetadataStore::immutable_rule(std::string_view repo,
                                                        std::string_view tag) const {
  if (!impl_->immutable) return std::nullopt;
  return impl_->immutable(repo, tag);
}

Result<bool> MetadataStore::blob_linked_anywhere(const Digest& d) const {
  auto lease = impl_->readers.acquire();
  DigestText digest(d);
  Query q = query(*lease, kBlobLinkedAnywhere);
  q.bind(1, digest.view());
  return q.step();
}

Result<std::unordered_set<std::string>> MetadataStore::linked_digests() const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kLinkedDigests);
  std::unordered_set<std::string> out;
  Result<void> r = each_row(q, [&]() -> Result<void> {
    out.emplace(q.text(0));
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

}  // namespace drydock::storage
