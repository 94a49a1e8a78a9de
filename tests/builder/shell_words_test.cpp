#include "builder/shell_words.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace drydock::builder {
namespace {

const Variables kVars = {
    {"PWD", "/home"},
    {"EMPTY", ""},
    {"SPACED", "x  y"},
    {"FILE", "/path/to/file.tar.gz"},
    {"KOREAN", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4"},
    {"A", "1"},
};

struct Case {
  std::string input;
  std::string expected;
};

std::string expand(const std::string& word, const WordOptions& options = {}) {
  auto result = expand_word(word, kVars, options);
  return result ? *result : "error: " + result.error().message;
}

std::vector<std::string> words(const std::string& text, const WordOptions& options = {}) {
  auto result = expand_words(text, kVars, options);
  return result ? *result : std::vector<std::string>{"error: " + result.error().message};
}

void check_table(const std::vector<Case>& cases, const WordOptions& options = {}) {
  for (const Case& c : cases) EXPECT_EQ(expand(c.input, options), c.expected) << c.input;
}

TEST(ExpandWord, PlainVariables) {
  check_table({
      {"$PWD", "/home"},
      {"${PWD}", "/home"},
      {"he$PWD", "he/home"},
      {"${PWD}_x", "/home_x"},
      {"$PWD_x", ""},  // the name is PWD_x
      {"$UNSET", ""},
      {"${UNSET}", ""},
      {"$", "$"},
      {"a$", "a$"},
      {"$ a", "$ a"},
      {"$1abc", "abc"},  // $1 is a positional parameter, unset
      {"$$", ""},        // special parameter, unset
      {"$KOREAN", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4"},
      {"x${A}y${A}z", "x1y1z"},
      {"a  b", "a  b"},  // spaces are kept in a single word
  });
}

TEST(ExpandWord, QuotesAndEscapes) {
  check_table({
      {"'$PWD'", "$PWD"},
      {"\"$PWD\"", "/home"},
      {"\\$PWD", "$PWD"},
      {"\\${PWD}", "${PWD}"},
      {"\"\\$PWD\"", "$PWD"},
      {"a\\b", "ab"},
      {"\"a\\b\"", "a\\b"},  // in double quotes only " $ and \ are escapable
      {"\"a\\\"b\"", "a\"b"},
      {"\"a\\\\b\"", "a\\b"},
      {"'a\\b'", "a\\b"},
      {"'it'\\''s'", "it's"},
      {"\"'\"", "'"},
      {"'\"'", "\""},
      {"abc\\", "abc"},  // a trailing escape escapes nothing
      {"\"\"", ""},
      {"a\"b c\"d", "ab cd"},
  });
}

TEST(ExpandWord, Modifiers) {
  check_table({
      {"${UNSET:-def}", "def"},
      {"${EMPTY:-def}", "def"},
      {"${PWD:-def}", "/home"},
      {"${UNSET-def}", "def"},
      {"${EMPTY-def}", ""},
      {"${PWD:+alt}", "alt"},
      {"${EMPTY:+alt}", ""},
      {"${UNSET:+alt}", ""},
      {"${EMPTY+alt}", "alt"},
      {"${UNSET+alt}", ""},
      {"${UNSET:-${PWD}}", "/home"},
      {"${UNSET:-$PWD/bin}", "/home/bin"},
      {"${UNSET:-'a b'}", "a b"},
      {"${UNSET:-\\}}", "}"},
      {"${UNSET:-${UNSET2:-deep}}", "deep"},
      {"${EMPTY?}", ""},
      {"${PWD:?}", "/home"},
  });
}

TEST(ExpandWord, PatternModifiers) {
  check_table({
      {"${FILE#*/}", "path/to/file.tar.gz"},
      {"${FILE##*/}", "file.tar.gz"},
      {"${FILE%.*}", "/path/to/file.tar"},
      {"${FILE%%.*}", "/path/to/file"},
      {"${FILE#nomatch}", "/path/to/file.tar.gz"},
      {"${FILE/to/TO}", "/path/TO/file.tar.gz"},
      {"${FILE//t/T}", "/paTh/To/file.Tar.gz"},
      {"${FILE/#x/y}", "/path/to/file.tar.gz"},
      {"${FILE//?/-}", "--------------------"},
      {"${FILE/*.tar/archive}", "archive.gz"},
      {"${UNSET#x}", ""},
      {"${A/1/\\}}", "\\}"},  // the replacement keeps its escapes, as BuildKit does
  });
}

TEST(ExpandWord, Errors) {
  for (const std::string input :
       {"${PWD", "${}", "${:a}", "${{a}}", "${PWD:x}", "${PWD!}", "'abc", "\"abc", "${UNSET:?}",
        "${UNSET?}", "${FILE:#x}", "${FILE/a", "${FILE#\\x}", "${UNSET:-'x}"}) {
    EXPECT_FALSE(expand_word(input, kVars).has_value()) << input;
  }
  auto unset = expand_word("${UNSET:?must be set}", kVars);
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message.find("UNSET: must be set"), std::string::npos)
      << unset.error().message;
  auto empty = expand_word("${EMPTY:?}", kVars);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("EMPTY: is not allowed to be empty"), std::string::npos);
  auto missing = expand_word("${UNSET?}", kVars);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("UNSET: is not allowed to be unset"), std::string::npos);
  auto quote = expand_word("'abc", kVars);
  ASSERT_FALSE(quote);
  EXPECT_NE(quote.error().message.find("failed to process \"'abc\""), std::string::npos);
}

