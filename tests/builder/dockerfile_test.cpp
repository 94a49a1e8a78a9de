// Lexical layer of the Dockerfile parser: directives, comments, continuations,
// line endings, JSON versus shell form, flags, stages and errors.

#include "builder/dockerfile.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/builder/dockerfile_test_util.hpp"

namespace drydock::builder {
namespace {

using testing::body_error;
using testing::contains;
using testing::first_instruction;
using testing::must_fail;
using testing::must_parse;
using Strings = std::vector<std::string>;

const Strings& shell_args(const Instruction& instruction) {
  return std::get<RunCommand>(instruction.command).command.args;
}

// --- parser directives -----------------------------------------------------

TEST(Directives, SyntaxEscapeAndCheckAreRead) {
  const Dockerfile d = must_parse(
      "# syntax=docker/dockerfile:1.7\n# check=skip=all\n# escape=`\n\nFROM scratch\n"
      "RUN a `\n b\nCOPY x c:\\\nRUN dir c:\\\n");
  EXPECT_EQ(d.syntax, "docker/dockerfile:1.7");
  EXPECT_EQ(d.check, "skip=all");
  EXPECT_EQ(d.escape, '`');
  ASSERT_EQ(d.stages.size(), 1u);
  ASSERT_EQ(d.stages[0].instructions.size(), 3u);
  EXPECT_EQ(shell_args(d.stages[0].instructions[0]), Strings{"a  b"});
  EXPECT_EQ(std::get<CopyCommand>(d.stages[0].instructions[1].command).spec.dest, "c:\\");
  EXPECT_EQ(shell_args(d.stages[0].instructions[2]), Strings{"dir c:\\"});
}

TEST(Directives, CaseAndSpacesDoNotMatter) {
  for (const char* directive :
       {"#escape=`", "# ESCAPE = `", "#\t eScApE=`   ", "  # escape=`", "#escape =`\r"}) {
    const Dockerfile d = must_parse(std::string(directive) + "\nFROM scratch\n");
    EXPECT_EQ(d.escape, '`') << directive;
  }
}

TEST(Directives, OnlyBeforeAnythingElse) {
  // After a comment, an empty line, an unknown directive or an instruction a
  // directive is just a comment.
  for (const char* text :
       {"# about this file\n# escape=`\nFROM scratch\n", "\n# escape=`\nFROM scratch\n",
        "# unknown=1\n# escape=`\nFROM scratch\n", "FROM scratch\n# escape=`\n",
        "#\n# escape=`\nFROM scratch\n"}) {
    EXPECT_EQ(must_parse(text).escape, '\\') << text;
  }
}

TEST(Directives, ByteOrderMarkBeforeDirective) {
  const Dockerfile d = must_parse("\xEF\xBB\xBF# escape=`\nFROM scratch\nRUN a `\nb\n");
  EXPECT_EQ(d.escape, '`');
  EXPECT_EQ(shell_args(d.stages.at(0).instructions.at(0)), Strings{"a b"});
}

TEST(Directives, RepeatedDirectiveIsAnError) {
  const DockerfileError e = must_fail("# syntax=a\n# SYNTAX=b\nFROM scratch\n");
  EXPECT_EQ(e.code, DockerfileErrc::kBadDirective);
  EXPECT_EQ(e.line, 2);
  EXPECT_TRUE(contains(e.message, "only one syntax parser directive")) << e.message;
}

TEST(Directives, BadEscapeIsAnError) {
  const DockerfileError e = must_fail("# escape=x\nFROM scratch\n");
  EXPECT_EQ(e.code, DockerfileErrc::kBadDirective);
  EXPECT_EQ(e.line, 1);
  EXPECT_TRUE(contains(e.message, "invalid escape token 'x'")) << e.message;
}

// --- comments, continuations, line endings ---------------------------------

TEST(Lines, CommentsInsideContinuationAreDropped) {
  const Dockerfile d = must_parse(
      "FROM scratch\n# a comment\nRUN echo hello \\\n# comment\n  # indented comment\nworld\n"
      "RUN echo 'we are running some # of cool things'\n");
  const auto& ins = d.stages.at(0).instructions;
  ASSERT_EQ(ins.size(), 2u);
  EXPECT_EQ(shell_args(ins[0]), Strings{"echo hello world"});
  EXPECT_EQ(ins[0].original, "RUN echo hello world");
  EXPECT_EQ(ins[0].start_line, 3);
  EXPECT_EQ(ins[0].end_line, 6);
  EXPECT_EQ(shell_args(ins[1]), Strings{"echo 'we are running some # of cool things'"});
  EXPECT_EQ(ins[1].start_line, 7);
}

TEST(Lines, WhitespaceAfterEscapeStillContinues) {
  auto run = first_instruction("RUN a \\  \t\n    b\n");
  ASSERT_TRUE(run);
  EXPECT_EQ(shell_args(*run), Strings{"a     b"});  // continuation lines keep their indent
}

TEST(Lines, EscapedEscapeDoesNotContinue) {
  const Dockerfile d = must_parse("FROM scratch\nRUN echo a\\\\\nRUN echo b\n");
  ASSERT_EQ(d.stages.at(0).instructions.size(), 2u);
  EXPECT_EQ(shell_args(d.stages[0].instructions[0]), Strings{"echo a\\\\"});
}

TEST(Lines, EmptyContinuationLineIsSkippedWithWarning) {
  const Dockerfile d = must_parse("FROM scratch\nRUN a \\\n\n   \n  b\n");
  EXPECT_EQ(shell_args(d.stages.at(0).instructions.at(0)), Strings{"a   b"});
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_TRUE(contains(d.warnings[0].message, "Empty continuation line"));
}

TEST(Lines, ContinuationAtEndOfFile) {
  auto run = first_instruction("RUN a \\");
  ASSERT_TRUE(run);
  EXPECT_EQ(shell_args(*run), Strings{"a"});
}

TEST(Lines, CrlfAndLeadingWhitespace) {
  const Dockerfile d =
      must_parse("FROM scratch\r\n  \t RUN a \\\r\n b\r\n\r\n\tENV K=v\r\nCMD [\"x\"]\r\n");
  const auto& ins = d.stages.at(0).instructions;
  ASSERT_EQ(ins.size(), 3u);
  EXPECT_EQ(shell_args(ins[0]), Strings{"a  b"});
  EXPECT_EQ(std::get<EnvCommand>(ins[1].command).pairs.at(0).value, "v");
  EXPECT_EQ(std::get<CmdCommand>(ins[2].command).command.args, Strings{"x"});
}

TEST(Lines, OriginalTextAndKeywordCase) {
  auto run = first_instruction("  run   echo  hi  \n");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->keyword, Keyword::kRun);
  EXPECT_EQ(run->original, "run   echo  hi");
  EXPECT_EQ(shell_args(*run), Strings{"echo  hi"});
}

TEST(Lines, OverlongLineIsAnError) {
  const DockerfileError e = body_error("RUN " + std::string(70000, 'x') + "\n");
  EXPECT_EQ(e.code, DockerfileErrc::kLineTooLong);
  EXPECT_EQ(e.line, 2);
}

// --- JSON (exec) form versus shell form -------------------------------------

TEST(JsonForm, ExecAndShellForms) {
  auto exec = first_instruction("CMD [\"echo\", \"hi there\"]");
  ASSERT_TRUE(exec);
  const CommandLine& cmd = std::get<CmdCommand>(exec->command).command;
  EXPECT_EQ(cmd.form, CommandForm::kExec);
  EXPECT_EQ(cmd.args, (Strings{"echo", "hi there"}));

  auto shell = first_instruction("ENTRYPOINT exec top -b");
  ASSERT_TRUE(shell);
  const CommandLine& entry = std::get<EntrypointCommand>(shell->command).command;
  EXPECT_EQ(entry.form, CommandForm::kShell);
  EXPECT_EQ(entry.args, Strings{"exec top -b"});
}

TEST(JsonForm, InvalidJsonFallsBackToShellForm) {
  for (const char* text :
       {"RUN [ -f /x ] && echo ok", "CMD [\"a\",]", "CMD ['a']", "CMD [\"a\"] extra", "CMD [\"a\"",
        "RUN [\"a\\x\"]", "CMD [01]", "CMD [\"tab\there\"]"}) {
    auto instruction = first_instruction(text);
    ASSERT_TRUE(instruction) << text;
    const CommandLine* line = std::holds_alternative<RunCommand>(instruction->command)
                                  ? &std::get<RunCommand>(instruction->command).command
                                  : &std::get<CmdCommand>(instruction->command).command;
    EXPECT_EQ(line->form, CommandForm::kShell) << text;
    EXPECT_EQ(line->args.size(), 1u) << text;
  }
}

TEST(JsonForm, NonStringElementsAreAnError) {
  for (const char* text :
       {"CMD [\"a\", 1]", "RUN [true]", "ENTRYPOINT [null]", "CMD [{\"a\": [1, 2]}]",
        "CMD [[\"a\"]]", "COPY [\"a\", 2]", "SHELL [\"sh\", -1.5e3]"}) {
    const DockerfileError e = body_error(text);
    EXPECT_EQ(e.code, DockerfileErrc::kBadJson) << text;
    EXPECT_EQ(e.line, 2) << text;
    EXPECT_TRUE(contains(e.message, "arrays must be comprised of strings only")) << e.message;
  }
}

TEST(JsonForm, EscapesAndEmptyArrays) {
  auto cmd = first_instruction(
      "CMD   [ \"\\u00e9\\ud83d\\ude00\", \"a\\\"b\", \"c\\\\d\", \"\\/\", \"\\ud800\" ]  ");
  ASSERT_TRUE(cmd);
  EXPECT_EQ(std::get<CmdCommand>(cmd->command).command.args,
            (Strings{"\xC3\xA9\xF0\x9F\x98\x80", "a\"b", "c\\d", "/", "\xEF\xBF\xBD"}));

  auto empty = first_instruction("ENTRYPOINT []");
  ASSERT_TRUE(empty);
  const CommandLine& entry = std::get<EntrypointCommand>(empty->command).command;
  EXPECT_EQ(entry.form, CommandForm::kExec);
  EXPECT_TRUE(entry.args.empty());
}

TEST(JsonForm, DeeplyNestedJsonDoesNotCrash) {
  auto run = first_instruction("RUN " + std::string(20000, '['));
  ASSERT_TRUE(run);
  EXPECT_EQ(std::get<RunCommand>(run->command).command.form, CommandForm::kShell);
  EXPECT_EQ(body_error("RUN [" + std::string(5000, '[') + std::string(5001, ']')).code,
            DockerfileErrc::kBadJson);
}

TEST(JsonForm, ShellMustBeJson) {
  auto shell = first_instruction("SHELL [\"/bin/bash\", \"-euo\", \"pipefail\", \"-c\"]");
  ASSERT_TRUE(shell);
  EXPECT_EQ(std::get<ShellCommand>(shell->command).shell,
            (Strings{"/bin/bash", "-euo", "pipefail", "-c"}));
  const DockerfileError not_json = body_error("SHELL /bin/bash -c");
  EXPECT_EQ(not_json.code, DockerfileErrc::kBadJson);
  EXPECT_EQ(not_json.instruction, "SHELL");
  EXPECT_TRUE(contains(not_json.message, "requires the arguments to be in JSON form"));
  EXPECT_EQ(body_error("SHELL []").code, DockerfileErrc::kMissingArgument);
  EXPECT_EQ(body_error("SHELL").code, DockerfileErrc::kMissingArgument);
}

// --- flags -----------------------------------------------------------------

TEST(Flags, BooleanStringAndRepeatable) {
  auto copy =
      first_instruction("COPY --link --chown=\"app:app\" --exclude=*.md --exclude=*.txt a b /dst/");
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->flags.at("link"), Strings{"true"});
  EXPECT_EQ(copy->flags.at("chown"), Strings{"app:app"});
  EXPECT_EQ(copy->flags.at("exclude"), (Strings{"*.md", "*.txt"}));
  auto off = first_instruction("COPY --link=FALSE a b");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->flags.at("link"), Strings{"false"});
  EXPECT_FALSE(std::get<CopyCommand>(off->command).spec.link);
}

