#include "storage/metadata_store.hpp"

#include "storage/clock.hpp"
#include "storage/metadata_store_impl.hpp"

namespace drydock::storage {
namespace {

using namespace metadata_detail;

void configure_writer(Connection& c) {
  c.exec_or_throw("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs));
  c.exec_or_throw("PRAGMA journal_mode = WAL");
  // In WAL mode NORMAL keeps the database consistent across a crash; only the
  // last commits before a power loss may roll back.
  c.exec_or_throw("PRAGMA synchronous = NORMAL");
  c.exec_or_throw("PRAGMA foreign_keys = ON");
}

void migrate(Connection& c) {
  for (;;) {
    // Re-read inside the write lock: another process may be migrating too.
    c.exec_or_throw("BEGIN IMMEDIATE");
    auto version = c.query_int_or_throw("PRAGMA user_version");
    if (version < 0 || static_cast<std::size_t>(version) > kMigrations.size()) {
      c.exec_or_throw("ROLLBACK");
      throw std::runtime_error("storage: database schema version " + std::to_string(version) +
                               " is newer than this program");
    }
    if (static_cast<std::size_t>(version) == kMigrations.size()) {
      c.exec_or_throw("COMMIT");
      return;
    }
    try {
      c.exec_or_throw(std::string(kMigrations[static_cast<std::size_t>(version)]));
      c.exec_or_throw("PRAGMA user_version = " + std::to_string(version + 1));
      c.exec_or_throw("COMMIT");
    } catch (...) {
      sqlite3_exec(c.db(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
}

}  // namespace

std::unique_ptr<metadata_detail::Connection> MetadataStore::Impl::open_writer(
    const std::filesystem::path& file) {
  auto c = std::make_unique<Connection>(file, kSqlCount);
  configure_writer(*c);
  migrate(*c);
  return c;
}

Result<std::optional<std::int64_t>> MetadataStore::Impl::repo_id(Connection& c,
                                                                 std::string_view repo) {
  Query q = query(c, kRepoId);
  q.bind(1, repo);
  Result<bool> row = q.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::int64_t>();
  return q.int64(0);
}

Result<std::int64_t> MetadataStore::Impl::ensure_repo(Connection& c, std::string_view repo) {
  {
    Query q = query(c, kRepoInsert);
    q.bind(1, repo);
    if (Result<void> r = run(q); !r) return std::unexpected(r.error());
  }
  Result<std::optional<std::int64_t>> id = repo_id(c, repo);
  if (!id) return std::unexpected(id.error());
  if (!*id) return sqlite::db_error(c.db(), "repository row vanished");
  return **id;
}

Result<bool> MetadataStore::Impl::exists(Connection& c, Sql id, std::int64_t repo,
                                         std::string_view digest) {
  Query q = query(c, id);
  q.bind(1, repo).bind(2, digest);
  return q.step();
}

Result<std::vector<Digest>> MetadataStore::Impl::find_missing(Connection& c, std::int64_t repo,
                                                              std::span<const ManifestRef> refs) {
  std::vector<Digest> missing;
  for (const ManifestRef& ref : refs) {
    if (std::ranges::find(missing, ref.digest) != missing.end()) continue;
    DigestText text(ref.digest);
    Sql check = ref.kind == RefKind::kManifest ? kManifestExists : kBlobLinked;
    Result<bool> found = exists(c, check, repo, text.view());
    if (!found) return std::unexpected(found.error());
    if (!*found) missing.push_back(ref.digest);
  }
  return missing;
}

Result<void> MetadataStore::Impl::write_manifest(Connection& c, std::int64_t repo,
                                                 const ManifestRecord& m,
                                                 std::span<const ManifestRef> refs) {
  DigestText digest(m.digest);
  std::optional<DigestText> subject;
  if (m.subject) subject.emplace(*m.subject);
  {
    Query q = query(c, kManifestUpsert);
    q.bind(1, repo).bind(2, digest.view()).bind(3, m.media_type);
    q.bind(4, static_cast<std::int64_t>(m.size));
    if (subject) {
      q.bind(5, subject->view());
    } else {
      q.bind_null(5);
    }
    q.bind(6, m.artifact_type).bind(7, m.annotations_json).bind(8, m.created_unix);
    q.bind(9, unix_now());
    if (Result<void> r = run(q); !r) return r;
  }
  if (Result<void> r = write_refs(c, repo, digest.view(), refs); !r) return r;
  // The manifest's own bytes are a blob of this repository.
  Query q = query(c, kBlobLink);
  q.bind(1, repo).bind(2, digest.view()).bind(3, static_cast<std::int64_t>(m.size));
  q.bind(4, unix_now());
  return run(q);
}

Result<void> MetadataStore::Impl::write_refs(Connection& c, std::int64_t repo,
                                             std::string_view manifest,
                                             std::span<const ManifestRef> refs) {
  {
    Query q = query(c, kRefsDelete);
    q.bind(1, repo).bind(2, manifest);
    if (Result<void> r = run(q); !r) return r;
  }
  for (const ManifestRef& ref : refs) {
    DigestText text(ref.digest);
    Query q = query(c, kRefInsert);
    q.bind(1, repo).bind(2, manifest).bind(3, text.view());
    q.bind(4, std::int64_t{ref.kind == RefKind::kManifest ? 1 : 0});
    if (Result<void> r = run(q); !r) return r;
    if (ref.kind != RefKind::kManifest) continue;
    // A child of an index lives as long as something references it.
    Query release = query(c, kManifestRelease);
    release.bind(1, repo).bind(2, text.view());
    if (Result<void> r = run(release); !r) return r;
  }
  return {};
}

Result<void> MetadataStore::Impl::set_tag(Connection& c, std::int64_t repo, std::string_view tag,
                                          std::string_view digest) {
  Query q = query(c, kTagSet);
  q.bind(1, repo).bind(2, tag).bind(3, digest).bind(4, unix_now());
  return run(q);
}

Result<std::vector<std::string>> MetadataStore::Impl::names(Query& q) {
  std::vector<std::string> out;
  for (;;) {
    Result<bool> row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.emplace_back(q.text(0));
  }
}

Result<void> MetadataStore::Impl::refuse_immutable(Query& tags, std::string_view repo) {
  if (!immutable) return {};
  for (;;) {
    Result<bool> row = tags.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    if (immutable(repo, tags.text(0))) return std::unexpected(StorageError::kImmutable);
  }
}

MetadataStore::MetadataStore(const std::filesystem::path& db_file)
    : impl_(std::make_unique<Impl>(db_file)) {}

MetadataStore::~MetadataStore() = default;

// --- repositories -----------------------------------------------------------

Result<bool> MetadataStore::repository_exists(std::string_view repo) const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kRepoExists);
  q.bind(1, repo);
  return q.step();
}

Result<std::vector<std::string>> MetadataStore::list_repositories(std::string_view after,
                                                                  std::size_t limit) const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kRepoList);
  q.bind(1, after).bind(2, sql_limit(limit));
  return impl_->names(q);
}

Result<bool> MetadataStore::delete_repository(std::string_view repo) {
  std::lock_guard lock(impl_->write_mu);
  Connection& c = *impl_->writer;
  Transaction tx(c);
  if (Result<void> r = tx.begin(); !r) return std::unexpected(r.error());
  Result<std::optional<std::int64_t>> id = impl_->repo_id(c, repo);
  if (!id) return std::unexpected(id.error());
  if (!*id) return false;
  {
    Query tags = query(c, kRepoTags);
    tags.bind(1, **id);
    if (Result<void> r = impl_->refuse_immutable(tags, repo); !r) return std::unexpected(r.error());
  }
  int changed = 0;
  for (Sql step : {kRepoDeleteTags, kRepoDeleteRefs, kRepoDeleteManifests, kRepoDeleteLinks}) {
    Query q = query(c, step);
    q.bind(1, **id);
    Result<int> n = q.run();
    if (!n) return std::unexpected(n.error());
    changed += *n;
  }
  if (changed == 0) return false;
  if (Result<void> r = tx.commit(); !r) return std::unexpected(r.error());
  return true;
}

// --- blob links -------------------------------------------------------------

Result<void> MetadataStore::link_blob(std::string_view repo, const BlobInfo& blob) {
  return link_blobs(repo, std::span<const BlobInfo>(&blob, 1));
}

Result<std::optional<std::uint64_t>> MetadataStore::linked_blob_size(std::string_view repo,
                                                                     const Digest& d) const {
  auto lease = impl_->readers.acquire();
  DigestText digest(d);
  Query q = query(*lease, kBlobSize);
  q.bind(1, repo).bind(2, digest.view());
  Result<bool> row = q.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::uint64_t>();
  return static_cast<std::uint64_t>(q.int64(0));
}

Result<bool> MetadataStore::unlink_blob(std::string_view repo, const Digest& d) {
  std::lock_guard lock(impl_->write_mu);
  DigestText digest(d);
  Query q = query(*impl_->writer, kBlobUnlink);
  q.bind(1, repo).bind(2, digest.view());
  Result<int> changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  return *changed > 0;
}

// --- manifests and tags -----------------------------------------------------

Result<PutManifestOutcome> MetadataStore::put_manifest(const ManifestRecord& m,
                                                       std::span<const ManifestRef> refs,
                                                       std::optional<std::string_view> tag) {
  std::lock_guard lock(impl_->write_mu);
  Connection& c = *impl_->writer;
  Transaction tx(c);
  if (Result<void> r = tx.begin(); !r) return std::unexpected(r.error());
  Result<std::int64_t> repo = impl_->ensure_repo(c, m.repository);
  if (!repo) return std::unexpected(repo.error());
  Result<std::vector<Digest>> missing = impl_->find_missing(c, *repo, refs);
  if (!missing) return std::unexpected(missing.error());
  if (!missing->empty()) return PutManifestOutcome{*std::move(missing)};  // tx rolls back
  // The references are linked already (checked above): only the manifest's
  // own bytes can be new to the namespace.
  BlobInfo own{m.digest, m.size};
  Result<std::optional<QuotaRefusal>> refused =
      impl_->over_quota(c, m.repository, std::span<const BlobInfo>(&own, 1));
  if (!refused) return std::unexpected(refused.error());
  if (*refused) return PutManifestOutcome{{}, {}, *std::move(refused)};  // tx rolls back

  if (Result<void> r = impl_->write_manifest(c, *repo, m, refs); !r) {
    return std::unexpected(r.error());
  }
  if (tag && impl_->immutable) {
    if (auto rule = impl_->immutable(m.repository, *tag)) {
      Query q = query(c, kTagResolve);
      q.bind(1, m.repository).bind(2, *tag);
      Result<bool> row = q.step();
      if (!row) return std::unexpected(row.error());
      if (*row) {
        Result<Digest> current = column_digest(q, 0);
        if (!current) return std::unexpected(current.error());
        if (*current != m.digest) return PutManifestOutcome{{}, *rule};  // tx rolls back
      }
    }
  }
  if (tag) {
    DigestText digest(m.digest);
    if (Result<void> r = impl_->set_tag(c, *repo, *tag, digest.view()); !r) {
      return std::unexpected(r.error());
    }
  }
  if (Result<void> r = tx.commit(); !r) return std::unexpected(r.error());
  return PutManifestOutcome{};
}

Result<std::optional<ManifestRecord>> MetadataStore::get_manifest(std::string_view repo,
                                                                  const Digest& d) const {
  auto lease = impl_->readers.acquire();
  DigestText digest(d);
  Query q = query(*lease, kManifestGet);
  q.bind(1, repo).bind(2, digest.view());
  Result<bool> row = q.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ManifestRecord>();
  Result<ManifestRecord> m = manifest_from_row(q, repo);
  if (!m) return std::unexpected(m.error());
  return *std::move(m);
}

Result<std::optional<Digest>> MetadataStore::resolve_tag(std::string_view repo,
                                                         std::string_view tag) const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kTagResolve);
  q.bind(1, repo).bind(2, tag);
  Result<bool> row = q.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Digest>();
  Result<Digest> d = column_digest(q, 0);
  if (!d) return std::unexpected(d.error());
  return *std::move(d);
}

