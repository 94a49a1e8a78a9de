#pragma once

// Helpers shared by the Dockerfile parser tests.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "builder/dockerfile.hpp"

namespace drydock::builder::testing {

// Parses `text`, failing the test (and returning an empty model) on error.
inline Dockerfile must_parse(std::string_view text) {
  auto result = parse_dockerfile(text);
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().to_string());
  return result ? std::move(*result) : Dockerfile{};
}

// The error parsing `text` gives; a test failure if it parses.
inline DockerfileError must_fail(std::string_view text) {
  auto result = parse_dockerfile(text);
  EXPECT_FALSE(result.has_value()) << "parsed without error:\n" << text;
  return result ? DockerfileError{} : result.error();
}

// Parses "FROM scratch\n" + body and returns the first instruction after FROM.
inline std::optional<Instruction> first_instruction(std::string_view body) {
  const Dockerfile dockerfile = must_parse("FROM scratch\n" + std::string(body));
  if (dockerfile.stages.empty() || dockerfile.stages[0].instructions.empty()) {
    ADD_FAILURE() << "no instruction in:\n" << body;
    return std::nullopt;
  }
  return dockerfile.stages[0].instructions[0];
}

// The error for "FROM scratch\n" + body.
inline DockerfileError body_error(std::string_view body) {
  return must_fail("FROM scratch\n" + std::string(body));
}

// True when `haystack` contains `needle` (for messages in EXPECT_TRUE).
inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace drydock::builder::testing
