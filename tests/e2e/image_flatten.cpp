#include "image_flatten.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

namespace drydock::e2e {
namespace {

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;
using DigestPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// "./a/b/", "a/b" and "/a/b" all become "/a/b"; the root becomes "".
std::string normalize(std::string path) {
  if (path.starts_with("./")) path.erase(0, 1);
  if (!path.starts_with("/")) path.insert(0, "/");
  while (path.size() > 1 && path.ends_with("/")) path.pop_back();
  return path == "/" ? "" : path;
}

char type_of(mode_t type) {
  switch (type) {
    case AE_IFREG:
      return 'f';
    case AE_IFDIR:
      return 'd';
    case AE_IFLNK:
      return 'l';
    case AE_IFCHR:
      return 'c';
    case AE_IFBLK:
      return 'b';
    case AE_IFIFO:
      return 'p';
    default:
      return '?';
  }
}

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (std::size_t i = 0; i < size; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 0xf];
  }
  return hex;
}

std::expected<std::string, std::string> hash_data(archive* reader) {
  DigestPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return std::unexpected("EVP_DigestInit_ex failed");
  }
  std::array<char, 65536> buffer{};
  for (;;) {
    const la_ssize_t got = archive_read_data(reader, buffer.data(), buffer.size());
    if (got < 0) return std::unexpected(archive_error_string(reader));
    if (got == 0) break;
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(got));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &size);
  return to_hex(digest.data(), size);
}

std::map<std::string, std::string> xattrs_of(archive_entry* entry) {
  std::map<std::string, std::string> xattrs;
  archive_entry_xattr_reset(entry);
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    xattrs[name] = std::string(static_cast<const char*>(value), size);
  }
  return xattrs;
}

FsEntry entry_of(archive_entry* entry) {
  FsEntry out;
  out.type = type_of(archive_entry_filetype(entry));
  out.mode = archive_entry_perm(entry) & 07777;
  out.uid = archive_entry_uid(entry);
  out.gid = archive_entry_gid(entry);
  out.mtime = archive_entry_mtime(entry);
  if (out.type == 'l') out.link = archive_entry_symlink(entry);
  out.xattrs = xattrs_of(entry);
  return out;
}

// Hard link entries carry no data: they take their target's, and every member of a
// group lists the others.
void resolve_hardlinks(const std::vector<std::pair<std::string, std::string>>& links, FlatFs* fs) {
  std::map<std::string, std::set<std::string>> groups;  // target -> all names
  for (const auto& [name, target] : links) {
    groups[target].insert(target);
    groups[target].insert(name);
    auto found = fs->find(target);
    if (found == fs->end()) continue;
    FsEntry copy = found->second;
    copy.xattrs = (*fs)[name].xattrs;
    (*fs)[name] = copy;
  }
  for (const auto& [target, names] : groups) {
    for (const auto& name : names) {
      std::string others;
      for (const auto& other : names) {
        if (other == name) continue;
        others += (others.empty() ? "" : " ") + other;
      }
      (*fs)[name].hardlinks = others;
    }
  }
}

}  // namespace

std::expected<FlatFs, std::string> read_flat_fs(const std::filesystem::path& tar) {
  ArchivePtr reader(archive_read_new(), &archive_read_free);
  archive_read_support_format_tar(reader.get());
  archive_read_support_filter_all(reader.get());
  if (archive_read_open_filename(reader.get(), tar.c_str(), 65536) != ARCHIVE_OK) {
    return std::unexpected(tar.string() + ": " + archive_error_string(reader.get()));
  }
  FlatFs fs;
  std::vector<std::pair<std::string, std::string>> links;  // name -> hard link target
  archive_entry* entry = nullptr;
  int status = ARCHIVE_OK;
  while ((status = archive_read_next_header(reader.get(), &entry)) == ARCHIVE_OK) {
    const std::string path = normalize(archive_entry_pathname(entry));
    if (path.empty()) continue;
    FsEntry& out = fs[path] = entry_of(entry);
    if (const char* target = archive_entry_hardlink(entry); target != nullptr) {
      links.emplace_back(path, normalize(target));
      continue;
    }
    if (out.type != 'f') continue;
    out.size = archive_entry_size(entry);
    auto hash = hash_data(reader.get());
    if (!hash) return std::unexpected(path + ": " + hash.error());
    out.sha256 = *hash;
  }
  if (status != ARCHIVE_EOF) {
    return std::unexpected(tar.string() + ": " + archive_error_string(reader.get()));
  }
  resolve_hardlinks(links, &fs);
  return fs;
}

std::string describe(const FsEntry& entry) {
  std::ostringstream out;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", entry.mode);
  out << entry.type << ' ' << mode << ' ' << entry.uid << ':' << entry.gid;
  if (entry.type == 'f') out << ' ' << entry.size << " sha256:" << entry.sha256.substr(0, 12);
  if (entry.type == 'l') out << " -> " << entry.link;
  if (!entry.hardlinks.empty()) out << " links [" << entry.hardlinks << ']';
  for (const auto& [name, value] : entry.xattrs) out << ' ' << name << "=(" << value.size() << ')';
  return out.str();
}

namespace {

std::string octal(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode);
  return text;
}

std::string xattr_names(const std::map<std::string, std::string>& xattrs) {
  std::string names;
  for (const auto& [name, value] : xattrs)
    names += name + "(" + std::to_string(value.size()) + ") ";
  return names;
}

void compare_entry(const std::string& path, const FsEntry& a, const FsEntry& b,
                   long long kept_mtime, std::vector<FsDifference>* out) {
  auto add = [&](std::string field, std::string left, std::string right) {
    if (left != right) out->push_back({path, std::move(field), std::move(left), std::move(right)});
  };
  add("type", std::string(1, a.type), std::string(1, b.type));
  if (a.type != b.type) return;
  add("mode", octal(a.mode), octal(b.mode));
  add("owner", std::to_string(a.uid) + ":" + std::to_string(a.gid),
      std::to_string(b.uid) + ":" + std::to_string(b.gid));
  add("size", std::to_string(a.size), std::to_string(b.size));
  add("sha256", a.sha256, b.sha256);
  add("link", a.link, b.link);
  add("hardlinks", a.hardlinks, b.hardlinks);
  if (a.type != 'd' && (a.mtime == kept_mtime || b.mtime == kept_mtime)) {
    add("mtime", std::to_string(a.mtime), std::to_string(b.mtime));
  }
  if (a.xattrs != b.xattrs) {
    const bool same_names = xattr_names(a.xattrs) == xattr_names(b.xattrs);
    add("xattrs", xattr_names(a.xattrs) + (same_names ? "(values differ)" : ""),
        xattr_names(b.xattrs));
  }
}

}  // namespace

std::vector<FsDifference> compare_fs(const FlatFs& left, const FlatFs& right,
                                     long long kept_mtime) {
  std::vector<FsDifference> out;
  auto l = left.begin();
  auto r = right.begin();
  while (l != left.end() || r != right.end()) {
    if (r == right.end() || (l != left.end() && l->first < r->first)) {
      out.push_back({l->first, "presence", describe(l->second), "(absent)"});
      ++l;
    } else if (l == left.end() || r->first < l->first) {
      out.push_back({r->first, "presence", "(absent)", describe(r->second)});
      ++r;
    } else {
      compare_entry(l->first, l->second, r->second, kept_mtime, &out);
      ++l;
      ++r;
    }
  }
  return out;
}

}  // namespace drydock::e2e
