#include "server/engine/compute_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mlp::engine::internal {
namespace {

// How long an idle worker keeps looking for the next job before it sleeps.
// The products of a training step follow one another more closely than a
// sleeping thread wakes up (slowly on a VM), so a worker that spins a little
// is there for the next product.
constexpr std::chrono::microseconds kSpin{200};

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

ComputePool::ComputePool(int threads) { SetThreads(threads); }

ComputePool::~ComputePool() {
  absl::MutexLock lock(&resize_mu_);
  StopWorkers();
}

void ComputePool::SetThreads(int threads) {
  if (threads < 1) threads = 1;
  absl::MutexLock lock(&resize_mu_);
  StopWorkers();
  StartWorkers(threads - 1);
  threads_.store(threads, std::memory_order_relaxed);
}

void ComputePool::StartWorkers(int workers) {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  workers_.reserve(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

void ComputePool::StopWorkers() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ComputePool::RunBlocks(Job& job) {
  for (int i = job.next.fetch_add(1, std::memory_order_relaxed); i < job.blocks;
       i = job.next.fetch_add(1, std::memory_order_relaxed)) {
    job.fn(i);
  }
}

ComputePool::Job* ComputePool::TakeJob() {
  while (open_ != nullptr) {
    Job* job = open_;
    if (job->next.load(std::memory_order_relaxed) < job->blocks) return job;
    Unlink(job);  // exhausted: its caller finishes it
  }
  return nullptr;
}

void ComputePool::Unlink(Job* job) {
  for (Job** p = &open_; *p != nullptr; p = &(*p)->link) {
    if (*p == job) {
      *p = job->link;
      job->link = nullptr;
      open_count_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
  }
}

void ComputePool::WorkerLoop() {
  for (;;) {
    // Spin (without the lock) while no job is open, for a little while.
    const auto give_up = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0; open_count_.load(std::memory_order_relaxed) == 0; ++i) {
      CpuRelax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > give_up) break;
    }
    Job* job = nullptr;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ComputePool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || pool->open_ != nullptr;
          },
          this));
      // Stopping: a caller computes the rest of its own job.
      if (stopping_) return;
      job = TakeJob();
      if (job == nullptr) continue;
      job->users.fetch_add(1, std::memory_order_relaxed);
    }
    RunBlocks(*job);
    // The last touch of the job: its caller may destroy it right after.
    job->users.fetch_sub(1, std::memory_order_release);
  }
}

void ComputePool::ParallelFor(int blocks, absl::FunctionRef<void(int)> fn) {
  if (blocks <= 0) return;
  if (blocks == 1 || threads() == 1) {
    for (int i = 0; i < blocks; ++i) fn(i);
    return;
  }
  Job job(fn, blocks);
  {
    absl::MutexLock lock(&mu_);
    job.link = open_;
    open_ = &job;
    open_count_.fetch_add(1, std::memory_order_relaxed);
  }
  RunBlocks(job);
  {
    absl::MutexLock lock(&mu_);
    Unlink(&job);  // no worker joins from now on
  }
  // Wait for the workers still computing a block of this job.
  for (int i = 0; job.users.load(std::memory_order_acquire) != 1; ++i) {
    if (i < 4096) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

ComputePool& ProcessComputePool() {
  // Never destroyed: workers may be sleeping in it when the process exits.
  static ComputePool* const pool = new ComputePool(1);
  return *pool;
}

}  // namespace mlp::engine::internal
