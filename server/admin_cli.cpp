#include "server/admin_cli.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include "auth/auth_store.hpp"
#include "auth/authenticator.hpp"
#include "auth/jwt.hpp"
#include "auth/secrets.hpp"
#include "storage/clock.hpp"

namespace drydock::server {

namespace {

constexpr const char* kAdminUsage = R"(Administration (auth), on the data directory of a server, running or not:
  drydock user add NAME [--admin] [--password-stdin]   create a user (asks for the
                                                       password, or reads one line of stdin)
  drydock user passwd NAME [--password-stdin]          change a password (logs the user's
                                                       refresh tokens out)
  drydock user admin NAME yes|no                       make or unmake an administrator
  drydock user del NAME                                delete a user, its grants and tokens
  drydock user list                                    users, and their grants
  drydock grant NAME PATTERN ACTIONS                   set NAME's actions on repositories
                                                       matching PATTERN: pull,push,delete,
                                                       '*' (all) or none (remove). PATTERN:
                                                       a name, '*' within one path segment,
                                                       '**' across segments: 'team/*', '**'
  drydock token create --user U --scope PATTERN:ACTIONS [--scope ...]
                       [--expires 30d|12h|90m|never] [--description TEXT]
                                                       an access token for CI and robots,
                                                       printed once: use it as U's password
  drydock token list [--user U]
  drydock token revoke ID
Each takes --data DIR and --config FILE like `drydock serve`.
)";

struct AdminArgs {
  std::vector<std::string> positional;
  std::optional<std::string> data, config_file, user, expires, description;
  std::vector<std::string> scopes;
  bool admin = false;
  bool password_stdin = false;
};

AdminArgs parse_args(const std::vector<std::string>& args) {
  AdminArgs a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw std::runtime_error(s + " needs a value");
      return args[++i];
    };
    if (s == "--data") a.data = value();
    else if (s == "--config") a.config_file = value();
    else if (s == "--user") a.user = value();
    else if (s == "--scope") a.scopes.push_back(value());
    else if (s == "--expires") a.expires = value();
    else if (s == "--description") a.description = value();
    else if (s == "--admin") a.admin = true;
    else if (s == "--password-stdin") a.password_stdin = true;
    else if (s.starts_with("--")) throw std::runtime_error("unknown option " + s);
    else a.positional.push_back(s);
  }
  return a;
}

std::filesystem::path data_dir(const AdminArgs& a) {
  config::Config c;
  if (a.config_file) c = config::load_file(*a.config_file, c);
  if (a.data) c.storage.data_dir = *a.data;
  return c.storage.data_dir;
}

// Opens the store of an existing data directory (an admin command must not
// create a stray one after a typo in --data).
std::unique_ptr<auth::AuthStore> open_store(const AdminArgs& a) {
  auto dir = data_dir(a);
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("no data directory at " + dir.string() +
                             " (give --data or --config as for drydock serve)");
  }
  return std::make_unique<auth::AuthStore>(dir / "metadata.db");
}

std::string read_line_no_echo(const char* prompt) {
  std::fprintf(stderr, "%s", prompt);
  termios old{};
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  }
  return line;
}

std::string read_password(const AdminArgs& a) {
  std::string pw;
  if (a.password_stdin) {
    std::getline(std::cin, pw);
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  } else {
    if (!isatty(STDIN_FILENO)) {
      throw std::runtime_error("stdin is not a terminal: use --password-stdin");
    }
    pw = read_line_no_echo("Password: ");
    if (read_line_no_echo("Again: ") != pw) throw std::runtime_error("passwords differ");
  }
  if (pw.empty()) throw std::runtime_error("empty password");
  if (!auth::acceptable_password(pw)) throw std::runtime_error("a password cannot contain a NUL byte");
  return pw;
}

template <class T>
T check(auth::StoreResult<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + std::string(auth::to_string(r.error())));
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

void need_positional(const AdminArgs& a, std::size_t n, const char* usage) {
  if (a.positional.size() != n) throw std::runtime_error(std::string("usage: ") + usage);
}

