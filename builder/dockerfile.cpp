#include "builder/dockerfile.hpp"

#include <array>
#include <utility>

#include "builder/dockerfile_node.hpp"
#include "builder/dockerfile_text.hpp"

namespace drydock::builder {

namespace {

struct KeywordInfo {
  Keyword keyword;
  std::string_view name;
  bool expands;
};

// https://docs.docker.com/reference/dockerfile/#environment-replacement lists
// the instructions that expand variables; ARG is added because BuildKit
// expands ARG default values (`ARG B=${A}`) as well.
constexpr std::array<KeywordInfo, 18> kKeywords = {{
    {Keyword::kAdd, "ADD", true},
    {Keyword::kArg, "ARG", true},
    {Keyword::kCmd, "CMD", false},
    {Keyword::kCopy, "COPY", true},
    {Keyword::kEntrypoint, "ENTRYPOINT", false},
    {Keyword::kEnv, "ENV", true},
    {Keyword::kExpose, "EXPOSE", true},
    {Keyword::kFrom, "FROM", true},
    {Keyword::kHealthcheck, "HEALTHCHECK", false},
    {Keyword::kLabel, "LABEL", true},
    {Keyword::kMaintainer, "MAINTAINER", false},
    {Keyword::kOnbuild, "ONBUILD", false},
    {Keyword::kRun, "RUN", false},
    {Keyword::kShell, "SHELL", false},
    {Keyword::kStopsignal, "STOPSIGNAL", true},
    {Keyword::kUser, "USER", true},
    {Keyword::kVolume, "VOLUME", true},
    {Keyword::kWorkdir, "WORKDIR", true},
}};

const KeywordInfo& info(Keyword keyword) {
  for (const KeywordInfo& entry : kKeywords) {
    if (entry.keyword == keyword) return entry;
  }
  return kKeywords[0];  // unreachable: every enumerator is in the table
}

using Unexpected = std::unexpected<DockerfileError>;

DockerfileError instruction_error(const Instruction& instruction, std::string_view file,
                                  DockerfileErrc code, std::string message) {
  return DockerfileError{code, std::string(file), instruction.start_line,
                         std::string(keyword_name(instruction.keyword)), std::move(message)};
}

// Sorts instructions into global ARGs and stages (BuildKit's instructions.Parse).
class StageBuilder {
 public:
  StageBuilder(Dockerfile& dockerfile, std::string_view file)
      : dockerfile_(dockerfile), file_(file) {}

  std::expected<void, DockerfileError> add(Instruction&& instruction) {
    if (instruction.keyword == Keyword::kFrom) return start_stage(std::move(instruction));
    if (dockerfile_.stages.empty()) {
      if (instruction.keyword == Keyword::kArg) {
        dockerfile_.global_args.push_back(std::move(instruction));
        return {};
      }
      return Unexpected(instruction_error(
          instruction, file_, DockerfileErrc::kMissingFrom,
          "no build stage in current context: only ARG may come before the first FROM"));
    }
    dockerfile_.stages.back().instructions.push_back(std::move(instruction));
    return {};
  }

 private:
  std::expected<void, DockerfileError> start_stage(Instruction&& instruction) {
    const auto& from = std::get<FromCommand>(instruction.command);
    if (!from.stage_name.empty() && dockerfile_.find_stage(from.stage_name)) {
      return Unexpected(instruction_error(instruction, file_, DockerfileErrc::kDuplicateStage,
                                          "duplicate stage name \"" + from.stage_name + "\""));
    }
    Stage stage{from.stage_name, from.base_name, from.platform, std::move(instruction), {}};
    dockerfile_.stages.push_back(std::move(stage));
    return {};
  }

  Dockerfile& dockerfile_;
  std::string_view file_;
};

}  // namespace

std::string_view keyword_name(Keyword keyword) { return info(keyword).name; }

std::optional<Keyword> find_keyword(std::string_view word) {
  const std::string upper = text::to_upper(word);
  for (const KeywordInfo& entry : kKeywords) {
    if (entry.name == upper) return entry.keyword;
  }
  return std::nullopt;
}

bool expands_variables(Keyword keyword) { return info(keyword).expands; }

std::string DockerfileError::to_string() const {
  std::string out = file.empty() ? "Dockerfile" : file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!instruction.empty()) out += instruction + ": ";
  return out + message;
}

std::string Heredoc::body() const {
  if (!chomp) return content;
  std::string out;
  out.reserve(content.size());
  bool line_start = true;
  for (const char c : content) {
    if (line_start && c == '\t') continue;
    line_start = c == '\n';
    out += c;
  }
  return out;
}

std::optional<std::size_t> Dockerfile::find_stage(std::string_view name_or_index) const {
  const std::string wanted = text::to_lower(name_or_index);
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (!stages[i].name.empty() && stages[i].name == wanted) return i;
  }
  if (name_or_index.empty() || name_or_index.size() > 9) return std::nullopt;
  std::size_t index = 0;
  for (const char c : name_or_index) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<std::size_t>(c - '0');
  }
  if (index < stages.size()) return index;
  return std::nullopt;
}

std::expected<Dockerfile, DockerfileError> parse_dockerfile(std::string_view text,
                                                            std::string_view file) {
  auto nodes = detail::parse_nodes(text, file);
  if (!nodes) return Unexpected(nodes.error());
  Dockerfile dockerfile;
  dockerfile.syntax = std::move(nodes->syntax);
  dockerfile.check = std::move(nodes->check);
  dockerfile.escape = nodes->escape;
  dockerfile.warnings = std::move(nodes->warnings);
  StageBuilder stages(dockerfile, file);
  for (const detail::Node& node : nodes->nodes) {
    auto instruction = detail::build_instruction(node, file);
    if (!instruction) return Unexpected(instruction.error());
    if (auto added = stages.add(std::move(*instruction)); !added) {
      return Unexpected(added.error());
    }
  }
  if (dockerfile.stages.empty()) {
    return Unexpected(DockerfileError{DockerfileErrc::kNoStages,
                                      std::string(file),
                                      0,
                                      {},
                                      "dockerfile contains no stages to build"});
  }
  return dockerfile;
}

std::expected<Instruction, DockerfileError> parse_trigger(std::string_view expression,
                                                          std::string_view file) {
  auto nodes = detail::parse_nodes(expression, file);
  if (!nodes) return Unexpected(nodes.error());
  const detail::Node& node = nodes->nodes.front();
  if (nodes->nodes.size() != 1) {
    return Unexpected(detail::node_error(nodes->nodes[1], file, DockerfileErrc::kSyntax,
                                         "an ONBUILD trigger must be a single instruction"));
  }
  if (node.keyword == Keyword::kFrom || node.keyword == Keyword::kOnbuild ||
      node.keyword == Keyword::kMaintainer) {
    return Unexpected(detail::node_error(
        node, file, DockerfileErrc::kSyntax,
        std::string(keyword_name(*node.keyword)) + " isn't allowed as an ONBUILD trigger"));
  }
  return detail::build_instruction(node, file);
}

}  // namespace drydock::builder
