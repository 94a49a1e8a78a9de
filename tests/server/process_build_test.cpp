// The build API against the real `drydock` binary: a context uploaded to
// POST /builds becomes an image in the registry; status, logs (followed as
// they grow), cancel, the queue, the per-build timeout, restarts, bad
// contexts, permissions, and the isolation of RUN steps (no host files, no
// data directory, no network, nothing left after a cancel). RUN steps run in
// real runc containers over overlayfs; the busybox base image is made here
// from /bin/busybox and pushed over HTTP like any other image.

#include <archive.h>
#include <archive_entry.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/secrets.hpp"
#include "tests/builder/test_archive.hpp"
#include "tests/server/http_client.hpp"
#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using builder::testing::Compression;
using builder::testing::TestArchive;
using builder::testing::TestEntry;
using nlohmann::json;

constexpr const char* kBusybox = "/bin/busybox";
constexpr const char* kRunc = "/usr/sbin/runc";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

Headers basic(const std::string& user, const std::string& secret) {
  return {{"Authorization", "Basic " + auth::base64_encode(user + ":" + secret)}};
}

// A context archive's bytes from `entries`.
std::string archive_bytes(const fs::path& scratch, const std::vector<TestEntry>& entries,
                          Compression c = Compression::kNone) {
  fs::path file = scratch / ("ctx-" + std::to_string(::getpid()) + "-" +
                             std::to_string(std::rand()) + ".tar");
  {
    TestArchive a(file, c);
    for (const auto& e : entries) a.add(e);
  }
  auto bytes = read_file(file);
  fs::remove(file);
  return bytes;
}

TestEntry file_entry(std::string name, std::string data) {
  TestEntry e;
  e.name = std::move(name);
  e.data = std::move(data);
  return e;
}

// Whether any process on the host has `needle` in its command line.
bool process_running_with(const std::string& needle) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = read_file(e.path() / "cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) return true;
  }
  return false;
}

