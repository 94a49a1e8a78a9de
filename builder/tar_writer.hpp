#pragma once

// A PAX tar writer (libarchive) whose bytes go into a GzipHashStream (image
// layers) or any LayerSink (an uncompressed tar, e.g. a build context upload).

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "builder/layer_plan.hpp"
#include "builder/layer_sink.hpp"
#include "builder/layer_stream.hpp"
#include "builder/layer_xattrs.hpp"

namespace drydock::builder {

// The header of one tar entry, fully decided by the caller.
struct TarHeader {
  std::string name;  // path in the layer: no leading '/', no trailing '/'
  mode_t type = 0;   // S_IFMT bits
  mode_t perm = 0;   // permission bits including setuid/setgid/sticky
  Owner owner;       // numeric only: uname/gname stay empty
  std::int64_t mtime = 0;
  std::uint64_t size = 0;  // regular files; 0 for everything else
  std::string symlink;     // symlink target, verbatim
  std::string hardlink;    // non-empty: a hard link to this earlier entry
  unsigned dev_major = 0;  // character and block devices
  unsigned dev_minor = 0;
  std::vector<Xattr> xattrs;  // written as SCHILY.xattr.<name> records
};

// Writes "restricted" PAX: plain ustar headers, plus a PAX extended header
// only when a field needs one (long names, xattrs, large ids) - what Go's
// archive/tar does for containerd with Format = FormatPAX. No atime/ctime
// records, and the archive ends right after the two zero blocks (no padding
// to a 10 KiB record), as Go's tar.Writer ends it.
class TarWriter {
 public:
  // `out` must outlive the writer.
  static LayerResult<std::unique_ptr<TarWriter>> open(GzipHashStream& out);
  // Same, writing the plain tar to `out` in 64 KiB blocks (the last one
  // shorter); `out` must outlive the writer.
  static LayerResult<std::unique_ptr<TarWriter>> open(LayerSink& out);
  // Without close(), frees libarchive without sending more bytes to `out`.
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  // Starts an entry; a regular file's `size` bytes must follow via write_data.
  LayerResult<void> write_header(const TarHeader& header);
  // Content of the current regular file, in pieces.
  LayerResult<void> write_data(std::span<const std::byte> bytes);
  // Writes the end-of-archive blocks. Call once, after the last entry.
  LayerResult<void> close();

 private:
  struct Impl;
  explicit TarWriter(std::unique_ptr<Impl> impl);
  static LayerResult<std::unique_ptr<TarWriter>> open_with(
      std::function<LayerResult<void>(std::span<const std::byte>)> out);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::builder
