#pragma once

#include <expected>
#include <string_view>

#include "registry/errors.hpp"
#include "storage/digest.hpp"

namespace drydock::registry {

// Repository name per distribution-spec:
//   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
// and at most 255 characters in total (a limit most clients also apply).
bool valid_repository_name(std::string_view name);

// Tag per distribution-spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
bool valid_tag(std::string_view tag);

// True if `s` matches the digest grammar of image-spec descriptor.md:
//   algorithm ":" encoded, algorithm [a-z0-9]+([+._-][a-z0-9]+)*, encoded [a-zA-Z0-9=_-]+
bool looks_like_digest(std::string_view s);

// Parses a digest a client sent. Grammar violations and wrong lengths for a
// registered algorithm give kDigestInvalid; a well-formed digest of an
// algorithm we do not implement gives kUnsupported.
std::expected<storage::Digest, Error> parse_client_digest(std::string_view s);

}  // namespace drydock::registry