TEST(Flags, Errors) {
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"COPY --from a b", "Missing a value on flag: from"},
           {"COPY --link= a b", "Missing a value on flag: link"},
           {"COPY --link=maybe a b", "Expecting boolean value for flag link, not: maybe"},
           {"COPY --chown=a --chown=b x y", "Duplicate flag specified: chown"},
           {"COPY --checksum=sha256:00 a b", "Unknown flag: checksum"},
           {"ADD --from=x a b", "Unknown flag: from"},
           {"RUN --foo=bar make", "Unknown flag: foo"},
           {"ENV --x=1 A=1", "Unknown flag: x"},
           {"WORKDIR --x /a", "Unknown flag: x"},
           {"CMD --help", "Unknown flag: help"},
           {"RUN --network=bogus make", "invalid network mode \"bogus\""},
           {"RUN --security=root make", "security \"root\" is not valid"},
       }) {
    const DockerfileError e = body_error(c.body);
    EXPECT_EQ(e.code, DockerfileErrc::kBadFlag) << c.body;
    EXPECT_TRUE(contains(e.message, c.message)) << c.body << " -> " << e.message;
  }
}

TEST(Flags, DoubleDashEndsFlags) {
  auto copy = first_instruction("COPY --link -- --weird /dst");
  ASSERT_TRUE(copy);
  const CopyCommand& c = std::get<CopyCommand>(copy->command);
  EXPECT_TRUE(c.spec.link);
  EXPECT_EQ(c.spec.sources, Strings{"--weird"});
  EXPECT_EQ(c.spec.dest, "/dst");
}

