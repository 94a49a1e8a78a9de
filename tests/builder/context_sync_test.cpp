#include "builder/context_sync.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tests/builder/layer_test_util.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using testing::set_mtime;
using testing::TempDir;
using testing::write_file;

using Names = std::vector<std::string>;

class DiscardSink final : public LayerSink {
 public:
  LayerResult<void> write(std::span<const std::byte>) override { return {}; }
};

// What one client round did.
struct Round {
  Names needed;             // paths the server asked for
  std::uint64_t deleted = 0;
  std::optional<SyncedContext> synced;
  std::optional<SyncError> error;
};

class ContextSyncTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }

  fs::path ctx() const { return tmp_.path() / "ctx"; }
  fs::path root() const { return tmp_.path() / "kept"; }
  fs::path update() const { return tmp_.path() / "update.tar"; }

  void reopen(std::uint64_t max_bytes = 1ULL << 30, std::chrono::seconds timeout = std::chrono::seconds(600)) {
    sync_.reset();
    sync_ = ContextSync::open({.root = root(), .max_bytes = max_bytes, .session_timeout = timeout});
  }

  void put(const std::string& rel, const std::string& content = "x") {
    write_file(ctx() / rel, content);
  }

  // The client's manifest of ctx().
  std::vector<SyncEntry> manifest(const ContextPackOptions& base = {}) {
    std::vector<SyncEntry> out;
    ContextPackOptions o = base;
    o.dir = ctx();
    o.on_entry = [&](const PackedEntry& e) { out.push_back(sync_entry(e)); };
    o.send = [](const std::string&) { return false; };
    DiscardSink sink;
    auto r = pack_context(o, sink);
    EXPECT_TRUE(r.has_value());
    return out;
  }

  // Writes update() with the entries `send` accepts.
  void write_update(const std::function<bool(const std::string&)>& send,
                    const ContextPackOptions& base = {}) {
    ContextPackOptions o = base;
    o.dir = ctx();
    o.send = send;
    int fd = ::open(update().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    FdSink sink(fd);
    auto r = pack_context(o, sink);
    ::close(fd);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  // A whole round as the client does it: manifest, begin, update, complete.
  // The session is released at once unless `keep`.
  Round round(const std::string& owner = "", const std::string& key = "k", bool keep = false) {
    Round out;
    auto entries = manifest();
    auto plan = sync_->begin(owner, key, entries);
    if (!plan) {
      out.error = plan.error();
      return out;
    }
    std::unordered_set<std::string> send;
    for (auto i : plan->need) {
      out.needed.push_back(entries[i].path);
      send.insert(entries[i].path);
    }
    out.deleted = plan->deleted;
    write_update([&](const std::string& n) { return send.contains(n); });
    auto done = sync_->complete(plan->session, owner, update(), ContextOptions{});
    if (!done) {
      out.error = done.error();
      return out;
    }
    out.synced = std::move(*done);
    session_ = plan->session;
    if (!keep) sync_->release(plan->session, owner);
    return out;
  }

  // path -> "d", "p", "l:<target>" or "f:<content>" for everything below `dir`.
  static std::map<std::string, std::string> tree_of(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
         ++it) {
      std::string rel = fs::relative(it->path(), dir).generic_string();
      auto st = it->symlink_status();
      if (fs::is_symlink(st)) {
        out[rel] = "l:" + fs::read_symlink(it->path()).string();
      } else if (fs::is_directory(st)) {
        out[rel] = "d";
      } else if (fs::is_fifo(st)) {
        out[rel] = "p";
      } else {
        std::ifstream in(it->path(), std::ios::binary);
        out[rel] = "f:" + std::string(std::istreambuf_iterator<char>(in), {});
      }
    }
    return out;
  }

  TempDir tmp_;
  std::unique_ptr<ContextSync> sync_;
  std::string session_;
};

