#include "server/common/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/escape.h"

namespace mlp {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

std::atomic<int> format_in_use{static_cast<int>(LogFormat::kText)};

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash == nullptr ? path : slash + 1;
}

// Writes the time now, "2026-11-29T20:31:07.123Z" and a NUL, to `out`.
void FormatNow(char (&out)[25]) {
  // absl::FormatTime is too slow to run for every line (docs/performance.md,
  // the request log line); the text up to the second is formatted once per
  // second per thread, the milliseconds here. Trivially destructible, so a
  // line logged during thread exit still finds it.
  struct SecondText {
    int64_t second;
    char text[20];  // "2026-11-29T20:31:07", NUL-terminated
  };
  thread_local SecondText cache = {std::numeric_limits<int64_t>::min(), ""};
  const int64_t micros = absl::ToUnixMicros(absl::Now());
  const int64_t second =
      micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  if (second != cache.second) {
    cache.second = second;
    const std::string text =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second),
                         absl::UTCTimeZone());
    const size_t n = std::min(text.size(), sizeof(cache.text) - 1);
    std::memcpy(cache.text, text.data(), n);
    cache.text[n] = '\0';
  }
  const size_t n = std::strlen(cache.text);
  std::memcpy(out, cache.text, n);
  const int millis = static_cast<int>((micros - second * 1000000) / 1000);
  const char fraction[] = {'.',
                           static_cast<char>('0' + millis / 100),
                           static_cast<char>('0' + millis / 10 % 10),
                           static_cast<char>('0' + millis % 10),
                           'Z',
                           '\0'};
  std::memcpy(out + n, fraction, sizeof(fraction));
}

}  // namespace

void SetMinLogLevel(LogLevel level) {
  min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel MinLogLevel() {
  return static_cast<LogLevel>(min_level.load(std::memory_order_relaxed));
}

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  if (text == "debug") {
    *level = LogLevel::kDebug;
  } else if (text == "info") {
    *level = LogLevel::kInfo;
  } else if (text == "warning") {
    *level = LogLevel::kWarning;
  } else if (text == "error") {
    *level = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void SetLogFormat(LogFormat format) {
  format_in_use.store(static_cast<int>(format), std::memory_order_relaxed);
}

LogFormat CurrentLogFormat() {
  return static_cast<LogFormat>(format_in_use.load(std::memory_order_relaxed));
}

bool ParseLogFormat(absl::string_view text, LogFormat* format) {
  if (text == "text") {
    *format = LogFormat::kText;
  } else if (text == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

const char* LogFormatName(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "text";
}

namespace internal_log {

LogLine::LogLine(LogLevel level, const char* file, int line)
    : level_(level),
      json_(CurrentLogFormat() == LogFormat::kJson),
      file_(file),
      line_(line) {
  FormatNow(time_);
  if (!json_) {
    static constexpr char kLetters[] = {'D', 'I', 'W', 'E'};
    stream_ << kLetters[static_cast<int>(level_)] << ' ' << time_ << ' '
            << Basename(file_) << ':' << line_ << "] ";
  }
}

LogLine::~LogLine() {
  std::string text;
  if (json_) {
    text = absl::StrCat(
        "{\"time\":\"", time_, "\",\"level\":\"", LogLevelName(level_),
        "\",\"file\":", common::JsonQuote(Basename(file_)), ",\"line\":", line_,
        ",\"message\":", common::JsonQuote(stream_.str()), "}\n");
  } else {
    stream_ << '\n';
    text = stream_.str();
  }
  // One write(2) per line keeps lines from different threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

}  // namespace internal_log
}  // namespace mlp
