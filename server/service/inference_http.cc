#include "server/service/inference_http.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "mlp_version.h"
#include "nlohmann/json.hpp"
#include "server/common/escape.h"
#include "server/service/inference.h"
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

constexpr absl::string_view kHeaderLength = "Inference-Header-Content-Length";
// Deeper "data" nesting than any shape the models take is refused.
constexpr int kMaxDataDepth = 8;
// The most text one FP32 value takes in a JSON answer
// ("-1.2345678901234567e-38,").
constexpr int64_t kMaxJsonBytesPerValue = 25;

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

http::Response Error(const absl::Status& status) {
  http::Response response;
  response.status = HttpStatus(status.code());
  response.body = http::JsonError(status.message());
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return response;
}

http::Response Empty(int status) {
  http::Response response;
  response.status = status;
  response.content_type.clear();
  return response;
}

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json TensorMetadata(absl::string_view name, int64_t width) {
  return json{{"name", std::string(name)},
              {"datatype", std::string(oip::kFp32)},
              {"shape", {-1, width}}};
}

// The request's values of "data" (flat or nested), in row-major order.
template <typename T>
absl::Status Flatten(const json& data, int depth, std::vector<T>* out) {
  if (data.is_number() && !data.is_boolean()) {
    out->push_back(static_cast<T>(data.get<double>()));
    return absl::OkStatus();
  }
  if (!data.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[0].data value ", out->size(),
                     " is not a number (it is ", data.type_name(), ")"));
  }
  if (depth >= kMaxDataDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[0].data is nested deeper than ", kMaxDataDepth, " arrays"));
  }
  for (const json& item : data) {
    MLP_RETURN_IF_ERROR(Flatten(item, depth + 1, out));
  }
  return absl::OkStatus();
}

// The JSON member `key` of `object`, if present, checked with `is`.
template <typename Is>
absl::StatusOr<const json*> Member(const json& object, const char* key,
                                   absl::string_view field, Is is,
                                   const char* expected) {
  auto it = object.find(key);
  if (it == object.end()) return nullptr;
  if (!is(*it)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, key, " must be ", expected, " (it is ", it->type_name(), ")"));
  }
  return &*it;
}

bool IsString(const json& j) { return j.is_string(); }
bool IsObject(const json& j) { return j.is_object(); }
bool IsArray(const json& j) { return j.is_array(); }
bool IsBool(const json& j) { return j.is_boolean(); }
bool IsCount(const json& j) {
  return j.is_number_integer() && j.get<int64_t>() >= 0;
}

// parameters.<key> of `object` as a boolean (false if absent).
absl::StatusOr<bool> BoolParameter(const json& object, const char* key,
                                   absl::string_view field) {
  MLP_ASSIGN_OR_RETURN(
      const json* parameters,
      Member(object, "parameters", field, IsObject, "an object"));
  if (parameters == nullptr) return false;
  MLP_ASSIGN_OR_RETURN(
      const json* value,
      Member(*parameters, key, absl::StrCat(field, "parameters."), IsBool,
             "true or false"));
  return value != nullptr && value->get<bool>();
}

void AppendFloat(float value, std::string* out) {
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  // The exact value as a double, shortest round-trip: any JSON reader gets
  // the very float the network computed.
  char text[32];
  auto [end, ec] =
      std::to_chars(text, text + sizeof(text), static_cast<double>(value));
  out->append(text, end);
}

}  // namespace

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
    return Error(absl::NotFoundError(
        absl::StrCat("no endpoint ", common::Quote(request.path, 96),
                     "; the protocol's paths start with /v2 (README, "
                     "\"Standard clients\")")));
  }
  if (request.method != route.method()) {
    http::Response response = Error(absl::InvalidArgumentError(
        absl::StrCat(common::Quote(request.path, 96), " takes ", route.method(),
                     ", not ", common::Quote(request.method, 16))));
    response.status = 405;
    response.headers.emplace_back("Allow", route.method());
    return response;
  }
  if (route.kind == HttpRoute::kLive) return Empty(200);
  if (route.kind == HttpRoute::kReady) {
    return Empty(shutting_down_.load() ? 503 : 200);
  }
  RequestLog log(absl::StrCat("HTTP ", route.call()), route.model, metrics_);
  http::Response response;
  absl::Status status = auth_.CheckAuthorization(
      request.header("Authorization"), route.call(), "header");
  if (status.ok()) status = Answer(request, route, &response);
  log.Done(status);
  if (!status.ok()) return Error(status);
  return response;
}

