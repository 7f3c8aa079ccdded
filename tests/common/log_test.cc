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
#include "nlohmann/json.hpp"
#include "tests/testing/stderr_capture.h"

namespace mlp {
namespace {

using ::mlp::testing::StderrCapture;

using ::testing::ContainsRegex;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override {
    SetMinLogLevel(LogLevel::kInfo);
    SetLogFormat(LogFormat::kText);
  }
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

// --log_format=json: one object per line that a strict JSON parser reads,
// whatever the message holds.
TEST_F(LogTest, JsonLinesAreOneObjectEachWithEveryField) {
  SetLogFormat(LogFormat::kJson);
  StderrCapture capture;
  MLP_LOG(WARNING) << "model 'm' \"quoted\" back\\slash";
  MLP_LOG(ERROR) << "two\nlines\r\x1b[2J tab\t bad \xff\xfe "
                 << std::string("nul\0", 4) << " caf\xC3\xA9 \xE2\x80\xA8";
  const int line_of_error = __LINE__ - 2;
  const std::string text = capture.Text();
  std::vector<nlohmann::json> lines;
  for (size_t begin = 0; begin < text.size();) {
    const size_t end = text.find('\n', begin);
    ASSERT_NE(end, std::string::npos) << text;
    const std::string line = text.substr(begin, end - begin);
    EXPECT_EQ(line.find('\r'), std::string::npos) << line;
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
    ASSERT_NO_THROW(lines.push_back(nlohmann::json::parse(line))) << line;
    begin = end + 1;
  }
  ASSERT_EQ(lines.size(), 2u) << text;
  EXPECT_EQ(lines[0]["level"], "warning");
  EXPECT_EQ(lines[0]["file"], "log_test.cc");
  EXPECT_EQ(lines[0]["message"], "model 'm' \"quoted\" back\\slash");
  EXPECT_EQ(lines[1]["level"], "error");
  EXPECT_EQ(lines[1]["line"], line_of_error);
  EXPECT_EQ(lines[1]["message"],
            std::string("two\nlines\r\x1b[2J tab\t bad \\xff\\xfe nul\0 "
                        "caf\xC3\xA9 \xE2\x80\xA8",
                        47));
  for (const nlohmann::json& line : lines) {
    ASSERT_TRUE(line["time"].is_string());
    absl::Time logged;
    std::string error;
    EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ",
                                line["time"].get<std::string>(),
                                absl::UTCTimeZone(), &logged, &error))
        << line << ": " << error;
    EXPECT_LT(absl::AbsDuration(absl::Now() - logged), absl::Seconds(60));
    EXPECT_EQ(line.size(), 5u) << line;
  }
  // Back to text: the next line is a text line again.
  SetLogFormat(LogFormat::kText);
  StderrCapture again;
  MLP_LOG(INFO) << "plain";
  EXPECT_THAT(again.Text(), MatchesRegex("I .*\\] plain\n"));
}

TEST(ParseLogFormatTest, TextOrJsonOnly) {
  LogFormat format;
  ASSERT_TRUE(ParseLogFormat("json", &format));
  EXPECT_EQ(format, LogFormat::kJson);
  ASSERT_TRUE(ParseLogFormat("text", &format));
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("JSON", &format));
  EXPECT_FALSE(ParseLogFormat("", &format));
  EXPECT_STREQ(LogFormatName(LogFormat::kJson), "json");
  EXPECT_STREQ(LogFormatName(LogFormat::kText), "text");
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
