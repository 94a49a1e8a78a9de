#include "builder/layer_sink.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace drydock::builder {

std::string_view to_string(LayerErrorCode code) {
  switch (code) {
    case LayerErrorCode::kIo:
      return "io";
    case LayerErrorCode::kInvalidPath:
      return "invalid path";
    case LayerErrorCode::kConflict:
      return "conflict";
    case LayerErrorCode::kUnsupported:
      return "unsupported";
    case LayerErrorCode::kArchive:
      return "archive";
    case LayerErrorCode::kSink:
      return "sink";
  }
  return "unknown";
}

std::unexpected<LayerError> errno_error(std::string_view what, std::string_view path, int err,
                                        LayerErrorCode code) {
  std::string message(what);
  if (!path.empty()) {
    message += ' ';
    message += path;
  }
  message += ": ";
  message += std::strerror(err);
  return std::unexpected(LayerError{code, std::move(message)});
}

LayerResult<void> FdSink::write(std::span<const std::byte> bytes) {
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return errno_error("write layer to fd", std::to_string(fd_), errno, LayerErrorCode::kSink);
    if (n == 0)
      return errno_error("write layer to fd", std::to_string(fd_), EIO, LayerErrorCode::kSink);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace drydock::builder
