// Drydock in a container (issue 5): docker/Dockerfile built by Drydock itself, then run
// with docker as shipped. The two Debian 12 root filesystems scripts/deps made with
// mmdebstrap (the test itself uses no network) are pushed into a Drydock with builds on as
// one-layer base images; `drydock build --target runtime` builds this source tree with
// them; docker pulls the result and runs it with its own command, config and port; an
// image is pushed into the containerized Drydock and pulled back.
//
// dockerd here runs with --bridge=none, so the container gets --network none (only its own
// loopback, where the server listens on 5000 as in production) and the test reaches it
// from inside that network namespace: nsenter --net=/proc/PID/ns/net. That also keeps the
// image's HEALTHCHECK (127.0.0.1:5000) meaningful.
//
// The bases: $DRYDOCK_TEST_BASES/{build,runtime}.tar (default /var/cache/drydock-tests).
// Compiling Drydock in a runc container is most of the time (see the printed figures).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "e2e_fixture.hpp"

namespace drydock::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

fs::path bases_dir() {
  const char* dir = std::getenv("DRYDOCK_TEST_BASES");
  return dir != nullptr && *dir != '\0' ? dir : "/var/cache/drydock-tests";
}

std::string drydock_binary() {
  const char* binary = std::getenv("DRYDOCK_E2E_BINARY");
  if (binary != nullptr && *binary != '\0') return binary;
#ifdef DRYDOCK_BINARY
  return DRYDOCK_BINARY;
#else
  return "";
#endif
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class DrydockImage : public E2E {
 protected:
  void SetUp() override {
    const char* registry = std::getenv("DRYDOCK_E2E_REGISTRY");
    if (registry != nullptr && std::string(registry) == "reference") {
      GTEST_SKIP() << "builds need Drydock; DRYDOCK_E2E_REGISTRY=reference";
    }
    ASSERT_NO_FATAL_FAILURE(E2E::SetUp());
    if (registry_ == nullptr) GTEST_SKIP();
  }

  void TearDown() override {
    // -v: the image's VOLUME got an anonymous volume.
    if (!container_.empty()) sh(docker() + " rm -f -v " + container_ + " >/dev/null");
    E2E::TearDown();
  }

  // Pushes $bases/NAME.tar as localhost:PORT/bases/debian-NAME:12; fails (never skips)
  // when scripts/deps has not made it.
  void push_base(const std::string& name, std::string* ref) {
    const fs::path tar = bases_dir() / (name + ".tar");
    ASSERT_TRUE(fs::is_regular_file(tar))
        << tar << " is missing: run scripts/deps test (it makes the Debian 12 bases of this "
        << "test with mmdebstrap), or point DRYDOCK_TEST_BASES at a directory holding "
        << "build.tar and runtime.tar";
    const std::string repo = "bases/debian-" + name;
    ASSERT_COMMAND_OK(sh(script("push_rootfs.sh") + " " + registry_->base_url() + " " + repo +
                         " 12 " + shell_quote(tar.string())));
    *ref = image(repo + ":12");
  }

  // In the container's network namespace (as root: nsenter).
  std::string in_container_net(const std::string& command) const {
    return "nsenter --net=/proc/" + pid_ + "/ns/net " + command;
  }

  // docker inspect -f FORMAT of the container.
  std::string inspect(const std::string& format) const {
    return trim(sh(docker() + " inspect -f " + shell_quote(format) + " " + container_).output);
  }

  void build_image(const std::string& tag);
  void check_image_config(const std::string& ref);
  void run_container(const std::string& ref);
  void push_and_pull_through_container();

  std::string container_;
  std::string pid_;
};

void DrydockImage::build_image(const std::string& tag) {
  std::string build_base, runtime_base;
  ASSERT_NO_FATAL_FAILURE(push_base("build", &build_base));
  ASSERT_NO_FATAL_FAILURE(push_base("runtime", &runtime_base));
  const auto started = std::chrono::steady_clock::now();
  auto build = sh("cd " + shell_quote(DRYDOCK_SOURCE_ROOT) + " && " +
                      shell_quote(drydock_binary()) +
                      " build -f docker/Dockerfile --target runtime --build-arg BUILD_BASE=" +
                      build_base + " --build-arg RUNTIME_BASE=" + runtime_base + " -t " + tag +
                      " --server " + registry_->base_url() + " .",
                  1200s);
  const double took = seconds_since(started);
  std::cout << "drydock build of docker/Dockerfile (--target runtime): " << took << " s\n";
  ASSERT_COMMAND_OK(build);
  // The bases had the packages: no stage went to the network for them.
  EXPECT_EQ(build.output.find("Reading package lists"), std::string::npos) << build.output;
}

void DrydockImage::check_image_config(const std::string& ref) {
  auto config = sh(docker() + " image inspect -f '{{json .Config}}' " + ref +
                   " | jq -c '[.User, .ExposedPorts, .Volumes, .WorkingDir, .Entrypoint, .Cmd, "
                   ".StopSignal, .Healthcheck.Test[0], (.Healthcheck.Test | tostring | "
                   "contains(\"GET /v2/\")), .Healthcheck.Retries]'");
  ASSERT_COMMAND_OK(config);
  EXPECT_EQ(trim(config.output),
            R"(["10001:10001",{"5000/tcp":{}},{"/var/lib/drydock":{}},"/var/lib/drydock",)"
            R"(["/usr/local/bin/drydock"],["serve","--config","/etc/drydock/config.json"],)"
            R"("SIGTERM","CMD",true,3])");
}

void DrydockImage::run_container(const std::string& ref) {
  // The image's own command, config and health check; only the check's interval is
  // shortened (30 s in the image) so that the test need not wait for it.
  auto run = sh(docker() + " run -d --network none --health-interval 1s " + ref);
  ASSERT_COMMAND_OK(run);
  container_ = trim(run.output);
  std::string health;
  for (int i = 0; i < 120 && health != "healthy"; ++i) {
    health = inspect("{{.State.Health.Status}}");
    if (health != "healthy") std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(health, "healthy") << inspect("{{json .State}}") << "\n"
                               << sh(docker() + " logs " + container_).output;
  pid_ = inspect("{{.State.Pid}}");
  ASSERT_FALSE(pid_.empty());
  // The server itself runs as the drydock user, not root.
  auto uid = sh("ps -o uid= -p " + pid_ + " | tr -d ' '");
  ASSERT_COMMAND_OK(uid);
  EXPECT_EQ(trim(uid.output), "10001");
  auto id = sh(docker() + " exec " + container_ + " id -u");
  EXPECT_EQ(trim(id.output), "10001") << id.describe();
  auto status = sh(in_container_net("curl -sS -o /dev/null -w '%{http_code}' "
                                    "http://127.0.0.1:5000/v2/"));
  ASSERT_COMMAND_OK(status);
  EXPECT_EQ(status.output, "200");
  // Builds are off in the image's config.
  auto builds = sh(in_container_net("curl -sS -o /dev/null -w '%{http_code}' -X POST "
                                    "http://127.0.0.1:5000/builds"));
  EXPECT_EQ(builds.output, "503") << builds.describe();
}

void DrydockImage::push_and_pull_through_container() {
  auto made = sh(script("make_oci_layout.sh") + " " + tmp("layout") + " v1");
  ASSERT_COMMAND_OK(made);
  const std::string index_digest = trim(made.output);
  const std::string remote = "docker://127.0.0.1:5000/e2e/multi:1";
  ASSERT_COMMAND_OK(sh(in_container_net("skopeo copy --all --dest-tls-verify=false oci:" +
                                        tmp("layout") + ":v1 " + remote)));
  ASSERT_COMMAND_OK(sh(in_container_net("skopeo copy --all --src-tls-verify=false " + remote +
                                        " oci:" + tmp("out") + ":v1")));
  // The same index, and every blob byte for byte.
  auto tagged = sh("jq -r '.manifests[0].digest' " + tmp("out/index.json"));
  EXPECT_EQ(trim(tagged.output), index_digest) << tagged.describe();
  auto compare = sh("cd " + tmp("layout/blobs/sha256") + " && diff <(ls) <(ls " +
                    tmp("out/blobs/sha256") + ") && for f in *; do cmp $f " +
                    tmp("out/blobs/sha256") + "/$f || exit 1; done && ls | wc -l");
  ASSERT_COMMAND_OK(compare);
  EXPECT_EQ(trim(compare.output), "7");  // index + 2 x (manifest, config, layer)
  // Stored in the volume, owned by the drydock user.
  auto owner = sh(docker() + " exec " + container_ +
                  " stat -c %u /var/lib/drydock/metadata.db /var/lib/drydock/blobs");
  EXPECT_EQ(owner.output, "10001\n10001\n") << owner.describe();
}

TEST_F(DrydockImage, BuiltByDrydockRunsWithDocker) {
  const auto started = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
  ASSERT_NO_FATAL_FAILURE(build_image("team/drydock:1"));
  const std::string ref = image("team/drydock:1");
  ASSERT_COMMAND_OK(sh(docker() + " pull " + ref, 600s));
  ASSERT_NO_FATAL_FAILURE(check_image_config(ref));
  ASSERT_NO_FATAL_FAILURE(run_container(ref));
  ASSERT_NO_FATAL_FAILURE(push_and_pull_through_container());

  // SIGTERM (the image's STOPSIGNAL) stops the server gracefully: exit status 0.
  ASSERT_COMMAND_OK(sh(docker() + " stop -t 40 " + container_, 60s));
  EXPECT_EQ(inspect("{{.State.ExitCode}}"), "0") << sh(docker() + " logs " + container_).output;
  std::cout << "whole test: " << seconds_since(started) << " s\n";
}

}  // namespace
}  // namespace drydock::e2e
