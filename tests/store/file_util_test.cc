// file_util: atomic replacement, reads, quarantine.
#include "server/store/file_util.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp::store {
namespace {

namespace fs = std::filesystem;
using ::mlp::testing::Names;
using ::mlp::testing::WritePlain;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(WriteFileAtomicallyTest, CreatesFileWithExactContents) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/a.bin";
  const std::string contents("x\0y\xff", 4);
  ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, contents);
  EXPECT_THAT(Names(dir.path()), ElementsAre("a.bin"));
}

TEST(WriteFileAtomicallyTest, ReplacesWholeFileAndLeavesNoTemporary) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/a.bin";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(10000, 'L')).ok());
  // A shorter replacement must not keep the old file's tail.
  ASSERT_TRUE(WriteFileAtomically(path, "short").ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "short");
  EXPECT_THAT(Names(dir.path()), ElementsAre("a.bin"));
}

TEST(WriteFileAtomicallyTest, EmptyContents) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/empty";
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "");
}

TEST(WriteFileAtomicallyTest, MissingDirectoryFailsAndCreatesNothing) {
  testing::TempDir dir;
  const absl::Status s =
      WriteFileAtomically(dir.path() + "/no/such/dir/file", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("no/such/dir"));
  EXPECT_THAT(Names(dir.path()), IsEmpty());
}

TEST(WriteFileAtomicallyTest, FailedRenameKeepsOldFileAndRemovesTemporary) {
  testing::TempDir dir;
  // The target is a non-empty directory: rename(2) over it fails.
  const std::string path = dir.path() + "/target";
  fs::create_directory(path);
  WritePlain(path + "/inside", "keep");
  const absl::Status s = WriteFileAtomically(path, "new");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(Names(dir.path()), ElementsAre("target"));
  EXPECT_THAT(Names(path), ElementsAre("inside"));
}

TEST(WriteFileAtomicallyTest, BeforeRenameCanCallTheWriteOff) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/f";
  WritePlain(path, "old");
  int calls = 0;
  const absl::Status s = WriteFileAtomically(path, "new", [&] {
    ++calls;
    // The data is in a temporary file next to the target by now.
    EXPECT_EQ(Names(dir.path()).size(), 2u);
    return absl::CancelledError("called off");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(Names(dir.path()), ElementsAre("f"));
  EXPECT_EQ(*ReadFile(path), "old");
  // An OK answer lets it through.
  ASSERT_TRUE(
      WriteFileAtomically(path, "new", [] { return absl::OkStatus(); }).ok());
  EXPECT_EQ(*ReadFile(path), "new");
}

TEST(ReadFileTest, MissingFileIsNotFound) {
  testing::TempDir dir;
  absl::StatusOr<std::string> read = ReadFile(dir.path() + "/missing");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr("missing"));
}

TEST(ReadFileTest, ReadsLargeFile) {
  testing::TempDir dir;
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(WriteFileAtomically(dir.path() + "/big", big).ok());
  absl::StatusOr<std::string> read = ReadFile(dir.path() + "/big");
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(*read == big);
}

TEST(EnsureDirectoryTest, CreatesParentsAndIsIdempotent) {
  testing::TempDir dir;
  const std::string nested = dir.path() + "/a/b/c";
  ASSERT_TRUE(EnsureDirectory(nested).ok());
  ASSERT_TRUE(EnsureDirectory(nested).ok());
  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_TRUE(SyncDirectory(nested).ok());
  EXPECT_EQ(SyncDirectory(dir.path() + "/nope").code(),
            absl::StatusCode::kNotFound);
}

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

TEST(UniqueSuffixTest, DiffersBetweenCalls) {
  EXPECT_NE(UniqueSuffix(), UniqueSuffix());
}

// PERMISSION_DENIED and UNAVAILABLE mean "your credentials" and "retry" to a
// gRPC caller; a server-side disk fault is neither.
TEST(ErrnoStatusTest, MapsCommonErrors) {
  EXPECT_EQ(ErrnoStatus("open", "p", ENOENT).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus("open", "p", EACCES).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(ErrnoStatus("write", "p", ENOSPC).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus("write", "p", EIO).code(), absl::StatusCode::kInternal);
  EXPECT_THAT(ErrnoStatus("write", "/x/y", EIO).message(), HasSubstr("/x/y"));
}

}  // namespace
}  // namespace mlp::store
