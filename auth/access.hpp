#pragma once

// Who may do what to which repository: actions, grants on repository name
// patterns, and the principal a request runs as.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::auth {

// What a request wants to do to a repository.
enum class Action : std::uint8_t { kPull = 1, kPush = 2, kDelete = 4 };

// A set of actions. Text form: "pull,push,delete" (any order), "*" for all,
// "" for none.
class ActionSet {
 public:
  constexpr ActionSet() = default;
  constexpr ActionSet(Action a) : bits_(static_cast<std::uint8_t>(a)) {}  // NOLINT: implicit by design
  static constexpr ActionSet all() { return from_bits(7); }
  static constexpr ActionSet from_bits(std::uint8_t b) {
    ActionSet s;
    s.bits_ = b & 7;
    return s;
  }
  // Parses "pull,push", "*", "" (empty set). Unknown action names are an
  // error (nullopt) unless `ignore_unknown` (the token spec lets clients ask
  // for actions a registry does not know, which are then simply not granted).
  enum class Unknown { kError, kIgnore };
  static std::optional<ActionSet> parse(std::string_view text, Unknown unknown = Unknown::kError);

  constexpr bool has(Action a) const { return (bits_ & static_cast<std::uint8_t>(a)) != 0; }
  constexpr bool contains(ActionSet o) const { return (bits_ & o.bits_) == o.bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::uint8_t bits() const { return bits_; }
  constexpr ActionSet operator|(ActionSet o) const { return from_bits(bits_ | o.bits_); }
  constexpr ActionSet operator&(ActionSet o) const { return from_bits(bits_ & o.bits_); }
  constexpr bool operator==(const ActionSet&) const = default;
  // "pull,push,delete" in that canonical order; "" when empty.
  std::string str() const;
  // The action names, canonical order (for the JWT access claim).
  std::vector<std::string> names() const;

 private:
  std::uint8_t bits_ = 0;
};

// Repository name patterns: a literal name matches itself; `*` matches any
// run of characters within one path segment (not '/'); `**` matches any run
// of characters including '/' (so `team/**` matches team/app and
// team/app/api, `**` matches everything, `team/*` matches team/app only).
bool pattern_matches(std::string_view pattern, std::string_view name);

// A pattern is valid when it is non-empty, has no whitespace or control
// characters, and every character is one a repository name may hold
// ([a-z0-9._/-]) or '*'.
bool valid_pattern(std::string_view pattern);

// A permission: `actions` on every repository whose name matches `pattern`.
struct Grant {
  std::string pattern;
  ActionSet actions;
  bool operator==(const Grant&) const = default;
};

// Who is asking, as established by authentication.
struct Principal {
  std::string user;  // empty: anonymous
  bool admin = false;
  std::vector<Grant> grants;  // the user's own grants (admin: ignored, has everything)
  // Set when the caller authenticated with an access token (robot/CI token):
  // the token's id and the scope it was created with. Effective rights are
  // the user's rights intersected with this scope.
  std::optional<std::string> token_id;
  std::vector<Grant> token_scope;

  bool anonymous() const { return user.empty(); }
};

// The actions `who` may perform on `repository`: the union of the grants
// whose pattern matches (all actions for an admin), intersected with the
// union of the matching token scope entries when `who` used an access token.
ActionSet allowed_actions(const Principal& who, std::string_view repository);

}  // namespace drydock::auth
