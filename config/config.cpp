#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>
#include <type_traits>

namespace drydock::config {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

void check_keys(const std::filesystem::path& file, const json& obj, std::string_view section,
                const std::set<std::string, std::less<>>& allowed) {
  if (!obj.is_object()) fail(file, std::string(section) + " must be an object");
  for (const auto& [key, _] : obj.items()) {
    if (!allowed.contains(key)) fail(file, "unknown key " + std::string(section) + key);
  }
}

template <class T>
void read(const std::filesystem::path& file, const json& obj, const char* key, T& out) {
  if (!obj.contains(key)) return;
  if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
    // get<unsigned>() would wrap -1 into a huge limit.
    if (!obj.at(key).is_number_unsigned()) fail(file, std::string("bad value for ") + key);
  }
  try {
    out = obj.at(key).get<T>();
  } catch (const json::exception&) {
    fail(file, std::string("bad value for ") + key);
  }
}

void read_server(const std::filesystem::path& file, const json& s, ServerConfig& out) {
  check_keys(file, s, "server.",
             {"io_threads", "worker_threads", "idle_timeout_seconds", "body_timeout_seconds",
              "header_limit_bytes", "shutdown_grace_seconds", "access_log"});
  read(file, s, "io_threads", out.io_threads);
  read(file, s, "worker_threads", out.worker_threads);
  read(file, s, "idle_timeout_seconds", out.idle_timeout_seconds);
  read(file, s, "body_timeout_seconds", out.body_timeout_seconds);
  read(file, s, "header_limit_bytes", out.header_limit_bytes);
  read(file, s, "shutdown_grace_seconds", out.shutdown_grace_seconds);
  read(file, s, "access_log", out.access_log);
}

void read_immutable_tags(const std::filesystem::path& file, const json& list,
                         std::vector<ImmutableTagRule>& out) {
  if (!list.is_array()) fail(file, "registry.immutable_tags must be an array");
  auto tag_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
           c == '*';
  };
  for (const auto& r : list) {
    check_keys(file, r, "registry.immutable_tags[].", {"repositories", "tags"});
    ImmutableTagRule rule;
    read(file, r, "repositories", rule.repositories);
    read(file, r, "tags", rule.tags);
    if (rule.tags.empty() || !std::all_of(rule.tags.begin(), rule.tags.end(), tag_char)) {
      fail(file, "registry.immutable_tags[].tags must be a tag pattern ([A-Za-z0-9_.-] and *)");
    }
    if (rule.repositories.empty()) fail(file, "registry.immutable_tags[].repositories is empty");
    out.push_back(std::move(rule));
  }
}

// A quota: null (unlimited), a number of bytes, or a size with a unit.
std::optional<std::uint64_t> read_quota(const std::filesystem::path& file, const json& v,
                                        const std::string& key) {
  if (v.is_null()) return std::nullopt;
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_string()) {
    if (auto bytes = parse_byte_size(v.get<std::string>())) return bytes;
  }
  fail(file, key + " must be null, a number of bytes or a size such as \"10GiB\"");
}

