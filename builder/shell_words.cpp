#include "builder/shell_words.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

#include "builder/dockerfile_text.hpp"

namespace drydock::builder {

namespace {

// A `${...}` nested deeper than this is refused: Go grows its stack, we do not.
constexpr int kMaxNesting = 256;

using Unexpected = std::unexpected<ShellError>;

Unexpected fail(std::string message) { return Unexpected(ShellError{std::move(message)}); }

// Collects words the way BuildKit's wordsStruct does: text from variables is
// split on spaces (add_text), quoted or escaped text is not (add_raw).
class WordCollector {
 public:
  void add_raw(std::string_view text) {
    buffer_ += text;
    in_word_ = true;
  }

  void add_text(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
      const text::CodePoint cp = text::decode(text, pos);
      add_char(text.substr(pos, cp.length), cp.valid && text::is_space(cp.value));
      pos += cp.length;
    }
  }

  void add_char(std::string_view bytes, bool space) {
    if (!space) {
      add_raw(bytes);
    } else if (in_word_ && !buffer_.empty()) {
      words_.push_back(std::move(buffer_));
      buffer_.clear();
      in_word_ = false;
    }
  }

  std::vector<std::string> finish() {
    if (!buffer_.empty()) words_.push_back(std::move(buffer_));
    buffer_.clear();
    in_word_ = false;
    return std::move(words_);
  }

 private:
  std::string buffer_;
  std::vector<std::string> words_;
  bool in_word_ = false;
};

struct Processed {
  std::string text;
  std::vector<std::string> words;
};

// Shell-style patterns of `${VAR#pattern}` and `${VAR/pattern/replacement}`:
// `*` and `?` (neither crosses a newline, as Go's `.` does not), everything
// else literal. BuildKit compiles these to Go regexps; this is an NFA instead.
class Pattern {
 public:
  static std::expected<Pattern, ShellError> compile(std::string_view pattern);

  // Lengths of the prefixes of `text` (starting at `begin`) the pattern matches whole.
  std::vector<std::size_t> prefix_matches(std::string_view text, std::size_t begin) const;

  Pattern reversed() const;

 private:
  enum class Kind { kLiteral, kAny, kStar };
  struct Token {
    Kind kind;
    std::string literal;  // one code point
  };

  bool matches(const Token& token, std::string_view cp) const {
    if (token.kind == Kind::kLiteral) return token.literal == cp;
    return cp != "\n";
  }

  void close_over_stars(std::vector<char>& active) const {
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      if (active[i] && tokens_[i].kind == Kind::kStar) active[i + 1] = 1;
    }
  }

  std::vector<Token> tokens_;
};

std::expected<Pattern, ShellError> Pattern::compile(std::string_view pattern) {
  Pattern out;
  for (std::size_t pos = 0; pos < pattern.size();) {
    std::size_t length = text::decode(pattern, pos).length;
    std::string_view cp = pattern.substr(pos, length);
    pos += length;
    if (cp == "*" || cp == "?") {
      out.tokens_.push_back({cp == "*" ? Kind::kStar : Kind::kAny, {}});
      continue;
    }
    if (cp == "\\") {
      // `\}` and `\/` only escape the ${} syntax; `\*`, `\?`, `\\` are literals.
      if (pos < pattern.size() && (pattern[pos] == '}' || pattern[pos] == '/')) continue;
      if (pos >= pattern.size() ||
          (pattern[pos] != '*' && pattern[pos] != '?' && pattern[pos] != '\\')) {
        length = pos < pattern.size() ? text::decode(pattern, pos).length : 0;
        return fail("invalid escape '\\" + std::string(pattern.substr(pos, length)) + "'");
      }
      cp = pattern.substr(pos++, 1);
    }
    out.tokens_.push_back({Kind::kLiteral, std::string(cp)});
  }
  return out;
}

