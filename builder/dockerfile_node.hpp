#pragma once

// Internal to builder/: the two passes of the Dockerfile parser, as in
// BuildKit. The first (dockerfile_lines.cpp) turns text into nodes: logical
// lines split into keyword, flags and arguments, heredoc bodies attached. The
// second (dockerfile_instructions.cpp) gives each node its typed command.

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/dockerfile.hpp"

namespace drydock::builder::detail {

// One logical line, split but not yet interpreted (BuildKit's parser.Node).
struct Node {
  std::string keyword_text;        // the first word, as written
  std::optional<Keyword> keyword;  // nullopt for an unknown instruction
  std::vector<std::string> flags;  // "--name=value" words, quotes removed
  // The arguments after the flags. ENV and LABEL give triples: key, value,
  // and "=" (or "" for the legacy `key value` form).
  std::vector<std::string> args;
  bool json = false;  // the arguments were a JSON array
  std::vector<Heredoc> heredocs;
  std::string line;      // the logical line as joined (BuildKit's Original)
  std::string original;  // the same, trimmed
  int start_line = 0;
  int end_line = 0;
  std::unique_ptr<Node> child;  // ONBUILD's trigger
};

// The first pass's result.
struct NodeList {
  std::vector<Node> nodes;
  char escape = '\\';
  std::string syntax;
  std::string check;
  std::vector<ParseWarning> warnings;
};

// First pass over a whole file.
std::expected<NodeList, DockerfileError> parse_nodes(std::string_view text, std::string_view file);

// Second pass for one node. Heredocs of an ONBUILD node go to its trigger.
std::expected<Instruction, DockerfileError> build_instruction(const Node& node,
                                                              std::string_view file);

// Reads a word such as `<<EOF`, `<<-'EOF'` or `3<<EOF` (BuildKit's
// ParseHeredoc). nullopt when the word is not a heredoc; an error when it
// looks like one but cannot be lexed.
std::expected<std::optional<Heredoc>, std::string> parse_heredoc_word(std::string_view word);

// The error for `node` with the given code and message.
DockerfileError node_error(const Node& node, std::string_view file, DockerfileErrc code,
                           std::string message);

}  // namespace drydock::builder::detail
