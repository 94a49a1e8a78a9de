#pragma once

// `drydock build`: the client of the build API (POST /builds). Streams a
// context directory as a tar, follows the build's log, and exits with the
// build's outcome.

#include <string>
#include <vector>

namespace drydock::server {

// Runs `drydock build args...`; returns the process exit status: 0 the build
// succeeded, 1 it failed or was cancelled or the server refused it, 2 a usage
// error or the server could not be reached, 130 interrupted (Ctrl-C cancels
// the build first). Reports errors on stderr; the build log goes to stdout.
int run_build_command(const std::vector<std::string>& args);

}  // namespace drydock::server
