// First pass of the Dockerfile parser: physical lines to nodes. Follows
// BuildKit's frontend/dockerfile/parser (parser.go, directives.go,
// line_parsers.go, split_command.go).

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "builder/dockerfile_node.hpp"
#include "builder/dockerfile_text.hpp"
#include "builder/shell_words.hpp"

namespace drydock::builder::detail {

namespace {

// Go's bufio.Scanner, which BuildKit reads Dockerfiles with, refuses longer lines.
constexpr std::size_t kMaxLineLength = 65535;

using Unexpected = std::unexpected<DockerfileError>;

// Physical lines, each with its line ending, numbered from 1. A UTF-8 byte
// order mark before the first line is dropped.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {
    if (text_.starts_with("\xEF\xBB\xBF")) text_.remove_prefix(3);
  }

  std::optional<std::string_view> next() {
    if (pos_ >= text_.size()) return std::nullopt;
    const std::size_t newline = text_.find('\n', pos_);
    const std::size_t end = newline == std::string_view::npos ? text_.size() : newline + 1;
    const std::string_view line = text_.substr(pos_, end - pos_);
    pos_ = end;
    ++number_;
    return line;
  }

  // The number of the line next() returned last.
  int number() const { return number_; }

  // The first line longer than BuildKit accepts, if any.
  std::optional<int> overlong_line() const {
    int number = 0;
    for (std::size_t pos = 0; pos < text_.size();) {
      ++number;
      std::size_t newline = text_.find('\n', pos);
      if (newline == std::string_view::npos) newline = text_.size();
      if (newline - pos > kMaxLineLength) return number;
      pos = newline + 1;
    }
    return std::nullopt;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  int number_ = 0;
};

std::string_view trim_newline(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

bool is_comment(std::string_view line) {
  line = text::trim_left(line);
  return !line.empty() && line[0] == '#';
}

// Go's regexp \s: [\t\n\f\r ].
bool is_regexp_space(char c) {
  return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

// Parser directives (`# syntax=`, `# escape=`, `# check=`): accepted only
// until the first line that is not one, which may be an empty line, another
// comment or an instruction. https://docs.docker.com/reference/dockerfile/#parser-directives
class Directives {
 public:
  // Looks at a line with its leading spaces removed; an error for a repeated
  // directive or a bad escape character.
  std::expected<void, std::string> feed(std::string_view line) {
    if (done_) return {};
    std::string key;
    std::string value;
    if (!match(line, key, value)) {
      done_ = true;
      return {};
    }
    if (!seen_.insert(key).second)
      return std::unexpected("only one " + key + " parser directive can be used");
    if (key == "syntax") syntax_ = value;
    if (key == "check") check_ = value;
    if (key == "escape") {
      if (value != "`" && value != "\\") {
        return std::unexpected("invalid escape token '" + value + "' does not match ` or \\");
      }
      escape_ = value[0];
    }
    return {};
  }

  char escape() const { return escape_; }
  const std::string& syntax() const { return syntax_; }
  const std::string& check() const { return check_; }

 private:
  // `#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` with a known key.
  static bool match(std::string_view line, std::string& key, std::string& value) {
    if (!line.starts_with('#')) return false;
    line = text::trim_left(line.substr(1));
    std::size_t i = 0;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    auto alnum = [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); };
    if (line.empty() || !alpha(line[0])) return false;
    while (i < line.size() && alnum(line[i])) ++i;
    key = text::to_lower(line.substr(0, i));
    while (i < line.size() && is_regexp_space(line[i])) ++i;
    if (i >= line.size() || line[i] != '=') return false;
    std::string_view rest = line.substr(i + 1);
    while (rest.size() > 1 && is_regexp_space(rest.front())) rest.remove_prefix(1);
    while (rest.size() > 1 && is_regexp_space(rest.back())) rest.remove_suffix(1);
    if (rest.empty()) return false;
    value = std::string(rest);
    return key == "syntax" || key == "escape" || key == "check";
  }

  bool done_ = false;
  std::set<std::string> seen_;
  char escape_ = '\\';
  std::string syntax_;
  std::string check_;
};

// The escape character last on a line (spaces and tabs after it allowed)
// continues the instruction, unless it is itself escaped. Returns false when
// the line does not continue.
bool trim_continuation(std::string_view& line, char escape) {
  std::size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  if (end == 0 || line[end - 1] != escape) return false;
  if (end >= 2 && line[end - 2] == escape) return false;
  line = line.substr(0, end - 1);
  return true;
}

struct Arguments {
  std::vector<std::string> args;
  bool json = false;
};

using LineResult = std::expected<Arguments, std::pair<DockerfileErrc, std::string>>;

LineResult not_strings() {
  return std::unexpected(std::pair{
      DockerfileErrc::kBadJson,
      std::string("when using JSON array syntax, arrays must be comprised of strings only")});
}

// RUN, CMD, ENTRYPOINT, SHELL: a JSON array, or the whole text as one argument.
LineResult maybe_json(std::string_view rest) {
  if (rest.empty()) return Arguments{};
  Arguments out;
  switch (text::parse_json_array(rest, out.args)) {
    case text::JsonArray::kStrings:
      out.json = true;
      return out;
    case text::JsonArray::kNotStrings:
      return not_strings();
    case text::JsonArray::kNotJson:
      break;
  }
  return Arguments{{std::string(rest)}, false};
}

// FROM, EXPOSE: words separated by [\t\v\f\r ].
Arguments whitespace_list(std::string_view rest) {
  if (rest.empty()) return {};
  return Arguments{text::split_separators(rest, -1), false};
}

// COPY, ADD, VOLUME: a JSON array, or whitespace-separated words.
LineResult maybe_json_list(std::string_view rest) {
  Arguments out;
  switch (text::parse_json_array(rest, out.args)) {
    case text::JsonArray::kStrings:
      out.json = true;
      return out;
    case text::JsonArray::kNotStrings:
      return not_strings();
    case text::JsonArray::kNotJson:
      break;
  }
  return whitespace_list(rest);
}

// ENV, LABEL: `k=v k2="v 2"`, or the legacy `k the rest of the line`.
LineResult name_values(std::string_view rest, std::string_view keyword, char escape) {
  const std::vector<std::string> words = text::split_words(rest, escape);
  if (words.empty()) return Arguments{};
  Arguments out;
  if (words[0].find('=') == std::string::npos) {
    std::vector<std::string> parts = text::split_separators(rest, 2);
    if (parts.size() < 2) {
      return std::unexpected(std::pair{DockerfileErrc::kMissingArgument,
                                       std::string(keyword) + " must have two arguments"});
    }
    out.args = {std::move(parts[0]), std::move(parts[1]), ""};
    return out;
  }
  for (const std::string& word : words) {
    const std::size_t equals = word.find('=');
    if (equals == std::string::npos) {
      return std::unexpected(std::pair{
          DockerfileErrc::kSyntax,
          "Syntax error - can't find = in \"" + word + "\". Must be of the form: name=value"});
    }
    out.args.push_back(word.substr(0, equals));
    out.args.push_back(word.substr(equals + 1));
    out.args.emplace_back("=");
  }
  return out;
}

// HEALTHCHECK: a type word, then (for CMD) a command in either form. BuildKit
// splits bytes here, so 0x85 and 0xA0 count as spaces.
LineResult health_config(std::string_view rest) {
  std::size_t sep = 0;
  while (sep < rest.size() && !text::is_space_byte(static_cast<unsigned char>(rest[sep]))) ++sep;
  std::size_t next = sep;
  while (next < rest.size() && text::is_space_byte(static_cast<unsigned char>(rest[next]))) ++next;
  if (sep == 0) return Arguments{};
  LineResult command = maybe_json(rest.substr(next));
  if (!command) return command;
  command->args.insert(command->args.begin(), std::string(rest.substr(0, sep)));
  return command;
}

std::expected<Node, DockerfileError> make_node(std::string_view line, char escape, bool parse_child,
                                               int start_line, std::string_view file);

// The arguments of `node` by its keyword's line grammar.
LineResult parse_arguments(Node& node, std::string_view rest, char escape, std::string_view file) {
  if (!node.keyword) return Arguments{};  // reported by the second pass
  switch (*node.keyword) {
    case Keyword::kAdd:
    case Keyword::kCopy:
    case Keyword::kVolume:
      return maybe_json_list(rest);
    case Keyword::kArg:
      return Arguments{text::split_words(rest, escape), false};
    case Keyword::kCmd:
    case Keyword::kEntrypoint:
    case Keyword::kRun:
    case Keyword::kShell:
      return maybe_json(rest);
    case Keyword::kEnv:
    case Keyword::kLabel:
      return name_values(rest, keyword_name(*node.keyword), escape);
    case Keyword::kExpose:
    case Keyword::kFrom:
      return whitespace_list(rest);
    case Keyword::kHealthcheck:
      return health_config(rest);
    case Keyword::kMaintainer:
    case Keyword::kStopsignal:
    case Keyword::kUser:
    case Keyword::kWorkdir:
      if (rest.empty()) return Arguments{};
      return Arguments{{std::string(rest)}, false};
    case Keyword::kOnbuild:
      break;
  }
  if (rest.empty()) return Arguments{};
  // ONBUILD ONBUILD is refused by the second pass, so a trigger's own trigger is not read.
  auto child = make_node(rest, escape, false, node.start_line, file);
  if (!child) return std::unexpected(std::pair{child.error().code, child.error().message});
  Arguments out;
  out.args.push_back(child->keyword_text);
  out.args.insert(out.args.end(), child->args.begin(), child->args.end());
  node.child = std::make_unique<Node>(std::move(*child));
  return out;
}

// Splits a logical line into keyword, flags and arguments (BuildKit's
// newNodeFromLine and splitCommand).
std::expected<Node, DockerfileError> make_node(std::string_view line, char escape, bool parse_child,
                                               int start_line, std::string_view file) {
  Node node;
  node.line = std::string(line);
  node.original = std::string(text::trim(line));
  node.start_line = start_line;
  std::vector<std::string> pieces = text::split_separators(node.original, 2);
  node.keyword_text = pieces[0];
  node.keyword = find_keyword(node.keyword_text);
  std::string rest;
  if (pieces.size() == 2) {
    text::ExtractedFlags extracted = text::extract_flags(pieces[1]);
    node.flags = std::move(extracted.flags);
    rest = std::string(text::trim(extracted.rest));
  }
  if (node.keyword == Keyword::kOnbuild && !parse_child) {
    if (!rest.empty()) node.args = {rest};
    return node;
  }
  LineResult arguments = parse_arguments(node, rest, escape, file);
  if (!arguments) {
    return Unexpected(node_error(node, file, arguments.error().first, arguments.error().second));
  }
  node.args = std::move(arguments->args);
  node.json = arguments->json;
  return node;
}

// Only RUN, COPY and ADD in shell form (also as an ONBUILD trigger) take heredocs.
bool can_contain_heredoc(const Node& node) {
  const Node& target = node.keyword == Keyword::kOnbuild && node.child ? *node.child : node;
  if (target.json || !target.keyword) return false;
  return target.keyword == Keyword::kRun || target.keyword == Keyword::kCopy ||
         target.keyword == Keyword::kAdd;
}

// The heredocs a line opens, in order (BuildKit's heredocsFromLine).
std::expected<std::vector<Heredoc>, std::string> heredocs_from_line(std::string_view line) {
  WordOptions options;
  options.keep_quotes = true;
  options.keep_escapes = true;
  options.keep_unset = true;
  auto words = expand_words(line, Variables{}, options);
  std::vector<Heredoc> heredocs;
  if (!words) return heredocs;  // an unlexable line opens no heredoc
  for (const std::string& word : *words) {
    auto heredoc = parse_heredoc_word(word);
    if (!heredoc) return std::unexpected(heredoc.error());
    if (*heredoc) heredocs.push_back(std::move(**heredoc));
  }
  return heredocs;
}

class NodeParser {
 public:
  NodeParser(std::string_view text, std::string_view file) : lines_(text), file_(file) {}

  std::expected<NodeList, DockerfileError> run();

 private:
  DockerfileError error_at(int line, DockerfileErrc code, std::string message) const {
    return DockerfileError{code, std::string(file_), line, {}, std::move(message)};
  }

  std::expected<std::string_view, DockerfileError> first_line(std::string_view raw);
  std::expected<std::string, DockerfileError> join_continuations(std::string_view first);
  std::expected<void, DockerfileError> read_heredocs(Node& node);

  LineReader lines_;
  std::string_view file_;
  Directives directives_;
  NodeList result_;
};

// The first line of an instruction: line ending and leading spaces removed,
// directives noted, comments made empty.
std::expected<std::string_view, DockerfileError> NodeParser::first_line(std::string_view raw) {
  const std::string_view line = text::trim_left(trim_newline(raw));
  if (auto fed = directives_.feed(line); !fed) {
    return Unexpected(error_at(lines_.number(), DockerfileErrc::kBadDirective, fed.error()));
  }
  return is_comment(line) ? std::string_view() : line;
}

// Appends continuation lines. Comment lines inside are skipped, and so are
// empty ones (with a warning, as BuildKit gives).
std::expected<std::string, DockerfileError> NodeParser::join_continuations(std::string_view first) {
  const char escape = directives_.escape();
  bool more = trim_continuation(first, escape);
  std::string line(first);
  bool empty_seen = false;
  while (more) {
    const std::optional<std::string_view> raw = lines_.next();
    if (!raw) break;
    std::string_view piece = trim_newline(*raw);
    if (auto fed = directives_.feed(piece); !fed) {
      return Unexpected(error_at(lines_.number(), DockerfileErrc::kBadDirective, fed.error()));
    }
    if (is_comment(*raw)) continue;
    if (text::trim_left(piece).empty()) {
      empty_seen = true;
      continue;
    }
    more = trim_continuation(piece, escape);
    line += piece;
  }
  if (empty_seen) {
    result_.warnings.push_back(
        ParseWarning{lines_.number(), "Empty continuation line found in: " + line});
  }
  return line;
}

// Reads the bodies of the heredocs the node's line opened, one after the other.
std::expected<void, DockerfileError> NodeParser::read_heredocs(Node& node) {
  if (!can_contain_heredoc(node) || node.original.find("<<") == std::string::npos) return {};
  auto heredocs = heredocs_from_line(node.original);
  if (!heredocs)
    return Unexpected(node_error(node, file_, DockerfileErrc::kSyntax, heredocs.error()));
  for (Heredoc& heredoc : *heredocs) {
    bool terminated = false;
    while (const std::optional<std::string_view> raw = lines_.next()) {
      std::string_view candidate = trim_newline(*raw);
      if (heredoc.chomp)
        candidate.remove_prefix(std::min(candidate.find_first_not_of('\t'), candidate.size()));
      if (candidate == heredoc.name) {
        terminated = true;
        break;
      }
      heredoc.content += *raw;
    }
    if (!terminated) {
      return Unexpected(node_error(node, file_, DockerfileErrc::kUnterminatedHeredoc,
                                   "unterminated heredoc " + heredoc.name));
    }
    node.heredocs.push_back(std::move(heredoc));
  }
  return {};
}

std::expected<NodeList, DockerfileError> NodeParser::run() {
  if (const std::optional<int> overlong = lines_.overlong_line()) {
    return Unexpected(error_at(
        *overlong, DockerfileErrc::kLineTooLong,
        "dockerfile line greater than max allowed size of " + std::to_string(kMaxLineLength)));
  }
  while (const std::optional<std::string_view> raw = lines_.next()) {
    auto first = first_line(*raw);
    if (!first) return Unexpected(first.error());
    const int start_line = lines_.number();
    std::string_view probe = *first;
    if (!trim_continuation(probe, directives_.escape()) && first->empty()) continue;
    auto line = join_continuations(*first);
    if (!line) return Unexpected(line.error());
    auto node = make_node(*line, directives_.escape(), true, start_line, file_);
    if (!node) return Unexpected(node.error());
    if (auto read = read_heredocs(*node); !read) return Unexpected(read.error());
    node->end_line = lines_.number();
    result_.nodes.push_back(std::move(*node));
  }
  if (result_.nodes.empty()) {
    return Unexpected(error_at(0, DockerfileErrc::kNoStages, "file with no instructions"));
  }
  result_.escape = directives_.escape();
  result_.syntax = directives_.syntax();
  result_.check = directives_.check();
  return std::move(result_);
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

DockerfileError node_error(const Node& node, std::string_view file, DockerfileErrc code,
                           std::string message) {
  std::string instruction =
      node.keyword ? std::string(keyword_name(*node.keyword)) : node.keyword_text;
  return DockerfileError{code, std::string(file), node.start_line, std::move(instruction),
                         std::move(message)};
}

// `^(\d*)<<(-?)\s*([^<]*)$`, then the delimiter lexed twice: with quotes
// removed for the name, with quotes kept to learn whether any part was
// quoted (a quoted delimiter means no expansion in the body).
std::expected<std::optional<Heredoc>, std::string> parse_heredoc_word(std::string_view word) {
  std::size_t i = 0;
  while (i < word.size() && is_ascii_digit(word[i])) ++i;
  const std::string_view digits = word.substr(0, i);
  if (word.substr(i, 2) != "<<") return std::nullopt;
  i += 2;
  Heredoc heredoc;
  if (i < word.size() && word[i] == '-') {
    heredoc.chomp = true;
    ++i;
  }
  while (i < word.size() && is_regexp_space(word[i])) ++i;
  const std::string_view rest = word.substr(i);
  if (rest.find('<') != std::string_view::npos || rest.empty()) return std::nullopt;
  for (const char c : digits) {
    if (heredoc.fd > (std::numeric_limits<int>::max() - 9) / 10) break;
    heredoc.fd = heredoc.fd * 10 + (c - '0');
  }
  WordOptions options;
  options.keep_unset = true;
  auto words = expand_words(rest, Variables{}, options);
  if (!words) return std::unexpected(words.error().message);
  if (words->size() != 1) return std::nullopt;
  options.keep_quotes = true;
  auto raw = expand_words(rest, Variables{}, options);
  if (!raw) return std::unexpected(raw.error().message);
  if (raw->size() != 1) {
    return std::unexpected("internal lexing of heredoc produced inconsistent results: " +
                           std::string(rest));
  }
  auto quotes = [](const std::string& s) {
    return std::count_if(s.begin(), s.end(), [](char c) { return c == '\'' || c == '"'; });
  };
  heredoc.name = (*words)[0];
  heredoc.expand = quotes((*words)[0]) == quotes((*raw)[0]);
  return heredoc;
}

std::expected<NodeList, DockerfileError> parse_nodes(std::string_view text, std::string_view file) {
  return NodeParser(text, file).run();
}

}  // namespace drydock::builder::detail
