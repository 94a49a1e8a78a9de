#include "builder/dockerignore.hpp"

#include <algorithm>
#include <utility>

namespace drydock::builder {
namespace {

constexpr char32_t kRuneError = 0xFFFD;
constexpr std::string_view kSpaces = " \t\n\v\f\r";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// Characters fsutil treats as "this exception has a wildcard".
constexpr std::string_view kPatternChars = "*[]?^\\";

struct Rune {
  char32_t value = kRuneError;
  std::size_t size = 1;
};

// Decodes one UTF-8 code point as Go's utf8.DecodeRuneInString does:
// invalid, overlong or surrogate sequences give U+FFFD with size 1.
Rune decode_rune(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1};
  std::size_t size = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
  if (size == 0 || b0 > 0xF4 || i + size > s.size()) return {};
  char32_t cp = b0 & (0x7F >> size);
  for (std::size_t k = 1; k < size; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[size] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
  return {cp, size};
}

std::string_view trim_space(std::string_view s) {
  const auto first = s.find_first_not_of(kSpaces);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpaces) - first + 1);
}

// ---- filepath.Match syntax check (Go 1.16+ checks the whole pattern) ----

// Go's getEsc: one class member, possibly escaped. Advances `i`.
bool class_member(std::string_view c, std::size_t& i, char32_t& out) {
  if (i >= c.size() || c[i] == '-' || c[i] == ']') return false;
  if (c[i] == '\\' && ++i >= c.size()) return false;
  const Rune r = decode_rune(c, i);
  if (r.value == kRuneError && r.size == 1) return false;
  out = r.value;
  i += r.size;
  return i < c.size();  // a class must still be closed
}

// Parses "[...]" starting just after '['; fills `token` if given.
bool parse_class(std::string_view c, std::size_t& i, IgnorePattern::Token* token) {
  bool negated = false;
  if (i < c.size() && c[i] == '^') {
    negated = true;
    ++i;
  }
  std::vector<std::pair<char32_t, char32_t>> ranges;
  while (true) {
    if (i < c.size() && c[i] == ']' && !ranges.empty()) {
      ++i;
      break;
    }
    char32_t lo = 0;
    if (!class_member(c, i, lo)) return false;
    char32_t hi = lo;
    if (c[i] == '-' && !class_member(c, ++i, hi)) return false;
    // filepath.Match accepts an inverted range, but Go's regexp (which
    // patternmatcher really matches with) rejects it: report it up front.
    if (lo > hi) return false;
    ranges.emplace_back(lo, hi);
  }
  if (token != nullptr) {
    token->type = IgnorePattern::Token::Type::kClass;
    token->negated = negated;
    token->ranges = std::move(ranges);
  }
  return true;
}

bool valid_chunk(std::string_view c) {
  std::size_t i = 0;
  while (i < c.size()) {
    if (c[i] == '[') {
      if (!parse_class(c, ++i, nullptr)) return false;
    } else if (c[i] == '\\') {
      if (i + 1 >= c.size()) return false;
      i += 2;
    } else {
      ++i;
    }
  }
  return true;
}

// True if Go's filepath.Match would accept `pattern` (patternmatcher.New
// calls Match(pattern, ".") only for this check).
bool valid_glob(std::string_view pattern) {
  while (!pattern.empty()) {
    while (!pattern.empty() && pattern.front() == '*') pattern.remove_prefix(1);
    bool in_range = false;
    std::size_t i = 0;
    for (; i < pattern.size(); ++i) {
      const char ch = pattern[i];
      if (ch == '\\') {
        if (i + 1 < pattern.size()) ++i;
      } else if (ch == '[') {
        in_range = true;
      } else if (ch == ']') {
        in_range = false;
      } else if (ch == '*' && !in_range) {
        break;
      }
    }
    if (!valid_chunk(pattern.substr(0, i))) return false;
    pattern.remove_prefix(i);
  }
  return true;
}

// ---- glob matching: a set of reachable positions per token ----

using Positions = std::vector<char>;
using Token = IgnorePattern::Token;

