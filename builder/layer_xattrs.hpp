#pragma once

// Extended attributes of files going into a layer (never following symlinks).

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "builder/layer_sink.hpp"

namespace drydock::builder {

// One extended attribute: name and raw value.
using Xattr = std::pair<std::string, std::string>;

// The value of xattr `name` on `path`; nullopt when absent or when the
// filesystem has no xattrs at all.
LayerResult<std::optional<std::string>> read_xattr(const std::filesystem::path& path,
                                                   const char* name);

// The xattrs of `path` whose names `keep` accepts, sorted by name so that the
// tar header is the same whatever order the filesystem lists them in.
LayerResult<std::vector<Xattr>> read_xattrs(const std::filesystem::path& path,
                                            const std::function<bool(std::string_view)>& keep);

}  // namespace drydock::builder
