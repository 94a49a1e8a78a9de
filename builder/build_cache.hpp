#pragma once
// The build cache (DESIGN.md "Build flow"): what a layer-making step (RUN,
// COPY, ADD) produced, by the step's cache key, so that a later build with the
// same key reuses the layer instead of running the step. Kept in the metadata
// database (table `build_cache`), shared by every build on the server,
// surviving restarts, bounded by the total size of the layers it lists:
// least recently used entries go first.
//
// The layers themselves are blobs in the store. Evicting an entry forgets it;
// the blob stays until garbage collection finds nothing referencing it.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "builder/image_commit.hpp"
#include "storage/digest.hpp"
#include "storage/error.hpp"

namespace drydock::builder {

// What a cached step produced.
struct CacheEntry {
  std::optional<LayerBlob> layer;  // nullopt: the step changed nothing (empty layer)
  std::string diff_id;             // with `layer`
  std::string created;             // the history entry's time, reused on a hit
};

struct CacheStats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // sum of the listed layers' sizes
};

class BuildCache {
 public:
  // Opens (creating the table) in `db_file`. `max_bytes` 0: unbounded.
  // Throws std::runtime_error if it cannot (startup only). Thread-safe.
  BuildCache(const std::filesystem::path& db_file, std::uint64_t max_bytes);
  ~BuildCache();
  BuildCache(const BuildCache&) = delete;
  BuildCache& operator=(const BuildCache&) = delete;

  // The entry for `key`, marked used at `now`; nullopt on a miss.
  storage::Result<std::optional<CacheEntry>> lookup(std::string_view key, std::int64_t now);
  // Records (or replaces) `key`, then evicts down to the bound.
  storage::Result<void> put(std::string_view key, const CacheEntry& entry, std::int64_t now);
  // Forgets `key` (its layer turned out to be gone).
  storage::Result<void> forget(std::string_view key);
  // Drops least recently used entries until the total is within the bound.
  // Returns how many went.
  storage::Result<std::size_t> evict();
  storage::Result<CacheStats> stats();
  // Every layer blob an entry names: roots for garbage collection.
  storage::Result<std::vector<storage::Digest>> layers();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The layers the build cache in `db_file` names, read without writing (no
// table yet: none), for `drydock fsck`, which runs without the server.
storage::Result<std::vector<storage::Digest>> cached_layers(const std::filesystem::path& db_file);

// Builds a cache key: a hash over the parts fed in, each length-prefixed so
// that ("ab","c") and ("a","bc") differ.
class CacheKey {
 public:
  explicit CacheKey(std::string_view kind) { add(kind); }
  CacheKey& add(std::string_view part);
  CacheKey& add(std::uint64_t n);
  // Raw bytes, for a part fed in pieces (add its length first).
  CacheKey& feed(const void* data, std::size_t n) {
    hasher_.update(data, n);
    return *this;
  }
  std::string str() const { return hasher_.current().str(); }

 private:
  storage::Hasher hasher_;
};

}  // namespace drydock::builder
