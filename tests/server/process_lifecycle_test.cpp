// The `drydock` process from the outside: graceful SIGTERM with a request in
// flight, state across a stop and restart, and the command line (help,
// option errors, configuration file and flag precedence).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A listening socket on 127.0.0.1 holding a port, so that a server told to
// use it must fail.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot hold a port");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() { ::close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

void expect_stopped_cleanly(ServerProcess& server) {
  auto exit = server.terminate(30s);
  ASSERT_TRUE(exit.has_value()) << "no exit within 30 s of SIGTERM";
  EXPECT_TRUE(exit->ok()) << exit->describe() << "\n" << server.log_tail();
}

// --- SIGTERM with an upload in flight ---------------------------------------------

TEST(Process, SigtermFinishesInFlightUpload) {
  ScratchDir work;
  fs::path data = work.path() / "data";
  fs::path log = work.path() / "server.log";
  std::string body = ByteStream(33).take(8u << 20);
  std::string digest = sha256_of(body);
  std::size_t half = body.size() / 2;
  {
    ServerProcess server(ServerProcess::serve_args(data), log);
    // An idle keep-alive connection: a graceful stop closes it.
    Connection idle(server.port());
    ASSERT_EQ(idle.roundtrip(Request{.target = "/v2/"}).status, 200u);

    // A monolithic upload that asks for 100 Continue: once that arrives, the
    // server is inside the request, reading its body.
    Connection up(server.port(), 60s);
    Request head{.method = "POST",
                 .target = "/v2/term/slow/blobs/uploads/?digest=" + digest,
                 .headers = {{"Content-Type", "application/octet-stream"},
                             {"Content-Length", std::to_string(body.size())},
                             {"Expect", "100-continue"}}};
    up.send(head.head());
    ASSERT_EQ(up.read_response(false, /*keep_interim=*/true).status, 100u);
    up.send(std::string_view(body).substr(0, half));

    server.send_signal(SIGTERM);
    // The listener closes at once: new connections are refused while the
    // upload is still open.
    EXPECT_TRUE(wait_connect_refused(server.port(), 10s)) << "still accepting after SIGTERM";
    EXPECT_TRUE(idle.wait_closed(10s)) << "idle connection not closed by the graceful stop";

    up.send(std::string_view(body).substr(half));
    Response r = up.read_response();
    EXPECT_EQ(r.status, 201u) << r.body;
    EXPECT_EQ(r.header("Docker-Content-Digest"), digest);
    EXPECT_TRUE(up.wait_closed(10s)) << "connection kept open after the last response";

    auto exit = server.wait_exit(30s);
    ASSERT_TRUE(exit.has_value()) << "no exit within 30 s of SIGTERM";
    EXPECT_TRUE(exit->ok()) << exit->describe() << "\n" << server.log_tail();
  }
  ServerProcess restarted(ServerProcess::serve_args(data), log);
  Client c(restarted.port());
  EXPECT_EQ(check_blob(c, "term/slow", BlobRef{digest, body.size()}), "");
  expect_stopped_cleanly(restarted);
}

// --- stop and restart keep everything --------------------------------------------

