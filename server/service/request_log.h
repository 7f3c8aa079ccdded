// RequestLog: the one info-level line the service writes per call, when the
// call ends: method, subject (model or dataset name), status and duration.
//   I 2026-11-29T20:31:07.123Z request_log.cc:24] Predict 'xnor' OK 0.087 ms
//   I ... GetModel 'nope' NOT_FOUND 0.012 ms: model 'nope' not found
// The duration is measured on the monotonic clock. The subject is the
// caller's and the message may quote it: both are escaped and bounded
// (common/escape.h), so no caller can forge a line or make a long one, with
// or without credentials. Its cost is in docs/performance.md
// (BM_RequestLogLine).
//
// Thread-safety: Done is const and may be called from any thread.
#ifndef MLP_SERVER_SERVICE_REQUEST_LOG_H_
#define MLP_SERVER_SERVICE_REQUEST_LOG_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mlp::service {

// Longest status message a request line carries.
inline constexpr size_t kMaxLoggedMessageBytes = 512;

class RequestLog {
 public:
  // Starts the clock.
  RequestLog(absl::string_view method, absl::string_view subject);
  void set_subject(absl::string_view subject);
  const std::string& method() const { return method_; }
  // Writes the line for a call that ended with `status`.
  void Done(const absl::Status& status) const;

 private:
  const std::string method_;
  std::string subject_;
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_REQUEST_LOG_H_