absl::Status InferenceHttp::Answer(const http::Request& request,
                                   const HttpRoute& route,
                                   http::Response* response) const {
  switch (route.kind) {
    case HttpRoute::kServerMetadata:
      response->body =
          Dump(json{{"name", std::string(oip::kServerName)},
                    {"version", MLP_VERSION},
                    {"extensions",
                     std::vector<std::string>(std::begin(oip::kExtensions),
                                              std::end(oip::kExtensions))}});
      return absl::OkStatus();
    case HttpRoute::kModelMetadata: {
      MLP_ASSIGN_OR_RETURN(oip::ModelMetadata meta,
                           oip::GetModelMetadata(registry_->models(),
                                                 route.model, route.version));
      response->body = Dump(json{
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
      if (shutting_down_.load()) {
        return absl::UnavailableError("the server is shutting down");
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

namespace {

// The body as the binary tensor extension splits it: the JSON, then raw
// bytes (none without the Inference-Header-Content-Length header).
struct Body {
  absl::string_view json;
  absl::string_view binary;
};

absl::StatusOr<Body> SplitBody(const http::Request& request) {
  Body body{request.body, {}};
  std::optional<absl::string_view> header =
      request.header(kHeaderLength.data());
  if (!header.has_value()) return body;
  int64_t length = -1;
  if (!absl::SimpleAtoi(*header, &length) || length < 1 ||
      length > static_cast<int64_t>(request.body.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        kHeaderLength, " is ", common::Quote(*header, 32),
        "; expected the length of the JSON that starts the body (1 to ",
        request.body.size(), ")"));
  }
  body.binary = body.json.substr(length);
  body.json = body.json.substr(0, length);
  return body;
}

absl::StatusOr<json> ParseObject(absl::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& error) {
    // nlohmann reports the position only through its exception.
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is not valid JSON: ",
                     common::EscapeBounded(error.what(), 200)));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object (it is ",
                     doc.type_name(), ")"));
  }
  return doc;
}

// The request's one input, as inference.h reads it. `tensor` points into
// the other members and into the JSON document and body it was read from.
struct HttpInput {
  oip::InputTensor tensor;
  std::vector<int64_t> shape;
  std::vector<float> fp32;
  std::vector<double> fp64;
};

// inputs[0]'s name, datatype and shape into `input`.
absl::Status ReadInputHeader(const json& in, HttpInput* input) {
  MLP_ASSIGN_OR_RETURN(const json* name,
                       Member(in, "name", "inputs[0].", IsString, "a string"));
  MLP_ASSIGN_OR_RETURN(
      const json* datatype,
      Member(in, "datatype", "inputs[0].", IsString, "a string"));
  MLP_ASSIGN_OR_RETURN(const json* shape,
                       Member(in, "shape", "inputs[0].", IsArray, "an array"));
  if (name == nullptr || datatype == nullptr || shape == nullptr) {
    return absl::InvalidArgumentError(
        "inputs[0] needs \"name\", \"datatype\" and \"shape\"");
  }
  for (const json& d : *shape) {
    if (!d.is_number_integer()) {
      return absl::InvalidArgumentError(
          "inputs[0].shape must be an array of integers");
    }
    input->shape.push_back(d.get<int64_t>());
  }
  input->tensor.name = name->get_ref<const std::string&>();
  input->tensor.datatype = datatype->get_ref<const std::string&>();
  input->tensor.shape = input->shape;
  input->tensor.values_field = "data";
  input->tensor.raw_field = "the binary data of inputs[0]";
  return absl::OkStatus();
}

// inputs[0]'s values: "data", or the body's binary part.
absl::Status ReadInputValues(const json& in, absl::string_view binary,
                             HttpInput* input) {
  auto data = in.find("data");
  if (data != in.end()) {
    if (input->tensor.datatype == oip::kFp64) {
      MLP_RETURN_IF_ERROR(Flatten(*data, 0, &input->fp64));
      input->tensor.fp64 = input->fp64.data();
      input->tensor.count = static_cast<int64_t>(input->fp64.size());
    } else {
      MLP_RETURN_IF_ERROR(Flatten(*data, 0, &input->fp32));
      input->tensor.fp32 = input->fp32.data();
      input->tensor.count = static_cast<int64_t>(input->fp32.size());
    }
    return absl::OkStatus();
  }
  MLP_ASSIGN_OR_RETURN(
      const json* parameters,
      Member(in, "parameters", "inputs[0].", IsObject, "an object"));
  const json* size = nullptr;
  if (parameters != nullptr) {
    MLP_ASSIGN_OR_RETURN(
        size, Member(*parameters, "binary_data_size", "inputs[0].parameters.",
                     IsCount, "a count of bytes"));
  }
  if (size == nullptr) {
    return absl::InvalidArgumentError(
        "inputs[0] has neither \"data\" nor "
        "\"parameters\": {\"binary_data_size\": N}");
  }
  if (static_cast<int64_t>(binary.size()) != size->get<int64_t>()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[0].parameters.binary_data_size is ",
                     size->get<int64_t>(), ", but the body has ", binary.size(),
                     " bytes after its ", kHeaderLength, " bytes of JSON"));
  }
  input->tensor.raw = binary;
  return absl::OkStatus();
}

