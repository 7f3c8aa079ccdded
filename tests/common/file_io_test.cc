// file_io: atomic replacement, reads, directories, errno statuses.
#include "server/common/file_io.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/quarantine.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp::common {
namespace {

namespace fs = std::filesystem;
using ::mlp::testing::Names;
using ::mlp::testing::WritePlain;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(WriteFileAtomicallyTest, CreatesFileWithExactContents) {
  mlp::testing::TempDir dir;
  const std::string path = dir.path() + "/a.bin";
  const std::string contents("x\0y\xff", 4);
  ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, contents);
  EXPECT_THAT(Names(dir.path()), ElementsAre("a.bin"));
}

TEST(WriteFileAtomicallyTest, ReplacesWholeFileAndLeavesNoTemporary) {
  mlp::testing::TempDir dir;
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
  mlp::testing::TempDir dir;
  const std::string path = dir.path() + "/empty";
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "");
}

TEST(WriteFileAtomicallyTest, MissingDirectoryFailsAndCreatesNothing) {
  mlp::testing::TempDir dir;
  const absl::Status s =
      WriteFileAtomically(dir.path() + "/no/such/dir/file", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("no/such/dir"));
  EXPECT_THAT(Names(dir.path()), IsEmpty());
}

TEST(WriteFileAtomicallyTest, FailedRenameKeepsOldFileAndRemovesTemporary) {
  mlp::testing::TempDir dir;
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
  mlp::testing::TempDir dir;
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
  mlp::testing::TempDir dir;
  absl::StatusOr<std::string> read = ReadFile(dir.path() + "/missing");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr("missing"));
}

TEST(ReadFileTest, ReadsLargeFile) {
  mlp::testing::TempDir dir;
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(WriteFileAtomically(dir.path() + "/big", big).ok());
  absl::StatusOr<std::string> read = ReadFile(dir.path() + "/big");
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(*read == big);
}

TEST(EnsureDirectoryTest, CreatesParentsAndIsIdempotent) {
  mlp::testing::TempDir dir;
  const std::string nested = dir.path() + "/a/b/c";
  ASSERT_TRUE(EnsureDirectory(nested).ok());
  ASSERT_TRUE(EnsureDirectory(nested).ok());
  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_TRUE(SyncDirectory(nested).ok());
  EXPECT_EQ(SyncDirectory(dir.path() + "/nope").code(),
            absl::StatusCode::kNotFound);
}

// Models and datasets are nobody else's business: what the server creates is
// the owner's only, whatever the umask allows.
TEST(FilePermissionsTest, FilesAndDirectoriesAreTheOwnersOnly) {
  mlp::testing::TempDir dir;
  const mode_t old_umask = ::umask(0);  // the most permissive process
  const std::string nested = dir.path() + "/data/models";
  const absl::Status made = EnsureDirectory(nested);
  const absl::Status written = WriteFileAtomically(nested + "/f", "x");
  absl::StatusOr<std::unique_ptr<DirectoryLock>> lock =
      DirectoryLock::Acquire(nested);
  ::umask(old_umask);
  ASSERT_TRUE(made.ok()) << made;
  ASSERT_TRUE(written.ok()) << written;
  ASSERT_TRUE(lock.ok()) << lock.status();
  const auto mode = [](const std::string& path) {
    return fs::status(path).permissions() & fs::perms::all;
  };
  EXPECT_EQ(mode(nested), fs::perms::owner_all);
  EXPECT_EQ(mode(nested + "/f"),
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(mode(nested + "/LOCK"),
            fs::perms::owner_read | fs::perms::owner_write);
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

// The registry words a store error for callers without its path, from the
// errno the status carries (registry/store_errors.h).
TEST(ErrnoStatusTest, KeepsTheErrnoForThoseWhoMustNotShowThePath) {
  EXPECT_EQ(ErrnoOf(ErrnoStatus("create", "/x/y", ENOTDIR)), ENOTDIR);
  EXPECT_EQ(ErrnoOf(ErrnoStatus("write", "/x/y", ENOSPC)), ENOSPC);
  EXPECT_EQ(ErrnoOf(absl::InternalError("create '/x/y': failed")), 0);
  EXPECT_EQ(ErrnoOf(absl::OkStatus()), 0);
}

}  // namespace
}  // namespace mlp::common
