#pragma once

// The fuzz targets (see README.md "Fuzzing"). Each entry function takes one
// input as libFuzzer hands it over, drives the code under test with it and
// checks invariants with expect(). A broken invariant throws FuzzFailure:
// libFuzzer reports the uncaught exception as a crash and keeps the input;
// the corpus replay test (tests/fuzz/corpus_replay_test.cpp) reports it as a
// failed test naming the file. The same functions run under both, so a seed
// or a regression input means the same thing in either build.

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace drydock::fuzz {

using Input = std::span<const std::uint8_t>;

// A broken invariant: the code under test did something it promises not to.
struct FuzzFailure : std::logic_error {
  using std::logic_error::logic_error;
};

// Throws FuzzFailure(`what`) unless `ok`.
inline void expect(bool ok, std::string_view what) {
  if (!ok) throw FuzzFailure(std::string(what));
}

inline std::string_view as_text(Input in) {
  return {reinterpret_cast<const char*>(in.data()), in.size()};
}

// registry/manifest: parse_manifest under every content type, the result
// independent of which one named it and of how the JSON is formatted.
void fuzz_manifest(Input in);
// registry/reference, storage/digest, builder/image_ref: the name, tag and
// digest grammars against regular expressions written from the specs, and
// parse -> string -> parse round trips of digests and image references.
void fuzz_reference(Input in);
// builder/dockerfile*, builder/shell_words: parse_dockerfile, parse_trigger
// and word expansion.
void fuzz_dockerfile(Input in);
// builder/archive_extract via extract_context and unpack_layer: each input is
// extracted into a fresh directory; nothing may appear outside it.
void fuzz_tar(Input in);
// auth/jwt, auth/authenticator, auth/scope, auth/secrets: JWT verification,
// Authorization headers (Basic and Bearer), sign -> verify round trips,
// scopes and base64.
void fuzz_token(Input in);

struct Target {
  std::string_view name;  // also the folder of its corpus and regressions
  void (*run)(Input);
};

inline constexpr std::array kTargets = {
    Target{"manifest", fuzz_manifest}, Target{"reference", fuzz_reference},
    Target{"dockerfile", fuzz_dockerfile}, Target{"tar", fuzz_tar},
    Target{"token", fuzz_token},
};

}  // namespace drydock::fuzz
