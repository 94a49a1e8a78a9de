#include "builder/build_labels.hpp"

#include "builder/dockerfile.hpp"

namespace drydock::builder {

namespace {

// A double-quoted Dockerfile word that expands to `s` exactly: '"', '$' and
// the escape character escaped (BuildKit's shell lexer, double quotes).
std::string quoted(std::string_view s, char escape) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '$' || c == escape) out += escape;
    out += c;
  }
  return out + "\"";
}

// Offset of the start of 1-based line `line` in `text`.
std::size_t line_offset(std::string_view text, int line) {
  std::size_t off = 0;
  for (int l = 1; l < line && off < text.size(); ++l) {
    auto nl = text.find('\n', off);
    if (nl == std::string_view::npos) return text.size();
    off = nl + 1;
  }
  return off;
}

}  // namespace

std::expected<std::string, std::string> dockerfile_with_labels(
    std::string_view text, std::string_view file, std::string_view target,
    const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return std::string(text);
  for (const auto& [k, v] : labels) {
    if (k.empty()) return std::unexpected("a label needs a name");
    if ((k + v).find_first_of("\r\n") != std::string::npos) {
      return std::unexpected("label " + k + ": line breaks are not supported");
    }
  }
  auto df = parse_dockerfile(text, file);
  if (!df) return std::string(text);
  std::size_t stage = df->stages.size() - 1;
  if (!target.empty()) {
    auto found = df->find_stage(target);
    if (!found) return std::string(text);
    stage = *found;
  }
  std::string line = "LABEL";
  for (const auto& [k, v] : labels)
    line += " " + quoted(k, df->escape) + "=" + quoted(v, df->escape);
  line += "\n";
  std::string out(text);
  if (stage + 1 < df->stages.size()) {
    // Before the next stage's FROM: the end of this one.
    out.insert(line_offset(text, df->stages[stage + 1].from.start_line), line);
    return out;
  }
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out + line;
}

}  // namespace drydock::builder
