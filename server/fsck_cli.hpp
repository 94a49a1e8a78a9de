#pragma once

// `drydock fsck`: the integrity check of a data directory (storage/fsck.hpp)
// as a command, with a text or JSON report.

#include <string>
#include <vector>

namespace drydock::server {

// Runs `drydock fsck args...`: 0 clean, 1 problems found (repaired or not)
// or the check could not run, 2 usage error.
int run_fsck_command(const std::vector<std::string>& args);

// The help text, for `drydock --help` and `drydock fsck --help`.
const char* fsck_usage();

}  // namespace drydock::server
