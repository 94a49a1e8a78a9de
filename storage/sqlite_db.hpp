#pragma once

// Thin RAII layer over the SQLite C API, for storage/ and auth/ (the only
// layers that own tables in the metadata database). A Connection
// owns one sqlite3 handle and its statements, each prepared once (on first
// use) and reused with sqlite3_reset. A Query binds and steps one statement
// and resets it when it goes out of scope, so a reader never holds its
// snapshot longer than one call.

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "storage/digest.hpp"
#include "storage/error.hpp"

namespace drydock::storage::sqlite {

inline void log_error(sqlite3* db, std::string_view what) {
  std::fprintf(stderr, "storage: sqlite: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

inline std::unexpected<StorageError> db_error(sqlite3* db, std::string_view what) {
  log_error(db, what);
  return std::unexpected(StorageError::kDatabase);
}

class Connection {
 public:
  // Opens (creating) the database file. Throws std::runtime_error on failure.
  Connection(const std::filesystem::path& file, std::size_t statement_count)
      : statement_count_(statement_count), statements_(statement_count + kControlCount, nullptr) {
    // NOMUTEX: each connection is used by one thread at a time (the store's
    // writer mutex or reader pool guarantees it), so SQLite's own per-call
    // locking would only cost time.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(file.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close_v2(db_);
      throw std::runtime_error("storage: cannot open " + file.string() + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }

  sqlite3* db() const { return db_; }

  // Statement `index`, prepared from `sql` the first time; nullptr (logged)
  // if it cannot be prepared.
  sqlite3_stmt* statement(std::size_t index, std::string_view sql) {
    sqlite3_stmt*& s = statements_.at(index);
    if (s == nullptr) {
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) {
        log_error(db_, sql);
        sqlite3_finalize(s);
        s = nullptr;
      }
    }
    return s;
  }

  // Transaction control, prepared after the caller's own statements.
  enum Control : std::size_t { kBeginImmediate, kBeginDeferred, kCommit, kRollback, kControlCount };
  sqlite3_stmt* control(Control c) {
    static constexpr std::array<std::string_view, kControlCount> kText = {
        "BEGIN IMMEDIATE", "BEGIN DEFERRED", "COMMIT", "ROLLBACK"};
    return statement(statement_count_ + c, kText[c]);
  }

  // Runs SQL text that returns no rows we need (pragmas, DDL). Throws on
  // failure: used at startup only.
  void exec_or_throw(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      throw std::runtime_error("storage: sqlite: " + sql.substr(0, 60) + ": " + msg);
    }
  }

  // First column of the first row of `sql` as an integer (startup only).
  std::int64_t query_int_or_throw(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("storage: sqlite: ") + sqlite3_errmsg(db_));
    }
    std::int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
  std::size_t statement_count_;
  std::vector<sqlite3_stmt*> statements_;
};

// "sha256:<hex>" in a stack buffer: binding a digest costs no allocation.
class DigestText {
 public:
  explicit DigestText(const Digest& d) {
    std::string_view alg = to_string(d.algorithm);
    if (alg.size() + 1 + d.hex.size() > sizeof(buf_)) {
      long_ = d.str();
      view_ = long_;
      return;
    }
    char* p = buf_;
    p = std::copy(alg.begin(), alg.end(), p);
    *p++ = ':';
    p = std::copy(d.hex.begin(), d.hex.end(), p);
    view_ = std::string_view(buf_, static_cast<std::size_t>(p - buf_));
  }
  DigestText(const DigestText&) = delete;
  DigestText& operator=(const DigestText&) = delete;
  std::string_view view() const { return view_; }

 private:
  char buf_[7 + 128];
  std::string long_;
  std::string_view view_;
};

// One execution of a prepared statement. Bound text must outlive the Query
// (it is bound SQLITE_STATIC).
class Query {
 public:
  Query(Connection& c, sqlite3_stmt* s) : db_(c.db()), stmt_(s), failed_(s == nullptr) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query() {
    if (stmt_ != nullptr) sqlite3_reset(stmt_);
  }

  Query& bind(int i, std::string_view v) {
    // A null data pointer would bind SQL NULL, not the empty string.
    const char* p = v.data() != nullptr ? v.data() : "";
    if (!failed_) check(sqlite3_bind_text(stmt_, i, p, static_cast<int>(v.size()), SQLITE_STATIC));
    return *this;
  }
  Query& bind(int i, std::int64_t v) {
    if (!failed_) check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Query& bind_null(int i) {
    if (!failed_) check(sqlite3_bind_null(stmt_, i));
    return *this;
  }

  // true: a row is available; false: done.
  Result<bool> step() {
    if (failed_) return std::unexpected(StorageError::kDatabase);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return db_error(db_, sqlite3_sql(stmt_));
  }
  // Runs a statement that returns no rows; the number of rows it changed.
  Result<int> run() {
    Result<bool> r = step();
    if (!r) return std::unexpected(r.error());
    return sqlite3_changes(db_);
  }

  std::string_view text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    int n = sqlite3_column_bytes(stmt_, col);
    return p != nullptr ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) {
      log_error(db_, "bind");
      failed_ = true;
    }
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool failed_;
};

// BEGIN ... COMMIT on one connection, rolled back when it goes out of scope
// uncommitted. kImmediate takes the write lock at BEGIN (every writer);
// kDeferred reads one consistent snapshot until it ends, while WAL lets the
// writer go on.
class Transaction {
 public:
  enum class Mode { kImmediate, kDeferred };
  explicit Transaction(Connection& c) : c_(c) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() { (void)rollback(); }

  Result<void> begin(Mode mode = Mode::kImmediate) {
    Result<void> r = exec(mode == Mode::kImmediate ? Connection::kBeginImmediate
                                                   : Connection::kBeginDeferred);
    active_ = r.has_value();
    return r;
  }
  Result<void> commit() {
    Result<void> r = exec(Connection::kCommit);
    if (r) active_ = false;
    return r;
  }
  // Ends the transaction now, if still open (the destructor's work, early).
  Result<void> rollback() {
    if (!active_) return {};
    active_ = false;
    return exec(Connection::kRollback);
  }

 private:
  Result<void> exec(Connection::Control c) {
    Query q(c_, c_.control(c));
    Result<int> r = q.run();
    if (!r) return std::unexpected(r.error());
    return {};
  }

  Connection& c_;
  bool active_ = false;
};

}  // namespace drydock::storage::sqlite
