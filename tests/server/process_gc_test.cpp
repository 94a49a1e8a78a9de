// Garbage collection in a real server process, over HTTP: `drydock gc` and
// `drydock prune` reclaim exactly what deleted images held, and a collection
// looping under 32 pushers and 8 pullers never takes anything live.

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/secrets.hpp"
#include "tests/server/http_client.hpp"
#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// A server with `gc` as its config's gc section.
struct GcServer {
  GcServer(const ScratchDir& dir, json gc) {
    fs::path config = dir.path() / "config.json";
    std::ofstream(config) << json{{"gc", gc}}.dump();
    auto args = ServerProcess::serve_args(dir.path() / "data");
    args.push_back("--config");
    args.push_back(config.string());
    server.emplace(args, dir.path() / "server.log");
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
  std::optional<ServerProcess> server;
};

// Sum of the sizes of the files under DATA/blobs, and how many.
std::pair<std::uint64_t, std::size_t> disk_usage(const fs::path& data) {
  std::uint64_t bytes = 0;
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(data / "blobs")) {
    if (!e.is_regular_file()) continue;
    bytes += e.file_size();
    ++files;
  }
  return {bytes, files};
}

PushedManifest push_image(Client& c, std::string repo, std::string tag,
                          const std::vector<std::string>& layers, std::string config) {
  PushedManifest m{.repo = std::move(repo), .tag = std::move(tag)};
  m.blobs.push_back(push_blob_monolithic(c, m.repo, config));
  for (const auto& l : layers) m.blobs.push_back(push_blob_monolithic(c, m.repo, l));
  m.body = image_manifest(m.blobs[0], {m.blobs.begin() + 1, m.blobs.end()});
  if (m.tag.empty()) {  // by digest only
    Sha256 h;
    h.update(m.body);
    m.tag = h.finish();
  }
  m.digest = push_manifest(c, m.repo, m.tag, m.body);
  return m;
}