TEST_F(ContextSyncTest, FirstRoundSendsEverythingThenNothingAndTheTreeMatches) {
  put("Dockerfile", "FROM scratch\n");
  put("src/a.txt", "a");
  put("src/deep/b.txt", "b");
  fs::create_symlink("a.txt", ctx() / "src/link");
  ASSERT_EQ(::mkfifo((ctx() / "pipe").c_str(), 0600), 0);

  Round first = round();
  ASSERT_TRUE(first.synced) << first.error->message;
  EXPECT_EQ(first.needed, (Names{"Dockerfile", "pipe", "src", "src/a.txt", "src/deep",
                                 "src/deep/b.txt", "src/link"}));
  EXPECT_EQ(first.synced->context.dockerfile, "FROM scratch\n");
  auto tree = tree_of(first.synced->tree);
  EXPECT_EQ(tree, tree_of(ctx()));

  Round second = round();
  ASSERT_TRUE(second.synced) << second.error->message;
  EXPECT_EQ(second.needed, Names{});
  EXPECT_EQ(second.synced->context.dockerfile, "FROM scratch\n");
  EXPECT_EQ(tree_of(second.synced->tree), tree);
}

TEST_F(ContextSyncTest, AChangeSendsOnlyItAndTheDirectoriesAboveAndDeletionsGo) {
  put("Dockerfile", "FROM scratch\n");
  put("src/a.txt", "a");
  put("src/deep/b.txt", "b");
  put("src/deep/c.txt", "c");
  put("other/d.txt", "d");
  put("kind", "a file first");
  ASSERT_TRUE(round().synced);

  put("src/deep/b.txt", "b, longer now");
  fs::remove(ctx() / "src/deep/c.txt");
  fs::remove_all(ctx() / "other");
  fs::remove(ctx() / "kind");
  put("kind/inside", "now a directory");
  Round r = round();
  ASSERT_TRUE(r.synced) << r.error->message;
  EXPECT_EQ(r.needed, (Names{"kind", "kind/inside", "src", "src/deep", "src/deep/b.txt"}));
  EXPECT_EQ(r.deleted, 3u);  // c.txt, other/, other/d.txt
  EXPECT_EQ(tree_of(r.synced->tree), tree_of(ctx()));

  // Same size, new mtime: sent again (content is not compared, metadata is).
  put("src/a.txt", "A");
  set_mtime(ctx() / "src/a.txt", 1'700'000'000, 5);
  r = round();
  ASSERT_TRUE(r.synced);
  EXPECT_EQ(r.needed, (Names{"src", "src/a.txt"}));
  EXPECT_EQ(tree_of(r.synced->tree), tree_of(ctx()));
}

TEST_F(ContextSyncTest, AHardLinkFollowsItsFile) {
  put("Dockerfile", "FROM scratch\n");
  put("a", "one");
  fs::create_hard_link(ctx() / "a", ctx() / "b");
  ASSERT_TRUE(round().synced);
  // The file is rewritten in place: the link must point at the new content.
  put("a", "two, longer");
  Round r = round();
  ASSERT_TRUE(r.synced);
  EXPECT_EQ(r.needed, (Names{"a", "b"}));
  struct stat sa {}, sb {};
  ASSERT_EQ(::stat((r.synced->tree / "a").c_str(), &sa), 0);
  ASSERT_EQ(::stat((r.synced->tree / "b").c_str(), &sb), 0);
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_EQ(tree_of(r.synced->tree)["b"], "f:two, longer");
}

TEST_F(ContextSyncTest, TheIgnoreFileDropsTheDockerfileFromTheTreeSoItComesAgain) {
  put("Dockerfile", "FROM scratch\n");
  put(".dockerignore", "Dockerfile\n.dockerignore\n");
  put("app.txt", "app");
  Round r = round();
  ASSERT_TRUE(r.synced);
  EXPECT_EQ(r.synced->context.dockerfile, "FROM scratch\n");
  EXPECT_EQ(tree_of(r.synced->tree), (std::map<std::string, std::string>{{"app.txt", "f:app"}}));
  r = round();
  ASSERT_TRUE(r.synced);
  EXPECT_EQ(r.needed, (Names{".dockerignore", "Dockerfile"}));
  EXPECT_EQ(r.synced->context.dockerfile, "FROM scratch\n");
  EXPECT_FALSE(fs::exists(r.synced->tree / "Dockerfile"));
}

TEST_F(ContextSyncTest, AnUpdateWithMoreOrLessThanAskedIsRefusedAndTheTreeDropped) {
  put("Dockerfile", "FROM scratch\n");
  put("a.txt", "a");
  ASSERT_TRUE(round().synced);
  put("b.txt", "b");

  // More: the whole context instead of just b.txt.
  auto entries = manifest();
  auto plan = sync_->begin("", "k", entries);
  ASSERT_TRUE(plan);
  write_update([](const std::string&) { return true; });
  auto done = sync_->complete(plan->session, "", update(), ContextOptions{});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, SyncError::Kind::kInvalid);
  EXPECT_NE(done.error().message.find("was not asked for"), std::string::npos)
      << done.error().message;
  // The session is over and the tree gone: the next round sends everything.
  EXPECT_FALSE(sync_->complete(plan->session, "", update(), ContextOptions{}));
  Round r = round();
  ASSERT_TRUE(r.synced);
  EXPECT_EQ(r.needed, (Names{"Dockerfile", "a.txt", "b.txt"}));

  // Less: nothing although a.txt changed.
  put("a.txt", "a changed");
  plan = sync_->begin("", "k", manifest());
  ASSERT_TRUE(plan);
  write_update([](const std::string&) { return false; });
  done = sync_->complete(plan->session, "", update(), ContextOptions{});
  ASSERT_FALSE(done);
  EXPECT_NE(done.error().message.find("\"a.txt\" was asked for"), std::string::npos)
      << done.error().message;
}