TEST(Process, RestartKeepsEverything) {
  ScratchDir work;
  fs::path data = work.path() / "data";
  fs::path log = work.path() / "server.log";
  ByteStream bytes(55);
  std::vector<PushedManifest> images;
  std::string upload = bytes.take((3u << 20) + 12345);
  std::string loc;
  {
    ServerProcess server(ServerProcess::serve_args(data), log);
    Client c(server.port());
    for (std::string repo : {"keep/app", "keep/base"}) {
      PushedManifest m{.repo = repo, .tag = "v1"};
      m.blobs.push_back(push_blob_monolithic(c, repo, R"({"os":"linux","repo":")" + repo + "\"}"));
      m.blobs.push_back(push_blob_chunked(c, repo, bytes.take(5u << 20), 1u << 20));
      m.blobs.push_back(push_blob_monolithic(c, repo, bytes.take(70000)));
      m.body = image_manifest(m.blobs[0], {m.blobs[1], m.blobs[2]});
      m.digest = push_manifest(c, repo, m.tag, m.body);
      push_manifest(c, repo, "latest", m.body);
      images.push_back(m);
    }
    // A chunked upload left half done: two chunks of 1 MiB.
    Response post = c.post("/v2/keep/app/blobs/uploads/");
    ASSERT_EQ(post.status, 202u);
    loc = post.header("Location");
    for (std::size_t off = 0; off < (2u << 20); off += 1u << 20) {
      std::string range = std::to_string(off) + "-" + std::to_string(off + (1u << 20) - 1);
      Response p = c.patch(loc, upload.substr(off, 1u << 20), {{"Content-Range", range}});
      ASSERT_EQ(p.status, 202u) << p.body;
      loc = p.header("Location");
    }
    c.disconnect();
    expect_stopped_cleanly(server);
  }

  ServerProcess server(ServerProcess::serve_args(data), log);
  Client c(server.port());
  EXPECT_EQ(c.get("/v2/_catalog").json()["repositories"], json::array({"keep/app", "keep/base"}));
  for (const auto& m : images) {
    EXPECT_EQ(c.get("/v2/" + m.repo + "/tags/list").json()["tags"], json::array({"latest", "v1"}));
    EXPECT_EQ(check_pull(c, m, "v1"), "");
    EXPECT_EQ(check_pull(c, m, "latest"), "");
    EXPECT_EQ(check_pull(c, m, m.digest), "");
  }
  std::size_t files = 0;
  auto problems = audit_blob_files(data, files);
  EXPECT_TRUE(problems.empty()) << join(problems);
  problems = audit_metadata(data);
  EXPECT_TRUE(problems.empty()) << join(problems);

  // The upload session resumes where it stopped.
  Response status = c.get(loc);
  EXPECT_EQ(status.status, 204u) << status.body;
  EXPECT_EQ(status.header("Range"), "0-" + std::to_string((2u << 20) - 1));
  std::string rest = upload.substr(2u << 20);
  Response p = c.patch(
      status.header("Location"), rest,
      {{"Content-Range", std::to_string(2u << 20) + "-" + std::to_string(upload.size() - 1)}});
  ASSERT_EQ(p.status, 202u) << p.body;
  std::string digest = sha256_of(upload);
  Response put = c.put(with_digest(p.header("Location"), digest), "");
  ASSERT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(check_blob(c, "keep/app", BlobRef{digest, upload.size()}), "");
  c.disconnect();
  expect_stopped_cleanly(server);
}

// --- command line --------------------------------------------------------------------

// A config file setting listen and data is honoured; flags override it.
void check_config_file_and_flags() {
  ScratchDir work;
  fs::path log = work.path() / "server.log";
  fs::path from_file = work.path() / "data-from-file";
  fs::path from_flag = work.path() / "data-from-flag";
  fs::path config = work.path() / "drydock.json";
  write_text(config, json{{"listen", "127.0.0.1:0"},
                          {"data", from_file.string()},
                          {"server", {{"access_log", false}}}}
                         .dump());
  {
    ServerProcess server({"serve", "--config", config.string()}, log);
    Client c(server.port());
    EXPECT_EQ(push_blob_monolithic(c, "cfg/repo", "from the config file").size, 20u);
    EXPECT_TRUE(fs::exists(from_file / "metadata.db"));
    expect_stopped_cleanly(server);
  }

  // The file's listen address, when it is taken, makes startup fail...
  HeldPort held;
  write_text(config, json{{"listen", "127.0.0.1:" + std::to_string(held.port())},
                          {"data", from_file.string()}}
                         .dump());
  CliResult taken = run_cli({"serve", "--config", config.string()});
  EXPECT_NE(taken.status.exit_code, 0) << taken.status.describe();
  EXPECT_NE(taken.err.find(std::to_string(held.port())), std::string::npos) << taken.err;

  // ...and --listen / --data override the file.
  ServerProcess server({"serve", "--config", config.string(), "--listen", "127.0.0.1:0", "--data",
                        from_flag.string(), "--no-access-log"},
                       log);
  EXPECT_NE(server.port(), held.port());
  Client c(server.port());
  EXPECT_EQ(c.get("/v2/_catalog").json()["repositories"], json::array());
  EXPECT_TRUE(fs::exists(from_flag / "metadata.db"));
  c.disconnect();
  expect_stopped_cleanly(server);
}

