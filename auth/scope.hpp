#pragma once

// Resource scopes of the Docker registry token specification
// (https://distribution.github.io/distribution/spec/auth/scope/):
//   repository:team/app:pull,push
//   repository(plugin):team/app:pull      (resource class, kept but unused)
//   registry:catalog:*

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::auth {

struct Scope {
  std::string type;                  // "repository", "registry"
  std::string name;                  // repository name, or "catalog"
  std::vector<std::string> actions;  // as asked: "pull", "push", "delete", "*", ...
  bool operator==(const Scope&) const = default;
};

// Parses one scope. The type is everything before the first ':' (a
// "(class)" suffix is dropped), the actions everything after the last ':'
// (comma separated, empty entries dropped), the name what lies between (it
// may itself contain ':' as in "localhost:5000/app"). nullopt when there are
// fewer than two ':' or the type or name is empty.
std::optional<Scope> parse_scope(std::string_view text);

// Parses a space-separated list of scopes (the form of one `scope` query
// parameter, RFC 6749 3.3). Malformed entries are skipped.
std::vector<Scope> parse_scopes(std::string_view text);

// "type:name:a,b".
std::string to_string(const Scope& s);

}  // namespace drydock::auth
