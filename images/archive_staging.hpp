#pragma once

// An uploaded image archive unpacked into a staging directory on the blob
// store's filesystem, each regular file hashed on the way: the import then
// verifies digests from what was recorded and publishes a blob by renaming
// its staged file (no second copy). The directory goes with the object.

#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "registry/errors.hpp"
#include "storage/digest.hpp"

namespace drydock::images {

struct StagedFile {
  std::filesystem::path path;
  std::uint64_t size = 0;
  storage::Digest digest;  // sha256 of the bytes as stored in the archive
};

// How a staged file's bytes are compressed (sniffed from its magic bytes).
enum class Compression { kNone, kGzip, kZstd, kXz, kBzip2 };

struct StagingLimits {
  std::uint64_t max_bytes = 0;  // file bytes once unpacked
  std::uint64_t max_entries = 100000;
};

class ArchiveStaging {
 public:
  // Creates a fresh directory under `root`. Throws std::runtime_error if it
  // cannot (a server-side failure, not the client's).
  explicit ArchiveStaging(const std::filesystem::path& root);
  ~ArchiveStaging();
  ArchiveStaging(const ArchiveStaging&) = delete;
  ArchiveStaging& operator=(const ArchiveStaging&) = delete;

  // Unpacks the tar at `archive` (plain, gzip, bzip2, xz or zstd, detected).
  // Paths are normalised ("./a" is "a"); absolute paths and ".." are refused;
  // symlinks and hard links are remembered, not created; devices, fifos and
  // directories are skipped. kImageInvalid if it is not a tar or is broken,
  // kContextTooLarge past a limit, kInternal if the disk fails.
  std::expected<void, registry::Error> unpack(const std::filesystem::path& archive,
                                              const StagingLimits& limits);

  // The regular file at `path`, following the archive's links (old docker
  // save links identical layers); null if there is none.
  const StagedFile* find(std::string_view path) const;
  // A small file's bytes (manifests, configs); the error says why not.
  std::expected<std::string, registry::Error> read_small(const StagedFile& f,
                                                         std::string_view path) const;

 private:
  std::filesystem::path dir_;
  std::map<std::string, StagedFile, std::less<>> files_;
  std::map<std::string, std::string, std::less<>> links_;  // path -> normalised target
};

// "a/./b/../c" -> "a/c"; nullopt if absolute or escaping the root.
std::optional<std::string> normalise_archive_path(std::string_view path);

Compression sniff_compression(const std::filesystem::path& file);

// The sha256 of a compressed file's decompressed bytes (a layer's diff_id).
std::expected<storage::Digest, std::string> uncompressed_digest(const std::filesystem::path& file);

}  // namespace drydock::images
