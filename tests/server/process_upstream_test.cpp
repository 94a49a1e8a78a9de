// Base images from other registries, against real registries on loopback: a
// second Drydock with --auth (Docker's token flow) and the reference registry
// (CNCF Distribution, Debian's docker-registry) with htpasswd Basic auth. A
// build `FROM 127.0.0.1:PORT/lib/busybox:1` pulls the image into the
// builder's store under upstream/, later builds reuse it with the upstream
// gone, bad credentials fail the build with a clear error, and a docker.io
// mirror makes `FROM busybox:1` resolve upstream.

#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "auth/secrets.hpp"
#include "tests/builder/test_archive.hpp"
#include "tests/server/http_client.hpp"
#include "tests/server/process_harness.hpp"
#include "tests/server/test_pki.hpp"

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
constexpr const char* kReference = "/usr/bin/docker-registry";

Headers basic(const std::string& user, const std::string& secret) {
  return {{"Authorization", "Basic " + auth::base64_encode(user + ":" + secret)}};
}

void write_file(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string archive_bytes(const fs::path& file, const std::vector<TestEntry>& entries,
                          Compression c = Compression::kNone) {
  {
    TestArchive a(file, c);
    for (const auto& e : entries) a.add(e);
  }
  std::string bytes = read_file(file);
  fs::remove(file);
  return bytes;
}

TestEntry entry(std::string name, std::string data = {}, mode_t perm = 0644) {
  TestEntry e;
  e.name = std::move(name);
  e.data = std::move(data);
  e.perm = perm;
  return e;
}

// A busybox image: one uncompressed layer, its config and manifest.
struct Image {
  std::string layer, config, manifest;
  std::string digest() const { return sha256_of(manifest); }
};

Image busybox_image(const fs::path& scratch) {
  std::vector<TestEntry> entries;
  for (const char* d : {"bin", "etc", "proc", "dev", "sys", "tmp"}) {
    TestEntry e = entry(d, {}, 0755);
    e.type = AE_IFDIR;
    entries.push_back(e);
  }
  entries.push_back(entry("bin/busybox", read_file(kBusybox), 0755));
  for (const char* applet : {"sh", "cat", "echo", "true"}) {
    TestEntry l = entry(std::string("bin/") + applet);
    l.type = AE_IFLNK;
    l.symlink = "busybox";
    entries.push_back(l);
  }
  entries.push_back(
      entry("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nupstream:x:7:7::/:/bin/sh\n"));
  Image img;
  img.layer = archive_bytes(scratch / "layer.tar", entries);
  json cfg = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"sh"}}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {sha256_of(img.layer)}}}}};
  img.config = cfg.dump();
  json m = {{"schemaVersion", 2},
            {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
            {"config",
             {{"mediaType", "application/vnd.oci.image.config.v1+json"},
              {"digest", sha256_of(img.config)},
              {"size", img.config.size()}}},
            {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                     {"digest", sha256_of(img.layer)},
                                     {"size", img.layer.size()}}})}};
  img.manifest = m.dump();
  return img;
}

// The path and query of a Location header (the reference sends absolute URLs).
std::string target_of(const std::string& location) {
  auto scheme = location.find("://");
  if (scheme == std::string::npos) return location;
  return location.substr(location.find('/', scheme + 3));
}