std::vector<std::size_t> Pattern::prefix_matches(std::string_view text, std::size_t begin) const {
  std::vector<std::size_t> lengths;
  std::vector<char> active(tokens_.size() + 1, 0);
  active[0] = 1;
  close_over_stars(active);
  std::size_t pos = begin;
  while (true) {
    if (active[tokens_.size()]) lengths.push_back(pos - begin);
    if (pos >= text.size()) break;
    const std::size_t length = text::decode(text, pos).length;
    const std::string_view cp = text.substr(pos, length);
    std::vector<char> next(tokens_.size() + 1, 0);
    bool any = false;
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      if (!active[i] || !matches(tokens_[i], cp)) continue;
      next[tokens_[i].kind == Kind::kStar ? i : i + 1] = 1;
      any = true;
    }
    if (!any) break;
    close_over_stars(next);
    active = std::move(next);
    pos += length;
  }
  return lengths;
}

Pattern Pattern::reversed() const {
  Pattern out = *this;
  std::reverse(out.tokens_.begin(), out.tokens_.end());
  return out;
}

std::string reverse_code_points(std::string_view text) {
  std::vector<std::string_view> points;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t length = text::decode(text, pos).length;
    points.push_back(text.substr(pos, length));
    pos += length;
  }
  std::string out;
  out.reserve(text.size());
  for (auto it = points.rbegin(); it != points.rend(); ++it) out += *it;
  return out;
}

// `${VAR#p}` / `${VAR##p}`: removes the shortest / longest matching prefix.
std::string trim_prefix(const Pattern& pattern, std::string_view value, bool longest) {
  const std::vector<std::size_t> lengths = pattern.prefix_matches(value, 0);
  if (lengths.empty()) return std::string(value);
  return std::string(value.substr(longest ? lengths.back() : lengths.front()));
}

// `${VAR%p}` / `${VAR%%p}`: the same on the reversed value.
std::string trim_suffix(const Pattern& pattern, std::string_view value, bool longest) {
  const std::string reversed = reverse_code_points(value);
  return reverse_code_points(trim_prefix(pattern.reversed(), reversed, longest));
}

// ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p}: a doubled operator asks for the longest match.
std::expected<std::string, ShellError> trim_by_pattern(std::string pattern_text,
                                                       const std::string& value, char op) {
  const bool longest = !pattern_text.empty() && pattern_text[0] == op;
  if (longest) pattern_text.erase(0, 1);
  auto pattern = Pattern::compile(pattern_text);
  if (!pattern) {
    return fail("invalid pattern (" + pattern_text +
                ") in substitution: " + pattern.error().message);
  }
  return op == '#' ? trim_prefix(*pattern, value, longest) : trim_suffix(*pattern, value, longest);
}

struct Match {
  std::size_t begin;
  std::size_t end;
};

// Leftmost match at or after `from`, longest at that position.
std::optional<Match> find_match(const Pattern& pattern, std::string_view value, std::size_t from) {
  for (std::size_t begin = from; begin <= value.size();) {
    const std::vector<std::size_t> lengths = pattern.prefix_matches(value, begin);
    if (!lengths.empty()) return Match{begin, begin + lengths.back()};
    if (begin == value.size()) break;
    begin += text::decode(value, begin).length;
  }
  return std::nullopt;
}

// `${VAR/p/r}` replaces the first match, `${VAR//p/r}` every match, stepping
// over empty matches as Go's Regexp.ReplaceAllString does.
std::string replace_matches(const Pattern& pattern, std::string_view value,
                            std::string_view replacement, bool all) {
  std::string out;
  std::size_t last_end = 0;
  std::size_t search = 0;
  while (search <= value.size()) {
    const std::optional<Match> match = find_match(pattern, value, search);
    if (!match) break;
    out += value.substr(last_end, match->begin - last_end);
    if (match->end > last_end || match->begin == 0) out += replacement;
    last_end = match->end;
    if (!all) break;
    const std::size_t width = search < value.size() ? text::decode(value, search).length : 1;
    search = search + width > match->end ? search + width : match->end;
  }
  out += value.substr(std::min(last_end, value.size()));
  return out;
}

