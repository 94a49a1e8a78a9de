// Cases ported from moby/patternmatcher's patternmatcher_test.go and
// ignorefile_test.go (which in turn borrow Go's filepath.Match tests), plus
// fsutil's directory-skipping rule.
#include "builder/dockerignore.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drydock::builder {
namespace {

DockerIgnore make(const std::vector<std::string>& patterns) {
  auto m = DockerIgnore::from_patterns(patterns);
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
  return m ? std::move(*m) : DockerIgnore();
}

bool excluded(const std::vector<std::string>& patterns, const std::string& path) {
  return make(patterns).excluded(path);
}

TEST(CleanPath, FollowsGoFilepathClean) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "."},
      {".", "."},
      {"a/b", "a/b"},
      {"a//b", "a/b"},
      {"a/./b", "a/b"},
      {"a/b/", "a/b"},
      {"a/../b", "b"},
      {"a/../../b", "../b"},
      {"../../x", "../../x"},
      {"/../x", "/x"},
      {"/", "/"},
      {"//a//", "/a"},
      {"./a", "a"},
      {"a/..", "."},
      {"..", ".."},
      {"abc/def/../../..", ".."},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(clean_path(in), want) << in;
  EXPECT_EQ(parent_path("a"), ".");
  EXPECT_EQ(parent_path("a/b/c"), "a/b");
  EXPECT_EQ(parent_path("file/"), "file");
  EXPECT_EQ(parent_path("/a"), "/");
}

TEST(DockerIgnore, WildcardAndSimplePatterns) {
  EXPECT_TRUE(excluded({"*"}, "fileutils.go"));
  EXPECT_TRUE(excluded({"*.go"}, "fileutils.go"));
  EXPECT_FALSE(excluded({"*.go"}, "."));  // the root is never excluded
  EXPECT_FALSE(excluded({}, "any/path/there"));
}

TEST(DockerIgnore, LastMatchingPatternWins) {
  EXPECT_TRUE(excluded({"!fileutils.go", "*.go"}, "fileutils.go"));
  EXPECT_FALSE(excluded({"*.go", "!fileutils.go"}, "fileutils.go"));
  EXPECT_FALSE(excluded({"docs", "!docs/README.md"}, "docs/README.md"));
  EXPECT_FALSE(excluded({"docs/", "!docs/README.md"}, "docs/README.md"));
  EXPECT_FALSE(excluded({"docs/*", "!docs/README.md"}, "docs/README.md"));
  EXPECT_TRUE(excluded({"docs", "!docs/README.md"}, "docs/other.md"));
}

TEST(DockerIgnore, BadPatternsAreErrors) {
  for (const char* bad : {"!", "[", "[^", "[^bc", "a[", "\\", "[]a]", "[-]", "[x-]", "[-x]",
                          "[a-b-c]", "[z-a]", "[Local-Only]/"}) {
    EXPECT_FALSE(DockerIgnore::from_patterns({bad}).has_value()) << bad;
  }
}

enum Pass { kFail, kExact, kInexact };
struct MatchCase {
  std::string pattern;
  std::string text;
  Pass pass;
};