// Pushes a blob the portable way: POST, then PUT with the digest.
void push_blob(Client& c, const Headers& h, const std::string& repo, const std::string& data) {
  auto r = c.post("/v2/" + repo + "/blobs/uploads/", "", h);
  ASSERT_EQ(r.status, 202u) << r.body;
  std::string target = target_of(r.header("Location"));
  target += (target.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") +
            sha256_of(data);
  Headers ph = h;
  ph.push_back({"Content-Type", "application/octet-stream"});
  r = c.put(target, data, ph);
  ASSERT_EQ(r.status, 201u) << r.body;
}

void push_manifest(Client& c, const Headers& h, const std::string& repo, const std::string& ref,
                   const std::string& body, const std::string& type) {
  Headers mh = h;
  mh.push_back({"Content-Type", type});
  auto r = c.put("/v2/" + repo + "/manifests/" + ref, body, mh);
  ASSERT_EQ(r.status, 201u) << r.body;
}

// Pushes `img` as repo:tag, and an index over it (linux/amd64 and, to show
// only amd64 is taken, linux/arm64 pointing at the same manifest) as
// repo:multi. Returns the index's digest.
std::string push_image(Client& c, const Headers& h, const std::string& repo, const Image& img,
                       const std::string& tag) {
  push_blob(c, h, repo, img.layer);
  push_blob(c, h, repo, img.config);
  push_manifest(c, h, repo, tag, img.manifest, "application/vnd.oci.image.manifest.v1+json");
  json entry = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                {"digest", img.digest()},
                {"size", img.manifest.size()}};
  json arm = entry, amd = entry;
  arm["platform"] = {{"os", "linux"}, {"architecture", "arm64"}};
  amd["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests", {arm, amd}}};
  push_manifest(c, h, repo, "multi", index.dump(), "application/vnd.oci.image.index.v1+json");
  return sha256_of(index.dump());
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// The reference registry with htpasswd (bcrypt) Basic auth, killed and
// reaped at destruction.
class ReferenceRegistry {
 public:
  ReferenceRegistry(const fs::path& dir, const std::string& user, const std::string& password) {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", 5, nullptr, 0, salt, sizeof salt))
      throw std::runtime_error("salt");
    struct crypt_data cd {};
    const char* hash = crypt_r(password.c_str(), salt, &cd);
    if (!hash || hash[0] == '*') throw std::runtime_error("bcrypt unavailable");
    write_file(dir / "htpasswd", user + ":" + hash + "\n");
    port_ = free_port();
    std::ostringstream cfg;
    cfg << "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: "
        << (dir / "refdata").string() << "\nhttp:\n  addr: 127.0.0.1:" << port_
        << "\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: " << (dir / "htpasswd").string()
        << "\n";
    write_file(dir / "reference.yml", cfg.str());
    std::string log = (dir / "reference.log").string();
    std::string config = (dir / "reference.yml").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(kReference, kReference, "serve", config.c_str(), nullptr);
      ::_exit(127);
    }
    Client c(static_cast<std::uint16_t>(port_));
    for (int i = 0; i < 200; ++i) {
      try {
        if (c.get("/v2/").status == 401) return;
      } catch (const std::exception&) {
        c.disconnect();
      }
      std::this_thread::sleep_for(50ms);
    }
    throw std::runtime_error("the reference registry did not start: " + read_file(log));
  }
  ~ReferenceRegistry() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class ProcessUpstream : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access(kRunc, X_OK) != 0 || ::access(kBusybox, X_OK) != 0) {
      GTEST_SKIP() << "needs root, runc and busybox-static";
    }
    image_ = busybox_image(dir_.path());
  }
  void TearDown() override {
    if (HasFailure() && builder_ && builder_->running()) {
      std::fprintf(stderr, "builder log:\n%s\n", builder_->log_tail().c_str());
    }
    if (HasFailure() && upstream_ && upstream_->running()) {
      std::fprintf(stderr, "upstream log:\n%s\n", upstream_->log_tail().c_str());
    }
  }

  // A Drydock holding lib/busybox:1 and :multi, with --auth (token flow).
  void start_upstream() {
    ::setenv("DRYDOCK_ADMIN_USER", "admin", 1);
    ::setenv("DRYDOCK_ADMIN_PASSWORD", "admin-pw", 1);
    fs::create_directories(dir_.path() / "up");
    auto args = ServerProcess::serve_args(dir_.path() / "up");
    args.push_back("--auth");
    upstream_ = std::make_unique<ServerProcess>(args, dir_.path() / "up.log");
    ::unsetenv("DRYDOCK_ADMIN_USER");
    ::unsetenv("DRYDOCK_ADMIN_PASSWORD");
    Client c(upstream_->port());
    index_digest_ = push_image(c, basic("admin", "admin-pw"), "lib/busybox", image_, "1");
    upstream_host_ = "127.0.0.1:" + std::to_string(upstream_->port());
  }

  // The Drydock that builds, with `builder` as its config's builder section.
  void start_builder(json builder, std::vector<std::string> extra = {}) {
    write_file(dir_.path() / "config.json", json{{"builder", builder}}.dump());
    fs::create_directories(dir_.path() / "b");
    auto args = ServerProcess::serve_args(dir_.path() / "b");
    args.push_back("--config");
    args.push_back((dir_.path() / "config.json").string());
    for (auto& a : extra) args.push_back(a);
    builder_ = std::make_unique<ServerProcess>(args, dir_.path() / "b.log");
    http_.emplace(builder_->port());
  }

  // Builds `dockerfile` into out/app:<n>; returns the finished build's JSON.
  json build(const std::string& dockerfile, const Headers& h = {}) {
    std::string ctx = archive_bytes(dir_.path() / "ctx.tar", {entry("Dockerfile", dockerfile)},
                                    Compression::kGzip);
    auto r = http_->post("/builds?t=out/app:" + std::to_string(++builds_), ctx, h);
    EXPECT_EQ(r.status, 202u) << r.body;
    std::string id = r.json().value("id", "");
    auto deadline = std::chrono::steady_clock::now() + 120s;
    json j;
    while (std::chrono::steady_clock::now() < deadline) {
      j = http_->get("/builds/" + id, h).json();
      std::string s = j.value("status", "");
      if (s == "succeeded" || s == "failed" || s == "cancelled") break;
      std::this_thread::sleep_for(100ms);
    }
    j["log"] = http_->get("/builds/" + id + "/logs", h).body;
    return j;
  }

  static std::string error_of(const json& j) { return j.value("error", ""); }

  ScratchDir dir_;
  Image image_;
  std::string index_digest_;
  std::string upstream_host_;
  std::unique_ptr<ServerProcess> upstream_;
  std::unique_ptr<ServerProcess> builder_;
  std::optional<Client> http_;
  int builds_ = 0;
};

