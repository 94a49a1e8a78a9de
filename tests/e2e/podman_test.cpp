// podman push/pull against the registry.
#include <string>

#include "e2e_fixture.hpp"

namespace drydock::e2e {
namespace {

TEST_F(E2E, PodmanPushPull) {
  used_podman_ = true;
  const std::string ref = image("e2e/podman:1");
  ASSERT_COMMAND_OK(sh(script("make_rootfs.sh") + " " + tmp("rootfs.tar")));
  ASSERT_COMMAND_OK(sh(podman() + " import " + tmp("rootfs.tar") + " " + ref));

  ASSERT_COMMAND_OK(
      sh(podman() + " push --tls-verify=false --digestfile " + tmp("digest") + " " + ref));
  auto digest_file = sh("cat " + tmp("digest"));
  ASSERT_COMMAND_OK(digest_file);
  const std::string digest = trim(digest_file.output);
  ASSERT_TRUE(digest.starts_with("sha256:")) << digest_file.describe();
  std::string head_digest;
  ASSERT_NO_FATAL_FAILURE(head_manifest_digest("e2e/podman", "1", &head_digest));
  EXPECT_EQ(head_digest, digest);

  ASSERT_COMMAND_OK(sh(podman() + " rmi " + ref));
  ASSERT_FALSE(sh(podman() + " image exists " + ref).ok()) << "image still present after rmi";
  ASSERT_COMMAND_OK(sh(podman() + " pull --tls-verify=false " + ref));
  auto inspect = sh(podman() + " image inspect --format '{{.Digest}}' " + ref);
  ASSERT_COMMAND_OK(inspect);
  EXPECT_EQ(trim(inspect.output), digest);

  // Podman's default rlimits (nofile, nproc) exceed this sandbox's hard limits, so the
  // container gets explicit, smaller ones.
  auto run = sh(podman() +
                " run --rm --network none --ulimit nofile=1024:1024 "
                "--ulimit nproc=1024:1024 " +
                ref + " echo hello-from-podman");
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "hello-from-podman");
}

}  // namespace
}  // namespace drydock::e2e
