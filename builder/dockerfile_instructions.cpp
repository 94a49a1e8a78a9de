// Second pass of the Dockerfile parser: nodes to typed instructions. Follows
// BuildKit's frontend/dockerfile/instructions (parse.go, bflag.go and the
// commands_run*.go hooks), including which checks come first.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <span>
#include <utility>

#include "builder/dockerfile_node.hpp"
#include "builder/dockerfile_text.hpp"

namespace drydock::builder::detail {

namespace {

// A failure before it gets its location.
struct Failure {
  DockerfileErrc code;
  std::string message;
};

template <class T>
using Result = std::expected<T, Failure>;

std::unexpected<Failure> failure(DockerfileErrc code, std::string message) {
  return std::unexpected(Failure{code, std::move(message)});
}

std::unexpected<Failure> at_least_one(std::string_view keyword) {
  return failure(DockerfileErrc::kMissingArgument,
                 std::string(keyword) + " requires at least one argument");
}

std::unexpected<Failure> exactly_one(std::string_view keyword) {
  return failure(DockerfileErrc::kMissingArgument,
                 std::string(keyword) + " requires exactly one argument");
}

std::unexpected<Failure> blank_names(std::string_view keyword) {
  return failure(DockerfileErrc::kSyntax, std::string(keyword) + " names can not be blank");
}

// --- flags (BuildKit's BFlags) ---------------------------------------------

enum class FlagType { kBool, kString, kStrings };

struct FlagSpec {
  std::string_view name;
  FlagType type;
};

constexpr FlagSpec kFromFlags[] = {{"platform", FlagType::kString}};
constexpr FlagSpec kRunFlags[] = {
    {"mount", FlagType::kStrings}, {"network", FlagType::kString}, {"security", FlagType::kString}};
constexpr FlagSpec kCopyFlags[] = {{"chown", FlagType::kString}, {"chmod", FlagType::kString},
                                   {"from", FlagType::kString},  {"link", FlagType::kBool},
                                   {"parents", FlagType::kBool}, {"exclude", FlagType::kStrings}};
constexpr FlagSpec kAddFlags[] = {{"chown", FlagType::kString},      {"chmod", FlagType::kString},
                                  {"checksum", FlagType::kString},   {"link", FlagType::kBool},
                                  {"keep-git-dir", FlagType::kBool}, {"unpack", FlagType::kBool},
                                  {"exclude", FlagType::kStrings}};
constexpr FlagSpec kHealthcheckFlags[] = {{"interval", FlagType::kString},
                                          {"timeout", FlagType::kString},
                                          {"start-period", FlagType::kString},
                                          {"start-interval", FlagType::kString},
                                          {"retries", FlagType::kString}};

std::unexpected<Failure> bad_flag(std::string message) {
  return failure(DockerfileErrc::kBadFlag, std::move(message));
}

// Checks the node's flags against what the instruction accepts. Booleans
// take `--x`, `--x=true` or `--x=false`; others need `=value`; only
// repeatable ones may appear twice.
Result<Flags> parse_flags(const std::vector<std::string>& words, std::span<const FlagSpec> specs) {
  Flags flags;
  for (const std::string& word : words) {
    if (!word.starts_with("--")) return bad_flag("Arg should start with -- : " + word);
    if (word == "--") break;
    std::string name = word.substr(2);
    const std::size_t equals = name.find('=');
    const bool has_value = equals != std::string::npos;
    std::string value = has_value ? name.substr(equals + 1) : std::string();
    if (has_value) name.resize(equals);
    const auto spec =
        std::find_if(specs.begin(), specs.end(), [&](const FlagSpec& s) { return s.name == name; });
    if (spec == specs.end()) return bad_flag("Unknown flag: " + name);
    if (flags.contains(name) && spec->type != FlagType::kStrings) {
      return bad_flag("Duplicate flag specified: " + name);
    }
    if (has_value ? value.empty() && spec->type == FlagType::kBool
                  : spec->type != FlagType::kBool) {
      return bad_flag("Missing a value on flag: " + name);
    }
    if (spec->type == FlagType::kBool) {
      const std::string lower = text::to_lower(value);
      if (!lower.empty() && lower != "true" && lower != "false") {
        return bad_flag("Expecting boolean value for flag " + name + ", not: " + value);
      }
      value = lower.empty() ? "true" : lower;
    }
    flags[name].push_back(std::move(value));
  }
  return flags;
}

std::string flag_value(const Flags& flags, std::string_view name, std::string fallback = {}) {
  const auto it = flags.find(name);
  return it == flags.end() ? std::move(fallback) : it->second.front();
}

std::vector<std::string> flag_values(const Flags& flags, std::string_view name) {
  const auto it = flags.find(name);
  return it == flags.end() ? std::vector<std::string>() : it->second;
}

bool flag_true(const Flags& flags, std::string_view name) {
  return flag_value(flags, name) == "true";
}

// --- instruction builders ---------------------------------------------------

// What a builder produces besides its command.
struct Built {
  Flags flags;
  Command command;
};

// A shell-form command is its text as one argument (BuildKit's handleJSONArgs).
CommandLine command_line(std::span<const std::string> args, bool json) {
  CommandLine line;
  line.form = json ? CommandForm::kExec : CommandForm::kShell;
  if (json) {
    line.args.assign(args.begin(), args.end());
  } else if (!args.empty()) {
    std::string joined;
    for (const std::string& arg : args) joined += (joined.empty() ? "" : " ") + arg;
    line.args.push_back(std::move(joined));
  }
  return line;
}

bool valid_stage_name(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

Result<Built> build_from(const Node& node) {
  const std::vector<std::string>& args = node.args;
  FromCommand from;
  if (args.size() == 3 && text::to_lower(args[1]) == "as") {
    from.stage_name = text::to_lower(args[2]);
    if (!valid_stage_name(from.stage_name)) {
      return failure(DockerfileErrc::kSyntax,
                     "invalid name for build stage: \"" + args[2] +
                         "\", name can't start with a number or contain symbols");
    }
  } else if (args.size() != 1) {
    return failure(DockerfileErrc::kMissingArgument, "FROM requires either one or three arguments");
  }
  auto flags = parse_flags(node.flags, kFromFlags);
  if (!flags) return std::unexpected(flags.error());
  from.base_name = args[0];
  from.platform = flag_value(*flags, "platform");
  return Built{std::move(*flags), std::move(from)};
}

Result<Built> build_run(const Node& node) {
  auto flags = parse_flags(node.flags, kRunFlags);
  if (!flags) return std::unexpected(flags.error());
  RunCommand run;
  run.command = command_line(node.args, node.json);
  run.heredocs = node.heredocs;
  run.mounts = flag_values(*flags, "mount");
  run.network = flag_value(*flags, "network", "default");
  run.security = flag_value(*flags, "security", "sandbox");
  if (run.network != "default" && run.network != "none" && run.network != "host") {
    return bad_flag("invalid network mode \"" + run.network + "\"");
  }
  if (run.security != "sandbox" && run.security != "insecure") {
    return bad_flag("security \"" + run.security + "\" is not valid");
  }
  return Built{std::move(*flags), std::move(run)};
}

Result<Built> build_cmd_or_entrypoint(const Node& node) {
  auto flags = parse_flags(node.flags, {});
  if (!flags) return std::unexpected(flags.error());
  CommandLine line = command_line(node.args, node.json);
  if (node.keyword == Keyword::kCmd) return Built{std::move(*flags), CmdCommand{std::move(line)}};
  return Built{std::move(*flags), EntrypointCommand{std::move(line)}};
}

// SHELL must be a JSON array: https://docs.docker.com/reference/dockerfile/#shell
Result<Built> build_shell(const Node& node) {
  auto flags = parse_flags(node.flags, {});
  if (!flags) return std::unexpected(flags.error());
  if (node.args.empty()) return at_least_one("SHELL");
  if (!node.json) {
    return failure(DockerfileErrc::kBadJson, "SHELL requires the arguments to be in JSON form");
  }
  return Built{std::move(*flags), ShellCommand{node.args}};
}

// ENV and LABEL: the first pass left key, value, separator triples.
Result<std::vector<KeyValue>> key_values(const Node& node, std::string_view keyword) {
  if (node.args.empty()) return at_least_one(keyword);
  if (node.args.size() % 3 != 0) {
    return failure(DockerfileErrc::kMissingArgument,
                   "Bad input to " + std::string(keyword) + ", too many arguments");
  }
  std::vector<KeyValue> pairs;
  for (std::size_t i = 0; i < node.args.size(); i += 3) {
    if (node.args[i].empty()) return blank_names(keyword);
    pairs.push_back(KeyValue{node.args[i], node.args[i + 1], node.args[i + 2].empty()});
  }
  return pairs;
}

Result<Built> build_env_or_label(const Node& node) {
  auto flags = parse_flags(node.flags, {});
  if (!flags) return std::unexpected(flags.error());
  auto pairs = key_values(node, keyword_name(*node.keyword));
  if (!pairs) return std::unexpected(pairs.error());
  if (node.keyword == Keyword::kEnv) return Built{std::move(*flags), EnvCommand{std::move(*pairs)}};
  return Built{std::move(*flags), LabelCommand{std::move(*pairs)}};
}

// BuildKit does not check ARG's flags: any are ignored.
Result<Built> build_arg(const Node& node) {
  if (node.args.empty()) return at_least_one("ARG");
  ArgCommand arg;
  for (const std::string& word : node.args) {
    const std::size_t equals = word.find('=');
    if (equals == 0) return blank_names("ARG");
    if (equals == std::string::npos) {
      arg.args.push_back(ArgDefinition{word, std::nullopt});
    } else {
      arg.args.push_back(ArgDefinition{word.substr(0, equals), word.substr(equals + 1)});
    }
  }
  return Built{{}, std::move(arg)};
}

// WORKDIR, USER, MAINTAINER, STOPSIGNAL: the rest of the line is the one argument.
// BuildKit does not check STOPSIGNAL's flags: any are ignored.
Result<Built> build_single(const Node& node) {
  const Keyword keyword = *node.keyword;
  if (node.args.size() != 1) return exactly_one(keyword_name(keyword));
  Flags flags;
  if (keyword != Keyword::kStopsignal) {
    auto parsed = parse_flags(node.flags, {});
    if (!parsed) return std::unexpected(parsed.error());
    flags = std::move(*parsed);
  }
  const std::string& value = node.args[0];
  switch (keyword) {
    case Keyword::kWorkdir:
      return Built{std::move(flags), WorkdirCommand{value}};
    case Keyword::kUser:
      return Built{std::move(flags), UserCommand{value}};
    case Keyword::kMaintainer:
      return Built{std::move(flags), MaintainerCommand{value}};
    default:
      return Built{std::move(flags), StopsignalCommand{value}};
  }
}

Result<Built> build_expose(const Node& node) {
  if (node.args.empty()) return at_least_one("EXPOSE");
  auto flags = parse_flags(node.flags, {});
  if (!flags) return std::unexpected(flags.error());
  ExposeCommand expose{node.args};
  std::sort(expose.ports.begin(), expose.ports.end());
  return Built{std::move(*flags), std::move(expose)};
}

Result<Built> build_volume(const Node& node) {
  if (node.args.empty()) return at_least_one("VOLUME");
  auto flags = parse_flags(node.flags, {});
  if (!flags) return std::unexpected(flags.error());
  VolumeCommand volume;
  for (const std::string& path : node.args) {
    const std::string_view trimmed = text::trim(path);
    if (trimmed.empty()) {
      return failure(DockerfileErrc::kSyntax, "VOLUME specified can not be an empty string");
    }
    volume.paths.emplace_back(trimmed);
  }
  return Built{std::move(*flags), std::move(volume)};
}

// An --interval style flag: a Go duration, 0 or at least 1ms.
Result<std::chrono::nanoseconds> health_duration(const Flags& flags, std::string_view name) {
  const std::string value = flag_value(flags, name);
  if (value.empty()) return std::chrono::nanoseconds{0};
  const std::optional<std::int64_t> parsed = text::parse_duration(value);
  if (!parsed) {
    return failure(DockerfileErrc::kBadFlag,
                   "time: invalid duration \"" + value + "\" for --" + std::string(name));
  }
  if (*parsed != 0 && *parsed < 1000000) {
    return failure(DockerfileErrc::kBadFlag,
                   "Interval \"" + std::string(name) + "\" cannot be less than 1ms");
  }
  return std::chrono::nanoseconds{*parsed};
}

Result<int> health_retries(const Flags& flags) {
  const std::string value = flag_value(flags, "retries");
  if (value.empty()) return 0;
  std::string_view digits = value;
  if (digits.starts_with('+')) digits.remove_prefix(1);
  std::int32_t retries = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), retries);
  if (error != std::errc() || end != digits.data() + digits.size() || value.starts_with("+-")) {
    return failure(DockerfileErrc::kBadFlag, "invalid value \"" + value + "\" for --retries");
  }
  if (retries < 0) {
    return failure(DockerfileErrc::kBadFlag,
                   "--retries cannot be negative (" + std::to_string(retries) + ")");
  }
  return retries;
}

Result<HealthcheckCommand> health_options(const Flags& flags) {
  HealthcheckCommand health;
  std::pair<std::string_view, std::chrono::nanoseconds*> durations[] = {
      {"interval", &health.interval},
      {"timeout", &health.timeout},
      {"start-period", &health.start_period},
      {"start-interval", &health.start_interval}};
  for (auto& [name, field] : durations) {
    auto value = health_duration(flags, name);
    if (!value) return std::unexpected(value.error());
    *field = *value;
  }
  auto retries = health_retries(flags);
  if (!retries) return std::unexpected(retries.error());
  health.retries = *retries;
  return health;
}

// HEALTHCHECK NONE | [options] CMD command. BuildKit ignores flags on NONE.
Result<Built> build_healthcheck(const Node& node) {
  if (node.args.empty()) return at_least_one("HEALTHCHECK");
  const std::string type = text::to_upper(node.args[0]);
  const std::span<const std::string> rest(node.args.begin() + 1, node.args.end());
  if (type == "NONE") {
    if (!rest.empty()) {
      return failure(DockerfileErrc::kMissingArgument, "HEALTHCHECK NONE takes no arguments");
    }
    return Built{{}, HealthcheckCommand{{"NONE"}}};
  }
  auto flags = parse_flags(node.flags, kHealthcheckFlags);
  if (!flags) return std::unexpected(flags.error());
  if (type != "CMD") {
    return failure(DockerfileErrc::kSyntax,
                   "Unknown type \"" + type + "\" in HEALTHCHECK (try CMD)");
  }
  CommandLine command = command_line(rest, node.json);
  if (command.args.empty()) {
    return failure(DockerfileErrc::kMissingArgument, "Missing command after HEALTHCHECK CMD");
  }
  auto health = health_options(*flags);
  if (!health) return std::unexpected(health.error());
  health->test.push_back(node.json ? "CMD" : "CMD-SHELL");
  health->test.insert(health->test.end(), command.args.begin(), command.args.end());
  return Built{std::move(*flags), std::move(*health)};
}

// Sources (paths or heredocs) and the destination of COPY and ADD.
Result<CopySpec> copy_spec(const Node& node, const Flags& flags, std::string_view keyword) {
  CopySpec spec;
  spec.dest = node.args.back();
  auto dest_heredoc = parse_heredoc_word(spec.dest);
  if (dest_heredoc && *dest_heredoc) {
    return failure(DockerfileErrc::kSyntax,
                   std::string(keyword) + " cannot accept a heredoc as a destination");
  }
  for (std::size_t i = 0; i + 1 < node.args.size(); ++i) {
    auto heredoc = parse_heredoc_word(node.args[i]);
    if (!heredoc || !*heredoc) {
      spec.sources.push_back(node.args[i]);
      continue;
    }
    InlineSource source{(*heredoc)->name, {}, (*heredoc)->expand};
    const auto body = std::find_if(node.heredocs.begin(), node.heredocs.end(),
                                   [&](const Heredoc& h) { return h.name == source.name; });
    Heredoc content = body == node.heredocs.end() ? Heredoc{} : *body;
    content.chomp = (*heredoc)->chomp;
    source.data = content.body();
    spec.inline_sources.push_back(std::move(source));
  }
  spec.chown = flag_value(flags, "chown");
  spec.chmod = flag_value(flags, "chmod");
  spec.link = flag_true(flags, "link");
  spec.excludes = flag_values(flags, "exclude");
  return spec;
}

std::unexpected<Failure> no_destination(std::string_view keyword) {
  return failure(DockerfileErrc::kMissingArgument,
                 std::string(keyword) +
                     " requires at least two arguments, but only one was provided. "
                     "Destination could not be determined");
}

Result<Built> build_copy(const Node& node) {
  if (node.args.size() < 2) return no_destination("COPY");
  auto flags = parse_flags(node.flags, kCopyFlags);
  if (!flags) return std::unexpected(flags.error());
  auto spec = copy_spec(node, *flags, "COPY");
  if (!spec) return std::unexpected(spec.error());
  CopyCommand copy{std::move(*spec), flag_value(*flags, "from"), flag_true(*flags, "parents")};
  return Built{std::move(*flags), std::move(copy)};
}

Result<Built> build_add(const Node& node) {
  if (node.args.size() < 2) return no_destination("ADD");
  auto flags = parse_flags(node.flags, kAddFlags);
  if (!flags) return std::unexpected(flags.error());
  auto spec = copy_spec(node, *flags, "ADD");
  if (!spec) return std::unexpected(spec.error());
  AddCommand add{std::move(*spec), flag_value(*flags, "checksum"),
                 flag_true(*flags, "keep-git-dir"), std::nullopt};
  if (flags->contains("unpack")) add.unpack = flag_true(*flags, "unpack");
  return Built{std::move(*flags), std::move(add)};
}

// The line with `ONBUILD` and the blanks around it removed (BuildKit's
// `(?i)^\s*ONBUILD\s*`), heredoc bodies appended: the text stored in the
// image config's OnBuild list.
std::string onbuild_expression(const Node& node) {
  std::string_view text = node.line;
  auto skip_space = [&] {
    while (!text.empty() && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' ||
                             text[0] == '\f' || text[0] == '\r')) {
      text.remove_prefix(1);
    }
  };
  skip_space();
  if (text::to_upper(text.substr(0, 7)) == "ONBUILD") text.remove_prefix(7);
  skip_space();
  std::string expression(text);
  for (const Heredoc& heredoc : node.heredocs) expression += "\n" + heredoc.content + heredoc.name;
  return expression;
}