std::string digest_text(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

json run_json(const std::vector<std::string>& args) {
  auto r = run_cli(args, 120s);
  EXPECT_EQ(r.status.exit_code, 0) << r.out << r.err;
  auto j = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.out;
  return j;
}

TEST(ProcessGc, ReclaimsWhatDeletedImagesHeldAndPrunesUntaggedOnes) {
  ScratchDir dir;
  GcServer s(dir, {{"interval_minutes", 0}, {"grace_seconds", 0}});
  fs::path data = dir.path() / "data";
  Client c(s.server->port());
  ByteStream bytes(11);
  std::string shared = bytes.take(1u << 20), only_a = bytes.take(512u << 10);
  PushedManifest a = push_image(c, "gc/app", "a", {shared, only_a}, R"({"image":"a"})");
  PushedManifest b = push_image(c, "gc/app", "b", {shared}, R"({"image":"b"})");
  auto [bytes_before, files_before] = disk_usage(data);
  ASSERT_EQ(files_before, 6u);

  // Nothing is garbage yet.
  json none = run_json({"gc", "--dry-run", "--json", "--server", s.url()});
  EXPECT_EQ(none["blobs_deleted"], 0);
  EXPECT_EQ(none["bytes_remaining"], bytes_before);

  ASSERT_EQ(c.del("/v2/gc/app/manifests/" + a.digest).status, 202u);
  std::uint64_t a_only = a.body.size() + a.blobs[0].size + a.blobs[2].size;
  json plan = run_json({"gc", "--dry-run", "--json", "--server", s.url()});
  EXPECT_EQ(plan["dry_run"], true);
  EXPECT_EQ(plan["blobs_deleted"], 3);
  EXPECT_EQ(plan["bytes_freed"], a_only);
  EXPECT_EQ(disk_usage(data).second, 6u);  // a dry run deletes nothing

  auto text = run_cli({"gc", "--server", s.url()}, 120s);
  ASSERT_EQ(text.status.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("freed 3 blob(s)"), std::string::npos) << text.out;
  auto [bytes_after, files_after] = disk_usage(data);
  EXPECT_EQ(files_after, 3u);
  EXPECT_EQ(bytes_before - bytes_after, a_only);
  EXPECT_EQ(check_pull(c, b, b.tag), "");
  EXPECT_EQ(c.get("/v2/gc/app/blobs/" + a.blobs[2].digest).status, 404u);

  // An image pushed by digest only stays until pruned.
  PushedManifest lone = push_image(c, "gc/app", "", {bytes.take(4096)}, R"({"image":"lone"})");
  EXPECT_EQ(run_json({"gc", "--json", "--server", s.url()})["blobs_deleted"], 0);
  json pruned = run_json({"prune", "--untagged", "--json", "--server", s.url()});
  EXPECT_EQ(pruned["manifests_deleted"], json::array({"gc/app@" + lone.digest}));
  EXPECT_EQ(pruned["blobs_deleted"], 3);
  EXPECT_EQ(c.get("/v2/gc/app/manifests/" + lone.digest).status, 404u);
  EXPECT_EQ(check_pull(c, b, b.tag), "");
  std::size_t files = 0;
  EXPECT_EQ(join(audit_blob_files(data, files)), "");
  EXPECT_EQ(join(audit_metadata(data)), "");

  auto usage = run_cli({"prune", "--server", s.url()});
  EXPECT_EQ(usage.status.exit_code, 2);
  EXPECT_NE(usage.err.find("--untagged"), std::string::npos) << usage.err;
  auto unreachable = run_cli({"gc", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(unreachable.status.exit_code, 2) << unreachable.err;
  EXPECT_EQ(c.get("/admin/gc").status, 405u);
  EXPECT_EQ(c.post("/admin/prune?untagged=1&older_than=soon").error_code(), "UNSUPPORTED");
  EXPECT_EQ(c.post("/admin/nothing").status, 404u);
}

// One owner of a data directory at a time: a second server, an offline gc
// and fsck --repair are refused while a server runs on it; with the server
// stopped, `drydock gc --data` collects with the config's settings.
TEST(ProcessGc, OfflineCollectionOnlyWithoutAServer) {
  ScratchDir dir;
  fs::path data = dir.path() / "data";
  fs::path config = dir.path() / "config.json";
  std::ofstream(config) << json{{"gc", {{"interval_minutes", 0}, {"grace_seconds", 0}}}}.dump();
  PushedManifest keep, gone;
  {
    GcServer s(dir, {{"interval_minutes", 0}, {"grace_seconds", 0}});
    Client c(s.server->port());
    keep = push_image(c, "off/app", "keep", {std::string(5000, 'k')}, R"({"image":"keep"})");
    gone = push_image(c, "off/app", "gone", {std::string(7000, 'g')}, R"({"image":"gone"})");
    ASSERT_EQ(c.del("/v2/off/app/manifests/" + gone.digest).status, 202u);

    auto second = run_cli(ServerProcess::serve_args(data), 30s);
    EXPECT_EQ(second.status.exit_code, 1) << second.out << second.err;
    const std::string owner =
        "is in use by drydock serve (pid " + std::to_string(s.server->pid()) + ")";
    EXPECT_NE(second.err.find(owner), std::string::npos) << second.err;
    auto offline = run_cli({"gc", "--data", data.string()}, 60s);
    EXPECT_EQ(offline.status.exit_code, 1) << offline.out << offline.err;
    EXPECT_NE(offline.err.find(owner), std::string::npos) << offline.err;
    auto repair = run_cli({"fsck", "--repair", "--data", data.string()}, 60s);
    EXPECT_EQ(repair.status.exit_code, 1) << repair.out << repair.err;
    EXPECT_NE(repair.err.find(owner), std::string::npos) << repair.err;
    EXPECT_EQ(run_cli({"fsck", "--data", data.string()}, 60s).status.exit_code, 0);
    EXPECT_EQ(check_pull(c, keep, keep.tag), "");  // the refused ones changed nothing
    auto mixed = run_cli({"gc", "--data", data.string(), "--server", s.url()});
    EXPECT_EQ(mixed.status.exit_code, 2) << mixed.err;
    auto exit = s.server->terminate(30s);
    ASSERT_TRUE(exit && exit->ok());
  }
  auto [bytes_before, files_before] = disk_usage(data);
  json dry = run_json({"gc", "--dry-run", "--json", "--config", config.string(), "--data",
                       data.string()});
  EXPECT_EQ(dry["blobs_deleted"], 3);
  EXPECT_EQ(disk_usage(data).second, files_before);
  json done = run_json({"gc", "--json", "--config", config.string(), "--data", data.string()});
  std::uint64_t freed = gone.body.size() + gone.blobs[0].size + gone.blobs[1].size;
  EXPECT_EQ(done["bytes_freed"], freed);
  EXPECT_EQ(bytes_before - disk_usage(data).first, freed);
  EXPECT_EQ(run_cli({"fsck", "--data", data.string()}, 60s).status.exit_code, 0);
  EXPECT_EQ(run_cli({"gc", "--data", (dir.path() / "none").string()}).status.exit_code, 2);

  GcServer again(dir, {{"interval_minutes", 0}});
  Client c(again.server->port());
  EXPECT_EQ(check_pull(c, keep, keep.tag), "");
  EXPECT_EQ(c.get("/v2/off/app/blobs/" + gone.blobs[1].digest).status, 404u);
}

TEST(ProcessGc, OnlyAdminsCollectAndRepositoryDeletesFreeWhatOnlyTheyHeld) {
  ScratchDir dir;
  fs::path data = dir.path() / "data";
  fs::create_directories(data);
  auto user = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--password-stdin", "--data", data.string()});
    auto r = run_cli(args, 30s, std::string("pw\n"));
    ASSERT_TRUE(r.status.ok()) << r.err;
  };
  user({"user", "add", "root", "--admin"});
  user({"user", "add", "dev"});
  ASSERT_TRUE(run_cli({"grant", "dev", "team/**", "pull,push", "--data", data.string()})
                  .status.ok());
  fs::path config = dir.path() / "config.json";
  std::ofstream(config) << json{{"gc", {{"interval_minutes", 0}, {"grace_seconds", 0}}}}.dump();
  auto args = ServerProcess::serve_args(data);
  args.insert(args.end(), {"--auth", "--config", config.string()});
  ServerProcess server(args, dir.path() / "server.log");
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  Client c(server.port());
  auto as = [](std::string who) {
    return Headers{{"Authorization", "Basic " + auth::base64_encode(who + ":pw")}};
  };
  EXPECT_EQ(c.post("/admin/gc").status, 401u);
  EXPECT_EQ(c.post("/admin/gc", "", as("dev")).error_code(), "DENIED");
  EXPECT_EQ(c.del("/admin/repositories/team/app", as("dev")).error_code(), "DENIED");
  ::setenv("DRYDOCK_PASSWORD", "pw", 1);
  auto refused = run_cli({"gc", "--server", url, "--user", "dev"});
  EXPECT_EQ(refused.status.exit_code, 1);
  EXPECT_NE(refused.err.find("DENIED"), std::string::npos) << refused.err;

  // dev pushes two repositories sharing a layer; root deletes one.
  Client dev(server.port());
  ByteStream bytes(3);
  std::string shared = bytes.take(100000), own = bytes.take(200000);
  auto push = [&](std::string repo, std::vector<std::string> layers) {
    PushedManifest m{.repo = repo, .tag = "1"};
    std::vector<BlobRef> refs;
    for (const auto& b : std::vector<std::string>{"{\"of\":\"" + repo + "\"}"} ) {
      auto r = dev.post("/v2/" + repo + "/blobs/uploads/?digest=" + digest_text(b), b, as("dev"));
      EXPECT_EQ(r.status, 201u) << r.body;
      m.blobs.push_back({digest_text(b), b.size()});
    }
    for (const auto& l : layers) {
      auto r = dev.post("/v2/" + repo + "/blobs/uploads/?digest=" + digest_text(l), l, as("dev"));
      EXPECT_EQ(r.status, 201u) << r.body;
      m.blobs.push_back({digest_text(l), l.size()});
    }
    m.body = image_manifest(m.blobs[0], {m.blobs.begin() + 1, m.blobs.end()});
    Headers h = as("dev");
    h.emplace_back("Content-Type", std::string(kOciManifestType));
    auto r = dev.put("/v2/" + repo + "/manifests/1", m.body, h);
    EXPECT_EQ(r.status, 201u) << r.body;
    m.digest = r.header("Docker-Content-Digest");
    return m;
  };
  PushedManifest app = push("team/app", {shared, own});
  PushedManifest keep = push("team/keep", {shared});
  auto before = disk_usage(data);
  EXPECT_EQ(c.del("/admin/repositories/team/app", as("root")).status, 202u);
  EXPECT_EQ(c.del("/admin/repositories/team/app", as("root")).error_code(), "NAME_UNKNOWN");
  EXPECT_EQ(c.get("/v2/team/app/manifests/1", as("root")).status, 404u);
  auto done = run_cli({"gc", "--server", url, "--user", "root", "--json"}, 60s);
  ::unsetenv("DRYDOCK_PASSWORD");
  ASSERT_EQ(done.status.exit_code, 0) << done.err;
  auto report = json::parse(done.out);
  EXPECT_EQ(report["blobs_deleted"], 3);  // app's manifest, config and own layer
  EXPECT_EQ(report["bytes_freed"], app.body.size() + app.blobs[0].size + own.size());
  EXPECT_EQ(before.first - disk_usage(data).first, report["bytes_freed"].get<std::uint64_t>());
  auto pulled = c.get("/v2/team/keep/blobs/" + keep.blobs[1].digest, as("root"));
  EXPECT_EQ(pulled.status, 200u);
  EXPECT_EQ(pulled.body, shared);
}

TEST(ProcessGc, RetentionFromTheConfigKeepsTheNewestTagsAndMatchingOnes) {
  ScratchDir dir;
  json rule = {{"repositories", "ret/**"}, {"keep_last", 1}, {"keep_tags", "v[0-9]+"}};
  GcServer s(dir, {{"interval_minutes", 0}, {"grace_seconds", 0}, {"retention", {rule}}});
  Client c(s.server->port());
  std::vector<PushedManifest> pushed;
  for (std::string tag : {"v1", "old", "newer", "newest"}) {
    pushed.push_back(push_image(c, "ret/app", tag, {"layer of " + tag}, "{\"" + tag + "\":1}"));
    std::this_thread::sleep_for(1100ms);  // push times are whole seconds
  }
  PushedManifest other = push_image(c, "other/app", "old", {"other layer"}, "{}");
  json plan = run_json({"gc", "--dry-run", "--json", "--server", s.url()});
  EXPECT_EQ(plan["tags_deleted"], json::array({"ret/app:newer", "ret/app:old"}));
  EXPECT_EQ(plan["blobs_deleted"], 6);
  ASSERT_EQ(check_pull(c, pushed[1], "old"), "");  // the dry run changed nothing

  json done = run_json({"gc", "--json", "--server", s.url()});
  EXPECT_EQ(done["tags_deleted"], plan["tags_deleted"]);
  EXPECT_EQ(done["bytes_freed"], plan["bytes_freed"]);
  EXPECT_EQ(c.get("/v2/ret/app/manifests/old").status, 404u);
  EXPECT_EQ(c.get("/v2/ret/app/manifests/" + pushed[2].digest).status, 404u);
  EXPECT_EQ(check_pull(c, pushed[0], "v1"), "");
  EXPECT_EQ(check_pull(c, pushed[3], "newest"), "");
  EXPECT_EQ(check_pull(c, other, "old"), "");
}

// Everything the stress test pushed and whether it is still meant to exist.
struct Ledger {
  std::mutex mu;
  std::vector<PushedManifest> pushed;  // every image acknowledged (201)
  std::vector<PushedManifest> live;    // those not deleted (pullers pick from these)
  std::set<std::string> deleted;       // digests deleted (or being deleted)
  std::vector<std::string> failures;
  std::uint64_t deleted_images = 0;

  void fail(std::string what) {
    std::lock_guard lock(mu);
    if (failures.size() < 50) failures.push_back(std::move(what));
  }
};

void pusher(std::uint16_t port, int id, std::chrono::steady_clock::time_point until,
            const std::string& base, Ledger& ledger) {
  Client c(port);
  std::mt19937_64 rng(id);
  std::string repo = "stress/p" + std::to_string(id);
  std::vector<PushedManifest> mine;
  for (int n = 0; std::chrono::steady_clock::now() < until; ++n) {
    std::string unique(64u << 10, '\0');
    for (auto& ch : unique) ch = static_cast<char>(rng());
    std::string config = R"({"pusher":)" + std::to_string(id) + R"(,"n":)" + std::to_string(n) + "}";
    try {
      PushedManifest m = push_image(c, repo, "t" + std::to_string(n), {base, unique}, config);
      {
        std::lock_guard lock(ledger.mu);
        ledger.pushed.push_back(m);
        ledger.live.push_back(m);
      }
      mine.push_back(std::move(m));
      // Keep the two newest images; delete the one before.
      if (mine.size() > 2) {
        PushedManifest old = mine.front();
        mine.erase(mine.begin());
        {
          std::lock_guard lock(ledger.mu);
          ledger.deleted.insert(old.digest);
          std::erase_if(ledger.live, [&](const auto& l) { return l.digest == old.digest; });
        }
        auto r = c.del("/v2/" + repo + "/manifests/" + old.digest);
        if (r.status != 202) ledger.fail("delete " + old.digest + ": " + std::to_string(r.status));
        std::lock_guard lock(ledger.mu);
        ++ledger.deleted_images;
      }
    } catch (const std::exception& e) {
      ledger.fail(repo + " push " + std::to_string(n) + ": " + e.what());
      c.disconnect();
    }
  }
}

void puller(std::uint16_t port, int id, std::chrono::steady_clock::time_point until,
            Ledger& ledger, std::atomic<std::uint64_t>& pulls) {
  Client c(port);
  std::mt19937 rng(1000 + id);
  while (std::chrono::steady_clock::now() < until) {
    std::optional<PushedManifest> m;
    {
      std::lock_guard lock(ledger.mu);
      if (!ledger.live.empty()) m = ledger.live[rng() % ledger.live.size()];
    }
    if (!m) {
      std::this_thread::sleep_for(10ms);
      continue;
    }
    std::string problem;
    try {
      problem = check_pull(c, *m, m->digest);
    } catch (const std::exception& e) {
      problem = e.what();
      c.disconnect();
    }
    std::lock_guard lock(ledger.mu);
    if (problem.empty()) {
      ++pulls;
    } else if (!ledger.deleted.contains(m->digest)) {  // deleted meanwhile: 404 is right
      if (ledger.failures.size() < 50) ledger.failures.push_back("pull " + m->digest + ": " + problem);
    }
  }
}

TEST(ProcessGc, ThirtyTwoPushersAndEightPullersWhileCollectionLoops) {
  constexpr int kPushers = 32, kPullers = 8;
  constexpr auto kRun = 60s;
  constexpr int kGrace = 10;
  ScratchDir dir;
  GcServer s(dir, {{"interval_minutes", 0}, {"grace_seconds", kGrace}});
  fs::path data = dir.path() / "data";
  std::uint16_t port = s.server->port();
  ByteStream bytes(5);
  const std::string base = bytes.take(1u << 20);  // every image's first layer

  Ledger ledger;
  std::atomic<std::uint64_t> pulls{0};
  std::atomic<bool> stop{false};
  std::uint64_t gc_runs = 0, freed_during = 0;
  auto until = std::chrono::steady_clock::now() + kRun;
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushers; ++i) {
    threads.emplace_back([&, i] { pusher(port, i, until, base, ledger); });
  }
  for (int i = 0; i < kPullers; ++i) {
    threads.emplace_back([&, i] { puller(port, i, until, ledger, pulls); });
  }
  std::thread collector([&] {
    Client c(port);
    while (!stop) {
      try {
        auto r = c.post("/admin/gc");
        if (r.status != 200) ledger.fail("gc: " + std::to_string(r.status) + " " + r.body);
        freed_during += r.json().value("bytes_freed", 0ULL);
        ++gc_runs;
      } catch (const std::exception& e) {
        ledger.fail(std::string("gc: ") + e.what());
        c.disconnect();
      }
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  collector.join();
  ASSERT_EQ(join(ledger.failures), "");

  // Past the grace period, one more collection takes the rest of the
  // deleted images.
  std::this_thread::sleep_for(std::chrono::seconds(kGrace + 1));
  Client c(port);
  auto last = c.post("/admin/gc");
  ASSERT_EQ(last.status, 200u) << last.body;
  std::uint64_t freed = freed_during + last.json().value("bytes_freed", 0ULL);

  // Every acknowledged image not deleted pulls whole; the store holds
  // exactly their blobs.
  std::map<std::string, std::uint64_t> expected;  // digest -> size
  std::size_t live = 0;
  for (const auto& m : ledger.pushed) {
    if (ledger.deleted.contains(m.digest)) continue;
    ++live;
    EXPECT_EQ(check_pull(c, m, m.tag), "") << m.repo << ":" << m.tag;
    expected[m.digest] = m.body.size();
    for (const auto& b : m.blobs) expected[b.digest] = b.size;
  }
  std::uint64_t expected_bytes = 0;
  for (const auto& [_, size] : expected) expected_bytes += size;
  auto [disk_bytes, disk_files] = disk_usage(data);
  EXPECT_EQ(disk_files, expected.size());
  EXPECT_EQ(disk_bytes, expected_bytes);
  std::size_t files = 0;
  EXPECT_EQ(join(audit_blob_files(data, files)), "");
  EXPECT_EQ(join(audit_metadata(data)), "");
  EXPECT_GT(ledger.deleted_images, 0u);
  EXPECT_GT(gc_runs, 1u);
  EXPECT_GT(pulls.load(), 0u);
  std::printf(
      "[ stress  ] %d pushers, %d pullers, %lld s: %zu images pushed, %llu deleted, %zu live; "
      "%llu pulls verified; %llu collections; reclaimed %.1f MiB; store %.1f MiB in %zu blobs "
      "(= the live images' blobs)\n",
      kPushers, kPullers, static_cast<long long>(kRun.count()), ledger.pushed.size(),
      static_cast<unsigned long long>(ledger.deleted_images), live,
      static_cast<unsigned long long>(pulls.load()), static_cast<unsigned long long>(gc_runs + 1),
      static_cast<double>(freed) / (1 << 20), static_cast<double>(disk_bytes) / (1 << 20),
      disk_files);
}

}  // namespace
}  // namespace drydock::testing
