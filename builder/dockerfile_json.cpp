#include <optional>

#include "builder/dockerfile_text.hpp"

// JSON arrays for exec-form instructions, read the way BuildKit reads them
// with Go's encoding/json (frontend/dockerfile/parser/line_parsers.go, parseJSON).

namespace drydock::builder::text {

// --- Go's encoding/json, as far as BuildKit's parseJSON needs it -----------

namespace {

constexpr std::size_t kMaxJsonDepth = 10000;  // Go's scanner limit

class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}

  // Validates the whole document; collects the root array's string elements
  // and notes whether any root element is not a string.
  bool read_document(std::vector<std::string>& strings, bool& non_string) {
    if (!read_values(strings, non_string)) return false;
    skip_space();
    return pos_ == s_.size();
  }

 private:
  enum class Container { kArray, kObject };

  bool at(char c) const { return pos_ < s_.size() && s_[pos_] == c; }

  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // What read_one() consumed.
  enum class Step { kFailed, kValue, kOpened, kEmpty };

  bool read_values(std::vector<std::string>& strings, bool& non_string) {
    std::vector<Container> stack;
    bool want_key = false;
    while (true) {
      skip_space();
      if (want_key && !read_key()) return false;
      const Step step = read_one(stack, strings, non_string);
      if (step == Step::kFailed) return false;
      if (step == Step::kOpened) continue;  // read the new container's first element
      if (!close_containers(stack, want_key)) return false;
      if (stack.empty()) return true;
    }
  }

  // Reads `"key" :` inside an object.
  bool read_key() {
    std::string ignored;
    if (!at('"') || !read_string(ignored)) return false;
    skip_space();
    if (!at(':')) return false;
    ++pos_;
    skip_space();
    return true;
  }

  // Reads one scalar, or opens a container: kEmpty when it closes at once
  // (the closing bracket is left for close_containers), kOpened otherwise
  // (for an object, its first key is read too).
  Step read_one(std::vector<Container>& stack, std::vector<std::string>& strings,
                bool& non_string) {
    const bool root_element = stack.size() == 1 && stack[0] == Container::kArray;
    if (at('[') || at('{')) {
      if (stack.size() >= kMaxJsonDepth) return Step::kFailed;
      if (root_element) non_string = true;
      stack.push_back(at('[') ? Container::kArray : Container::kObject);
      ++pos_;
      skip_space();
      if (at(stack.back() == Container::kArray ? ']' : '}')) return Step::kEmpty;
      if (stack.back() == Container::kObject && !read_key()) return Step::kFailed;
      return Step::kOpened;
    }
    if (at('"')) {
      std::string value;
      if (!read_string(value)) return Step::kFailed;
      if (root_element) strings.push_back(std::move(value));
      return Step::kValue;
    }
    if (root_element) non_string = true;
    return read_literal() || read_number() ? Step::kValue : Step::kFailed;
  }

  // After a value: closes finished containers; sets `want_key` when the next
  // element of an object follows.
  bool close_containers(std::vector<Container>& stack, bool& want_key) {
    want_key = false;
    while (!stack.empty()) {
      skip_space();
      const char close = stack.back() == Container::kArray ? ']' : '}';
      if (at(close)) {
        ++pos_;
        stack.pop_back();
        continue;
      }
      if (!at(',')) return false;
      ++pos_;
      want_key = stack.back() == Container::kObject;
      return true;
    }
    return true;
  }

  bool read_literal() {
    for (std::string_view word : {"true", "false", "null"}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return true;
      }
    }
    return false;
  }

  bool digits() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  bool read_number() {
    if (at('-')) ++pos_;
    if (at('0')) {
      ++pos_;
    } else if (pos_ >= s_.size() || s_[pos_] < '1' || s_[pos_] > '9' || !digits()) {
      return false;
    }
    if (at('.')) {
      ++pos_;
      if (!digits()) return false;
    }
    if (at('e') || at('E')) {
      ++pos_;
      if (at('+') || at('-')) ++pos_;
      if (!digits()) return false;
    }
    return true;
  }

  std::optional<char32_t> hex4(std::size_t at_pos) const {
    if (at_pos + 4 > s_.size()) return std::nullopt;
    char32_t value = 0;
    for (std::size_t i = at_pos; i < at_pos + 4; ++i) {
      const char c = s_[i];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= static_cast<char32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<char32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value |= static_cast<char32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    return value;
  }

  // \uXXXX, combining a valid surrogate pair; a lone surrogate is U+FFFD.
  bool read_unicode_escape(std::string& out) {
    const std::optional<char32_t> first = hex4(pos_);
    if (!first) return false;
    pos_ += 4;
    char32_t value = *first;
    if (value >= 0xD800 && value < 0xE000) {
      value = 0xFFFD;
      const std::optional<char32_t> second =
          s_.substr(pos_, 2) == "\\u" ? hex4(pos_ + 2) : std::nullopt;
      if (*first < 0xDC00 && second && *second >= 0xDC00 && *second < 0xE000) {
        value = 0x10000 + ((*first - 0xD800) << 10) + (*second - 0xDC00);
        pos_ += 6;
      }
    }
    append_utf8(out, value);
    return true;
  }

  bool read_escape(std::string& out) {
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += c;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        return read_unicode_escape(out);
      default:
        return false;
    }
  }

  bool read_string(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++pos_;
        if (!read_escape(out)) return false;
        continue;
      }
      const CodePoint cp = decode(s_, pos_);
      if (cp.valid) {
        out.append(s_.substr(pos_, cp.length));
      } else {
        append_utf8(out, 0xFFFD);
      }
      pos_ += cp.length;
    }
    return false;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

JsonArray parse_json_array(std::string_view text, std::vector<std::string>& out) {
  text = trim_left(text);
  if (text.empty() || text[0] != '[') return JsonArray::kNotJson;
  std::vector<std::string> strings;
  bool non_string = false;
  if (!JsonReader(text).read_document(strings, non_string)) return JsonArray::kNotJson;
  if (non_string) return JsonArray::kNotStrings;
  out = std::move(strings);
  return JsonArray::kStrings;
}

}  // namespace drydock::builder::text