bool is_special_parameter(char c) {
  switch (c) {
    case '@':
    case '*':
    case '#':
    case '?':
    case '-':
    case '$':
    case '!':
    case '0':
      return true;
    default:
      return false;
  }
}

// Go's unicode.IsLetter || IsDigit || '_', approximated above ASCII: any
// code point that is not a space, a Latin-1 symbol or general punctuation.
bool is_name_code_point(const text::CodePoint& cp) {
  const char32_t c = cp.value;
  if (c < 0x80) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  if (!cp.valid || text::is_space(c)) return false;
  if (c <= 0xBF || c == 0xD7 || c == 0xF7) return false;
  if (c >= 0x2000 && c <= 0x206F) return false;
  return !(c >= 0x3000 && c <= 0x303F);
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string_view input, const Variables& vars, const WordOptions& options)
      : input_(input), vars_(vars), options_(options), raw_escapes_(options.keep_escapes) {}

  std::expected<Processed, ShellError> run() {
    auto result = process_until(std::nullopt, raw_escapes_);
    if (!result)
      return fail("failed to process \"" + std::string(input_) + "\": " + result.error().message);
    return result;
  }

 private:
  bool at_end() const { return pos_ >= input_.size(); }
  char peek() const { return input_[pos_]; }

  std::string_view take_code_point() {
    const std::size_t length = text::decode(input_, pos_).length;
    const std::string_view cp = input_.substr(pos_, length);
    pos_ += length;
    return cp;
  }

  std::expected<Processed, ShellError> process_until(std::optional<char> stop, bool raw_escapes);
  std::expected<std::string, ShellError> next_piece(WordCollector& words);
  std::expected<std::string, ShellError> single_quote();
  std::expected<std::string, ShellError> double_quote();
  std::expected<std::string, ShellError> dollar();
  std::expected<std::string, ShellError> braced();
  std::expected<std::string, ShellError> modifier(const std::string& name, char op, bool colon);
  std::expected<std::string, ShellError> substitute(const std::string& name);
  std::string possible_heredoc();
  std::string name();
  const std::string* lookup(std::string_view name) const;

  std::string_view input_;
  const Variables& vars_;
  WordOptions options_;
  bool raw_escapes_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

std::expected<Processed, ShellError> Lexer::process_until(std::optional<char> stop,
                                                          bool raw_escapes) {
  if (depth_ >= kMaxNesting) return fail("substitutions nested too deeply");
  ++depth_;
  const bool saved_raw = std::exchange(raw_escapes_, raw_escapes);
  Processed out;
  WordCollector words;
  bool stopped = false;
  std::optional<ShellError> error;
  while (!at_end()) {
    if (stop && peek() == *stop) {
      ++pos_;
      stopped = true;
      break;
    }
    auto piece = next_piece(words);
    if (!piece) {
      error = std::move(piece.error());
      break;
    }
    out.text += *piece;
  }
  raw_escapes_ = saved_raw;
  --depth_;
  if (error) return Unexpected(std::move(*error));
  if (stop && !stopped) {
    return fail(std::string("unexpected end of statement while looking for matching ") + *stop);
  }
  out.words = words.finish();
  return out;
}

