// Quarantine: unreadable files are moved aside, never deleted.
#include "server/store/quarantine.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/file_io.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp::store {
namespace {

namespace fs = std::filesystem;
using ::mlp::common::ReadFile;
using ::mlp::testing::Names;
using ::mlp::testing::WritePlain;
using ::testing::HasSubstr;

TEST(MoveToQuarantineTest, MovesFileKeepingItsBytesAndName) {
  testing::TempDir dir;
  const std::string models = dir.path() + "/models/m";
  const std::string quarantine = dir.path() + "/quarantine";
  fs::create_directories(models);
  fs::create_directory(quarantine);
  WritePlain(models + "/v000001.ver", "garbage");
  MoveToQuarantine(models + "/v000001.ver", quarantine,
                   absl::DataLossError("test"));
  EXPECT_FALSE(fs::exists(models + "/v000001.ver"));
  const std::vector<std::string> kept = Names(quarantine);
  ASSERT_EQ(kept.size(), 1u);
  // Named after its parent and itself, so an operator can tell what it was.
  EXPECT_THAT(kept[0], HasSubstr("m-v000001.ver"));
  absl::StatusOr<std::string> bytes = ReadFile(quarantine + "/" + kept[0]);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "garbage");
}

TEST(MoveToQuarantineTest, SameNameTwiceKeepsBoth) {
  testing::TempDir dir;
  const std::string quarantine = dir.path() + "/quarantine";
  fs::create_directory(quarantine);
  WritePlain(dir.path() + "/f", "one");
  MoveToQuarantine(dir.path() + "/f", quarantine, absl::DataLossError("1"));
  WritePlain(dir.path() + "/f", "two");
  MoveToQuarantine(dir.path() + "/f", quarantine, absl::DataLossError("2"));
  EXPECT_EQ(Names(quarantine).size(), 2u);
}

TEST(MoveToQuarantineTest, LeavesFileInPlaceWhenItCannotMove) {
  testing::TempDir dir;
  WritePlain(dir.path() + "/f", "data");
  MoveToQuarantine(dir.path() + "/f", dir.path() + "/missing-quarantine",
                   absl::DataLossError("test"));
  absl::StatusOr<std::string> bytes = ReadFile(dir.path() + "/f");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "data");
}

}  // namespace
}  // namespace mlp::store