TEST_F(ProcessUpstream, PullsWithTheTokenFlowAndReusesWithoutTheNetwork) {
  start_upstream();
  start_builder(
      {{"registries", {{upstream_host_, {{"username", "admin"}, {"password", "admin-pw"}}}}}});
  json j =
      build("FROM " + upstream_host_ + "/lib/busybox:1\nRUN grep upstream /etc/passwd > /found\n");
  ASSERT_EQ(j["status"], "succeeded") << j.dump(2);
  EXPECT_NE(j["log"].get<std::string>().find("pulling " + upstream_host_ + "/lib/busybox:1"),
            std::string::npos)
      << j["log"];
  // Stored like a pushed image, under the reserved namespace.
  std::string repo = "upstream/127.0.0.1_" + std::to_string(upstream_->port()) + "/lib/busybox";
  auto m = http_->get("/v2/" + repo + "/manifests/1",
                      {{"Accept", "application/vnd.oci.image.manifest.v1+json"}});
  ASSERT_EQ(m.status, 200u) << m.body;
  EXPECT_EQ(m.header("Docker-Content-Digest"), image_.digest());
  EXPECT_EQ(http_->get("/v2/" + repo + "/blobs/" + sha256_of(image_.layer)).body, image_.layer);
  // An index: only linux/amd64 is fetched; the tag names the index.
  j = build("FROM " + upstream_host_ + "/lib/busybox:multi\nRUN true\n");
  ASSERT_EQ(j["status"], "succeeded") << j.dump(2);
  m = http_->get("/v2/" + repo + "/manifests/multi",
                 {{"Accept", "application/vnd.oci.image.index.v1+json"}});
  ASSERT_EQ(m.status, 200u) << m.body;
  EXPECT_EQ(m.header("Docker-Content-Digest"), index_digest_);

  // The upstream gone, later builds use the stored copy.
  ASSERT_TRUE(upstream_->terminate(20s));
  for (const std::string& ref : std::vector<std::string>{":1", ":multi", "@" + image_.digest()}) {
    j = build("FROM " + upstream_host_ + "/lib/busybox" + ref + "\nRUN cat /found || true\n");
    EXPECT_EQ(j["status"], "succeeded") << ref << j.dump(2);
    EXPECT_EQ(j["log"].get<std::string>().find("pulling"), std::string::npos) << j["log"];
  }
  // What was never pulled fails, saying why.
  j = build("FROM " + upstream_host_ + "/lib/busybox:2\n");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(error_of(j).find("cannot connect to " + upstream_host_), std::string::npos)
      << error_of(j);
}