TEST(Flags, IgnoredWhereBuildKitIgnoresThem) {
  // BuildKit never checks the flags of ARG and STOPSIGNAL, nor of HEALTHCHECK NONE.
  auto arg = first_instruction("ARG --whatever=1 NAME");
  ASSERT_TRUE(arg);
  EXPECT_TRUE(arg->flags.empty());
  auto signal = first_instruction("STOPSIGNAL --x SIGKILL");
  ASSERT_TRUE(signal);
  EXPECT_EQ(std::get<StopsignalCommand>(signal->command).signal, "SIGKILL");
  auto none = first_instruction("HEALTHCHECK --interval=5s NONE");
  ASSERT_TRUE(none);
  EXPECT_EQ(std::get<HealthcheckCommand>(none->command).test, Strings{"NONE"});
}

// --- stages ----------------------------------------------------------------

TEST(Stages, GlobalArgsStagesAndLookup) {
  const Dockerfile d = must_parse(
      "ARG GO=1.22\nARG BASE\nFROM --platform=$BUILDPLATFORM golang:${GO} AS Build\n"
      "WORKDIR /src\nRUN go build -o /out/app .\n\nFROM ${BASE:-alpine}\n"
      "COPY --from=build /out/app /app\nFROM scratch as final\n");
  ASSERT_EQ(d.global_args.size(), 2u);
  EXPECT_EQ(std::get<ArgCommand>(d.global_args[0].command).args.at(0).default_value, "1.22");
  ASSERT_EQ(d.stages.size(), 3u);
  EXPECT_EQ(d.stages[0].name, "build");
  EXPECT_EQ(d.stages[0].base_name, "golang:${GO}");
  EXPECT_EQ(d.stages[0].platform, "$BUILDPLATFORM");
  EXPECT_EQ(d.stages[0].from.start_line, 3);
  EXPECT_EQ(d.stages[0].instructions.size(), 2u);
  EXPECT_EQ(d.stages[1].name, "");
  EXPECT_EQ(d.stages[1].base_name, "${BASE:-alpine}");
  EXPECT_EQ(d.stages[2].name, "final");
  EXPECT_EQ(d.find_stage("BUILD"), 0u);
  EXPECT_EQ(d.find_stage("final"), 2u);
  EXPECT_EQ(d.find_stage("1"), 1u);
  EXPECT_EQ(d.find_stage("3"), std::nullopt);
  EXPECT_EQ(d.find_stage("nope"), std::nullopt);
  EXPECT_EQ(d.find_stage(""), std::nullopt);
  EXPECT_EQ(d.find_stage("99999999999999999999"), std::nullopt);
}

