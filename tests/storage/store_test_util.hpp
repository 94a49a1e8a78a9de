#pragma once

// What the storage tests share besides TempDir: SQL straight through SQLite
// (bypassing the store, to set up or inspect what it wrote) and a manifest
// row to push.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "storage/digest.hpp"
#include "storage/metadata_store.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::storage::testing {

// Runs `sql` (any number of statements) on the database file, creating it
// if absent.
inline void exec_sql(const std::filesystem::path& db_file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr),
            SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// The first column of the first row of `sql`, as text ("" without a row).
inline std::string query_text(const std::filesystem::path& db_file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
  std::string out;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

// An OCI image manifest row whose bytes are `content`.
inline ManifestRecord manifest(std::string_view repo, std::string_view content) {
  ManifestRecord m;
  m.repository = std::string(repo);
  m.digest = digest_of(content);
  m.media_type = "application/vnd.oci.image.manifest.v1+json";
  m.size = content.size();
  m.artifact_type = "application/vnd.oci.image.config.v1+json";
  m.annotations_json = "{}";
  m.created_unix = 1'700'000'000;
  return m;
}

// A metadata store on a fresh database file, reopened on demand.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }
  void open() { store_ = std::make_unique<MetadataStore>(db_file()); }
  void reopen() {
    store_.reset();
    open();
  }
  std::filesystem::path db_file() const { return dir_.path() / "metadata.db"; }

  TempDir dir_;
  std::unique_ptr<MetadataStore> store_;
};

}  // namespace drydock::storage::testing
