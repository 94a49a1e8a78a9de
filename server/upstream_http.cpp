#include "server/upstream_http.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "server/cli_http_client.hpp"

namespace drydock::server {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void skip_spaces(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::string read_token(std::string_view s, std::size_t& i) {
  std::size_t start = i;
  while (i < s.size() && is_token_char(s[i])) ++i;
  return std::string(s.substr(start, i - start));
}

// A quoted-string (RFC 9110 section 5.6.4) starting at s[i] == '"'.
std::optional<std::string> read_quoted(std::string_view s, std::size_t& i) {
  std::string out;
  for (++i; i < s.size(); ++i) {
    if (s[i] == '"') {
      ++i;
      return out;
    }
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return std::nullopt;
}

}  // namespace

std::string HttpUrl::text() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return (tls ? "https://" : "http://") + h + ":" + port + target;
}

std::expected<HttpUrl, std::string> parse_http_url(std::string_view url) {
  std::string_view rest = url;
  auto path = rest.find_first_of(
      "/?", rest.find("://") == std::string_view::npos ? 0 : rest.find("://") + 3);
  std::string_view origin = rest.substr(0, path);
  auto parsed = parse_server_url(origin);  // scheme, host, port
  if (!parsed) return std::unexpected(parsed.error());
  if (!origin.starts_with("http://") && !origin.starts_with("https://")) {
    return std::unexpected("not an absolute http(s) URL: " + std::string(url));
  }
  HttpUrl out{.tls = parsed->tls, .host = parsed->host, .port = parsed->port};
  out.authority = lowercase(origin.substr(origin.find("://") + 3));
  out.target = path == std::string_view::npos ? "/" : std::string(rest.substr(path));
  if (out.target.starts_with('?')) out.target.insert(0, "/");
  return out;
}

std::expected<HttpUrl, std::string> resolve_location(const HttpUrl& base,
                                                     std::string_view location) {
  if (location.starts_with("http://") || location.starts_with("https://")) {
    return parse_http_url(location);
  }
  if (location.starts_with("//")) {
    return parse_http_url(std::string(base.tls ? "https:" : "http:") + std::string(location));
  }
  HttpUrl out = base;
  if (location.starts_with('/')) {
    out.target = location;
  } else {
    std::string dir = base.target.substr(0, base.target.find('?'));
    out.target = dir.substr(0, dir.rfind('/') + 1) + std::string(location);
  }
  return out;
}

bool is_loopback_host(std::string_view host) {
  std::string h = lowercase(host);
  if (h.starts_with('[') && h.ends_with(']')) h = h.substr(1, h.size() - 2);
  if (h == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

std::string AuthChallenge::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::optional<AuthChallenge> parse_www_authenticate(std::string_view h) {
  std::size_t i = 0;
  skip_spaces(h, i);
  AuthChallenge c;
  c.scheme = lowercase(read_token(h, i));
  if (c.scheme.empty()) return std::nullopt;
  while (true) {
    skip_spaces(h, i);
    while (i < h.size() && h[i] == ',') {
      ++i;
      skip_spaces(h, i);
    }
    std::size_t before = i;
    std::string name = lowercase(read_token(h, i));
    skip_spaces(h, i);
    if (name.empty() || i >= h.size() || h[i] != '=') {
      i = before;  // a token68 or the next challenge's scheme: stop here
      break;
    }
    ++i;
    skip_spaces(h, i);
    std::string value;
    if (i < h.size() && h[i] == '"') {
      auto q = read_quoted(h, i);
      if (!q) return std::nullopt;
      value = std::move(*q);
    } else {
      value = read_token(h, i);
    }
    c.params.emplace(std::move(name), std::move(value));
  }
  return c;
}

std::expected<HttpUrl, std::string> token_url(const AuthChallenge& challenge,
                                              std::string_view repository) {
  std::string realm = challenge.param("realm");
  if (realm.empty()) return std::unexpected("the registry's Bearer challenge has no realm");
  auto url = parse_http_url(realm);
  if (!url) return std::unexpected("bad token realm: " + url.error());
  std::string query;
  if (auto service = challenge.param("service"); !service.empty()) {
    query += "service=" + url_encode(service);
  }
  // Our own scope, not the challenge's: a pull needs only pull, and asking
  // for more (push) could be refused outright.
  query += std::string(query.empty() ? "" : "&") +
           "scope=" + url_encode("repository:" + std::string(repository) + ":pull");
  url->target += (url->target.find('?') == std::string::npos ? "?" : "&") + query;
  return url;
}

std::expected<std::string, std::string> parse_token_answer(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected("the token answer is not JSON");
  for (const char* key : {"token", "access_token"}) {
    if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()) {
      return j[key].get<std::string>();
    }
  }
  return std::unexpected("the token answer has no token");
}

}  // namespace drydock::server
