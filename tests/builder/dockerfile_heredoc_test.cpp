// Heredocs, whole real-world Dockerfiles, and inputs that must not crash.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "builder/dockerfile.hpp"
#include "builder/shell_words.hpp"
#include "tests/builder/dockerfile_test_util.hpp"

namespace drydock::builder {
namespace {

using testing::body_error;
using testing::first_instruction;
using testing::must_fail;
using testing::must_parse;
using Strings = std::vector<std::string>;

TEST(Heredoc, RunScript) {
  const Dockerfile d =
      must_parse("FROM scratch\nRUN <<EOF\n# not a comment\necho $HOME \\\nEOF\nRUN after\n");
  const auto& ins = d.stages.at(0).instructions;
  ASSERT_EQ(ins.size(), 2u);
  const RunCommand& run = std::get<RunCommand>(ins[0].command);
  EXPECT_EQ(run.command.args, Strings{"<<EOF"});
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_EQ(run.heredocs[0].name, "EOF");
  EXPECT_EQ(run.heredocs[0].content, "# not a comment\necho $HOME \\\n");
  EXPECT_TRUE(run.heredocs[0].expand);
  EXPECT_FALSE(run.heredocs[0].chomp);
  EXPECT_EQ(ins[0].start_line, 2);
  EXPECT_EQ(ins[0].end_line, 5);
  EXPECT_EQ(ins[1].start_line, 6);
}

TEST(Heredoc, ChompStripsLeadingTabs) {
  auto run = first_instruction("RUN <<-EOT\n\techo a\n\t\techo b\n    kept\n\tEOT\n");
  ASSERT_TRUE(run);
  const Heredoc& h = std::get<RunCommand>(run->command).heredocs.at(0);
  EXPECT_TRUE(h.chomp);
  EXPECT_EQ(h.content, "\techo a\n\t\techo b\n    kept\n");
  EXPECT_EQ(h.body(), "echo a\necho b\n    kept\n");
}

TEST(Heredoc, QuotedDelimiterMeansNoExpansion) {
  struct Case {
    const char* word;
    const char* name;
    bool expand;
  };
  for (const Case& c : std::vector<Case>{{"<<\"EOF\"", "EOF", false},
                                         {"<<'EOF'", "EOF", false},
                                         {"<<E\"O\"F", "EOF", false},
                                         {"<<eo\\'f", "eo'f", true},
                                         {"<<'e'o\\'f", "eo'f", false},
                                         {"<<'one two'", "one two", false},
                                         {"<<$EOF", "$EOF", true},
                                         {"<<  EOF", "EOF", true},
                                         {"<< -EOF", "-EOF", true}}) {
    const std::string body = std::string("RUN ") + c.word + "\nx\n" + c.name + "\n";
    auto run = first_instruction(body);
    ASSERT_TRUE(run) << body;
    const auto& heredocs = std::get<RunCommand>(run->command).heredocs;
    ASSERT_EQ(heredocs.size(), 1u) << body;
    EXPECT_EQ(heredocs[0].name, c.name) << body;
    EXPECT_EQ(heredocs[0].expand, c.expand) << body;
    EXPECT_EQ(heredocs[0].content, "x\n") << body;
  }
}

TEST(Heredoc, SeveralOnOneLineAreReadInOrder) {
  auto copy = first_instruction("COPY <<X <<Y /dest/\nY\nX\nX\nY\n");
  ASSERT_TRUE(copy);
  const CopyCommand& c = std::get<CopyCommand>(copy->command);
  ASSERT_EQ(c.spec.inline_sources.size(), 2u);
  EXPECT_EQ(c.spec.inline_sources[0].name, "X");
  EXPECT_EQ(c.spec.inline_sources[0].data, "Y\n");
  EXPECT_EQ(c.spec.inline_sources[1].name, "Y");
  EXPECT_EQ(c.spec.inline_sources[1].data, "X\n");
  EXPECT_TRUE(c.spec.sources.empty());
  EXPECT_EQ(c.spec.dest, "/dest/");
}

TEST(Heredoc, CopyAndAddMixInlineAndPaths) {
  const Dockerfile d = must_parse(
      "FROM scratch\nCOPY <<EOF foo.txt /bar/\ninline $X\nEOF\n"
      "ADD --chmod=755 <<-'SCRIPT' /run.sh\n\t#!/bin/sh\n\techo $HOME\n\tSCRIPT\n");
  const auto& ins = d.stages.at(0).instructions;
  ASSERT_EQ(ins.size(), 2u);
  const CopyCommand& copy = std::get<CopyCommand>(ins[0].command);
  EXPECT_EQ(copy.spec.sources, Strings{"foo.txt"});
  ASSERT_EQ(copy.spec.inline_sources.size(), 1u);
  EXPECT_EQ(copy.spec.inline_sources[0].data, "inline $X\n");
  EXPECT_TRUE(copy.spec.inline_sources[0].expand);
  EXPECT_EQ(expand_heredoc(copy.spec.inline_sources[0].data, {{"X", "1"}}).value(), "inline 1\n");
  const AddCommand& add = std::get<AddCommand>(ins[1].command);
  ASSERT_EQ(add.spec.inline_sources.size(), 1u);
  EXPECT_EQ(add.spec.inline_sources[0].name, "SCRIPT");
  EXPECT_EQ(add.spec.inline_sources[0].data, "#!/bin/sh\necho $HOME\n");
  EXPECT_FALSE(add.spec.inline_sources[0].expand);
  EXPECT_EQ(ins[1].start_line, 5);
  EXPECT_EQ(ins[1].end_line, 8);
}

TEST(Heredoc, CommandAroundTheHeredoc) {
  auto run = first_instruction("RUN python3 <<EOF > /out\nprint(1)\nEOF\n");
  ASSERT_TRUE(run);
  EXPECT_EQ(std::get<RunCommand>(run->command).command.args, Strings{"python3 <<EOF > /out"});
  auto bash = first_instruction("RUN <<EOF bash\nset -e\nEOF\n");
  ASSERT_TRUE(bash);
  EXPECT_EQ(std::get<RunCommand>(bash->command).heredocs.at(0).content, "set -e\n");
  auto fd = first_instruction("RUN 3<<EOF cat /dev/fd/3\nx\nEOF\n");
  ASSERT_TRUE(fd);
  EXPECT_EQ(std::get<RunCommand>(fd->command).heredocs.at(0).fd, 3);
  auto continued = first_instruction("RUN cat <<EOF \\\n  > /file\nhello\nEOF\n");
  ASSERT_TRUE(continued);
  EXPECT_EQ(std::get<RunCommand>(continued->command).heredocs.at(0).content, "hello\n");
}

TEST(Heredoc, CrlfAndMissingFinalNewline) {
  const Dockerfile d = must_parse("FROM scratch\r\nRUN <<EOF\r\nhi\r\nEOF\r\nRUN <<EOF\nx\nEOF");
  const auto& ins = d.stages.at(0).instructions;
  ASSERT_EQ(ins.size(), 2u);
  EXPECT_EQ(std::get<RunCommand>(ins[0].command).heredocs.at(0).content, "hi\r\n");
  EXPECT_EQ(std::get<RunCommand>(ins[1].command).heredocs.at(0).content, "x\n");
}

TEST(Heredoc, NotInJsonFormOrOtherInstructions) {
  const Dockerfile d = must_parse("FROM scratch\nRUN [\"<<EOF\"]\nRUN \"<<NOHEREDOC\"\n");
  ASSERT_EQ(d.stages.at(0).instructions.size(), 2u);
  EXPECT_TRUE(std::get<RunCommand>(d.stages[0].instructions[0].command).heredocs.empty());
  EXPECT_TRUE(std::get<RunCommand>(d.stages[0].instructions[1].command).heredocs.empty());
  // USER takes no heredoc, so the "body" is read as the next instruction.
  const DockerfileError e = body_error("USER <<INVALID\nINVALID\n");
  EXPECT_EQ(e.code, DockerfileErrc::kUnknownInstruction);
  EXPECT_EQ(e.line, 3);
}

TEST(Heredoc, Errors) {
  const DockerfileError open = body_error("RUN echo\nRUN <<EOF\necho hi\n EOF\n");
  EXPECT_EQ(open.code, DockerfileErrc::kUnterminatedHeredoc);
  EXPECT_EQ(open.line, 3);
  EXPECT_EQ(open.instruction, "RUN");
  const DockerfileError dest = body_error("COPY foo <<EOF\nEOF\n");
  EXPECT_NE(dest.message.find("COPY cannot accept a heredoc as a destination"), std::string::npos)
      << dest.message;
}

TEST(Heredoc, OnbuildKeepsBodiesInItsExpression) {
  auto onbuild = first_instruction("ONBUILD RUN <<EOF\necho hi\nEOF\n");
  ASSERT_TRUE(onbuild);
  const OnbuildCommand& o = std::get<OnbuildCommand>(onbuild->command);
  EXPECT_EQ(o.expression, "RUN <<EOF\necho hi\nEOF");
  ASSERT_TRUE(o.trigger);
  EXPECT_EQ(std::get<RunCommand>(o.trigger->command).heredocs.at(0).content, "echo hi\n");
  auto again = parse_trigger(o.expression);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(std::get<RunCommand>(again->command).heredocs.at(0).content, "echo hi\n");
}

// --- real-world Dockerfiles -------------------------------------------------

const char* const kGoDockerfile = R"(# syntax=docker/dockerfile:1

ARG GO_VERSION=1.22
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS builder
RUN apk add --no-cache git ca-certificates
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build <<EOF
set -e
CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
  go build -ldflags="-s -w" -o /bin/server ./cmd/server
EOF

FROM alpine:3.19 AS runtime
COPY <<-"EOT" /etc/motd
	Welcome to $HOSTNAME
	EOT
COPY --from=builder /bin/server /usr/local/bin/server
RUN <<EOF bash
  adduser -D app
EOF
USER app
EXPOSE 8080
HEALTHCHECK --interval=10s CMD ["/usr/local/bin/server", "-health"]
ENTRYPOINT ["/usr/local/bin/server"]
CMD ["--port", "8080"]
)";

const char* const kNodeDockerfile = R"(ARG NODE_VERSION=20
FROM node:${NODE_VERSION}-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev

FROM node:${NODE_VERSION}-alpine AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
RUN npm run build

FROM node:${NODE_VERSION}-alpine
LABEL org.opencontainers.image.title="web app" \
      org.opencontainers.image.source=https://example.com/repo
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
VOLUME ["/app/data"]
STOPSIGNAL SIGINT
ONBUILD COPY . /app/src
HEALTHCHECK --interval=30s --timeout=5s CMD wget -qO- http://localhost:3000/health || exit 1
CMD ["node", "dist/server.js"]
)";

