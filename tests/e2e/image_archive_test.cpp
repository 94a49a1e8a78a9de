// Save/load with real clients: `docker save` -> `drydock image import` ->
// `docker pull` runs it; `drydock image export` -> `docker load` -> `docker
// run`; the OCI format read by skopeo (oci-archive:).

#include <cstdlib>
#include <string>

#include "e2e_fixture.hpp"

namespace drydock::e2e {
namespace {

std::string drydock_cli() {
  const char* binary = std::getenv("DRYDOCK_E2E_BINARY");
  if (binary != nullptr && *binary != '\0') return shell_quote(binary);
#ifdef DRYDOCK_BINARY
  return shell_quote(DRYDOCK_BINARY);
#else
  return "drydock";
#endif
}

class ImageArchive : public E2E {
 protected:
  void SetUp() override {
    const char* kind = std::getenv("DRYDOCK_E2E_REGISTRY");
    if (kind != nullptr && std::string(kind) == "reference") {
      GTEST_SKIP() << "/images is Drydock's own API";
    }
    E2E::SetUp();
  }
  // `drydock image ARGS --server URL`.
  std::string image_cli(const std::string& args) const {
    return drydock_cli() + " image " + args + " --server " + registry_->base_url();
  }
};

TEST_F(ImageArchive, DockerSaveImportThenPullRuns) {
  ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
  ASSERT_NO_FATAL_FAILURE(build_busybox_images());
  // Two images in one archive, gzip'd as users often ship them.
  ASSERT_COMMAND_OK(sh(docker() + " save " + image("e2e/busybox:1") + " " + image("e2e/busybox:2") +
                       " | gzip > " + tmp("saved.tar.gz")));
  auto imported = sh(image_cli("import " + tmp("saved.tar.gz")));
  ASSERT_COMMAND_OK(imported);
  EXPECT_NE(imported.output.find("Loaded image: e2e/busybox:2"), std::string::npos)
      << imported.describe();
  auto ls = sh(image_cli("ls e2e/busybox"));
  ASSERT_COMMAND_OK(ls);
  EXPECT_NE(ls.output.find("linux/amd64"), std::string::npos) << ls.describe();

  ASSERT_COMMAND_OK(sh(docker() + " rmi " + image("e2e/busybox:2") + " " + image("e2e/busybox:1")));
  ASSERT_COMMAND_OK(sh(docker() + " pull " + image("e2e/busybox:2")));
  auto run = sh(docker() + " run --rm --network none " + image("e2e/busybox:2") + " cat /hi");
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "hi");
}

TEST_F(ImageArchive, ExportThenDockerLoadRuns) {
  ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
  ASSERT_NO_FATAL_FAILURE(build_busybox_images());
  std::string digest;
  ASSERT_NO_FATAL_FAILURE(docker_push(image("e2e/busybox:2"), &digest));
  // The name docker load tags it with: this registry's, so TearDown removes it.
  ASSERT_COMMAND_OK(sh(
      image_cli("export e2e/busybox:2 -o " + tmp("out.tar") + " --name " + image("e2e/loaded:7"))));
  ASSERT_COMMAND_OK(sh(docker() + " rmi " + image("e2e/busybox:2") + " " + image("e2e/busybox:1")));
  auto load = sh(docker() + " load -i " + tmp("out.tar"));
  ASSERT_COMMAND_OK(load);
  EXPECT_NE(load.output.find("Loaded image: " + image("e2e/loaded:7")), std::string::npos)
      << load.describe();
  auto run = sh(docker() + " run --rm --network none " + image("e2e/loaded:7") + " cat /hi");
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "hi");

  // Inspect agrees with what docker pushed.
  auto inspect = sh(image_cli("inspect e2e/busybox:2") + " | jq -r '.[0].RepoDigests[0]'");
  ASSERT_COMMAND_OK(inspect);
  EXPECT_EQ(trim(inspect.output), "e2e/busybox@" + digest);
}

TEST_F(ImageArchive, OciExportIsReadBySkopeo) {
  ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
  ASSERT_NO_FATAL_FAILURE(build_busybox_images());
  std::string digest;
  ASSERT_NO_FATAL_FAILURE(docker_push(image("e2e/busybox:2"), &digest));
  ASSERT_COMMAND_OK(sh(image_cli("export e2e/busybox:2 --format oci") + " > " + tmp("oci.tar")));
  auto inspect =
      sh("skopeo inspect --raw oci-archive:" + tmp("oci.tar") + " | jq -r .layers[].digest");
  ASSERT_COMMAND_OK(inspect);
  std::vector<std::string> blobs;
  ASSERT_NO_FATAL_FAILURE(manifest_blobs("e2e/busybox", "2", &blobs));
  EXPECT_NE(inspect.output.find(blobs.back()), std::string::npos) << inspect.describe();
  // And back in through skopeo's own oci-archive, as a new name.
  ASSERT_COMMAND_OK(sh("skopeo copy --quiet oci-archive:" + tmp("oci.tar") +
                       " oci-archive:" + tmp("copied.tar") + ":e2e/copied:3"));
  ASSERT_COMMAND_OK(sh(image_cli("import " + tmp("copied.tar") + " --repository e2e/copied")));
  ASSERT_COMMAND_OK(sh(docker() + " pull " + image("e2e/copied:3")));
  auto run = sh(docker() + " run --rm --network none " + image("e2e/copied:3") + " cat /hi");
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "hi");
  // rm: the last tag deletes the manifest.
  auto rm = sh(image_cli("rm e2e/copied:3"));
  ASSERT_COMMAND_OK(rm);
  EXPECT_NE(rm.output.find("Deleted: sha256:"), std::string::npos) << rm.describe();
}

TEST_F(ImageArchive, PodmanOciArchiveInAndOut) {
  used_podman_ = true;
  const std::string ref = image("e2e/podsave:1");
  ASSERT_COMMAND_OK(sh(script("make_rootfs.sh") + " " + tmp("rootfs.tar")));
  ASSERT_COMMAND_OK(sh(podman() + " import " + tmp("rootfs.tar") + " " + ref));
  ASSERT_COMMAND_OK(sh(podman() + " save --format oci-archive -o " + tmp("pod.tar") + " " + ref));
  auto imported = sh(image_cli("import " + tmp("pod.tar") + " --repository e2e/podsave:1"));
  ASSERT_COMMAND_OK(imported);
  EXPECT_NE(imported.output.find("e2e/podsave:1"), std::string::npos) << imported.describe();
  ASSERT_COMMAND_OK(sh(podman() + " rmi " + ref));
  ASSERT_COMMAND_OK(sh(podman() + " pull --tls-verify=false " + ref));
  // Podman's default rlimits exceed this sandbox's hard limits (see podman_test.cpp).
  auto run = sh(podman() +
                " run --rm --network none --ulimit nofile=1024:1024 "
                "--ulimit nproc=1024:1024 " +
                ref + " echo saved-by-podman");
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "saved-by-podman");
  // Out again as an OCI layout that podman loads.
  ASSERT_COMMAND_OK(sh(podman() + " rmi " + ref));
  ASSERT_COMMAND_OK(
      sh(image_cli("export e2e/podsave:1 --format oci --name " + ref + " -o " + tmp("back.tar"))));
  auto load = sh(podman() + " load -i " + tmp("back.tar"));
  ASSERT_COMMAND_OK(load);
  ASSERT_COMMAND_OK(sh(podman() + " image exists " + ref));
}

}  // namespace
}  // namespace drydock::e2e