Result<bool> MetadataStore::delete_manifest(std::string_view repo, const Digest& d) {
  std::lock_guard lock(impl_->write_mu);
  Connection& c = *impl_->writer;
  Transaction tx(c);
  if (Result<void> r = tx.begin(); !r) return std::unexpected(r.error());
  Result<std::optional<std::int64_t>> id = impl_->repo_id(c, repo);
  if (!id) return std::unexpected(id.error());
  if (!*id) return false;
  DigestText digest(d);
  {
    Query tags = query(c, kTagsForManifest);
    tags.bind(1, **id).bind(2, digest.view());
    if (Result<void> r = impl_->refuse_immutable(tags, repo); !r) return std::unexpected(r.error());
  }
  // Tags and refs would also go by ON DELETE CASCADE; deleting them by name
  // keeps the intent readable and independent of the foreign_keys pragma.
  for (Sql step : {kTagsDeleteForManifest, kRefsDelete, kBlobUnlinkById}) {
    Query q = query(c, step);
    q.bind(1, **id).bind(2, digest.view());
    if (Result<void> r = run(q); !r) return std::unexpected(r.error());
  }
  Query q = query(c, kManifestDelete);
  q.bind(1, **id).bind(2, digest.view());
  Result<int> changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  if (*changed == 0) return false;  // nothing deleted: tx rolls back the link removal too
  if (Result<void> r = tx.commit(); !r) return std::unexpected(r.error());
  return true;
}