// One character, quoted string, escape or substitution, also fed to `words`.
std::expected<std::string, ShellError> Lexer::next_piece(WordCollector& words) {
  const char c = peek();
  if (c == '$') {
    auto value = dollar();
    if (value) words.add_text(*value);  // expanded text is split on spaces
    return value;
  }
  if (c == '<') {
    std::string heredoc = possible_heredoc();
    words.add_raw(heredoc);
    return heredoc;
  }
  if (!options_.literal_quotes && (c == '\'' || c == '"')) {
    auto quoted = c == '\'' ? single_quote() : double_quote();
    if (quoted) words.add_raw(*quoted);
    return quoted;
  }
  if (c == options_.escape) {
    ++pos_;
    std::string escaped = raw_escapes_ ? std::string(1, c) : std::string();
    if (raw_escapes_) words.add_raw(escaped);
    if (!at_end()) {  // a trailing escape escapes nothing
      const std::string_view next = take_code_point();
      words.add_raw(next);
      escaped += next;
    }
    return escaped;
  }
  const text::CodePoint cp = text::decode(input_, pos_);
  const std::string_view bytes = take_code_point();
  words.add_char(bytes, cp.valid && text::is_space(cp.value));
  return std::string(bytes);
}

// Everything up to the next ' is literal; a single quote cannot be escaped.
std::expected<std::string, ShellError> Lexer::single_quote() {
  ++pos_;
  std::string out = options_.keep_quotes ? "'" : "";
  while (!at_end()) {
    const char c = input_[pos_++];
    if (c == '\'') {
      if (options_.keep_quotes) out += c;
      return out;
    }
    out += c;
  }
  return fail("unexpected end of statement while looking for matching single-quote");
}

// Variables expand inside double quotes; the escape protects only " $ and itself.
std::expected<std::string, ShellError> Lexer::double_quote() {
  ++pos_;
  std::string out = options_.keep_quotes ? "\"" : "";
  while (!at_end()) {
    const char c = peek();
    if (c == '"') {
      ++pos_;
      if (options_.keep_quotes) out += c;
      return out;
    }
    if (c == '$') {
      auto value = dollar();
      if (!value) return value;
      out += *value;
      continue;
    }
    std::string_view cp = take_code_point();
    if (c == options_.escape) {
      if (raw_escapes_) out += c;
      if (at_end()) continue;
      const char next = peek();
      if (next == '"' || next == '$' || next == options_.escape) cp = take_code_point();
    }
    out += cp;
  }
  return fail("unexpected end of statement while looking for matching double-quote");
}

// `<<` takes the blanks after it into its word, so `<< EOF` stays one word
// (BuildKit's processPossibleHeredoc).
std::string Lexer::possible_heredoc() {
  ++pos_;
  if (at_end() || peek() != '<') return "<";
  ++pos_;
  std::string out = "<<";
  while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\r' || peek() == '\n')) {
    out += input_[pos_++];
  }
  return out;
}

// A name: digits only if it starts with one, a single special parameter
// ($@ $* $# $? $- $$ $! $0), or letters, digits and underscores.
std::string Lexer::name() {
  std::string out;
  if (!at_end() && is_ascii_digit(peek())) {
    while (!at_end() && is_ascii_digit(peek())) out += input_[pos_++];
    return out;
  }
  if (!at_end() && is_special_parameter(peek())) return std::string(1, input_[pos_++]);
  while (!at_end()) {
    const text::CodePoint cp = text::decode(input_, pos_);
    if (!is_name_code_point(cp)) break;
    out += take_code_point();
  }
  return out;
}

const std::string* Lexer::lookup(std::string_view name) const {
  const auto it = vars_.find(name);
  return it == vars_.end() ? nullptr : &it->second;
}

std::expected<std::string, ShellError> Lexer::dollar() {
  ++pos_;
  if (at_end() || peek() != '{') {
    const std::string var = name();
    if (var.empty()) return "$";
    const std::string* value = lookup(var);
    if (!value) return options_.keep_unset ? "$" + var : "";
    return *value;
  }
  ++pos_;
  return braced();
}