class ProcessBuild : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access(kRunc, X_OK) != 0 || ::access(kBusybox, X_OK) != 0) {
      GTEST_SKIP() << "needs root, runc and busybox-static";
    }
    fs::create_directories(data());
  }
  void TearDown() override {
    if (HasFailure() && server_ && server_->running()) {
      std::fprintf(stderr, "server log:\n%s\n", server_->log_tail().c_str());
    }
    server_.reset();
    // Nothing of any build is left running or mounted.
    if (fs::exists(data() / "builder")) {
      std::string mounts = read_file("/proc/self/mountinfo");
      EXPECT_EQ(mounts.find((data() / "builder").string()), std::string::npos) << mounts;
    }
  }

  fs::path data() const { return dir_.path() / "data"; }

  // Starts the server with `builder` as the config's builder section and
  // `sections` as further sections.
  void start(json builder = json::object(), std::vector<std::string> extra = {},
             json sections = json::object()) {
    json cfg = {{"builder", builder}};
    cfg.update(sections);
    write_file(dir_.path() / "config.json", cfg.dump());
    auto args = ServerProcess::serve_args(data());
    args.push_back("--config");
    args.push_back((dir_.path() / "config.json").string());
    for (auto& a : extra) args.push_back(a);
    server_ = std::make_unique<ServerProcess>(args, dir_.path() / "server.log");
    http_.emplace(server_->port());
  }

  Client& http() { return *http_; }

  // Pushes a busybox image as base/busybox:1 (one uncompressed-tar layer).
  void push_base(const Headers& h = {}) {
    std::vector<TestEntry> entries;
    auto dir = [](std::string n, mode_t perm = 0755) {
      TestEntry e;
      e.name = std::move(n);
      e.type = AE_IFDIR;
      e.perm = perm;
      return e;
    };
    for (const char* d : {"bin", "etc", "proc", "dev", "sys", "root", "tmp"}) {
      entries.push_back(dir(d, std::string(d) == "tmp" ? 01777 : 0755));
    }
    TestEntry bb = file_entry("bin/busybox", read_file(kBusybox));
    bb.perm = 0755;
    entries.push_back(bb);
    for (const char* applet : {"sh", "echo", "cat", "test", "sleep", "wget", "ls", "true",
                               "false", "mkdir", "id", "head", "grep", "nc"}) {
      TestEntry l;
      l.name = std::string("bin/") + applet;
      l.type = AE_IFLNK;
      l.symlink = "busybox";
      entries.push_back(l);
    }
    entries.push_back(file_entry("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"));
    entries.push_back(file_entry("etc/group", "root:x:0:\n"));
    std::string layer = archive_bytes(dir_.path(), entries);
    Client c(server_->port());
    auto push = [&](std::string_view body, std::string_view type, const std::string& digest) {
      Headers bh = h;
      bh.push_back({"Content-Type", std::string(type)});
      auto r = c.post("/v2/base/busybox/blobs/uploads/?digest=" + digest, std::string(body), bh);
      ASSERT_EQ(r.status, 201u) << r.body;
    };
    std::string layer_digest = sha256_of(layer);
    push(layer, "application/octet-stream", layer_digest);
    json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"sh"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {layer_digest}}}}};
    std::string cfg = config.dump();
    push(cfg, "application/octet-stream", sha256_of(cfg));
    json manifest = {
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config",
         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
          {"digest", sha256_of(cfg)},
          {"size", cfg.size()}}},
        {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                 {"digest", layer_digest},
                                 {"size", layer.size()}}})}};
    Headers mh = h;
    mh.push_back({"Content-Type", "application/vnd.oci.image.manifest.v1+json"});
    auto r = c.put("/v2/base/busybox/manifests/1", manifest.dump(), mh);
    ASSERT_EQ(r.status, 201u) << r.body;
  }

  // A context with `dockerfile` and extra files.
  std::string context(const std::string& dockerfile,
                      std::vector<std::pair<std::string, std::string>> files = {}) {
    std::vector<TestEntry> entries{file_entry("Dockerfile", dockerfile)};
    for (auto& [n, d] : files) entries.push_back(file_entry(n, d));
    return archive_bytes(dir_.path(), entries, Compression::kGzip);
  }

  Response post(const std::string& query, std::string body, Headers h = {}) {
    return http().post("/builds" + query, std::move(body), std::move(h));
  }

  // POST, expecting 202; returns the build id.
  std::string submit(const std::string& query, std::string body, Headers h = {}) {
    auto r = post(query, std::move(body), h);
    EXPECT_EQ(r.status, 202u) << r.body;
    auto j = r.json();
    if (!j.is_object() || !j.contains("id")) return {};
    EXPECT_EQ(r.header("Location"), "/builds/" + j["id"].get<std::string>());
    EXPECT_EQ(j["status"], "queued");
    return j["id"];
  }

  json status(const std::string& id, Headers h = {}) {
    auto r = http().get("/builds/" + id, std::move(h));
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json();
  }

  // Polls until the build has finished; returns its JSON.
  json wait_finished(const std::string& id, std::chrono::seconds limit = 120s, Headers h = {}) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      json j = status(id, h);
      std::string s = j.value("status", "");
      if (s == "succeeded" || s == "failed" || s == "cancelled") return j;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "build " << id << " still " << s;
        return j;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  // Polls the log until it contains `text`.
  bool wait_log(const std::string& id, const std::string& text, std::chrono::seconds limit = 60s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log(id).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::string log(const std::string& id, bool follow = false) {
    auto r = http().get("/builds/" + id + "/logs" + (follow ? "?follow=1" : ""));
    EXPECT_EQ(r.status, 200u);
    return r.body;
  }

  // Builds, uploads, contexts left under DATA/builder (besides logs and
  // snapshots): none once nothing is queued or running.
  std::size_t leftovers() {
    std::size_t n = 0;
    for (const char* d : {"uploads", "contexts", "work", "runc/bundles"}) {
      fs::path p = data() / "builder" / d;
      if (!fs::exists(p)) continue;
      for ([[maybe_unused]] const auto& e : fs::directory_iterator(p)) ++n;
    }
    return n;
  }

  ScratchDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::optional<Client> http_;
};