void MetadataStore::set_immutable_tags(TagRules rules) {
  std::lock_guard lock(impl_->write_mu);
  impl_->immutable = std::move(rules);
}

Result<std::optional<std::string>> MetadataStore::immutable_move(std::string_view repo,
                                                                 std::string_view tag,
                                                                 const Digest& digest) const {
  if (!impl_->immutable) return std::optional<std::string>();
  auto rule = impl_->immutable(repo, tag);
  if (!rule) return std::optional<std::string>();
  auto current = resolve_tag(repo, tag);
  if (!current) return std::unexpected(current.error());
  if (!*current || **current == digest) return std::optional<std::string>();
  return rule;
}

Result<bool> MetadataStore::delete_tag(std::string_view repo, std::string_view tag) {
  std::lock_guard lock(impl_->write_mu);
  if (impl_->immutable && impl_->immutable(repo, tag)) {
    Query q = query(*impl_->writer, kTagResolve);
    q.bind(1, repo).bind(2, tag);
    Result<bool> row = q.step();
    if (!row) return std::unexpected(row.error());
    if (*row) return std::unexpected(StorageError::kImmutable);
    return false;
  }
  Query q = query(*impl_->writer, kTagDelete);
  q.bind(1, repo).bind(2, tag);
  Result<int> changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  return *changed > 0;
}