TEST_F(ContextSyncTest, BadManifestsAreRefusedNamingTheEntry) {
  auto bad = [](const std::string& entries) {
    auto r = parse_manifest("{\"entries\":[" + entries + "]}", 100);
    return r ? std::string("accepted") : r.error();
  };
  EXPECT_NE(bad(R"({"p":"../x","t":"f"})").find("not clean"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"/abs","t":"f"})").find("not clean"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"a/./b","t":"f"})").find("not clean"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"a/b","t":"f"})").find("directory is not listed"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"a","t":"f"},{"p":"a/b","t":"f"})").find("directory is not listed"),
            std::string::npos);
  EXPECT_NE(bad(R"({"p":"a","t":"f"},{"p":"a","t":"f"})").find("listed twice"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"h","t":"h","l":"nothing"})").find("earlier file"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"l","t":"l"})").find("target"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"f","t":"f","l":"x"})").find("target"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"d","t":"d","s":3})").find("size"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"d","t":"x"})").find("type"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"d","t":"f","m":4096})").find("range"), std::string::npos);
  EXPECT_NE(bad(R"({"p":"d","t":"f","s":-1})").find("range"), std::string::npos);
  EXPECT_EQ(bad(R"({"p":"d","t":"d"},{"p":"d/f","t":"f","s":1},{"p":"d/h","t":"h","l":"d/f"})"),
            "accepted");
  EXPECT_FALSE(parse_manifest("not json", 100));
  EXPECT_FALSE(parse_manifest(R"({"entries":{}})", 100));
  auto many = parse_manifest(R"({"entries":[{"p":"a","t":"f"},{"p":"b","t":"f"}]})", 1);
  ASSERT_FALSE(many);
  EXPECT_NE(many.error().find("more than 1"), std::string::npos);
  // What the client writes parses back to the same entries.
  std::vector<SyncEntry> entries = {
      {.path = "d", .type = 'd', .mode = 0755, .uid = 1, .gid = 2, .mtime_ns = 123456789012345},
      {.path = "d/f", .type = 'f', .mode = 0640, .mtime_ns = -5, .size = 42},
      {.path = "d/l", .type = 'l', .mode = 0777, .link = "../x"},
      {.path = "d/h", .type = 'h', .mode = 0640, .link = "d/f"}};
  auto back = parse_manifest(manifest_json(entries), 100);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, entries);
  // Keys with a slash or too long are refused.
  auto r = sync_->begin("", "../x", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, SyncError::Kind::kInvalid);
  EXPECT_FALSE(sync_->begin("", std::string(129, 'k'), {}));
}

