#include "server/common/memory_trimmer.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/sanitizers.h"

namespace mlp {
namespace {

// Under AddressSanitizer malloc is ASan's, not glibc's: nothing to trim.
#if defined(__GLIBC__) && !defined(MLP_ASAN)
constexpr bool kGlibcMalloc = true;
#else
constexpr bool kGlibcMalloc = false;
#endif
#define MLP_SKIP_UNLESS_GLIBC_MALLOC()                                      \
  if (!kGlibcMalloc) {                                                      \
    GTEST_SKIP() << "malloc is not glibc's here (AddressSanitizer's): the " \
                    "trimmer has nothing to return";                        \
  }

// Resident memory of this process, in kB.
int64_t RssKb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Leaves about `mb` MB free inside the heap, where glibc keeps it: many
// blocks below the mmap threshold, all freed but the last, which pins the
// heap's top so that free() alone cannot shrink it.
std::unique_ptr<char[]> FragmentHeap(int mb) {
  constexpr size_t kBlock = 64 << 10;
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < mb * 16; ++i) {
    blocks.emplace_back(new char[kBlock]);
    for (size_t b = 0; b < kBlock; b += 4096) blocks.back()[b] = 1;  // touch
  }
  std::unique_ptr<char[]> top(new char[kBlock]);
  top[0] = 1;
  return top;  // `blocks` is freed here
}

TEST(MemoryTrimmerTest, ReturnsFreedHeapToTheSystem) {
  MLP_SKIP_UNLESS_GLIBC_MALLOC();
  const std::unique_ptr<char[]> pin = FragmentHeap(96);
  const int64_t before = RssKb();
  ASSERT_GT(before, 90 * 1024) << "the freed blocks should still be resident";
  MemoryTrimmer trimmer(absl::Milliseconds(20), size_t{16} << 20);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (trimmer.trims() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(trimmer.trims(), 1);
  EXPECT_LT(RssKb(), before - 64 * 1024) << "before: " << before << " kB";
}

TEST(MemoryTrimmerTest, LeavesSmallAmountsAlone) {
  MLP_SKIP_UNLESS_GLIBC_MALLOC();
  // Nothing worth returning: below the threshold nothing is trimmed.
  EXPECT_FALSE(MemoryTrimmer::TrimIfWorthIt(size_t{1} << 40));
  const std::unique_ptr<char[]> pin = FragmentHeap(32);
  EXPECT_TRUE(MemoryTrimmer::TrimIfWorthIt(size_t{16} << 20));
}

TEST(MemoryTrimmerTest, StopsPromptly) {
  const absl::Time start = absl::Now();
  { MemoryTrimmer trimmer(absl::Hours(1), 1); }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace mlp