TEST_F(ProcessBuild, ContextBecomesATaggedImageWithItsLog) {
  start();
  push_base();
  std::string df =
      "FROM localhost:5000/base/busybox:1\n"
      "ARG GREETING=hello\n"
      "RUN echo \"$GREETING from run\" > /greeting && echo step-output-marker\n"
      "COPY app.txt /app/app.txt\n"
      "WORKDIR /app\n"
      "CMD [\"cat\", \"/greeting\"]\n";
  std::string id =
      submit("?t=apps/hello:1&t=apps/hello:latest&buildarg=GREETING=hi",
             context(df, {{"app.txt", "application\n"}}));
  ASSERT_FALSE(id.empty());
  // Following the log returns only when the build has ended, with all of it.
  std::string followed = log(id, true);
  json j = status(id);
  ASSERT_EQ(j["status"], "succeeded") << followed << j.dump();
  EXPECT_NE(followed.find("RUN echo"), std::string::npos) << followed;
  EXPECT_NE(followed.find("step-output-marker"), std::string::npos) << followed;
  EXPECT_NE(followed.find("naming to apps/hello:latest"), std::string::npos) << followed;
  EXPECT_EQ(j["tags"], json::array({"apps/hello:1", "apps/hello:latest"}));
  EXPECT_EQ(j["build_args"]["GREETING"], "hi");
  EXPECT_TRUE(j.contains("started") && j.contains("finished") && j.contains("duration_seconds"));
  std::string digest = j["digest"];
  for (const char* tag : {"1", "latest"}) {
    auto m = http().get(std::string("/v2/apps/hello/manifests/") + tag,
                        {{"Accept", "application/vnd.oci.image.manifest.v1+json"}});
    ASSERT_EQ(m.status, 200u);
    EXPECT_EQ(m.header("Docker-Content-Digest"), digest);
  }
  // The config says what the Dockerfile says.
  auto m = http().get("/v2/apps/hello/manifests/1").json();
  auto cfg = http().get("/v2/apps/hello/blobs/" + m["config"]["digest"].get<std::string>()).json();
  EXPECT_EQ(cfg["config"]["WorkingDir"], "/app");
  EXPECT_EQ(cfg["config"]["Cmd"], json::array({"cat", "/greeting"}));
  EXPECT_EQ(m["layers"].size(), 3u);  // base, RUN, COPY
  // The list shows it, newest first.
  auto list = http().get("/builds").json();
  ASSERT_EQ(list["builds"].size(), 1u);
  EXPECT_EQ(list["builds"][0]["id"], id);
  EXPECT_EQ(leftovers(), 0u);
}

