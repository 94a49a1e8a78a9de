#pragma once

// `drydock usage`: what each namespace holds against its quota, and each
// repository, from a running server's GET /usage.

#include <string>
#include <vector>

namespace drydock::server {

// Runs `drydock usage args...`: 0 printed, 1 the server refused, 2 a usage
// error or the server could not be reached.
int run_usage_command(const std::vector<std::string>& args);

// The help text, for `drydock --help` and `drydock usage --help`.
const char* usage_command_usage();

}  // namespace drydock::server