TEST_F(ProcessUpstream, BadCredentialsAndMissingImagesFailClearly) {
  start_upstream();
  start_builder(
      {{"registries", {{upstream_host_, {{"username", "admin"}, {"password", "wrong"}}}}}});
  json j = build("FROM " + upstream_host_ + "/lib/busybox:1\n");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(error_of(j).find("refused the credentials configured for it"), std::string::npos)
      << error_of(j);
  EXPECT_NE(error_of(j).find("Dockerfile:1"), std::string::npos) << error_of(j);
  builder_.reset();
  // No credentials: anonymous token, then denied.
  start_builder(json::object());
  j = build("FROM " + upstream_host_ + "/lib/busybox:1\n");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(error_of(j).find(upstream_host_), std::string::npos) << error_of(j);
  builder_.reset();
  start_builder(
      {{"registries", {{upstream_host_, {{"username", "admin"}, {"password", "admin-pw"}}}}}});
  j = build("FROM " + upstream_host_ + "/lib/nothere:1\n");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(error_of(j).find("not found in " + upstream_host_), std::string::npos) << error_of(j);
  // Nothing half-pulled is left tagged.
  EXPECT_EQ(http_
                ->get("/v2/upstream/127.0.0.1_" + std::to_string(upstream_->port()) +
                      "/lib/nothere/tags/list")
                .status,
            404u);
}

TEST_F(ProcessUpstream, ReferenceRegistryWithBasicAuthServesAsDockerHubMirror) {
  if (::access(kReference, X_OK) != 0) GTEST_SKIP() << "needs docker-registry";
  ReferenceRegistry ref(dir_.path(), "puller", "pull-pw");
  Client c(ref.port());
  push_image(c, basic("puller", "pull-pw"), "library/busybox", image_, "1");
  std::string host = "127.0.0.1:" + std::to_string(ref.port());
  start_builder({{"mirrors", {{"docker.io", "http://" + host}}},
                 {"registries", {{host, {{"username", "puller"}, {"password", "pull-pw"}}}}}});
  // An unqualified name missing here is Docker Hub's, read from the mirror.
  json j = build("FROM busybox:1\nRUN grep upstream /etc/passwd\n");
  ASSERT_EQ(j["status"], "succeeded") << j.dump(2);
  auto m = http_->get("/v2/upstream/docker.io/library/busybox/manifests/1",
                      {{"Accept", "application/vnd.oci.image.manifest.v1+json"}});
  EXPECT_EQ(m.status, 200u);
  EXPECT_EQ(m.header("Docker-Content-Digest"), image_.digest());
  // docker.io/library/busybox is the same image, already here.
  j = build("FROM docker.io/library/busybox:multi\nRUN true\n");
  ASSERT_EQ(j["status"], "succeeded") << j.dump(2);
  // The registry named directly, with Basic auth.
  j = build("FROM " + host + "/library/busybox:1\nRUN true\n");
  ASSERT_EQ(j["status"], "succeeded") << j.dump(2);
  // A local image is read from the store, never pulled.
  j = build("FROM out/app:1\nRUN true\n");
  ASSERT_EQ(j["status"], "succeeded") << j.dump(2);
  EXPECT_EQ(j["log"].get<std::string>().find("pulling"), std::string::npos) << j["log"];
}

