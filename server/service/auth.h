// Optional bearer-token authentication for mlp.v1.ModelService.
//
// With a token configured (mlp-server --auth_token_file), every call must
// carry the metadata "authorization: Bearer <token>". Health and reflection
// stay open, so that orchestrators' health checks need no secret. Use it
// behind TLS (e.g. a terminating proxy) on untrusted networks: the token
// travels in clear text over an insecure channel.
//
// Thread-safety: immutable after construction.
#ifndef MLP_SERVER_SERVICE_AUTH_H_
#define MLP_SERVER_SERVICE_AUTH_H_

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/status.h"

namespace mlp::service {

class Authorizer {
 public:
  // An empty token allows every call.
  explicit Authorizer(std::string token) : token_(std::move(token)) {}

  // OK; UNAUTHENTICATED without a bearer token; PERMISSION_DENIED for a
  // wrong one.
  absl::Status Check(const grpc::ServerContextBase& context) const;

 private:
  const std::string token_;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_AUTH_H_
