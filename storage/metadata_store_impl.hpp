#pragma once

// Internal to storage/: what the MetadataStore's source files share (the
// store is split by topic: metadata_store.cpp the core, metadata_store_gc.cpp
// garbage collection, metadata_store_quota.cpp quotas and usage). Included by
// those files only.

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/metadata_schema.hpp"
#include "storage/metadata_store.hpp"
#include "storage/sqlite_db.hpp"

namespace drydock::storage::metadata_detail {

using metadata_sql::kMigrations;
using metadata_sql::kSqlText;
using metadata_sql::Sql;
using sqlite::Connection;
using sqlite::DigestText;
using sqlite::Query;
using enum metadata_sql::Sql;

// Readers beyond the number of request threads only cost memory; four covers
// the network pool plus a background job.
inline constexpr std::size_t kReaderConnections = 4;
inline constexpr int kBusyTimeoutMs = 5000;

inline Query query(Connection& c, Sql id) { return Query(c, c.statement(id, kSqlText[id])); }

inline std::int64_t sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, kMax));
}

// Runs a statement that returns no rows, discarding the change count.
inline Result<void> run(Query& q) {
  Result<int> r = q.run();
  if (!r) return std::unexpected(r.error());
  return {};
}

// A stored digest that does not parse means the file was edited by hand or
// corrupted: report it rather than crash.
inline Result<Digest> column_digest(const Query& q, int col) {
  std::optional<Digest> d = parse_digest(q.text(col));
  if (!d) {
    std::fprintf(stderr, "storage: sqlite: malformed digest in database: %.*s\n",
                 static_cast<int>(q.text(col).size()), q.text(col).data());
    return std::unexpected(StorageError::kDatabase);
  }
  return *std::move(d);
}

// Reads a row laid out as DRYDOCK_MANIFEST_COLUMNS.
inline Result<ManifestRecord> manifest_from_row(const Query& q, std::string_view repo) {
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

// Writers BEGIN IMMEDIATE: the write lock taken up front keeps the checks
// made inside the transaction true until it commits.
using sqlite::Transaction;

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

}  // namespace drydock::storage::metadata_detail

namespace drydock::storage {

struct MetadataStore::Impl {
  using Connection = metadata_detail::Connection;
  using Query = metadata_detail::Query;
  using Sql = metadata_detail::Sql;
  using ReaderPool = metadata_detail::ReaderPool;

  explicit Impl(const std::filesystem::path& file)
      : writer(open_writer(file)), readers(file, metadata_detail::kReaderConnections) {}

  // Opens, configures and migrates the writer connection (metadata_store.cpp).
  static std::unique_ptr<Connection> open_writer(const std::filesystem::path& file);

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

}  // namespace drydock::storage
