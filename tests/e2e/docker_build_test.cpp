// `docker build` against Drydock's Docker Engine API (/_ping, /version,
// /build), with the real docker CLI and the classic builder
// (DOCKER_BUILDKIT=0): the image lands in the registry, runs after a pull,
// failures exit non-zero with the error, and a killed client cancels the build.
#include <unistd.h>

#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "e2e_fixture.hpp"

namespace drydock::e2e {
namespace {

using namespace std::chrono_literals;

class DockerBuild : public E2E {
 protected:
  // Pushes the busybox base and writes a context with `dockerfile`.
  void SetUpBuild(const std::string& dockerfile) {
    if (registry_ == nullptr) GTEST_SKIP();
    ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
    ASSERT_NO_FATAL_FAILURE(build_busybox_images());
    std::string digest;
    ASSERT_NO_FATAL_FAILURE(docker_push(image("e2e/busybox:1"), &digest));
    std::filesystem::create_directories(tmp_dir_ / "app");
    std::ofstream(tmp_dir_ / "app/Dockerfile") << dockerfile;
    std::ofstream(tmp_dir_ / "app/app.txt") << "application\n";
  }
  // The docker CLI talking to Drydock as if it were a daemon: DOCKER
  // (default /usr/bin/docker, 20.10), classic builder.
  std::string engine() const {
    return docker() + " -H tcp://127.0.0.1:" + std::to_string(registry_->port());
  }
  std::string tag() const { return "127.0.0.1:" + std::to_string(registry_->port()) + "/app:1"; }
  std::string curl(const std::string& path) const {
    return "curl -sS " + registry_->base_url() + path;
  }
};

TEST_F(DockerBuild, BuildsPullableImage) {
  ASSERT_NO_FATAL_FAILURE(
      SetUpBuild("FROM " + image("e2e/busybox:1") +
                 "\n"
                 "ARG GREETING=hello\n"
                 "RUN echo \"$GREETING from run\" > /greeting && echo run-output-marker\n"
                 "COPY app.txt /app/app.txt\n"
                 "LABEL from.dockerfile=yes\n"
                 "CMD [\"cat\", \"/greeting\"]\n"));
  ASSERT_COMMAND_OK(sh(engine() + " version"));
  auto build = sh(engine() + " build --build-arg GREETING=hi --label cli.label='a $b' -t " + tag() +
                  " " + tmp("app"));
  ASSERT_COMMAND_OK(build);
  const auto& out = build.output;
  EXPECT_NE(out.find("Step 1/7 : FROM " + image("e2e/busybox:1")), std::string::npos) << out;
  EXPECT_NE(out.find("Step 3/7 : RUN echo"), std::string::npos) << out;
  // The RUN's output on a line of its own (the step line names it too).
  EXPECT_NE(out.find("\nrun-output-marker\n"), std::string::npos) << out;
  // --label is a LABEL step appended to the stage, as in dockerd.
  EXPECT_NE(out.find("Step 7/7 : LABEL \"cli.label\"="), std::string::npos) << out;
  EXPECT_NE(out.find("Successfully tagged " + tag()), std::string::npos) << out;
  std::smatch built;
  ASSERT_TRUE(std::regex_search(out, built, std::regex("Successfully built ([0-9a-f]{12})")))
      << out;

  // In the registry, with the Dockerfile's labels and the client's.
  auto config = sh(curl("/v2/app/manifests/1") + " | jq -r .config.digest");
  ASSERT_COMMAND_OK(config);
  ASSERT_EQ(trim(config.output).substr(7, 12), built[1].str()) << "the ID is the config digest";
  auto labels = sh(curl("/v2/app/blobs/" + trim(config.output)) + " | jq -c .config.Labels");
  ASSERT_COMMAND_OK(labels);
  EXPECT_EQ(trim(labels.output), R"({"cli.label":"a $b","from.dockerfile":"yes"})");

  // The local daemon pulls and runs it; its ID is the one the build showed.
  ASSERT_COMMAND_OK(sh(docker() + " pull " + tag()));
  auto id = sh(docker() + " image inspect -f '{{.Id}}' " + tag());
  ASSERT_COMMAND_OK(id);
  EXPECT_EQ(trim(id.output), trim(config.output));
  auto run = sh(docker() + " run --rm --network none " + tag());
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "hi from run");
  sh(docker() + " rmi -f " + tag());

