#include "server/service/request_log.h"

#include "absl/strings/str_cat.h"
#include "server/common/escape.h"
#include "server/common/log.h"

namespace mlp::service {

RequestLog::RequestLog(absl::string_view method, absl::string_view subject)
    : method_(method),
      subject_(common::Quote(subject)),
      start_(std::chrono::steady_clock::now()) {}

void RequestLog::set_subject(absl::string_view subject) {
  subject_ = common::Quote(subject);
}

void RequestLog::Done(const absl::Status& status) const {
  if (MinLogLevel() > LogLevel::kInfo) return;
  // Milliseconds with three decimals, from integers: formatting a double
  // through the stream costs more than the rest of the line.
  const int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - start_)
                             .count();
  const std::string duration = absl::StrCat(
      micros / 1000, ".", absl::Dec(micros % 1000, absl::kZeroPad3), " ms");
  if (status.ok()) {
    MLP_LOG(INFO) << method_ << " " << subject_ << " OK " << duration;
  } else {
    MLP_LOG(INFO) << method_ << " " << subject_ << " "
                  << absl::StatusCodeToString(status.code()) << " " << duration
                  << ": "
                  << common::EscapeBounded(status.message(),
                                           kMaxLoggedMessageBytes);
  }
}

}  // namespace mlp::service
