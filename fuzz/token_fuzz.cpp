// Fuzz target "token": auth/jwt.hpp (Bearer JWTs), the Authorization header
// handling of auth/authenticator.hpp (Basic and Bearer), auth/scope.hpp and
// the base64 codecs of auth/secrets.hpp.

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "auth/authenticator.hpp"
#include "auth/scope.hpp"
#include "auth/secrets.hpp"
#include "fuzz/fuzz_target.hpp"

namespace drydock::fuzz {
namespace {

namespace fs = std::filesystem;
using namespace drydock::auth;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::string_view kRealm = "https://registry.example/token";

// One user (alice:secret, pull+push on team/*) in a scratch database and a
// signing key, made once; an authenticator per input (its caches and rate
// limiter would otherwise grow with every input, which libFuzzer takes for a
// leak, scanning the heap after each run) whose rate limiter never kicks in,
// so that every input reaches the credential check.
class Fixture {
 public:
  Fixture()
      : dir_(fs::temp_directory_path() / ("drydock-fuzz-token-" + std::to_string(::getpid()))),
        store_((fs::remove_all(dir_), fs::create_directories(dir_), dir_ / "auth.db"),
               KdfCost{.log2_n = 1, .r = 1, .p = 1}),
        signer_(JwtSigner::generate()) {
    expect(store_.add_user("alice", "secret", false).has_value(), "cannot add the fuzz user");
    expect(store_.grant("alice", "team/*", *ActionSet::parse("pull,push")).has_value(),
           "cannot grant the fuzz user");
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Authenticator authenticator() {
    AuthOptions o;
    o.rate_limit.free_failures = 1'000'000'000;
    return Authenticator(std::move(o), store_, signer_);
  }
  const JwtSigner& signer() const { return signer_; }

 private:
  fs::path dir_;
  AuthStore store_;
  JwtSigner signer_;
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

const std::array<Requirement, 3>& requirements() {
  static const std::array<Requirement, 3> needs = {
      Requirement{.resource = Resource::kBase},
      Requirement{.resource = Resource::kCatalog},
      Requirement{.resource = Resource::kRepository, .repository = "team/app",
                  .actions = *ActionSet::parse("pull")},
  };
  return needs;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Any header: only Basic or Bearer credentials can be let in, and a refusal
// comes with a challenge.
void check_header(Authenticator& auth, std::string_view header) {
  const std::string_view t = trim(header);
  const bool credentials = starts_with_ci(t, "basic ") || starts_with_ci(t, "bearer ");
  for (const Requirement& need : requirements()) {
    Decision d = auth.authorize(header, "192.0.2.1", need, kRealm, kNow);
    if (d.kind == Decision::Kind::kAllow) {
      expect(credentials, "a request without credentials was let in");
    }
    if (d.kind == Decision::Kind::kChallenge) expect(!d.challenge.empty(), "an empty challenge");
  }
  auto claims = fixture().signer().verify(header, "drydock", "drydock", kNow);
  expect(!claims, "a token we did not sign verified");
  auto bearer = fixture().signer().verify(trim(t.substr(std::min<std::size_t>(7, t.size()))),
                                          "drydock", "drydock", kNow);
  expect(!bearer, "a token we did not sign verified");
}

// The input as user:password: only alice's password lets her in.
void check_basic(Authenticator& auth, std::string_view text) {
  if (text.find(':') == std::string_view::npos) return;
  const std::string header = "Basic " + base64_encode(text);
  Decision d = auth.authorize(header, "192.0.2.2", requirements()[2], kRealm, kNow);
  expect((d.kind == Decision::Kind::kAllow) == (text == "alice:secret"),
         "Basic credentials decided wrongly");
}

bool valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(sep, start);
    out.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// Claims made of the input's lines: subject, id, token id, then access
// entries "type name action,action".
TokenClaims claims_from(std::string_view text) {
  std::vector<std::string> lines = split(text, '\n');
  lines.resize(std::max<std::size_t>(lines.size(), 3));
  TokenClaims c{.issuer = "drydock", .subject = lines[0], .audience = "drydock",
                .issued_at = kNow, .not_before = kNow, .expires_at = kNow + 300,
                .id = lines[1], .token_id = lines[2]};
  for (std::size_t i = 3; i < lines.size(); ++i) {
    std::vector<std::string> words = split(lines[i], ' ');
    words.resize(std::max<std::size_t>(words.size(), 3));
    c.access.push_back(AccessEntry{words[0], words[1], split(words[2], ',')});
  }
  return c;
}

bool all_utf8(const TokenClaims& c) {
  bool ok = valid_utf8(c.subject) && valid_utf8(c.id) && valid_utf8(c.token_id);
  for (const auto& e : c.access) {
    ok = ok && valid_utf8(e.type) && valid_utf8(e.name);
    for (const auto& a : e.actions) ok = ok && valid_utf8(a);
  }
  return ok;
}

// sign -> verify gives back the claims; the token opens GET /v2/ for a user.
void check_round_trip(Authenticator& auth, std::string_view text) {
  const TokenClaims claims = claims_from(text);
  const std::string token = fixture().signer().sign(claims);
  auto back = fixture().signer().verify(token, "drydock", "drydock", kNow);
  expect(back.has_value(), "a token we signed does not verify");
  if (all_utf8(claims)) {
    expect(back->subject == claims.subject && back->id == claims.id &&
               back->token_id == claims.token_id && back->access == claims.access &&
               back->issued_at == claims.issued_at && back->expires_at == claims.expires_at,
           "sign -> verify changed the claims");
  }
  Decision d =
      auth.authorize("Bearer " + token, "192.0.2.3", requirements()[0], kRealm, kNow);
  expect((d.kind == Decision::Kind::kAllow) == !back->subject.empty(),
         "a signed token for a user does not open the base endpoint");
  auto late = fixture().signer().verify(token, "drydock", "drydock", kNow + 3600);
  expect(!late && late.error() == JwtError::kExpired, "an expired token verified");
}

// parse_scope(to_string(s)) == s, and base64 decodes re-encode.
void check_scopes_and_base64(std::string_view text) {
  for (const Scope& s : parse_scopes(text)) {
    const auto again = parse_scope(to_string(s));
    expect(again && *again == s, "a scope does not survive to_string -> parse_scope");
  }
  if (auto d = base64_decode(text)) {
    expect(base64_decode(base64_encode(*d)) == d, "base64 round trip differs");
  }
  if (auto d = base64url_decode(text)) {
    expect(base64url_decode(base64url_encode(*d)) == d, "base64url round trip differs");
  }
}

}  // namespace

void fuzz_token(Input in) {
  const std::string_view text = as_text(in);
  Authenticator auth = fixture().authenticator();
  check_header(auth, text);
  check_basic(auth, text);
  check_round_trip(auth, text);
  check_scopes_and_base64(text);
}

}  // namespace drydock::fuzz
