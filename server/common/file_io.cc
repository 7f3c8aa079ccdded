#include "server/common/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "server/common/log.h"

namespace mlp::common {
namespace {

// The payload ErrnoStatus attaches: errno in decimal.
constexpr char kErrnoPayload[] = "mlp.common/errno";

// Closes a file descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Dirname(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent;
}

absl::Status ErrnoStatus(absl::string_view what, const std::string& path,
                         int err) {
  const std::string message =
      absl::StrCat(what, " '", path, "': ", std::strerror(err));
  absl::Status status;
  switch (err) {
    case ENOENT:
      status = absl::NotFoundError(message);
      break;
    case ENOSPC:
    case EDQUOT:
      status = absl::ResourceExhaustedError(message);
      break;
    default:
      status = absl::InternalError(message);
  }
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return status;
}

int ErrnoOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kErrnoPayload);
  int err = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &err)) {
    return 0;
  }
  return err;
}

absl::Status WriteFileAtomically(
    const std::string& path, absl::string_view contents,
    const std::function<absl::Status()>& before_rename) {
  const std::string tmp = absl::StrCat(path, ".tmp.", UniqueSuffix());
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", tmp, errno);
  absl::Status status;
  {
    FdCloser closer(fd);
    status = WriteAll(fd, contents, tmp);
    if (status.ok() && ::fsync(fd) != 0)
      status = ErrnoStatus("fsync", tmp, errno);
  }
  if (status.ok() && before_rename) status = before_rename();
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus("rename", tmp, errno);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  SyncDirectoryAfterCommit(Dirname(path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  FdCloser closer(fd);
  std::string data;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir, errno);
  FdCloser closer(fd);
  if (::fsync(fd) != 0) return ErrnoStatus("fsync directory", dir, errno);
  return absl::OkStatus();
}

absl::Status EnsureDirectory(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::create_directories(dir, error)) {
    if (error) return ErrnoStatus("create directory", dir, error.value());
    return absl::OkStatus();  // it existed
  }
  // Owner only: models and datasets are nobody else's business.
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, error);
  if (error) return ErrnoStatus("chmod", dir, error.value());
  return SyncDirectory(Dirname(dir));
}

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) {
  std::error_code error;
  std::vector<std::string> names;
  for (std::filesystem::directory_iterator it(dir, error), end;
       !error && it != end; it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  if (error) return ErrnoStatus("list", dir, error.value());
  return names;
}

bool IsDirectory(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_directory(path, error);
}

void SyncDirectoryAfterCommit(const std::string& dir) {
  if (absl::Status s = SyncDirectory(dir); !s.ok()) {
    MLP_LOG(WARNING) << s.message() << " (the change is made but may not "
                     << "survive a power loss)";
  }
}

absl::StatusOr<std::unique_ptr<DirectoryLock>> DirectoryLock::Acquire(
    const std::string& dir) {
  if (absl::Status s = EnsureDirectory(dir); !s.ok()) return s;
  const std::string path = (std::filesystem::path(dir) / "LOCK").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory '", dir, "' is in use by another mlp-server"));
    }
    return ErrnoStatus("lock", path, err);
  }
  return std::unique_ptr<DirectoryLock>(new DirectoryLock(fd));
}

DirectoryLock::~DirectoryLock() { ::close(fd_); }

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(::getpid(), "-", counter.fetch_add(1));
}

}  // namespace mlp::common
