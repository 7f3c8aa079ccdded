#include "client/status.h"

#include <grpcpp/support/status.h>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace mlp::cli {
namespace {

// Payload keys; the payload content is irrelevant, only its presence counts.
constexpr char kServerErrorUrl[] = "mlp.cli/server-error";
constexpr char kUsageErrorUrl[] = "mlp.cli/usage-error";

}  // namespace

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
  result.SetPayload(kServerErrorUrl, absl::Cord());
  return result;
}

bool IsServerError(const absl::Status& status) {
  return status.GetPayload(kServerErrorUrl).has_value();
}

absl::Status UsageError(absl::string_view message) {
  absl::Status result = absl::InvalidArgumentError(message);
  result.SetPayload(kUsageErrorUrl, absl::Cord());
  return result;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsageErrorUrl).has_value();
}

std::string FormatError(const absl::Status& status) {
  // Server errors carry the code name because scripts and people look for
  // it (NOT_FOUND, ALREADY_EXISTS); local errors already say what and where.
  if (IsServerError(status)) {
    return absl::StrCat("error: ", absl::StatusCodeToString(status.code()),
                        ": ", status.message());
  }
  return absl::StrCat("error: ", status.message());
}

std::string FormatErrorJson(const absl::Status& status) {
  // Fields in a fixed order; each string escaped by protobuf's JSON printer.
  const auto quoted = [](absl::string_view text) {
    google::protobuf::Value value;
    value.set_string_value(std::string(text));
    std::string json;
    // A string Value always has a JSON form.
    if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) {
      return std::string("\"\"");
    }
    return json;
  };
  const char* source = IsServerError(status)  ? "server"
                       : IsUsageError(status) ? "usage"
                                              : "local";
  return absl::StrCat(R"({"error":{"code":)",
                      quoted(absl::StatusCodeToString(status.code())),
                      R"(,"message":)", quoted(status.message()),
                      R"(,"source":)", quoted(source), "}}");
}

int ExitCode(const absl::Status& status, bool interrupted) {
  if (status.ok()) return kExitOk;
  if (interrupted && status.code() == absl::StatusCode::kCancelled) {
    return kExitInterrupted;
  }
  return IsUsageError(status) ? kExitUsage : kExitError;
}

}  // namespace mlp::cli
