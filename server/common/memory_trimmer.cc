#include "server/common/memory_trimmer.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "server/common/log.h"

namespace mlp {

MemoryTrimmer::MemoryTrimmer(absl::Duration period, size_t min_free_bytes)
    : period_(period),
      min_free_bytes_(min_free_bytes),
      thread_([this] { Run(); }) {}

MemoryTrimmer::~MemoryTrimmer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

bool MemoryTrimmer::TrimIfWorthIt(size_t min_free_bytes) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  const struct mallinfo2 info = mallinfo2();
  if (info.fordblks < min_free_bytes) return false;
  malloc_trim(0);
  MLP_LOG(DEBUG) << "returned free heap memory to the system ("
                 << info.fordblks / (1 << 20) << " MB were free)";
  return true;
#else
  (void)min_free_bytes;
  return false;
#endif
}

int64_t MemoryTrimmer::trims() const {
  absl::MutexLock lock(&mu_);
  return trims_;
}

void MemoryTrimmer::Run() {
  const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_;
  };
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), period_)) return;
    }
    if (TrimIfWorthIt(min_free_bytes_)) {
      absl::MutexLock lock(&mu_);
      ++trims_;
    }
  }
}

}  // namespace mlp