Result<Built> build_onbuild(const Node& node, std::string_view file) {
  if (node.args.empty() || !node.child) return at_least_one("ONBUILD");
  auto flags = parse_flags(node.flags, {});
  if (!flags) return std::unexpected(flags.error());
  const std::string trigger = text::to_upper(text::trim(node.child->keyword_text));
  if (trigger == "ONBUILD") {
    return failure(DockerfileErrc::kSyntax, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  }
  if (trigger == "MAINTAINER" || trigger == "FROM") {
    return failure(DockerfileErrc::kSyntax, trigger + " isn't allowed as an ONBUILD trigger");
  }
  Node child;
  child.keyword_text = node.child->keyword_text;
  child.keyword = node.child->keyword;
  child.flags = node.child->flags;
  child.args = node.child->args;
  child.json = node.child->json;
  child.heredocs = node.heredocs;
  child.line = node.child->line;
  child.original = node.child->original;
  child.start_line = node.start_line;
  child.end_line = node.end_line;
  auto parsed = build_instruction(child, file);
  if (!parsed) return failure(parsed.error().code, parsed.error().message);
  OnbuildCommand onbuild{onbuild_expression(node),
                         std::make_shared<const Instruction>(std::move(*parsed))};
  return Built{std::move(*flags), std::move(onbuild)};
}

Result<Built> build_command(const Node& node, std::string_view file) {
  switch (*node.keyword) {
    case Keyword::kFrom:
      return build_from(node);
    case Keyword::kRun:
      return build_run(node);
    case Keyword::kCmd:
    case Keyword::kEntrypoint:
      return build_cmd_or_entrypoint(node);
    case Keyword::kShell:
      return build_shell(node);
    case Keyword::kEnv:
    case Keyword::kLabel:
      return build_env_or_label(node);
    case Keyword::kArg:
      return build_arg(node);
    case Keyword::kWorkdir:
    case Keyword::kUser:
    case Keyword::kMaintainer:
    case Keyword::kStopsignal:
      return build_single(node);
    case Keyword::kExpose:
      return build_expose(node);
    case Keyword::kVolume:
      return build_volume(node);
    case Keyword::kHealthcheck:
      return build_healthcheck(node);
    case Keyword::kCopy:
      return build_copy(node);
    case Keyword::kAdd:
      return build_add(node);
    case Keyword::kOnbuild:
      return build_onbuild(node, file);
  }
  return failure(DockerfileErrc::kUnknownInstruction, "unknown instruction");
}

// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
    }
  }
  return row[b.size()];
}

