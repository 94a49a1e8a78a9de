#pragma once

// Quotas per namespace (issue 6): how many bytes the repositories of one
// namespace may hold together, each distinct blob counted once.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace drydock::storage {

// The namespace of a repository: its first path component ("team/app/web"
// -> "team"); a single-component name is its own namespace.
std::string_view namespace_of(std::string_view repository);

// The byte limits. A namespace listed in `namespaces` has that limit
// (nullopt there: explicitly unlimited); any other has `default_bytes`
// (nullopt: unlimited).
struct QuotaLimits {
  std::optional<std::uint64_t> default_bytes;
  std::map<std::string, std::optional<std::uint64_t>, std::less<>> namespaces;

  std::optional<std::uint64_t> limit(std::string_view ns) const;
  bool empty() const { return !default_bytes && namespaces.empty(); }
};

// Why a link was refused: the namespace would hold more than its limit.
struct QuotaRefusal {
  std::string namespace_name;
  std::uint64_t used = 0;    // bytes the namespace holds now
  std::uint64_t limit = 0;   // bytes it may hold
  std::uint64_t needed = 0;  // bytes the refused change would add

  // `quota exceeded for namespace "team": 9.8 GiB used of 10 GiB, this needs
  // 512 MiB more`
  std::string message() const;
};

// Bytes for people: "512 B", "1.5 KiB", "9.8 GiB" (binary units, one
// decimal below 100 of a unit).
std::string human_bytes(std::uint64_t n);

// What a namespace holds: the sum of the sizes of the distinct blobs linked
// to any of its repositories (manifests included), and its limit.
struct NamespaceUsage {
  std::string name;
  std::uint64_t used = 0;
  std::uint64_t blobs = 0;
  std::optional<std::uint64_t> limit;
};

// What one repository holds: the distinct blobs linked to it.
struct RepositoryUsage {
  std::string name;
  std::uint64_t used = 0;
  std::uint64_t blobs = 0;
};

}  // namespace drydock::storage
