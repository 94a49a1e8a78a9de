#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "builder/layer_sink.hpp"
#include "storage/digest.hpp"

namespace drydock::builder {

// Sizes and digests of one finished layer stream.
struct StreamTotals {
  storage::Digest diff_id;  // sha256 of the uncompressed tar
  storage::Digest digest;   // sha256 of the gzip stream (the blob)
  std::uint64_t uncompressed_size = 0;
  std::uint64_t compressed_size = 0;
};

// Gzip-compresses a tar stream into a sink, hashing the tar (diff_id) and the
// gzip bytes (blob digest) in the same pass, through one fixed-size buffer:
// memory does not grow with the layer (containerd's differ does the same with
// a pipe, two digesters and a compressor).
class GzipHashStream {
 public:
  // Go's gzip.DefaultCompression, which containerd and BuildKit use.
  static constexpr int kDefaultLevel = 6;

  // `sink` must outlive the stream. Fails only if zlib cannot start.
  static LayerResult<std::unique_ptr<GzipHashStream>> create(LayerSink& sink,
                                                             int level = kDefaultLevel);
  ~GzipHashStream();
  GzipHashStream(const GzipHashStream&) = delete;
  GzipHashStream& operator=(const GzipHashStream&) = delete;

  // Feeds tar bytes. After a failure the stream is unusable.
  LayerResult<void> write(std::span<const std::byte> tar_bytes);

  // Writes the gzip trailer and returns the totals. Call once, last.
  LayerResult<StreamTotals> finish();

 private:
  struct Impl;
  explicit GzipHashStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::builder
