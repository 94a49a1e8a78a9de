// Every instruction's arguments, as the second parser pass types them.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "builder/dockerfile.hpp"
#include "builder/shell_words.hpp"
#include "tests/builder/dockerfile_test_util.hpp"

namespace drydock::builder {
namespace {

using testing::body_error;
using testing::contains;
using testing::first_instruction;
using testing::must_parse;
using Strings = std::vector<std::string>;
using namespace std::chrono_literals;

template <class T>
T command_of(std::string_view body) {
  auto instruction = first_instruction(body);
  if (!instruction) return T{};
  const T* command = std::get_if<T>(&instruction->command);
  if (!command) {
    ADD_FAILURE() << "unexpected command type for: " << body;
    return T{};
  }
  return *command;
}

TEST(Run, FlagsAndForms) {
  auto run = first_instruction(
      "RUN --mount=type=cache,target=/root/.cache --mount=\"type=secret,id=a b\" "
      "--network=none --security=insecure make all");
  ASSERT_TRUE(run);
  const RunCommand& r = std::get<RunCommand>(run->command);
  EXPECT_EQ(r.mounts, (Strings{"type=cache,target=/root/.cache", "type=secret,id=a b"}));
  EXPECT_EQ(r.network, "none");
  EXPECT_EQ(r.security, "insecure");
  EXPECT_EQ(r.command.args, Strings{"make all"});
  EXPECT_EQ(run->flags.at("mount").size(), 2u);

  const RunCommand defaults = command_of<RunCommand>("RUN [\"/bin/true\"]");
  EXPECT_EQ(defaults.network, "default");
  EXPECT_EQ(defaults.security, "sandbox");
  EXPECT_EQ(defaults.command.form, CommandForm::kExec);
  EXPECT_EQ(body_error("RUN --network=host --network=none x").code, DockerfileErrc::kBadFlag);
}

TEST(Env, NewAndLegacyForms) {
  const EnvCommand env =
      command_of<EnvCommand>("ENV A=1 B=\"two words\" C=three\\ words D= E=\"\"");
  ASSERT_EQ(env.pairs.size(), 5u);
  EXPECT_EQ(env.pairs[0].key, "A");
  EXPECT_EQ(env.pairs[0].value, "1");
  EXPECT_FALSE(env.pairs[0].legacy);
  EXPECT_EQ(env.pairs[1].value, "\"two words\"");  // quotes go at expansion time
  EXPECT_EQ(expand_word(env.pairs[1].value, {}).value(), "two words");
  EXPECT_EQ(env.pairs[2].value, "three\\ words");
  EXPECT_EQ(expand_word(env.pairs[2].value, {}).value(), "three words");
  EXPECT_EQ(env.pairs[3].value, "");
  EXPECT_EQ(expand_word(env.pairs[4].value, {}).value(), "");

  const EnvCommand legacy = command_of<EnvCommand>("ENV PATH /usr/local/bin:$PATH  and more");
  ASSERT_EQ(legacy.pairs.size(), 1u);
  EXPECT_EQ(legacy.pairs[0].key, "PATH");
  EXPECT_EQ(legacy.pairs[0].value, "/usr/local/bin:$PATH  and more");
  EXPECT_TRUE(legacy.pairs[0].legacy);
}

TEST(Env, Errors) {
  EXPECT_TRUE(contains(body_error("ENV A").message, "ENV must have two arguments"));
  EXPECT_TRUE(contains(body_error("ENV A=1 B").message, "can't find = in \"B\""));
  EXPECT_TRUE(contains(body_error("ENV").message, "ENV requires at least one argument"));
  EXPECT_TRUE(contains(body_error("ENV =x").message, "ENV names can not be blank"));
  EXPECT_TRUE(contains(body_error("LABEL").message, "LABEL requires at least one argument"));
}

TEST(Label, QuotedKeysAndValues) {
  const LabelCommand label = command_of<LabelCommand>(
      "LABEL \"com.example.vendor\"=\"ACME Incorporated\" version=1.0 \\\n"
      "      description='multi word'");
  ASSERT_EQ(label.pairs.size(), 3u);
  EXPECT_EQ(expand_word(label.pairs[0].key, {}).value(), "com.example.vendor");
  EXPECT_EQ(expand_word(label.pairs[0].value, {}).value(), "ACME Incorporated");
  EXPECT_EQ(label.pairs[1].key, "version");
  EXPECT_EQ(expand_word(label.pairs[2].value, {}).value(), "multi word");
  const LabelCommand legacy = command_of<LabelCommand>("LABEL maintainer someone else");
  EXPECT_EQ(legacy.pairs.at(0).value, "someone else");
}

TEST(Arg, NamesAndDefaults) {
  const ArgCommand arg = command_of<ArgCommand>("ARG A B=2 C=\"x y\" D=");
  ASSERT_EQ(arg.args.size(), 4u);
  EXPECT_EQ(arg.args[0].name, "A");
  EXPECT_FALSE(arg.args[0].default_value);
  EXPECT_EQ(arg.args[1].default_value, "2");
  EXPECT_EQ(arg.args[2].default_value, "\"x y\"");
  EXPECT_EQ(arg.args[3].default_value, "");
  EXPECT_TRUE(contains(body_error("ARG =x").message, "ARG names can not be blank"));
  EXPECT_TRUE(contains(body_error("ARG").message, "ARG requires at least one argument"));
}

TEST(SingleArgument, WorkdirUserStopsignalMaintainer) {
  EXPECT_EQ(command_of<WorkdirCommand>("WORKDIR /app dir").path, "/app dir");
  EXPECT_EQ(command_of<UserCommand>("USER app:app").user, "app:app");
  EXPECT_EQ(command_of<StopsignalCommand>("STOPSIGNAL SIGTERM").signal, "SIGTERM");
  EXPECT_EQ(command_of<MaintainerCommand>("MAINTAINER Jane Doe <jane@example.com>").name,
            "Jane Doe <jane@example.com>");
  for (const char* body : {"WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"}) {
    const DockerfileError e = body_error(body);
    EXPECT_EQ(e.code, DockerfileErrc::kMissingArgument) << body;
    EXPECT_TRUE(contains(e.message, "requires exactly one argument")) << e.message;
  }
}

TEST(Expose, PortsAreSorted) {
  EXPECT_EQ(command_of<ExposeCommand>("EXPOSE 8080/tcp 80 443/udp ${PORT}").ports,
            (Strings{"${PORT}", "443/udp", "80", "8080/tcp"}));
  EXPECT_EQ(body_error("EXPOSE").code, DockerfileErrc::kMissingArgument);
}

TEST(Volume, JsonAndList) {
  EXPECT_EQ(command_of<VolumeCommand>("VOLUME [\"/data\", \" /logs \"]").paths,
            (Strings{"/data", "/logs"}));
  EXPECT_EQ(command_of<VolumeCommand>("VOLUME /a /b").paths, (Strings{"/a", "/b"}));
  EXPECT_TRUE(contains(body_error("VOLUME [\"\"]").message, "can not be an empty string"));
  EXPECT_EQ(body_error("VOLUME").code, DockerfileErrc::kMissingArgument);
}

TEST(Healthcheck, OptionsAndForms) {
  auto check = first_instruction(
      "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=1.5h --start-interval=500ms "
      "--retries=3 CMD curl -f http://localhost/ || exit 1");
  ASSERT_TRUE(check);
  const HealthcheckCommand& h = std::get<HealthcheckCommand>(check->command);
  EXPECT_EQ(h.test, (Strings{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}));
  EXPECT_EQ(h.interval, 30s);
  EXPECT_EQ(h.timeout, 90s);
  EXPECT_EQ(h.start_period, 90min);
  EXPECT_EQ(h.start_interval, 500ms);
  EXPECT_EQ(h.retries, 3);
  EXPECT_EQ(check->flags.size(), 5u);

  const HealthcheckCommand exec =
      command_of<HealthcheckCommand>("HEALTHCHECK --interval=0 cmd [\"/bin/check\", \"-q\"]");
  EXPECT_EQ(exec.test, (Strings{"CMD", "/bin/check", "-q"}));
  EXPECT_EQ(exec.interval, 0s);
  EXPECT_EQ(command_of<HealthcheckCommand>("HEALTHCHECK none").test, Strings{"NONE"});
}

TEST(Healthcheck, Errors) {
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"HEALTHCHECK", "HEALTHCHECK requires at least one argument"},
           {"HEALTHCHECK NONE extra", "HEALTHCHECK NONE takes no arguments"},
           {"HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"},
           {"HEALTHCHECK RUN x", "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"},
           {"HEALTHCHECK --interval=1us CMD x", "Interval \"interval\" cannot be less than 1ms"},
           {"HEALTHCHECK --timeout=-5s CMD x", "Interval \"timeout\" cannot be less than 1ms"},
           {"HEALTHCHECK --interval=5 CMD x", "invalid duration \"5\""},
           {"HEALTHCHECK --interval=5x CMD x", "invalid duration \"5x\""},
           {"HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"},
           {"HEALTHCHECK --retries=three CMD x", "for --retries"},
           {"HEALTHCHECK --retries=99999999999 CMD x", "for --retries"},
           {"HEALTHCHECK --bogus=1 CMD x", "Unknown flag: bogus"},
       }) {
    const DockerfileError e = body_error(c.body);
    EXPECT_TRUE(contains(e.message, c.message)) << c.body << " -> " << e.message;
    EXPECT_EQ(e.instruction, "HEALTHCHECK");
  }
}

