#pragma once

// The Dockerfile front end: text in, a typed multi-stage model out. Pure: no
// I/O, no variable expansion (the planner expands with shell_words.hpp when it
// knows the build args and ENV). Behaviour follows BuildKit's dockerfile
// frontend (moby/buildkit frontend/dockerfile/parser and .../instructions) and
// https://docs.docker.com/reference/dockerfile/.

#include <chrono>
#include <cstddef>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace drydock::builder {

// Every instruction BuildKit knows.
enum class Keyword {
  kAdd,
  kArg,
  kCmd,
  kCopy,
  kEntrypoint,
  kEnv,
  kExpose,
  kFrom,
  kHealthcheck,
  kLabel,
  kMaintainer,
  kOnbuild,
  kRun,
  kShell,
  kStopsignal,
  kUser,
  kVolume,
  kWorkdir,
};

// The upper-case spelling ("RUN").
std::string_view keyword_name(Keyword keyword);

// Looks a keyword up case-insensitively; nullopt if it is not an instruction.
std::optional<Keyword> find_keyword(std::string_view word);

// True when the builder expands variables in this instruction's arguments:
// ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR (the list of
// https://docs.docker.com/reference/dockerfile/#environment-replacement), and
// ARG, whose default values BuildKit expands too. RUN, CMD, ENTRYPOINT, SHELL,
// HEALTHCHECK and MAINTAINER are passed on as written; ONBUILD's trigger is
// expanded only when it runs in a child build.
bool expands_variables(Keyword keyword);

// What kind of mistake a DockerfileError reports.
enum class DockerfileErrc {
  kSyntax,               // malformed arguments (key=value, stage name, flag value...)
  kBadDirective,         // a repeated parser directive or a bad `# escape=`
  kUnknownInstruction,   // not an instruction keyword
  kMissingFrom,          // an instruction other than ARG before the first FROM
  kNoStages,             // no instructions at all, or no FROM
  kBadJson,              // JSON required (SHELL) or a JSON array with non-strings
  kMissingArgument,      // too few (or too many) arguments
  kBadFlag,              // unknown, repeated or malformed --flag
  kUnterminatedHeredoc,  // end of file inside a heredoc
  kDuplicateStage,       // two stages with the same AS name
  kLineTooLong,          // a physical line over 65535 bytes (BuildKit's scanner limit)
};

// A parse failure: where, in which instruction, and why.
struct DockerfileError {
  DockerfileErrc code = DockerfileErrc::kSyntax;
  std::string file;         // the name given to parse_dockerfile()
  int line = 0;             // 1-based first line of the instruction; 0 if none
  std::string instruction;  // the keyword as written (e.g. "COPY"); empty if none
  std::string message;

  // "Dockerfile:12: COPY: <message>" (parts that are empty are left out).
  std::string to_string() const;
};

// A non-fatal remark, such as an empty line inside a continuation.
struct ParseWarning {
  int line = 0;
  std::string message;
};

// Flags as given on an instruction (`--mount=...`), by name without the
// dashes. Values keep their order; a repeatable flag may have several. Boolean
// flags hold "true" or "false".
using Flags = std::map<std::string, std::vector<std::string>, std::less<>>;

// A here-document attached to RUN, COPY or ADD (`<<EOF` ... `EOF`).
struct Heredoc {
  std::string name;     // the delimiter word, quotes removed
  std::string content;  // the lines between, as written (line endings kept)
  int fd = 0;           // the file descriptor before `<<` (`3<<EOF`), else 0
  bool chomp = false;   // `<<-`: leading tabs are stripped from each line
  bool expand = true;   // false when any part of the delimiter was quoted

  // The content with leading tabs stripped from every line when `chomp`.
  std::string body() const;
};

// Exec (JSON array) or shell form of RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD.
enum class CommandForm { kShell, kExec };

// A command line: the JSON array for kExec; for kShell a single element
// holding the text as written (the shell is prepended when it runs), or no
// element when the instruction had no arguments.
struct CommandLine {
  CommandForm form = CommandForm::kShell;
  std::vector<std::string> args;
};

// `key=value` (or legacy `key value`) of ENV and LABEL, as written: quotes
// and escapes are still in place; expand_word() removes them.
struct KeyValue {
  std::string key;
  std::string value;
  bool legacy = false;  // the `ENV key value` form, without '='
};

// One ARG name with its optional default (as written, unexpanded).
struct ArgDefinition {
  std::string name;
  std::optional<std::string> default_value;
};

// A COPY or ADD source given inline as a heredoc.
struct InlineSource {
  std::string name;  // the heredoc delimiter, used as the file name
  std::string data;  // heredoc body, tabs already stripped for `<<-`
  bool expand = true;
};

// Sources, destination and the flags COPY and ADD share.
struct CopySpec {
  std::vector<std::string> sources;  // paths, URLs or globs as written
  std::vector<InlineSource> inline_sources;
  std::string dest;
  std::string chown;                  // --chown, empty if not given
  std::string chmod;                  // --chmod, empty if not given
  bool link = false;                  // --link
  std::vector<std::string> excludes;  // --exclude, repeatable
};

// FROM [--platform=p] image [AS name]: starts a stage.
struct FromCommand {
  std::string base_name;   // image reference, unexpanded ("scratch" allowed)
  std::string stage_name;  // lower-cased AS name, empty if none
  std::string platform;    // --platform, unexpanded, empty if none
};

