#include "server/usage_cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "auth/secrets.hpp"
#include "server/cli_http_client.hpp"
#include "storage/quota.hpp"

namespace drydock::server {
namespace {

using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsageHelp = R"(Usage: drydock usage [NAMESPACE] [options]

Shows the bytes each namespace holds (each distinct blob counted once, the
manifests included) against its quota (registry.quotas), and each of its
repositories, as a running server reports them (GET /usage). With auth on,
admins see every namespace, others the repositories they may pull.

Options:
  --server URL    the server (default $DRYDOCK_SERVER, else http://127.0.0.1:5000)
  --ca-cert FILE  also trust this PEM CA bundle ($DRYDOCK_CA_CERT)
  --user NAME     authenticate as NAME ($DRYDOCK_USER) with the password or
                  access token in $DRYDOCK_PASSWORD
  --json          print the server's JSON as it is

)";

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct UsageArgs {
  std::string ns;
  std::optional<std::string> server, ca_cert, user;
  bool json = false;
  bool help = false;
};

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

UsageArgs parse_args(const std::vector<std::string>& args) {
  UsageArgs a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
      return args[++i];
    };
    if (flag == "-h" || flag == "--help") {
      a.help = true;
    } else if (flag == "--json") {
      a.json = true;
    } else if (flag == "--server") {
      a.server = value();
    } else if (flag == "--ca-cert") {
      a.ca_cert = value();
    } else if (flag == "--user") {
      a.user = value();
    } else if (flag.starts_with("-")) {
      throw UsageError("unknown option " + flag);
    } else if (a.ns.empty()) {
      a.ns = flag;
    } else {
      throw UsageError("one NAMESPACE at most");
    }
  }
  return a;
}

CliHttpOptions client_options(const UsageArgs& a) {
  auto url = parse_server_url(
      a.server.value_or(env("DRYDOCK_SERVER").value_or("http://127.0.0.1:5000")));
  if (!url) throw UsageError(url.error());
  CliHttpOptions o{.url = *url, .ca_file = a.ca_cert.value_or(env("DRYDOCK_CA_CERT").value_or(""))};
  std::optional<std::string> user = a.user ? a.user : env("DRYDOCK_USER");
  auto password = env("DRYDOCK_PASSWORD");
  if (user && !password) {
    throw UsageError("user " + *user + " needs a password or token in DRYDOCK_PASSWORD");
  }
  if (user) o.authorization = "Basic " + auth::base64_encode(*user + ":" + *password);
  return o;
}

std::string limit_text(const json& ns) {
  if (!ns["limit"].is_number_unsigned()) return "unlimited";
  auto limit = ns["limit"].get<std::uint64_t>();
  auto used = ns["used"].get<std::uint64_t>();
  std::string out = storage::human_bytes(limit);
  if (limit > 0) out += " (" + std::to_string(used * 100 / limit) + "%)";
  return out;
}

void print_table(const json& doc) {
  std::printf("%-40s %12s %18s %8s\n", "NAMESPACE / REPOSITORY", "USED", "LIMIT", "BLOBS");
  for (const auto& ns : doc["namespaces"]) {
    std::printf("%-40s %12s %18s %8llu\n", ns["name"].get<std::string>().c_str(),
                storage::human_bytes(ns["used"].get<std::uint64_t>()).c_str(),
                limit_text(ns).c_str(),
                static_cast<unsigned long long>(ns["blobs"].get<std::uint64_t>()));
    for (const auto& r : ns["repositories"]) {
      std::printf("  %-38s %12s %18s %8llu\n", r["name"].get<std::string>().c_str(),
                  storage::human_bytes(r["used"].get<std::uint64_t>()).c_str(), "",
                  static_cast<unsigned long long>(r["blobs"].get<std::uint64_t>()));
    }
  }
}

// "CODE: message" from a registry error document, else the status.
std::string refusal(const CliHttpReply& r) {
  json doc = json::parse(r.body, nullptr, false);
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
      !doc["errors"].empty() && doc["errors"][0].is_object()) {
    const json& e = doc["errors"][0];
    return e.value("code", "") + ": " + e.value("message", "");
  }
  return std::to_string(r.status) + " " + r.reason;
}

int run(const UsageArgs& a) {
  CliHttpClient client(client_options(a));
  std::string target = "/usage";
  if (!a.ns.empty()) target += "?namespace=" + url_encode(a.ns);
  auto reply = client.request("GET", target);
  if (!reply) {
    std::fprintf(stderr, "drydock usage: %s\n", reply.error().message.c_str());
    return kExitUsage;
  }
  if (reply->status != 200) {
    std::fprintf(stderr, "drydock usage: %s\n", refusal(*reply).c_str());
    return kExitRefused;
  }
  json doc = json::parse(reply->body, nullptr, false);
  if (doc.is_discarded() || !doc.contains("namespaces") || !doc["namespaces"].is_array()) {
    std::fprintf(stderr, "drydock usage: the server's answer is not a usage report\n");
    return kExitRefused;
  }
  if (a.json) {
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    print_table(doc);
  }
  return kExitOk;
}

}  // namespace

const char* usage_command_usage() { return kUsageHelp; }

int run_usage_command(const std::vector<std::string>& args) {
  try {
    UsageArgs a = parse_args(args);
    if (a.help) {
      std::fputs(kUsageHelp, stdout);
      return kExitOk;
    }
    return run(a);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "drydock usage: %s\n\n%s", e.what(), kUsageHelp);
    return kExitUsage;
  } catch (const json::exception& e) {
    std::fprintf(stderr, "drydock usage: malformed answer: %s\n", e.what());
    return kExitRefused;
  }
}

}  // namespace drydock::server
