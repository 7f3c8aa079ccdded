// Limits on what one message may carry.
#ifndef MLP_SERVER_SERVICE_LIMITS_H_
#define MLP_SERVER_SERVICE_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mlp::service {

// Room kept in every response for what is not float values (shapes, field
// tags, names, bias vectors' headers). ServerOptions::Validate requires the
// largest model's weights plus this to fit in --max_message_bytes, and
// CheckResponseFits refuses any response whose values plus this do not.
inline constexpr int64_t kResponseHeadroomBytes = int64_t{1} << 20;

// RESOURCE_EXHAUSTED naming `what` if a response carrying `values` floats
// plus kResponseHeadroomBytes would exceed `max_message_bytes`.
absl::Status CheckResponseFits(absl::string_view what, int64_t values,
                               int64_t max_message_bytes);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_LIMITS_H_