// A namespace is one repository path component: [a-z0-9] runs joined by
// '.', '_' or '-' (distribution-spec name grammar, without '/').
bool valid_namespace(std::string_view ns) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (ns.empty() || !alnum(ns.front()) || !alnum(ns.back())) return false;
  return std::all_of(ns.begin(), ns.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

void read_quotas(const std::filesystem::path& file, const json& q, QuotaConfig& out) {
  check_keys(file, q, "registry.quotas.", {"default_bytes", "namespaces"});
  if (q.contains("default_bytes")) {
    out.default_bytes = read_quota(file, q["default_bytes"], "registry.quotas.default_bytes");
  }
  if (!q.contains("namespaces")) return;
  const json& list = q["namespaces"];
  if (!list.is_object()) fail(file, "registry.quotas.namespaces must be an object");
  for (const auto& [ns, v] : list.items()) {
    if (!valid_namespace(ns)) {
      fail(file, "registry.quotas.namespaces: \"" + ns +
                     "\" is not a namespace (one path component: [a-z0-9._-])");
    }
    out.namespaces[ns] = read_quota(file, v, "registry.quotas.namespaces." + ns);
  }
}

void read_registry(const std::filesystem::path& file, const json& r, RegistryConfig& out) {
  check_keys(file, r, "registry.",
             {"max_manifest_bytes", "chunk_min_length", "upload_expiry_hours", "immutable_tags",
              "max_import_bytes", "quotas"});
  if (r.contains("immutable_tags")) read_immutable_tags(file, r["immutable_tags"], out.immutable_tags);
  if (r.contains("quotas")) read_quotas(file, r["quotas"], out.quotas);
  read(file, r, "max_manifest_bytes", out.max_manifest_bytes);
  read(file, r, "chunk_min_length", out.chunk_min_length);
  read(file, r, "max_import_bytes", out.max_import_bytes);
  read(file, r, "upload_expiry_hours", out.upload_expiry_hours);
}

void read_gc(const std::filesystem::path& file, const json& g, GcConfig& out) {
  check_keys(file, g, "gc.",
             {"interval_minutes", "grace_seconds", "upload_session_hours",
              "untagged_retention_hours", "retention"});
  read(file, g, "interval_minutes", out.interval_minutes);
  read(file, g, "grace_seconds", out.grace_seconds);
  read(file, g, "upload_session_hours", out.upload_session_hours);
  if (g.contains("untagged_retention_hours") && !g["untagged_retention_hours"].is_null()) {
    unsigned hours = 0;
    read(file, g, "untagged_retention_hours", hours);
    out.untagged_retention_hours = hours;
  }
  if (!g.contains("retention")) return;
  if (!g["retention"].is_array()) fail(file, "gc.retention must be an array");
  for (const auto& r : g["retention"]) {
    check_keys(file, r, "gc.retention[].", {"repositories", "keep_last", "keep_tags", "keep_days"});
    RetentionRule rule;
    read(file, r, "repositories", rule.repositories);
    if (rule.repositories.empty()) fail(file, "gc.retention[].repositories is empty");
    if (r.contains("keep_last")) {
      std::size_t n = 0;
      read(file, r, "keep_last", n);
      rule.keep_last = n;
    }
    if (r.contains("keep_days")) {
      unsigned days = 0;
      read(file, r, "keep_days", days);
      rule.keep_days = days;
    }
    read(file, r, "keep_tags", rule.keep_tags);
    try {
      std::regex check(rule.keep_tags);
    } catch (const std::regex_error& e) {
      fail(file, "gc.retention[].keep_tags is not a valid regex: " + std::string(e.what()));
    }
    if (!rule.keep_last && !rule.keep_days && rule.keep_tags.empty()) {
      fail(file, "gc.retention[] needs keep_last, keep_tags or keep_days");
    }
    out.retention.push_back(std::move(rule));
  }
}

void read_tls(const std::filesystem::path& file, const json& t, TlsConfig& out) {
  check_keys(file, t, "tls.", {"cert", "key", "client_ca"});
  std::string cert = out.cert, key = out.key, ca = out.client_ca;
  read(file, t, "cert", cert);
  read(file, t, "key", key);
  read(file, t, "client_ca", ca);
  out.cert = cert;
  out.key = key;
  out.client_ca = ca;
}

void read_auth(const std::filesystem::path& file, const json& a, AuthConfig& out) {
  check_keys(file, a, "auth.",
             {"enabled", "realm", "service", "issuer", "token_ttl_seconds", "refresh_token_days",
              "anonymous_pull", "admin_user", "admin_password", "free_failures",
              "max_delay_seconds"});
  read(file, a, "enabled", out.enabled);
  read(file, a, "realm", out.realm);
  read(file, a, "service", out.service);
  read(file, a, "issuer", out.issuer);
  read(file, a, "token_ttl_seconds", out.token_ttl_seconds);
  read(file, a, "refresh_token_days", out.refresh_token_days);
  read(file, a, "anonymous_pull", out.anonymous_pull);
  read(file, a, "admin_user", out.admin_user);
  read(file, a, "admin_password", out.admin_password);
  read(file, a, "free_failures", out.free_failures);
  read(file, a, "max_delay_seconds", out.max_delay_seconds);
  if (out.token_ttl_seconds == 0) fail(file, "auth.token_ttl_seconds must be > 0");
}

void read_registries(const std::filesystem::path& file, const json& regs,
                     std::map<std::string, UpstreamRegistryConfig>& out) {
  if (!regs.is_object()) fail(file, "builder.registries must be an object");
  for (const auto& [host, r] : regs.items()) {
    std::string section = "builder.registries." + host + ".";
    check_keys(file, r, section, {"username", "password", "insecure", "ca_file"});
    UpstreamRegistryConfig& c = out[host];
    std::string ca = c.ca_file;
    read(file, r, "username", c.username);
    read(file, r, "password", c.password);
    read(file, r, "insecure", c.insecure);
    read(file, r, "ca_file", ca);
    c.ca_file = ca;
  }
}

void read_builder(const std::filesystem::path& file, const json& b, BuilderConfig& out) {
  check_keys(file, b, "builder.",
             {"enabled", "concurrency", "build_timeout_seconds", "step_timeout_seconds",
              "max_context_bytes", "max_extracted_bytes", "max_context_entries",
              "memory_limit_bytes", "pids_limit", "runtime", "network", "max_queued",
              "cache_max_bytes", "kept_contexts_max_bytes", "local_hosts", "mirrors", "registries", "pull",
              "pull_timeout_seconds"});
  read(file, b, "enabled", out.enabled);
  read(file, b, "concurrency", out.concurrency);
  read(file, b, "build_timeout_seconds", out.build_timeout_seconds);
  read(file, b, "step_timeout_seconds", out.step_timeout_seconds);
  read(file, b, "max_context_bytes", out.max_context_bytes);
  read(file, b, "max_extracted_bytes", out.max_extracted_bytes);
  read(file, b, "max_context_entries", out.max_context_entries);
  read(file, b, "memory_limit_bytes", out.memory_limit_bytes);
  read(file, b, "pids_limit", out.pids_limit);
  read(file, b, "runtime", out.runtime);
  read(file, b, "network", out.network);
  read(file, b, "max_queued", out.max_queued);
  read(file, b, "cache_max_bytes", out.cache_max_bytes);
  read(file, b, "kept_contexts_max_bytes", out.kept_contexts_max_bytes);
  read(file, b, "local_hosts", out.local_hosts);
  read(file, b, "mirrors", out.mirrors);
  read(file, b, "pull", out.pull);
  read(file, b, "pull_timeout_seconds", out.pull_timeout_seconds);
  if (b.contains("registries")) read_registries(file, b["registries"], out.registries);
}

}  // namespace

