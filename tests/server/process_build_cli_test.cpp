// `drydock build`, the build client, as a real process against a real
// `drydock serve`: contexts and .dockerignore, success and failure exit
// statuses, Ctrl-C cancelling a running build, authentication, HTTPS, and a
// large context streamed in bounded memory.

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/http_client.hpp"
#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"
#include "tests/server/test_pki.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kBuildTimeout = 120s;

void write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

// Sets an environment variable for one scope (run_cli's children inherit the
// environment), restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Entry names of a (gzip'd) tar held in memory, directories without their '/'.
std::vector<std::string> tar_names(const std::string& blob) {
  std::vector<std::string> names;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, blob.data(), blob.size()), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    if (name.starts_with("./")) name = name.substr(2);
    if (name.ends_with('/')) name.pop_back();
    names.push_back(name);
  }
  archive_read_free(a);
  return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The build id `drydock build` reports on stderr ("... build <id>").
std::string build_id(const std::string& err) {
  std::smatch m;
  if (std::regex_search(err, m, std::regex("build ([0-9a-f]{16,})"))) return m[1];
  return "";
}

class BuildCli : public ::testing::Test {
 protected:
  fs::path ctx() const { return dir_.path() / "ctx"; }
  fs::path data() const { return dir_.path() / "data"; }