std::string when(std::int64_t t) {
  if (t == 0) return "never";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

int user_command(const AdminArgs& a) {
  if (a.positional.empty()) throw std::runtime_error("usage: drydock user add|passwd|admin|del|list");
  const std::string& verb = a.positional[0];
  auto store = open_store(a);
  if (verb == "list") {
    for (const auto& u : check(store->list_users(), "list users")) {
      std::printf("%s%s  created %s\n", u.name.c_str(), u.admin ? " (admin)" : "",
                  when(u.created).c_str());
      for (const auto& g : check(store->grants(u.name), "grants")) {
        std::printf("  %s: %s\n", g.pattern.c_str(), g.actions.str().c_str());
      }
    }
    return 0;
  }
  if (verb == "add") {
    need_positional(a, 2, "drydock user add NAME [--admin] [--password-stdin]");
    check(store->add_user(a.positional[1], read_password(a), a.admin), "add user " + a.positional[1]);
    std::fprintf(stderr, "user %s added%s\n", a.positional[1].c_str(), a.admin ? " (admin)" : "");
    return 0;
  }
  if (verb == "passwd") {
    need_positional(a, 2, "drydock user passwd NAME [--password-stdin]");
    check(store->set_password(a.positional[1], read_password(a)), "passwd " + a.positional[1]);
    std::fprintf(stderr, "password of %s changed\n", a.positional[1].c_str());
    return 0;
  }
  if (verb == "admin") {
    need_positional(a, 3, "drydock user admin NAME yes|no");
    const std::string& v = a.positional[2];
    if (v != "yes" && v != "no") throw std::runtime_error("usage: drydock user admin NAME yes|no");
    check(store->set_admin(a.positional[1], v == "yes"), "admin " + a.positional[1]);
    return 0;
  }
  if (verb == "del") {
    need_positional(a, 2, "drydock user del NAME");
    check(store->delete_user(a.positional[1]), "delete user " + a.positional[1]);
    std::fprintf(stderr, "user %s deleted\n", a.positional[1].c_str());
    return 0;
  }
  throw std::runtime_error("unknown user command " + verb);
}

auth::ActionSet parse_actions(const std::string& text) {
  if (text == "none") return {};
  auto set = auth::ActionSet::parse(text);
  if (!set) throw std::runtime_error("bad actions '" + text + "' (pull,push,delete, '*' or none)");
  return *set;
}

int grant_command(const AdminArgs& a) {
  need_positional(a, 3, "drydock grant NAME PATTERN ACTIONS");
  auto store = open_store(a);
  auto actions = parse_actions(a.positional[2]);
  check(store->grant(a.positional[0], a.positional[1], actions), "grant");
  std::fprintf(stderr, "%s: %s on %s\n", a.positional[0].c_str(),
               actions.empty() ? "nothing" : actions.str().c_str(), a.positional[1].c_str());
  return 0;
}

// "30d", "12h", "90m", "3600s", "never"/"0" → seconds (0: never).
std::int64_t parse_duration(const std::string& text) {
  if (text == "never" || text == "0") return 0;
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  long long mul = unit == "d" ? 86400 : unit == "h" ? 3600 : unit == "m" ? 60 : unit == "s" ? 1 : 0;
  if (used == 0 || n <= 0 || mul == 0) {
    throw std::runtime_error("bad duration '" + text + "' (e.g. 30d, 12h, 90m, never)");
  }
  return n * mul;
}

// "team/*:pull,push" or "repository:team/*:pull,push".
auth::Grant parse_token_scope(std::string text) {
  if (text.starts_with("repository:")) text = text.substr(11);
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    throw std::runtime_error("bad scope '" + text + "' (PATTERN:ACTIONS, e.g. 'team/*:pull,push')");
  }
  return auth::Grant{text.substr(0, colon), parse_actions(text.substr(colon + 1))};
}

