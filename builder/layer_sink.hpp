#pragma once

// Errors of the layer writer (the Differ) and the sink its compressed output
// goes to.

#include <cstddef>
#include <expected>
#include <span>
#include <string>
#include <string_view>

namespace drydock::builder {

// What went wrong while turning a directory tree into a layer blob.
enum class LayerErrorCode {
  kIo,           // reading a source file or directory failed
  kInvalidPath,  // a destination path the layer cannot hold
  kConflict,     // two entries disagree, e.g. a file where a directory is needed
  kUnsupported,  // the tree holds something a layer cannot carry faithfully
  kArchive,      // libarchive or zlib failed
  kSink,         // the caller's sink refused the bytes
};

std::string_view to_string(LayerErrorCode code);

// An error and a message naming the path involved ("open /x/y: No such file").
struct LayerError {
  LayerErrorCode code = LayerErrorCode::kIo;
  std::string message;
};

template <class T>
using LayerResult = std::expected<T, LayerError>;

// "<what> <path>: <strerror(err)>" as a kIo error (kSink when code says so).
std::unexpected<LayerError> errno_error(std::string_view what, std::string_view path, int err,
                                        LayerErrorCode code = LayerErrorCode::kIo);

// Receives the compressed layer blob in order, in pieces of any size. The
// integration plugs the storage blob writer in here.
class LayerSink {
 public:
  virtual ~LayerSink() = default;
  // Takes all of `bytes` or fails; the writer stops at the first failure and
  // returns that error.
  virtual LayerResult<void> write(std::span<const std::byte> bytes) = 0;
};

// A sink that writes to a file descriptor it does not own (a file, a pipe).
class FdSink final : public LayerSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  // Loops over partial writes and EINTR; a failure is a kSink error.
  LayerResult<void> write(std::span<const std::byte> bytes) override;

 private:
  int fd_;
};

}  // namespace drydock::builder