void step_run(std::string_view s, const Positions& cur, Positions& next, char stop,
              const Positions& boundary) {
  bool reach = false;
  for (std::size_t q = 0; q <= s.size(); ++q) {
    if (q > 0 && s[q - 1] == stop) reach = false;
    if (cur[q]) reach = true;
    if (reach && boundary[q]) next[q] = 1;
  }
}

// regexp "(.*/)?": nothing, or anything without '\n' followed by '/'.
void step_dir_prefix(std::string_view s, const Positions& cur, Positions& next) {
  bool reach = false;
  for (std::size_t q = 0; q <= s.size(); ++q) {
    if (q > 0) {
      if (s[q - 1] == '/' && reach) next[q] = 1;
      if (s[q - 1] == '\n') reach = false;
    }
    if (cur[q]) {
      reach = true;
      next[q] = 1;
    }
  }
}

bool class_accepts(const Token& t, char32_t r) {
  const bool in = std::any_of(t.ranges.begin(), t.ranges.end(), [r](const auto& range) {
    return range.first <= r && r <= range.second;
  });
  return in != t.negated;
}

void step_one(std::string_view s, const Token& t, const Positions& cur, Positions& next) {
  for (std::size_t p = 0; p < s.size(); ++p) {
    if (!cur[p]) continue;
    const Rune r = decode_rune(s, p);
    const bool ok = t.type == Token::Type::kOne ? r.value != '/' : class_accepts(t, r.value);
    if (ok) next[p + r.size] = 1;
  }
}

void step_literal(std::string_view s, const Token& t, const Positions& cur, Positions& next) {
  for (std::size_t p = 0; p + t.text.size() <= s.size(); ++p) {
    if (cur[p] && s.compare(p, t.text.size(), t.text) == 0) next[p + t.text.size()] = 1;
  }
}

void step(std::string_view s, const Token& t, const Positions& boundary, const Positions& cur,
          Positions& next) {
  switch (t.type) {
    case Token::Type::kLiteral:
      return step_literal(s, t, cur, next);
    case Token::Type::kStar:
      return step_run(s, cur, next, '/', boundary);
    case Token::Type::kAnyRun:  // regexp '.' does not match '\n'
      return step_run(s, cur, next, '\n', boundary);
    case Token::Type::kOne:
    case Token::Type::kClass:
      return step_one(s, t, cur, next);
    case Token::Type::kDirPrefix:
      return step_dir_prefix(s, cur, next);
    case Token::Type::kAnchor:
      next[0] = cur[0];
      return;
  }
}

bool glob_match(const std::vector<Token>& tokens, std::string_view s) {
  Positions boundary(s.size() + 1, 0);
  for (std::size_t i = 0; i < s.size(); i += decode_rune(s, i).size) boundary[i] = 1;
  boundary[s.size()] = 1;
  Positions cur(s.size() + 1, 0);
  Positions next(s.size() + 1, 0);
  cur[0] = 1;
  for (const Token& t : tokens) {
    std::fill(next.begin(), next.end(), 0);
    step(s, t, boundary, cur, next);
    if (std::find(next.begin(), next.end(), 1) == next.end()) return false;
    std::swap(cur, next);
  }
  return cur[s.size()] != 0;
}

// ---- compiling, following patternmatcher's Pattern.compile ----

class Compiler {
 public:
  explicit Compiler(std::string_view p) : p_(p) {}

  std::pair<MatchKind, std::vector<Token>> run() {
    for (std::size_t iteration = 0; pos_ < p_.size(); ++iteration) {
      const std::size_t start = pos_;
      const char32_t ch = next();
      if (ch == '*') {
        star(iteration);
      } else if (ch == '?') {
        push({.type = Token::Type::kOne});
      } else if (ch == '\\') {
        escape();
      } else if (ch == '[') {
        Token t;
        parse_class(p_, pos_, &t);  // syntax was checked by valid_glob
        push(std::move(t));
      } else if (ch == ']') {  // a lone ']' is a regexp literal
        literal(p_.substr(start, pos_ - start));
        kind_ = MatchKind::kGlob;
      } else if (ch == '^') {  // not escaped by patternmatcher: an anchor
        push({.type = Token::Type::kAnchor});
      } else {
        literal(p_.substr(start, pos_ - start));
      }
    }
    return {kind_, std::move(tokens_)};
  }