std::expected<std::string, ShellError> Lexer::braced() {
  if (at_end()) return fail("syntax error: missing '}'");
  if (peek() == '{' || peek() == '}' || peek() == ':')
    return fail("syntax error: bad substitution");
  const std::string var = name();
  if (at_end()) return fail("syntax error: missing '}'");
  const char op = input_[pos_++];
  switch (op) {
    case '}': {
      const std::string* value = lookup(var);
      if (!value) return options_.keep_unset ? "${" + var + "}" : "";
      return *value;
    }
    case ':':
      if (at_end()) return fail("syntax error: missing '}'");
      return modifier(var, input_[pos_++], true);
    case '+':
    case '-':
    case '?':
    case '#':
    case '%':
      return modifier(var, op, false);
    case '/':
      return substitute(var);
    default:
      return fail(std::string("unsupported modifier (") + op + ") in substitution");
  }
}

// ${VAR:-w} ${VAR-w} ${VAR:+w} ${VAR+w} ${VAR:?m} ${VAR?m} ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p}
std::expected<std::string, ShellError> Lexer::modifier(const std::string& name, char op,
                                                       bool colon) {
  const std::string spelled = (colon ? ":" : "") + std::string(1, op);
  const bool pattern_op = op == '#' || op == '%';
  if (colon && pattern_op) return fail("unsupported modifier (" + spelled + ") in substitution");
  auto word = process_until('}', pattern_op);
  if (!word) return at_end() ? fail("syntax error: missing '}'") : Unexpected(word.error());
  const std::string* value = lookup(name);
  if (!value && options_.keep_unset) return "${" + name + spelled + word->text + "}";
  const bool empty_or_unset = !value || (colon && value->empty());
  switch (op) {
    case '-':
      return empty_or_unset ? word->text : *value;
    case '+':
      return empty_or_unset ? std::string() : word->text;
    case '?':
      if (!empty_or_unset) return *value;
      if (!word->text.empty()) return fail(name + ": " + word->text);
      return fail(name + (value ? ": is not allowed to be empty" : ": is not allowed to be unset"));
    case '#':
    case '%':
      return trim_by_pattern(word->text, value ? *value : std::string(), op);
    default:
      return fail("unsupported modifier (" + spelled + ") in substitution");
  }
}

// ${VAR/pattern/replacement} and ${VAR//pattern/replacement}
std::expected<std::string, ShellError> Lexer::substitute(const std::string& name) {
  const bool all = !at_end() && peek() == '/';
  if (all) ++pos_;
  auto pattern_text = process_until('/', true);
  if (!pattern_text) {
    return at_end() ? fail("syntax error: missing '/' in ${}") : Unexpected(pattern_text.error());
  }
  auto replacement = process_until('}', true);
  if (!replacement) {
    return at_end() ? fail("syntax error: missing '}'") : Unexpected(replacement.error());
  }
  const std::string* value = lookup(name);
  if (!value && options_.keep_unset) {
    return "${" + name + "/" + pattern_text->text + "/" + replacement->text + "}";
  }
  auto pattern = Pattern::compile(pattern_text->text);
  if (!pattern) {
    return fail("invalid pattern (" + pattern_text->text +
                ") in substitution: " + pattern.error().message);
  }
  return replace_matches(*pattern, value ? *value : std::string(), replacement->text, all);
}

}  // namespace

std::expected<std::string, ShellError> expand_word(std::string_view word, const Variables& vars,
                                                   const WordOptions& options) {
  auto result = Lexer(word, vars, options).run();
  if (!result) return Unexpected(result.error());
  return std::move(result->text);
}

std::expected<std::vector<std::string>, ShellError> expand_words(std::string_view text,
                                                                 const Variables& vars,
                                                                 const WordOptions& options) {
  auto result = Lexer(text, vars, options).run();
  if (!result) return Unexpected(result.error());
  return std::move(result->words);
}

std::expected<std::string, ShellError> expand_heredoc(std::string_view body,
                                                      const Variables& vars) {
  WordOptions options;
  options.literal_quotes = true;
  return expand_word(body, vars, options);
}

}  // namespace drydock::builder
