// CancelSignal: listeners run once, at Cancel or at once if it came first,
// and never after their subscription is gone; a blocked waiter wakes.
#include "server/common/cancel_signal.h"

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace mlp::common {
namespace {

TEST(CancelSignalTest, ListenersRunOnceOnCancel) {
  CancelSignal signal;
  int calls = 0;
  auto subscription = signal.Subscribe([&] { ++calls; });
  EXPECT_FALSE(signal.cancelled());
  EXPECT_EQ(calls, 0);
  signal.Cancel();
  signal.Cancel();
  EXPECT_TRUE(signal.cancelled());
  EXPECT_TRUE(signal.flag().load());
  EXPECT_EQ(calls, 1);
}

TEST(CancelSignalTest, LateSubscriberIsCalledAtOnce) {
  CancelSignal signal;
  signal.Cancel();
  int calls = 0;
  auto subscription = signal.Subscribe([&] { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(CancelSignalTest, EndedSubscriptionIsNotCalled) {
  CancelSignal signal;
  int calls = 0;
  signal.Subscribe([&] { ++calls; }).reset();
  auto kept = signal.Subscribe([&] { calls += 10; });
  signal.Cancel();
  EXPECT_EQ(calls, 10);
}

// The use it exists for: a thread blocked on a condition that includes the
// signal wakes when another thread cancels, with no timeout to poll on.
TEST(CancelSignalTest, WakesAThreadWaitingOnACondition) {
  CancelSignal signal;
  absl::Mutex mu;
  auto subscription = signal.Subscribe([&] { absl::MutexLock lock(&mu); });
  bool woke = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](CancelSignal* s) { return s->cancelled(); }, &signal));
    woke = true;
  });
  absl::SleepFor(absl::Milliseconds(20));
  signal.Cancel();
  waiter.join();
  EXPECT_TRUE(woke);
}

}  // namespace
}  // namespace mlp::common