TEST_F(ProcessUpstream, WithAuthAnyBuilderPullsButTheMirrorIsNotReadable) {
  start_upstream();
  ::setenv("DRYDOCK_ADMIN_USER", "root", 1);
  ::setenv("DRYDOCK_ADMIN_PASSWORD", "root-pw", 1);
  start_builder(
      {{"registries", {{upstream_host_, {{"username", "admin"}, {"password", "admin-pw"}}}}}},
      {"--auth"});
  ::unsetenv("DRYDOCK_ADMIN_USER");
  ::unsetenv("DRYDOCK_ADMIN_PASSWORD");
  auto cli = [&](std::vector<std::string> args, std::optional<std::string> in = std::nullopt) {
    args.push_back("--data");
    args.push_back((dir_.path() / "b").string());
    auto r = run_cli(args, 30s, std::move(in));
    EXPECT_TRUE(r.status.ok()) << r.err;
  };
  cli({"user", "add", "dev", "--password-stdin"}, "dev-pw\n");
  cli({"grant", "dev", "out/**", "pull,push"});
  Headers dev = basic("dev", "dev-pw");
  json j = build("FROM " + upstream_host_ + "/lib/busybox:1\nRUN true\n", dev);
  ASSERT_EQ(j["status"], "succeeded") << j.dump(2);
  std::string repo = "upstream/127.0.0.1_" + std::to_string(upstream_->port()) + "/lib/busybox";
  // Through the registry API the mirror namespace follows the usual rights.
  auto r = http_->get("/v2/" + repo + "/manifests/1", dev);
  EXPECT_TRUE(r.status == 401u || r.status == 403u || r.status == 404u) << r.status;
  EXPECT_EQ(http_->get("/v2/" + repo + "/manifests/1", basic("root", "root-pw")).status, 200u);
}

TEST_F(ProcessUpstream, StalledUpstreamTimesOut) {
  // A socket that listens (the kernel completes connections) but never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::string host = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  start_builder({{"pull_timeout_seconds", 1}});
  auto started = std::chrono::steady_clock::now();
  json j = build("FROM " + host + "/lib/busybox:1\n");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(error_of(j).find("reading from " + host), std::string::npos) << error_of(j);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  // With a long timeout, cancelling the build ends the stalled pull at once.
  builder_.reset();
  start_builder({{"pull_timeout_seconds", 600}});
  std::string ctx = archive_bytes(dir_.path() / "ctx.tar",
                                  {entry("Dockerfile", "FROM " + host + "/lib/busybox:1\n")});
  auto r = http_->post("/builds?t=out/stalled:1", ctx);
  ASSERT_EQ(r.status, 202u) << r.body;
  std::string id = r.json()["id"];
  for (int i = 0;
       i < 100 && http_->get("/builds/" + id + "/logs").body.find("pulling") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(300ms);  // into the read
  started = std::chrono::steady_clock::now();
  r = http_->del("/builds/" + id);
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["status"], "cancelled") << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  ::close(fd);
}

TEST_F(ProcessUpstream, HttpsUpstreamIsVerifiedAgainstTheConfiguredCa) {
  // An upstream Drydock serving HTTPS (its image pushed over plain HTTP first).
  fs::path up = dir_.path() / "up";
  fs::create_directories(up);
  {
    ServerProcess plain(ServerProcess::serve_args(up), dir_.path() / "plain.log");
    Client c(plain.port());
    push_image(c, {}, "lib/busybox", image_, "1");
  }
  TestPki pki(dir_.path() / "pki");
  Issued cert = pki.server_cert("upstream");
  auto args = ServerProcess::serve_args(up);
  args.insert(args.end(), {"--tls-cert", cert.cert.string(), "--tls-key", cert.key.string()});
  upstream_ = std::make_unique<ServerProcess>(args, dir_.path() / "up.log");
  std::string host = "127.0.0.1:" + std::to_string(upstream_->port());
  // Loopback hosts default to http: a mirror entry names the https URL.
  json mirrors = {{host, "https://" + host}};
  start_builder({{"mirrors", mirrors}});
  json j = build("FROM " + host + "/lib/busybox:1\n");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(error_of(j).find("TLS with " + host + " failed"), std::string::npos) << error_of(j);
  builder_.reset();
  start_builder(
      {{"mirrors", mirrors}, {"registries", {{host, {{"ca_file", pki.ca_cert().string()}}}}}});
  j = build("FROM " + host + "/lib/busybox:1\nRUN grep upstream /etc/passwd\n");
  EXPECT_EQ(j["status"], "succeeded") << j.dump(2);
}

}  // namespace
}  // namespace drydock::testing
