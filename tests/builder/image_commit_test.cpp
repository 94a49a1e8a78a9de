// A built image committed through storage/ is served by the registry like a
// pushed one. Real stores in a temp dir.
#include "builder/image_commit.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "registry/registry.hpp"
#include "storage/upload_store.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::builder {
namespace {

using nlohmann::json;

class ImageCommit : public ::testing::Test {
 protected:
  ImageCommit()
      : blobs_(dir_.path()),
        meta_(dir_.path() / "metadata.db"),
        uploads_(dir_.path() / "uploads", blobs_, meta_),
        registry_(blobs_, meta_, uploads_, registry::RegistryOptions{}) {}

  LayerBlob put_layer(const std::string& bytes) {
    auto info = blobs_.put(bytes, storage::digest_of(bytes));
    EXPECT_TRUE(info);
    return LayerBlob{info->digest, info->size};
  }

  ImageConfig config() const {
    ImageConfig c;
    c.created = "2026-11-27T05:30:00Z";
    c.config.env = {"PATH=/bin"};
    c.config.cmd = std::vector<std::string>{"/bin/sh"};
    c.diff_ids = {"sha256:" + std::string(64, 'a'), "sha256:" + std::string(64, 'b')};
    return c;
  }

  storage::testing::TempDir dir_;
  storage::FsBlobStore blobs_;
  storage::MetadataStore meta_;
  storage::UploadStore uploads_;
  registry::Registry registry_;
};

TEST_F(ImageCommit, RegistryServesTheCommittedImageInEveryTarget) {
  std::vector<LayerBlob> layers = {put_layer("layer one"), put_layer("layer two")};
  std::vector<ImageTarget> targets = {{"team/app", "1"}, {"team/app", "latest"}, {"other/x", ""}};
  auto done = commit_image(blobs_, meta_, config(), layers, targets, 1000);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->manifest, storage::digest_of(done->manifest_json));
  EXPECT_EQ(meta_.resolve_tag("team/app", "1").value(), done->manifest);
  EXPECT_EQ(meta_.resolve_tag("team/app", "latest").value(), done->manifest);
  EXPECT_EQ(meta_.resolve_tag("other/x", "1").value(), std::nullopt);

  registry::RequestInfo accept_oci;
  accept_oci.accept = kOciManifestType;
  auto r = registry_.get_manifest("team/app", "1", accept_oci, false);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, done->manifest_json);
  r = registry_.get_manifest("other/x", done->manifest.str(), accept_oci, false);
  EXPECT_EQ(r.status, 200u) << "untagged target keeps the manifest by digest";
  for (const char* repo : {"team/app", "other/x"}) {
    EXPECT_EQ(registry_.get_blob(repo, done->config.str(), {}, true).status, 200u);
    for (const auto& l : layers) {
      EXPECT_EQ(registry_.get_blob(repo, l.digest.str(), {}, true).status, 200u);
    }
  }
  json m = json::parse(done->manifest_json);
  EXPECT_EQ(m["mediaType"], kOciManifestType);
  EXPECT_EQ(m["config"]["mediaType"], kOciConfigType);
  EXPECT_EQ(m["layers"].size(), 2u);
  EXPECT_EQ(m["layers"][1]["digest"], layers[1].digest.str());
  auto stored_config = blobs_.read_all(done->config, 1 << 20);
  ASSERT_TRUE(stored_config);
  EXPECT_EQ(parse_image_config(*stored_config).value(), config());
}

TEST_F(ImageCommit, SameInputsSameDigests) {
  std::vector<LayerBlob> layers = {put_layer("only layer")};
  std::vector<ImageTarget> a = {{"r/a", "1"}};
  std::vector<ImageTarget> b = {{"r/b", "1"}};
  auto one = commit_image(blobs_, meta_, config(), layers, a, 1);
  auto two = commit_image(blobs_, meta_, config(), layers, b, 2);
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->manifest, two->manifest);
  EXPECT_EQ(one->config, two->config);
}

TEST_F(ImageCommit, MissingLayerCommitsNothing) {
  LayerBlob ghost{storage::digest_of("never stored"), 12};
  std::vector<ImageTarget> targets = {{"team/app", "1"}};
  auto done = commit_image(blobs_, meta_, config(), std::span(&ghost, 1), targets, 1);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error(), storage::StorageError::kNotFound);
  EXPECT_EQ(meta_.resolve_tag("team/app", "1").value(), std::nullopt);
  EXPECT_FALSE(meta_.repository_exists("team/app").value());
}

}  // namespace
}  // namespace drydock::builder
