#include "build_diff_builders.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace drydock::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

fs::path scripts_dir() { return E2E_SCRIPTS_DIR; }

fs::path corpus_dir() { return scripts_dir() / "build_corpus"; }

std::expected<fs::path, std::string> make_temp_dir() {
  std::string pattern = env_or("TMPDIR", "/tmp") + "/drydock-build-diff-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return std::unexpected("mkdtemp " + pattern);
  return fs::path(pattern);
}

std::expected<void, std::string> check(const CommandResult& result) {
  if (result.ok()) return {};
  return std::unexpected(result.describe());
}

// The applets the corpus's RUN steps use.
constexpr const char* kApplets =
    "sh ls echo cat mkdir rm ln chown chmod touch printf cp mv test true false id env sort "
    "grep pwd";

std::expected<void, std::string> push_base(const DiffSuite& suite) {
  const std::string rootfs = shell_quote((suite.tmp_dir / "rootfs.tar").string());
  if (auto ok = check(run_command(shell_quote((scripts_dir() / "make_rootfs.sh").string()) + " " +
                                  rootfs + " " + kApplets));
      !ok) {
    return ok;
  }
  if (auto ok = check(run_command(suite.docker + " import -c 'CMD [\"/bin/sh\"]' " + rootfs + " " +
                                  suite.base));
      !ok) {
    return ok;
  }
  return check(run_command(suite.docker + " push " + suite.base));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void replace_all(std::string* text, std::string_view from, std::string_view to) {
  for (auto at = text->find(from); at != std::string::npos; at = text->find(from, at + to.size())) {
    text->replace(at, from.size(), to);
  }
}

std::expected<void, std::string> substitute_base(const fs::path& file, const std::string& base) {
  if (!fs::exists(file)) return {};
  std::string text = read_file(file);
  replace_all(&text, "@BASE@", base);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) return std::unexpected("cannot write " + file.string());
  return {};
}

std::expected<nlohmann::json, std::string> curl_json(const std::string& command) {
  auto result = run_command(command, 120s);
  if (!result.ok()) return std::unexpected(result.describe());
  auto json = nlohmann::json::parse(result.output, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return std::unexpected("not a JSON object: " + result.describe());
  }
  return json;
}

}  // namespace

void PrintTo(const BuildCase& build_case, std::ostream* out) { *out << build_case.name; }

std::string DiffSuite::image(const std::string& path) const {
  return registry->host() + "/" + path;
}

std::expected<std::unique_ptr<DiffSuite>, std::string> start_diff_suite() {
  auto suite = std::make_unique<DiffSuite>();
  auto tmp = make_temp_dir();
  if (!tmp) return std::unexpected(tmp.error());
  suite->tmp_dir = *tmp;

  RegistryOptions options;
#ifdef DRYDOCK_BINARY
  options.binary = env_or("DRYDOCK_E2E_BINARY", DRYDOCK_BINARY);
#else
  options.binary = env_or("DRYDOCK_E2E_BINARY", "");
#endif
  if (options.binary.empty()) return std::unexpected("no drydock binary (DRYDOCK_E2E_BINARY)");
  options.work_dir = suite->tmp_dir / "registry";
  fs::create_directories(options.work_dir);
  std::string error;
  suite->registry = RegistryServer::start(options, &error);
  if (!suite->registry) return std::unexpected("starting drydock: " + error);

  // Debian's client matches Debian's dockerd (20.10) and has BuildKit built in; a
  // newer client first in PATH would need the buildx plugin. DOCKER overrides.
  const std::string client =
      env_or("DOCKER", access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "docker");
  suite->docker = "env DOCKER_BUILDKIT=1 " + shell_quote(client);
  if (auto ok = check(run_command("DOCKER=" + shell_quote(client) + " " +
                                      shell_quote((scripts_dir() / "ensure_dockerd.sh").string()),
                                  120s));
      !ok) {
    return std::unexpected(ok.error());
  }
  suite->base = suite->image("e2e/busybox:1");
  if (auto ok = push_base(*suite); !ok) return std::unexpected(ok.error());
  return suite;
}

std::expected<PreparedCase, std::string> prepare_case(const DiffSuite& suite,
                                                      const BuildCase& build_case,
                                                      const fs::path& dir) {
  const fs::path source = corpus_dir() / build_case.name;
  if (!fs::is_directory(source)) return std::unexpected("no corpus case " + source.string());
  PreparedCase prepared{dir / "context", dir / "Dockerfile.docker", dir / "context.tar"};
  const std::string ctx = shell_quote(prepared.context.string());
  std::string script =
      "set -e; mkdir -p " + ctx + "; cp -a " + shell_quote((source / ".").string()) + " " + ctx +
      "; cd " + ctx +
      "; rm -f prepare.sh; if [ -e Dockerfile.docker ]; then mv Dockerfile.docker " +
      shell_quote(prepared.docker_dockerfile.string()) + "; fi";
  if (fs::exists(source / "prepare.sh")) {
    script += "; sh " + shell_quote((source / "prepare.sh").string());
  }
  if (auto ok = check(run_command(script)); !ok) return std::unexpected(ok.error());
  if (!fs::exists(prepared.docker_dockerfile)) prepared.docker_dockerfile.clear();
  for (const fs::path& file : {prepared.context / "Dockerfile", prepared.docker_dockerfile}) {
    if (auto ok = substitute_base(file, suite.base); !ok) return std::unexpected(ok.error());
  }
  // Numeric owners, hard links and symlinks are kept, as docker's context upload does.
  if (auto ok =
          check(run_command("find " + ctx + " -exec touch -h -d @" + std::to_string(kContextMtime) +
                            " {} + && tar --numeric-owner -C " + ctx + " -cf " +
                            shell_quote(prepared.context_tar.string()) + " ."));
      !ok) {
    return std::unexpected(ok.error());
  }
  return prepared;
}