TEST(Stages, FromErrors) {
  EXPECT_EQ(must_fail("FROM a b\n").code, DockerfileErrc::kMissingArgument);
  EXPECT_EQ(must_fail("FROM\n").code, DockerfileErrc::kMissingArgument);
  EXPECT_EQ(must_fail("FROM a AS b c\n").code, DockerfileErrc::kMissingArgument);
  const DockerfileError name = must_fail("FROM a AS 1st\n");
  EXPECT_EQ(name.code, DockerfileErrc::kSyntax);
  EXPECT_TRUE(contains(name.message, "invalid name for build stage: \"1st\"")) << name.message;
  EXPECT_EQ(must_fail("FROM a AS b$c\n").code, DockerfileErrc::kSyntax);
  EXPECT_EQ(must_fail("FROM --platform a\n").code, DockerfileErrc::kBadFlag);
}

TEST(Stages, DuplicateNames) {
  const DockerfileError e = must_fail("FROM a AS x\nFROM b AS X\n");
  EXPECT_EQ(e.code, DockerfileErrc::kDuplicateStage);
  EXPECT_EQ(e.line, 2);
}

TEST(Stages, InstructionBeforeFrom) {
  const DockerfileError e = must_fail("ARG A\n# c\nRUN echo\nFROM scratch\n");
  EXPECT_EQ(e.code, DockerfileErrc::kMissingFrom);
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.instruction, "RUN");
}

