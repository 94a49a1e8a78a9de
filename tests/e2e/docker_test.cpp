// docker push/pull against the registry, and blob deduplication on disk.
#include <string>
#include <vector>

#include "e2e_fixture.hpp"

namespace drydock::e2e {
namespace {

TEST_F(E2E, DockerPushPull) {
  ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
  ASSERT_NO_FATAL_FAILURE(build_busybox_images());

  // :1 has one layer; :2 shares it and adds one, so its push finds the base present.
  std::string digest1, digest2;
  ASSERT_NO_FATAL_FAILURE(docker_push(image("e2e/busybox:1"), &digest1));
  ASSERT_NO_FATAL_FAILURE(docker_push(image("e2e/busybox:2"), &digest2));
  EXPECT_NE(digest1, digest2);

  ASSERT_COMMAND_OK(sh(docker() + " rmi " + image("e2e/busybox:2") + " " + image("e2e/busybox:1")));
  ASSERT_FALSE(sh(docker() + " image inspect " + image("e2e/busybox:2")).ok())
      << "image still present locally after rmi";

  auto pull = sh(docker() + " pull " + image("e2e/busybox:2"));
  ASSERT_COMMAND_OK(pull);
  EXPECT_NE(pull.output.find("Digest: " + digest2), std::string::npos) << pull.describe();
  auto repo_digests =
      sh(docker() + " image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' " +
         image("e2e/busybox:2"));
  ASSERT_COMMAND_OK(repo_digests);
  EXPECT_NE(repo_digests.output.find(image("e2e/busybox@") + digest2), std::string::npos)
      << repo_digests.describe();

  // The pulled layers must unpack into a working filesystem, including the RUN layer.
  auto run = sh(docker() + " run --rm --network none " + image("e2e/busybox:2") + " cat /hi");
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "hi");

  // Pull by digest too.
  auto by_digest = sh(docker() + " pull " + image("e2e/busybox@") + digest1);
  ASSERT_COMMAND_OK(by_digest);
  auto echo = sh(docker() + " run --rm --network none " + image("e2e/busybox@") + digest1 +
                 " echo pulled-by-digest");
  ASSERT_COMMAND_OK(echo);
  EXPECT_EQ(trim(echo.output), "pulled-by-digest");
}

TEST_F(E2E, DedupAcrossRepositories) {
  ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
  ASSERT_NO_FATAL_FAILURE(build_busybox_images());
  std::string digest;
  ASSERT_NO_FATAL_FAILURE(docker_push(image("e2e/busybox:2"), &digest));

  std::vector<std::string> blobs;  // config, then layers
  ASSERT_NO_FATAL_FAILURE(manifest_blobs("e2e/busybox", "2", &blobs));
  for (const auto& blob : blobs) {
    EXPECT_TRUE(std::filesystem::is_regular_file(registry_->blob_path(blob)))
        << "blob " << blob << " not stored at " << registry_->blob_path(blob);
  }
  const DiskUsage before = disk_usage(registry_->blobs_dir());
  ASSERT_GT(before.files, 0u) << registry_->blobs_dir();

  // Same image, second repository: docker mounts or re-sends; either way no new file.
  ASSERT_COMMAND_OK(sh(docker() + " tag " + image("e2e/busybox:2") + " " + image("e2e/copy:2")));
  std::string copy_digest;
  ASSERT_NO_FATAL_FAILURE(docker_push(image("e2e/copy:2"), &copy_digest));
  EXPECT_EQ(copy_digest, digest);
  std::string head_digest;
  ASSERT_NO_FATAL_FAILURE(head_manifest_digest("e2e/copy", "2", &head_digest));
  EXPECT_EQ(head_digest, digest);
  EXPECT_EQ(disk_usage(registry_->blobs_dir()), before) << "after pushing to e2e/copy";

  // Third repository, with a plain upload that sends every byte again (no mount).
  for (const auto& blob : blobs) {
    const std::string file = tmp(blob.substr(7));
    ASSERT_COMMAND_OK(
        sh("curl -sSf -o " + file + " " + registry_->base_url() + "/v2/e2e/busybox/blobs/" + blob));
    auto upload = sh(script("upload_blob.sh") + " " + registry_->base_url() + " e2e/raw " + file);
    ASSERT_COMMAND_OK(upload);
    EXPECT_NE(upload.output.find("201"), std::string::npos) << upload.describe();
    auto fetched = sh("curl -sSf " + registry_->base_url() + "/v2/e2e/raw/blobs/" + blob +
                      " | sha256sum | cut -d' ' -f1");
    ASSERT_COMMAND_OK(fetched);
    EXPECT_EQ("sha256:" + trim(fetched.output), blob);
  }
  EXPECT_EQ(disk_usage(registry_->blobs_dir()), before) << "after uploading to e2e/raw";
}

}  // namespace
}  // namespace drydock::e2e