TEST(RealWorld, GoMultiStageWithHeredocs) {
  const Dockerfile d = must_parse(kGoDockerfile);
  EXPECT_EQ(d.syntax, "docker/dockerfile:1");
  ASSERT_EQ(d.global_args.size(), 1u);
  ASSERT_EQ(d.stages.size(), 2u);
  EXPECT_EQ(d.stages[0].name, "builder");
  EXPECT_EQ(d.stages[0].platform, "$BUILDPLATFORM");
  ASSERT_EQ(d.stages[0].instructions.size(), 7u);
  const Instruction& build = d.stages[0].instructions[6];
  const RunCommand& run = std::get<RunCommand>(build.command);
  EXPECT_EQ(run.mounts, Strings{"type=cache,target=/root/.cache/go-build"});
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_NE(run.heredocs[0].content.find("GOARCH=$TARGETARCH \\\n  go build"), std::string::npos);
  EXPECT_EQ(build.start_line, 12);
  EXPECT_EQ(build.end_line, 16);
  const auto& runtime = d.stages[1].instructions;
  ASSERT_EQ(runtime.size(), 8u);
  const CopyCommand& motd = std::get<CopyCommand>(runtime[0].command);
  EXPECT_EQ(motd.spec.inline_sources.at(0).data, "Welcome to $HOSTNAME\n");
  EXPECT_FALSE(motd.spec.inline_sources.at(0).expand);
  EXPECT_EQ(std::get<CopyCommand>(runtime[1].command).from, "builder");
  EXPECT_EQ(std::get<HealthcheckCommand>(runtime[5].command).test,
            (Strings{"CMD", "/usr/local/bin/server", "-health"}));
  EXPECT_EQ(d.find_stage("runtime"), 1u);
}

