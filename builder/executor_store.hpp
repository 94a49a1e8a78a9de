#pragma once
// Internal to builder/: what the executor needs from storage and snapshots:
// base images read from the store, layers unpacked into snapshots, layers
// written into the blob store, read-only views mounted for inspection, and
// the overlay upper dir of a RUN cleaned of runtime mount stubs.
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builder/executor.hpp"
#include "builder/image_config.hpp"
#include "builder/layer_writer.hpp"
#include "builder/mount.hpp"

namespace drydock::builder::exec_detail {

template <class T>
using Res = std::expected<T, std::string>;

// An image as a build holds it: config, layer blobs and their snapshot names
// (base layer first; a layer repeated in the image appears once, topmost).
struct ImageState {
  ImageConfig image;
  std::vector<LayerBlob> layers;
  std::vector<std::string> chain;
};

// A fresh name for scratch files and snapshot keys.
std::string unique_name(std::string_view prefix);

// Resolves "repo:tag", "repo@digest" or "host:port/repo:tag" from the store,
// or from another registry by pulling it into the store first (image_ref.hpp
// says which references are local), picks linux/amd64 from an index, and
// unpacks every layer into a snapshot.
Res<ImageState> load_image(BuildEnv& env, std::string_view reference);

// Unpacks `blob` into the committed snapshot `diff_id` unless it exists.
Res<void> ensure_snapshot(BuildEnv& env, const LayerBlob& blob, const std::string& diff_id);

// Writes `plan` as a layer into the blob store. nullopt when the plan is empty.
struct WrittenLayer {
  LayerBlob blob;
  std::string diff_id;
};
Res<std::optional<WrittenLayer>> store_layer(BuildEnv& env, const LayerPlan& plan,
                                             const LayerOptions& options);

// A read-only view of a layer chain mounted on a scratch dir; unmounted and
// removed on destruction.
class MountedView {
 public:
  static Res<std::unique_ptr<MountedView>> mount(BuildEnv& env,
                                                 const std::vector<std::string>& chain);
  ~MountedView();
  MountedView(const MountedView&) = delete;
  MountedView& operator=(const MountedView&) = delete;
  const std::filesystem::path& path() const { return dir_; }

 private:
  explicit MountedView(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  MountGuard guard_;
};

// Removes from a RUN's upper dir what the runtime made rather than the step:
// mount stubs absent from `lower` (merged lower root), and directories copied
// up unchanged (same type, mode and owner as in `lower`) that hold nothing.
void clean_run_upper(const std::filesystem::path& upper, const std::filesystem::path& lower);

}  // namespace drydock::builder::exec_detail
