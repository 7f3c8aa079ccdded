// CancelSignal: a one-way "stop" that can be polled cheaply (an atomic load,
// for loops that check it between batches) and waited on (listeners are
// called when it is set, so a blocked thread wakes at once instead of
// polling).
//
// Thread-safety: all methods are safe to call concurrently. Lock order: a
// listener runs under the signal's own lock, so it must be quick, must not
// call back into the signal, and the lock it takes (if any) must never be
// held while calling Cancel.
#ifndef MLP_SERVER_COMMON_CANCEL_SIGNAL_H_
#define MLP_SERVER_COMMON_CANCEL_SIGNAL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mlp::common {

class CancelSignal {
 public:
  // Removes its listener when destroyed; after that the listener is never
  // called (a call in progress has returned).
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class CancelSignal;
    Subscription(CancelSignal* signal, uint64_t id)
        : signal_(signal), id_(id) {}
    CancelSignal* const signal_;
    const uint64_t id_;
  };

  CancelSignal() = default;
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;

  // Sets the signal and calls every listener once. Later calls do nothing.
  void Cancel();
  bool cancelled() const { return flag_.load(std::memory_order_relaxed); }
  // The flag itself, for code that polls a plain atomic.
  const std::atomic<bool>& flag() const { return flag_; }

  // Calls `listener` once when the signal is set (at once, on this thread,
  // if it already is). The subscription must not outlive the signal.
  [[nodiscard]] std::unique_ptr<Subscription> Subscribe(
      std::function<void()> listener);

 private:
  std::atomic<bool> flag_{false};
  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::function<void()>> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mlp::common

#endif  // MLP_SERVER_COMMON_CANCEL_SIGNAL_H_
