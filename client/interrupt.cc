#include "client/interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

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
    {
      absl::MutexLock lock(&mu_);
      if (cancel_ && !cancel_called_) {
        cancel_called_ = true;
        cancel_();
        continue;
      }
    }
    // Nothing to cancel, or the user insists: stop now. Only the newline is
    // written so the shell prompt starts on a fresh line.
    const char newline = '\n';
    (void)!write(STDERR_FILENO, &newline, 1);
    _exit(128 + signal_number);
  }
}

}  // namespace mlp::cli
