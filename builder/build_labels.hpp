#pragma once

// `docker build --label K=V` on the Dockerfile level: dockerd's classic
// builder appends one LABEL instruction to the stage it builds (the target,
// else the last), and so does this, so the labels land in the image config
// and its history like docker's.

#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace drydock::builder {

// `text` with `LABEL "k"="v" ...` added at the end of stage `target` (empty:
// the last stage), quoted so that no variable is expanded. `text` unchanged
// when there are no labels, or when it does not parse or has no such stage
// (the build then fails and says why). An error for a key or value with a
// line break, which one LABEL line cannot carry.
std::expected<std::string, std::string> dockerfile_with_labels(
    std::string_view text, std::string_view file, std::string_view target,
    const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace drydock::builder
