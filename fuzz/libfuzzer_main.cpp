// libFuzzer's entry point for one target; fuzz/CMakeLists.txt compiles this
// file once per target with DRYDOCK_FUZZ_ENTRY set to its entry function.

#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  drydock::fuzz::DRYDOCK_FUZZ_ENTRY(drydock::fuzz::Input(data, size));
  return 0;
}
