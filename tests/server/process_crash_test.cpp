// SIGKILL during concurrent pushes: after each kill and restart the store is
// consistent (blob files hash to their names, no temp file visible as a blob,
// every row points at existing blobs, every tag pulls intact), and every push
// acknowledged before the kill is fully pullable.
//
// The seed is printed; DRYDOCK_PROCESS_SEED=<n> replays a run.

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kRounds = 8;
constexpr int kPushers = 4;
constexpr std::size_t kMinBlob = 1024;
constexpr std::size_t kMaxBlob = 8u << 20;

std::uint64_t seed_from_env() {
  if (const char* s = std::getenv("DRYDOCK_PROCESS_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

// What the pushers saw, shared between their threads.
struct Ledger {
  std::mutex mu;
  std::vector<PushedManifest> acked;                   // manifest 201 received
  std::vector<std::pair<std::string, BlobRef>> blobs;  // blob 201 received
  std::vector<std::string> protocol_errors;            // complete but wrong answers

  void ack_blob(const std::string& repo, const BlobRef& b) {
    std::lock_guard lock(mu);
    blobs.emplace_back(repo, b);
  }
};

// One pusher thread: pushes images into its own repository until the server
// dies under it.
class Pusher {
 public:
  Pusher(std::uint16_t port, int round, int index, std::uint64_t seed, Ledger& ledger)
      : client_(port),
        rng_(seed),
        bytes_(seed * 7919 + 1),
        round_(round),
        repo_("crash/t" + std::to_string(index)),
        ledger_(ledger) {}

  void run() {
    try {
      for (int n = 0;; ++n) push_one(n);
    } catch (const HttpError&) {
      // The server was killed: expected, this push is not acknowledged.
    } catch (const std::exception& e) {
      // A ProtocolError (a complete but wrong answer), or a response the
      // client could not even parse: a finding either way.
      std::lock_guard lock(ledger_.mu);
      ledger_.protocol_errors.push_back(repo_ + ": " + e.what());
    }
  }

 private:
  std::size_t random_size() {
    std::uniform_real_distribution<double> d(std::log(double(kMinBlob)),
                                             std::log(double(kMaxBlob)));
    return static_cast<std::size_t>(std::exp(d(rng_)));
  }

  BlobRef push_blob(std::string_view data) {
    BlobRef b;
    if (std::bernoulli_distribution(0.5)(rng_)) {
      b = push_blob_monolithic(client_, repo_, data);
    } else {
      std::uniform_int_distribution<std::size_t> chunk(64u << 10, 4u << 20);
      b = push_blob_chunked(client_, repo_, data, chunk(rng_));
    }
    ledger_.ack_blob(repo_, b);
    return b;
  }

  void push_one(int n) {
    PushedManifest m;
    m.repo = repo_;
    m.tag = "r" + std::to_string(round_) + "-" + std::to_string(n);
    std::vector<BlobRef> layers;
    // A base layer every pusher of the round shares: concurrent publishes
    // of one digest into several repositories (deduplication).
    if (std::bernoulli_distribution(0.5)(rng_)) {
      layers.push_back(push_blob(ByteStream(1000 + round_).take(1u << 20)));
    }
    int count = std::uniform_int_distribution<int>(1, 3)(rng_);
    for (int i = 0; i < count; ++i) layers.push_back(push_blob(bytes_.take(random_size())));
    std::string config =
        R"({"architecture":"amd64","os":"linux","created_by":")" + repo_ + ":" + m.tag + R"("})";
    BlobRef cfg = push_blob(config);
    m.body = image_manifest(cfg, layers);
    m.blobs.push_back(cfg);
    m.blobs.insert(m.blobs.end(), layers.begin(), layers.end());
    m.digest = push_manifest(client_, repo_, m.tag, m.body);
    std::lock_guard lock(ledger_.mu);
    ledger_.acked.push_back(std::move(m));
  }

  Client client_;
  std::mt19937_64 rng_;
  ByteStream bytes_;
  int round_;
  std::string repo_;
  Ledger& ledger_;
};

// Everything that must hold after a restart, whatever the moment of the kill.
void verify_store(const fs::path& data, std::uint16_t port, Ledger& ledger, int round) {
  SCOPED_TRACE("after round " + std::to_string(round));
  std::size_t files = 0;
  auto file_problems = audit_blob_files(data, files);
  EXPECT_TRUE(file_problems.empty()) << join(file_problems);
  auto db_problems = audit_metadata(data);
  EXPECT_TRUE(db_problems.empty()) << join(db_problems);
  Client c(port);
  std::size_t tags = 0;
  auto http_problems = audit_over_http(c, tags);
  EXPECT_TRUE(http_problems.empty()) << join(http_problems);

  std::vector<std::string> lost;
  for (const auto& m : ledger.acked) {
    if (auto bad = check_pull(c, m, m.tag); !bad.empty()) lost.push_back(bad);
    if (auto bad = check_pull(c, m, m.digest); !bad.empty()) lost.push_back(bad);
  }
  for (const auto& [repo, b] : ledger.blobs) {
    Response h = c.head("/v2/" + repo + "/blobs/" + b.digest);
    if (h.status != 200 || h.header("Content-Length") != std::to_string(b.size)) {
      lost.push_back("acknowledged blob " + repo + "@" + b.digest + ": HEAD " +
                     std::to_string(h.status) + " length " + h.header("Content-Length"));
    }
  }
  EXPECT_TRUE(lost.empty()) << "acknowledged pushes lost: " << join(lost);
  std::cout << "[ round " << round << " ] " << ledger.acked.size() << " manifests and "
            << ledger.blobs.size() << " blobs acknowledged so far; " << tags << " tags, " << files
            << " blob files on disk, all verified" << std::endl;
}

TEST(Process, SigkillDuringPushesLeavesNoCorruption) {
  std::uint64_t seed = seed_from_env();
  std::cout << "[ seed ] DRYDOCK_PROCESS_SEED=" << seed << std::endl;
  std::mt19937_64 rng(seed);
  ScratchDir work;
  fs::path data = work.path() / "data";
  fs::path log = work.path() / "server.log";
  Ledger ledger;

  for (int round = 0; round < kRounds; ++round) {
    std::size_t acked_before = ledger.acked.size();
    auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 500)(rng));
    {
      ServerProcess server(ServerProcess::serve_args(data), log);
      std::vector<std::thread> threads;
      for (int t = 0; t < kPushers; ++t) {
        threads.emplace_back(
            [&, t, s = rng()] { Pusher(server.port(), round, t, s, ledger).run(); });
      }
      std::this_thread::sleep_for(delay);  // the random moment of the crash
      server.kill();
      for (auto& th : threads) th.join();
    }
    std::cout << "[ round " << round << " ] SIGKILL after " << delay.count() << " ms, "
              << ledger.acked.size() - acked_before << " manifests acknowledged this round"
              << std::endl;
    ASSERT_TRUE(ledger.protocol_errors.empty()) << join(ledger.protocol_errors);

    ServerProcess restarted(ServerProcess::serve_args(data), log);
    verify_store(data, restarted.port(), ledger, round);
    auto exit = restarted.terminate(30s);
    ASSERT_TRUE(exit.has_value()) << "no exit within 30 s of SIGTERM";
    EXPECT_TRUE(exit->ok()) << exit->describe();
    if (::testing::Test::HasFailure()) {
      std::cout << "--- server stderr ---\n" << restarted.log_tail() << std::endl;
      return;
    }
  }
  EXPECT_GT(ledger.acked.size(), 0u) << "no push was ever acknowledged: the test proved nothing";

  // The store still takes pushes after all that.
  ServerProcess server(ServerProcess::serve_args(data), log);
  Client c(server.port());
  PushedManifest m{.repo = "crash/after", .tag = "final"};
  ByteStream bytes(seed);
  m.blobs.push_back(push_blob_monolithic(c, m.repo, R"({"os":"linux"})"));
  m.blobs.push_back(push_blob_chunked(c, m.repo, bytes.take(3u << 20), 1u << 20));
  m.body = image_manifest(m.blobs[0], {m.blobs[1]});
  m.digest = push_manifest(c, m.repo, m.tag, m.body);
  EXPECT_EQ(check_pull(c, m, m.tag), "");
  auto exit = server.terminate(30s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->ok()) << exit->describe();
}

}  // namespace
}  // namespace drydock::testing