// patternmatcher_test.go TestMatches: kExact means the pattern itself matches,
// kInexact only through a parent directory.
const std::vector<MatchCase> kMatchCases = {
    {"**", "file", kExact},
    {"**", "file/", kExact},
    {"**/", "file", kExact},
    {"**/", "file/", kExact},
    {"**", "/", kExact},
    {"**/", "/", kExact},
    {"**", "dir/file", kExact},
    {"**/", "dir/file", kExact},
    {"**", "dir/file/", kExact},
    {"**/", "dir/file/", kExact},
    {"**/**", "dir/file", kExact},
    {"**/**", "dir/file/", kExact},
    {"dir/**", "dir/file", kExact},
    {"dir/**", "dir/file/", kExact},
    {"dir/**", "dir/dir2/file", kExact},
    {"dir/**", "dir/dir2/file/", kExact},
    {"**/dir", "dir", kExact},
    {"**/dir", "dir/file", kInexact},
    {"**/dir2/*", "dir/dir2/file", kExact},
    {"**/dir2/*", "dir/dir2/file/", kInexact},
    {"**/dir2/**", "dir/dir2/dir3/file", kExact},
    {"**/dir2/**", "dir/dir2/dir3/file/", kExact},
    {"**file", "file", kExact},
    {"**file", "dir/file", kExact},
    {"**/file", "dir/file", kExact},
    {"**file", "dir/dir/file", kExact},
    {"**/file", "dir/dir/file", kExact},
    {"**/file*", "dir/dir/file", kExact},
    {"**/file*", "dir/dir/file.txt", kExact},
    {"**/file*txt", "dir/dir/file.txt", kExact},
    {"**/file*.txt", "dir/dir/file.txt", kExact},
    {"**/file*.txt*", "dir/dir/file.txt", kExact},
    {"**/**/*.txt", "dir/dir/file.txt", kExact},
    {"**/**/*.txt2", "dir/dir/file.txt", kFail},
    {"**/*.txt", "file.txt", kExact},
    {"**/**/*.txt", "file.txt", kExact},
    {"a**/*.txt", "a/file.txt", kExact},
    {"a**/*.txt", "a/dir/file.txt", kExact},
    {"a**/*.txt", "a/dir/dir/file.txt", kExact},
    {"a/*.txt", "a/dir/file.txt", kFail},
    {"a/*.txt", "a/file.txt", kExact},
    {"a/*.txt**", "a/file.txt", kExact},
    {"a[b-d]e", "ae", kFail},
    {"a[b-d]e", "ace", kExact},
    {"a[b-d]e", "aae", kFail},
    {"a[^b-d]e", "aze", kExact},
    {".*", ".foo", kExact},
    {".*", "foo", kFail},
    {"abc.def", "abcdef", kFail},
    {"abc.def", "abc.def", kExact},
    {"abc.def", "abcZdef", kFail},
    {"abc?def", "abcZdef", kExact},
    {"abc?def", "abcdef", kFail},
    {"**/foo/bar", "foo/bar", kExact},
    {"**/foo/bar", "dir/foo/bar", kExact},
    {"**/foo/bar", "dir/dir2/foo/bar", kExact},
    {"abc/**", "abc", kFail},
    {"abc/**", "abc/def", kExact},
    {"abc/**", "abc/def/ghi", kExact},
    {"**/.foo", ".foo", kExact},
    {"**/.foo", "bar.foo", kFail},
    {"a(b)c/def", "a(b)c/def", kExact},
    {"a(b)c/def", "a(b)c/xyz", kFail},
    {"a.|)$(}+{bc", "a.|)$(}+{bc", kExact},
    {"dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", kExact},
    {"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", kExact},
    {"a\\\\", "a\\", kExact},
    {"a\\*b", "a*b", kExact},
};

TEST(DockerIgnore, PatternMatcherTable) {
  for (const MatchCase& c : kMatchCases) {
    auto compiled = IgnorePattern::compile(clean_path(c.pattern), PatternSense::kExclude);
    ASSERT_TRUE(compiled.has_value()) << c.pattern;
    EXPECT_EQ(compiled->matches(c.text), c.pass == kExact)
        << "exact: pattern=" << c.pattern << " text=" << c.text;
    EXPECT_EQ(make({c.pattern}).excluded(c.text), c.pass != kFail)
        << "or-parent: pattern=" << c.pattern << " text=" << c.text;
  }
}

