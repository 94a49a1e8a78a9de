// Replays every seed (fuzz/corpus/<target>/) and every input a fuzzer once
// crashed on (fuzz/regressions/<target>/) through the fuzz targets' entry
// functions, so that ordinary g++ builds check them without clang or
// libFuzzer (README.md "Fuzzing").

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.hpp"

namespace drydock::fuzz {

// How CTest shows the parameter: its name (not its bytes, which hold a
// function pointer and differ from run to run).
void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = fs::path(DRYDOCK_SOURCE_ROOT) / "fuzz";

// The inputs under `dir`, sorted; files whose name starts with '.' are not inputs.
std::vector<fs::path> inputs(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && !e.path().filename().string().starts_with(".")) {
      out.push_back(e.path());
    }
  }
  std::ranges::sort(out);
  return out;
}

std::vector<std::uint8_t> read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replay(const Target& target, const fs::path& file) {
  SCOPED_TRACE(file.string());
  const std::vector<std::uint8_t> data = read_all(file);
  try {
    target.run(Input(data.data(), data.size()));
  } catch (const FuzzFailure& e) {
    ADD_FAILURE() << "invariant broken: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "exception escaped the code under test: " << e.what();
  }
}

class CorpusReplay : public ::testing::TestWithParam<Target> {};

TEST_P(CorpusReplay, SeedCorpus) {
  const auto files = inputs(kFuzzDir / "corpus" / GetParam().name);
  ASSERT_FALSE(files.empty()) << "no seed corpus for " << GetParam().name;
  for (const auto& file : files) replay(GetParam(), file);
}

TEST_P(CorpusReplay, Regressions) {
  for (const auto& file : inputs(kFuzzDir / "regressions" / GetParam().name)) {
    replay(GetParam(), file);
  }
}

INSTANTIATE_TEST_SUITE_P(Fuzz, CorpusReplay, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace drydock::fuzz
