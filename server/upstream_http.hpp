#pragma once
// Pure pieces of the registry client that pulls base images
// (registry_fetcher.hpp): URLs, redirects, WWW-Authenticate challenges and
// token answers. No sockets here, so they are unit-tested directly.
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace drydock::server {

// An absolute http(s) URL split for a request.
struct HttpUrl {
  bool tls = false;
  std::string host;       // without IPv6 brackets
  std::string port;       // "443" / "80" when not given
  std::string authority;  // "host[:port]" as written (the key for credentials), lowercased
  std::string target;     // path and query, at least "/"
  // "https://host:port/target".
  std::string text() const;
};

// Parses "http[s]://host[:port][/path][?query]".
std::expected<HttpUrl, std::string> parse_http_url(std::string_view url);

// The URL a redirect's Location names: absolute, or relative to `base`
// (RFC 9110 section 10.2.2 allows both).
std::expected<HttpUrl, std::string> resolve_location(const HttpUrl& base,
                                                     std::string_view location);

// Whether a host is loopback ("localhost", 127.0.0.0/8, ::1): plain HTTP to
// it never leaves the machine, so it needs no `insecure` flag (as dockerd).
bool is_loopback_host(std::string_view host);

// A WWW-Authenticate challenge (RFC 9110 section 11.6.1): the scheme
// lowercased ("bearer", "basic") and its auth-params, names lowercased,
// quoted values unescaped. Only the first challenge of a list is read.
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
  std::string param(const std::string& name) const;
};
std::optional<AuthChallenge> parse_www_authenticate(std::string_view header);

// The token endpoint's URL for `challenge` (Docker token spec, "Requesting
// a Token"): realm?service=...&scope=repository:<repository>:pull.
std::expected<HttpUrl, std::string> token_url(const AuthChallenge& challenge,
                                              std::string_view repository);

// The bearer token in a token endpoint's JSON answer ("token", or OAuth's
// "access_token").
std::expected<std::string, std::string> parse_token_answer(std::string_view body);

}  // namespace drydock::server
