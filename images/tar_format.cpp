#include "images/tar_format.hpp"

#include <algorithm>
#include <cstring>

namespace drydock::images {

namespace {

// Field offsets of the ustar header (POSIX.1-1988, "ustar Interchange Format").
constexpr std::size_t kName = 0, kNameLen = 100;
constexpr std::size_t kMode = 100, kUid = 108, kGid = 116;
constexpr std::size_t kSize = 124, kMtime = 136, kChecksum = 148;
constexpr std::size_t kTypeflag = 156, kMagic = 257, kVersion = 263;
constexpr std::size_t kPrefix = 345, kPrefixLen = 155;

// `value` as `width - 1` octal digits and a NUL.
void put_octal(std::string& h, std::size_t at, std::size_t width, std::uint64_t value) {
  for (std::size_t i = width - 1; i-- > 0;) {
    h[at + i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  h[at + width - 1] = '\0';
}

// GNU base-256: the high bit of the first byte set, the value big-endian.
void put_base256(std::string& h, std::size_t at, std::size_t width, std::uint64_t value) {
  for (std::size_t i = width; i-- > 1;) {
    h[at + i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  h[at] = static_cast<char>(0x80);
}

// Splits `name` into ustar's prefix and name fields; false if it cannot be.
bool split_name(std::string_view name, std::string_view& prefix, std::string_view& rest) {
  if (name.size() <= kNameLen) {
    prefix = {};
    rest = name;
    return true;
  }
  for (auto slash = name.find('/'); slash != std::string_view::npos;
       slash = name.find('/', slash + 1)) {
    if (slash <= kPrefixLen && name.size() - slash - 1 <= kNameLen && slash + 1 < name.size()) {
      prefix = name.substr(0, slash);
      rest = name.substr(slash + 1);
      return true;
    }
  }
  return false;
}

}  // namespace

std::expected<std::string, std::string> ustar_file_header(std::string_view name, std::uint64_t size,
                                                          std::int64_t mtime) {
  std::string_view prefix, rest;
  if (name.empty() || name.find('\0') != std::string_view::npos ||
      !split_name(name, prefix, rest)) {
    return std::unexpected("cannot write tar entry name " + std::string(name));
  }
  std::string h(kTarBlock, '\0');
  std::copy(rest.begin(), rest.end(), h.begin() + kName);
  std::copy(prefix.begin(), prefix.end(), h.begin() + kPrefix);
  put_octal(h, kMode, 8, 0644);
  put_octal(h, kUid, 8, 0);
  put_octal(h, kGid, 8, 0);
  if (size < (1ULL << 33)) {
    put_octal(h, kSize, 12, size);
  } else {
    put_base256(h, kSize, 12, size);
  }
  put_octal(h, kMtime, 12, static_cast<std::uint64_t>(std::max<std::int64_t>(mtime, 0)));
  h[kTypeflag] = '0';
  std::memcpy(h.data() + kMagic, "ustar", 6);  // with its NUL
  std::memcpy(h.data() + kVersion, "00", 2);
  // The checksum is computed with its own field as eight spaces.
  std::fill(h.begin() + kChecksum, h.begin() + kChecksum + 8, ' ');
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  put_octal(h, kChecksum, 7, sum);
  h[kChecksum + 7] = ' ';
  return h;
}

}  // namespace drydock::images
