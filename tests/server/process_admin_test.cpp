// The administration commands (`drydock user|grant|token`) run as real
// processes next to a real server on the same data directory, which sees
// their changes at once.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "auth/secrets.hpp"
#include "tests/server/http_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

using namespace std::chrono_literals;

Headers basic(const std::string& user, const std::string& secret) {
  return {{"Authorization", "Basic " + auth::base64_encode(user + ":" + secret)}};
}

class AdminCli : public ::testing::Test {
 protected:
  std::vector<std::string> with_data(std::vector<std::string> args) {
    args.push_back("--data");
    args.push_back(data().string());
    return args;
  }
  CliResult cli(std::vector<std::string> args, std::optional<std::string> input = std::nullopt) {
    return run_cli(with_data(std::move(args)), 30s, std::move(input));
  }
  std::filesystem::path data() const { return dir_.path() / "data"; }
  std::vector<std::string> serve_auth() {
    auto args = ServerProcess::serve_args(data());
    args.push_back("--auth");
    return args;
  }

  ScratchDir dir_;
};

TEST_F(AdminCli, ManagesUsersGrantsAndTokensNextToARunningServer) {
  std::filesystem::create_directories(data());
  ServerProcess server(serve_auth(), dir_.path() / "server.log");
  EXPECT_NE(server.log_tail().find("authentication is on"), std::string::npos)
      << server.log_tail();
  Client http(server.port());
  EXPECT_EQ(http.get("/v2/").status, 401u);

  auto add = cli({"user", "add", "alice", "--password-stdin"}, "first-pw\n");
  ASSERT_TRUE(add.status.ok()) << add.err;
  EXPECT_EQ(http.get("/v2/", basic("alice", "first-pw")).status, 200u);
  EXPECT_EQ(http.post("/v2/team/a/blobs/uploads/", "", basic("alice", "first-pw")).status, 403u);
  ASSERT_TRUE(cli({"grant", "alice", "team/**", "pull,push"}).status.ok());
  EXPECT_EQ(http.post("/v2/team/a/blobs/uploads/", "", basic("alice", "first-pw")).status, 202u);

  auto list = cli({"user", "list"});
  ASSERT_TRUE(list.status.ok()) << list.err;
  EXPECT_NE(list.out.find("alice"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("team/**: pull,push"), std::string::npos) << list.out;

  auto made = cli({"token", "create", "--user", "alice", "--scope", "team/a:push", "--expires",
                   "1d", "--description", "ci robot"});
  ASSERT_TRUE(made.status.ok()) << made.err;
  std::string secret = made.out.substr(0, made.out.find('\n'));
  ASSERT_TRUE(secret.starts_with("ddt_")) << made.out;
  EXPECT_EQ(http.post("/v2/team/a/blobs/uploads/", "", basic("alice", secret)).status, 202u);
  EXPECT_EQ(http.post("/v2/team/b/blobs/uploads/", "", basic("alice", secret)).status, 403u);
  auto tokens = cli({"token", "list"});
  ASSERT_TRUE(tokens.status.ok()) << tokens.err;
  EXPECT_NE(tokens.out.find("ci robot"), std::string::npos) << tokens.out;
  EXPECT_EQ(tokens.out.find(secret), std::string::npos) << "a secret is shown only once";
  std::string id = tokens.out.substr(0, tokens.out.find(' '));
  ASSERT_TRUE(cli({"token", "revoke", id}).status.ok());
  EXPECT_NE(cli({"token", "list", "--user", "alice"}).out.find("REVOKED"), std::string::npos);

  ASSERT_TRUE(cli({"user", "passwd", "alice", "--password-stdin"}, "second-pw\n").status.ok());
  EXPECT_EQ(http.get("/v2/", basic("alice", "second-pw")).status, 200u);
  ASSERT_TRUE(cli({"user", "del", "alice"}).status.ok());
  EXPECT_EQ(cli({"user", "list"}).out.find("alice"), std::string::npos);
  auto gone = cli({"grant", "alice", "team/**", "pull"});
  EXPECT_EQ(gone.status.exit_code, 1);
  EXPECT_NE(gone.err.find("not found"), std::string::npos) << gone.err;
}

TEST_F(AdminCli, RefusesBadInputWithAClearMessage) {
  std::filesystem::create_directories(data());
  ASSERT_TRUE(cli({"user", "add", "bob", "--password-stdin"}, "pw\n").status.ok());
  struct Case {
    std::vector<std::string> args;
    std::string input, message;
  };
  std::vector<Case> cases = {
      {{"user", "add", "carol"}, "", "--password-stdin"},
      {{"user", "add", "Bad Name!", "--password-stdin"}, "pw\n", "invalid"},
      {{"user", "add", "bob", "--password-stdin"}, "pw\n", "exists"},
      {{"user", "add", "dave", "--password-stdin"}, "\n", "empty password"},
      {{"grant", "bob", "team/ x", "pull"}, "", "invalid"},
      {{"grant", "bob", "team/*", "pull,fly"}, "", "bad actions"},
      {{"token", "create", "--user", "bob"}, "", "usage"},
      {{"token", "create", "--user", "bob", "--scope", "a:pull", "--expires", "soon"}, "",
       "bad duration"},
      {{"user", "frobnicate"}, "", "unknown user command"},
  };
  for (const auto& c : cases) {
    auto r = c.input.empty() ? cli(c.args) : cli(c.args, c.input);
    EXPECT_EQ(r.status.exit_code, 1) << c.args[0] << " " << c.args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  auto nowhere = run_cli({"user", "list", "--data", (dir_.path() / "absent").string()});
  EXPECT_EQ(nowhere.status.exit_code, 1);
  EXPECT_NE(nowhere.err.find("no data directory"), std::string::npos) << nowhere.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "absent"));
  auto help = run_cli({"user", "--help"});
  EXPECT_TRUE(help.status.ok());
  EXPECT_NE(help.out.find("drydock token create"), std::string::npos);
}

TEST_F(AdminCli, FirstAdminFromTheEnvironmentAndTheLoudWarningWithoutAuth) {
  std::filesystem::create_directories(data());
  {
    ServerProcess open_server(ServerProcess::serve_args(data()), dir_.path() / "open.log");
    EXPECT_NE(open_server.log_tail().find("authentication is DISABLED"), std::string::npos);
    Client http(open_server.port());
    EXPECT_EQ(http.get("/v2/").status, 200u);
  }
  ::setenv("DRYDOCK_ADMIN_USER", "root", 1);
  ::setenv("DRYDOCK_ADMIN_PASSWORD", "root-pw", 1);
  ServerProcess server(serve_auth(), dir_.path() / "server.log");
  ::unsetenv("DRYDOCK_ADMIN_USER");
  ::unsetenv("DRYDOCK_ADMIN_PASSWORD");
  Client http(server.port());
  EXPECT_EQ(http.get("/v2/", basic("root", "root-pw")).status, 200u);
  EXPECT_EQ(http.post("/v2/any/thing/blobs/uploads/", "", basic("root", "root-pw")).status, 202u);
  EXPECT_NE(cli({"user", "list"}).out.find("root (admin)"), std::string::npos);
  EXPECT_EQ(server.log_tail().find("root-pw"), std::string::npos);
}

}  // namespace
}  // namespace drydock::testing
