// run_build end to end: real runc, overlay snapshots and stores in a temp dir;
// every result is read back from the store (manifest, config, layers).
#include "builder/executor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "tests/builder/executor_test_util.hpp"

namespace drydock::builder::test_util {
namespace {

using ExecBuild = ExecFixture;

TEST_F(ExecBuild, ScratchCopyFileAndDirectoryContents) {
  context_file("hello.txt", "hello\n");
  context_file("dir/a.txt", "a\n");
  context_file("dir/sub/b.txt", "b\n");
  auto r = build("FROM scratch\nCOPY hello.txt /hello.txt\nCOPY dir/ /d/\nCOPY dir/*.txt /g/\n");
  ASSERT_TRUE(r) << r.error().to_string();
  fs::path root = flatten(*r);
  EXPECT_EQ(read_file(root / "hello.txt"), "hello\n");
  EXPECT_EQ(read_file(root / "d/a.txt"), "a\n");
  EXPECT_EQ(read_file(root / "d/sub/b.txt"), "b\n");
  EXPECT_EQ(read_file(root / "g/a.txt"), "a\n");
  EXPECT_EQ(config_["rootfs"]["diff_ids"].size(), 3u);
  EXPECT_EQ(config_["history"][0]["created_by"], "COPY hello.txt /hello.txt # buildkit");
  // BuildKit's empty image: WorkingDir "/" and a PATH.
  EXPECT_EQ(config_["config"]["WorkingDir"], "/");
  EXPECT_EQ(config_["config"]["Env"][0],
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_EQ(meta_->resolve_tag("test/out", "latest").value(), r->manifest);
}

TEST_F(ExecBuild, RunWritesAFileIntoTheImage) {
  auto r = build("FROM base/busybox:1\nRUN echo hi > /out.txt\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(read_file(flatten(*r) / "out.txt"), "hi\n");
  EXPECT_NE(log_.find("#1 [stage-0 1/2] FROM base/busybox:1\n"), std::string::npos) << log_;
  EXPECT_NE(log_.find("#2 [stage-0 2/2] RUN echo hi > /out.txt\n"), std::string::npos) << log_;
  EXPECT_EQ(config_["rootfs"]["diff_ids"].size(), 2u);
  EXPECT_EQ(config_["history"].back()["created_by"],
            "RUN /bin/sh -c echo hi > /out.txt # buildkit");
  // The runtime's mount stubs are not part of the layer.
  fs::path layer = last_layer(*r);
  EXPECT_TRUE(fs::exists(layer / "out.txt"));
  EXPECT_FALSE(lexists(layer / "etc"));
  EXPECT_FALSE(lexists(layer / "proc"));
  EXPECT_FALSE(lexists(layer / "dev"));
}

TEST_F(ExecBuild, RunThatChangesNothingHasNoLayer) {
  auto r = build("FROM base/busybox:1\nRUN true\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(config_["rootfs"]["diff_ids"].size(), 1u);
  EXPECT_EQ(config_["history"].back()["empty_layer"], true);
}

TEST_F(ExecBuild, RunDeletingABaseFileWritesAWhiteout) {
  auto r = build("FROM base/busybox:1\nRUN rm /etc/group\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_TRUE(is_whiteout(last_layer(*r) / "etc/group"));
  fs::path root = flatten(*r);
  EXPECT_FALSE(lexists(root / "etc/group"));
  EXPECT_TRUE(lexists(root / "etc/passwd"));
}

TEST_F(ExecBuild, MultiStageBuildsOnlyWhatTheTargetNeeds) {
  const std::string df =
      "FROM base/busybox:1 AS a\nRUN echo from-a > /a\n"
      "FROM base/busybox:1 AS unused\nRUN echo UNUSED-STAGE\n"
      "FROM scratch\nCOPY --from=a /a /copied\n";
  auto r = build(df);
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(log_.find("UNUSED-STAGE"), std::string::npos) << log_;
  EXPECT_EQ(read_file(flatten(*r) / "copied"), "from-a\n");
  EXPECT_EQ(r->stages_built, 2u);
  auto t = build(df, {}, "unused");
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_NE(log_.find("UNUSED-STAGE"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("from-a"), std::string::npos) << log_;
  EXPECT_EQ(t->stages_built, 1u);
}

TEST_F(ExecBuild, IndependentStagesRunAtOnce) {
  // Each stage's RUN waits (up to 10 s) for the other's to start, through a
  // cache mount both share: built one after the other, the first gives up.
  auto stage = [](const std::string& me, const std::string& other) {
    return "FROM base/busybox:1 AS " + me + "\n" +
           "RUN --mount=type=cache,id=meet,target=/meet,sharing=shared "
           "touch /meet/" + me + " && i=0 && while [ ! -e /meet/" + other + " ]; do "
           "sleep 0.05; i=$((i+1)); [ $i -lt 200 ] || exit 7; done && echo " + me + " > /" + me +
           "\n";
  };
  auto r = build(stage("a", "b") + stage("b", "a") +
                 "FROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  fs::path root = flatten(*r);
  EXPECT_EQ(read_file(root / "a"), "a\n");
  EXPECT_EQ(read_file(root / "b"), "b\n");
  EXPECT_EQ(r->stages_built, 3u);
  // Step numbers stay unique in the log.
  for (int n = 1; n <= 7; ++n) {
    auto at = log_.find("#" + std::to_string(n) + " [");
    EXPECT_NE(at, std::string::npos) << n << log_;
    EXPECT_EQ(log_.find("#" + std::to_string(n) + " [", at + 1), std::string::npos) << n << log_;
  }
}

TEST_F(ExecBuild, AFailingStageStopsTheStagesBesideIt) {
  auto start = std::chrono::steady_clock::now();
  auto r = build(
      "FROM base/busybox:1 AS slow\nRUN sleep 100\n"
      "FROM base/busybox:1 AS broken\nRUN sleep 0.5 && exit 3\n"
      "FROM scratch\nCOPY --from=slow /etc/passwd /a\nCOPY --from=broken /etc/passwd /b\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, BuildErrc::kStepFailed) << r.error().to_string();
  EXPECT_NE(r.error().to_string().find("exit 3"), std::string::npos) << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(meta_->resolve_tag("test/out", "latest").value(), std::nullopt);
}

TEST_F(ExecBuild, AnImmutableTagRefusesTheCommitAndStays) {
  now_ = 1700000000;  // the same image twice, whatever second each build ends in
  meta_->set_immutable_tags([](std::string_view, std::string_view tag)
                                -> std::optional<std::string> {
    if (tag == "latest") return "tags latest";
    return std::nullopt;
  });
  context_file("a.txt", "one\n");
  auto first = build("FROM scratch\nCOPY a.txt /\n");
  ASSERT_TRUE(first) << first.error().to_string();
  // The same image again: nothing moves.
  ASSERT_TRUE(build("FROM scratch\nCOPY a.txt /\n"));
  context_file("a.txt", "two\n");
  auto second = build("FROM scratch\nCOPY a.txt /\n");
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().to_string().find("immutable"), std::string::npos)
      << second.error().to_string();
  EXPECT_EQ(meta_->resolve_tag("test/out", "latest").value(), first->manifest);
}

TEST_F(ExecBuild, ABuildIntoAFullNamespaceFailsNamingTheQuota) {
  now_ = 1700000000;  // the same image twice, whatever second each build ends in
  context_file("a.txt", "one\n");
  auto first = build("FROM scratch\nCOPY a.txt /\n");
  ASSERT_TRUE(first) << first.error().to_string();
  auto held = meta_->namespace_usage("test").value();
  ASSERT_EQ(held.size(), 1u);
  storage::QuotaLimits q;
  q.namespaces["test"] = held[0].used;  // full
  meta_->set_quotas(q);
  // The same image again adds nothing: allowed.
  ASSERT_TRUE(build("FROM scratch\nCOPY a.txt /\n"));
  context_file("a.txt", "two\n");
  auto second = build("FROM scratch\nCOPY a.txt /\n");
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().to_string().find("quota exceeded for namespace \"test\""),
            std::string::npos)
      << second.error().to_string();
  EXPECT_EQ(meta_->resolve_tag("test/out", "latest").value(), first->manifest);
  EXPECT_EQ(meta_->namespace_usage("test").value()[0].used, held[0].used);
}

TEST_F(ExecBuild, ArgsAndEnvExpandInCopyWorkdirAndEnv) {
  context_file("hello.txt", "hello\n");
  auto r = build(
      "ARG BASE=base/busybox:1\nARG DIR=/x\nFROM ${BASE}\nARG DIR\nARG NAME=def\n"
      "ENV D=${NAME}-env\nWORKDIR /w/${NAME}\nCOPY hello.txt ${DIR}/\nCOPY hello.txt rel.txt\n"
      "RUN echo \"run sees $NAME $D\"\n",
      {{"NAME", "over"}});
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  fs::path root = flatten(*r);
  EXPECT_EQ(read_file(root / "x/hello.txt"), "hello\n");
  EXPECT_EQ(read_file(root / "w/over/rel.txt"), "hello\n");
  EXPECT_EQ(config_["config"]["WorkingDir"], "/w/over");
  auto env = config_["config"]["Env"].dump();
  EXPECT_NE(env.find("D=over-env"), std::string::npos) << env;
  EXPECT_EQ(env.find("NAME"), std::string::npos) << env;  // build args are not in the image
  EXPECT_NE(log_.find("run sees over over-env"), std::string::npos) << log_;
}

TEST_F(ExecBuild, UserAppRunsAsUid1000) {
  auto r = build("FROM base/busybox:1\nUSER app\nRUN echo uid=$(id -u)\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_NE(log_.find("uid=1000"), std::string::npos) << log_;
  EXPECT_EQ(config_["config"]["User"], "app");
}

TEST_F(ExecBuild, ConfigInstructionsReachTheConfig) {
  auto r = build(
      "FROM base/busybox:1\nSHELL [\"/bin/sh\", \"-ec\"]\nCMD echo hi\nENTRYPOINT [\"/bin/sh\"]\n"
      "EXPOSE 80 53/udp 8000-8001\nLABEL a=b \"c d\"=e\nENV K=v\nVOLUME /data\nSTOPSIGNAL SIGINT\n"
      "HEALTHCHECK --interval=5s --retries=3 CMD true\nWORKDIR /app\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  const auto& c = config_["config"];
  EXPECT_EQ(c["Cmd"], nlohmann::json({"/bin/sh", "-ec", "echo hi"}));
  EXPECT_EQ(c["Entrypoint"], nlohmann::json({"/bin/sh"}));
  EXPECT_EQ(c["Shell"], nlohmann::json({"/bin/sh", "-ec"}));
  EXPECT_TRUE(c["ExposedPorts"].contains("80/tcp"));
  EXPECT_TRUE(c["ExposedPorts"].contains("53/udp"));
  EXPECT_TRUE(c["ExposedPorts"].contains("8001/tcp"));
  EXPECT_EQ(c["Labels"]["c d"], "e");
  EXPECT_TRUE(c["Volumes"].contains("/data"));
  EXPECT_EQ(c["StopSignal"], "SIGINT");
  EXPECT_EQ(c["Healthcheck"]["Interval"], 5000000000LL);
  EXPECT_EQ(c["Healthcheck"]["Test"], nlohmann::json({"CMD-SHELL", "true"}));
  EXPECT_EQ(c["WorkingDir"], "/app");
  EXPECT_TRUE(fs::is_directory(flatten(*r) / "app"));
}

TEST_F(ExecBuild, EntrypointResetsTheInheritedCmd) {
  auto r = build("FROM base/busybox:1\nENTRYPOINT [\"/bin/echo\"]\n");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_FALSE(config_["config"].contains("Cmd")) << config_.dump();
}

TEST_F(ExecBuild, OnbuildTriggersRunInTheChild) {
  auto p = build("FROM base/busybox:1\nONBUILD RUN echo triggered > /trig\n");
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(config_["config"]["OnBuild"], nlohmann::json({"RUN echo triggered > /trig"}));
  auto r = build("FROM test/out:latest\nRUN cat /trig\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(read_file(flatten(*r) / "trig"), "triggered\n");
  EXPECT_FALSE(config_["config"].contains("OnBuild"));
}

TEST_F(ExecBuild, ErrorsNameTheLineAndInstruction) {
  auto r = build("FROM base/busybox:1\nRUN echo ok\nRUN exit 3\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, BuildErrc::kStepFailed);
  EXPECT_EQ(r.error().line, 3);
  EXPECT_EQ(r.error().instruction, "RUN exit 3");
  EXPECT_NE(r.error().message.find("returned a non-zero code: 3"), std::string::npos);

  r = build("FROM scratch\nCOPY missing.txt /\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, BuildErrc::kContext);
  EXPECT_EQ(r.error().line, 2);

  r = build("FROM scratch\nCOPY ../escape /\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("outside the build context"), std::string::npos);

  r = build("FROM scratch\nADD http://example.com/x /\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("network sources are not supported"), std::string::npos);

  r = build("FROM scratch AS a\nFROM scratch\n", {}, "nope");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nope"), std::string::npos);

  r = build("FROM scratch\n\nFROM no/such:image\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, BuildErrc::kBaseImage);
  EXPECT_EQ(r.error().line, 3);
  EXPECT_EQ(meta_->resolve_tag("test/out", "latest").value(), std::nullopt);
}

TEST_F(ExecBuild, CancelKillsTheRunningStepAndTagsNothing) {
  std::stop_source stop;
  std::jthread canceller([&] {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop.request_stop();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = build("FROM base/busybox:1\nRUN sleep 100\n", {}, "", stop.get_token());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, BuildErrc::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(meta_->resolve_tag("test/out", "latest").value(), std::nullopt);
}

TEST_F(ExecBuild, RunHasOnlyLoopbackNetwork) {
  auto r = build("FROM base/busybox:1\nRUN cat /proc/net/dev\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_NE(log_.find("lo:"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("eth"), std::string::npos) << log_;
}

TEST_F(ExecBuild, ChownChmodAndAddArchive) {
  context_file("f.txt", "f\n");
  fs::path tarsrc = dir_.path() / "tarsrc";
  write_file(tarsrc / "inner/x.txt", "x\n");
  ASSERT_EQ(std::system(("tar -C " + tarsrc.string() + " -czf " +
                         (dir_.path() / "ctx/a.tar.gz").string() + " inner")
                            .c_str()),
            0);
  auto r = build(
      "FROM base/busybox:1\nARG M=600\nCOPY --chown=app --chmod=$M f.txt /f.txt\n"
      "COPY --chown=7:8 f.txt /g.txt\nCOPY --chown=12 f.txt /h.txt\nADD a.tar.gz /t/\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  fs::path root = flatten(*r);
  struct stat st {};
  ASSERT_EQ(::stat((root / "f.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(read_file(root / "t/inner/x.txt"), "x\n");
  ASSERT_EQ(::stat((root / "g.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_gid, 8u);
  ASSERT_EQ(::stat((root / "h.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 12u);
}

TEST_F(ExecBuild, HeredocsInRunAndCopy) {
  auto r = build(
      "FROM base/busybox:1\nARG V=val\n"
      "RUN <<EOF\necho script-ran > /s\necho \"v=$V\" >> /s\nEOF\n"
      "RUN cat <<EOF > /c\nfrom-cat\nEOF\n"
      "RUN <<EOT\n#!/bin/sh\necho shebang > /sb\nEOT\n"
      "COPY <<EOF /h.txt\nheredoc ${V}\nEOF\n"
      "COPY --chmod=755 <<A <<B /dir/\na\nA\nb\nB\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  fs::path root = flatten(*r);
  EXPECT_EQ(read_file(root / "s"), "script-ran\nv=val\n");
  EXPECT_EQ(read_file(root / "c"), "from-cat\n");
  EXPECT_EQ(read_file(root / "sb"), "shebang\n");
  EXPECT_FALSE(lexists(root / "dev/pipes"));
  EXPECT_EQ(read_file(root / "h.txt"), "heredoc val\n");
  EXPECT_EQ(read_file(root / "dir/A"), "a\n");
  EXPECT_EQ(read_file(root / "dir/B"), "b\n");
  struct stat st {};
  ASSERT_EQ(::stat((root / "dir/B").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST_F(ExecBuild, CopyFromStageIndexImageAndSymlinkSource) {
  context_file("real.txt", "real\n");
  ASSERT_EQ(::symlink("real.txt", (dir_.path() / "ctx/link.txt").c_str()), 0);
  auto r = build(
      "FROM base/busybox:1\nRUN echo zero > /z\n"
      "FROM scratch\nCOPY --from=0 /z /z\nCOPY --from=base/busybox:1 /etc/passwd /p\n"
      "COPY link.txt /l.txt\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  fs::path root = flatten(*r);
  EXPECT_EQ(read_file(root / "z"), "zero\n");
  EXPECT_NE(read_file(root / "p").find("app:x:1000"), std::string::npos);
  EXPECT_FALSE(fs::is_symlink(root / "l.txt"));
  EXPECT_EQ(read_file(root / "l.txt"), "real\n");
}

TEST_F(ExecBuild, UnsupportedPlatformIsAnError) {
  auto r = build("FROM --platform=linux/arm64 scratch\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().line, 1);
}

TEST_F(ExecBuild, StepTimeoutFailsTheBuild) {
  step_timeout_ = std::chrono::seconds(1);
  auto r = build("FROM base/busybox:1\nRUN sleep 100\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, BuildErrc::kStepFailed);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
}

TEST_F(ExecBuild, BaseByDigestAndWithARegistryHost) {
  auto d = meta_->resolve_tag("base/busybox", "1").value();
  ASSERT_TRUE(d);
  auto r = build("FROM base/busybox@" + d->str() + " AS a\n" +
                 "FROM localhost:5000/base/busybox:1 AS b\nCOPY --from=a /etc/passwd /p1\n" +
                 "FROM registry.example.com/base/busybox:1\nCOPY --from=b /p1 /p2\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(r->stages_built, 3u);
  EXPECT_NE(read_file(flatten(*r) / "p2").find("app:x:1000"), std::string::npos);
}

TEST_F(ExecBuild, RunHistoryListsBuildArgs) {
  auto r = build("FROM base/busybox:1\nARG A=1\nARG B\nRUN echo $A > /a\n", {{"B", "2"}});
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(config_["history"].back()["created_by"],
            "RUN |2 A=1 B=2 /bin/sh -c echo $A > /a # buildkit");
  EXPECT_EQ(read_file(flatten(*r) / "a"), "1\n");
}

TEST_F(ExecBuild, IndexBasePicksLinuxAmd64) {
  auto base = meta_->resolve_tag("base/busybox", "1").value();
  ASSERT_TRUE(base);
  auto rec = meta_->get_manifest("base/busybox", *base).value();
  ASSERT_TRUE(rec);
  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.index.v1+json"},
                          {"manifests",
                           {{{"mediaType", kOciManifestType},
                             {"digest", "sha256:" + std::string(64, '0')},
                             {"size", 1},
                             {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}},
                            {{"mediaType", kOciManifestType},
                             {"digest", base->str()},
                             {"size", rec->size},
                             {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}}}};
  std::string text = index.dump();
  auto d = storage::digest_of(text);
  ASSERT_TRUE(blobs_->put(text, d));
  storage::ManifestRecord m{
      "base/busybox", d, "application/vnd.oci.image.index.v1+json", text.size(), std::nullopt, "",
      "{}",           1};
  std::vector<storage::ManifestRef> refs{{*base, storage::RefKind::kManifest}};
  auto put = meta_->put_manifest(m, refs, std::string_view("multi"));
  ASSERT_TRUE(put);
  ASSERT_TRUE(put->missing.empty());
  auto r = build("FROM base/busybox:multi\nRUN echo ok > /ok\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(read_file(flatten(*r) / "ok"), "ok\n");
}

TEST_F(ExecBuild, RunSpecCarriesEnvArgsUserWorkdirAndLimits) {
  FakeRuntime fake;
  runtime_ = &fake;
  limits_.memory_bytes = 256u << 20;
  limits_.pids = 64;
  auto r = build("FROM base/busybox:1\nARG A=1\nENV E=2\nWORKDIR /w\nUSER app\nRUN [\"id\"]\n",
                 {{"HTTP_PROXY", "http://proxy"}, {"UNDECLARED", "x"}});
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  auto calls = fake.calls();
  ASSERT_EQ(calls.size(), 1u);
  const RunSpec& spec = calls[0];
  EXPECT_EQ(spec.args, std::vector<std::string>{"id"});
  auto has = [&](const std::string& kv) {
    return std::find(spec.env.begin(), spec.env.end(), kv) != spec.env.end();
  };
  EXPECT_TRUE(has("A=1"));
  EXPECT_TRUE(has("E=2"));
  EXPECT_TRUE(has("HTTP_PROXY=http://proxy"));
  EXPECT_FALSE(has("UNDECLARED=x"));
  EXPECT_EQ(spec.cwd, "/w");
  EXPECT_EQ(spec.user.uid, 1000u);
  EXPECT_EQ(spec.user.gid, 1000u);
  EXPECT_EQ(spec.network, NetworkMode::kNone);
  EXPECT_EQ(spec.limits.memory_bytes, 256u << 20);
  EXPECT_EQ(spec.limits.pids, 64);
  EXPECT_EQ(config_["history"].back()["created_by"], "RUN |1 A=1 id # buildkit");
  EXPECT_EQ(config_["config"]["Env"].dump().find("PROXY"), std::string::npos);
}

TEST_F(ExecBuild, CopyWholeContextAndDestinationRules) {
  context_file("a.txt", "a\n");
  context_file("b.txt", "b\n");
  context_file("sub/c.txt", "c\n");
  auto r = build("FROM scratch\nCOPY . /app\nCOPY *.txt /globbed\n");
  ASSERT_TRUE(r) << r.error().to_string();
  fs::path root = flatten(*r);
  EXPECT_EQ(read_file(root / "app/a.txt"), "a\n");
  EXPECT_EQ(read_file(root / "app/sub/c.txt"), "c\n");
  EXPECT_EQ(read_file(root / "globbed/b.txt"), "b\n");
  auto bad = build("FROM scratch\nCOPY a.txt b.txt /nodir\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("must be a directory"), std::string::npos);
  auto none = build("FROM scratch\nCOPY *.nothing /x/\n");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, BuildErrc::kContext);
}

TEST_F(ExecBuild, OnbuildCopyFromAStageBuildsThatStage) {
  auto r = build(
      "FROM base/busybox:1 AS src\nRUN echo s > /s\n"
      "FROM base/busybox:1 AS parent\nONBUILD COPY --from=src /s /s\n"
      "FROM parent\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_EQ(read_file(flatten(*r) / "s"), "s\n");
}

TEST_F(ExecBuild, CopyFollowsSymlinksInTheDestination) {
  context_file("f.txt", "f\n");
  auto r = build(
      "FROM base/busybox:1\nRUN mkdir -p /usr/real && ln -s /usr/real /linked && "
      "ln -s real /usr/rel\nCOPY f.txt /linked/a.txt\nCOPY f.txt /usr/rel/\nCOPY f.txt /linked\n"
      "WORKDIR /linked/wd\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  fs::path root = flatten(*r);
  EXPECT_TRUE(fs::is_symlink(root / "linked"));
  EXPECT_EQ(read_file(root / "usr/real/a.txt"), "f\n");
  EXPECT_EQ(read_file(root / "usr/real/f.txt"), "f\n");
  EXPECT_TRUE(fs::is_directory(root / "usr/real/wd"));
  EXPECT_EQ(config_["config"]["WorkingDir"], "/linked/wd");
}

TEST_F(ExecBuild, SourceSymlinksResolveInsideTheSourceRoot) {
  ASSERT_EQ(::symlink("/etc/passwd", (dir_.path() / "ctx/host").c_str()), 0);
  auto r = build("FROM scratch\nCOPY host /h\n");
  ASSERT_FALSE(r);  // the context has no etc/passwd: the host's is never read
  EXPECT_EQ(r.error().code, BuildErrc::kContext);
  r = build(
      "FROM base/busybox:1 AS a\nRUN ln -s /etc/passwd /abs\n"
      "FROM scratch\nCOPY --from=a /abs /p\n");
  ASSERT_TRUE(r) << r.error().to_string() << log_;
  EXPECT_NE(read_file(flatten(*r) / "p").find("app:x:1000"), std::string::npos);
}

}  // namespace
}  // namespace drydock::builder::test_util
