#pragma once

// The few pieces of the tar format (POSIX.1-1988 ustar) an image archive
// needs to be *written* as a stream: a regular file's 512-byte header, the
// zero padding after its body, and the end-of-archive blocks. Sizes are
// known up front, so a whole archive's length is known before its first
// byte is sent (Content-Length) and bodies can be streamed straight from
// blob files.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace drydock::images {

inline constexpr std::size_t kTarBlock = 512;
// Two zero blocks end an archive (no padding to a 10 KiB record: Go's
// archive/tar, which docker load uses, stops at the first zero block).
inline constexpr std::size_t kTarEndBytes = 2 * kTarBlock;

// The ustar header of a regular file `name` of `size` bytes (mode 0644,
// owner 0:0, mtime `mtime`). Names up to 100 bytes, or up to 255 when they
// can be split at a '/' into ustar's prefix and name fields. Sizes of 8 GiB
// and more use the base-256 encoding GNU tar and Go's archive/tar read.
// The error says why a name cannot be written.
std::expected<std::string, std::string> ustar_file_header(std::string_view name, std::uint64_t size,
                                                          std::int64_t mtime = 0);

// The zero bytes that follow a body of `size` bytes up to a block boundary.
constexpr std::uint64_t tar_padding(std::uint64_t size) {
  return (kTarBlock - size % kTarBlock) % kTarBlock;
}

// Bytes one regular-file entry takes: header, body and padding.
constexpr std::uint64_t tar_entry_bytes(std::uint64_t size) {
  return kTarBlock + size + tar_padding(size);
}

}  // namespace drydock::images