TEST(Copy, FlagsSourcesAndDestination) {
  auto copy = first_instruction(
      "COPY --chown=1000:1000 --chmod=755 --link --from=build --parents --exclude=*.md "
      "src1 dir/* /dst/");
  ASSERT_TRUE(copy);
  const CopyCommand& c = std::get<CopyCommand>(copy->command);
  EXPECT_EQ(c.spec.sources, (Strings{"src1", "dir/*"}));
  EXPECT_EQ(c.spec.dest, "/dst/");
  EXPECT_EQ(c.spec.chown, "1000:1000");
  EXPECT_EQ(c.spec.chmod, "755");
  EXPECT_TRUE(c.spec.link);
  EXPECT_EQ(c.spec.excludes, Strings{"*.md"});
  EXPECT_EQ(c.from, "build");
  EXPECT_TRUE(c.parents);

  const CopyCommand json = command_of<CopyCommand>("COPY [\"a b\", \"$X\", \"/c d/\"]");
  EXPECT_EQ(json.spec.sources, (Strings{"a b", "$X"}));
  EXPECT_EQ(json.spec.dest, "/c d/");
  EXPECT_TRUE(json.from.empty());
  EXPECT_FALSE(json.spec.link);
}

TEST(Copy, NeedsADestination) {
  for (const char* body : {"COPY onlyone", "COPY", "ADD x", "COPY [\"a\"]"}) {
    const DockerfileError e = body_error(body);
    EXPECT_EQ(e.code, DockerfileErrc::kMissingArgument) << body;
    EXPECT_TRUE(contains(e.message, "Destination could not be determined")) << e.message;
  }
}