TEST(Process, ImmutableTagsFromTheConfigRefuseAMove) {
  ScratchDir work;
  fs::path config = work.path() / "drydock.json";
  write_text(config, json{{"listen", "127.0.0.1:0"},
                          {"data", (work.path() / "data").string()},
                          {"server", {{"access_log", false}}},
                          {"registry",
                           {{"immutable_tags", {{{"repositories", "team/**"}, {"tags", "v*"}}}}}}}
                         .dump());
  ServerProcess server({"serve", "--config", config.string()}, work.path() / "server.log");
  Client c(server.port());
  auto manifest_of = [&](const std::string& repo, const std::string& text) {
    BlobRef cfg = push_blob_monolithic(c, repo, R"({"architecture":"amd64","os":"linux","x":")" +
                                                    text + "\"}");
    return image_manifest(cfg, {});
  };
  std::string first = manifest_of("team/app", "1");
  std::string second = manifest_of("team/app", "2");
  push_manifest(c, "team/app", "v1", first);
  push_manifest(c, "team/app", "v1", first);  // the same again is fine
  auto r = c.put("/v2/team/app/manifests/v1", second,
                 {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}});
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_NE(r.body.find("immutable"), std::string::npos) << r.body;
  EXPECT_EQ(c.del("/v2/team/app/manifests/v1").status, 403u);
  // Outside the rule: tags move.
  push_manifest(c, "team/app", "latest", first);
  push_manifest(c, "team/app", "latest", second);
  std::string elsewhere = manifest_of("other/app", "1");
  push_manifest(c, "other/app", "v1", elsewhere);
  push_manifest(c, "other/app", "v1", manifest_of("other/app", "2"));
  c.disconnect();
  expect_stopped_cleanly(server);
}

TEST(Process, QuotasFromTheConfigRefuseAPushAndUsageShowsThem) {
  ScratchDir work;
  fs::path config = work.path() / "drydock.json";
  write_text(config, json{{"listen", "127.0.0.1:0"},
                          {"data", (work.path() / "data").string()},
                          {"server", {{"access_log", false}}},
                          {"registry", {{"quotas", {{"namespaces", {{"team", "4KiB"}}}}}}}}
                         .dump());
  ServerProcess server({"serve", "--config", config.string()}, work.path() / "server.log");
  Client c(server.port());
  std::string first(3000, 'a');
  push_blob_monolithic(c, "team/app", first);
  std::string second(2000, 'b');
  std::string digest = sha256_of(second);
  auto r = c.post("/v2/team/app/blobs/uploads/?digest=" + digest, second);
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["message"],
            "quota exceeded for namespace \"team\": 2.9 KiB used of 4 KiB, this needs 2 KiB more")
      << r.body;
  push_blob_monolithic(c, "other/app", second);  // another namespace
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  CliResult table = run_cli({"usage", "--server", url});
  EXPECT_EQ(table.status.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("team/app"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("4 KiB (73%)"), std::string::npos) << table.out;
  CliResult one = run_cli({"usage", "team", "--server", url, "--json"});
  EXPECT_EQ(one.status.exit_code, 0) << one.err;
  json doc = json::parse(one.out);
  ASSERT_EQ(doc["namespaces"].size(), 1u) << one.out;
  EXPECT_EQ(doc["namespaces"][0]["used"], 3000);
  EXPECT_EQ(doc["namespaces"][0]["limit"], 4096);
  EXPECT_EQ(run_cli({"usage", "--bogus"}).status.exit_code, 2);
  c.disconnect();
  expect_stopped_cleanly(server);
}

TEST(Process, HelpAndBadOptions) {
  CliResult help = run_cli({"--help"});
  EXPECT_EQ(help.status.exit_code, 0) << help.status.describe();
  EXPECT_NE(help.out.find("serve"), std::string::npos) << help.out;
  for (const char* command : {"drydock user add", "drydock grant", "drydock token create"}) {
    EXPECT_NE(help.out.find(command), std::string::npos) << command << " not in:\n" << help.out;
  }

  CliResult serve_help = run_cli({"serve", "--help"});
  EXPECT_EQ(serve_help.status.exit_code, 0) << serve_help.status.describe();
  for (const char* flag : {"--config", "--listen", "--data", "--auth", "--tls-cert", "--tls-key",
                           "--tls-client-ca", "anonymous_pull"}) {
    EXPECT_NE(serve_help.out.find(flag), std::string::npos) << flag << " not in:\n"
                                                            << serve_help.out;
  }

  CliResult unknown = run_cli({"serve", "--frobnicate"});
  EXPECT_NE(unknown.status.exit_code, 0) << unknown.status.describe();
  EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos) << unknown.err;
  CliResult no_value = run_cli({"serve", "--listen"});
  EXPECT_NE(no_value.status.exit_code, 0);
  EXPECT_NE(no_value.err.find("--listen"), std::string::npos) << no_value.err;
  CliResult bad_command = run_cli({"frobnicate"});
  EXPECT_NE(bad_command.status.exit_code, 0);
  EXPECT_NE(bad_command.err.find("frobnicate"), std::string::npos) << bad_command.err;

  ScratchDir work;
  struct BadConfig {
    const char* text;
    const char* message;
  };
  for (const BadConfig& bad : {BadConfig{R"({"listen": "127.0.0.1:0", "colour": 1})", "colour"},
                               BadConfig{R"({"server": {"threads": 2}})", "server.threads"},
                               BadConfig{R"({"listen": "127.0.0.1:0",)", "JSON"},
                               BadConfig{R"({"listen": 5000})", "listen"}}) {
    fs::path file = work.path() / "bad.json";
    write_text(file, bad.text);
    CliResult r =
        run_cli({"serve", "--config", file.string(), "--data", (work.path() / "unused").string()});
    EXPECT_NE(r.status.exit_code, 0) << bad.text << ": " << r.status.describe();
    EXPECT_NE(r.err.find(bad.message), std::string::npos) << bad.text << ":\n" << r.err;
    EXPECT_NE(r.err.find(file.string()), std::string::npos) << "file not named:\n" << r.err;
    EXPECT_EQ(r.out.find("listening on"), std::string::npos) << r.out;
  }
  CliResult missing = run_cli({"serve", "--config", (work.path() / "nope.json").string()});
  EXPECT_NE(missing.status.exit_code, 0);
  EXPECT_NE(missing.err.find("nope.json"), std::string::npos) << missing.err;

  check_config_file_and_flags();
}