// Layers the build cache keeps after their image is deleted and collected
// are neither collected (they are GC roots) nor reported by drydock fsck as
// orphans: fsck reads the cache as the server does.
TEST_F(ProcessBuild, CacheOnlyLayersAreNeitherCollectedNorOrphans) {
  start(json::object(), {}, {{"gc", {{"grace_seconds", 0}, {"interval_minutes", 0}}}});
  push_base();
  std::string id = submit("?t=apps/cached:1",
                          context("FROM localhost:5000/base/busybox:1\nRUN echo x > /x\n"));
  json j = wait_finished(id);
  ASSERT_EQ(j["status"], "succeeded") << log(id);
  auto m = http().get("/v2/apps/cached/manifests/1",
                      {{"Accept", "application/vnd.oci.image.manifest.v1+json"}});
  ASSERT_EQ(m.status, 200u);
  const std::string run_layer = m.json()["layers"][1]["digest"];
  const std::string config = m.json()["config"]["digest"];
  ASSERT_EQ(http().del("/v2/apps/cached/manifests/" + j["digest"].get<std::string>()).status, 202u);
  auto gc = http().post("/admin/gc", "");
  ASSERT_EQ(gc.status, 200u) << gc.body;
  EXPECT_FALSE(fs::exists(blob_path(data(), config))) << gc.body;
  EXPECT_TRUE(fs::exists(blob_path(data(), run_layer))) << gc.body;
  server_.reset();
  auto fsck = run_cli({"fsck", "--data", data().string()}, 60s);
  EXPECT_EQ(fsck.status.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_EQ(fsck.out.find("orphan-blob"), std::string::npos) << fsck.out;
  EXPECT_NE(fsck.out.find("0 problems, 0 warnings"), std::string::npos) << fsck.out;
  EXPECT_NE(fsck.out.find("1 layers only the build cache holds"), std::string::npos) << fsck.out;
}

TEST_F(ProcessBuild, FailedStepNamesTheInstructionAndTagsNothing) {
  start();
  push_base();
  std::string id = submit("?t=apps/broken:1",
                          context("FROM base/busybox:1\nRUN echo before\nRUN exit 3\n"));
  json j = wait_finished(id);
  EXPECT_EQ(j["status"], "failed");
  std::string error = j.value("error", "");
  EXPECT_NE(error.find("Dockerfile:3"), std::string::npos) << error;
  EXPECT_NE(error.find("RUN exit 3"), std::string::npos) << error;
  std::string text = log(id);
  EXPECT_NE(text.find("ERROR: "), std::string::npos) << text;
  EXPECT_EQ(http().head("/v2/apps/broken/manifests/1").status, 404u);
  // Errors in the Dockerfile and unknown bases fail the build the same way.
  id = submit("?t=apps/broken:2", context("FROM base/busybox:1\nFROOM x\n"));
  j = wait_finished(id);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(j.value("error", "").find("Dockerfile:2"), std::string::npos) << j.dump();
  id = submit("?t=apps/broken:3", context("FROM nothere/image:1\n"));
  j = wait_finished(id);
  EXPECT_NE(j.value("error", "").find("nothere/image:1"), std::string::npos) << j.dump();
  EXPECT_EQ(leftovers(), 0u);
}

TEST_F(ProcessBuild, BadRequestsAndContextsAreRefusedAndChangeNothing) {
  start({{"max_extracted_bytes", 1 << 20}, {"max_context_bytes", 4 << 20}});
  auto expect_invalid = [&](const std::string& query, std::string body, const std::string& what) {
    auto r = post(query, std::move(body));
    EXPECT_EQ(r.status, 400u) << what << ": " << r.body;
    EXPECT_EQ(r.error_code(), "BUILD_INVALID") << what;
    return r.body;
  };
  std::string df = "FROM scratch\nCOPY . /\n";
  expect_invalid("?t=x/y:1", "this is not a tar archive at all, just text", "not a tar");
  auto msg = expect_invalid(
      "?t=x/y:1",
      archive_bytes(dir_.path(), {file_entry("Dockerfile", df), file_entry("../escape", "x")}),
      "traversal");
  EXPECT_NE(msg.find("escape"), std::string::npos) << msg;
  TestEntry link;
  link.name = "etc";
  link.type = AE_IFLNK;
  link.symlink = "/etc";
  expect_invalid("?t=x/y:1",
                 archive_bytes(dir_.path(), {file_entry("Dockerfile", df), link,
                                             file_entry("etc/owned", "through the link")}),
                 "symlink escape");
  EXPECT_FALSE(fs::exists("/etc/owned"));
  TestEntry bomb;
  bomb.name = "zeros";
  bomb.zeros = 8 << 20;  // 8 MiB of zeros: a few KiB compressed, over the 1 MiB limit
  auto bomb_tar =
      archive_bytes(dir_.path(), {file_entry("Dockerfile", df), bomb}, Compression::kGzip);
  EXPECT_LT(bomb_tar.size(), 64u * 1024);
  msg = expect_invalid("?t=x/y:1", bomb_tar, "tar bomb");
  expect_invalid("?t=x/y:1", archive_bytes(dir_.path(), {file_entry("README", "x")}),
                 "no Dockerfile");
  expect_invalid("?t=Bad/Name:1", context(df), "bad repository");
  expect_invalid("?t=x/y:bad%20tag", context(df), "bad tag");
  expect_invalid("?t=x/y:1&buildarg=novalue", context(df), "bad buildarg");
  expect_invalid("?t=x/y:1&dockerfile=/etc/passwd", context(df), "absolute dockerfile");
  // Over max_context_bytes: 413, whether declared or chunked.
  std::string big(5 << 20, 'x');
  auto r = post("?t=x/y:1", big);
  EXPECT_EQ(r.status, 413u) << r.body;
  EXPECT_EQ(r.error_code(), "SIZE_INVALID");
  http().disconnect();
  Request chunked;
  chunked.method = "POST";
  chunked.target = "/builds?t=x/y:1";
  chunked.body = big;
  chunked.chunked = true;
  chunked.chunk_size = 256 * 1024;
  r = http().send(chunked);
  EXPECT_EQ(r.status, 413u) << r.body;
  http().disconnect();
  // Unknown builds and methods.
  EXPECT_EQ(http().get("/builds/0123456789abcdef").error_code(), "BUILD_UNKNOWN");
  EXPECT_EQ(http().del("/builds/0123456789abcdef").status, 404u);
  EXPECT_EQ(http().get("/builds/0123456789abcdef/logs").status, 404u);
  EXPECT_EQ(http().put("/builds", "x").status, 405u);
  // Nothing was recorded, nothing is left on disk, the server is fine.
  EXPECT_EQ(http().get("/builds").json()["builds"].size(), 0u);
  EXPECT_EQ(leftovers(), 0u);
  EXPECT_EQ(http().get("/v2/").status, 200u);
}

TEST_F(ProcessBuild, RunStepsSeeNeitherHostFilesNorDataNorNetwork) {
  start();
  push_base();
  // A file only the host has, the data directory, and this server on the
  // host's loopback: all out of a RUN step's reach.
  fs::path marker = fs::temp_directory_path() / ("drydock-host-marker-" + std::to_string(::getpid()));
  write_file(marker, "host secret\n");
  ASSERT_TRUE(fs::exists(marker));
  std::string port = std::to_string(server_->port());
  char port_hex[8];
  std::snprintf(port_hex, sizeof port_hex, ":%04X", static_cast<unsigned>(server_->port()));
  std::string df = "FROM base/busybox:1\n"
                   "RUN test ! -e " + marker.string() + " && echo no-host-file\n"
                   "RUN test ! -e " + data().string() + " && echo no-data-dir\n"
                   "RUN if nc -w 3 127.0.0.1 " + port + " </dev/null; then echo NETWORK\"\"-REACHED; "
                   "exit 1; else echo no-network; fi\n"
                   "RUN grep -ci " + port_hex + " /proc/net/tcp /proc/net/tcp6 || echo no-listener\n"
                   "RUN cat /proc/net/dev | grep -c : > /ifaces && cat /ifaces\n";
  std::string id = submit("?t=iso/check:1", context(df));
  json j = wait_finished(id);
  std::string text = log(id);
  fs::remove(marker);
  ASSERT_EQ(j["status"], "succeeded") << text;
  EXPECT_NE(text.find("no-host-file"), std::string::npos) << text;
  EXPECT_NE(text.find("no-data-dir"), std::string::npos) << text;
  EXPECT_NE(text.find("no-network"), std::string::npos) << text;
  EXPECT_NE(text.find("no-listener"), std::string::npos) << text;
  EXPECT_EQ(text.find("NETWORK-REACHED"), std::string::npos) << text;
  // Only `lo` in the step's network namespace.
  EXPECT_NE(text.find("\n1\n"), std::string::npos) << text;
  // The server's policy forbids host networking outright.
  id = submit("?t=iso/check:2", context("FROM base/busybox:1\nRUN --network=host true\n"));
  j = wait_finished(id);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(j.value("error", "").find("not allowed"), std::string::npos) << j.dump();
}

// The control of the test above: with builder.network = "host" the same
// probe does reach the server, so its failure there means isolation.
TEST_F(ProcessBuild, HostNetworkPolicyLetsStepsReachTheHost) {
  start({{"network", "host"}});
  push_base();
  std::string port = std::to_string(server_->port());
  std::string df = "FROM base/busybox:1\n"
                   "RUN nc -w 3 127.0.0.1 " + port + " </dev/null && echo reached\"\"-host\n"
                   "RUN --network=host nc -w 3 127.0.0.1 " + port + " </dev/null\n";
  std::string id = submit("?t=iso/host:1", context(df));
  json j = wait_finished(id);
  std::string text = log(id);
  EXPECT_EQ(j["status"], "succeeded") << text;
  EXPECT_NE(text.find("reached-host"), std::string::npos) << text;
}

TEST_F(ProcessBuild, CancelKillsTheRunningStepAndTagsNothing) {
  start();
  push_base();
  std::string id = submit(
      "?t=apps/slow:1", context("FROM base/busybox:1\nRUN echo started && sleep 987654\n"));
  ASSERT_TRUE(wait_log(id, "started")) << log(id);
  EXPECT_EQ(status(id)["status"], "running");
  // "started" is printed just before the shell execs the sleep.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!process_running_with("sleep 987654") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(process_running_with("sleep 987654"));
  auto r = http().del("/builds/" + id);
  ASSERT_EQ(r.status, 200u) << r.body;
  // DELETE answers once the build has stopped.
  EXPECT_EQ(r.json()["status"], "cancelled") << r.body;
  EXPECT_FALSE(process_running_with("sleep 987654"));
  EXPECT_EQ(http().head("/v2/apps/slow/manifests/1").status, 404u);
  EXPECT_EQ(leftovers(), 0u);
  // The runtime has no container left.
  auto runc = std::string(kRunc) + " --root " + (data() / "builder/runc/state").string() +
              " list -q > " + (dir_.path() / "runc.txt").string();
  ASSERT_EQ(std::system(runc.c_str()), 0);
  EXPECT_EQ(read_file(dir_.path() / "runc.txt"), "");
  // Cancelling a finished build changes nothing.
  r = http().del("/builds/" + id);
  EXPECT_EQ(r.json()["status"], "cancelled");
}

TEST_F(ProcessBuild, QueueTimeoutAndConcurrencyLimit) {
  start({{"concurrency", 1}, {"build_timeout_seconds", 3}});
  push_base();
  std::string slow =
      submit("?t=q/a:1", context("FROM base/busybox:1\nRUN echo first && sleep 6003\n"));
  ASSERT_TRUE(wait_log(slow, "first"));
  // One build at a time: the next ones wait.
  std::string second = submit("?t=q/b:1", context("FROM base/busybox:1\nRUN echo second\n"));
  std::string third = submit("?t=q/c:1", context("FROM base/busybox:1\nRUN echo third\n"));
  EXPECT_EQ(status(second)["status"], "queued");
  auto r = http().del("/builds/" + third);
  EXPECT_EQ(r.json()["status"], "cancelled") << r.body;
  // The per-build timeout ends the first; the second runs after it.
  json j = wait_finished(slow, 60s);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(j.value("error", "").find("timed out"), std::string::npos) << j.dump();
  j = wait_finished(second);
  EXPECT_EQ(j["status"], "succeeded") << log(second);
  EXPECT_EQ(log(third).find("third"), std::string::npos) << log(third);
  EXPECT_EQ(http().head("/v2/q/c/manifests/1").status, 404u);
  EXPECT_EQ(leftovers(), 0u);
}

TEST_F(ProcessBuild, BuildsSurviveRestartsAndUnfinishedOnesAreMarkedFailed) {
  start();
  push_base();
  std::string done = submit("?t=r/ok:1", context("FROM base/busybox:1\nRUN echo fine\n"));
  ASSERT_EQ(wait_finished(done)["status"], "succeeded");
  std::string running =
      submit("?t=r/slow:1", context("FROM base/busybox:1\nRUN echo going && sleep 6001\n"));
  ASSERT_TRUE(wait_log(running, "going"));
  // A graceful stop fails the running build and says why.
  auto exit = server_->terminate(60s);
  ASSERT_TRUE(exit && exit->ok()) << server_->log_tail();
  EXPECT_FALSE(process_running_with("sleep 6001"));
  start();
  EXPECT_EQ(status(done)["status"], "succeeded");
  EXPECT_NE(log(done).find("fine"), std::string::npos);
  json j = status(running);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(j.value("error", "").find("shut down"), std::string::npos) << j.dump();
  // A crash (SIGKILL) mid-build: the next start marks it failed and clears
  // what the dead process left (containers, mounts, contexts).
  std::string killed =
      submit("?t=r/killed:1", context("FROM base/busybox:1\nRUN echo again && sleep 6002\n"));
  ASSERT_TRUE(wait_log(killed, "again"));
  server_->kill();
  start();
  j = status(killed);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(j.value("error", "").find("restarted"), std::string::npos) << j.dump();
  // runc delete -f kills the container's init; the kernel then kills the rest
  // of its pid namespace, which can take a moment after runc returns.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (process_running_with("sleep 6002") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(process_running_with("sleep 6002"));
  EXPECT_EQ(leftovers(), 0u);
  // And builds work after it.
  std::string after = submit("?t=r/after:1", context("FROM base/busybox:1\nRUN echo after\n"));
  EXPECT_EQ(wait_finished(after)["status"], "succeeded") << log(after);
}

TEST_F(ProcessBuild, IncrementalContextRequestsAreCheckedLikeUploads) {
  ::setenv("DRYDOCK_ADMIN_USER", "admin", 1);
  ::setenv("DRYDOCK_ADMIN_PASSWORD", "admin-pw", 1);
  start(json::object(), {"--auth"});
  ::unsetenv("DRYDOCK_ADMIN_USER");
  ::unsetenv("DRYDOCK_ADMIN_PASSWORD");
  for (const char* user : {"dev", "other"}) {
    auto r = run_cli({"user", "add", user, "--password-stdin", "--data", data().string()}, 30s,
                     std::string(user) + "-pw\n");
    ASSERT_TRUE(r.status.ok()) << r.err;
    r = run_cli({"grant", user, "team/**", "pull,push", "--data", data().string()}, 30s);
    ASSERT_TRUE(r.status.ok()) << r.err;
  }
  Headers dev = basic("dev", "dev-pw");
  Headers other = basic("other", "other-pw");
  std::string df = "FROM scratch\nCOPY a.txt /\n";
  auto manifest = [&](const std::string& a) {
    return json{{"entries",
                 {{{"p", "Dockerfile"}, {"t", "f"}, {"m", 420}, {"s", df.size()}, {"n", 1}},
                  {{"p", "a.txt"}, {"t", "f"}, {"m", 420}, {"s", a.size()}, {"n", 2}}}}}
        .dump();
  };
  auto contexts = [&](const std::string& query, std::string body, Headers h) {
    return http().post("/builds/contexts" + query, std::move(body), std::move(h));
  };
  // Credentials are needed, as for a build.
  auto r = contexts("?key=k", manifest("a"), {});
  EXPECT_EQ(r.status, 401u);
  // A manifest or key that does not check out: 400 saying what is wrong.
  r = contexts("?key=k", R"({"entries":[{"p":"../x","t":"f"}]})", dev);
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("BUILD_INVALID"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("not clean"), std::string::npos) << r.body;
  EXPECT_EQ(contexts("?key=a/b", manifest("a"), dev).status, 400u);
  EXPECT_EQ(contexts("?key=k", "not json", dev).status, 400u);
  EXPECT_EQ(http().get("/builds/contexts", dev).status, 405u);
  // A good one: the session and the entries to send (all, the first time).
  r = contexts("?key=k", manifest("a"), dev);
  ASSERT_EQ(r.status, 200u) << r.body;
  std::string session = r.json()["session"];
  EXPECT_EQ(r.json()["need"], json::array({0, 1}));
  // While dev's session is open the same tree is busy: 503, send it whole.
  r = contexts("?key=k", manifest("a"), dev);
  EXPECT_EQ(r.status, 503u) << r.body;
  // Another user can neither use nor end dev's session.
  std::string body = context(df, {{"a.txt", "a"}});
  r = post("?t=team/x:1&context=" + session, body, other);
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_NE(r.body.find("unknown context session"), std::string::npos) << r.body;
  // An update with something not asked for fails and changes nothing.
  std::string extra = context(df, {{"a.txt", "a"}, {"b.txt", "b"}});
  r = post("?t=team/x:1&context=" + session, extra, dev);
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_NE(r.body.find("was not asked for"), std::string::npos) << r.body;
  EXPECT_EQ(http().head("/v2/team/x/manifests/1", dev).status, 404u);
  // That ended the session; a new one builds.
  r = contexts("?key=k", manifest("a"), dev);
  ASSERT_EQ(r.status, 200u) << r.body;
  session = r.json()["session"];
  std::string id = submit("?t=team/x:1&context=" + session, body, dev);
  EXPECT_EQ(wait_finished(id, 60s, dev)["status"], "succeeded") << log(id);
  // Used up.
  r = post("?t=team/x:2&context=" + session, body, dev);
  EXPECT_EQ(r.status, 400u) << r.body;
  // The next one needs only the changed file; a build refused before its
  // body is read ends its session (the tree is free again).
  r = contexts("?key=k", manifest("b, longer"), dev);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["need"], json::array({1}));
  r = post("?t=elsewhere/x:1&context=" + r.json()["session"].get<std::string>(), body, dev);
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(contexts("?key=k", manifest("a"), dev).status, 200u);
}

