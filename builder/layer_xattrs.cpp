#include "builder/layer_xattrs.hpp"

#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>

namespace drydock::builder {
namespace {

// "No such attribute" and "this filesystem has no xattrs" both mean: none.
bool is_absent(int err) { return err == ENODATA || err == ENOTSUP; }

// Reads the NUL-separated name list, growing the buffer if it raced a change.
LayerResult<std::string> list_names(const std::filesystem::path& path) {
  std::string names;
  while (true) {
    ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) {
      if (is_absent(errno)) return std::string();
      return errno_error("list xattrs of", path.native(), errno);
    }
    names.resize(static_cast<std::size_t>(n));
    n = ::llistxattr(path.c_str(), names.data(), names.size());
    if (n >= 0) {
      names.resize(static_cast<std::size_t>(n));
      return names;
    }
    if (errno != ERANGE) return errno_error("list xattrs of", path.native(), errno);
  }
}

}  // namespace

LayerResult<std::optional<std::string>> read_xattr(const std::filesystem::path& path,
                                                   const char* name) {
  std::string value;
  while (true) {
    ssize_t n = ::lgetxattr(path.c_str(), name, nullptr, 0);
    if (n < 0) {
      if (is_absent(errno)) return std::nullopt;
      return errno_error(std::string("read xattr ") + name + " of", path.native(), errno);
    }
    value.resize(static_cast<std::size_t>(n));
    n = ::lgetxattr(path.c_str(), name, value.data(), value.size());
    if (n >= 0) {
      value.resize(static_cast<std::size_t>(n));
      return value;
    }
    if (is_absent(errno)) return std::nullopt;
    if (errno != ERANGE) {
      return errno_error(std::string("read xattr ") + name + " of", path.native(), errno);
    }
  }
}

LayerResult<std::vector<Xattr>> read_xattrs(const std::filesystem::path& path,
                                            const std::function<bool(std::string_view)>& keep) {
  auto names = list_names(path);
  if (!names) return std::unexpected(names.error());
  std::vector<Xattr> out;
  for (std::size_t pos = 0; pos < names->size();) {
    std::string name(names->c_str() + pos);
    pos += name.size() + 1;
    if (name.empty() || !keep(name)) continue;
    auto value = read_xattr(path, name.c_str());
    if (!value) return std::unexpected(value.error());
    if (*value) out.emplace_back(std::move(name), std::move(**value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace drydock::builder