TEST(RealWorld, NodeThreeStages) {
  const Dockerfile d = must_parse(kNodeDockerfile);
  ASSERT_EQ(d.stages.size(), 3u);
  EXPECT_EQ(d.stages[2].name, "");
  const auto& final_stage = d.stages[2].instructions;
  ASSERT_EQ(final_stage.size(), 11u);
  const LabelCommand& label = std::get<LabelCommand>(final_stage[0].command);
  EXPECT_EQ(label.pairs.size(), 2u);
  const EnvCommand& env = std::get<EnvCommand>(final_stage[1].command);
  EXPECT_EQ(env.pairs.at(1).key, "PORT");
  EXPECT_EQ(std::get<CopyCommand>(final_stage[3].command).spec.chown, "node:node");
  EXPECT_EQ(std::get<OnbuildCommand>(final_stage[8].command).expression, "COPY . /app/src");
  EXPECT_EQ(std::get<HealthcheckCommand>(final_stage[9].command).test.at(0), "CMD-SHELL");
}

// --- robustness --------------------------------------------------------------

TEST(Robustness, TruncatedRealDockerfilesNeverCrash) {
  for (const std::string text : {kGoDockerfile, kNodeDockerfile}) {
    for (std::size_t length = 0; length <= text.size(); ++length) {
      (void)parse_dockerfile(std::string_view(text).substr(0, length));
      (void)parse_trigger(std::string_view(text).substr(length));
    }
  }
}

