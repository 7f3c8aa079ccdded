#include "server/service/status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/common/escape.h"

namespace mlp::service {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  const grpc::StatusCode grpc_code = code >= 1 && code <= 16
                                         ? static_cast<grpc::StatusCode>(code)
                                         : grpc::StatusCode::UNKNOWN;
  // A message may quote what a caller sent: no control character or
  // invalid UTF-8 reaches the caller's terminal or log either.
  const std::string message = common::EscapeControls(status.message());
  if (message.size() <= kMaxStatusMessageBytes) {
    return grpc::Status(grpc_code, message);
  }
  // Room for the marker, whose digits are at most 20.
  constexpr size_t kMarker = 40;
  const absl::string_view kept =
      common::Utf8Prefix(message, kMaxStatusMessageBytes - kMarker);
  return grpc::Status(
      grpc_code,
      absl::StrCat(kept, "... (", message.size() - kept.size(), " bytes cut)"));
}

absl::Status InvalidField(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, what));
}

}  // namespace mlp::service
