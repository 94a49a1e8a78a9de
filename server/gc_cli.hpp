#pragma once

// `drydock gc` and `drydock prune`: ask a running server to collect garbage
// (POST /admin/gc, /admin/prune) and print its report.

#include <string>
#include <vector>

namespace drydock::server {

// Runs `drydock gc args...` or `drydock prune args...` (`command` is "gc" or
// "prune"): 0 done, 1 the server refused or failed, 2 usage error or the
// server could not be reached.
int run_gc_command(const std::string& command, const std::vector<std::string>& args);

// The help text, for `drydock --help`.
const char* gc_usage();

}  // namespace drydock::server