TEST(Add, Flags) {
  auto add = first_instruction(
      "ADD --checksum=sha256:24454f830cdb --keep-git-dir --unpack=false --chmod=644 "
      "https://example.com/a.tar.gz /opt/");
  ASSERT_TRUE(add);
  const AddCommand& a = std::get<AddCommand>(add->command);
  EXPECT_EQ(a.checksum, "sha256:24454f830cdb");
  EXPECT_TRUE(a.keep_git_dir);
  EXPECT_EQ(a.unpack, false);
  EXPECT_EQ(a.spec.chmod, "644");
  EXPECT_EQ(a.spec.sources, Strings{"https://example.com/a.tar.gz"});
  EXPECT_EQ(command_of<AddCommand>("ADD a b").unpack, std::nullopt);
  EXPECT_EQ(body_error("ADD --parents a b").code, DockerfileErrc::kBadFlag);
}

TEST(Onbuild, TriggerIsParsed) {
  auto onbuild = first_instruction("ONBUILD RUN --mount=type=cache,target=/c make");
  ASSERT_TRUE(onbuild);
  const OnbuildCommand& o = std::get<OnbuildCommand>(onbuild->command);
  EXPECT_EQ(o.expression, "RUN --mount=type=cache,target=/c make");
  ASSERT_TRUE(o.trigger);
  EXPECT_EQ(o.trigger->keyword, Keyword::kRun);
  EXPECT_EQ(std::get<RunCommand>(o.trigger->command).mounts, Strings{"type=cache,target=/c"});

  // Like BuildKit, only the blanks after ONBUILD go; trailing ones stay.
  EXPECT_EQ(command_of<OnbuildCommand>("ONBUILD   RUN x  \n").expression, "RUN x  ");

  const OnbuildCommand lower = command_of<OnbuildCommand>("onbuild copy . /app");
  EXPECT_EQ(lower.expression, "copy . /app");
  EXPECT_EQ(std::get<CopyCommand>(lower.trigger->command).spec.dest, "/app");
}

