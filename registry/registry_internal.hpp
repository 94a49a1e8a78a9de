#pragma once

// Helpers shared by the registry's handler files; not part of its interface.

#include <cstdint>
#include <span>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "registry/reply.hpp"
#include "storage/error.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::registry {

// Serializes JSON for a reply. Client-supplied strings (names, tags) may not
// be valid UTF-8; they are replaced, never allowed to throw.
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// 500 INTERNAL_ERROR for a storage failure (already logged by storage/).
Reply storage_failure(storage::StorageError e);

// 403 DENIED for a link refused by a namespace's quota (usage.cpp).
Reply quota_exceeded(const storage::QuotaRefusal& r);
// The same after a link_blob(s) answered kQuotaExceeded: the figures are
// read again for the message.
Reply quota_refused(const storage::MetadataStore& meta, std::string_view repository,
                    std::span<const storage::BlobInfo> blobs);

inline std::string blob_location(std::string_view name, std::string_view digest) {
  return "/v2/" + std::string(name) + "/blobs/" + std::string(digest);
}

inline std::string upload_location(std::string_view name, std::string_view id) {
  return "/v2/" + std::string(name) + "/blobs/uploads/" + std::string(id);
}

// The upload Range header value: "0-<last byte>", "0-0" when empty, as
// distribution and the clients that talk to it expect.
inline std::string upload_range(std::uint64_t size) {
  return "0-" + std::to_string(size == 0 ? 0 : size - 1);
}

}  // namespace drydock::registry
