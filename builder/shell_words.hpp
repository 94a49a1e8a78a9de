#pragma once

// Variable expansion and word splitting for Dockerfile arguments, as BuildKit's
// `frontend/dockerfile/shell` package (lex.go) does them. This is not a shell:
// it knows quotes, the escape character, `$VAR` and `${VAR...}` forms, and
// nothing else (no globbing, no command substitution).
//
// Reference: https://docs.docker.com/reference/dockerfile/#environment-replacement

#include <expected>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::builder {

// Variables visible to an expansion (build args and ENV of the stage so far).
// Names are case-sensitive, as on Linux.
using Variables = std::map<std::string, std::string, std::less<>>;

// Why an expansion failed: unterminated quotes, a malformed `${...}`, a bad
// pattern, or a `${VAR?message}` whose variable is unset. The message reads
// like BuildKit's ("failed to process \"<word>\": ...").
struct ShellError {
  std::string message;
};

// How a word is lexed. The defaults are what instructions get; the other
// settings exist for heredoc detection and heredoc bodies.
struct WordOptions {
  // `\` by default, or the character from the `# escape=` directive.
  char escape = '\\';
  // Keep quote characters in the output (BuildKit RawQuotes).
  bool keep_quotes = false;
  // Keep escape characters in the output (BuildKit RawEscapes).
  bool keep_escapes = false;
  // Leave references to unset variables as written (BuildKit SkipUnsetEnv).
  bool keep_unset = false;
  // Treat quotes as ordinary characters (BuildKit SkipProcessQuotes).
  bool literal_quotes = false;
};

// Expands one word: variables replaced, quotes removed, escapes applied.
// Spaces are kept; the result is one string however many words it holds.
// `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`, `${VAR:?msg}`, `${VAR?msg}`,
// `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}` and
// `${VAR//pat/repl}` are supported; an unset variable expands to "".
std::expected<std::string, ShellError> expand_word(std::string_view word, const Variables& vars,
                                                   const WordOptions& options = {});

// Expands `text` and splits it into words on unquoted, unescaped spaces, the
// splitting done after expansion (so a variable holding "a b" gives two
// words). Empty words, including `""`, are dropped.
std::expected<std::vector<std::string>, ShellError> expand_words(std::string_view text,
                                                                 const Variables& vars,
                                                                 const WordOptions& options = {});

// Expands a heredoc body whose delimiter was not quoted (`COPY <<EOF`):
// variables and backslash escapes are processed, quotes are left alone.
std::expected<std::string, ShellError> expand_heredoc(std::string_view body, const Variables& vars);

}  // namespace drydock::builder