// --- running out of file descriptors -----------------------------------------------

// CPU seconds (user + system) a process has used, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// With every descriptor in use, accept() fails at once; the server must keep
// serving what it has and back off, not spin on the listener, and recover
// when connections close.
TEST(Process, RunningOutOfDescriptorsDoesNotSpin) {
  ScratchDir work;
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 64;  // inherited by the child; ours is restored right after
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::optional<ServerProcess> server;
  try {
    server.emplace(ServerProcess::serve_args(work.path() / "data"), work.path() / "server.log");
  } catch (...) {
    ::setrlimit(RLIMIT_NOFILE, &old);
    throw;
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);

  std::vector<Connection> held;  // more connections than the server can hold
  for (int i = 0; i < 100; ++i) held.emplace_back(server->port());
  std::this_thread::sleep_for(300ms);
  double before = cpu_seconds(server->pid());
  std::this_thread::sleep_for(1s);
  double used = cpu_seconds(server->pid()) - before;
  EXPECT_LT(used, 0.5) << "the server burnt " << used << " CPU s in 1 s with accept failing";
  EXPECT_NE(server->log_tail().find("accept failed"), std::string::npos)
      << "the descriptor limit was never reached: the test proves nothing";

  held.clear();
  Client c(server->port());
  EXPECT_EQ(c.get("/v2/").status, 200u) << server->log_tail();
  expect_stopped_cleanly(*server);
}

// --- abandoned upload sessions ----------------------------------------------------

// Abandoned sessions (older than registry.upload_expiry_hours) are removed
// when the server starts; a fresh one survives.
TEST(Process, AbandonedUploadSessionsExpireAtStartup) {
  ScratchDir work;
  fs::path data = work.path() / "data";
  fs::path log = work.path() / "server.log";
  std::vector<std::string> locations;
  {
    ServerProcess server(ServerProcess::serve_args(data), log);
    Client c(server.port());
    for (int i = 0; i < 2; ++i) {
      Response r = c.post("/v2/old/app/blobs/uploads/");
      ASSERT_EQ(r.status, 202u);
      ASSERT_EQ(c.patch(r.header("Location"), "partial data").status, 202u);
      locations.push_back(r.header("Location"));
    }
    expect_stopped_cleanly(server);
  }
  std::string old_id = locations[0].substr(locations[0].rfind('/') + 1);
  std::string fresh_location = locations[1];
  // Age the first session by ten days, as if it had been abandoned.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((data / "metadata.db").c_str(), &db), SQLITE_OK);
    std::string sql = "UPDATE uploads SET created = created - 864000 WHERE id = '" + old_id + "'";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  }
  ASSERT_TRUE(fs::exists(data / "uploads" / old_id));

  ServerProcess server(ServerProcess::serve_args(data), log);
  Client c(server.port());
  // The janitor runs at startup on its own thread; give it a moment.
  for (int i = 0; i < 100 && fs::exists(data / "uploads" / old_id); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(fs::exists(data / "uploads" / old_id)) << server.log_tail();
  Response gone = c.get("/v2/old/app/blobs/uploads/" + old_id);
  EXPECT_EQ(gone.status, 404u);
  EXPECT_EQ(gone.error_code(), "BLOB_UPLOAD_UNKNOWN");
  Response kept = c.get(fresh_location);
  EXPECT_EQ(kept.status, 204u) << kept.body;
  EXPECT_EQ(kept.header("Range"), "0-11");
  EXPECT_NE(server.log_tail().find("removed 1 abandoned upload session"), std::string::npos)
      << server.log_tail();
  expect_stopped_cleanly(server);
}

}  // namespace
}  // namespace drydock::testing
