#include "server/service/request_log.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/escape.h"
#include "server/common/log.h"

namespace mlp::service {

RequestLog::RequestLog(absl::string_view method, absl::string_view subject,
                       CallObserver* observer)
    : method_(method),
      subject_(subject),
      start_(std::chrono::steady_clock::now()),
      observer_(observer) {
  if (observer_ == nullptr) return;
  const bool http = absl::StartsWith(method_, "HTTP ");
  observer_->CallStarted(http);
  in_flight_ = std::shared_ptr<void>(
      nullptr,
      [observer = observer_, http](void*) { observer->CallLeft(http); });
}

void RequestLog::set_subject(absl::string_view subject) {
  subject_ = std::string(subject);
}

void RequestLog::Done(const absl::Status& status) const {
  const auto elapsed = std::chrono::steady_clock::now() - start_;
  if (observer_ != nullptr) {
    observer_->CallEnded(method_, subject_, status.code(),
                         std::chrono::duration<double>(elapsed).count());
  }
  if (MinLogLevel() > LogLevel::kInfo) return;
  // Milliseconds with three decimals, from integers: formatting a double
  // through the stream costs more than the rest of the line.
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  const std::string duration = absl::StrCat(
      micros / 1000, ".", absl::Dec(micros % 1000, absl::kZeroPad3), " ms");
  if (status.ok()) {
    MLP_LOG(INFO) << method_ << " " << common::Quote(subject_) << " OK "
                  << duration;
  } else {
    MLP_LOG(INFO) << method_ << " " << common::Quote(subject_) << " "
                  << absl::StatusCodeToString(status.code()) << " " << duration
                  << ": "
                  << common::EscapeBounded(status.message(),
                                           kMaxLoggedMessageBytes);
  }
}

}  // namespace mlp::service