void validate(const Config& c) {
  if (c.tls.cert.empty() != c.tls.key.empty()) {
    throw std::runtime_error("TLS needs both a certificate and a key");
  }
  if (!c.tls.client_ca.empty() && c.tls.cert.empty()) {
    throw std::runtime_error("tls.client_ca needs tls.cert and tls.key");
  }
  if (c.registry.max_import_bytes == 0) {
    throw std::runtime_error("registry.max_import_bytes must be > 0");
  }
  const auto& b = c.builder;
  if (b.concurrency == 0) throw std::runtime_error("builder.concurrency must be > 0");
  if (b.max_context_bytes == 0) throw std::runtime_error("builder.max_context_bytes must be > 0");
  if (b.network != "none" && b.network != "host") {
    throw std::runtime_error("builder.network must be \"none\" or \"host\"");
  }
  if (b.pids_limit < 0) throw std::runtime_error("builder.pids_limit must be >= 0");
  for (const auto& [host, url] : b.mirrors) {
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      throw std::runtime_error("builder.mirrors." + host + " must be an http:// or https:// URL");
    }
  }
}

Config load_file(const std::filesystem::path& file, Config base) {
  std::ifstream in(file);
  if (!in) fail(file, "cannot open");
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (doc.is_discarded()) fail(file, "not valid JSON");
  check_keys(file, doc, "",
             {"listen", "data", "server", "registry", "tls", "auth", "builder", "gc"});
  if (doc.contains("listen")) {
    std::string listen;
    read(file, doc, "listen", listen);
    apply_listen(base.server, listen);
  }
  if (doc.contains("data")) {
    std::string data;
    read(file, doc, "data", data);
    base.storage.data_dir = data;
  }
  if (doc.contains("server")) read_server(file, doc["server"], base.server);
  if (doc.contains("registry")) read_registry(file, doc["registry"], base.registry);
  if (doc.contains("gc")) read_gc(file, doc["gc"], base.gc);
  if (doc.contains("tls")) read_tls(file, doc["tls"], base.tls);
  if (doc.contains("auth")) read_auth(file, doc["auth"], base.auth);
  if (doc.contains("builder")) read_builder(file, doc["builder"], base.builder);
  return base;
}

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t whole = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (whole > (UINT64_MAX - 9) / 10) return std::nullopt;
    whole = whole * 10 + static_cast<std::uint64_t>(text[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string fraction;
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      fraction += text[i];
    }
    if (fraction.empty() || fraction.size() > 6) return std::nullopt;
  }
  if (i < text.size() && text[i] == ' ') ++i;
  std::string unit;
  for (; i < text.size(); ++i) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  static const std::map<std::string, std::uint64_t> kUnits = {
      {"", 1},           {"b", 1},
      {"kb", 1000},      {"mb", 1000'000},           {"gb", 1000'000'000},
      {"tb", 1000'000'000'000},
      {"k", 1ULL << 10}, {"kib", 1ULL << 10},       {"m", 1ULL << 20},
      {"mib", 1ULL << 20}, {"g", 1ULL << 30},       {"gib", 1ULL << 30},
      {"t", 1ULL << 40}, {"tib", 1ULL << 40}};
  auto found = kUnits.find(unit);
  if (found == kUnits.end()) return std::nullopt;
  std::uint64_t scale = found->second;
  if (!fraction.empty() && scale == 1) return std::nullopt;  // no fractions of a byte
  if (whole > UINT64_MAX / scale) return std::nullopt;
  std::uint64_t bytes = whole * scale;
  std::uint64_t denominator = 1;
  for (std::size_t k = 0; k < fraction.size(); ++k) denominator *= 10;
  std::uint64_t numerator = fraction.empty() ? 0 : std::stoull(fraction);
  // scale <= 2^40 and numerator < 10^6: the product fits.
  std::uint64_t extra = numerator * scale / denominator;
  if (bytes > UINT64_MAX - extra) return std::nullopt;
  return bytes + extra;
}

void apply_listen(ServerConfig& s, const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen address needs HOST:PORT");
  std::string host = host_port.substr(0, colon);
  std::string port = host_port.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  unsigned long value = 0;
  try {
    std::size_t used = 0;
    value = std::stoul(port, &used);
    if (used != port.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw std::runtime_error("bad port in listen address: " + host_port);
  }
  if (value > 65535) throw std::runtime_error("port out of range: " + host_port);
  s.listen_host = host;
  s.listen_port = static_cast<std::uint16_t>(value);
}

}  // namespace drydock::config