  // Again: the steps come from the cache, and the image is the same.
  auto again = sh(engine() + " build --build-arg GREETING=hi --label cli.label='a $b' -t " + tag() +
                  " " + tmp("app"));
  ASSERT_COMMAND_OK(again);
  EXPECT_NE(again.output.find("Using cache"), std::string::npos) << again.output;
  EXPECT_EQ(again.output.find("\nrun-output-marker\n"), std::string::npos) << again.output;
  // --no-cache runs the step.
  auto fresh =
      sh(engine() + " build --no-cache --build-arg GREETING=hi --label cli.label='a $b' -t " +
         tag() + " " + tmp("app"));
  ASSERT_COMMAND_OK(fresh);
  EXPECT_NE(fresh.output.find("\nrun-output-marker\n"), std::string::npos) << fresh.output;

  // -q: the image ID alone.
  auto quiet = sh(engine() + " build -q -t " + tag() + " " + tmp("app") + " 2>/dev/null");
  ASSERT_COMMAND_OK(quiet);
  EXPECT_EQ(trim(quiet.output).substr(0, 7), "sha256:") << quiet.output;
}

TEST_F(DockerBuild, FailingStepExitsNonZero) {
  ASSERT_NO_FATAL_FAILURE(
      SetUpBuild("FROM " + image("e2e/busybox:1") + "\nRUN echo failing-step && exit 3\n"));
  auto build = sh(engine() + " build -t " + tag() + " " + tmp("app"));
  EXPECT_NE(build.exit_code, 0) << build.describe();
  EXPECT_NE(build.output.find("failing-step"), std::string::npos) << build.describe();
  EXPECT_NE(build.output.find("Dockerfile:2"), std::string::npos) << build.describe();
  EXPECT_EQ(build.output.find("Successfully"), std::string::npos) << build.describe();
  auto status =
      sh("curl -s -o /dev/null -w '%{http_code}' " + registry_->base_url() + "/v2/app/manifests/1");
  EXPECT_EQ(trim(status.output), "404");
}

TEST_F(DockerBuild, KilledClientCancelsTheBuild) {
  ASSERT_NO_FATAL_FAILURE(
      SetUpBuild("FROM " + image("e2e/busybox:1") + "\nRUN echo sleeping-now && sleep 300\n"));
  // The client in the background; killed once the RUN step has started.
  auto killed =
      sh(engine() + " build -t " + tag() + " " + tmp("app") + " > " + tmp("out") +
             " 2>&1 & pid=$!; for i in $(seq 600); do grep -qx sleeping-now " + tmp("out") +
             " && break; sleep 0.2; done; kill -9 $pid; wait $pid; cat " + tmp("out"),
         180s);
  ASSERT_NE(killed.output.find("\nsleeping-now\n"), std::string::npos) << killed.describe();
  std::string status;
  for (int i = 0; i < 100 && status != "cancelled"; ++i) {
    status = trim(sh(curl("/builds") + " | jq -r '.builds[0].status'").output);
    if (status != "cancelled") std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, "cancelled") << sh(curl("/builds")).output;
}

// No daemon needed: FROM scratch runs nothing. With -f outside the context
// the CLI sends a tar without its end blocks (see builder::complete_tar).
TEST_F(DockerBuild, DockerfileOutsideTheContext) {
  if (registry_ == nullptr) GTEST_SKIP();
  std::filesystem::create_directories(tmp_dir_ / "ctx");
  std::ofstream(tmp_dir_ / "ctx/a.txt") << "from the context\n";
  std::ofstream(tmp_dir_ / "Other.dockerfile") << "FROM scratch\nCOPY a.txt /a.txt\n";
  auto build =
      sh(engine() + " build -f " + tmp("Other.dockerfile") + " -t " + tag() + " " + tmp("ctx"));
  ASSERT_COMMAND_OK(build);
  EXPECT_NE(build.output.find("Step 2/2 : COPY a.txt /a.txt"), std::string::npos) << build.output;
  auto layers = sh(curl("/v2/app/manifests/1") + " | jq '.layers | length'");
  EXPECT_EQ(trim(layers.output), "1");
}

TEST_F(DockerBuild, PingVersionAndBuildKitRefused) {
  if (registry_ == nullptr) GTEST_SKIP();
  auto ping = sh("curl -sSI " + registry_->base_url() + "/_ping");
  ASSERT_COMMAND_OK(ping);
  EXPECT_NE(ping.output.find("Api-Version: 1.41"), std::string::npos) << ping.output;
  EXPECT_NE(ping.output.find("Builder-Version: 1"), std::string::npos) << ping.output;
  auto version = sh(curl("/v1.41/version") + " | jq -r .ApiVersion");
  EXPECT_EQ(trim(version.output), "1.41");
  auto session = sh("curl -s -X POST " + registry_->base_url() + "/session | jq -r .message");
  EXPECT_NE(session.output.find("DOCKER_BUILDKIT=0"), std::string::npos) << session.output;
}

}  // namespace
}  // namespace drydock::e2e
