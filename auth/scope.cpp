#include "auth/scope.hpp"

namespace drydock::auth {
namespace {

// "repository(plugin)" -> "repository": the resource class is not used.
std::string_view without_class(std::string_view type) {
  if (!type.ends_with(')')) return type;
  std::size_t open = type.find('(');
  return open == std::string_view::npos ? type : type.substr(0, open);
}

std::vector<std::string> split_actions(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view one = text.substr(0, comma);
    if (!one.empty()) out.emplace_back(one);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

std::optional<Scope> parse_scope(std::string_view text) {
  std::size_t first = text.find(':');
  std::size_t last = text.rfind(':');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  std::string_view type = without_class(text.substr(0, first));
  std::string_view name = text.substr(first + 1, last - first - 1);
  if (type.empty() || name.empty()) return std::nullopt;
  return Scope{std::string(type), std::string(name), split_actions(text.substr(last + 1))};
}

std::vector<Scope> parse_scopes(std::string_view text) {
  std::vector<Scope> out;
  while (!text.empty()) {
    std::size_t space = text.find(' ');
    if (std::optional<Scope> s = parse_scope(text.substr(0, space))) out.push_back(*std::move(s));
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return out;
}

std::string to_string(const Scope& s) {
  std::string out = s.type + ":" + s.name + ":";
  for (std::size_t i = 0; i < s.actions.size(); ++i) {
    if (i > 0) out += ',';
    out += s.actions[i];
  }
  return out;
}

}  // namespace drydock::auth