TEST_F(ProcessBuild, PermissionsFollowPushAndPullRights) {
  ::setenv("DRYDOCK_ADMIN_USER", "admin", 1);
  ::setenv("DRYDOCK_ADMIN_PASSWORD", "admin-pw", 1);
  start(json::object(), {"--auth"});
  ::unsetenv("DRYDOCK_ADMIN_USER");
  ::unsetenv("DRYDOCK_ADMIN_PASSWORD");
  Headers admin = basic("admin", "admin-pw");
  push_base(admin);
  auto cli = [&](std::vector<std::string> args, std::optional<std::string> in = std::nullopt) {
    args.push_back("--data");
    args.push_back(data().string());
    auto r = run_cli(args, 30s, std::move(in));
    EXPECT_TRUE(r.status.ok()) << r.err;
  };
  cli({"user", "add", "dev", "--password-stdin"}, "dev-pw\n");
  cli({"grant", "dev", "team/**", "pull,push"});
  cli({"user", "add", "other", "--password-stdin"}, "other-pw\n");
  cli({"grant", "other", "team/**", "pull,push"});
  Headers dev = basic("dev", "dev-pw");
  std::string df = "FROM base/busybox:1\nRUN echo hi\n";
  // No credentials: 401 with a challenge.
  auto r = post("?t=team/app:1", context(df));
  EXPECT_EQ(r.status, 401u);
  EXPECT_TRUE(r.has("WWW-Authenticate"));
  // Building into a repository needs push on it.
  r = post("?t=elsewhere/app:1", context(df), dev);
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(r.error_code(), "DENIED");
  // The base image is read with the caller's pull rights: dev has none on base/.
  std::string id = submit("?t=team/app:1", context(df), dev);
  json j = wait_finished(id, 120s, dev);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(j.value("error", "").find("not found"), std::string::npos) << j.dump();
  cli({"grant", "dev", "base/*", "pull"});
  id = submit("?t=team/app:1", context(df), dev);
  j = wait_finished(id, 120s, dev);
  EXPECT_EQ(j["status"], "succeeded") << j.dump();
  EXPECT_EQ(j["user"], "dev");
  // Another user neither sees nor cancels dev's builds; the admin does.
  Headers other = basic("other", "other-pw");
  EXPECT_EQ(http().get("/builds/" + id, other).status, 404u);
  EXPECT_EQ(http().del("/builds/" + id, other).status, 404u);
  EXPECT_EQ(http().get("/builds", other).json()["builds"].size(), 0u);
  EXPECT_EQ(http().get("/builds", dev).json()["builds"].size(), 2u);
  EXPECT_EQ(http().get("/builds/" + id, admin).status, 200u);
}

