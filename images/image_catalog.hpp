#pragma once

// What the image CLI reads and removes: a listing of repositories and tags
// with platforms and sizes, a `docker image inspect`-like view of one
// image, and removing a tag or a manifest as `docker rmi` does.
//
// Sizes are bytes as stored (and as a pull transfers them: layers as
// stored, usually compressed): an image's size is its manifest(s),
// config(s) and layers, each distinct blob counted once; a repository's
// and the listing's totals count a blob shared by several images once.

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "images/stored_image.hpp"
#include "registry/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::images {

using Visible = std::function<bool(std::string_view repository)>;

// {"repositories":[{"name","size","tags":[{"tag","digest","mediaType",
// "platforms":["linux/amd64"],"size","created"}]}],"size":N}. Only
// `repository` when not empty; only repositories `visible` accepts (null:
// all).
std::expected<std::string, registry::Error> list_images(const storage::MetadataStore& meta,
                                                        const storage::BlobStore& blobs,
                                                        std::string_view repository,
                                                        const Visible& visible);

// One image as JSON, with docker image inspect's field names (Id is the
// config digest, RepoTags, RepoDigests, Created, Architecture, Os, Config,
// RootFS, History, Size) plus Manifest and Layers descriptors, and for an
// index its Manifests and the platform shown (`platform`, default
// linux/amd64, else the first one).
std::expected<std::string, registry::Error> inspect_image(const storage::MetadataStore& meta,
                                                          const storage::BlobStore& blobs,
                                                          const ImageRef& ref,
                                                          std::optional<Platform> platform);

// Untags repo:tag, and deletes the manifest when no other tag of the
// repository points at it and no tagged index of it lists it (docker rmi); by digest, deletes the
// manifest and every tag pointing at it. {"untagged":["repo:tag"],"deleted":["sha256:.."]}. The
// space comes back when garbage collection runs. kDenied for an immutable tag.
std::expected<std::string, registry::Error> remove_image(storage::MetadataStore& meta,
                                                         const storage::BlobStore& blobs,
                                                         const ImageRef& ref);

}  // namespace drydock::images