TEST_F(ContextSyncTest, OneSessionPerTreeAndOwnersNeverShareATree) {
  put("Dockerfile", "FROM scratch\n");
  put("secret.txt", "alice's");
  ASSERT_TRUE(round("alice", "k").synced);
  Round held = round("alice", "k", /*keep=*/true);
  ASSERT_TRUE(held.synced);
  std::string alice_session = session_;
  // Busy while alice's build holds it.
  Round again = round("alice", "k");
  ASSERT_TRUE(again.error);
  EXPECT_EQ(again.error->kind, SyncError::Kind::kBusy);
  // Bob names the same key: his own tree, so he must send everything.
  Round bob = round("bob", "k");
  ASSERT_TRUE(bob.synced) << bob.error->message;
  EXPECT_EQ(bob.needed, (Names{"Dockerfile", "secret.txt"}));
  EXPECT_NE(bob.synced->tree, held.synced->tree);
  // Bob cannot complete a session of alice's.
  auto plan = sync_->begin("bob", "k2", manifest());
  ASSERT_TRUE(plan);
  write_update([](const std::string&) { return true; });
  EXPECT_FALSE(sync_->complete(plan->session, "alice", update(), ContextOptions{}));
  sync_->release(plan->session, "bob");
  // Nor release one.
  sync_->release(alice_session, "bob");
  EXPECT_TRUE(round("alice", "k").error);
  // Released: alice's next round finds her tree as it was.
  sync_->release(alice_session, "alice");
  Round after = round("alice", "k");
  ASSERT_TRUE(after.synced);
  EXPECT_EQ(after.needed, Names{});
}

TEST_F(ContextSyncTest, TreesSurviveACleanStopNotAnUncleanOne) {
  put("Dockerfile", "FROM scratch\n");
  put("a.txt", "a");
  ASSERT_TRUE(round().synced);
  reopen();
  EXPECT_EQ(round().needed, Names{});
  // A process that died leaves its in-use mark: nothing it wrote is trusted.
  sync_.reset();
  std::ofstream(root() / "in-use") << "";
  reopen();
  EXPECT_EQ(round().needed, (Names{"Dockerfile", "a.txt"}));
  // A sync that was begun and never completed leaves no manifest either.
  auto plan = sync_->begin("", "k", manifest());
  ASSERT_TRUE(plan);
  reopen();
  EXPECT_EQ(round().needed, (Names{"Dockerfile", "a.txt"}));
}

TEST_F(ContextSyncTest, LeastRecentlyUsedTreesGoPastTheLimit) {
  reopen(/*max_bytes=*/1500);
  put("Dockerfile", "FROM scratch\n");
  put("big", std::string(1000, 'x'));
  ASSERT_TRUE(round("", "one").synced);
  ASSERT_TRUE(round("", "two").synced);  // 2 x ~1000 bytes: "one" goes
  sync_->empty_trash();
  EXPECT_TRUE(fs::is_empty(root() / "trash"));
  EXPECT_EQ(round("", "two").needed, Names{});
  EXPECT_EQ(round("", "one").needed, (Names{"Dockerfile", "big"}));  // and now "two" went
  EXPECT_EQ(round("", "two").needed, (Names{"Dockerfile", "big"}));
}

TEST_F(ContextSyncTest, AnAbandonedSessionExpires) {
  reopen(1ULL << 30, std::chrono::seconds(0));
  put("Dockerfile", "FROM scratch\n");
  auto plan = sync_->begin("", "k", manifest());
  ASSERT_TRUE(plan);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Round r = round();  // the old session is dropped, not busy
  ASSERT_TRUE(r.synced) << r.error->message;
  write_update([](const std::string&) { return true; });
  auto late = sync_->complete(plan->session, "", update(), ContextOptions{});
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("unknown context session"), std::string::npos);
}

TEST_F(ContextSyncTest, ADirectoryTurnedSymlinkNeverLetsWritesOut) {
  fs::path outside = tmp_.path() / "outside";
  fs::create_directories(outside);
  write_file(outside / "x", "keep me");
  put("Dockerfile", "FROM scratch\n");
  put("a/x", "inside");
  ASSERT_TRUE(round().synced);
  fs::remove_all(ctx() / "a");
  fs::create_symlink(outside, ctx() / "a");
  Round r = round();
  ASSERT_TRUE(r.synced) << r.error->message;
  EXPECT_TRUE(fs::is_symlink(r.synced->tree / "a"));
  // Back to a directory holding x: the symlink is replaced, not followed.
  fs::remove(ctx() / "a");
  put("a/x", "inside again");
  r = round();
  ASSERT_TRUE(r.synced) << r.error->message;
  EXPECT_EQ(tree_of(r.synced->tree)["a/x"], "f:inside again");
  std::ifstream in(outside / "x");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "keep me");
}

}  // namespace
}  // namespace drydock::builder
