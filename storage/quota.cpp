#include "storage/quota.hpp"

#include <array>
#include <cstdio>

namespace drydock::storage {

std::string_view namespace_of(std::string_view repository) {
  return repository.substr(0, repository.find('/'));
}

std::optional<std::uint64_t> QuotaLimits::limit(std::string_view ns) const {
  if (auto it = namespaces.find(ns); it != namespaces.end()) return it->second;
  return default_bytes;
}

std::string human_bytes(std::uint64_t n) {
  constexpr std::array<const char*, 7> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  std::size_t unit = 0;
  while (v >= 1024 && unit + 1 < kUnits.size()) {
    v /= 1024;
    ++unit;
  }
  std::array<char, 32> buf{};
  // One decimal unless it would read as a round number it is not.
  if (v < 100) {
    std::snprintf(buf.data(), buf.size(), "%.1f %s", v, kUnits[unit]);
  } else {
    std::snprintf(buf.data(), buf.size(), "%.0f %s", v, kUnits[unit]);
  }
  std::string out(buf.data());
  if (auto dot = out.find(".0 "); dot != std::string::npos) out.erase(dot, 2);
  return out;
}

std::string QuotaRefusal::message() const {
  return "quota exceeded for namespace \"" + namespace_name + "\": " + human_bytes(used) +
         " used of " + human_bytes(limit) + ", this needs " + human_bytes(needed) + " more";
}

}  // namespace drydock::storage