TEST(ExpandWord, BacktickEscape) {
  WordOptions options;
  options.escape = '`';
  check_table(
      {
          {"`$PWD", "$PWD"},
          {"c:\\windows", "c:\\windows"},
          {"\"a`\"b\"", "a\"b"},
          {"a``b", "a`b"},
      },
      options);
}

TEST(ExpandWord, KeepOptions) {
  WordOptions keep_unset;
  keep_unset.keep_unset = true;
  check_table({{"$X ${X} ${X:-d} $PWD", "$X ${X} ${X:-d} /home"}, {"${X/a/b}", "${X/a/b}"}},
              keep_unset);
  WordOptions keep_quotes;
  keep_quotes.keep_quotes = true;
  check_table({{"\"a b\" 'c'", "\"a b\" 'c'"}}, keep_quotes);
  WordOptions keep_escapes;
  keep_escapes.keep_escapes = true;
  check_table({{"a\\ b", "a\\ b"}}, keep_escapes);
  WordOptions literal_quotes;
  literal_quotes.literal_quotes = true;
  check_table({{"'$A' \"$A\"", "'1' \"1\""}}, literal_quotes);
}

TEST(ExpandWords, SplitsAfterExpansion) {
  using W = std::vector<std::string>;
  EXPECT_EQ(words("a b  c"), (W{"a", "b", "c"}));
  EXPECT_EQ(words("  a\tb\n"), (W{"a", "b"}));
  EXPECT_EQ(words("\"a b\" c"), (W{"a b", "c"}));
  EXPECT_EQ(words("$SPACED"), (W{"x", "y"}));
  EXPECT_EQ(words("\"$SPACED\""), (W{"x  y"}));
  EXPECT_EQ(words("a\\ b"), (W{"a b"}));
  EXPECT_EQ(words("\"\""), W{});
  EXPECT_EQ(words("'' x"), (W{"x"}));
  EXPECT_EQ(words("8080/tcp ${A}0/udp"), (W{"8080/tcp", "10/udp"}));
  EXPECT_EQ(words("pre$SPACED"), (W{"prex", "y"}));
  EXPECT_EQ(words("$EMPTY"), W{});
  EXPECT_EQ(words("a << b"), (W{"a", "<< b"}));  // `<<` keeps the blanks after it
  EXPECT_EQ(words("'unterminated"), W{"error: failed to process \"'unterminated\": unexpected "
                                      "end of statement while looking for matching single-quote"});
}

TEST(ExpandHeredoc, ExpandsVariablesOnly) {
  auto body = expand_heredoc("echo \"$A\" '$A' \\$A ${UNSET:-x}\n", kVars);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(*body, "echo \"1\" '1' $A x\n");
}

TEST(ExpandWord, DeepNestingIsAnErrorNotACrash) {
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "${A:-";
  EXPECT_FALSE(expand_word(deep, kVars).has_value());
  std::string quoted;
  for (int i = 0; i < 5000; ++i) quoted += "\"${A:-";
  EXPECT_FALSE(expand_word(quoted, kVars).has_value());
}

TEST(ExpandWord, RandomInputNeverCrashes) {
  std::mt19937 rng(4);
  const std::string alphabet = "$${}{}:-+?#%/\\'\"`ab AB_1 \t\n*<\xC3\xA9\xFF";
  for (int round = 0; round < 3000; ++round) {
    std::string input;
    const int length = static_cast<int>(rng() % 40);
    for (int i = 0; i < length; ++i) input += alphabet[rng() % alphabet.size()];
    WordOptions options;
    options.escape = rng() % 2 ? '\\' : '`';
    options.keep_unset = rng() % 2;
    options.keep_quotes = rng() % 2;
    (void)expand_word(input, kVars, options);
    (void)expand_words(input, kVars, options);
    (void)expand_heredoc(input, kVars);
  }
}

}  // namespace
}  // namespace drydock::builder