// RUN [--mount=...] [--network=...] [--security=...] command.
struct RunCommand {
  CommandLine command;
  std::vector<Heredoc> heredocs;     // files for the shell (shell form only)
  std::vector<std::string> mounts;   // --mount values, raw
  std::string network = "default";   // --network: default, none or host
  std::string security = "sandbox";  // --security: sandbox or insecure
};

// CMD: the default command (or arguments for ENTRYPOINT) of the image.
struct CmdCommand {
  CommandLine command;  // exec form with no element is `CMD []`
};

// ENTRYPOINT: the executable the image runs.
struct EntrypointCommand {
  CommandLine command;  // `ENTRYPOINT []` (exec, empty) resets the entrypoint
};

// SHELL ["executable", "params"]: the shell for later shell-form commands.
struct ShellCommand {
  std::vector<std::string> shell;  // never empty
};

// ENV: environment variables, in order.
struct EnvCommand {
  std::vector<KeyValue> pairs;
};

// LABEL: image labels, in order.
struct LabelCommand {
  std::vector<KeyValue> pairs;
};

// ARG: build arguments declared, in order.
struct ArgCommand {
  std::vector<ArgDefinition> args;
};

// WORKDIR path (unexpanded; the rest of the line, spaces included).
struct WorkdirCommand {
  std::string path;
};

// USER user[:group] (unexpanded).
struct UserCommand {
  std::string user;
};

// STOPSIGNAL signal (unexpanded).
struct StopsignalCommand {
  std::string signal;
};

// MAINTAINER name (deprecated; sets the image author).
struct MaintainerCommand {
  std::string name;
};

// EXPOSE port[/proto]... (unexpanded).
struct ExposeCommand {
  std::vector<std::string> ports;  // as written, sorted like BuildKit sorts them
};

// VOLUME paths (unexpanded, trimmed, never empty).
struct VolumeCommand {
  std::vector<std::string> paths;
};

// HEALTHCHECK: `test` is {"NONE"}, {"CMD", args...} (exec form) or
// {"CMD-SHELL", text} (shell form), as in the image config. Durations are 0
// when not given (inherit).
struct HealthcheckCommand {
  std::vector<std::string> test;
  std::chrono::nanoseconds interval{0};
  std::chrono::nanoseconds timeout{0};
  std::chrono::nanoseconds start_period{0};
  std::chrono::nanoseconds start_interval{0};
  int retries = 0;
};

// COPY [flags] sources... dest.
struct CopyCommand {
  CopySpec spec;
  std::string from;  // --from (stage name, index or image), unchecked here
  bool parents = false;
};

// ADD [flags] sources... dest.
struct AddCommand {
  CopySpec spec;
  std::string checksum;        // --checksum
  bool keep_git_dir = false;   // --keep-git-dir
  std::optional<bool> unpack;  // --unpack, nullopt when not given
};

struct Instruction;

// ONBUILD instruction: a trigger for builds that use this image as a base.
struct OnbuildCommand {
  // The trigger as stored in the image config: the text after ONBUILD, with
  // any heredoc bodies appended.
  std::string expression;
  std::shared_ptr<const Instruction> trigger;  // the same, parsed; never null
};

// The typed arguments of one instruction.
using Command = std::variant<FromCommand, RunCommand, CmdCommand, EntrypointCommand, ShellCommand,
                             EnvCommand, LabelCommand, ArgCommand, WorkdirCommand, UserCommand,
                             StopsignalCommand, MaintainerCommand, ExposeCommand, VolumeCommand,
                             HealthcheckCommand, CopyCommand, AddCommand, OnbuildCommand>;

// One instruction with where it came from.
struct Instruction {
  Keyword keyword = Keyword::kRun;
  // The logical line: continuation lines joined, comment lines dropped,
  // surrounding spaces trimmed (BuildKit's `Original`, used for history).
  std::string original;
  int start_line = 0;  // 1-based
  int end_line = 0;    // last line, heredoc bodies included
  Flags flags;
  Command command;
};

// A build stage: one FROM and what follows it up to the next FROM.
struct Stage {
  std::string name;       // lower-cased AS name, empty when unnamed
  std::string base_name;  // FROM's image reference, unexpanded
  std::string platform;   // FROM --platform, unexpanded, empty if none
  Instruction from;
  std::vector<Instruction> instructions;
};

// A parsed Dockerfile.
struct Dockerfile {
  std::string syntax;                    // `# syntax=` value, empty if absent (not acted upon)
  std::string check;                     // `# check=` value, empty if absent (not acted upon)
  char escape = '\\';                    // `# escape=` character
  std::vector<Instruction> global_args;  // ARGs before the first FROM
  std::vector<Stage> stages;             // at least one
  std::vector<ParseWarning> warnings;

  // The stage named `name_or_index` (names compare case-insensitively), or
  // the one at that decimal index; nullopt if there is none.
  std::optional<std::size_t> find_stage(std::string_view name_or_index) const;
};

// Parses a whole Dockerfile. `file` names it in errors. Never throws for bad
// input; the first error found is returned.
std::expected<Dockerfile, DockerfileError> parse_dockerfile(std::string_view text,
                                                            std::string_view file = "Dockerfile");

// Parses one ONBUILD trigger taken from a base image's config, as a child
// build runs it. FROM, ONBUILD and MAINTAINER are refused.
std::expected<Instruction, DockerfileError> parse_trigger(std::string_view expression,
                                                          std::string_view file = "ONBUILD");

}  // namespace drydock::builder
