#pragma once

// The registry config's rules the metadata store enforces (immutable tags,
// namespace quotas), set on a store the same way by `drydock serve` and by
// the offline commands that open the store themselves (`drydock gc --data`).

#include "config/config.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::server {

void apply_store_rules(storage::MetadataStore& meta, const config::RegistryConfig& registry);

}  // namespace drydock::server
