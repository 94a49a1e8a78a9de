// The `drydock` process serving HTTPS: the TLS flags, SIGHUP reloading the
// certificate without dropping connections (and surviving a broken one),
// SIGHUP without TLS, and TLS mistakes caught at startup.

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"
#include "tests/server/test_pki.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Polls the server's log for `text`, appearing for the `nth` time.
bool wait_for_log(const fs::path& log, std::string_view text, std::size_t nth = 1,
                  std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::string content = read_file(log);
    std::size_t seen = 0;
    for (auto pos = content.find(text); pos != std::string::npos;
         pos = content.find(text, pos + 1)) {
      ++seen;
    }
    if (seen >= nth) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

void install(const Issued& from, const fs::path& cert, const fs::path& key) {
  fs::copy_file(from.cert, cert, fs::copy_options::overwrite_existing);
  fs::copy_file(from.key, key, fs::copy_options::overwrite_existing);
}

void expect_stopped_cleanly(ServerProcess& server) {
  auto exit = server.terminate(30s);
  ASSERT_TRUE(exit.has_value()) << "no exit within 30 s of SIGTERM";
  EXPECT_TRUE(exit->ok()) << exit->describe() << "\n" << server.log_tail();
}

TEST(ProcessTls, ServesHttpsAndReloadsOnSighup) {
  ScratchDir work;
  TestPki pki(work.path() / "pki");
  fs::path cert = work.path() / "server.pem";
  fs::path key = work.path() / "server.key";
  fs::path log = work.path() / "server.log";
  install(pki.server_cert("first"), cert, key);
  auto args = ServerProcess::serve_args(work.path() / "data");
  args.insert(args.end(), {"--tls-cert", cert.string(), "--tls-key", key.string()});
  ServerProcess server(args, log);
  EXPECT_TRUE(wait_for_log(log, "drydock: serving HTTPS")) << server.log_tail();

  TlsOptions tls{.ca = pki.ca_cert()};
  Client c(server.port(), tls);
  BlobRef blob = push_blob_monolithic(c, "tls/proc", ByteStream(3).take((3u << 20) + 7));
  EXPECT_EQ(check_blob(c, "tls/proc", blob), "");
  Connection kept(server.port(), tls);
  ASSERT_EQ(kept.roundtrip(Request{.target = "/v2/"}).status, 200u);
  EXPECT_EQ(kept.peer_subject(), "/CN=first");

  install(pki.server_cert("second"), cert, key);
  server.send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(log, "drydock: TLS certificates reloaded")) << server.log_tail();
  Connection fresh(server.port(), tls);
  EXPECT_EQ(fresh.peer_subject(), "/CN=second");
  EXPECT_EQ(fresh.roundtrip(Request{.target = "/v2/"}).status, 200u);
  EXPECT_EQ(kept.roundtrip(Request{.target = "/v2/"}).status, 200u) << "dropped by the reload";

  // A broken certificate: logged, and the last good one stays in service.
  std::ofstream(cert, std::ios::trunc) << "garbage\n";
  server.send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(log, "drydock: TLS reload failed")) << server.log_tail();
  Connection after(server.port(), tls);
  EXPECT_EQ(after.peer_subject(), "/CN=second");
  EXPECT_EQ(check_blob(c, "tls/proc", blob), "");
  c.disconnect();
  expect_stopped_cleanly(server);
}

// SIGHUP used to kill the process (the default action); now it is waited
// for, and without TLS there is nothing to reload.
TEST(ProcessTls, SighupWithoutTlsKeepsServing) {
  ScratchDir work;
  fs::path log = work.path() / "server.log";
  ServerProcess server(ServerProcess::serve_args(work.path() / "data"), log);
  server.send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(log, "nothing to reload")) << server.log_tail();
  Client c(server.port());
  EXPECT_EQ(c.get("/v2/").status, 200u);
  c.disconnect();
  expect_stopped_cleanly(server);
}

TEST(ProcessTls, TlsMistakesFailAtStartup) {
  ScratchDir work;
  TestPki pki(work.path() / "pki");
  Issued one = pki.server_cert("one");
  Issued two = pki.server_cert("two");
  auto serve = [&](std::vector<std::string> extra) {
    auto args = ServerProcess::serve_args(work.path() / "data");
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  auto key_only = serve({"--tls-key", one.key.string()});
  EXPECT_EQ(key_only.status.exit_code, 1) << key_only.status.describe();
  EXPECT_NE(key_only.err.find("both a certificate and a key"), std::string::npos) << key_only.err;

  fs::path missing = work.path() / "missing.pem";
  auto no_file = serve({"--tls-cert", missing.string(), "--tls-key", one.key.string()});
  EXPECT_EQ(no_file.status.exit_code, 1) << no_file.status.describe();
  EXPECT_NE(no_file.err.find(missing.string()), std::string::npos) << no_file.err;

  auto mismatch = serve({"--tls-cert", one.cert.string(), "--tls-key", two.key.string()});
  EXPECT_EQ(mismatch.status.exit_code, 1) << mismatch.status.describe();
  EXPECT_NE(mismatch.err.find("does not match"), std::string::npos) << mismatch.err;

  auto ca_alone = serve({"--tls-client-ca", pki.ca_cert().string()});
  EXPECT_EQ(ca_alone.status.exit_code, 1) << ca_alone.status.describe();
  EXPECT_NE(ca_alone.err.find("client_ca"), std::string::npos) << ca_alone.err;

  auto help = run_cli({"serve", "--help"});
  EXPECT_TRUE(help.status.ok());
  for (const char* flag : {"--tls-cert", "--tls-key", "--tls-client-ca", "\"tls\"", "SIGHUP"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag << " missing from the help";
  }
}

}  // namespace
}  // namespace drydock::testing
