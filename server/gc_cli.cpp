#include "server/gc_cli.hpp"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "builder/build_cache.hpp"
#include "server/cli_http_client.hpp"
#include "server/gc_service.hpp"
#include "server/store_rules.hpp"
#include "storage/data_lock.hpp"
#include "storage/quota.hpp"

namespace drydock::server {
namespace {

constexpr const char* kUsage = R"(
drydock gc [--dry-run] [--json] [CONNECTION | OFFLINE]
  Collects garbage on a running server now (an admin's job when
  authentication is on): applies gc.retention, then deletes manifests nothing
  keeps (see README, "Reclaiming space"), unused blob links and blob files.
  Pushes and pulls go on meanwhile. --dry-run reports what would go and
  changes nothing. The server also collects every gc.interval_minutes.
drydock prune --untagged [--older-than DURATION] [--dry-run] [--json] [CONNECTION | OFFLINE]
  Deletes untagged manifests that nothing references (like `docker image
  prune`), pushed more than DURATION ago (90s, 30m, 24h, 7d; default 0) and
  never within gc.grace_seconds, then collects what that frees.
CONNECTION: --server URL ($DRYDOCK_SERVER, default http://127.0.0.1:5000),
  --ca-cert FILE ($DRYDOCK_CA_CERT), --user NAME ($DRYDOCK_USER, with the
  password or access token in $DRYDOCK_PASSWORD).
OFFLINE: --data DIR and/or --config FILE (as for drydock serve): works on the
  data directory itself, with the config's gc and registry settings, while no
  server runs on it (refused, exit 1, while one does).
)";

struct GcArgs {
  bool dry_run = false;
  bool json = false;
  bool untagged = false;
  std::optional<std::string> older_than;
  std::optional<std::string> server, ca_cert, user;
  std::optional<std::string> data, config_file;  // offline
  bool help = false;
};

std::optional<std::string> parse_args(const std::string& command,
                                      const std::vector<std::string>& args, GcArgs& a) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    auto value = [&](std::optional<std::string>& out) -> bool {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (f == "--help" || f == "-h") {
      a.help = true;
    } else if (f == "--dry-run" || f == "-n") {
      a.dry_run = true;
    } else if (f == "--json") {
      a.json = true;
    } else if (command == "prune" && f == "--untagged") {
      a.untagged = true;
    } else if (command == "prune" && f == "--older-than") {
      if (!value(a.older_than)) return f + " needs a value";
      if (!parse_duration(*a.older_than)) return "--older-than: not a duration: " + *a.older_than;
    } else if (f == "--server" || f == "--ca-cert" || f == "--user") {
      auto& out = f == "--server" ? a.server : f == "--ca-cert" ? a.ca_cert : a.user;
      if (!value(out)) return f + " needs a value";
    } else if (f == "--data" || f == "--config") {
      if (!value(f == "--data" ? a.data : a.config_file)) return f + " needs a value";
    } else {
      return "unknown argument " + f;
    }
  }
  if (command == "prune" && !a.untagged && !a.help) {
    return "prune needs --untagged (the only kind of prune there is)";
  }
  if ((a.data || a.config_file) && (a.server || a.ca_cert || a.user)) {
    return "--data/--config work on the directory, --server/--ca-cert/--user ask a server: not both";
  }
  return std::nullopt;
}

void print_list(const char* title, const nlohmann::json& list) {
  if (!list.is_array() || list.empty()) return;
  std::printf("%s:\n", title);
  for (const auto& item : list) std::printf("  %s\n", item.get<std::string>().c_str());
}

// "1.5 MiB (1572864 bytes)": the exact figure too, for scripts and checks.
std::string bytes_text(std::uint64_t b) {
  std::string text = storage::human_bytes(b);
  return b < 1024 ? text : text + " (" + std::to_string(b) + " bytes)";
}

void print_report(const nlohmann::json& r) {
  bool dry = r.value("dry_run", false);
  print_list(dry ? "tags that would be deleted (retention)" : "deleted tags (retention)",
             r["tags_deleted"]);
  print_list("kept, immutable", r["tags_kept_immutable"]);
  print_list(dry ? "manifests that would be deleted" : "deleted manifests", r["manifests_deleted"]);
  std::printf("%s %llu blob(s), %s; %llu link(s); %llu blob(s), %s remain (%.2f s)\n",
              dry ? "would free" : "freed", r.value("blobs_deleted", 0ULL),
              bytes_text(r.value("bytes_freed", 0ULL)).c_str(), r.value("links_removed", 0ULL),
              r.value("blobs_remaining", 0ULL), bytes_text(r.value("bytes_remaining", 0ULL)).c_str(),
              r.value("seconds", 0.0));
}

// Prints the report (a gc_report_json object); 0, or 1 if it is not one.
int print_answer(const std::string& command, const std::string& body, bool json) {
  auto report = nlohmann::json::parse(body, nullptr, false);
  if (!report.is_object()) {
    std::fprintf(stderr, "drydock %s: the server's answer is not a report\n", command.c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    print_report(report);
  }
  return 0;
}

// gc or prune on the data directory, with the server stopped.
int run_offline(const std::string& command, const GcArgs& a) {
  config::Config c;
  try {
    if (a.config_file) c = config::load_file(*a.config_file, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock %s: %s\n", command.c_str(), e.what());
    return 2;
  }
  if (a.data) c.storage.data_dir = *a.data;
  const std::filesystem::path data = c.storage.data_dir;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(data / "metadata.db", ec)) {
    std::fprintf(stderr, "drydock %s: no data directory at %s (no metadata.db)\n",
                 command.c_str(), data.c_str());
    return 2;
  }
  auto lock = storage::DataDirLock::acquire(data, command);
  if (!lock) {
    std::fprintf(stderr, "drydock %s: %s: stop it, or ask it (drydock %s --server URL)\n",
                 command.c_str(), lock.error().c_str(), command.c_str());
    return 1;
  }
  storage::FsBlobStore blobs(data);
  storage::MetadataStore meta(data / "metadata.db");
  apply_store_rules(meta, c.registry);
  GcService gc(meta, blobs, c.gc, [db = data / "metadata.db"] { return builder::cached_layers(db); });
  auto report = command == "gc"
                    ? gc.collect(a.dry_run)
                    : gc.prune_untagged(a.older_than ? *parse_duration(*a.older_than) : 0, a.dry_run);
  if (!report) {
    std::fprintf(stderr, "drydock %s: failed: %s\n", command.c_str(),
                 std::string(storage::to_string(report.error())).c_str());
    return 1;
  }
  return print_answer(command, gc_report_json(*report), a.json);
}

}  // namespace

const char* gc_usage() { return kUsage; }

int run_gc_command(const std::string& command, const std::vector<std::string>& args) {
  GcArgs a;
  if (auto bad = parse_args(command, args, a)) {
    std::fprintf(stderr, "drydock %s: %s\n%s", command.c_str(), bad->c_str(), kUsage);
    return 2;
  }
  if (a.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (a.data || a.config_file) return run_offline(command, a);
  auto options = cli_connection(a.server, a.ca_cert, a.user);
  if (!options) {
    std::fprintf(stderr, "drydock %s: %s\n", command.c_str(), options.error().c_str());
    return 2;
  }
  std::string target = command == "gc" ? "/admin/gc" : "/admin/prune?untagged=1";
  std::string sep = command == "gc" ? "?" : "&";
  if (a.older_than) target += "&older_than=" + url_encode(*a.older_than);
  if (a.dry_run) target += sep + "dry_run=1";
  CliHttpClient client(*options);
  auto reply = client.request("POST", target);
  if (!reply) {
    std::fprintf(stderr, "drydock %s: %s: %s\n", command.c_str(), options->url.text().c_str(),
                 reply.error().message.c_str());
    return 2;
  }
  if (reply->status == 401) {
    std::fprintf(stderr, "drydock %s: %s (give --user NAME and DRYDOCK_PASSWORD)\n",
                 command.c_str(), describe_error(*reply).c_str());
    return 1;
  }
  if (reply->status != 200) {
    std::fprintf(stderr, "drydock %s: %s\n", command.c_str(), describe_error(*reply).c_str());
    return 1;
  }
  return print_answer(command, reply->body, a.json);
}

}  // namespace drydock::server