 private:
  char32_t next() {
    const Rune r = decode_rune(p_, pos_);
    pos_ += r.size;
    return r.value;
  }
  char peek() const { return pos_ < p_.size() ? p_[pos_] : '\0'; }

  void star(std::size_t iteration) {
    if (peek() != '*') {
      push({.type = Token::Type::kStar});
      return;
    }
    ++pos_;
    if (peek() == '/') ++pos_;  // "**/" is treated as "**"
    if (pos_ == p_.size()) {
      if (kind_ == MatchKind::kExact) {
        kind_ = MatchKind::kPrefix;
      } else {
        push({.type = Token::Type::kAnyRun});
      }
    } else {
      push({.type = Token::Type::kDirPrefix});
    }
    if (iteration == 0) kind_ = MatchKind::kSuffix;
  }

  void escape() {
    if (pos_ == p_.size()) {  // unreachable after valid_glob; kept literal
      literal("\\");
      return;
    }
    const std::size_t start = pos_;
    next();
    literal(p_.substr(start, pos_ - start));
    kind_ = MatchKind::kGlob;
  }

  void push(Token t) {
    tokens_.push_back(std::move(t));
    kind_ = tokens_.back().type == Token::Type::kAnchor ? kind_ : MatchKind::kGlob;
  }

  void literal(std::string_view text) {
    if (tokens_.empty() || tokens_.back().type != Token::Type::kLiteral) {
      tokens_.push_back({.type = Token::Type::kLiteral});
    }
    tokens_.back().text.append(text);
  }

  std::string_view p_;
  std::size_t pos_ = 0;
  MatchKind kind_ = MatchKind::kExact;
  std::vector<Token> tokens_;
};

// True if `pattern` matches one of the leading directories of `parent`
// ("a", "a/b", "a/b/c" for "a/b/c").
bool parent_matches(const IgnorePattern& pattern, std::string_view parent) {
  for (std::size_t from = 0;;) {
    const auto slash = parent.find('/', from);
    if (pattern.matches(parent.substr(0, slash))) return true;
    if (slash == std::string_view::npos) return false;
    from = slash + 1;
  }
}

std::string_view without_trailing_glob(std::string_view p) {
  if (p.ends_with("/**")) p.remove_suffix(3);
  if (p.ends_with("/*")) p.remove_suffix(2);
  return p;
}

// ignorefile.ReadAll's per-line normalisation. Empty result: skip the line.
std::string normalize_line(std::string_view line) {
  if (line.starts_with('#')) return {};
  line = trim_space(line);
  if (line.empty()) return {};
  const bool invert = line.front() == '!';
  if (invert) line = trim_space(line.substr(1));
  std::string pattern;
  if (!line.empty()) {
    pattern = clean_path(line);
    if (pattern.size() > 1 && pattern.front() == '/') pattern.erase(0, 1);
  }
  return invert ? "!" + pattern : pattern;
}

}  // namespace

std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path.front() == '/';
  const std::size_t n = path.size();
  std::string out;
  std::size_t r = 0;
  std::size_t dotdot = 0;
  if (rooted) {
    out.push_back('/');
    r = dotdot = 1;
  }
  auto is_sep = [&](std::size_t i) { return i == n || path[i] == '/'; };
  while (r < n) {
    if (path[r] == '/') {
      ++r;
    } else if (path[r] == '.' && is_sep(r + 1)) {
      ++r;
    } else if (path[r] == '.' && path[r + 1] == '.' && is_sep(r + 2)) {
      r += 2;
      if (out.size() > dotdot) {
        std::size_t w = out.size() - 1;
        while (w > dotdot && out[w] != '/') --w;
        out.resize(w);
      } else if (!rooted) {
        if (!out.empty()) out.push_back('/');
        out.append("..");
        dotdot = out.size();
      }
    } else {
      if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out.push_back('/');
      for (; r < n && path[r] != '/'; ++r) out.push_back(path[r]);
    }
  }
  return out.empty() ? "." : out;
}

