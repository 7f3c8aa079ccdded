// The Open Inference Protocol's HTTP/REST endpoints (KServe v2), served by
// http::HttpServer on mlp-server --http_address. What they answer is
// inference.h's, as for the gRPC service; this file is the JSON wire:
//
//   GET  /v2/health/live                         200, empty body
//   GET  /v2/health/ready                        200, or 503 while stopping
//   GET  /v2 {"name","version","extensions"} GET  /v2/models/{m}[/versions/{v}]
//   the model's metadata GET  /v2/models/{m}[/versions/{v}]/ready     200, or
//   404 with an error POST /v2/models/{m}[/versions/{v}]/infer     the
//   inference
//
// Errors are {"error": "<message>"} with 400 (bad request), 401/403
// (token), 404 (unknown model, version or path), 405 (method), 413 (body
// too large) or 503 (shutting down).
//
// infer takes "data" as a flat array in row-major order or as nested arrays,
// FP32 (or FP64, converted). The binary tensor extension: with the header
// Inference-Header-Content-Length: L, the body's first L bytes are the JSON
// and the rest the raw little-endian bytes of the input that says
// "parameters": {"binary_data_size": N} instead of "data"; the output comes
// back raw after the JSON when the request asks with "binary_data": true in
// the output's parameters (or "binary_data_output": true in the request's),
// its JSON then saying "parameters": {"binary_data_size": N}.
//
// Tokens: the same rule and roles as gRPC (auth.h) from the Authorization
// header; the health endpoints are open.
//
// Thread-safety: Handle may run on several threads at once.
#ifndef MLP_SERVER_SERVICE_INFERENCE_HTTP_H_
#define MLP_SERVER_SERVICE_INFERENCE_HTTP_H_

#include <atomic>
#include <string>
#include <vector>

#include "server/http/http_server.h"
#include "server/registry/registry.h"
#include "server/service/auth.h"
#include "server/service/metrics.h"
#include "server/service/model_service.h"

namespace mlp::service {

// The HTTP answer to a failed call: {"error": message} with the status code
// the protocol uses for status.code() (401 also asks for a Bearer token).
http::Response HttpErrorResponse(const absl::Status& status);

// A /v2 path, parsed (inference_http.cc).
struct HttpRoute;

class InferenceHttp {
 public:
  // `registry` must outlive this.
  InferenceHttp(registry::Registry* registry, const ServiceLimits& limits,
                std::vector<Credential> credentials = {},
                Metrics* metrics = nullptr);

  // While false (a replica loading, a server stopping), /v2/health/ready
  // is 503 and infer 503.
  void SetServing(bool serving) { serving_.store(serving); }

  http::Response Handle(http::Request& request) const;

 private:
  // The answer of an authorised call to `route`.
  absl::Status Answer(const http::Request& request, const HttpRoute& route,
                      http::Response* response) const;
  absl::Status Infer(const http::Request& request, const std::string& model,
                     const std::string& version,
                     http::Response* response) const;

  registry::Registry* const registry_;
  const ServiceLimits limits_;
  const Authorizer auth_;
  Metrics* const metrics_;  // may be null
  std::atomic<bool> serving_{true};
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_INFERENCE_HTTP_H_
