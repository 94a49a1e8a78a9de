#include "builder/dockerfile_text.hpp"

#include <limits>

namespace drydock::builder::text {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Decodes a multi-byte sequence whose lead byte is `lead`, rejecting overlong
// forms and surrogates as Go's utf8.DecodeRune does.
CodePoint decode_multibyte(std::string_view text, std::size_t pos, unsigned char lead) {
  const CodePoint invalid{0xFFFD, 1, false};
  std::size_t length = 0;
  char32_t value = 0;
  char32_t minimum = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, value = lead & 0x1F, minimum = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, value = lead & 0x0F, minimum = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, value = lead & 0x07, minimum = 0x10000;
  } else {
    return invalid;
  }
  if (pos + length > text.size()) return invalid;
  for (std::size_t i = 1; i < length; ++i) {
    const auto c = static_cast<unsigned char>(text[pos + i]);
    if (!is_continuation(c)) return invalid;
    value = (value << 6) | (c & 0x3F);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return invalid;
  return CodePoint{value, length, true};
}

}  // namespace

CodePoint decode(std::string_view text, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return CodePoint{lead, 1, true};
  return decode_multibyte(text, pos, lead);
}

bool is_space(char32_t c) {
  switch (c) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_space_byte(unsigned char c) { return is_space(c); }

bool is_separator(char c) { return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' '; }

std::string_view trim_left(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const CodePoint cp = decode(text, pos);
    if (!cp.valid || !is_space(cp.value)) break;
    pos += cp.length;
  }
  return text.substr(pos);
}

std::string_view trim(std::string_view text) {
  text = trim_left(text);
  std::size_t end = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const CodePoint cp = decode(text, pos);
    pos += cp.length;
    if (!cp.valid || !is_space(cp.value)) end = pos;
  }
  return text.substr(0, end);
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string to_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::vector<std::string> split_separators(std::string_view text, int limit) {
  std::vector<std::string> pieces;
  if (text.empty()) return {std::string()};
  std::size_t begin = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!is_separator(text[pos])) {
      ++pos;
      continue;
    }
    if (limit > 0 && static_cast<int>(pieces.size()) == limit - 1) break;
    std::size_t end = pos;
    while (end < text.size() && is_separator(text[end])) ++end;
    pieces.emplace_back(text.substr(begin, pos - begin));
    begin = pos = end;
  }
  pieces.emplace_back(text.substr(begin));
  return pieces;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// --- BuildKit's parseWords --------------------------------------------------

namespace {

class WordSplitter {
 public:
  WordSplitter(std::string_view text, char escape) : text_(text), escape_(escape) {}

  std::vector<std::string> run() {
    while (pos_ < text_.size()) {
      const CodePoint cp = decode(text_, pos_);
      if (quote_ != 0) {
        in_quote(cp);
      } else if (cp.valid && is_space(cp.value)) {
        end_word();
        pos_ += cp.length;
      } else {
        in_word(cp);
      }
    }
    end_word();
    return std::move(words_);
  }

 private:
  void end_word() {
    if (blank_ok_ || !word_.empty()) words_.push_back(std::move(word_));
    word_.clear();
    blank_ok_ = false;
  }

  void copy(const CodePoint& cp) {
    word_.append(text_.substr(pos_, cp.length));
    pos_ += cp.length;
  }

  // Outside quotes an escape is kept with the character it escapes, even a quote.
  void in_word(CodePoint cp) {
    if (cp.value == '\'' || cp.value == '"') {
      quote_ = cp.value;
      blank_ok_ = true;
    } else if (cp.value == static_cast<unsigned char>(escape_)) {
      if (pos_ + 1 == text_.size()) {
        ++pos_;  // an escape at the very end is dropped
        return;
      }
      copy(cp);
      cp = decode(text_, pos_);
    }
    copy(cp);
  }

  // Inside double quotes the escape protects the next character; single
  // quotes escape nothing.
  void in_quote(CodePoint cp) {
    if (cp.value == quote_) {
      quote_ = 0;
    } else if (cp.value == static_cast<unsigned char>(escape_) && quote_ != '\'') {
      if (pos_ + 1 == text_.size()) {
        quote_ = 0;
        ++pos_;
        return;
      }
      copy(cp);
      cp = decode(text_, pos_);
    }
    copy(cp);
  }

  std::string_view text_;
  char escape_;
  std::size_t pos_ = 0;
  char32_t quote_ = 0;
  bool blank_ok_ = false;
  std::string word_;
  std::vector<std::string> words_;
};

}  // namespace

std::vector<std::string> split_words(std::string_view text, char escape) {
  return WordSplitter(text, escape).run();
}

// --- BuildKit's extractBuilderFlags ----------------------------------------

namespace {

class FlagScanner {
 public:
  explicit FlagScanner(std::string_view line) : line_(line) {}

