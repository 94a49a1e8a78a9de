#pragma once

#include <expected>
#include <string_view>

namespace drydock::storage {

// Every failure the storage layer can report. The registry maps these to OCI
// error codes; nothing below `server/` throws for them.
enum class StorageError {
  kNotFound,          // no such blob, manifest, tag, repository or upload
  kDigestMismatch,    // content did not hash to the digest the caller expected
  kSizeMismatch,      // content length differs from what the caller declared
  kInvalidRange,      // an upload append did not start at the current end
  kMissingReference,  // a manifest references blobs/manifests the repo lacks
  kIo,                // the filesystem failed (errno was logged)
  kDatabase,          // SQLite failed (message was logged)
  kTooLarge,          // content exceeds a configured limit
  kImmutable,         // the change would move or remove an immutable tag
  kQuotaExceeded,     // the link would take a namespace over its quota
};

std::string_view to_string(StorageError e);

template <class T>
using Result = std::expected<T, StorageError>;

}  // namespace drydock::storage
