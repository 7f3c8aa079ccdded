#include "server/service/inference_http.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "mlp_version.h"
#include "nlohmann/json.hpp"
#include "server/common/escape.h"
#include "server/service/inference.h"
#include "server/service/inference_json.h"
#include "server/service/predict.h"
#include "server/service/request_log.h"

namespace mlp::service {

// What a path asks for.
struct HttpRoute {
  enum Kind {
    kUnknown,
    kLive,
    kReady,
    kServerMetadata,
    kModelMetadata,
    kModelReady,
    kInfer
  };
  Kind kind = kUnknown;
  std::string model;
  std::string version;

  const char* method() const { return kind == kInfer ? "POST" : "GET"; }
  // The v2 call it is, for tokens (auth.cc's table) and the log.
  const char* call() const {
    switch (kind) {
      case kServerMetadata:
        return "ServerMetadata";
      case kModelMetadata:
        return "ModelMetadata";
      case kModelReady:
        return "ModelReady";
      case kInfer:
        return "ModelInfer";
      default:
        return "";
    }
  }
};

namespace {

using nlohmann::json;

HttpRoute ParseRoute(absl::string_view path) {
  HttpRoute route;
  if (path.empty() || path[0] != '/') return route;
  std::vector<absl::string_view> p = absl::StrSplit(path.substr(1), '/');
  if (p.empty() || p[0] != "v2") return route;
  if (p.size() == 1) {
    route.kind = HttpRoute::kServerMetadata;
  } else if (p.size() == 3 && p[1] == "health") {
    if (p[2] == "live") route.kind = HttpRoute::kLive;
    if (p[2] == "ready") route.kind = HttpRoute::kReady;
  } else if (p.size() >= 3 && p[1] == "models" && !p[2].empty()) {
    route.model = std::string(p[2]);
    size_t next = 3;
    if (p.size() >= 5 && p[3] == "versions") {
      route.version = std::string(p[4]);
      next = 5;
    }
    if (p.size() == next) {
      route.kind = HttpRoute::kModelMetadata;
    } else if (p.size() == next + 1 && p[next] == "ready") {
      route.kind = HttpRoute::kModelReady;
    } else if (p.size() == next + 1 && p[next] == "infer") {
      route.kind = HttpRoute::kInfer;
    }
  }
  return route;
}

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

http::Response Empty(int status) {
  http::Response response;
  response.status = status;
  response.content_type.clear();
  return response;
}

json TensorMetadata(absl::string_view name, int64_t width) {
  return json{{"name", std::string(name)},
              {"datatype", std::string(oip::kFp32)},
              {"shape", {-1, width}}};
}

}  // namespace

http::Response HttpErrorResponse(const absl::Status& status) {
  http::Response response;
  response.status = HttpStatus(status.code());
  response.body = http::JsonError(status.message());
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return response;
}

InferenceHttp::InferenceHttp(registry::Registry* registry,
                             const ServiceLimits& limits,
                             std::vector<Credential> credentials,
                             Metrics* metrics)
    : registry_(registry),
      limits_(limits),
      auth_(std::move(credentials)),
      metrics_(metrics) {}

http::Response InferenceHttp::Handle(http::Request& request) const {
  const HttpRoute route = ParseRoute(request.path);
  if (route.kind == HttpRoute::kUnknown) {
    return HttpErrorResponse(absl::NotFoundError(
        absl::StrCat("no endpoint ", common::Quote(request.path, 96),
                     "; the protocol's paths start with /v2 (README, "
                     "\"Standard clients\")")));
  }
  if (request.method != route.method()) {
    http::Response response = HttpErrorResponse(absl::InvalidArgumentError(
        absl::StrCat(common::Quote(request.path, 96), " takes ", route.method(),
                     ", not ", common::Quote(request.method, 16))));
    response.status = 405;
    response.headers.emplace_back("Allow", route.method());
    return response;
  }
  if (route.kind == HttpRoute::kLive) return Empty(200);
  if (route.kind == HttpRoute::kReady) {
    return Empty(serving_.load() ? 200 : 503);
  }
  RequestLog log(absl::StrCat("HTTP ", route.call()), route.model, metrics_);
  http::Response response;
  absl::Status status = auth_.CheckAuthorization(
      request.header("Authorization"), route.call(), "header");
  if (status.ok()) status = Answer(request, route, &response);
  log.Done(status);
  if (!status.ok()) return HttpErrorResponse(status);
  return response;
}

absl::Status InferenceHttp::Answer(const http::Request& request,
                                   const HttpRoute& route,
                                   http::Response* response) const {
  switch (route.kind) {
    case HttpRoute::kServerMetadata:
      response->body =
          oip::Dump(json{{"name", std::string(oip::kServerName)},
                         {"version", MLP_VERSION},
                         {"extensions", std::vector<std::string>(
                                            std::begin(oip::kExtensions),
                                            std::end(oip::kExtensions))}});
      return absl::OkStatus();
    case HttpRoute::kModelMetadata: {
      MLP_ASSIGN_OR_RETURN(oip::ModelMetadata meta,
                           oip::GetModelMetadata(registry_->models(),
                                                 route.model, route.version));
      response->body = oip::Dump(json{
          {"name", meta.name},
          {"versions", meta.versions},
          {"platform", std::string(oip::kPlatform)},
          {"inputs",
           json::array({TensorMetadata(oip::kInputName, meta.input_size)})},
          {"outputs",
           json::array({TensorMetadata(oip::kOutputName, meta.output_size)})}});
      return absl::OkStatus();
    }
    case HttpRoute::kModelReady:
      if (!serving_.load()) {
        return absl::UnavailableError(
            "the server is not ready (starting or shutting down)");
      }
      MLP_RETURN_IF_ERROR(
          oip::FindVersion(registry_->models(), route.model, route.version)
              .status());
      *response = Empty(200);
      return absl::OkStatus();
    case HttpRoute::kInfer:
      return Infer(request, route.model, route.version, response);
    default:
      return absl::InternalError("unrouted path");
  }
}

absl::Status InferenceHttp::Infer(const http::Request& request,
                                  const std::string& model,
                                  const std::string& version,
                                  http::Response* response) const {
  if (!serving_.load()) {
    return absl::UnavailableError(
        "the server is not ready (starting or shutting down)");
  }
  oip::JsonInferRequest read;
  MLP_RETURN_IF_ERROR(oip::ReadInferRequest(
      request.body, request.header(oip::kHeaderLength.data()), &read));
  engine::Matrix storage;
  MLP_ASSIGN_OR_RETURN(
      oip::InferencePlan plan,
      oip::PlanInference(registry_->models(), model, version, read.outputs,
                         read.input, limits_.max_message_bytes, &storage));
  if (!read.binary_output &&
      plan.output_values >
          limits_.max_message_bytes / oip::kMaxJsonBytesPerValue) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "outputs: ", plan.output_values,
        " values as JSON text may exceed the server's limit of ",
        limits_.max_message_bytes,
        " bytes; ask for binary output (\"binary_data\": true) or send "
        "fewer rows"));
  }
  std::vector<float> values(static_cast<size_t>(plan.output_values));
  MLP_RETURN_IF_ERROR(
      PredictRows(*plan.version->network, plan.input.view(), values.data()));
  oip::WriteInferAnswer(model, plan, read.id, values, read.binary_output,
                        response);
  return absl::OkStatus();
}

}  // namespace mlp::service
