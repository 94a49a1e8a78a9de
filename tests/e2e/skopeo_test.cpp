// skopeo copy --all of a two-platform OCI image index, there and back, byte for byte.
#include <sstream>
#include <string>

#include "e2e_fixture.hpp"

namespace drydock::e2e {
namespace {

TEST_F(E2E, SkopeoCopyAllIndex) {
  auto made = sh(script("make_oci_layout.sh") + " " + tmp("layout") + " v1");
  ASSERT_COMMAND_OK(made);
  const std::string index_digest = trim(made.output);
  const std::string index_file = tmp("layout/blobs/sha256/" + index_digest.substr(7));
  const std::string remote = "docker://" + image("e2e/multi:1");

  ASSERT_COMMAND_OK(
      sh("skopeo copy --all --dest-tls-verify=false oci:" + tmp("layout") + ":v1 " + remote));

  // The registry must return the index exactly as pushed, under its own digest.
  ASSERT_COMMAND_OK(
      sh("skopeo inspect --raw --tls-verify=false " + remote + " > " + tmp("remote-index.json")));
  EXPECT_COMMAND_OK(sh("cmp " + index_file + " " + tmp("remote-index.json")));
  std::string head_digest;
  ASSERT_NO_FATAL_FAILURE(head_manifest_digest("e2e/multi", "1", &head_digest));
  EXPECT_EQ(head_digest, index_digest);
  auto content_type =
      sh("curl -sSf -o /dev/null -w '%{content_type}' "
         "-H 'Accept: application/vnd.oci.image.index.v1+json' " +
         registry_->base_url() + "/v2/e2e/multi/manifests/1");
  ASSERT_COMMAND_OK(content_type);
  EXPECT_EQ(content_type.output, "application/vnd.oci.image.index.v1+json");

  // Each child manifest is reachable by digest and byte-identical.
  auto children = sh("jq -r '.manifests[].digest' " + index_file);
  ASSERT_COMMAND_OK(children);
  std::istringstream lines(children.output);
  int child_count = 0;
  for (std::string child; std::getline(lines, child); ++child_count) {
    const std::string out = tmp("child-" + child.substr(7));
    ASSERT_COMMAND_OK(sh("skopeo inspect --raw --tls-verify=false docker://" + image("e2e/multi@") +
                         child + " > " + out));
    EXPECT_COMMAND_OK(sh("cmp " + tmp("layout/blobs/sha256/" + child.substr(7)) + " " + out));
  }
  EXPECT_EQ(child_count, 2);

  // Copy everything back: the same set of blobs, each byte-identical to the original.
  ASSERT_COMMAND_OK(
      sh("skopeo copy --all --src-tls-verify=false " + remote + " oci:" + tmp("out") + ":v1"));
  auto compare = sh("cd " + tmp("layout/blobs/sha256") + " && diff <(ls) <(ls " +
                    tmp("out/blobs/sha256") + ") && for f in *; do cmp $f " +
                    tmp("out/blobs/sha256") + "/$f || exit 1; done && ls | wc -l");
  ASSERT_COMMAND_OK(compare);
  EXPECT_EQ(trim(compare.output), "7");  // index + 2 x (manifest, config, layer)
  auto verify = sh("cd " + tmp("out/blobs/sha256") +
                   " && for f in *; do echo \"$f  $f\"; done | sha256sum --check --quiet");
  EXPECT_COMMAND_OK(verify);
  auto tagged = sh("jq -r '.manifests[0].digest' " + tmp("out/index.json"));
  ASSERT_COMMAND_OK(tagged);
  EXPECT_EQ(trim(tagged.output), index_digest);
}

}  // namespace
}  // namespace drydock::e2e