std::string parent_path(std::string_view path) {
  const auto slash = path.rfind('/');
  return clean_path(slash == std::string_view::npos ? "" : path.substr(0, slash + 1));
}

std::expected<IgnorePattern, std::string> IgnorePattern::compile(std::string pattern,
                                                                 PatternSense sense) {
  if (!valid_glob(pattern)) return std::unexpected("syntax error in pattern \"" + pattern + "\"");
  IgnorePattern p;
  auto [kind, tokens] = Compiler(pattern).run();
  p.text_ = std::move(pattern);
  p.sense_ = sense;
  p.kind_ = kind;
  p.tokens_ = std::move(tokens);
  return p;
}

bool IgnorePattern::matches(std::string_view path) const {
  switch (kind_) {
    case MatchKind::kExact:
      return path == text_;
    case MatchKind::kPrefix:
      return path.starts_with(std::string_view(text_).substr(0, text_.size() - 2));
    case MatchKind::kSuffix: {
      const std::string_view suffix = std::string_view(text_).substr(2);
      if (path.ends_with(suffix)) return true;
      return suffix.front() == '/' && path == suffix.substr(1);  // "**/foo" matches "foo"
    }
    case MatchKind::kGlob:
      return glob_match(tokens_, path);
  }
  return false;
}

std::expected<DockerIgnore, IgnoreError> DockerIgnore::parse(std::string_view text) {
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  DockerIgnore result;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    if (line.ends_with('\r')) line.remove_suffix(1);
    std::string pattern = normalize_line(line);
    if (pattern.empty()) continue;
    if (auto added = result.add(std::move(pattern)); !added) {
      return std::unexpected(IgnoreError{line_no, std::move(added.error())});
    }
  }
  return result;
}

std::expected<DockerIgnore, IgnoreError> DockerIgnore::from_patterns(
    const std::vector<std::string>& patterns) {
  DockerIgnore result;
  for (const std::string& p : patterns) {
    if (auto added = result.add(p); !added) {
      return std::unexpected(IgnoreError{0, std::move(added.error())});
    }
  }
  return result;
}

std::expected<void, std::string> DockerIgnore::add(std::string_view raw) {
  const std::string_view trimmed = trim_space(raw);
  if (trimmed.empty()) return {};
  std::string p = clean_path(trimmed);
  const bool exception = p.front() == '!';
  if (exception) {
    if (p.size() == 1) return std::unexpected("illegal exclusion pattern: \"!\"");
    p.erase(0, 1);
  }
  auto compiled = IgnorePattern::compile(
      std::move(p), exception ? PatternSense::kException : PatternSense::kExclude);
  if (!compiled) return std::unexpected(std::move(compiled.error()));
  if (exception) {
    has_exceptions_ = true;
    if (without_trailing_glob(compiled->text()).find_first_of(kPatternChars) !=
        std::string_view::npos) {
      only_prefix_exceptions_ = false;
    }
  }
  patterns_.push_back(std::move(*compiled));
  return {};
}

bool DockerIgnore::excluded(std::string_view path) const {
  if (path.empty() || path == ".") return false;  // never exclude the context root
  const std::string parent = parent_path(path);
  bool matched = false;
  for (const IgnorePattern& pattern : patterns_) {
    // An inclusion cannot change an already excluded path, nor an exception
    // one that is not excluded.
    if (pattern.exception() != matched) continue;
    const bool match = pattern.matches(path) || (parent != "." && parent_matches(pattern, parent));
    if (match) matched = !pattern.exception();
  }
  return matched;
}

bool DockerIgnore::can_skip_dir(std::string_view dir) const {
  if (!excluded(dir)) return false;
  if (!has_exceptions_) return true;
  if (!only_prefix_exceptions_) return false;
  const std::string dir_slash = std::string(dir) + "/";
  return std::none_of(patterns_.begin(), patterns_.end(), [&](const IgnorePattern& p) {
    return p.exception() &&
           (std::string(without_trailing_glob(p.text())) + "/").starts_with(dir_slash);
  });
}

}  // namespace drydock::builder
