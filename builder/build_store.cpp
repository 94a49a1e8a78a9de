#include "builder/build_store.hpp"

#include <openssl/rand.h>

#include <array>
#include <nlohmann/json.hpp>

#include "storage/sqlite_db.hpp"

namespace drydock::builder {

namespace {

using nlohmann::json;
using storage::StorageError;
using storage::sqlite::Connection;
using storage::sqlite::Query;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS builds (
  id TEXT PRIMARY KEY,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  created INTEGER NOT NULL,
  started INTEGER NOT NULL DEFAULT 0,
  finished INTEGER NOT NULL DEFAULT 0,
  digest TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS builds_by_created ON builds(created);
)";

enum Sql : std::size_t { kInsert, kGet, kList, kRun, kFinish, kFailUnfinished, kSqlCount };
constexpr std::array<const char*, kSqlCount> kSqlText = {
    "INSERT INTO builds(id, params, status, created) VALUES (?1, ?2, 'queued', ?3)",
    "SELECT id, params, status, created, started, finished, digest, error FROM builds "
    "WHERE id = ?1",
    "SELECT id, params, status, created, started, finished, digest, error FROM builds "
    "ORDER BY created DESC, rowid DESC LIMIT ?1",
    "UPDATE builds SET status = 'running', started = ?2 WHERE id = ?1 AND status = 'queued'",
    "UPDATE builds SET status = ?2, finished = ?3, digest = ?4, error = ?5 "
    "WHERE id = ?1 AND status IN ('queued', 'running')",
    "UPDATE builds SET status = 'failed', finished = ?2, error = ?1 "
    "WHERE status IN ('queued', 'running')",
};

constexpr std::array<std::string_view, 5> kStatusNames = {"queued", "running", "succeeded",
                                                          "failed", "cancelled"};

std::string params_json(const BuildParams& p) {
  json args = json::array();
  for (const auto& [k, v] : p.build_args) args.push_back(json::array({k, v}));
  return json{{"tags", p.tags},     {"dockerfile", p.dockerfile}, {"target", p.target},
              {"build_args", args}, {"no_cache", p.no_cache},     {"user", p.user},
              {"no_cache_filter", p.no_cache_filter}}
      .dump();
}

BuildParams params_from_json(std::string_view text) {
  BuildParams p;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return p;
  p.tags = j.value("tags", std::vector<std::string>{});
  p.dockerfile = j.value("dockerfile", std::string("Dockerfile"));
  p.target = j.value("target", std::string());
  for (const auto& kv : j.value("build_args", json::array())) {
    if (kv.is_array() && kv.size() == 2 && kv[0].is_string() && kv[1].is_string()) {
      p.build_args.emplace_back(kv[0].get<std::string>(), kv[1].get<std::string>());
    }
  }
  p.no_cache = j.value("no_cache", false);
  p.no_cache_filter = j.value("no_cache_filter", std::vector<std::string>{});
  p.user = j.value("user", std::string());
  return p;
}

BuildRecord record_from_row(const Query& q) {
  BuildRecord r;
  r.id = q.text(0);
  r.params = params_from_json(q.text(1));
  r.status = parse_build_status(q.text(2)).value_or(BuildStatus::kFailed);
  r.created = q.int64(3);
  r.started = q.int64(4);
  r.finished = q.int64(5);
  r.digest = q.text(6);
  r.error = q.text(7);
  return r;
}

std::string random_id() {
  std::array<unsigned char, 8> bytes{};
  if (RAND_bytes(bytes.data(), bytes.size()) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

}  // namespace

std::string_view to_string(BuildStatus s) { return kStatusNames[static_cast<std::size_t>(s)]; }

std::optional<BuildStatus> parse_build_status(std::string_view s) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == s) return static_cast<BuildStatus>(i);
  }
  return std::nullopt;
}

bool finished(BuildStatus s) {
  return s == BuildStatus::kSucceeded || s == BuildStatus::kFailed || s == BuildStatus::kCancelled;
}

struct BuildStore::Impl {
  Impl(const std::filesystem::path& db_file, std::filesystem::path logs)
      : db(db_file, kSqlCount), log_dir(std::move(logs)) {
    db.exec_or_throw("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;");
    db.exec_or_throw(kSchema);
    std::filesystem::create_directories(log_dir);
  }
  Query query(Sql s) { return Query(db, db.statement(s, kSqlText[s])); }

  std::mutex mu;
  Connection db;
  std::filesystem::path log_dir;
};

BuildStore::BuildStore(const std::filesystem::path& db_file, std::filesystem::path log_dir)
    : impl_(std::make_unique<Impl>(db_file, std::move(log_dir))) {}

BuildStore::~BuildStore() = default;

storage::Result<BuildRecord> BuildStore::create(BuildParams params, std::int64_t now) {
  BuildRecord r;
  r.id = random_id();
  r.params = std::move(params);
  r.created = now;
  std::string text = params_json(r.params);
  std::lock_guard lock(impl_->mu);
  auto q = impl_->query(kInsert);
  q.bind(1, r.id).bind(2, text).bind(3, now);
  if (auto ran = q.run(); !ran) return std::unexpected(ran.error());
  return r;
}

storage::Result<std::optional<BuildRecord>> BuildStore::get(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->query(kGet);
  q.bind(1, id);
  auto row = q.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<BuildRecord>();
  return std::optional<BuildRecord>(record_from_row(q));
}

storage::Result<std::vector<BuildRecord>> BuildStore::list_recent(std::size_t limit) {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->query(kList);
  q.bind(1, static_cast<std::int64_t>(limit));
  std::vector<BuildRecord> out;
  for (;;) {
    auto row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(record_from_row(q));
  }
}

storage::Result<void> BuildStore::mark_running(std::string_view id, std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->query(kRun);
  q.bind(1, id).bind(2, now);
  auto changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  if (*changed == 0) return std::unexpected(StorageError::kNotFound);
  return {};
}

storage::Result<void> BuildStore::mark_finished(std::string_view id, BuildStatus status,
                                                std::string_view digest, std::string_view error,
                                                std::int64_t now) {
  if (!finished(status)) return std::unexpected(StorageError::kInvalidRange);
  std::lock_guard lock(impl_->mu);
  auto q = impl_->query(kFinish);
  q.bind(1, id).bind(2, to_string(status)).bind(3, now).bind(4, digest).bind(5, error);
  auto changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  if (*changed == 0) return std::unexpected(StorageError::kNotFound);
  return {};
}

storage::Result<std::size_t> BuildStore::fail_unfinished(std::string_view reason,
                                                         std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->query(kFailUnfinished);
  q.bind(1, reason).bind(2, now);
  auto changed = q.run();
  if (!changed) return std::unexpected(changed.error());
  return static_cast<std::size_t>(*changed);
}

std::filesystem::path BuildStore::log_path(std::string_view id) const {
  return impl_->log_dir / (std::string(id) + ".log");
}

}  // namespace drydock::builder
