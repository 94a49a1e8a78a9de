#include "builder/layer_stream.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <string>

namespace drydock::builder {
namespace {

constexpr std::size_t kOutBufferSize = std::size_t{64} * 1024;
// windowBits 15 plus 16 asks zlib for a gzip wrapper instead of zlib's own.
constexpr int kGzipWindowBits = 15 + 16;
constexpr int kMemLevel = 8;
// RFC 1952 OS field: 255 = unknown, as Go's compress/gzip writes (zlib would
// say 3 = Unix). The header carries no name and mtime 0, so it is stable.
constexpr int kGzipOsUnknown = 255;

std::unexpected<LayerError> zlib_error(const char* what, int rc) {
  return std::unexpected(LayerError{
      LayerErrorCode::kArchive, std::string("zlib ") + what + " failed: " + std::to_string(rc)});
}

}  // namespace

struct GzipHashStream::Impl {
  LayerSink* sink = nullptr;
  z_stream z{};
  gz_header header{};
  bool z_ready = false;
  storage::Hasher tar_hash;
  storage::Hasher gzip_hash;
  std::uint64_t tar_size = 0;
  std::uint64_t gzip_size = 0;
  std::array<Bytef, kOutBufferSize> out{};

  ~Impl() {
    if (z_ready) deflateEnd(&z);
  }

  // Runs deflate with `flush` until it has consumed its input (Z_NO_FLUSH) or
  // finished the stream (Z_FINISH), handing each full buffer to the sink.
  LayerResult<void> pump(int flush) {
    while (true) {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      int rc = deflate(&z, flush);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return zlib_error("deflate", rc);
      std::size_t produced = out.size() - z.avail_out;
      if (produced > 0) {
        if (auto r = emit(produced); !r) return r;
      }
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (z.avail_in == 0 && z.avail_out != 0)) {
        return {};
      }
    }
  }

  LayerResult<void> emit(std::size_t n) {
    gzip_hash.update(out.data(), n);
    gzip_size += n;
    return sink->write(std::as_bytes(std::span(out.data(), n)));
  }
};

GzipHashStream::GzipHashStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GzipHashStream::~GzipHashStream() = default;

LayerResult<std::unique_ptr<GzipHashStream>> GzipHashStream::create(LayerSink& sink, int level) {
  auto impl = std::make_unique<Impl>();
  impl->sink = &sink;
  int rc =
      deflateInit2(&impl->z, level, Z_DEFLATED, kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) return zlib_error("deflateInit2", rc);
  impl->z_ready = true;
  impl->header.os = kGzipOsUnknown;
  rc = deflateSetHeader(&impl->z, &impl->header);
  if (rc != Z_OK) return zlib_error("deflateSetHeader", rc);
  return std::unique_ptr<GzipHashStream>(new GzipHashStream(std::move(impl)));
}

LayerResult<void> GzipHashStream::write(std::span<const std::byte> tar_bytes) {
  Impl& s = *impl_;
  s.tar_hash.update(tar_bytes.data(), tar_bytes.size());
  s.tar_size += tar_bytes.size();
  // zlib's avail_in is 32-bit: feed very large spans in slices.
  constexpr std::size_t kMaxSlice = 1u << 30;
  while (!tar_bytes.empty()) {
    std::size_t n = std::min(tar_bytes.size(), kMaxSlice);
    s.z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(tar_bytes.data()));
    s.z.avail_in = static_cast<uInt>(n);
    if (auto r = s.pump(Z_NO_FLUSH); !r) return r;
    tar_bytes = tar_bytes.subspan(n);
  }
  return {};
}

LayerResult<StreamTotals> GzipHashStream::finish() {
  Impl& s = *impl_;
  s.z.next_in = nullptr;
  s.z.avail_in = 0;
  if (auto r = s.pump(Z_FINISH); !r) return std::unexpected(r.error());
  return StreamTotals{s.tar_hash.current(), s.gzip_hash.current(), s.tar_size, s.gzip_size};
}

}  // namespace drydock::builder
