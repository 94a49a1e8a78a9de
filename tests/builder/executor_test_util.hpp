#pragma once
// The executor tests' fixture: real stores, a real overlay snapshotter and
// runc in a temp dir, and a busybox base image committed as base/busybox:1.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "builder/executor.hpp"
#include "builder/fake_runtime.hpp"
#include "builder/layer_unpack.hpp"
#include "builder/layer_writer.hpp"
#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"
#include "tests/builder/exec_test_util.hpp"

namespace drydock::builder::test_util {

class ExecFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access(kRunc, X_OK) != 0) GTEST_SKIP() << "needs root and runc";
    blobs_ = std::make_unique<storage::FsBlobStore>(dir_.path() / "data");
    meta_ = std::make_unique<storage::MetadataStore>(dir_.path() / "data" / "metadata.db");
    auto s = OverlaySnapshotter::open(dir_.path() / "snapshots");
    ASSERT_TRUE(s) << s.error().message;
    snap_ = std::move(*s);
    auto v = OverlaySnapshotter::open(dir_.path() / "verify");
    ASSERT_TRUE(v) << v.error().message;
    verify_ = std::move(*v);
    RuncOptions o;
    o.state_root = dir_.path() / "state";
    o.bundle_root = dir_.path() / "bundles";
    o.cgroup_parent = "drydock-exec-" + random_suffix();
    auto rt = RuncRuntime::open(o);
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
    fs::create_directories(dir_.path() / "work");
    fs::create_directories(dir_.path() / "ctx");
    make_base();
  }

  void TearDown() override {
    views_.clear();
    if (!rt_) return;
    // Nothing of a build is left behind: scratch files, views, active snapshots.
    EXPECT_TRUE(fs::is_empty(dir_.path() / "work"));
    EXPECT_TRUE(fs::is_empty(dir_.path() / "snapshots" / "active"));
    EXPECT_TRUE(fs::is_empty(dir_.path() / "bundles"));
    for (const char* c : {"pids", "memory", "cpu", "devices", "freezer", "blkio", "cpuset",
                          "cpuacct", "name=systemd", ""}) {
      if (auto d = own_cgroup_dir(c)) ::rmdir((*d / rt_->options().cgroup_parent).c_str());
    }
  }

  // Writes `dir` as one layer blob; returns it and its diff_id.
  std::pair<LayerBlob, std::string> put_tree(const fs::path& dir) {
    LayerPlan plan;
    EXPECT_TRUE(plan.add_contents(dir, ""));
    fs::path tmp = dir_.path() / "data" / ("base-" + random_suffix());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    FdSink sink(fd);
    auto info = write_layer(plan, sink);
    ::close(fd);
    EXPECT_TRUE(info);
    EXPECT_TRUE(blobs_->publish(tmp, info->digest));
    return {LayerBlob{info->digest, info->compressed_size}, info->diff_id.str()};
  }

  void make_base() {
    fs::path root = dir_.path() / "base-rootfs";
    make_busybox_rootfs(root);
    write_file(root / "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n");
    write_file(root / "etc/group", "root:x:0:\napp:x:1000:\n");
    auto [blob, diff_id] = put_tree(root);
    ImageConfig c;
    c.created = "2026-11-27T00:00:00Z";
    c.config.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    c.config.cmd = std::vector<std::string>{"sh"};
    c.diff_ids = {diff_id};
    c.history = {HistoryEntry{"2026-11-27T00:00:00Z", "busybox", "", false}};
    std::vector<LayerBlob> layers{blob};
    std::vector<ImageTarget> targets{{"base/busybox", "1"}};
    ASSERT_TRUE(commit_image(*blobs_, *meta_, c, layers, targets, 1));
  }

  void context_file(const std::string& rel, const std::string& content) {
    write_file(dir_.path() / "ctx" / rel, content);
  }

  std::expected<BuildOutcome, BuildError> build(
      const std::string& dockerfile, std::vector<std::pair<std::string, std::string>> args = {},
      std::string target = "", std::stop_token stop = {}) {
    BuildRequest req;
    req.context_dir = dir_.path() / "ctx";
    req.dockerfile_text = dockerfile;
    req.build_args = std::move(args);
    req.target = std::move(target);
    req.targets = {{"test/out", "latest"}};
    req.no_cache = no_cache_;
    req.no_cache_filter = no_cache_filter_;
    for (const auto& [k, v] : secrets_) req.secrets[k] = v;
    log_.clear();
    BuildEnv env{.blobs = *blobs_,
                 .meta = *meta_,
                 .snapshots = *snap_,
                 .runtime = runtime_ ? *runtime_ : static_cast<Runtime&>(*rt_),
                 .work_dir = dir_.path() / "work",
                 .limits = limits_,
                 .step_timeout = step_timeout_,
                 .allow_host_network = false,
                 .cache = cache_,
                 .cache_mount_dir = dir_.path() / "cache-mounts",
                 .log = [this](std::string_view s) { log_ += s; },
                 .cancel = stop,
                 .now = now_};
    auto r = run_build(req, env);
    if (r) config_ = nlohmann::json::parse(r->config_json);
    return r;
  }

  // The image's layers unpacked from the store into `verify_` and merged.
  fs::path flatten(const BuildOutcome& out) {
    auto m = nlohmann::json::parse(out.manifest_json);
    std::vector<std::string> chain;
    for (std::size_t i = 0; i < m["layers"].size(); ++i) {
      std::string id = config_["rootfs"]["diff_ids"][i];
      if (!verify_->exists(id)) {
        auto fd = blobs_->open(*storage::parse_digest(m["layers"][i]["digest"].get<std::string>()));
        EXPECT_TRUE(fd);
        EXPECT_TRUE(verify_->prepare("k", {}));
        fs::path up = *verify_->upper_dir("k");
        fs::remove(up);
        auto u = unpack_layer(fd->get(), up);
        EXPECT_TRUE(u) << u.error().message;
        EXPECT_TRUE(verify_->commit("k", id));
      }
      std::erase(chain, id);
      chain.push_back(id);
    }
    fs::path target = dir_.path() / ("flat-" + random_suffix());
    fs::create_directories(target);
    auto g = mount_guarded(*verify_->view(chain), target);
    EXPECT_TRUE(g) << g.error().message;
    views_.push_back(std::move(*g));
    return target;
  }

  // The last layer alone, unpacked.
  fs::path last_layer(const BuildOutcome& out) {
    auto m = nlohmann::json::parse(out.manifest_json);
    fs::path target = dir_.path() / ("layer-" + random_suffix());
    auto d = storage::parse_digest(m["layers"].back()["digest"].get<std::string>());
    auto fd = blobs_->open(*d);
    auto u = unpack_layer(fd->get(), target);
    EXPECT_TRUE(u) << u.error().message;
    return target;
  }

  TempDir dir_{"exec"};
  std::unique_ptr<storage::FsBlobStore> blobs_;
  std::unique_ptr<storage::MetadataStore> meta_;
  std::unique_ptr<OverlaySnapshotter> snap_;
  std::unique_ptr<OverlaySnapshotter> verify_;
  std::unique_ptr<RuncRuntime> rt_;
  std::vector<MountGuard> views_;
  std::string log_;
  Runtime* runtime_ = nullptr;  // instead of runc when set
  BuildCache* cache_ = nullptr;  // the step cache, when set
  bool no_cache_ = false;
  std::int64_t now_ = 0;  // the build's clock (image created times); 0: the real one
  std::vector<std::string> no_cache_filter_;
  std::map<std::string, std::string> secrets_;
  Limits limits_;
  std::chrono::milliseconds step_timeout_ = std::chrono::minutes(2);
  nlohmann::json config_;
};

}  // namespace drydock::builder::test_util
