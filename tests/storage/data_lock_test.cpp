#include "storage/data_lock.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include "tests/storage/temp_dir.hpp"

namespace drydock::storage {
namespace {

// flock(2) locks belong to the open file, so a second acquire in this same
// process conflicts exactly as a second process would.
TEST(DataDirLock, OneOwnerAtATimeAndTheRefusalNamesIt) {
  testing::TempDir dir;
  std::optional<DataDirLock> first;
  {
    auto taken = DataDirLock::acquire(dir.path(), "serve");
    ASSERT_TRUE(taken) << taken.error();
    first.emplace(*std::move(taken));
  }
  auto second = DataDirLock::acquire(dir.path(), "gc");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), dir.path().string() + " is in use by drydock serve (pid " +
                                std::to_string(::getpid()) + ")");
  first.reset();
  auto third = DataDirLock::acquire(dir.path(), "gc");
  ASSERT_TRUE(third) << third.error();
  std::string text;
  std::getline(std::ifstream(dir.path() / "drydock.lock"), text);
  EXPECT_EQ(text, "drydock gc (pid " + std::to_string(::getpid()) + ")");
}

TEST(DataDirLock, AMissingDirectoryIsAnError) {
  testing::TempDir dir;
  auto r = DataDirLock::acquire(dir.path() / "absent", "serve");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("drydock.lock: No such file or directory"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace drydock::storage
