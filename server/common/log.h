// Minimal leveled logging to stderr, one line per call.
//
// Debian 12's Abseil has no absl/log; this is the small subset the server
// needs. Lines look like:
//   I 2026-11-29T20:31:07.123Z registry.cc:88] loaded 3 models
// or, in the JSON format (SetLogFormat), one object per line for log
// collectors:
//   {"time":"2026-11-29T20:31:07.123Z","level":"info","file":"registry.cc",
//    "line":88,"message":"loaded 3 models"}
// Messages quote what callers sent escaped and bounded (escape.h); the JSON
// format escapes the whole message once more as a JSON string.
// Thread-safe: each line is written with a single write(2), so lines from
// different threads do not interleave (up to PIPE_BUF bytes on a pipe).
#ifndef MLP_SERVER_COMMON_LOG_H_
#define MLP_SERVER_COMMON_LOG_H_

#include <sstream>

#include "absl/strings/string_view.h"

namespace mlp {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();
// Parses "debug", "info", "warning" or "error"; false if unknown.
bool ParseLogLevel(absl::string_view text, LogLevel* level);
// The name ParseLogLevel reads: "debug", "info", "warning" or "error".
const char* LogLevelName(LogLevel level);

enum class LogFormat { kText = 0, kJson = 1 };

// How lines are written from now on. Default kText.
void SetLogFormat(LogFormat format);
LogFormat CurrentLogFormat();
// Parses "text" or "json"; false if unknown.
bool ParseLogFormat(absl::string_view text, LogFormat* format);
// The name ParseLogFormat reads: "text" or "json".
const char* LogFormatName(LogFormat format);

namespace internal_log {

// Collects one line and writes it when destroyed.
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  // Constant after construction.
  const LogLevel level_;
  const bool json_;  // the format when the line began
  const char* const file_;
  const int line_;
  char time_[25];  // "2026-11-29T20:31:07.123Z", NUL-terminated

  // Text: the prefix and the message. JSON: the message only.
  std::ostringstream stream_;
};

}  // namespace internal_log
}  // namespace mlp

// MLP_LOG(INFO) << "loaded " << n << " models";
#define MLP_LOG(severity) MLP_LOG_##severity
#define MLP_LOG_IMPL_(level)            \
  if ((level) < ::mlp::MinLogLevel()) { \
  } else                                \
    ::mlp::internal_log::LogLine((level), __FILE__, __LINE__).stream()
#define MLP_LOG_DEBUG MLP_LOG_IMPL_(::mlp::LogLevel::kDebug)
#define MLP_LOG_INFO MLP_LOG_IMPL_(::mlp::LogLevel::kInfo)
#define MLP_LOG_WARNING MLP_LOG_IMPL_(::mlp::LogLevel::kWarning)
#define MLP_LOG_ERROR MLP_LOG_IMPL_(::mlp::LogLevel::kError)

#endif  // MLP_SERVER_COMMON_LOG_H_
