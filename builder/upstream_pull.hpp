#pragma once
// Pulls an image from another registry into Drydock's store, so that a build
// can use it as a base and later builds reuse it without the network.
//
// What is stored, in the repository the caller names (the reserved
// "upstream/<host>/<path>" namespace, image_ref.hpp):
//   - for an image manifest: its config and layers, then the manifest;
//   - for an index: only the linux/amd64 manifest with its blobs, then the
//     index itself, whose references are recorded as that one manifest (a
//     pull-through copy, not a full mirror: other platforms are not fetched).
// The reference's tag, if any, points at what the reference named (index or
// manifest), exactly as after a push.
//
// Every blob is streamed into a temp file under the build's work dir while
// hashed, its size and digest checked against the descriptor, then published
// through BlobStore::publish (never held in memory); manifests (at most 4 MiB)
// are checked against their digest and stored with BlobStore::put; blob links
// and manifest rows go through MetadataStore::put_manifest, as a push does.
// Blobs already in the blob store are not fetched again.
#include <expected>
#include <string>
#include <string_view>

#include "builder/executor.hpp"
#include "builder/image_fetcher.hpp"

namespace drydock::builder {

// Pulls `reference` (a tag or "sha256:...") of `image` into `store_repository`
// and returns the digest of the manifest or index the reference names.
std::expected<storage::Digest, std::string> pull_image(BuildEnv& env, ImageFetcher& fetcher,
                                                       const UpstreamImage& image,
                                                       std::string_view reference,
                                                       const std::string& store_repository);

}  // namespace drydock::builder
