#include "storage/metadata_store.hpp"

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <string>

#include "storage/clock.hpp"
#include "storage/metadata_schema.hpp"
#include "storage/sqlite_db.hpp"

namespace drydock::storage {
namespace {

using metadata_sql::kMigrations;
using metadata_sql::kSqlText;
using metadata_sql::Sql;
using sqlite::Connection;
using sqlite::DigestText;
using sqlite::Query;
using enum metadata_sql::Sql;

// Readers beyond the number of request threads only cost memory; four covers
// the network pool plus a background job.
constexpr std::size_t kReaderConnections = 4;
constexpr int kBusyTimeoutMs = 5000;

Query query(Connection& c, Sql id) { return Query(c, c.statement(id, kSqlText[id])); }

std::int64_t sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, kMax));
}

// Runs a statement that returns no rows, discarding the change count.
Result<void> run(Query& q) {
  Result<int> r = q.run();
  if (!r) return std::unexpected(r.error());
  return {};
}

// A stored digest that does not parse means the file was edited by hand or
// corrupted: report it rather than crash.
Result<Digest> column_digest(const Query& q, int col) {
  std::optional<Digest> d = parse_digest(q.text(col));
  if (!d) {
    std::fprintf(stderr, "storage: sqlite: malformed digest in database: %.*s\n",
                 static_cast<int>(q.text(col).size()), q.text(col).data());
    return std::unexpected(StorageError::kDatabase);
  }
  return *std::move(d);
}

// Reads a row laid out as DRYDOCK_MANIFEST_COLUMNS.
Result<ManifestRecord> manifest_from_row(const Query& q, std::string_view repo) {
  ManifestRecord m;
  m.repository = std::string(repo);
  Result<Digest> digest = column_digest(q, 0);
  if (!digest) return std::unexpected(digest.error());
  m.digest = *std::move(digest);
  m.media_type = std::string(q.text(1));
  m.size = static_cast<std::uint64_t>(q.int64(2));
  if (!q.is_null(3)) {
    Result<Digest> subject = column_digest(q, 3);
    if (!subject) return std::unexpected(subject.error());
    m.subject = *std::move(subject);
  }
  m.artifact_type = std::string(q.text(4));
  m.annotations_json = std::string(q.text(5));
  m.created_unix = q.int64(6);
  return m;
}

// BEGIN IMMEDIATE ... COMMIT, rolled back on scope exit unless committed.
// IMMEDIATE takes the write lock up front so that the checks made inside the
// transaction still hold when it commits.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(c) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (!active_) return;
    Query q = query(c_, kRollback);
    if (!q.run()) sqlite::log_error(c_.db(), "rollback");
  }
  Result<void> begin() {
    Query q = query(c_, kBegin);
    if (Result<void> r = run(q); !r) return r;
    active_ = true;
    return {};
  }
  Result<void> commit() {
    Query q = query(c_, kCommit);
    if (Result<void> r = run(q); !r) return r;
    active_ = false;
    return {};
  }

 private:
  Connection& c_;
  bool active_ = false;
};

// Read-only connections handed out one caller at a time. WAL lets them read
// a consistent snapshot while the writer commits, so reads never wait for
// writes.
class ReaderPool {
 public:
  ReaderPool(const std::filesystem::path& file, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      auto c = std::make_unique<Connection>(file, kSqlCount);
      c->exec_or_throw("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs));
      c->exec_or_throw("PRAGMA query_only = ON");
      free_.push_back(c.get());
      all_.push_back(std::move(c));
    }
  }

  class Lease {
   public:
    Lease(ReaderPool& p, Connection* c) : pool_(p), c_(c) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.release(c_); }
    Connection& operator*() const { return *c_; }

   private:
    ReaderPool& pool_;
    Connection* c_;
  };

  Lease acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !free_.empty(); });
    Connection* c = free_.back();
    free_.pop_back();
    return Lease(*this, c);
  }

 private:
  void release(Connection* c) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(c);
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> free_;
};

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

struct MetadataStore::Impl {
  explicit Impl(const std::filesystem::path& file)
      : writer(open_writer(file)), readers(file, kReaderConnections) {}

  static std::unique_ptr<Connection> open_writer(const std::filesystem::path& file) {
    auto c = std::make_unique<Connection>(file, kSqlCount);
    configure_writer(*c);
    migrate(*c);
    return c;
  }

  Result<std::optional<std::int64_t>> repo_id(Connection& c, std::string_view repo);
  Result<std::int64_t> ensure_repo(Connection& c, std::string_view repo);
  Result<bool> exists(Connection& c, Sql id, std::int64_t repo, std::string_view digest);
  Result<std::vector<Digest>> find_missing(Connection& c, std::int64_t repo,
                                           std::span<const ManifestRef> refs);
  Result<void> write_manifest(Connection& c, std::int64_t repo, const ManifestRecord& m,
                              std::span<const ManifestRef> refs);
  Result<void> write_refs(Connection& c, std::int64_t repo, std::string_view manifest,
                          std::span<const ManifestRef> refs);
  Result<void> set_tag(Connection& c, std::int64_t repo, std::string_view tag,
                       std::string_view digest);
  Result<std::vector<std::string>> names(Query& q);
  // kImmutable if any tag name `tags` yields is immutable in `repo`.
  Result<void> refuse_immutable(Query& tags, std::string_view repo);
  Result<std::optional<QuotaRefusal>> over_quota(Connection& c, std::string_view repo,
                                                 std::span<const BlobInfo> blobs) const;

  std::mutex write_mu;  // serializes every use of `writer`
  std::unique_ptr<Connection> writer;
  TagRules immutable;  // set before serving; read under write_mu or after
  QuotaLimits quotas;  // likewise
  mutable ReaderPool readers;
};

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

// --- garbage collection -------------------------------------------------------

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
    s.uploading.emplace_back(up.text(0));
    return {};
  });
}

}  // namespace

Result<GcSnapshot> MetadataStore::gc_snapshot() const {
  auto lease = impl_->readers.acquire();
  Connection& c = *lease;
  {
    Query begin = query(c, kBeginRead);
    if (Result<void> r = run(begin); !r) return std::unexpected(r.error());
  }
  GcSnapshot s;
  Result<void> read = read_graph(c, s);
  Query end = query(c, read ? kCommit : kRollback);
  if (Result<void> r = run(end); !r && read) return std::unexpected(r.error());
  if (!read) return std::unexpected(read.error());
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
                                      std::int64_t linked_before) {
  std::lock_guard lock(impl_->write_mu);
  DigestText digest(d);
  Query q = query(*impl_->writer, kGcUnlink);
  q.bind(1, repo).bind(2, digest.view()).bind(3, linked_before);
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

// --- quotas and usage ----------------------------------------------------------

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
