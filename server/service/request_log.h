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
// A CallObserver (metrics.h) is told when the call starts, when it ends and
// when the last copy of its RequestLog goes (the call has left the server).
//
// Thread-safety: Done is const and may be called from any thread.
#ifndef MLP_SERVER_SERVICE_REQUEST_LOG_H_
#define MLP_SERVER_SERVICE_REQUEST_LOG_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mlp::service {

// Longest status message a request line carries.
inline constexpr size_t kMaxLoggedMessageBytes = 512;

// Told of every call; methods may be called from any thread.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  // `http`: the call came over HTTP (its method starts with "HTTP ").
  virtual void CallStarted(bool http) = 0;
  virtual void CallLeft(bool http) = 0;
  // `subject` as the caller sent it (unescaped).
  virtual void CallEnded(absl::string_view method, absl::string_view subject,
                         absl::StatusCode code, double seconds) = 0;
};

class RequestLog {
 public:
  // Starts the clock. `observer` (may be null) must outlive the call.
  RequestLog(absl::string_view method, absl::string_view subject,
             CallObserver* observer);
  void set_subject(absl::string_view subject);
  const std::string& method() const { return method_; }
  // Writes the line for a call that ended with `status`.
  void Done(const absl::Status& status) const;

 private:
  const std::string method_;
  std::string subject_;  // as sent; quoted when written
  const std::chrono::steady_clock::time_point start_;
  CallObserver* const observer_;
  // Shared by the copies; the last one tells the observer the call left.
  std::shared_ptr<void> in_flight_;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_REQUEST_LOG_H_