TEST(Stages, NothingToBuild) {
  EXPECT_EQ(must_fail("").code, DockerfileErrc::kNoStages);
  EXPECT_EQ(must_fail("# only a comment\n\n   \n").code, DockerfileErrc::kNoStages);
  EXPECT_EQ(must_fail("ARG A=1\n").code, DockerfileErrc::kNoStages);
}

// --- errors ----------------------------------------------------------------

TEST(Errors, UnknownInstructionWithSuggestion) {
  const DockerfileError e = must_fail("FROM scratch\n\nRUNN echo\n");
  EXPECT_EQ(e.code, DockerfileErrc::kUnknownInstruction);
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.instruction, "RUNN");
  EXPECT_TRUE(contains(e.message, "unknown instruction: RUNN (did you mean run?)")) << e.message;
  EXPECT_EQ(must_fail("FROM scratch\nFOOBARBAZ x\n").message, "unknown instruction: FOOBARBAZ");
}

TEST(Errors, MessageNamesFileLineAndInstruction) {
  auto result = parse_dockerfile("FROM a\nRUN x \\\n  y\nCOPY onlyone\n", "ctx/Dockerfile.dev");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, DockerfileErrc::kMissingArgument);
  EXPECT_EQ(result.error().to_string(),
            "ctx/Dockerfile.dev:4: COPY: COPY requires at least two arguments, but only one was "
            "provided. Destination could not be determined");
}

TEST(Errors, FirstErrorInFileOrderWins) {
  // The line pass finds the ENV error before the instruction pass sees FOO.
  const DockerfileError e = must_fail("FROM a\nFOO x\nENV A=1 B\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_TRUE(contains(e.message, "can't find = in \"B\"")) << e.message;
}

TEST(Keywords, NamesLookupAndExpansion) {
  EXPECT_EQ(find_keyword("run"), Keyword::kRun);
  EXPECT_EQ(find_keyword("StopSignal"), Keyword::kStopsignal);
  EXPECT_EQ(find_keyword("RUNX"), std::nullopt);
  EXPECT_EQ(keyword_name(Keyword::kHealthcheck), "HEALTHCHECK");
  for (Keyword k : {Keyword::kAdd, Keyword::kCopy, Keyword::kEnv, Keyword::kExpose, Keyword::kFrom,
                    Keyword::kLabel, Keyword::kStopsignal, Keyword::kUser, Keyword::kVolume,
                    Keyword::kWorkdir, Keyword::kArg}) {
    EXPECT_TRUE(expands_variables(k)) << keyword_name(k);
  }
  for (Keyword k : {Keyword::kRun, Keyword::kCmd, Keyword::kEntrypoint, Keyword::kShell,
                    Keyword::kOnbuild, Keyword::kHealthcheck, Keyword::kMaintainer}) {
    EXPECT_FALSE(expands_variables(k)) << keyword_name(k);
  }
}

}  // namespace
}  // namespace drydock::builder
