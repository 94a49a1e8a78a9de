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

CliHttpOptions client_options(const UsageArgs& a) {
  auto o = cli_connection(a.server, a.ca_cert, a.user);
  if (!o) throw UsageError(o.error());
  return *std::move(o);
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
    std::fprintf(stderr, "drydock usage: %s\n", describe_error(*reply).c_str());
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