int token_command(const AdminArgs& a) {
  if (a.positional.empty()) throw std::runtime_error("usage: drydock token create|list|revoke");
  const std::string& verb = a.positional[0];
  auto store = open_store(a);
  if (verb == "create") {
    if (!a.user || a.scopes.empty()) {
      throw std::runtime_error("usage: drydock token create --user U --scope PATTERN:ACTIONS ...");
    }
    std::vector<auth::Grant> scope;
    for (const auto& s : a.scopes) scope.push_back(parse_token_scope(s));
    std::int64_t ttl = a.expires ? parse_duration(*a.expires) : 0;
    std::int64_t expires = ttl == 0 ? 0 : storage::unix_now() + ttl;
    auto made = check(store->create_token(*a.user, scope, expires, a.description.value_or("")),
                      "create token");
    std::fprintf(stderr, "token %s for %s, expires %s. It is shown once; use it as %s's password:\n",
                 made.info.id.c_str(), a.user->c_str(), when(expires).c_str(), a.user->c_str());
    std::printf("%s\n", made.secret.c_str());
    return 0;
  }
  if (verb == "list") {
    std::optional<std::string_view> user;
    if (a.user) user = *a.user;
    for (const auto& t : check(store->list_tokens(user), "list tokens")) {
      std::printf("%s  %s  expires %s%s  %s\n", t.id.c_str(), t.user.c_str(),
                  when(t.expires).c_str(), t.revoked ? "  REVOKED" : "", t.description.c_str());
      for (const auto& g : t.scope) {
        std::printf("  %s: %s\n", g.pattern.c_str(), g.actions.str().c_str());
      }
    }
    return 0;
  }
  if (verb == "revoke") {
    need_positional(a, 2, "drydock token revoke ID");
    check(store->revoke_token(a.positional[1]), "revoke token " + a.positional[1]);
    std::fprintf(stderr, "token %s revoked\n", a.positional[1].c_str());
    return 0;
  }
  throw std::runtime_error("unknown token command " + verb);
}

}  // namespace

bool is_admin_command(const std::string& command) {
  return command == "user" || command == "grant" || command == "token";
}

const char* admin_usage() { return kAdminUsage; }

int run_admin_command(const std::string& command, const std::vector<std::string>& args) {
  for (const auto& s : args) {
    if (s == "--help" || s == "-h") {
      std::fputs(kAdminUsage, stdout);
      return 0;
    }
  }
  try {
    AdminArgs a = parse_args(args);
    if (command == "user") return user_command(a);
    if (command == "grant") return grant_command(a);
    return token_command(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock %s: %s\n", command.c_str(), e.what());
    return 1;
  }
}

// ---------------------------------------------------------------- serve

struct AuthRuntime::Impl {
  explicit Impl(const config::Config& c)
      : store(c.storage.data_dir / "metadata.db"),
        signer(auth::JwtSigner::load_or_create(c.storage.data_dir / "auth" /
                                               "token-signing-key.pem")),
        authenticator(options(c.auth), store, signer) {}

  static auth::AuthOptions options(const config::AuthConfig& a) {
    auth::AuthOptions o;
    o.realm = a.realm;
    o.service = a.service;
    o.issuer = a.issuer;
    o.token_ttl_seconds = a.token_ttl_seconds;
    o.refresh_ttl_seconds = std::int64_t{a.refresh_token_days} * 86400;
    o.anonymous_pull = a.anonymous_pull;
    o.rate_limit.free_failures = a.free_failures;
    o.rate_limit.max_delay_seconds = a.max_delay_seconds;
    return o;
  }

  auth::AuthStore store;
  auth::JwtSigner signer;
  auth::Authenticator authenticator;
};

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// The first admin of a container deployment, from the environment or the
// config: created once, never overwritten (the password is then managed
// with `drydock user passwd`).
void bootstrap_admin(auth::AuthStore& store, const config::AuthConfig& a) {
  std::string user = env_or("DRYDOCK_ADMIN_USER", a.admin_user);
  std::string password = env_or("DRYDOCK_ADMIN_PASSWORD", a.admin_password);
  if (user.empty() != password.empty()) {
    throw std::runtime_error("the first admin needs both a user name and a password");
  }
  if (!user.empty()) {
    auto found = check(store.find_user(user), "find user " + user);
    if (!found) {
      check(store.add_user(user, password, true), "add admin " + user);
      std::fprintf(stderr, "drydock: created admin user %s\n", user.c_str());
    }
  }
  if (check(store.list_users(), "list users").empty()) {
    std::fprintf(stderr,
                 "drydock: WARNING: authentication is on but there are no users yet; add one "
                 "with `drydock user add NAME --admin`\n");
  }
}

}  // namespace

AuthRuntime::AuthRuntime(const config::Config& c) : impl_(std::make_unique<Impl>(c)) {
  bootstrap_admin(impl_->store, c.auth);
}

AuthRuntime::~AuthRuntime() = default;

auth::Authenticator& AuthRuntime::authenticator() { return impl_->authenticator; }

}  // namespace drydock::server
