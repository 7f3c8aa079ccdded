#include "server/service/limits.h"

#include "absl/strings/str_cat.h"

namespace mlp::service {

absl::Status CheckResponseFits(absl::string_view what, int64_t values,
                               int64_t max_message_bytes) {
  const int64_t bytes =
      values * int64_t{sizeof(float)} + kResponseHeadroomBytes;
  if (bytes > max_message_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, " would take ", bytes, " bytes, over the server's limit of ",
        max_message_bytes, " (--max_message_bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace mlp::service
