#include "server/common/log.h"

#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlp {
namespace {

using ::testing::ContainsRegex;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

// Captures what is written to stderr between construction and Text(), in an
// unlinked temporary file: no size limit, and a writer never blocks.
class StderrCapture {
 public:
  StderrCapture() {
    fflush(stderr);
    char path[] = "/tmp/mlp-log-test-XXXXXX";
    fd_ = mkstemp(path);
    EXPECT_GE(fd_, 0);
    unlink(path);
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    Restore();
    close(fd_);
  }

  std::string Text() {
    Restore();
    std::string text;
    char buffer[4096];
    ssize_t n;
    off_t offset = 0;
    while ((n = pread(fd_, buffer, sizeof(buffer), offset)) > 0) {
      text.append(buffer, static_cast<size_t>(n));
      offset += n;
    }
    return text;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }
  int fd_ = -1;
  int saved_ = -1;
};

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { SetMinLogLevel(LogLevel::kInfo); }
};

TEST_F(LogTest, LineHasLevelUtcTimestampFileAndMessage) {
  StderrCapture capture;
  MLP_LOG(WARNING) << "model '"
                   << "m"
                   << "' " << 42 << " ms";
  const std::string text = capture.Text();
  EXPECT_THAT(text,
              MatchesRegex("W [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                           "[0-9]{2}\\.[0-9]{3}Z log_test\\.cc:[0-9]+\\] "
                           "model 'm' 42 ms\n"));
}

TEST_F(LogTest, TimestampIsNowToTheMillisecond) {
  // Several lines in the same second and across seconds: the cached part and
  // the milliseconds must always agree with the clock.
  for (int i = 0; i < 30; ++i) {
    const absl::Time before = absl::Now();
    StderrCapture capture;
    MLP_LOG(INFO) << "tick";
    const std::string text = capture.Text();
    const absl::Time after = absl::Now();
    absl::Time logged;
    std::string error;
    ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ", text.substr(2, 24),
                                absl::UTCTimeZone(), &logged, &error))
        << text << ": " << error;
    EXPECT_GT(logged, before - absl::Milliseconds(1)) << text;
    EXPECT_LE(logged, after) << text;
    absl::SleepFor(absl::Milliseconds(37));
  }
}

TEST_F(LogTest, LinesBelowTheLevelAreDroppedUnevaluated) {
  SetMinLogLevel(LogLevel::kWarning);
  int evaluated = 0;
  StderrCapture capture;
  MLP_LOG(INFO) << "hidden " << ++evaluated;
  MLP_LOG(DEBUG) << "hidden " << ++evaluated;
  EXPECT_THAT(capture.Text(), IsEmpty());
  EXPECT_EQ(evaluated, 0);
  SetMinLogLevel(LogLevel::kDebug);
  StderrCapture again;
  MLP_LOG(DEBUG) << "shown";
  EXPECT_THAT(again.Text(), ContainsRegex("^D .*\\] shown\n$"));
}

TEST_F(LogTest, LinesFromManyThreadsStayWhole) {
  StderrCapture capture;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 50; ++i) {
        MLP_LOG(INFO) << "thread " << t << " line " << i << " end";
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = capture.Text();
  size_t lines = 0;
  for (size_t begin = 0; begin < text.size();) {
    const size_t end = text.find('\n', begin);
    ASSERT_NE(end, std::string::npos);
    EXPECT_THAT(text.substr(begin, end - begin),
                MatchesRegex("I .*\\] thread [0-3] line [0-9]+ end"));
    ++lines;
    begin = end + 1;
  }
  EXPECT_EQ(lines, 200u);
}

TEST(ParseLogLevelTest, KnownNamesOnly) {
  LogLevel level;
  ASSERT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_FALSE(ParseLogLevel("WARN", &level));
  EXPECT_FALSE(ParseLogLevel("", &level));
}

TEST(ParseLogLevelTest, NamesReadBack) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                         LogLevel::kError}) {
    LogLevel parsed = LogLevel::kError;
    ASSERT_TRUE(ParseLogLevel(LogLevelName(level), &parsed))
        << LogLevelName(level);
    EXPECT_EQ(parsed, level);
  }
}

}  // namespace
}  // namespace mlp