// A 600 MiB context is received, extracted and turned into a layer with the
// server's memory flat: nothing holds the context or the layer in memory.
TEST_F(ProcessBuild, LargeContextStreamsInBoundedMemory) {
  constexpr std::uint64_t kBig = 600ULL << 20;
  constexpr std::uint64_t kMaxHwmKib = 160 * 1024;
  start();
  fs::path tar = dir_.path() / "big.tar";
  {
    TestArchive a(tar);
    a.add(file_entry("Dockerfile", "FROM scratch\nCOPY big.bin /big.bin\n"));
    TestEntry big;
    big.name = "big.bin";
    big.zeros = kBig;
    a.add(big);
  }
  auto size = fs::file_size(tar);
  ASSERT_GT(size, kBig);
  Connection conn(server_->port());
  conn.send("POST /builds?t=big/ctx:1 HTTP/1.1\r\nHost: t\r\nContent-Length: " +
            std::to_string(size) + "\r\n\r\n");
  std::ifstream in(tar, std::ios::binary);
  std::string piece(1 << 20, '\0');
  while (in) {
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    if (in.gcount() > 0) conn.send(std::string_view(piece.data(), static_cast<std::size_t>(in.gcount())));
  }
  Response r = conn.read_response();
  ASSERT_EQ(r.status, 202u) << r.body;
  fs::remove(tar);
  json j = wait_finished(r.json()["id"], 300s);
  ASSERT_EQ(j["status"], "succeeded") << log(j["id"]);
  auto m = http().get("/v2/big/ctx/manifests/1").json();
  ASSERT_EQ(m["layers"].size(), 1u);
  std::uint64_t hwm = server_->vm_hwm_kib();
  std::cout << "[ 600 MiB context ] server VmHWM " << hwm / 1024.0 << " MiB" << std::endl;
  EXPECT_LT(hwm, kMaxHwmKib) << "server peak RSS " << hwm << " KiB";
  EXPECT_EQ(leftovers(), 0u);
}