CommandResult docker_build(const DiffSuite& suite, const BuildCase& build_case,
                           const PreparedCase& prepared, const std::string& tag, bool no_cache) {
  // --network none: dockerd runs with --bridge=none, and no step needs the network.
  std::string command = "cd " + shell_quote(prepared.context.string()) + " && " + suite.docker +
                        " build --network none --progress plain --build-arg " +
                        shell_quote("BASE=" + suite.base);
  for (const auto& arg : build_case.build_args) command += " --build-arg " + shell_quote(arg);
  if (!build_case.target.empty()) command += " --target " + shell_quote(build_case.target);
  if (!prepared.docker_dockerfile.empty()) {
    command += " -f " + shell_quote(prepared.docker_dockerfile.string());
  }
  if (no_cache) command += " --no-cache";
  return run_command(command + " -t " + shell_quote(tag) + " .", 600s);
}

std::expected<void, std::string> drydock_build(const DiffSuite& suite, const BuildCase& build_case,
                                               const PreparedCase& prepared,
                                               const std::string& repo_tag) {
  const std::string url = suite.registry->base_url() + "/builds";
  std::string post = "curl -sS -X POST -H 'Content-Type: application/x-tar' --data-binary @" +
                     shell_quote(prepared.context_tar.string()) + " --url-query " +
                     shell_quote("t=" + repo_tag) + " --url-query " +
                     shell_quote("buildarg=BASE=" + suite.base);
  for (const auto& arg : build_case.build_args) {
    post += " --url-query " + shell_quote("buildarg=" + arg);
  }
  if (!build_case.target.empty())
    post += " --url-query " + shell_quote("target=" + build_case.target);
  auto created = curl_json(post + " " + shell_quote(url));
  if (!created) return std::unexpected("POST /builds: " + created.error());
  const std::string id = created->value("id", "");
  if (id.empty()) return std::unexpected("POST /builds answered " + created->dump());

  // The followed log ends when the build has finished.
  auto log = run_command("curl -sS " + shell_quote(url + "/" + id + "/logs?follow=1"), 600s);
  auto build = curl_json("curl -sS " + shell_quote(url + "/" + id));
  if (!build) return std::unexpected("GET /builds/" + id + ": " + build.error());
  if (build->value("status", "") != "succeeded") {
    return std::unexpected("build " + build->dump(2) + "\n--- log ---\n" + log.output);
  }
  return check(run_command(suite.docker + " pull " + shell_quote(suite.image(repo_tag))));
}

std::expected<FlatFs, std::string> flatten_image(const DiffSuite& suite, const std::string& image,
                                                 const fs::path& tar) {
  // A command is given because a scratch image may have none; nothing is started.
  // rm -v: VOLUMEs get anonymous volumes at create.
  const std::string command = "id=$(" + suite.docker + " create --network none " +
                              shell_quote(image) + " /never-run) || exit; " + suite.docker +
                              " export -o " + shell_quote(tar.string()) + " $id; status=$?; " +
                              suite.docker + " rm -v $id >/dev/null; exit $status";
  if (auto ok = check(run_command(command)); !ok) return std::unexpected(ok.error());
  return read_flat_fs(tar);
}

std::expected<std::map<std::string, nlohmann::json>, std::string> inspect_image(
    const DiffSuite& suite, const std::string& image) {
  auto result = run_command(suite.docker + " image inspect " + shell_quote(image));
  if (!result.ok()) return std::unexpected(result.describe());
  auto json = nlohmann::json::parse(result.output, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_array() || json.empty()) {
    return std::unexpected("unexpected inspect output: " + result.describe());
  }
  const nlohmann::json& inspected = json[0];
  std::map<std::string, nlohmann::json> fields;
  const nlohmann::json config = inspected.value("Config", nlohmann::json::object());
  for (const char* name : {"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts",
                           "Volumes", "Labels", "Healthcheck", "StopSignal", "OnBuild", "Shell"}) {
    nlohmann::json value = config.value(name, nlohmann::json());
    // Absent, null, "" and empty collections all mean "not set" to docker.
    if (value.empty() || value == "") value = nullptr;
    fields[std::string("Config.") + name] = value;
  }
  auto history = run_command(suite.docker + " history --no-trunc --format '{{.CreatedBy}}' " +
                             shell_quote(image));
  if (!history.ok()) return std::unexpected(history.describe());
  fields["History.created_by"] = history.output;
  fields["Architecture"] = inspected.value("Architecture", nlohmann::json());
  fields["Os"] = inspected.value("Os", nlohmann::json());
  fields["RootFS.Layers.count"] = inspected.value("RootFS", nlohmann::json::object())
                                      .value("Layers", nlohmann::json::array())
                                      .size();
  return fields;
}

void remove_images(const DiffSuite& suite, const std::vector<std::string>& images) {
  std::string command = suite.docker + " rmi -f";
  for (const auto& image : images) command += " " + shell_quote(image);
  run_command(command + " >/dev/null 2>&1");
}

}  // namespace drydock::e2e
