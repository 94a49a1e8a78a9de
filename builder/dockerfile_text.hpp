#pragma once

// Text helpers shared by the Dockerfile parser and the shell-word lexer.
// Internal to builder/: they reproduce the small lexical rules of BuildKit's
// dockerfile frontend (moby/buildkit frontend/dockerfile/parser), where Go's
// unicode, regexp and encoding/json packages define what counts as a space,
// a word or a JSON array.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::builder::text {

// One decoded UTF-8 code point. Invalid or truncated sequences decode as a
// single byte with `valid` false, so callers can copy bytes through unchanged.
struct CodePoint {
  char32_t value = 0;
  std::size_t length = 1;
  bool valid = true;
};

// Decodes the code point starting at `pos` (which must be < text.size()).
CodePoint decode(std::string_view text, std::size_t pos);

// Go's unicode.IsSpace: ASCII \t \n \v \f \r and space, U+0085, U+00A0 and
// the Unicode White_Space characters above U+00FF.
bool is_space(char32_t c);

// Go's unicode.IsSpace applied to one byte taken as a code point (BuildKit
// does this in its flag scanner and HEALTHCHECK splitter: bytes 0x85 and 0xA0
// count as spaces there even inside multi-byte characters).
bool is_space_byte(unsigned char c);

// The separators of BuildKit's reWhitespace regexp: [\t\v\f\r ].
bool is_separator(char c);

// Removes leading Unicode spaces (Go's strings.TrimLeftFunc(s, unicode.IsSpace)).
std::string_view trim_left(std::string_view text);

// Removes leading and trailing Unicode spaces (Go's strings.TrimSpace).
std::string_view trim(std::string_view text);

// ASCII lower-casing, the only case folding instruction keywords need.
std::string to_lower(std::string_view text);
std::string to_upper(std::string_view text);

// Splits on runs of [\t\v\f\r ] like Go's regexp.Split(text, limit): at most
// `limit` pieces when limit > 0, the last one holding the rest unsplit.
// Leading or trailing separators yield empty pieces, as in Go.
std::vector<std::string> split_separators(std::string_view text, int limit);

// BuildKit's parseWords: splits ENV/LABEL/ARG arguments on spaces while
// keeping quotes and escapes in the words (expansion removes them later).
std::vector<std::string> split_words(std::string_view text, char escape);

// The result of taking `--flag` words off the front of an instruction's arguments.
struct ExtractedFlags {
  std::vector<std::string> flags;  // "--name=value" or "--name", quotes removed
  std::string rest;                // the arguments after the flags
};

// BuildKit's extractBuilderFlags: leading words that start with "--" are
// flags, up to the first other word or a bare "--".
ExtractedFlags extract_flags(std::string_view line);

// Outcome of reading an instruction's arguments as a JSON array.
enum class JsonArray {
  kNotJson,     // does not start with '[' or is not valid JSON: shell form
  kNotStrings,  // valid JSON array with a non-string element: an error
  kStrings,     // an array of strings
};

// Parses `text` the way BuildKit's parseJSON does with Go's encoding/json:
// leading spaces are skipped, the value must be an array, trailing JSON
// whitespace is allowed, invalid UTF-8 in strings becomes U+FFFD.
JsonArray parse_json_array(std::string_view text, std::vector<std::string>& out);

// Go's time.ParseDuration, in nanoseconds; nullopt when malformed or out of range.
std::optional<std::int64_t> parse_duration(std::string_view text);

// Appends the UTF-8 encoding of `c`.
void append_utf8(std::string& out, char32_t c);

}  // namespace drydock::builder::text
