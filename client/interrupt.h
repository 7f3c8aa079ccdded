// Ctrl-C handling for a multi-threaded gRPC client.
//
// A signal handler may not call ClientContext::TryCancel (it takes locks), so
// SIGINT and SIGTERM are blocked in every thread and a dedicated thread
// collects them with sigwait(). While a cancellable call is running (a Train
// stream, an upload) the first Ctrl-C cancels it, so the server commits
// nothing and the command ends cleanly, saying so; one while no such call is
// running ends the process at once with exit code 130.
//
// The same interrupt often arrives twice: `timeout -s INT` and terminals
// signal the child and then its whole process group. So a repeat within
// kRepeatWindow of a cancel is taken as the same interrupt and ignored, and
// the command still ends with its message; a later one means the user
// insists and ends the process at once (exit 130), saying that it did not
// wait for the server.
//
// Thread-safety: all methods may be called from any thread.
#ifndef MLP_CLIENT_INTERRUPT_H_
#define MLP_CLIENT_INTERRUPT_H_

#include <atomic>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mlp::cli {

class InterruptWatcher final {
 public:
  static constexpr absl::Duration kRepeatWindow = absl::Seconds(1);

  // Must be constructed before any other thread starts (that is, before the
  // first gRPC channel) so that every thread inherits the blocked mask.
  InterruptWatcher();
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

  // While the returned object lives, an interrupt calls `cancel` (at most
  // once, on the watcher thread) instead of ending the process.
  class Scope final {
   public:
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    friend class InterruptWatcher;
    explicit Scope(InterruptWatcher* watcher) : watcher_(watcher) {}
    InterruptWatcher* watcher_;
  };
  [[nodiscard]] Scope OnInterrupt(std::function<void()> cancel);

  // Whether an interrupt has been received.
  bool interrupted() const { return interrupted_.load(); }

 private:
  void Run();

  std::atomic<bool> interrupted_{false};
  std::atomic<bool> stopping_{false};

  absl::Mutex mu_;
  std::function<void()> cancel_ ABSL_GUARDED_BY(mu_);
  bool cancel_called_ ABSL_GUARDED_BY(mu_) = false;
  // When an interrupt last cancelled a call; InfinitePast if none did.
  absl::Time cancelled_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  std::thread thread_;  // last: started once the members above exist
};

}  // namespace mlp::cli

#endif  // MLP_CLIENT_INTERRUPT_H_
