#include "storage/error.hpp"

namespace drydock::storage {

std::string_view to_string(StorageError e) {
  switch (e) {
    case StorageError::kNotFound:
      return "not found";
    case StorageError::kDigestMismatch:
      return "digest mismatch";
    case StorageError::kSizeMismatch:
      return "size mismatch";
    case StorageError::kInvalidRange:
      return "invalid range";
    case StorageError::kMissingReference:
      return "missing reference";
    case StorageError::kIo:
      return "i/o error";
    case StorageError::kDatabase:
      return "database error";
    case StorageError::kTooLarge:
      return "too large";
    case StorageError::kImmutable:
      return "the tag is immutable (registry.immutable_tags)";
    case StorageError::kQuotaExceeded:
      return "the namespace's quota is exceeded (registry.quotas)";
  }
  return "unknown storage error";
}

}  // namespace drydock::storage
