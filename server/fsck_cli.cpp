#include "server/fsck_cli.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "builder/build_cache.hpp"
#include "config/config.hpp"
#include "registry/manifest.hpp"
#include "storage/data_lock.hpp"
#include "storage/fsck.hpp"
#include "storage/quota.hpp"

namespace drydock::server {
namespace {

constexpr const char* kFsckUsage = R"(Integrity check:
  drydock fsck [--data DIR | --config FILE] [--repair] [--json]
      Checks a data directory: every blob file hashes to its name (read in
      1 MiB pieces), every database link and manifest has its file, every
      manifest parses and everything it references is in its repository,
      every tag points at a stored manifest. Blob files that no repository
      links and unexpected files under blobs/ are listed as warnings (deleted
      content waits for garbage collection; fsck never deletes a file);
      layers only the build cache holds are counted, not warned about.
      --repair  move each corrupt blob file to DATA/quarantine/ and remove the
                database links to it (and links whose file is missing), so that
                pushing the same content again is accepted and heals it.
                Manifests and tags are kept.
      --json    the report as one JSON object on stdout
      Exit status: 0 clean (warnings allowed), 1 problems found (even if
      repaired) or the check could not run, 2 usage error.
      The check only reads and is safe while a server runs (content pushed
      during the scan may show as an orphan warning). --repair is refused
      (exit 1) while a server runs on the directory: stop it first.
)";

struct FsckArgs {
  std::optional<std::string> data, config_file;
  bool repair = false;
  bool json = false;
  bool help = false;
};

FsckArgs parse_args(const std::vector<std::string>& args) {
  FsckArgs a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw std::invalid_argument(s + " needs a value");
      return args[++i];
    };
    if (s == "--data") a.data = value();
    else if (s == "--config") a.config_file = value();
    else if (s == "--repair") a.repair = true;
    else if (s == "--json") a.json = true;
    else if (s == "--help" || s == "-h") a.help = true;
    else throw std::invalid_argument("unknown argument " + s + " (see drydock fsck --help)");
  }
  return a;
}

// Manifest references as the registry extracts them at push time.
std::expected<std::vector<storage::ManifestRef>, std::string> parse_refs(
    std::string_view media_type, std::string_view bytes) {
  auto parsed = registry::parse_manifest(bytes, media_type);
  if (!parsed) {
    std::string why = parsed.error().message;
    return std::unexpected(why.empty() ? std::string("invalid manifest") : why);
  }
  std::vector<storage::ManifestRef> refs = std::move(parsed->refs);
  return refs;
}

void print_text(const storage::FsckReport& r, bool repair, double seconds) {
  for (const storage::FsckIssue& i : r.issues) {
    std::string who = i.repository.empty() ? i.what : i.repository + " " + i.what;
    std::printf("%s %s %s: %s\n", storage::is_problem(i.finding) ? "PROBLEM" : "warning",
                std::string(storage::to_string(i.finding)).c_str(), who.c_str(), i.detail.c_str());
    if (i.repaired) std::printf("  repaired: %s\n", i.repair.c_str());
  }
  std::uint64_t warn_bytes = 0;
  for (const auto& i : r.issues) warn_bytes += storage::is_problem(i.finding) ? 0 : i.bytes;
  std::printf(
      "checked %zu blob files (%s), %zu repositories, %zu blob links, %zu manifests, %zu tags, "
      "%zu layers only the build cache holds, in %.1f s\n",
      r.blob_files, storage::human_bytes(r.blob_bytes).c_str(), r.repositories, r.blob_links, r.manifests,
      r.tags, r.extra_roots, seconds);
  std::printf("%zu problems, %zu warnings (%s)", r.problems(), r.warnings(),
              storage::human_bytes(warn_bytes).c_str());
  if (repair) std::printf(", %zu repaired", r.repaired());
  std::printf("\n");
}

void print_json(const std::filesystem::path& data, const storage::FsckReport& r, double seconds) {
  nlohmann::json issues = nlohmann::json::array();
  for (const storage::FsckIssue& i : r.issues) {
    issues.push_back({{"kind", storage::to_string(i.finding)},
                      {"problem", storage::is_problem(i.finding)},
                      {"repository", i.repository},
                      {"what", i.what},
                      {"detail", i.detail},
                      {"bytes", i.bytes},
                      {"repaired", i.repaired},
                      {"repair", i.repair}});
  }
  nlohmann::json out = {{"data", data.string()},
                        {"clean", r.problems() == 0},
                        {"problems", r.problems()},
                        {"warnings", r.warnings()},
                        {"repaired", r.repaired()},
                        {"checked",
                         {{"blob_files", r.blob_files},
                          {"blob_bytes", r.blob_bytes},
                          {"repositories", r.repositories},
                          {"blob_links", r.blob_links},
                          {"manifests", r.manifests},
                          {"tags", r.tags},
                          {"build_cache_only_layers", r.extra_roots}}},
                        {"seconds", seconds},
                        {"issues", std::move(issues)}};
  std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

const char* fsck_usage() { return kFsckUsage; }

int run_fsck_command(const std::vector<std::string>& args) {
  FsckArgs a;
  config::Config c;
  try {
    a = parse_args(args);
    if (a.config_file) c = config::load_file(*a.config_file, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock fsck: %s\n", e.what());
    return 2;
  }
  if (a.help) {
    std::fputs(kFsckUsage, stdout);
    return 0;
  }
  if (a.data) c.storage.data_dir = *a.data;
  storage::FsckOptions o{c.storage.data_dir,
                         a.repair ? storage::FsckMode::kRepair : storage::FsckMode::kCheck,
                         parse_refs, c.registry.max_manifest_bytes};
  o.extra_roots = [db = o.data_dir / "metadata.db"] { return builder::cached_layers(db); };
  // Repairing moves blob files and drops links: not under a running server.
  std::optional<storage::DataDirLock> lock;
  std::error_code ec;
  if (a.repair && std::filesystem::is_regular_file(o.data_dir / "metadata.db", ec)) {
    auto taken = storage::DataDirLock::acquire(o.data_dir, "fsck --repair");
    if (!taken) {
      std::fprintf(stderr, "drydock fsck: %s: stop it before --repair (checking works while it runs)\n",
                   taken.error().c_str());
      return 1;
    }
    lock = *std::move(taken);
  }
  auto start = std::chrono::steady_clock::now();
  auto report = storage::run_fsck(o);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!report && report.error() == storage::StorageError::kNotFound) {
    std::fprintf(stderr,
                 "drydock fsck: no data directory at %s (no metadata.db; give --data or "
                 "--config as for drydock serve)\n",
                 o.data_dir.c_str());
    return 2;
  }
  if (!report) {
    std::fprintf(stderr, "drydock fsck: the check could not run: %s\n",
                 std::string(storage::to_string(report.error())).c_str());
    return 1;
  }
  if (a.json) {
    print_json(o.data_dir, *report, seconds);
  } else {
    print_text(*report, a.repair, seconds);
  }
  return report->problems() == 0 ? 0 : 1;
}

}  // namespace drydock::server
