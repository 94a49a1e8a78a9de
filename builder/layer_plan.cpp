#include "builder/layer_plan.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <span>
#include <utility>
#include <vector>

#include "builder/layer_xattrs.hpp"

namespace drydock::builder {
namespace {

// OCI image-spec layer.md, "Whiteouts".
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

// overlayfs keeps its bookkeeping in trusted.overlay.* or, when mounted with
// "userxattr" (rootless), in user.overlay.*; both are checked, as BuildKit's
// overlay differ does.
constexpr const char* kOpaqueXattrs[] = {"trusted.overlay.opaque", "user.overlay.opaque"};
constexpr const char* kRedirectXattrs[] = {"trusted.overlay.redirect", "user.overlay.redirect"};
constexpr const char* kMetacopyXattrs[] = {"trusted.overlay.metacopy", "user.overlay.metacopy"};

int rank(char c) { return c == '/' ? 0 : static_cast<unsigned char>(c) + 1; }

std::string join(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  out += '/';
  out += name;
  return out;
}

// "a/b" -> "a/.wh.b"
std::string whiteout_name(std::string_view name) {
  std::size_t slash = name.rfind('/');
  if (slash == std::string_view::npos) return std::string(kWhiteoutPrefix) + std::string(name);
  return join(name.substr(0, slash),
              std::string(kWhiteoutPrefix) + std::string(name.substr(slash + 1)));
}

LayerResult<struct stat> lstat_path(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno_error("lstat", path.native(), errno);
  return st;
}

// Names in `dir` other than "." and "..", in no particular order.
LayerResult<std::vector<std::string>> list_dir(const std::filesystem::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno_error("open directory", dir.native(), errno);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (e == nullptr) break;
    std::string_view n(e->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return errno_error("read directory", dir.native(), err);
  return names;
}

// True if any of `names` is set on `path` ("y" required when `want_y`).
LayerResult<bool> has_any_xattr(const std::filesystem::path& path,
                                std::span<const char* const> names, bool want_y) {
  for (const char* name : names) {
    auto value = read_xattr(path, name);
    if (!value) return std::unexpected(value.error());
    if (*value && (!want_y || **value == "y")) return true;
  }
  return false;
}

PlanEntry source_entry(const std::filesystem::path& source, const struct stat& st,
                       const CopyAttrs& attrs) {
  PlanEntry e;
  e.origin = EntryOrigin::kSource;
  e.type = st.st_mode & S_IFMT;
  e.source = source;
  e.attrs = attrs;
  return e;
}

PlanEntry marker_entry(EntryOrigin origin) {
  PlanEntry e;
  e.origin = origin;
  e.type = S_IFREG;
  return e;
}

std::unexpected<LayerError> unsupported(std::string what, const std::filesystem::path& path) {
  return std::unexpected(LayerError{LayerErrorCode::kUnsupported, what + " " + path.native()});
}

// Fails on entries whose data lives in a lower layer: a renamed directory
// (redirect_dir) or a metadata-only copy-up (metacopy).
LayerResult<void> check_overlay_data(const std::filesystem::path& source, const struct stat& st) {
  if (S_ISDIR(st.st_mode)) {
    auto redirect = has_any_xattr(source, kRedirectXattrs, false);
    if (!redirect) return std::unexpected(redirect.error());
    if (*redirect) return unsupported("overlay redirect_dir entry (use redirect_dir=off):", source);
  }
  if (S_ISREG(st.st_mode)) {
    auto metacopy = has_any_xattr(source, kMetacopyXattrs, false);
    if (!metacopy) return std::unexpected(metacopy.error());
    if (*metacopy) return unsupported("overlay metacopy entry (use metacopy=off):", source);
  }
  return {};
}

}  // namespace

bool LayerPathLess::operator()(std::string_view a, std::string_view b) const {
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return rank(a[i]) < rank(b[i]);
  }
  return a.size() < b.size();
}

LayerResult<std::string> clean_layer_path(std::string_view dest) {
  if (dest.find('\0') != std::string_view::npos) {
    return std::unexpected(LayerError{LayerErrorCode::kInvalidPath, "path contains NUL"});
  }
  std::vector<std::string_view> parts;
  while (!dest.empty()) {
    std::size_t slash = dest.find('/');
    std::string_view part = dest.substr(0, slash);
    dest = slash == std::string_view::npos ? std::string_view() : dest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (std::string_view p : parts) out = join(out, p);
  return out;
}

LayerResult<void> LayerPlan::add_overlay_upper(const std::filesystem::path& upper) {
  auto st = lstat_path(upper);
  if (!st) return std::unexpected(st.error());
  if (!S_ISDIR(st->st_mode)) {
    return std::unexpected(
        LayerError{LayerErrorCode::kConflict, "not a directory: " + upper.native()});
  }
  // An opaque root hides every lower layer: "/.wh..wh..opq".
  if (auto r = add_opaque_marker(upper, ""); !r) return r;
  return add_tree(upper, "", {}, SourceKind::kOverlayUpper);
}

LayerResult<void> LayerPlan::add_path(const std::filesystem::path& source, std::string_view dest,
                                      const CopyAttrs& attrs) {
  auto name = clean_layer_path(dest);
  if (!name) return std::unexpected(name.error());
  auto st = lstat_path(source);
  if (!st) return std::unexpected(st.error());
  bool is_dir = S_ISDIR(st->st_mode);
  if (name->empty() && !is_dir) {
    return std::unexpected(
        LayerError{LayerErrorCode::kInvalidPath,
                   "only a directory can go at the layer root: " + source.native()});
  }
  if (S_ISSOCK(st->st_mode)) return {};
  if (auto r = put(*name, source_entry(source, *st, attrs)); !r) return r;
  if (!is_dir) return {};
  return add_tree(source, *name, attrs, SourceKind::kPlain);
}

LayerResult<void> LayerPlan::add_contents(const std::filesystem::path& source_dir,
                                          std::string_view dest, const CopyAttrs& attrs) {
  auto name = clean_layer_path(dest);
  if (!name) return std::unexpected(name.error());
  auto st = lstat_path(source_dir);
  if (!st) return std::unexpected(st.error());
  if (!S_ISDIR(st->st_mode)) {
    return std::unexpected(
        LayerError{LayerErrorCode::kConflict, "not a directory: " + source_dir.native()});
  }
  PlanEntry dir;
  dir.origin = EntryOrigin::kImplicitDir;
  dir.type = S_IFDIR;
  dir.attrs.owner = attrs.owner;
  if (auto r = put(*name, std::move(dir)); !r) return r;
  return add_tree(source_dir, *name, attrs, SourceKind::kPlain);
}

LayerResult<void> LayerPlan::add_directory(std::string_view dest, const MadeAttrs& attrs) {
  auto name = clean_layer_path(dest);
  if (!name) return std::unexpected(name.error());
  PlanEntry e;
  e.origin = EntryOrigin::kMadeDir;
  e.type = S_IFDIR;
  e.made = attrs;
  e.attrs.owner = attrs.owner;
  return put(*name, std::move(e));
}

LayerResult<void> LayerPlan::add_file(std::string_view dest, std::string content,
                                      const MadeAttrs& attrs) {
  auto name = clean_layer_path(dest);
  if (!name) return std::unexpected(name.error());
  if (name->empty()) {
    return std::unexpected(LayerError{LayerErrorCode::kInvalidPath, "a file cannot be the root"});
  }
  PlanEntry e;
  e.origin = EntryOrigin::kMadeFile;
  e.type = S_IFREG;
  e.made = attrs;
  e.attrs.owner = attrs.owner;
  e.content = std::move(content);
  return put(*name, std::move(e));
}

// Depth-first over the subtree below `source` (not `source` itself), with an
// explicit stack so that deep trees cannot exhaust the call stack.
LayerResult<void> LayerPlan::add_tree(const std::filesystem::path& source, const std::string& dest,
                                      const CopyAttrs& attrs, SourceKind kind) {
  std::vector<std::pair<std::filesystem::path, std::string>> stack{{source, dest}};
  while (!stack.empty()) {
    auto [dir, dir_name] = std::move(stack.back());
    stack.pop_back();
    auto names = list_dir(dir);
    if (!names) return std::unexpected(names.error());
    for (const std::string& child : *names) {
      std::filesystem::path child_source = dir / child;
      std::string child_name = join(dir_name, child);
      auto st = lstat_path(child_source);
      if (!st) return std::unexpected(st.error());
      bool descend = false;
      if (kind == SourceKind::kOverlayUpper) {
        auto r = add_overlay_child(child_source, child_name, *st);
        if (!r) return std::unexpected(r.error());
        descend = *r;
      } else if (!S_ISSOCK(st->st_mode)) {
        if (auto r = put(child_name, source_entry(child_source, *st, attrs)); !r) return r;
        descend = S_ISDIR(st->st_mode);
      }
      if (descend) stack.emplace_back(std::move(child_source), std::move(child_name));
    }
  }
  return {};
}

// One entry of an overlay upper dir, translated (see add_overlay_upper).
LayerResult<bool> LayerPlan::add_overlay_child(const std::filesystem::path& source,
                                               const std::string& name, const struct stat& st) {
  // Sockets are not carried in layers (containerd's ChangeWriter skips them).
  if (S_ISSOCK(st.st_mode)) return false;
  if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
    if (auto r = put(whiteout_name(name), marker_entry(EntryOrigin::kWhiteout)); !r) {
      return std::unexpected(r.error());
    }
    return false;
  }
  if (auto r = check_overlay_data(source, st); !r) return std::unexpected(r.error());
  if (auto r = put(name, source_entry(source, st, {})); !r) return std::unexpected(r.error());
  if (!S_ISDIR(st.st_mode)) return false;
  if (auto r = add_opaque_marker(source, name); !r) return std::unexpected(r.error());
  return true;
}

LayerResult<void> LayerPlan::add_opaque_marker(const std::filesystem::path& dir,
                                               const std::string& name) {
  auto opaque = has_any_xattr(dir, kOpaqueXattrs, true);
  if (!opaque) return std::unexpected(opaque.error());
  if (!*opaque) return {};
  return put(join(name, kOpaqueMarker), marker_entry(EntryOrigin::kOpaqueMarker));
}

LayerResult<void> LayerPlan::put(std::string name, PlanEntry entry) {
  // The root is never an entry: containerd's differ does not write "./".
  if (name.empty()) return {};
  if (auto r = ensure_parents(name, entry.attrs); !r) return r;
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    entries_.emplace(std::move(name), std::move(entry));
    return {};
  }
  bool old_dir = S_ISDIR(it->second.type);
  if (entry.origin == EntryOrigin::kImplicitDir) {
    if (old_dir) return {};
    return std::unexpected(
        LayerError{LayerErrorCode::kConflict, "not a directory in the layer: " + name});
  }
  if (old_dir && !S_ISDIR(entry.type) && has_children(it)) {
    return std::unexpected(LayerError{LayerErrorCode::kConflict,
                                      "cannot replace directory with non-directory: " + name});
  }
  it->second = std::move(entry);
  return {};
}

LayerResult<void> LayerPlan::ensure_parents(std::string_view name, const CopyAttrs& attrs) {
  for (std::size_t slash = name.find('/'); slash != std::string_view::npos;
       slash = name.find('/', slash + 1)) {
    std::string_view parent = name.substr(0, slash);
    auto it = entries_.find(parent);
    if (it == entries_.end()) {
      PlanEntry dir;
      dir.origin = EntryOrigin::kImplicitDir;
      dir.type = S_IFDIR;
      dir.attrs.owner = attrs.owner;
      entries_.emplace(std::string(parent), std::move(dir));
    } else if (!S_ISDIR(it->second.type)) {
      return std::unexpected(LayerError{
          LayerErrorCode::kConflict,
          "cannot add " + std::string(name) + ": " + std::string(parent) + " is not a directory"});
    }
  }
  return {};
}

bool LayerPlan::has_children(Entries::const_iterator it) const {
  auto next = std::next(it);
  if (next == entries_.end()) return false;
  const std::string& a = it->first;
  const std::string& b = next->first;
  return b.size() > a.size() && b.starts_with(a) && b[a.size()] == '/';
}

}  // namespace drydock::builder
