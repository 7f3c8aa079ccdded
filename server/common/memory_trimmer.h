// MemoryTrimmer: gives the heap's free pages back to the system.
//
// glibc keeps what a burst of large requests freed (after many large
// Predicts in flight the server stays near its peak resident size:
// fragmentation keeps the heap's top from shrinking). A thread wakes every
// `period`, asks malloc how much it holds free (mallinfo2), and when that is
// at least `min_free_bytes` calls malloc_trim(0), which returns every whole
// free page of every arena (the measurements are in docs/performance.md,
// "Memory after large requests").
// malloc_trim briefly locks each arena; at one call per period when there is
// something to return, that cost is negligible.
//
// Thread-safety: construct and destroy from one thread; the work is on its
// own thread. A no-op where the C library is not glibc.
#ifndef MLP_SERVER_COMMON_MEMORY_TRIMMER_H_
#define MLP_SERVER_COMMON_MEMORY_TRIMMER_H_

#include <cstddef>
#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mlp {

class MemoryTrimmer {
 public:
  MemoryTrimmer(absl::Duration period, size_t min_free_bytes);
  // Stops and joins the thread (at most one trim in progress to wait for).
  ~MemoryTrimmer();
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  // Trims now if malloc holds at least `min_free_bytes` free; returns
  // whether it trimmed. What the thread does every period.
  static bool TrimIfWorthIt(size_t min_free_bytes);

  // Trims done by the thread so far.
  int64_t trims() const;

 private:
  void Run();

  const absl::Duration period_;
  const size_t min_free_bytes_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t trims_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts once the rest is initialised
};

}  // namespace mlp

#endif  // MLP_SERVER_COMMON_MEMORY_TRIMMER_H_