TEST(Robustness, RandomBytesNeverCrash) {
  std::mt19937 rng(20240604);
  const std::vector<std::string> tokens = {"FROM ",
                                           "RUN ",
                                           "COPY ",
                                           "ADD ",
                                           "ENV ",
                                           "ARG ",
                                           "LABEL ",
                                           "ONBUILD ",
                                           "HEALTHCHECK ",
                                           "CMD ",
                                           "SHELL ",
                                           "VOLUME ",
                                           "EXPOSE ",
                                           "\n",
                                           "\r\n",
                                           "\\\n",
                                           "`\n",
                                           "<<EOF",
                                           "<<-'X'",
                                           "EOF\n",
                                           "X\n",
                                           "[",
                                           "]",
                                           "\"",
                                           "'",
                                           ",",
                                           "=",
                                           "--",
                                           "--mount=",
                                           "--link",
                                           "# escape=`\n",
                                           "#",
                                           " ",
                                           "\t",
                                           "${",
                                           "}",
                                           ":-",
                                           "$A",
                                           "\xEF\xBB\xBF",
                                           "\xC2\xA0",
                                           "\xFF",
                                           "{",
                                           ":",
                                           "1"};
  for (int round = 0; round < 4000; ++round) {
    std::string text;
    const int pieces = static_cast<int>(rng() % 60);
    for (int i = 0; i < pieces; ++i) {
      if (rng() % 4 == 0) {
        text += static_cast<char>(rng() % 256);
      } else {
        text += tokens[rng() % tokens.size()];
      }
    }
    auto result = parse_dockerfile(text);
    if (!result) {
      EXPECT_FALSE(result.error().to_string().empty());
    }
    (void)parse_trigger(text);
  }
}

TEST(Robustness, MutatedRealDockerfilesNeverCrash) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string text = round % 2 ? kGoDockerfile : kNodeDockerfile;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < edits && !text.empty(); ++i) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          text.erase(at, 1 + rng() % 16);
          break;
        default:
          text.insert(at, text.substr(rng() % text.size(), rng() % 32));
          break;
      }
    }
    (void)parse_dockerfile(text);
  }
}

}  // namespace
}  // namespace drydock::builder