TEST(DockerIgnore, MultiPatternTable) {
  EXPECT_FALSE(excluded({"**", "!util/docker/web"}, "util/docker/web/foo"));
  EXPECT_TRUE(excluded({"**", "!util/docker/web", "util/docker/web/foo"}, "util/docker/web/foo"));
  EXPECT_FALSE(excluded({"**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"},
                        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"));
  EXPECT_FALSE(
      excluded({"**", "!dist/*.whl"}, "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"));
}

struct GoMatchCase {
  std::string pattern;
  std::string text;
  bool match;
};

// Go's filepath.Match cases as patternmatcher_test.go's TestMatch runs them.
TEST(DockerIgnore, GoFilepathMatchTable) {
  const std::vector<GoMatchCase> cases = {
      {"abc", "abc", true},
      {"*", "abc", true},
      {"*c", "abc", true},
      {"a*", "a", true},
      {"a*", "abc", true},
      {"a*", "ab/c", true},  // through the parent "ab"
      {"a*/b", "abc/b", true},
      {"a*/b", "a/c/b", false},
      {"a*b*c*d*e*/f", "axbxcxdxe/f", true},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/f", true},
      {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", false},
      {"a*b?c*x", "abxbbxdbxebxczzx", true},
      {"a*b?c*x", "abxbbxdbxebxczzy", false},
      {"ab[c]", "abc", true},
      {"ab[b-d]", "abc", true},
      {"ab[e-g]", "abc", false},
      {"ab[^c]", "abc", false},
      {"ab[^b-d]", "abc", false},
      {"ab[^e-g]", "abc", true},
      {"a\\*b", "a*b", true},
      {"a\\*b", "ab", false},
      {"a?b", "a\u263Ab", true},
      {"a[^a]b", "a\u263Ab", true},
      {"a???b", "a\u263Ab", false},
      {"a[^a][^a][^a]b", "a\u263Ab", false},
      {"[a-\u03B6]*", "\u03B1", true},
      {"*[a-\u03B6]", "A", false},
      {"a?b", "a/b", false},
      {"a*b", "a/b", false},
      {"[\\]a]", "]", true},
      {"[\\-]", "-", true},
      {"[x\\-]", "x", true},
      {"[x\\-]", "-", true},
      {"[x\\-]", "z", false},
      {"[\\-x]", "x", true},
      {"[\\-x]", "-", true},
      {"[\\-x]", "a", false},
      {"*x", "xxx", true},
  };
  for (const GoMatchCase& c : cases) {
    EXPECT_EQ(excluded({c.pattern}, c.text), c.match) << c.pattern << " vs " << c.text;
  }
}

TEST(DockerIgnore, MatchKindsFollowPatternMatcherCompile) {
  const std::vector<std::pair<std::string, MatchKind>> cases = {
      {"*", MatchKind::kGlob},
      {"file*", MatchKind::kGlob},
      {"*file", MatchKind::kGlob},
      {"a*/b", MatchKind::kGlob},
      {"**", MatchKind::kSuffix},
      {"**/**", MatchKind::kGlob},
      {"dir/**", MatchKind::kPrefix},
      {"**/dir", MatchKind::kSuffix},
      {"**/dir2/*", MatchKind::kGlob},
      {"**/dir2/**", MatchKind::kGlob},
      {"**file", MatchKind::kSuffix},
      {"**/file*txt", MatchKind::kGlob},
      {"a[b-d]e", MatchKind::kGlob},
      {".*", MatchKind::kGlob},
      {"abc.def", MatchKind::kExact},
      {"abc?def", MatchKind::kGlob},
      {"**/foo/bar", MatchKind::kSuffix},
      {"a(b)c/def", MatchKind::kExact},
      {"a.|)$(}+{bc", MatchKind::kExact},
  };
  for (const auto& [pattern, kind] : cases) {
    auto p = IgnorePattern::compile(clean_path(pattern), PatternSense::kExclude);
    ASSERT_TRUE(p.has_value()) << pattern;
    EXPECT_EQ(p->kind(), kind) << pattern;
  }
}

TEST(DockerIgnore, SuffixKindQuirkIsKept) {
  // patternmatcher compares "**foo" as a plain suffix, so it matches "barfoo".
  EXPECT_TRUE(excluded({"**foo"}, "barfoo"));
  EXPECT_TRUE(excluded({"**foo"}, "dir/barfoo"));
  // A prefix pattern is a plain string prefix too.
  EXPECT_TRUE(excluded({"foo**"}, "foobar/baz"));
}

TEST(DockerIgnore, DoubleStarSpansDirectories) {
  EXPECT_TRUE(excluded({"**/node_modules"}, "node_modules/x"));
  EXPECT_TRUE(excluded({"**/node_modules"}, "a/b/node_modules/c/d"));
  EXPECT_TRUE(excluded({"a/**/z"}, "a/z"));
  EXPECT_TRUE(excluded({"a/**/z"}, "a/b/c/z"));
  EXPECT_FALSE(excluded({"a/**/z"}, "b/a/z"));
  EXPECT_TRUE(excluded({"**/*.log"}, "x/y/z.log"));
}

TEST(DockerIgnore, ParsesLikeIgnorefileReadAll) {
  const std::string text =
      "\xEF\xBB\xBFtest1\r\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
      "! /inverted/abs/path\n  #not a comment\n./x/../y/\n";
  auto m = DockerIgnore::parse(text);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  std::vector<std::string> texts;
  for (const IgnorePattern& p : m->patterns())
    texts.push_back((p.exception() ? "!" : "") + p.text());
  const std::vector<std::string> want = {
      "test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "#not a comment", "y"};
  EXPECT_EQ(texts, want);
  EXPECT_TRUE(m->has_exceptions());
  EXPECT_TRUE(m->excluded("test1"));
  EXPECT_TRUE(m->excluded("test2/sub"));
  EXPECT_FALSE(m->excluded("inverted/abs/path"));
}

TEST(DockerIgnore, LoneExclamationIsAnErrorWithLineNumber) {
  auto m = DockerIgnore::parse("a\n# c\n!\n");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().line, 3U);
  auto spaced = DockerIgnore::parse("! \n");
  ASSERT_FALSE(spaced.has_value());
  EXPECT_EQ(spaced.error().line, 1U);
  auto bracket = DockerIgnore::parse("ok\nbad[\n");
  ASSERT_FALSE(bracket.has_value());
  EXPECT_EQ(bracket.error().line, 2U);
}

TEST(DockerIgnore, EmptyTextHasNoPatterns) {
  auto m = DockerIgnore::parse("# only a comment\n\n   \n");
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->empty());
  EXPECT_FALSE(m->excluded("anything"));
}

TEST(DockerIgnore, CanSkipDirWithoutExceptions) {
  DockerIgnore m = make({"node_modules", "*.tmp"});
  EXPECT_TRUE(m.can_skip_dir("node_modules"));
  EXPECT_FALSE(m.can_skip_dir("src"));  // not excluded at all
}

TEST(DockerIgnore, CannotSkipDirThatAnExceptionReachesInto) {
  DockerIgnore m = make({"docs", "!docs/README.md"});
  EXPECT_TRUE(m.excluded("docs"));
  EXPECT_FALSE(m.can_skip_dir("docs"));
  EXPECT_FALSE(m.excluded("docs/README.md"));
  EXPECT_TRUE(m.excluded("docs/other"));

  DockerIgnore other = make({"build", "!docs/README.md"});
  EXPECT_TRUE(other.can_skip_dir("build"));
  // "dir/*" style exceptions are still prefixes for fsutil.
  DockerIgnore star = make({"vendor", "!vendor/keep/*"});
  EXPECT_FALSE(star.can_skip_dir("vendor"));
  EXPECT_TRUE(star.can_skip_dir("vendor/drop"));
}

TEST(DockerIgnore, WildcardExceptionsDisableSkipping) {
  DockerIgnore m = make({"build", "!**/*.keep"});
  EXPECT_TRUE(m.excluded("build"));
  EXPECT_FALSE(m.can_skip_dir("build"));
  EXPECT_FALSE(m.excluded("build/x/a.keep"));
  EXPECT_TRUE(m.excluded("build/x/a.other"));
}

TEST(DockerIgnore, ExceptionThenReExclusion) {
  DockerIgnore m = make({"*.md", "!README*.md", "README-secret.md"});
  EXPECT_TRUE(m.excluded("CHANGELOG.md"));
  EXPECT_FALSE(m.excluded("README.md"));
  EXPECT_TRUE(m.excluded("README-secret.md"));
}

TEST(DockerIgnore, CaretIsARegexpAnchorInGlobPatterns) {
  // patternmatcher does not escape '^': literal in an exact pattern, an
  // anchor once the pattern is a regexp.
  EXPECT_TRUE(excluded({"^foo"}, "^foo"));
  EXPECT_TRUE(excluded({"^*"}, "anything"));
  EXPECT_FALSE(excluded({"a^*"}, "a^b"));
}

TEST(DockerIgnore, NonAsciiNames) {
  EXPECT_TRUE(excluded({"caf\u00E9/*"}, "caf\u00E9/x"));
  EXPECT_TRUE(excluded({"?.txt"}, "\u00E9.txt"));
  EXPECT_FALSE(excluded({"??.txt"}, "\u00E9.txt"));
}

}  // namespace
}  // namespace drydock::builder
