// Crash-safe file primitives.
//
// Every committed file is written to a temporary name in the same directory,
// fsync'ed, renamed over its final name and the directory fsync'ed, so after
// a crash (SIGKILL, power loss) a reader sees either the old file or the new
// one, never a torn one.
//
// Errors: NOT_FOUND for a missing file, RESOURCE_EXHAUSTED for a full disk,
// INTERNAL for any other I/O failure (a server fault, not the caller's),
// always with the path and strerror in the message.
#ifndef MLP_SERVER_COMMON_FILE_IO_H_
#define MLP_SERVER_COMMON_FILE_IO_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mlp::common {

// A Status for a failed system call on `path`: "<what> '<path>': <strerror>",
// with `err` kept for ErrnoOf.
absl::Status ErrnoStatus(absl::string_view what, const std::string& path,
                         int err);

// The errno behind a status made by ErrnoStatus; 0 for any other status.
int ErrnoOf(const absl::Status& status);

// Writes `contents` to `path` atomically (temp file, fsync, rename, fsync of
// the directory), readable by the owner only (0600). `before_rename`, if set,
// is the last word: called once the data is durable in the temp file, a non-OK
// status from it removes the temp file and is returned, and `path` is never
// touched.
absl::Status WriteFileAtomically(
    const std::string& path, absl::string_view contents,
    const std::function<absl::Status()>& before_rename = nullptr);

// The whole file. NOT_FOUND if it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// fsync of a directory, so that a rename or unlink in it is durable.
absl::Status SyncDirectory(const std::string& dir);

// Creates the directory (and parents) if missing, durably; a directory it
// creates is the owner's only (0700).
absl::Status EnsureDirectory(const std::string& dir);

// Names of the entries of `dir` (not "." or ".."), without throwing.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir);

// Whether `path` is a directory (false on any error).
bool IsDirectory(const std::string& path);

// For fsyncs after an operation's commit point (a rename, link or unlink
// that has happened and cannot be undone): the operation stands, so a sync
// failure is logged rather than reported as the operation failing.
void SyncDirectoryAfterCommit(const std::string& dir);

// An exclusive advisory lock (flock) on <dir>/LOCK, held while the object
// lives, so two servers never share a data directory. The kernel drops it
// when the process dies, SIGKILL included.
class DirectoryLock {
 public:
  // FAILED_PRECONDITION if another process holds the lock.
  static absl::StatusOr<std::unique_ptr<DirectoryLock>> Acquire(
      const std::string& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  const int fd_;
};

// The directory part of `path` ("." if none).
std::string Dirname(const std::string& path);

// A name unlikely to collide, for temporary files: "<pid>-<counter>".
std::string UniqueSuffix();

}  // namespace mlp::common

#endif  // MLP_SERVER_COMMON_FILE_IO_H_
