// HttpEndpoints: what mlp-server serves on its HTTP port (--http_address):
// GET /metrics (metrics.h, the Prometheus text format) and everything else
// through the Open Inference Protocol's /v2 endpoints (inference_http.h).
//
// /metrics takes the same tokens as the rest (a reader's is enough) when
// tokens are configured; Prometheus sends one with `authorization:` in its
// scrape configuration.
//
// Thread-safety: Handle may run on several threads at once.
#ifndef MLP_SERVER_SERVICE_HTTP_ENDPOINTS_H_
#define MLP_SERVER_SERVICE_HTTP_ENDPOINTS_H_

#include <vector>

#include "server/http/http_server.h"
#include "server/service/auth.h"
#include "server/service/inference_http.h"
#include "server/service/metrics.h"

namespace mlp::service {

class HttpEndpoints {
 public:
  // Both must outlive this; `metrics` may be null (no /metrics).
  HttpEndpoints(const InferenceHttp* v2, Metrics* metrics,
                std::vector<Credential> credentials);

  http::Response Handle(http::Request& request) const;

 private:
  http::Response ServeMetrics(const http::Request& request) const;

  const InferenceHttp* const v2_;
  Metrics* const metrics_;
  const Authorizer auth_;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_HTTP_ENDPOINTS_H_
