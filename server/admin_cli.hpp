#pragma once

// The administration subcommands of `drydock`: users, grants and access
// tokens, run next to (or without) a running server on the same data
// directory. Also the auth setup `serve` does at startup.

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace drydock::auth {
class Authenticator;
}

namespace drydock::server {

// True if `command` is one of: user, grant, token.
bool is_admin_command(const std::string& command);

// Runs `drydock <command> args...`; returns the process exit status.
// Reports errors on stderr.
int run_admin_command(const std::string& command, const std::vector<std::string>& args);

// The help text of the admin commands, for `drydock --help`.
const char* admin_usage();

// What `serve` runs with when authentication is on: the user store, the
// token signing key (DATA/auth/token-signing-key.pem, made on first start)
// and the authenticator. Also creates the first admin from the config or
// DRYDOCK_ADMIN_USER / DRYDOCK_ADMIN_PASSWORD. Throws std::runtime_error.
class AuthRuntime {
 public:
  explicit AuthRuntime(const config::Config& c);
  ~AuthRuntime();
  auth::Authenticator& authenticator();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::server
