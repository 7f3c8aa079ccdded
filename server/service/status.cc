#include "server/service/status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace mlp::service {
namespace {

// The first `max` bytes of `text`, not ending inside a UTF-8 sequence.
absl::string_view Utf8Prefix(absl::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  // Step back over continuation bytes (10xxxxxx) to a character's start.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return text.substr(0, end);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  const grpc::StatusCode grpc_code = code >= 1 && code <= 16
                                         ? static_cast<grpc::StatusCode>(code)
                                         : grpc::StatusCode::UNKNOWN;
  const absl::string_view message = status.message();
  if (message.size() <= kMaxStatusMessageBytes) {
    return grpc::Status(grpc_code, std::string(message));
  }
  // Room for the marker, whose digits are at most 20.
  constexpr size_t kMarker = 40;
  const absl::string_view kept =
      Utf8Prefix(message, kMaxStatusMessageBytes - kMarker);
  return grpc::Status(
      grpc_code,
      absl::StrCat(kept, "... (", message.size() - kept.size(), " bytes cut)"));
}

absl::Status InvalidField(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, what));
}

}  // namespace mlp::service