std::string unknown_instruction_message(std::string_view word) {
  std::string message = "unknown instruction: " + std::string(word);
  if (word.size() > 64) return message;
  const std::string upper = text::to_upper(word);
  std::string_view best;
  std::size_t best_distance = 3;  // suggest only close misspellings
  for (int k = 0; k <= static_cast<int>(Keyword::kWorkdir); ++k) {
    const std::string_view name = keyword_name(static_cast<Keyword>(k));
    const std::size_t distance = edit_distance(upper, name);
    if (distance < best_distance && distance < name.size() / 2 + 1) {
      best = name;
      best_distance = distance;
    }
  }
  if (!best.empty()) message += " (did you mean " + text::to_lower(best) + "?)";
  return message;
}

}  // namespace

std::expected<Instruction, DockerfileError> build_instruction(const Node& node,
                                                              std::string_view file) {
  if (!node.keyword) {
    return std::unexpected(node_error(node, file, DockerfileErrc::kUnknownInstruction,
                                      unknown_instruction_message(node.keyword_text)));
  }
  Result<Built> built = build_command(node, file);
  if (!built) {
    return std::unexpected(node_error(node, file, built.error().code, built.error().message));
  }
  return Instruction{*node.keyword, node.original,           node.start_line,
                     node.end_line, std::move(built->flags), std::move(built->command)};
}

}  // namespace drydock::builder::detail
