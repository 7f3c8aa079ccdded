// The shape of every unary handler of the gRPC services: check the caller's
// token, run the body, log one line, finish with the body's status.
#ifndef MLP_SERVER_SERVICE_UNARY_H_
#define MLP_SERVER_SERVICE_UNARY_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "server/service/auth.h"
#include "server/service/request_log.h"
#include "server/service/status.h"

namespace mlp::service {

// Finishes `context`'s call with `status` and logs it.
inline grpc::ServerUnaryReactor* FinishUnary(
    grpc::CallbackServerContext* context, const RequestLog& log,
    const absl::Status& status) {
  log.Done(status);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Runs `body` (absl::Status()) if `auth` lets the caller call log.method().
template <typename Body>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* context,
                                   const Authorizer& auth,
                                   const RequestLog& log, Body body) {
  absl::Status status = auth.Check(*context, log.method());
  if (status.ok()) status = body();
  return FinishUnary(context, log, status);
}

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_UNARY_H_
