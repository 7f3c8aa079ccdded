// A fixed-size pool of worker threads running queued closures in FIFO order.
//
// The service runs trainings here, off gRPC's completion threads, so a long
// training never holds up other calls. Destruction runs every queued closure
// and joins the workers.
//
// Thread-safety: Schedule may be called from any thread.
#ifndef MLP_SERVER_COMMON_THREAD_POOL_H_
#define MLP_SERVER_COMMON_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mlp {

class ThreadPool {
 public:
  // `nice` > 0 lowers the workers' scheduling priority (the nice value of
  // each worker thread, as nice(1) does for a process): under contention
  // for the cores they yield to every normal thread of the process.
  explicit ThreadPool(int threads, int nice = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> task);

 private:
  void Work();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;  // constant after construction
};

}  // namespace mlp

#endif  // MLP_SERVER_COMMON_THREAD_POOL_H_
