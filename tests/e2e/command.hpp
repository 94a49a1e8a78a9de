#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace drydock::e2e {

// What one shell command did: its exit code (128+N when killed by signal N, 124 when
// it ran out of time) and everything it wrote to stdout and stderr, interleaved.
struct CommandResult {
  std::string command;
  int exit_code = -1;
  std::string output;

  bool ok() const { return exit_code == 0; }
  // The command, its exit code and its output, for assertion messages.
  std::string describe() const;
};

// Runs `command` with /bin/bash -c, capturing stdout and stderr together. The command
// is killed after `timeout` (via coreutils timeout). Blocks until it exits.
CommandResult run_command(const std::string& command,
                          std::chrono::seconds timeout = std::chrono::seconds(300));

// Quotes `text` for bash: the result is one word with exactly these bytes.
std::string shell_quote(std::string_view text);

// `text` without trailing newlines and spaces.
std::string trim(std::string text);

}  // namespace drydock::e2e
