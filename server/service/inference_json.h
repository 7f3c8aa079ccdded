// The Open Inference Protocol's JSON, as the HTTP/REST endpoints speak it
// (inference_http.h): an infer request read into inference.h's terms, and
// the answer written back, as JSON or with the binary tensor extension.
//
// Thread-safety: functions only; a JsonInferRequest belongs to one call.
#ifndef MLP_SERVER_SERVICE_INFERENCE_JSON_H_
#define MLP_SERVER_SERVICE_INFERENCE_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/http/http_server.h"
#include "server/service/inference.h"

namespace mlp::service::oip {

// The binary tensor extension's header: the length of the JSON that starts
// the body (the rest is raw tensor bytes).
inline constexpr absl::string_view kHeaderLength =
    "Inference-Header-Content-Length";
// The most text one FP32 value takes in a JSON answer
// ("-1.2345678901234567e-38,"): a JSON answer of N values is refused unless
// N times this fits the message limit.
inline constexpr int64_t kMaxJsonBytesPerValue = 25;

// One infer request, read. `input` points into this object and into the body
// it was read from, which must outlive it; it cannot be copied or moved.
struct JsonInferRequest {
  JsonInferRequest() = default;
  JsonInferRequest(const JsonInferRequest&) = delete;
  JsonInferRequest& operator=(const JsonInferRequest&) = delete;

  nlohmann::json doc;
  const nlohmann::json* id = nullptr;      // a string, if the request has one
  bool binary_output = false;              // asked for anywhere
  std::vector<absl::string_view> outputs;  // the names asked for
  InputTensor input;
  std::vector<int64_t> shape;
  std::vector<float> fp32;
  std::vector<double> fp64;
};

// Reads `body` (JSON; with `header_length`, the binary extension's header,
// JSON then raw bytes) into *out. INVALID_ARGUMENT naming the field.
absl::Status ReadInferRequest(absl::string_view body,
                              std::optional<absl::string_view> header_length,
                              JsonInferRequest* out);

// The answer of `model`'s `plan` with `values`: JSON with "data", or with
// `binary` the JSON header (its length in kHeaderLength) then the raw
// little-endian values. `id` (may be null) is echoed.
void WriteInferAnswer(const std::string& model, const InferencePlan& plan,
                      const nlohmann::json* id,
                      const std::vector<float>& values, bool binary,
                      http::Response* response);

// `value` as JSON text; invalid UTF-8 replaced.
std::string Dump(const nlohmann::json& value);

}  // namespace mlp::service::oip

#endif  // MLP_SERVER_SERVICE_INFERENCE_JSON_H_