Result<std::vector<std::string>> MetadataStore::list_tags(std::string_view repo,
                                                          std::string_view after,
                                                          std::size_t limit) const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kTagList);
  q.bind(1, repo).bind(2, after).bind(3, sql_limit(limit));
  return impl_->names(q);
}

Result<std::vector<ManifestRecord>> MetadataStore::referrers(std::string_view repo,
                                                             const Digest& subject) const {
  auto lease = impl_->readers.acquire();
  DigestText digest(subject);
  Query q = query(*lease, kReferrers);
  q.bind(1, repo).bind(2, digest.view());
  std::vector<ManifestRecord> out;
  for (;;) {
    Result<bool> row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    Result<ManifestRecord> m = manifest_from_row(q, repo);
    if (!m) return std::unexpected(m.error());
    out.push_back(*std::move(m));
  }
}

// --- upload sessions ----------------------------------------------------------

Result<void> MetadataStore::add_upload(const UploadRecord& u) {
  std::lock_guard lock(impl_->write_mu);
  Query q = query(*impl_->writer, kUploadAdd);
  q.bind(1, u.id).bind(2, u.repository).bind(3, u.created_unix);
  return run(q);
}

Result<std::optional<UploadRecord>> MetadataStore::get_upload(std::string_view id) const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kUploadGet);
  q.bind(1, id);
  Result<bool> row = q.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<UploadRecord>();
  return UploadRecord{std::string(id), std::string(q.text(0)), q.int64(1)};
}

Result<void> MetadataStore::remove_upload(std::string_view id) {
  std::lock_guard lock(impl_->write_mu);
  Query q = query(*impl_->writer, kUploadRemove);
  q.bind(1, id);
  Result<int> changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  if (*changed == 0) return std::unexpected(StorageError::kNotFound);
  return {};
}

Result<std::vector<UploadRecord>> MetadataStore::uploads_started_before(std::int64_t before_unix,
                                                                        std::size_t limit) const {
  auto lease = impl_->readers.acquire();
  Query q = query(*lease, kUploadsBefore);
  q.bind(1, before_unix).bind(2, static_cast<std::int64_t>(limit));
  std::vector<UploadRecord> out;
  for (;;) {
    Result<bool> row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(UploadRecord{std::string(q.text(0)), std::string(q.text(1)), q.int64(2)});
  }
}

}  // namespace drydock::storage
