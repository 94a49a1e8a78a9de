#include "builder/build_cache.hpp"

#include <array>
#include <cstdio>
#include <mutex>

#include "storage/sqlite_db.hpp"

namespace drydock::builder {

namespace {

using storage::sqlite::Connection;
using storage::sqlite::Query;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS build_cache (
  key TEXT PRIMARY KEY,
  layer_digest TEXT NOT NULL DEFAULT '',
  layer_size INTEGER NOT NULL DEFAULT 0,
  media_type TEXT NOT NULL DEFAULT '',
  diff_id TEXT NOT NULL DEFAULT '',
  created TEXT NOT NULL DEFAULT '',
  last_used INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS build_cache_by_use ON build_cache(last_used);
)";

enum Sql : std::size_t { kGet, kTouch, kPut, kForget, kTotal, kOldest, kLayers, kSqlCount };
constexpr std::array<const char*, kSqlCount> kSqlText = {
    "SELECT layer_digest, layer_size, media_type, diff_id, created FROM build_cache "
    "WHERE key = ?1",
    "UPDATE build_cache SET last_used = ?2 WHERE key = ?1",
    "INSERT OR REPLACE INTO build_cache(key, layer_digest, layer_size, media_type, diff_id, "
    "created, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "DELETE FROM build_cache WHERE key = ?1",
    "SELECT count(*), coalesce(sum(layer_size), 0) FROM build_cache",
    "SELECT key, layer_size FROM build_cache ORDER BY last_used ASC, rowid ASC LIMIT 64",
    "SELECT DISTINCT layer_digest FROM build_cache WHERE layer_digest != ''",
};

// The digests kLayers returns.
storage::Result<std::vector<storage::Digest>> layer_digests(Query& q) {
  std::vector<storage::Digest> out;
  for (;;) {
    auto row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    if (auto d = storage::parse_digest(q.text(0))) out.push_back(*std::move(d));
  }
}

}  // namespace

struct BuildCache::Impl {
  Impl(const std::filesystem::path& db_file, std::uint64_t max)
      : db(db_file, kSqlCount), max_bytes(max) {
    db.exec_or_throw("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;");
    db.exec_or_throw(kSchema);
  }
  Query query(Sql s) { return Query(db, db.statement(s, kSqlText[s])); }
  storage::Result<CacheStats> stats_locked();
  storage::Result<void> forget_locked(std::string_view key);

  std::mutex mu;
  Connection db;
  std::uint64_t max_bytes;
};

BuildCache::BuildCache(const std::filesystem::path& db_file, std::uint64_t max_bytes)
    : impl_(std::make_unique<Impl>(db_file, max_bytes)) {}

BuildCache::~BuildCache() = default;

storage::Result<std::optional<CacheEntry>> BuildCache::lookup(std::string_view key,
                                                              std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  CacheEntry e;
  {
    auto q = impl_->query(kGet);
    q.bind(1, key);
    auto row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<CacheEntry>();
    std::string digest(q.text(0));
    if (!digest.empty()) {
      auto d = storage::parse_digest(digest);
      if (!d) return std::optional<CacheEntry>();  // a row we cannot use is a miss
      e.layer = LayerBlob{*d, static_cast<std::uint64_t>(q.int64(1)), std::string(q.text(2))};
      e.diff_id = q.text(3);
    }
    e.created = q.text(4);
  }
  auto t = impl_->query(kTouch);
  t.bind(1, key).bind(2, now);
  if (auto r = t.run(); !r) return std::unexpected(r.error());
  return std::optional<CacheEntry>(std::move(e));
}

storage::Result<void> BuildCache::put(std::string_view key, const CacheEntry& e,
                                      std::int64_t now) {
  {
    std::lock_guard lock(impl_->mu);
    // Bound text is not copied: every string outlives the statement's run.
    std::string digest = e.layer ? e.layer->digest.str() : std::string();
    std::string media = e.layer ? e.layer->media_type : std::string();
    std::string diff_id = e.layer ? e.diff_id : std::string();
    auto size = static_cast<std::int64_t>(e.layer ? e.layer->size : 0);
    auto q = impl_->query(kPut);
    q.bind(1, key).bind(2, digest).bind(3, size).bind(4, media).bind(5, diff_id);
    q.bind(6, e.created).bind(7, now);
    if (auto r = q.run(); !r) return std::unexpected(r.error());
  }
  if (auto r = evict(); !r) return std::unexpected(r.error());
  return {};
}

storage::Result<void> BuildCache::Impl::forget_locked(std::string_view key) {
  auto q = query(kForget);
  q.bind(1, key);
  if (auto r = q.run(); !r) return std::unexpected(r.error());
  return {};
}

storage::Result<void> BuildCache::forget(std::string_view key) {
  std::lock_guard lock(impl_->mu);
  return impl_->forget_locked(key);
}

storage::Result<CacheStats> BuildCache::Impl::stats_locked() {
  auto q = query(kTotal);
  auto row = q.step();
  if (!row) return std::unexpected(row.error());
  CacheStats s;
  if (*row) {
    s.entries = static_cast<std::uint64_t>(q.int64(0));
    s.bytes = static_cast<std::uint64_t>(q.int64(1));
  }
  return s;
}

storage::Result<CacheStats> BuildCache::stats() {
  std::lock_guard lock(impl_->mu);
  return impl_->stats_locked();
}

storage::Result<std::vector<storage::Digest>> BuildCache::layers() {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->query(kLayers);
  return layer_digests(q);
}

storage::Result<std::vector<storage::Digest>> cached_layers(const std::filesystem::path& db_file) {
  std::optional<Connection> db;
  try {
    db.emplace(db_file, kSqlCount);
    db->exec_or_throw("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;");
    if (db->query_int_or_throw(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'build_cache'") ==
        0) {
      return std::vector<storage::Digest>{};
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return std::unexpected(storage::StorageError::kDatabase);
  }
  Query q(*db, db->statement(kLayers, kSqlText[kLayers]));
  return layer_digests(q);
}

storage::Result<std::size_t> BuildCache::evict() {
  std::lock_guard lock(impl_->mu);
  if (impl_->max_bytes == 0) return std::size_t{0};
  auto s = impl_->stats_locked();
  if (!s) return std::unexpected(s.error());
  std::uint64_t total = s->bytes;
  std::size_t removed = 0;
  while (total > impl_->max_bytes) {
    std::vector<std::pair<std::string, std::uint64_t>> oldest;
    {
      auto q = impl_->query(kOldest);
      for (;;) {
        auto row = q.step();
        if (!row) return std::unexpected(row.error());
        if (!*row) break;
        oldest.emplace_back(q.text(0), static_cast<std::uint64_t>(q.int64(1)));
      }
    }
    if (oldest.empty()) break;
    for (const auto& [key, size] : oldest) {
      if (total <= impl_->max_bytes) break;
      if (auto r = impl_->forget_locked(key); !r) return std::unexpected(r.error());
      total -= std::min(total, size);
      ++removed;
    }
  }
  return removed;
}

CacheKey& CacheKey::add(std::string_view part) {
  add(static_cast<std::uint64_t>(part.size()));
  hasher_.update(part);
  return *this;
}

CacheKey& CacheKey::add(std::uint64_t n) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(n >> (8 * i));
  hasher_.update(b, sizeof b);
  return *this;
}

}  // namespace drydock::builder
