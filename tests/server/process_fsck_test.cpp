// `drydock fsck` as a real process on the data directory of a real server:
// push over HTTP, stop the server, corrupt a layer on disk, find it, repair
// it, and heal it by pushing the same layer again over HTTP.

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/server/http_client.hpp"
#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

CliResult fsck(const fs::path& data, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"fsck", "--data", data.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args, 60s);
}

void stop(ServerProcess& server) {
  auto exit = server.terminate(30s);
  ASSERT_TRUE(exit.has_value()) << "no exit within 30 s of SIGTERM";
  EXPECT_TRUE(exit->ok()) << exit->describe();
}

TEST(ProcessFsck, FindsACorruptLayerRepairsItAndARepushHealsIt) {
  ScratchDir work;
  fs::path data = work.path() / "data";
  fs::path log = work.path() / "server.log";
  PushedManifest m{.repo = "fsck/app", .tag = "latest"};
  ByteStream bytes(7);
  {
    ServerProcess server(ServerProcess::serve_args(data), log);
    Client c(server.port());
    m.blobs.push_back(push_blob_monolithic(c, m.repo, R"({"os":"linux"})"));
    m.blobs.push_back(push_blob_chunked(c, m.repo, bytes.take(3u << 20), 1u << 20));
    m.body = image_manifest(m.blobs[0], {m.blobs[1]});
    m.digest = push_manifest(c, m.repo, m.tag, m.body);
    ASSERT_EQ(check_pull(c, m, m.tag), "");
    // Read-only checking next to a running server is fine.
    auto live = fsck(data);
    EXPECT_EQ(live.status.exit_code, 0) << live.out << live.err;
    stop(server);
  }
  auto clean = fsck(data);
  ASSERT_EQ(clean.status.exit_code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("0 problems"), std::string::npos) << clean.out;

  const std::string layer = m.blobs[1].digest;
  {
    std::fstream f(blob_path(data, layer), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('\x7f');
  }
  auto found = fsck(data);
  EXPECT_EQ(found.status.exit_code, 1) << found.out << found.err;
  EXPECT_NE(found.out.find("PROBLEM corrupt-blob " + layer), std::string::npos) << found.out;
  EXPECT_NE(found.out.find("fsck/app " + m.digest), std::string::npos) << found.out;
  EXPECT_TRUE(fs::exists(blob_path(data, layer))) << "a check without --repair changed the store";

  auto json = fsck(data, {"--json"});
  EXPECT_EQ(json.status.exit_code, 1);
  auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["problems"], 2);
  EXPECT_EQ(j["issues"][0]["kind"], "corrupt-blob");
  EXPECT_EQ(j["issues"][0]["what"], layer);

  auto repaired = fsck(data, {"--repair"});
  EXPECT_EQ(repaired.status.exit_code, 1) << repaired.out << repaired.err;
  EXPECT_NE(repaired.out.find("repaired: moved to " + (data / "quarantine").string()),
            std::string::npos)
      << repaired.out;
  EXPECT_FALSE(fs::exists(blob_path(data, layer)));

  ServerProcess server(ServerProcess::serve_args(data), log);
  Client c(server.port());
  EXPECT_EQ(c.head("/v2/" + m.repo + "/blobs/" + layer).status, 404u);
  EXPECT_EQ(c.get("/v2/" + m.repo + "/blobs/" + layer).status, 404u);
  // The client sees the layer missing and pushes it again, then the manifest.
  BlobRef again = push_blob_monolithic(c, m.repo, ByteStream(7).take(3u << 20));
  EXPECT_EQ(again.digest, layer);
  EXPECT_EQ(push_manifest(c, m.repo, m.tag, m.body), m.digest);
  EXPECT_EQ(check_pull(c, m, m.tag), "");
  stop(server);

  auto healed = fsck(data);
  EXPECT_EQ(healed.status.exit_code, 0) << healed.out << healed.err;
}

TEST(ProcessFsck, UsageErrors) {
  ScratchDir work;
  EXPECT_EQ(run_cli({"fsck", "--bogus"}).status.exit_code, 2);
  auto none = run_cli({"fsck", "--data", (work.path() / "nothing").string()});
  EXPECT_EQ(none.status.exit_code, 2) << none.err;
  EXPECT_FALSE(fs::exists(work.path() / "nothing"));
  auto help = run_cli({"fsck", "--help"});
  EXPECT_EQ(help.status.exit_code, 0);
  EXPECT_NE(help.out.find("--repair"), std::string::npos);
}

}  // namespace
}  // namespace drydock::testing
