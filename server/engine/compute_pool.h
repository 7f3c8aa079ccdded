// Private to the engine: the threads that compute the blocks of large matrix
// products (gemm.cc splits a product into blocks, see PartitionGemm there).
//
// Why the engine has its own pool: a product's result must not depend on how
// many threads computed it (the reproducibility contract,
// docs/architecture.md). The engine splits every large product into blocks
// whose bounds depend on the product's shape alone, and each block is computed
// by ONE single-threaded call (OpenBLAS is kept at one thread), so every output
// element is reduced by one thread in one order whatever the pool's size. The
// pool only decides WHO computes a block, never how.
//
// ParallelFor is called by the thread that needs the product (a training, a
// Predict): that thread computes blocks itself, and idle workers join in. With
// threads() == 1 there are no workers and the caller computes every block.
// Several callers may run ParallelFor at once (concurrent trainings share the
// pool); each keeps computing its own blocks, so none waits for another's.
//
// Workers spin for a short while after a job before they sleep, so that the
// back-to-back products of a training step do not each pay a thread wake-up.
//
// Thread-safety: every member is safe to call from any thread; SetThreads
// waits for the workers' current blocks.
#ifndef MLP_SERVER_ENGINE_COMPUTE_POOL_H_
#define MLP_SERVER_ENGINE_COMPUTE_POOL_H_

#include <atomic>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace mlp::engine::internal {

class ComputePool {
 public:
  // `threads` in all, counting the caller of ParallelFor: threads - 1 workers.
  // threads < 1 is taken as 1.
  explicit ComputePool(int threads);
  ~ComputePool();
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  // Stops the workers (after their current blocks) and starts threads - 1 new
  // ones. A ParallelFor in progress completes on its caller's thread.
  void SetThreads(int threads);
  int threads() const { return threads_.load(std::memory_order_relaxed); }

  // Runs fn(0), ..., fn(blocks - 1), each exactly once, on this thread and on
  // idle workers, and returns when all have returned. No heap allocation.
  // fn must not throw.
  void ParallelFor(int blocks, absl::FunctionRef<void(int)> fn);

 private:
  struct Job {
    absl::FunctionRef<void(int)> fn;
    int blocks;
    std::atomic<int> next{0};   // next block to claim
    std::atomic<int> users{1};  // the caller plus the workers that joined
    Job* link = nullptr;        // the pool's list of open jobs
    Job(absl::FunctionRef<void(int)> f, int b) : fn(f), blocks(b) {}
  };

  static void RunBlocks(Job& job);
  void StartWorkers(int workers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(resize_mu_);
  void StopWorkers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(resize_mu_);
  void WorkerLoop();
  // The first open job with blocks left (dropping exhausted ones from the
  // list), or null.
  Job* TakeJob() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unlink(Job* job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex resize_mu_;  // serialises SetThreads
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(resize_mu_);
  std::atomic<int> threads_{1};

  absl::Mutex mu_;
  Job* open_ ABSL_GUARDED_BY(mu_) = nullptr;  // jobs that may have blocks left
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Number of jobs in open_, readable without mu_ so that spinning workers
  // need not take the lock.
  std::atomic<int> open_count_{0};
};

// The process's pool, sized by SetComputeThreads (network.h); one thread until
// then.
ComputePool& ProcessComputePool();

}  // namespace mlp::engine::internal

#endif  // MLP_SERVER_ENGINE_COMPUTE_POOL_H_
