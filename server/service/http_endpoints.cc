#include "server/service/http_endpoints.h"

#include "absl/strings/str_cat.h"
#include "server/common/escape.h"
#include "server/service/request_log.h"

namespace mlp::service {

HttpEndpoints::HttpEndpoints(const InferenceHttp* v2, Metrics* metrics,
                             std::vector<Credential> credentials)
    : v2_(v2), metrics_(metrics), auth_(std::move(credentials)) {}

http::Response HttpEndpoints::Handle(http::Request& request) const {
  if (request.path == "/metrics" && metrics_ != nullptr) {
    return ServeMetrics(request);
  }
  return v2_->Handle(request);
}

http::Response HttpEndpoints::ServeMetrics(const http::Request& request) const {
  http::Response response;
  if (request.method != "GET") {
    response.status = 405;
    response.headers.emplace_back("Allow", "GET");
    response.body = http::JsonError(absl::StrCat(
        "/metrics takes GET, not ", common::Quote(request.method, 16)));
    return response;
  }
  RequestLog log("HTTP Metrics", "", metrics_);
  const absl::Status status = auth_.CheckAuthorization(
      request.header("Authorization"), "Metrics", "header");
  log.Done(status);
  if (!status.ok()) return HttpErrorResponse(status);
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = metrics_->Scrape();
  return response;
}

}  // namespace mlp::service