TEST_F(ProcessBuild, LogIsStreamedWhileTheBuildRuns) {
  start();
  push_base();
  std::string id = submit(
      "?t=s/follow:1",
      context("FROM base/busybox:1\nRUN echo early-line && sleep 3 && echo late-line\n"));
  // A raw connection reads the chunked body as it comes: the early line
  // arrives while the build is still running.
  Connection conn(server_->port());
  conn.send("GET /builds/" + id + "/logs?follow=1 HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (got.find("early-line") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    if (!conn.wait_readable(1s)) continue;
    char buf[4096];
    ssize_t n = ::recv(conn.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_NE(got.find("early-line"), std::string::npos) << got;
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos) << got;
  EXPECT_EQ(got.find("\nlate-line"), std::string::npos) << got;
  EXPECT_EQ(status(id)["status"], "running");
  // The rest comes, then the stream ends with the build.
  while (got.find("0\r\n\r\n") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    if (!conn.wait_readable(1s)) continue;
    char buf[4096];
    ssize_t n = ::recv(conn.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(got.find("\nlate-line"), std::string::npos) << got;
  EXPECT_NE(got.find("0\r\n\r\n"), std::string::npos) << got;
  EXPECT_EQ(status(id)["status"], "succeeded");
}

}  // namespace
}  // namespace drydock::testing
