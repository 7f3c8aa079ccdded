// The one place where internal statuses (absl::Status) become gRPC statuses.
//
// Codes map one to one: Abseil and gRPC share the canonical numbering (0 OK
// to 16 UNAUTHENTICATED); a code outside it becomes UNKNOWN. Messages are
// capped at kMaxStatusMessageBytes: a message may quote what a caller sent,
// and a status travels in HTTP/2 trailers, whose size clients bound (gRPC's
// default metadata limit is 8 KiB). A longer message is cut at a UTF-8
// character boundary and ends with "... (N bytes cut)". Control characters
// and invalid UTF-8 in a message are escaped (common::EscapeControls).
#ifndef MLP_SERVER_SERVICE_STATUS_H_
#define MLP_SERVER_SERVICE_STATUS_H_

#include <grpcpp/support/status.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mlp::service {

inline constexpr size_t kMaxStatusMessageBytes = 2048;

grpc::Status ToGrpcStatus(const absl::Status& status);

// INVALID_ARGUMENT "<field><what>": `what` goes on from the field's name
// (" must be >= 1, got 0", ".shape[1] is 4, ...").
absl::Status InvalidField(absl::string_view field, absl::string_view what);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_STATUS_H_