  void start_server(std::vector<std::string> extra = {}) {
    auto args = ServerProcess::serve_args(data());
    args.insert(args.end(), extra.begin(), extra.end());
    server_.emplace(args, dir_.path() / "server.log");
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  std::vector<std::string> build_args(std::vector<std::string> args) const {
    std::vector<std::string> full{"build", "--server", url()};
    full.insert(full.end(), args.begin(), args.end());
    return full;
  }
  CliResult build(std::vector<std::string> args) {
    return run_cli(build_args(std::move(args)), kBuildTimeout);
  }

  // Layer entry names of the image at repo:tag (every layer, in order).
  std::vector<std::string> image_files(const std::string& repo, const std::string& tag,
                                       const Headers& auth = {}) {
    Client c(server_->port());
    auto m = c.get("/v2/" + repo + "/manifests/" + tag, auth);
    EXPECT_EQ(m.status, 200u) << m.body;
    std::vector<std::string> names;
    for (const auto& layer : m.json().value("layers", json::array())) {
      auto blob = c.get("/v2/" + repo + "/blobs/" + layer.value("digest", ""), auth);
      EXPECT_EQ(blob.status, 200u);
      auto more = tar_names(blob.body);
      names.insert(names.end(), more.begin(), more.end());
    }
    return names;
  }

  // Pushes a one-layer image of the host's static busybox as repo:tag.
  void push_busybox(const std::string& repo, const std::string& tag) {
    fs::path root = dir_.path() / "busybox-root";
    fs::create_directories(root / "bin");
    fs::copy_file("/bin/busybox", root / "bin/busybox");
    for (const char* applet : {"sh", "sleep", "false", "true", "echo", "cat", "ls"}) {
      fs::create_symlink("busybox", root / "bin" / applet);
    }
    fs::path tar = dir_.path() / "busybox.tar";
    std::string cmd = "tar --sort=name --owner=0 --group=0 --numeric-owner -C " + root.string() +
                      " -cf " + tar.string() + " . && gzip -n -k " + tar.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::string diff_id = sha256_of(read_file(tar));
    Client c(server_->port());
    BlobRef layer = push_blob_monolithic(c, repo, read_file(tar.string() + ".gz"));
    json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"config", {{"Env", {"PATH=/bin"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}};
    BlobRef cfg = push_blob_monolithic(c, repo, config.dump());
    push_manifest(c, repo, tag, image_manifest(cfg, {layer}));
  }

  ScratchDir dir_;
  std::optional<ServerProcess> server_;
};

TEST_F(BuildCli, HelpAndUsageErrors) {
  auto help = run_cli({"build", "--help"});
  EXPECT_TRUE(help.status.ok()) << help.err;
  EXPECT_NE(help.out.find("Usage: drydock build"), std::string::npos) << help.out;
  EXPECT_NE(run_cli({"--help"}).out.find("drydock build"), std::string::npos);

  auto no_dir = run_cli({"build"});
  EXPECT_EQ(no_dir.status.exit_code, 2) << no_dir.err;
  auto missing = run_cli({"build", (dir_.path() / "nope").string()});
  EXPECT_EQ(missing.status.exit_code, 2);
  EXPECT_NE(missing.err.find("not a directory"), std::string::npos) << missing.err;
  write(ctx() / "README", "no Dockerfile here");
  auto no_dockerfile = run_cli({"build", ctx().string()});
  EXPECT_EQ(no_dockerfile.status.exit_code, 2);
  EXPECT_NE(no_dockerfile.err.find("no Dockerfile"), std::string::npos) << no_dockerfile.err;
  auto bad_flag = run_cli({"build", "--frobnicate", ctx().string()});
  EXPECT_EQ(bad_flag.status.exit_code, 2);
  EXPECT_NE(bad_flag.err.find("unknown option --frobnicate"), std::string::npos);
}

TEST_F(BuildCli, AServerThatCannotBeReachedExitsTwo) {
  write(ctx() / "Dockerfile", "FROM scratch\n");
  // A port that was just free.
  start_server();
  std::uint16_t port = server_->port();
  server_.reset();
  ASSERT_TRUE(wait_connect_refused(port, 10s));
  std::string dead = "http://127.0.0.1:" + std::to_string(port);
  auto refused = run_cli({"build", "--server", dead, ctx().string()});
  EXPECT_EQ(refused.status.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("cannot connect to " + dead), std::string::npos) << refused.err;

  auto scheme = run_cli({"build", "--server", "ftp://127.0.0.1", ctx().string()});
  EXPECT_EQ(scheme.status.exit_code, 2);
  EXPECT_NE(scheme.err.find("unsupported scheme"), std::string::npos) << scheme.err;

  ScopedEnv server("DRYDOCK_SERVER", dead);
  auto from_env = run_cli({"build", ctx().string()});
  EXPECT_EQ(from_env.status.exit_code, 2);
  EXPECT_NE(from_env.err.find(dead), std::string::npos) << from_env.err;
}

TEST_F(BuildCli, BuildsAContextIntoATaggedImageWithoutTheIgnoredFiles) {
  write(ctx() / "Dockerfile", "FROM scratch\nCOPY . /app/\n");
  write(ctx() / ".dockerignore", "secret.env\nlogs\n*.tmp\n!keep.tmp\n");
  write(ctx() / "hello.txt", "hello\n");
  write(ctx() / "sub/data.bin", std::string(100'000, 'd'));
  write(ctx() / "secret.env", "TOKEN=x\n");
  write(ctx() / "logs/today.log", "log\n");
  write(ctx() / "scratch.tmp", "tmp\n");
  write(ctx() / "keep.tmp", "kept\n");
  fs::create_symlink("hello.txt", ctx() / "link");
  start_server();

  auto r = build({"-t", "demo/app:1", "-t", "demo/app:latest", ctx().string()});
  ASSERT_EQ(r.status.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("succeeded"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("COPY"), std::string::npos) << "the log goes to stdout: " << r.out;

  auto files = image_files("demo/app", "1");
  EXPECT_TRUE(contains(files, "app/hello.txt")) << join(files);
  EXPECT_TRUE(contains(files, "app/sub/data.bin")) << join(files);
  EXPECT_TRUE(contains(files, "app/keep.tmp")) << join(files);
  EXPECT_TRUE(contains(files, "app/link")) << join(files);
  EXPECT_FALSE(contains(files, "app/secret.env")) << join(files);
  EXPECT_FALSE(contains(files, "app/logs")) << join(files);
  EXPECT_FALSE(contains(files, "app/logs/today.log")) << join(files);
  EXPECT_FALSE(contains(files, "app/scratch.tmp")) << join(files);
  EXPECT_EQ(Client(server_->port()).get("/v2/demo/app/manifests/latest").status, 200u);
}

TEST_F(BuildCli, ADockerfileOutsideTheContextTravelsUnderAGeneratedNameAndIsDropped) {
  write(dir_.path() / "elsewhere/Dockerfile.release", "FROM scratch\nCOPY . /\n");
  write(ctx() / "main.c", "int main;\n");
  start_server();

  auto r = build({"-t", "demo/outside:1", "-f",
                  (dir_.path() / "elsewhere/Dockerfile.release").string(), ctx().string()});
  ASSERT_EQ(r.status.exit_code, 0) << r.out << r.err;
  auto files = image_files("demo/outside", "1");
  EXPECT_TRUE(contains(files, "main.c")) << join(files);
  for (const auto& f : files) {
    EXPECT_FALSE(f.starts_with(".dockerfile.")) << join(files);
    EXPECT_NE(f, ".dockerignore") << join(files);
  }
}

TEST_F(BuildCli, AFailedBuildExitsOneAndSaysWhy) {
  start_server();
  write(ctx() / "Dockerfile", "FROM scratch\nCOPY missing.txt /\n");
  auto missing = build({"-t", "demo/fail:1", ctx().string()});
  EXPECT_EQ(missing.status.exit_code, 1) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("missing.txt"), std::string::npos) << missing.err;
  EXPECT_EQ(Client(server_->port()).get("/v2/demo/fail/manifests/1").status, 404u);

  write(ctx() / "Dockerfile", "FROM scratch\nFROBNICATE now\n");
  auto unknown = build({"-t", "demo/fail:2", ctx().string()});
  EXPECT_EQ(unknown.status.exit_code, 1) << unknown.out << unknown.err;
  EXPECT_NE(unknown.err.find("FROBNICATE"), std::string::npos) << unknown.err;
}

TEST_F(BuildCli, ARunStepThatFailsExitsOne) {
  start_server();
  push_busybox("base/busybox", "1");
  write(ctx() / "Dockerfile", "FROM 127.0.0.1:" + std::to_string(server_->port()) +
                                  "/base/busybox:1\nRUN echo failing-$((6*7)) && false\n");
  auto r = build({"-t", "demo/run:1", ctx().string()});
  EXPECT_EQ(r.status.exit_code, 1) << r.out << r.err;
  // The step's own output (the log's step line only has the unexpanded text).
  EXPECT_NE(r.out.find("failing-42"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("failed"), std::string::npos) << r.err;
}

TEST_F(BuildCli, CtrlCCancelsTheRunningBuild) {
  start_server();
  push_busybox("base/busybox", "1");
  write(ctx() / "Dockerfile", "FROM 127.0.0.1:" + std::to_string(server_->port()) +
                                  "/base/busybox:1\nRUN echo sleeping-$((6*7)) && sleep 120\n");
  CliProcess cli(build_args({"-t", "demo/slow:1", ctx().string()}));
  auto deadline = std::chrono::steady_clock::now() + 60s;
  // "sleeping-42" is the step's output, so the step is running.
  while (cli.out().find("sleeping-42") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_NE(cli.out().find("sleeping-42"), std::string::npos) << cli.out();
  auto started = std::chrono::steady_clock::now();
  cli.send_signal(SIGINT);
  auto r = cli.wait(60s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  EXPECT_EQ(r.status.exit_code, 130) << r.out << r.err;
  EXPECT_NE(r.err.find("cancelled"), std::string::npos) << r.err;
  std::string id = build_id(r.err);
  ASSERT_FALSE(id.empty()) << r.err;
  auto state = Client(server_->port()).get("/builds/" + id);
  EXPECT_EQ(state.json().value("status", ""), "cancelled") << state.body;
  EXPECT_EQ(Client(server_->port()).get("/v2/demo/slow/manifests/1").status, 404u);
}

TEST_F(BuildCli, WithAuthOnCredentialsAreNeeded) {
  ScopedEnv admin("DRYDOCK_ADMIN_USER", "boss");
  ScopedEnv admin_pw("DRYDOCK_ADMIN_PASSWORD", "boss-password-1");
  ScopedEnv user("DRYDOCK_USER", std::nullopt);
  ScopedEnv pw("DRYDOCK_PASSWORD", std::nullopt);
  write(ctx() / "Dockerfile", "FROM scratch\nCOPY . /\n");
  write(ctx() / "a.txt", "a\n");
  start_server({"--auth"});

  auto anonymous = build({"-t", "team/app:1", ctx().string()});
  EXPECT_EQ(anonymous.status.exit_code, 1) << anonymous.err;
  EXPECT_NE(anonymous.err.find("UNAUTHORIZED"), std::string::npos) << anonymous.err;
  EXPECT_NE(anonymous.err.find("DRYDOCK_PASSWORD"), std::string::npos) << anonymous.err;

  auto no_password = build({"--user", "boss", "-t", "team/app:1", ctx().string()});
  EXPECT_EQ(no_password.status.exit_code, 2) << no_password.err;
  EXPECT_NE(no_password.err.find("DRYDOCK_PASSWORD"), std::string::npos) << no_password.err;

  {
    ScopedEnv wrong("DRYDOCK_PASSWORD", "not-the-password");
    auto denied = build({"--user", "boss", "-t", "team/app:1", ctx().string()});
    EXPECT_EQ(denied.status.exit_code, 1) << denied.err;
    EXPECT_NE(denied.err.find("UNAUTHORIZED"), std::string::npos) << denied.err;
  }
  {
    ScopedEnv right("DRYDOCK_PASSWORD", "boss-password-1");
    auto ok = build({"--user", "boss", "-t", "team/app:1", ctx().string()});
    EXPECT_EQ(ok.status.exit_code, 0) << ok.out << ok.err;
    ScopedEnv as("DRYDOCK_USER", "boss");
    auto ok_env = build({"-t", "team/app:2", ctx().string()});
    EXPECT_EQ(ok_env.status.exit_code, 0) << ok_env.out << ok_env.err;
  }
  Headers basic{{"Authorization", "Basic Ym9zczpib3NzLXBhc3N3b3JkLTE="}};  // boss:boss-password-1
  EXPECT_EQ(Client(server_->port()).get("/v2/team/app/manifests/1", basic).status, 200u);
  EXPECT_EQ(Client(server_->port()).get("/v2/team/app/manifests/2", basic).status, 200u);
}

TEST_F(BuildCli, SpeaksHttpsWithTheGivenCa) {
  TestPki pki(dir_.path() / "pki");
  Issued cert = pki.server_cert("drydock");
  write(ctx() / "Dockerfile", "FROM scratch\nCOPY . /\n");
  write(ctx() / "a.txt", "a\n");
  start_server({"--tls-cert", cert.cert.string(), "--tls-key", cert.key.string()});
  std::string https = "https://127.0.0.1:" + std::to_string(server_->port());

  auto untrusted = run_cli({"build", "--server", https, ctx().string()}, kBuildTimeout);
  EXPECT_EQ(untrusted.status.exit_code, 2) << untrusted.err;
  EXPECT_NE(untrusted.err.find("certificate verify failed"), std::string::npos) << untrusted.err;

  auto trusted = run_cli({"build", "--server", https, "--ca-cert", pki.ca_cert().string(), "-t",
                          "demo/tls:1", ctx().string()},
                         kBuildTimeout);
  EXPECT_EQ(trusted.status.exit_code, 0) << trusted.out << trusted.err;

  ScopedEnv ca("DRYDOCK_CA_CERT", pki.ca_cert().string());
  auto from_env =
      run_cli({"build", "--server", https, "-t", "demo/tls:2", ctx().string()}, kBuildTimeout);
  EXPECT_EQ(from_env.status.exit_code, 0) << from_env.out << from_env.err;
}

TEST_F(BuildCli, AContextOverTheServersLimitIsRefusedWithTheReason) {
  write(dir_.path() / "config.json", R"({"builder": {"max_context_bytes": 1000000}})");
  write(ctx() / "Dockerfile", "FROM scratch\n");
  write(ctx() / "big.bin", ByteStream(7).take(8'000'000));
  start_server({"--config", (dir_.path() / "config.json").string()});
  // The server answers 413 part way through the chunked upload and closes:
  // the client still reports its answer.
  auto r = build({ctx().string()});
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("SIZE_INVALID"), std::string::npos) << r.err;
}

TEST_F(BuildCli, StreamsALargeContextInBoundedMemory) {
  write(ctx() / "Dockerfile", "FROM scratch\nCOPY small.txt /\n");
  write(ctx() / "small.txt", "small\n");
  {
    // 300 MiB that take no disk space here, but every byte is read and sent.
    std::ofstream big(ctx() / "big.img", std::ios::binary);
    big.seekp((300LL << 20) - 1);
    big.put('\0');
  }
  start_server();
  CliProcess cli(build_args({"-t", "demo/big:1", ctx().string()}));
  auto r = cli.wait(kBuildTimeout);
  ASSERT_EQ(r.status.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("314.6 MB"), std::string::npos) << r.err;
  EXPECT_LT(cli.max_rss_kib(), 48u * 1024) << "the client held the context in memory";
}

// A secret reaches its RUN step and nothing else: not the image, not the
// build record, not the log (a step that prints it shows a placeholder), not
// a single file in the server's data directory.
TEST_F(BuildCli, SecretsReachTheStepAndNothingElse) {
  start_server();
  push_busybox("base/bb", "1");
  const std::string secret = "tok-" + std::to_string(::getpid()) + "-very-secret-value";
  write(dir_.path() / "secret.txt", secret);
  write(ctx() / "Dockerfile",
        "FROM base/bb:1\n"
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok && echo && echo printed\n"
        "RUN --mount=type=secret,id=envtok,required=true cat /run/secrets/envtok > /dev/null\n"
        "RUN --mount=type=secret,id=tok cp /run/secrets/tok /leak-attempt-is-allowed-but-checked "
        "&& rm /leak-attempt-is-allowed-but-checked\n");
  ScopedEnv env("MY_TOKEN", "from-the-environment-1234");
  auto r = build({"-t", "sec/app:1", "--secret",
                  "id=tok,src=" + (dir_.path() / "secret.txt").string(), "--secret",
                  "id=envtok,env=MY_TOKEN", ctx().string()});
  ASSERT_TRUE(r.status.ok()) << r.out << r.err;
  EXPECT_NE(r.out.find("printed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[secret tok]"), std::string::npos) << r.out;
  for (const auto& name : image_files("sec/app", "1")) {
    EXPECT_EQ(name.find("run/secrets"), std::string::npos) << name;
    EXPECT_EQ(name.find("leak-attempt"), std::string::npos) << name;
  }
  // Not one byte of either value anywhere on the server's disk.
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(data())) {
    if (!e.is_regular_file() || e.is_symlink()) continue;
    ++files;
    std::string content = read_file(e.path());
    EXPECT_EQ(content.find(secret), std::string::npos) << e.path();
    EXPECT_EQ(content.find("from-the-environment-1234"), std::string::npos) << e.path();
  }
  EXPECT_GT(files, 5u);
  // A required secret that is not given fails the build and says which.
  auto missing = build({"-t", "sec/app:2", "--secret",
                        "id=tok,src=" + (dir_.path() / "secret.txt").string(), ctx().string()});
  EXPECT_EQ(missing.status.exit_code, 1) << missing.err;
  EXPECT_NE((missing.out + missing.err).find("\"envtok\" is required"), std::string::npos)
      << missing.out << missing.err;
  auto bad = build({"--secret", "src=/nonexistent", ctx().string()});
  EXPECT_EQ(bad.status.exit_code, 2) << bad.err;
}

// The step cache through the whole path: a rebuild with nothing changed
// runs no step, also after a server restart; one changed file reruns only
// what follows its COPY; --no-cache runs everything.
TEST_F(BuildCli, RebuildsUseTheStepCacheAcrossRestarts) {
  start_server();
  push_busybox("base/bb", "1");
  write(ctx() / "Dockerfile",
        "FROM base/bb:1\n"
        "RUN echo first-run-step > /first\n"
        "COPY a.txt /a.txt\n"
        "RUN cat /a.txt > /second\n"
        "COPY b.txt /b.txt\n");
  write(ctx() / "a.txt", "a\n");
  write(ctx() / "b.txt", "b\n");
  auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  };
  auto cold = build({"-t", "c/app:1", ctx().string()});
  ASSERT_TRUE(cold.status.ok()) << cold.out << cold.err;
  EXPECT_EQ(count(cold.out, " CACHED"), 0u) << cold.out;
  auto warm = build({"-t", "c/app:1", ctx().string()});
  ASSERT_TRUE(warm.status.ok()) << warm.err;
  EXPECT_EQ(count(warm.out, " CACHED"), 4u) << warm.out;
  EXPECT_EQ(warm.out.find("first-run-step\n"), std::string::npos) << "the RUN ran again";
  auto layers = image_files("c/app", "1");
  // The cache is in the database: a restarted server still has it.
  server_.reset();
  start_server();
  auto after_restart = build({"-t", "c/app:2", ctx().string()});
  ASSERT_TRUE(after_restart.status.ok()) << after_restart.err;
  EXPECT_EQ(count(after_restart.out, " CACHED"), 4u) << after_restart.out;
  EXPECT_EQ(image_files("c/app", "2"), layers);
  write(ctx() / "a.txt", "a, changed\n");
  auto changed = build({"-t", "c/app:3", ctx().string()});
  ASSERT_TRUE(changed.status.ok()) << changed.err;
  EXPECT_EQ(count(changed.out, " CACHED"), 1u) << changed.out;  // only the first RUN
  auto fresh = build({"-t", "c/app:4", "--no-cache", ctx().string()});
  ASSERT_TRUE(fresh.status.ok()) << fresh.err;
  EXPECT_EQ(count(fresh.out, " CACHED"), 0u) << fresh.out;
}

TEST_F(BuildCli, RebuildsSendOnlyWhatChangedAndBuildTheSameImage) {
  start_server();
  write(ctx() / "Dockerfile", "FROM scratch\nCOPY . /app/\n");
  write(ctx() / ".dockerignore", "ignored.txt\n");
  write(ctx() / "ignored.txt", "never sent\n");
  for (int i = 0; i < 20; ++i) write(ctx() / "src" / ("f" + std::to_string(i)), "file " + std::to_string(i));
  write(ctx() / "doc/readme", "read me\n");
  fs::create_symlink("src/f1", ctx() / "link");
  // Entries: Dockerfile, .dockerignore, src/, 20 files, doc/, doc/readme, link.
  auto first = build({"-t", "inc/app:1", ctx().string()});
  ASSERT_EQ(first.status.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.err.find("(26 of 26 entries"), std::string::npos) << first.err;
  auto same = build({"-t", "inc/app:2", ctx().string()});
  ASSERT_EQ(same.status.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.err.find("(0 of 26 entries, 0.0 MB"), std::string::npos) << same.err;

  write(ctx() / "src/f3", "file 3, changed");
  fs::remove(ctx() / "src/f4");
  write(ctx() / "doc/new", "new\n");
  auto changed = build({"-t", "inc/app:3", ctx().string()});
  ASSERT_EQ(changed.status.exit_code, 0) << changed.out << changed.err;
  // src/f3, doc/new and the two directories.
  EXPECT_NE(changed.err.find("(4 of 26 entries"), std::string::npos) << changed.err;
  auto files = image_files("inc/app", "3");
  EXPECT_TRUE(contains(files, "app/doc/new")) << join(files);
  EXPECT_TRUE(contains(files, "app/src/f3")) << join(files);
  EXPECT_FALSE(contains(files, "app/src/f4")) << join(files);
  EXPECT_FALSE(contains(files, "app/ignored.txt")) << join(files);
  // The whole context gives the same layer, byte for byte.
  auto full = build({"-t", "inc/app:4", "--full-context", ctx().string()});
  ASSERT_EQ(full.status.exit_code, 0) << full.out << full.err;
  EXPECT_NE(full.err.find("(26 entries"), std::string::npos) << full.err;
  Client c(server_->port());
  auto layers = [&](const std::string& tag) {
    return c.get("/v2/inc/app/manifests/" + tag).json()["layers"].dump();
  };
  EXPECT_EQ(layers("3"), layers("4"));
}

TEST_F(BuildCli, ABuildOfADirectoryInUseSendsTheWholeContext) {
  start_server();
  push_busybox("base/bb", "1");
  write(ctx() / "Dockerfile", "FROM base/bb:1\nCOPY a.txt /\nRUN sleep 3\n");
  write(ctx() / "a.txt", "a\n");
  CliResult slow;
  std::thread first([&] { slow = build({"-t", "busy/app:1", ctx().string()}); });
  // Wait until the first build runs (it holds the kept context).
  Client c(server_->port());
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    auto list = c.get("/builds").json();
    for (const auto& b : list.value("builds", json::array())) running |= b["status"] == "running";
    if (!running) std::this_thread::sleep_for(25ms);
  }
  EXPECT_TRUE(running);
  write(ctx() / "Dockerfile", "FROM base/bb:1\nCOPY a.txt /\n");
  auto second = build({"-t", "busy/app:2", ctx().string()});
  first.join();
  ASSERT_EQ(slow.status.exit_code, 0) << slow.out << slow.err;
  ASSERT_EQ(second.status.exit_code, 0) << second.out << second.err;
  EXPECT_NE(slow.err.find("(2 of 2 entries"), std::string::npos) << slow.err;
  EXPECT_NE(second.err.find("(2 entries"), std::string::npos) << second.err;
  // The kept copy is the first build's: the next one sends the new Dockerfile.
  auto third = build({"-t", "busy/app:3", ctx().string()});
  ASSERT_EQ(third.status.exit_code, 0) << third.out << third.err;
  EXPECT_NE(third.err.find("(1 of 2 entries"), std::string::npos) << third.err;
}

TEST_F(BuildCli, ATagMayNameThisServerButNoOtherRegistry) {
  start_server();
  write(ctx() / "Dockerfile", "FROM scratch\nCOPY a.txt /\n");
  write(ctx() / "a.txt", "a\n");
  std::string self = "127.0.0.1:" + std::to_string(server_->port());
  // As docker users write it: this server's address, or localhost.
  auto r = build({"-t", self + "/team/app:1", "-t", "localhost:5000/team/app:2", ctx().string()});
  ASSERT_EQ(r.status.exit_code, 0) << r.out << r.err;
  Client c(server_->port());
  EXPECT_EQ(c.head("/v2/team/app/manifests/1").status, 200u);
  EXPECT_EQ(c.head("/v2/team/app/manifests/2").status, 200u);
  // Another registry: refused, saying why, and nothing is built.
  r = build({"-t", "registry.example.com/team/app:3", ctx().string()});
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("registry.example.com is another one"), std::string::npos) << r.err;
  r = build({"-t", "127.0.0.1:1/team/app:3", ctx().string()});
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_EQ(c.head("/v2/team/app/manifests/3").status, 404u);
}

}  // namespace
}  // namespace drydock::testing
