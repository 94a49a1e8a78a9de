#include "images/archive_staging.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

#include "storage/posix_io.hpp"

namespace drydock::images {

namespace fs = std::filesystem;
using registry::Error;
using registry::ErrorCode;

namespace {

constexpr std::size_t kPiece = 1 << 20;
constexpr std::uint64_t kMaxSmallFile = 16U << 20;
constexpr int kMaxLinkHops = 8;

std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message), {}});
}

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveCloser>;

std::string random_name() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned long long> dist;
  char buf[32];
  std::snprintf(buf, sizeof buf, "import-%016llx", dist(rd));
  return buf;
}

bool write_all(int fd, const char* data, std::size_t n) {
  return storage::posix::write_all(fd, data, n) == 0;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

std::optional<std::string> normalise_archive_path(std::string_view path) {
  if (path.starts_with('/')) return std::nullopt;
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '/';
    out.append(p);
  }
  return out;
}

ArchiveStaging::ArchiveStaging(const fs::path& root) : dir_(root / random_name()) {
  fs::create_directories(root);
  fs::create_directory(dir_);  // throws on failure
}

ArchiveStaging::~ArchiveStaging() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::expected<void, Error> ArchiveStaging::unpack(const fs::path& file,
                                                  const StagingLimits& limits) {
  ArchivePtr a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), 64 * 1024) != ARCHIVE_OK) {
    return fail(ErrorCode::kImageInvalid,
                std::string("not a tar archive: ") + archive_error_string(a.get()));
  }
  auto buffer = std::make_unique_for_overwrite<char[]>(kPiece);
  std::uint64_t total = 0, entries = 0;
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* why = archive_error_string(a.get());
      return fail(ErrorCode::kImageInvalid,
                  std::string(entries == 0 ? "not a tar archive: " : "broken tar archive: ") +
                      (why ? why : "unreadable"));
    }
    if (++entries > limits.max_entries) {
      return fail(ErrorCode::kContextTooLarge,
                  "the archive has more than " + std::to_string(limits.max_entries) + " entries");
    }
    const char* raw = archive_entry_pathname(e);
    auto name = normalise_archive_path(raw ? raw : "");
    if (!name) return fail(ErrorCode::kImageInvalid, std::string("unsafe path in archive: ") + raw);
    if (name->empty()) continue;
    if (const char* hard = archive_entry_hardlink(e)) {
      auto target = normalise_archive_path(hard);
      if (!target) return fail(ErrorCode::kImageInvalid, std::string("unsafe link: ") + hard);
      links_[*name] = *target;
      continue;
    }
    auto type = archive_entry_filetype(e);
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      auto resolved = normalise_archive_path(parent_of(*name) + "/" + (target ? target : ""));
      if (resolved) links_[*name] = *resolved;  // an escaping link just resolves to nothing
      continue;
    }
    if (type != AE_IFREG) continue;
    StagedFile staged{dir_ / std::to_string(entries), 0, {}};
    int fd = ::open(staged.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(ErrorCode::kInternal, "staging: " + std::string(std::strerror(errno)));
    storage::Hasher hasher;
    bool ok = true;
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buffer.get(), kPiece);
      if (n == 0) break;
      if (n < 0) {
        ::close(fd);
        return fail(ErrorCode::kImageInvalid,
                    "broken tar archive at " + *name + ": " + archive_error_string(a.get()));
      }
      total += static_cast<std::uint64_t>(n);
      if (total > limits.max_bytes) {
        ::close(fd);
        return fail(ErrorCode::kContextTooLarge, "the archive unpacks to more than " +
                                                     std::to_string(limits.max_bytes) + " bytes");
      }
      hasher.update(buffer.get(), static_cast<std::size_t>(n));
      staged.size += static_cast<std::uint64_t>(n);
      ok = ok && write_all(fd, buffer.get(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (!ok) return fail(ErrorCode::kInternal, "staging: cannot write (disk full?)");
    staged.digest = hasher.current();
    links_.erase(*name);
    files_[*name] = std::move(staged);
  }
  return {};
}

const StagedFile* ArchiveStaging::find(std::string_view path) const {
  auto name = normalise_archive_path(path);
  if (!name) return nullptr;
  std::string current = *name;
  for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
    if (auto f = files_.find(current); f != files_.end()) return &f->second;
    auto l = links_.find(current);
    if (l == links_.end()) return nullptr;
    current = l->second;
  }
  return nullptr;
}

std::expected<std::string, Error> ArchiveStaging::read_small(const StagedFile& f,
                                                             std::string_view path) const {
  if (f.size > kMaxSmallFile) {
    return fail(ErrorCode::kImageInvalid,
                std::string(path) + " is too large (" + std::to_string(f.size) + " bytes)");
  }
  std::ifstream in(f.path, std::ios::binary);
  std::string out(f.size, '\0');
  if (!in.read(out.data(), static_cast<std::streamsize>(out.size()))) {
    return fail(ErrorCode::kInternal, "staging: cannot read " + std::string(path));
  }
  return out;
}

Compression sniff_compression(const fs::path& file) {
  std::array<unsigned char, 6> m{};
  std::ifstream in(file, std::ios::binary);
  in.read(reinterpret_cast<char*>(m.data()), m.size());
  auto got = in.gcount();
  if (got >= 2 && m[0] == 0x1f && m[1] == 0x8b) return Compression::kGzip;
  if (got >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
    return Compression::kZstd;
  }
  if (got >= 6 && m[0] == 0xfd && std::memcmp(m.data() + 1, "7zXZ", 4) == 0 && m[5] == 0) {
    return Compression::kXz;
  }
  if (got >= 3 && std::memcmp(m.data(), "BZh", 3) == 0) return Compression::kBzip2;
  return Compression::kNone;
}

std::expected<storage::Digest, std::string> uncompressed_digest(const fs::path& file) {
  ArchivePtr a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  archive_entry* e = nullptr;
  if (archive_read_open_filename(a.get(), file.c_str(), 64 * 1024) != ARCHIVE_OK ||
      archive_read_next_header(a.get(), &e) != ARCHIVE_OK) {
    return std::unexpected(std::string("cannot decompress: ") + archive_error_string(a.get()));
  }
  auto buffer = std::make_unique_for_overwrite<char[]>(kPiece);
  storage::Hasher hasher;
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buffer.get(), kPiece);
    if (n == 0) break;
    if (n < 0)
      return std::unexpected(std::string("cannot decompress: ") + archive_error_string(a.get()));
    hasher.update(buffer.get(), static_cast<std::size_t>(n));
  }
  return hasher.current();
}

}  // namespace drydock::images