TEST(Onbuild, ForbiddenTriggersAndErrors) {
  EXPECT_TRUE(contains(body_error("ONBUILD ONBUILD RUN x").message,
                       "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
  EXPECT_TRUE(
      contains(body_error("ONBUILD FROM x").message, "FROM isn't allowed as an ONBUILD trigger"));
  EXPECT_TRUE(contains(body_error("ONBUILD maintainer x").message,
                       "MAINTAINER isn't allowed as an ONBUILD trigger"));
  EXPECT_EQ(body_error("ONBUILD").code, DockerfileErrc::kMissingArgument);
  const DockerfileError e = body_error("ONBUILD COPY x");
  EXPECT_EQ(e.instruction, "ONBUILD");
  EXPECT_EQ(e.code, DockerfileErrc::kMissingArgument);
  EXPECT_EQ(body_error("ONBUILD --x RUN y").code, DockerfileErrc::kBadFlag);
}

TEST(ParseTrigger, FromBaseImageConfig) {
  auto run = parse_trigger("RUN echo hi");
  ASSERT_TRUE(run) << run.error().to_string();
  EXPECT_EQ(std::get<RunCommand>(run->command).command.args, Strings{"echo hi"});

  auto copy = parse_trigger("COPY <<EOF /etc/motd\nhello\nEOF");
  ASSERT_TRUE(copy) << copy.error().to_string();
  const CopyCommand& c = std::get<CopyCommand>(copy->command);
  ASSERT_EQ(c.spec.inline_sources.size(), 1u);
  EXPECT_EQ(c.spec.inline_sources[0].data, "hello\n");

  EXPECT_FALSE(parse_trigger("FROM alpine"));
  EXPECT_FALSE(parse_trigger("ONBUILD RUN x"));
  EXPECT_FALSE(parse_trigger(""));
  EXPECT_FALSE(parse_trigger("RUN a\nRUN b"));
  EXPECT_EQ(parse_trigger("BOGUS x").error().code, DockerfileErrc::kUnknownInstruction);
}

TEST(Maintainer, DeprecatedButAccepted) {
  const Dockerfile d = must_parse("FROM scratch\nMAINTAINER someone\n");
  EXPECT_EQ(d.stages.at(0).instructions.at(0).keyword, Keyword::kMaintainer);
}

}  // namespace
}  // namespace drydock::builder
