#include "server/service/library_log.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <string>

#include "server/common/escape.h"
#include "server/common/log.h"

namespace mlp::service {
namespace {

// A library's message as one bounded line of ours.
constexpr size_t kMaxLibraryMessageBytes = 2048;

void Write(LogLevel level, const char* file, int line,
           absl::string_view message) {
  if (level < MinLogLevel()) return;
  internal_log::LogLine(level, file == nullptr ? "?" : file, line).stream()
      << common::EscapeBounded(message, kMaxLibraryMessageBytes);
}

void OnGrpcLog(gpr_log_func_args* args) {
  const LogLevel level =
      args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
      : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                : LogLevel::kDebug;
  Write(level, args->file, args->line,
        args->message == nullptr ? "" : args->message);
}

void OnProtobufLog(google::protobuf::LogLevel severity, const char* file,
                   int line, const std::string& message) {
  const LogLevel level =
      severity == google::protobuf::LOGLEVEL_INFO      ? LogLevel::kInfo
      : severity == google::protobuf::LOGLEVEL_WARNING ? LogLevel::kWarning
                                                       : LogLevel::kError;
  Write(level, file, line, message);
}

}  // namespace

void RouteLibraryLogs() {
  gpr_set_log_function(&OnGrpcLog);
  google::protobuf::SetLogHandler(&OnProtobufLog);
}

}  // namespace mlp::service
