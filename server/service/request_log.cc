#include "server/service/request_log.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/log.h"

namespace mlp::service {

RequestLog::RequestLog(absl::string_view method, absl::string_view subject)
    : method_(method), subject_(subject), start_(absl::Now()) {}

void RequestLog::Done(const absl::Status& status) const {
  if (MinLogLevel() > LogLevel::kInfo) return;
  // Milliseconds with three decimals, from integers: formatting a double
  // through the stream costs more than the rest of the line.
  const int64_t micros = absl::ToInt64Microseconds(absl::Now() - start_);
  const std::string duration = absl::StrCat(
      micros / 1000, ".", absl::Dec(micros % 1000, absl::kZeroPad3), " ms");
  if (status.ok()) {
    MLP_LOG(INFO) << method_ << " '" << subject_ << "' OK " << duration;
  } else {
    MLP_LOG(INFO) << method_ << " '" << subject_ << "' "
                  << absl::StatusCodeToString(status.code()) << " " << duration
                  << ": " << status.message();
  }
}

}  // namespace mlp::service
