#include "server/service/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace mlp::service {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

absl::Status Authorizer::Check(const grpc::ServerContextBase& context) const {
  if (token_.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing 'authorization: Bearer <token>' metadata; this server "
        "requires a token");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  if (!absl::StartsWith(value, kBearer)) {
    return absl::UnauthenticatedError(
        "the 'authorization' metadata must be 'Bearer <token>'");
  }
  if (!ConstantTimeEquals(value.substr(kBearer.size()), token_)) {
    return absl::PermissionDeniedError("wrong token");
  }
  return absl::OkStatus();
}

}  // namespace mlp::service
