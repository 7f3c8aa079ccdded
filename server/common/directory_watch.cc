#include "server/common/directory_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "server/common/file_io.h"

namespace mlp::common {
namespace {

// What changes a directory's listing or a committed file in it: a rename into
// place (IN_MOVED_TO), a link or mkdir (IN_CREATE), a removal or rename away.
constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                           IN_CLOSE_WRITE | IN_ONLYDIR;

void Drain(int fd) {
  alignas(struct inotify_event) char buffer[16 * 1024];
  while (::read(fd, buffer, sizeof(buffer)) > 0) {
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirectoryWatch>> DirectoryWatch::Create() {
  const int inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) return ErrnoStatus("inotify_init1", "", errno);
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const int err = errno;
    ::close(inotify_fd);
    return ErrnoStatus("eventfd", "", err);
  }
  return std::unique_ptr<DirectoryWatch>(
      new DirectoryWatch(inotify_fd, wake_fd));
}

DirectoryWatch::~DirectoryWatch() {
  ::close(inotify_fd_);
  ::close(wake_fd_);
}

absl::Status DirectoryWatch::Watch(const std::string& dir) {
  if (::inotify_add_watch(inotify_fd_, dir.c_str(), kMask) < 0) {
    return ErrnoStatus("watch", dir, errno);
  }
  return absl::OkStatus();
}

bool DirectoryWatch::Wait(absl::Duration timeout) {
  struct pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(
      std::max(timeout, absl::ZeroDuration()), absl::Milliseconds(1)));
  const int ready =
      ::poll(fds, 2, static_cast<int>(std::min<int64_t>(ms, INT32_MAX)));
  if (ready <= 0) return false;  // timed out (or EINTR: poll again)
  if ((fds[0].revents & POLLIN) != 0) Drain(inotify_fd_);
  if ((fds[1].revents & POLLIN) != 0) {
    uint64_t count;
    (void)::read(wake_fd_, &count, sizeof(count));
  }
  return true;
}

void DirectoryWatch::Wake() {
  const uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof(one));
}

}  // namespace mlp::common