absl::Status ReadInput(const json& doc, absl::string_view binary,
                       HttpInput* input) {
  MLP_ASSIGN_OR_RETURN(const json* inputs,
                       Member(doc, "inputs", "", IsArray, "an array"));
  if (inputs == nullptr || inputs->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs has ", inputs == nullptr ? 0 : inputs->size(),
                     " tensors; the model takes one, '", oip::kInputName, "'"));
  }
  const json& in = (*inputs)[0];
  if (!in.is_object()) {
    return absl::InvalidArgumentError("inputs[0] must be an object");
  }
  MLP_RETURN_IF_ERROR(ReadInputHeader(in, input));
  return ReadInputValues(in, binary, input);
}

// The names in "outputs"; *binary becomes true if one asks for binary data.
absl::Status ReadOutputs(const json& doc, std::vector<absl::string_view>* names,
                         bool* binary) {
  MLP_ASSIGN_OR_RETURN(const json* outputs,
                       Member(doc, "outputs", "", IsArray, "an array"));
  if (outputs == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < outputs->size(); ++i) {
    const json& output = (*outputs)[i];
    const std::string field = absl::StrCat("outputs[", i, "].");
    if (!output.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("outputs[", i, "] must be an object"));
    }
    MLP_ASSIGN_OR_RETURN(const json* name,
                         Member(output, "name", field, IsString, "a string"));
    if (name == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(field, "name is missing"));
    }
    names->push_back(name->get_ref<const std::string&>());
    MLP_ASSIGN_OR_RETURN(bool wants_binary,
                         BoolParameter(output, "binary_data", field));
    *binary = *binary || wants_binary;
  }
  return absl::OkStatus();
}

// The answer: JSON with "data", or the JSON header and the raw values.
// (Arrays of one element are spelled json::array({...}): a bare {x} is a
// copy of x for some compilers, an array for others.)
void WriteAnswer(const std::string& model, const oip::InferencePlan& plan,
                 const json* id, const std::vector<float>& values, bool binary,
                 http::Response* response) {
  json head = {{"model_name", model},
               {"model_version", absl::StrCat(plan.version->version)}};
  if (id != nullptr) head["id"] = *id;
  json output = {{"name", std::string(oip::kOutputName)},
                 {"datatype", std::string(oip::kFp32)},
                 {"shape", plan.input.output_shape}};
  const size_t bytes = values.size() * sizeof(float);
  if (binary) {
    output["parameters"] = json::object({{"binary_data_size", bytes}});
    head["outputs"] = json::array({output});
    std::string text = Dump(head);
    response->headers.emplace_back(std::string(kHeaderLength),
                                   absl::StrCat(text.size()));
    response->content_type = "application/octet-stream";
    response->body = std::move(text);
    // Little-endian FP32, as on every machine this builds for.
    response->body.append(reinterpret_cast<const char*>(values.data()), bytes);
    return;
  }
  // The data array is written here, not by nlohmann: this is the hot path.
  output["data"] = json::array();
  head["outputs"] = json::array({output});
  std::string text = Dump(head);
  // The values go inside the output's "data":[] (the last such text: JSON
  // strings before it cannot hold an unescaped quote).
  const size_t insert_at = text.rfind("\"data\":[]") + 8;
  std::string numbers;
  numbers.reserve(values.size() * 12);
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) numbers.push_back(',');
    AppendFloat(values[i], &numbers);
  }
  text.insert(insert_at, numbers);
  response->body = std::move(text);
}

}  // namespace

absl::Status InferenceHttp::Infer(const http::Request& request,
                                  const std::string& model,
                                  const std::string& version,
                                  http::Response* response) const {
  if (shutting_down_.load()) {
    return absl::UnavailableError("the server is shutting down");
  }
  MLP_ASSIGN_OR_RETURN(Body body, SplitBody(request));
  MLP_ASSIGN_OR_RETURN(json doc, ParseObject(body.json));
  MLP_ASSIGN_OR_RETURN(const json* id,
                       Member(doc, "id", "", IsString, "a string"));
  MLP_ASSIGN_OR_RETURN(bool binary_out,
                       BoolParameter(doc, "binary_data_output", ""));
  HttpInput input;
  MLP_RETURN_IF_ERROR(ReadInput(doc, body.binary, &input));
  std::vector<absl::string_view> outputs;
  MLP_RETURN_IF_ERROR(ReadOutputs(doc, &outputs, &binary_out));

  engine::Matrix storage;
  MLP_ASSIGN_OR_RETURN(
      oip::InferencePlan plan,
      oip::PlanInference(registry_->models(), model, version, outputs,
                         input.tensor, limits_.max_message_bytes, &storage));
  if (!binary_out &&
      plan.output_values > limits_.max_message_bytes / kMaxJsonBytesPerValue) {
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
  WriteAnswer(model, plan, id, values, binary_out, response);
  return absl::OkStatus();
}

}  // namespace mlp::service