  ExtractedFlags run() {
    for (; pos_ < line_.size(); ++pos_) {
      const auto c = static_cast<unsigned char>(line_[pos_]);
      if (!in_word_) {
        if (is_space_byte(c)) continue;
        if (!starts_flag()) return finish(line_.substr(pos_));
        in_word_ = true;
      }
      if (quote_ != 0) {
        in_quote(c);
      } else if (is_space_byte(c)) {
        if (word_ == "--") return finish(line_.substr(pos_));
        end_word();
      } else {
        in_word(c);
      }
    }
    if (in_word_ && word_ != "--") end_word();
    return finish({});
  }

 private:
  bool starts_flag() const {
    return line_[pos_] == '-' && pos_ + 1 < line_.size() && line_[pos_ + 1] == '-';
  }

  void end_word() {
    if (blank_ok_ || !word_.empty()) flags_.push_back(std::move(word_));
    word_.clear();
    blank_ok_ = false;
    in_word_ = false;
  }

  ExtractedFlags finish(std::string_view rest) {
    return ExtractedFlags{std::move(flags_), std::string(rest)};
  }

  // Flags always use backslash as their escape, whatever `# escape=` says.
  void in_word(unsigned char c) {
    if (c == '\'' || c == '"') {
      quote_ = static_cast<char>(c);
      blank_ok_ = true;
      return;
    }
    if (c == '\\') {
      if (pos_ + 1 == line_.size()) return;
      c = static_cast<unsigned char>(line_[++pos_]);
    }
    word_ += static_cast<char>(c);
  }

  void in_quote(unsigned char c) {
    if (c == static_cast<unsigned char>(quote_)) {
      quote_ = 0;
      return;
    }
    if (c == '\\') {
      if (pos_ + 1 == line_.size()) {
        quote_ = 0;
        return;
      }
      c = static_cast<unsigned char>(line_[++pos_]);
    }
    word_ += static_cast<char>(c);
  }

  std::string_view line_;
  std::size_t pos_ = 0;
  bool in_word_ = false;
  char quote_ = 0;
  bool blank_ok_ = false;
  std::string word_;
  std::vector<std::string> flags_;
};

}  // namespace

ExtractedFlags extract_flags(std::string_view line) { return FlagScanner(line).run(); }

// --- Go's time.ParseDuration ------------------------------------------------

namespace {

constexpr std::uint64_t kMaxDuration = std::uint64_t{1} << 63;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<std::uint64_t> unit_nanoseconds(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1000;
  if (unit == "ms") return 1000000;
  if (unit == "s") return 1000000000;
  if (unit == "m") return 60ULL * 1000000000;
  if (unit == "h") return 3600ULL * 1000000000;
  return std::nullopt;
}

std::optional<std::uint64_t> leading_int(std::string_view& s) {
  std::uint64_t x = 0;
  std::size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (x > kMaxDuration / 10) return std::nullopt;
    x = x * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (x > kMaxDuration) return std::nullopt;
  }
  s.remove_prefix(i);
  return x;
}

// Digits after the decimal point; ones that would overflow are ignored.
std::uint64_t leading_fraction(std::string_view& s, double& scale) {
  std::uint64_t x = 0;
  bool overflow = false;
  std::size_t i = 0;
  scale = 1;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (overflow) continue;
    if (x > (kMaxDuration - 1) / 10) {
      overflow = true;
      continue;
    }
    const std::uint64_t y = x * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (y > kMaxDuration) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
  return x;
}

// One "<number><unit>" component; adds its nanoseconds to `total`.
bool duration_component(std::string_view& s, std::uint64_t& total) {
  if (!(s[0] == '.' || is_digit(s[0]))) return false;
  std::size_t before = s.size();
  const std::optional<std::uint64_t> whole = leading_int(s);
  if (!whole) return false;
  const bool pre = before != s.size();
  std::uint64_t fraction = 0;
  double scale = 1;
  bool post = false;
  if (!s.empty() && s[0] == '.') {
    s.remove_prefix(1);
    before = s.size();
    fraction = leading_fraction(s, scale);
    post = before != s.size();
  }
  if (!pre && !post) return false;
  std::size_t i = 0;
  while (i < s.size() && s[i] != '.' && !is_digit(s[i])) ++i;
  const std::optional<std::uint64_t> unit = unit_nanoseconds(s.substr(0, i));
  s.remove_prefix(i);
  if (!unit || *whole > kMaxDuration / *unit) return false;
  std::uint64_t value = *whole * *unit;
  if (fraction > 0) {
    value += static_cast<std::uint64_t>(static_cast<double>(fraction) *
                                        (static_cast<double>(*unit) / scale));
    if (value > kMaxDuration) return false;
  }
  total += value;
  return total <= kMaxDuration;
}

}  // namespace

std::optional<std::int64_t> parse_duration(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  std::uint64_t total = 0;
  while (!s.empty()) {
    if (!duration_component(s, total)) return std::nullopt;
  }
  if (negative) {
    if (total == kMaxDuration) return std::numeric_limits<std::int64_t>::min();
    return -static_cast<std::int64_t>(total);
  }
  if (total > kMaxDuration - 1) return std::nullopt;
  return static_cast<std::int64_t>(total);
}

}  // namespace drydock::builder::text
