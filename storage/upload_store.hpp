#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "storage/blob_store.hpp"
#include "storage/digest.hpp"
#include "storage/error.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::storage {

struct UploadStatus {
  std::string id;
  std::string repository;
  std::uint64_t size = 0;  // bytes received so far == next expected offset
};

// Resumable upload sessions (OCI distribution-spec "Pushing blobs").
//
// Each session is a data file `root/<id>` plus a row in the MetadataStore, so
// sessions survive a restart. Bytes are appended in order and hashed
// incrementally (SHA-256) in memory; after a restart the hash state is rebuilt
// by re-reading the file once. The file length is the session's offset: bytes
// written before a crash are bytes the client sent at those offsets, and the
// client learns where to resume from the status call.
//
// Thread-safe. Each session has its own lock: two writers racing on one
// session cannot interleave (the loser gets kInvalidRange).
class UploadStore {
 public:
  // `root` is created if needed and must be on the same filesystem as the
  // BlobStore's root (publish renames).
  UploadStore(std::filesystem::path root, BlobStore& blobs, MetadataStore& meta);
  ~UploadStore();

  // Starts a session for `repo` with a fresh random id (UUID v4 text).
  Result<UploadStatus> create(std::string_view repo);

  // Current state; kNotFound for unknown (or finished/cancelled) ids.
  Result<UploadStatus> status(std::string_view id) const;

  // Appends bytes at `offset`, which must equal the current size
  // (kInvalidRange otherwise, and nothing is written). Returns the new size.
  Result<std::uint64_t> append(std::string_view id, std::uint64_t offset,
                               std::span<const std::byte> bytes);

  // Finishes the session: computes the digest (in `expected`'s algorithm),
  // and if it matches, publishes the data into the BlobStore and returns the
  // blob. On mismatch returns kDigestMismatch and discards the session
  // (nothing is stored). Always removes the session on success. The caller
  // links the blob to the repository.
  Result<BlobInfo> complete(std::string_view id, const Digest& expected);

  // Cancels and removes a session; kNotFound if unknown.
  Result<void> cancel(std::string_view id);

  // Closes the session's data file between requests; the hash state stays in
  // memory and the next call reopens the file. Idle sessions thus hold no file
  // descriptor, however many a client abandons.
  void release(std::string_view id);

  // Cuts the session back to `size` bytes and rebuilds its hash state: used
  // when a chunk turns out not to match its Content-Range, so that nothing of
  // it stays. kInvalidRange if `size` is beyond the current end.
  Result<void> truncate(std::string_view id, std::uint64_t size);

  // Removes sessions started before `before_unix` (abandoned uploads), and
  // data files in `root` that have no session row and were last written
  // before then (left by a crash between file and row). Returns how many
  // sessions and files went. A client still writing to an expired session
  // then gets kNotFound.
  Result<std::size_t> expire(std::int64_t before_unix);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::storage
