#pragma once

// .dockerignore matching as Docker and BuildKit do it: moby/patternmatcher
// (pattern syntax, MatchesOrParentMatches) fed by its ignorefile reader, plus
// tonistiigi/fsutil's rule for when an excluded directory may be skipped whole.

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::builder {

// Go's filepath.Clean for '/'-separated paths: collapses repeated slashes,
// drops "." elements, resolves ".." lexically (a leading ".." of a relative
// path is kept, "/.." becomes "/"), and returns "." for an empty result.
std::string clean_path(std::string_view path);

// Go's filepath.Dir: everything before the last '/', cleaned ("." if none).
std::string parent_path(std::string_view path);

// How a pattern is matched; mirrors patternmatcher's matchType so that its
// quirks (e.g. "**foo" is a plain suffix test) are reproduced.
enum class MatchKind : std::uint8_t {
  kExact,   // no wildcard: the path equals the pattern
  kPrefix,  // "dir/**": the path starts with "dir/"
  kSuffix,  // "**/name" or "**name": the path ends with the rest
  kGlob,    // anything else: the translated regular expression
};

// Whether a pattern excludes what it matches or, written "!pattern",
// re-includes it.
enum class PatternSense : std::uint8_t { kExclude, kException };

// One cleaned .dockerignore pattern, compiled.
class IgnorePattern {
 public:
  // One step of a compiled glob; public only so the .cpp can build them.
  struct Token {
    enum class Type : std::uint8_t {
      kLiteral,    // `text` verbatim
      kStar,       // "*": any run of characters except '/'
      kOne,        // "?": one character except '/'
      kClass,      // "[...]": one character in (or, negated, not in) `ranges`
      kDirPrefix,  // "**/" inside a pattern: regex (.*/)?
      kAnyRun,     // trailing "**" after other wildcards: regex .*
      kAnchor,     // unescaped '^': a regex start-of-text assertion
    };
    Type type = Type::kLiteral;
    bool negated = false;
    std::string text;
    std::vector<std::pair<char32_t, char32_t>> ranges;
  };

  // Compiles `pattern` (already cleaned, without its '!'). Returns an error
  // message for a pattern Go's filepath.Match or regexp would reject.
  static std::expected<IgnorePattern, std::string> compile(std::string pattern, PatternSense sense);

  // The cleaned pattern text, without the leading '!'.
  const std::string& text() const { return text_; }
  // True for a "!pattern" line, which re-includes what it matches.
  bool exception() const { return sense_ == PatternSense::kException; }
  // Which matching strategy patternmatcher would pick for this pattern.
  MatchKind kind() const { return kind_; }
  // Whether `path` itself matches this pattern (no parent-directory logic).
  bool matches(std::string_view path) const;

 private:
  std::string text_;
  PatternSense sense_ = PatternSense::kExclude;
  MatchKind kind_ = MatchKind::kExact;
  std::vector<Token> tokens_;
};

// Why a .dockerignore could not be parsed; `line` is 1-based (0 if unknown).
struct IgnoreError {
  std::size_t line = 0;
  std::string message;
};

// A parsed .dockerignore. Paths given to it are relative to the context root,
// '/'-separated and clean (as clean_path returns them); "." is never excluded.
class DockerIgnore {
 public:
  // No patterns: nothing is excluded.
  DockerIgnore() = default;

  // Parses .dockerignore text as moby/patternmatcher's ignorefile.ReadAll and
  // patternmatcher.New do: a UTF-8 BOM is dropped, lines starting with '#'
  // are comments, lines are trimmed, blank lines skipped, '!' marks an
  // exception, each pattern is cleaned and a leading '/' removed. Invalid
  // patterns ("!", "[", "a\\", "[z-a]") are errors naming the line.
  static std::expected<DockerIgnore, IgnoreError> parse(std::string_view text);

  // Builds a matcher from patterns that are already one per element (as
  // patternmatcher.New takes them: trimmed, cleaned, '!' for exceptions).
  static std::expected<DockerIgnore, IgnoreError> from_patterns(
      const std::vector<std::string>& patterns);

  // True if `path` is excluded from the context: the last pattern that matches
  // it or one of its parent directories is not an exception
  // (patternmatcher's MatchesOrParentMatches).
  bool excluded(std::string_view path) const;

  // True if directory `dir` is excluded and no exception can re-include
  // anything below it, so a walker may drop the whole subtree without looking
  // inside. False whenever an exception pattern has a wildcard other than a
  // trailing "/*" or "/**" (fsutil's onlyPrefixExcludeExceptions rule).
  bool can_skip_dir(std::string_view dir) const;

  // True if there are no patterns.
  bool empty() const { return patterns_.empty(); }
  // True if at least one pattern is an exception ("!...").
  bool has_exceptions() const { return has_exceptions_; }
  // The compiled patterns, in file order.
  const std::vector<IgnorePattern>& patterns() const { return patterns_; }

 private:
  // Adds one patternmatcher.New input line; the error is a message.
  std::expected<void, std::string> add(std::string_view raw);

  std::vector<IgnorePattern> patterns_;
  bool has_exceptions_ = false;
  bool only_prefix_exceptions_ = true;
};

}  // namespace drydock::builder
