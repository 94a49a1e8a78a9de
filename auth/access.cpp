#include "auth/access.hpp"

#include <array>
#include <cstddef>
#include <utility>

namespace drydock::auth {
namespace {

constexpr std::array<std::pair<std::string_view, Action>, 3> kActionNames = {{
    {"pull", Action::kPull},
    {"push", Action::kPush},
    {"delete", Action::kDelete},
}};

std::optional<ActionSet> action_named(std::string_view name) {
  if (name == "*") return ActionSet::all();
  for (const auto& [text, action] : kActionNames) {
    if (name == text) return ActionSet(action);
  }
  return std::nullopt;
}

bool repository_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         c == '/';
}

// One element of a compiled pattern: a literal character, `*` or `**`.
struct Piece {
  enum class Kind { kLiteral, kStar, kStarStar };
  Kind kind = Kind::kLiteral;
  char literal = 0;
};

std::vector<Piece> compile(std::string_view pattern) {
  std::vector<Piece> out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '*') {
      out.push_back(Piece{Piece::Kind::kLiteral, pattern[i]});
    } else if (i + 1 < pattern.size() && pattern[i + 1] == '*') {
      out.push_back(Piece{Piece::Kind::kStarStar});
      ++i;
    } else {
      out.push_back(Piece{Piece::Kind::kStar});
    }
  }
  return out;
}

}  // namespace

std::optional<ActionSet> ActionSet::parse(std::string_view text, Unknown unknown) {
  ActionSet set;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view name = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (name.empty()) continue;
    std::optional<ActionSet> one = action_named(name);
    if (one) {
      set = set | *one;
    } else if (unknown == Unknown::kError) {
      return std::nullopt;
    }
  }
  return set;
}

std::string ActionSet::str() const {
  std::string out;
  for (const std::string& name : names()) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::vector<std::string> ActionSet::names() const {
  std::vector<std::string> out;
  for (const auto& [text, action] : kActionNames) {
    if (has(action)) out.emplace_back(text);
  }
  return out;
}

// Dynamic programming over (pattern piece, name position): linear in the
// product of the lengths, so a pattern full of stars cannot make matching
// exponential the way naive backtracking would.
bool pattern_matches(std::string_view pattern, std::string_view name) {
  std::vector<Piece> pieces = compile(pattern);
  // row[j]: the pieces seen so far match name[0, j).
  std::vector<char> row(name.size() + 1, 0);
  row[0] = 1;
  for (const Piece& piece : pieces) {
    std::vector<char> next(name.size() + 1, 0);
    for (std::size_t j = 0; j <= name.size(); ++j) {
      if (piece.kind == Piece::Kind::kLiteral) {
        next[j] = j > 0 && row[j - 1] && name[j - 1] == piece.literal;
      } else if (piece.kind == Piece::Kind::kStarStar) {
        next[j] = row[j] || (j > 0 && next[j - 1]);
      } else {
        next[j] = row[j] || (j > 0 && next[j - 1] && name[j - 1] != '/');
      }
    }
    row = std::move(next);
  }
  return row[name.size()] != 0;
}

bool valid_pattern(std::string_view pattern) {
  if (pattern.empty()) return false;
  for (char c : pattern) {
    if (!repository_char(c) && c != '*') return false;
  }
  return true;
}

namespace {

ActionSet matching_union(const std::vector<Grant>& grants, std::string_view repository) {
  ActionSet out;
  for (const Grant& g : grants) {
    if (pattern_matches(g.pattern, repository)) out = out | g.actions;
  }
  return out;
}

}  // namespace

ActionSet allowed_actions(const Principal& who, std::string_view repository) {
  ActionSet own = who.admin ? ActionSet::all() : matching_union(who.grants, repository);
  if (!who.token_id) return own;
  return own & matching_union(who.token_scope, repository);
}

}  // namespace drydock::auth
