// DirectoryWatch: wakes a waiting thread when the entries of watched
// directories change (Linux inotify). Best effort by nature: network file
// systems (NFS, CephFS, EFS) deliver no notification for another machine's
// writes, and the kernel caps watches per user, so a caller always polls as
// well and treats a wake-up as "look now" rather than as the only signal.
//
// Thread-safety: Wait from one thread; Watch and Wake from any.
#ifndef MLP_SERVER_COMMON_DIRECTORY_WATCH_H_
#define MLP_SERVER_COMMON_DIRECTORY_WATCH_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mlp::common {

class DirectoryWatch {
 public:
  // INTERNAL (with the reason) if notification is not available; callers
  // then poll only.
  static absl::StatusOr<std::unique_ptr<DirectoryWatch>> Create();
  ~DirectoryWatch();
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;

  // Reports entries created, removed or renamed in `dir` and files written
  // there. Watching a directory twice is one watch; a removed directory's
  // watch ends by itself. The file system's errors (ENOSPC: the per-user
  // watch limit, fs.inotify.max_user_watches).
  absl::Status Watch(const std::string& dir);

  // Blocks until a watched directory changed, Wake was called, or `timeout`
  // passed; consumes the pending notifications. True unless it timed out.
  bool Wait(absl::Duration timeout);

  // Ends the current or next Wait at once.
  void Wake();

 private:
  DirectoryWatch(int inotify_fd, int wake_fd)
      : inotify_fd_(inotify_fd), wake_fd_(wake_fd) {}

  const int inotify_fd_;
  const int wake_fd_;  // eventfd
};

}  // namespace mlp::common

#endif  // MLP_SERVER_COMMON_DIRECTORY_WATCH_H_
