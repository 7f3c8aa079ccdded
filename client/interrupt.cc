#include "client/interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <utility>

namespace mlp::cli {
namespace {

sigset_t InterruptSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

InterruptWatcher::InterruptWatcher() {
  sigset_t set = InterruptSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this] { Run(); });
}

InterruptWatcher::~InterruptWatcher() {
  // Wake the watcher with a signal only it waits for; the flag tells it that
  // this one is not the user's.
  stopping_.store(true);
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

InterruptWatcher::Scope InterruptWatcher::OnInterrupt(
    std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  cancel_ = std::move(cancel);
  cancel_called_ = false;
  return Scope(this);
}

InterruptWatcher::Scope::~Scope() {
  absl::MutexLock lock(&watcher_->mu_);
  watcher_->cancel_ = nullptr;
}

void InterruptWatcher::Run() {
  const sigset_t set = InterruptSignals();
  for (;;) {
    int signal_number = 0;
    if (sigwait(&set, &signal_number) != 0) continue;
    if (stopping_.load()) return;
    interrupted_.store(true);
    bool insisted = false;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      if (cancel_ && !cancel_called_) {
        cancel_called_ = true;
        cancelled_at_ = now;
        cancel_();
        continue;
      }
      // The same interrupt delivered again (to the process, then to its
      // group): the cancel is under way and the command will say how it
      // ended.
      if (now - cancelled_at_ < kRepeatWindow) continue;
      insisted = cancelled_at_ != absl::InfinitePast();
    }
    // Nothing to cancel, or the user insists: stop now. Without a cancel
    // only the newline is written, so the shell prompt starts on a fresh
    // line.
    constexpr char kNewline[] = "\n";
    constexpr char kInsisted[] =
        "\ninterrupted again: exiting without waiting for the server to "
        "confirm the cancel\n";
    const char* text = insisted ? kInsisted : kNewline;
    (void)!write(STDERR_FILENO, text, std::strlen(text));
    _exit(128 + signal_number);
  }
}

}  // namespace mlp::cli
