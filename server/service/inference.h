// The Open Inference Protocol's (KServe "v2") view of mlp-serve's models,
// independent of the wire: the gRPC GRPCInferenceService
// (inference_service.h) and the HTTP /v2 endpoints both answer from here, so
// that both say the same thing in the same words.
//
// The mapping:
// - a model is an mlp.v1 model; its versions are the committed versions kept
//   ("1", "2", ...); an empty version means the latest;
// - one input, kInputName, FP32 [-1, input_size] (FP64 accepted and
//   converted); one output, kOutputName, FP32 [-1, units of the last layer];
//   a sample may also be sent alone as [input_size], and its output is then
//   [units];
// - a model is ready as soon as it exists (version 1 is its initial weights)
//   and stays ready while it trains: serving never waits for training.
//
// Errors use the codes Triton uses: NOT_FOUND for an unknown model or
// version, INVALID_ARGUMENT naming the field for a wrong name, datatype,
// shape or value count, RESOURCE_EXHAUSTED for an answer too large.
#ifndef MLP_SERVER_SERVICE_INFERENCE_H_
#define MLP_SERVER_SERVICE_INFERENCE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/engine/network.h"
#include "server/registry/model_catalog.h"
#include "server/registry/training_job.h"

namespace mlp::service::oip {

inline constexpr absl::string_view kServerName = "mlp-serve";
inline constexpr absl::string_view kPlatform = "mlp-serve";
inline constexpr absl::string_view kInputName = "input";
inline constexpr absl::string_view kOutputName = "output";
inline constexpr absl::string_view kFp32 = "FP32";
inline constexpr absl::string_view kFp64 = "FP64";
// The protocol's extensions this server implements (Triton's names), the
// same list over gRPC and HTTP: the binary tensor extension (HTTP; gRPC's
// raw contents are part of the core protocol).
inline constexpr absl::string_view kExtensions[] = {"binary_tensor_data"};

// A version field: "" is 0 (the latest), "3" is 3. NOT_FOUND naming `field`
// for anything else (as for a version the model does not have).
absl::StatusOr<uint64_t> ParseVersion(absl::string_view text,
                                      absl::string_view field);

// What ModelMetadata reports.
struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  // kept, ascending
  int64_t input_size = 0;
  int64_t output_size = 0;
};

// NOT_FOUND for an unknown model, or for a `version` it does not keep.
absl::StatusOr<ModelMetadata> GetModelMetadata(
    const registry::ModelCatalog& models, const std::string& name,
    absl::string_view version);

// The committed version that `version` names ("" = latest). NOT_FOUND.
absl::StatusOr<std::shared_ptr<const registry::ModelVersion>> FindVersion(
    const registry::ModelCatalog& models, const std::string& name,
    absl::string_view version);

// One input tensor as a front end received it: typed values (fp32 or fp64,
// `count` of them) or raw little-endian bytes, never both.
struct InputTensor {
  absl::string_view name;
  absl::string_view datatype;
  absl::Span<const int64_t> shape;
  const float* fp32 = nullptr;
  const double* fp64 = nullptr;
  int64_t count = 0;
  std::optional<absl::string_view> raw;
  // What the front end calls the raw bytes and the typed values, for
  // messages; empty values_field: contents.fp32_contents (or fp64).
  absl::string_view raw_field = "raw_input_contents[0]";
  absl::string_view values_field;
};

// An input ready for the forward pass.
struct PreparedInput {
  const float* data = nullptr;  // N rows of `features` floats
  int64_t rows = 0;
  int64_t features = 0;
  // Output shape: [N, K], or [K] when the input was one sample [F].
  std::vector<int64_t> output_shape;

  // [features x N], one sample per column.
  registry::MatrixView view() const {
    return registry::MatrixView(data, features, rows);
  }
};

// Checks `input` (called `field` in messages, e.g. "inputs[0]") against a
// network with `input_size` inputs and `output_size` outputs: its name,
// datatype, shape ([N, input_size] or [input_size]), value count and that the
// values are finite. Typed FP32 is viewed in place; FP64 and raw bytes are
// converted into `*storage`, which must outlive the view.
absl::StatusOr<PreparedInput> PrepareInput(const InputTensor& input,
                                           absl::string_view field,
                                           int64_t input_size,
                                           int64_t output_size,
                                           engine::Matrix* storage);

// OK if `name` (called `field`) names the model's output.
absl::Status CheckOutputName(absl::string_view name, absl::string_view field);

// One inference, checked and ready to run.
struct InferencePlan {
  std::shared_ptr<const registry::ModelVersion> version;
  PreparedInput input;
  int64_t output_values = 0;  // input.rows x the network's outputs
};

// Checks a request the same way for every front end, in this order: the
// model and version (NOT_FOUND), the names of the requested `outputs`
// (called outputs[i]), the input (called inputs[0]; PrepareInput), and that
// the answer fits in max_message_bytes (RESOURCE_EXHAUSTED). The front end
// then runs PredictRows(*plan.version->network, plan.input.view(), ...) into
// plan.output_values floats of its own.
absl::StatusOr<InferencePlan> PlanInference(
    const registry::ModelCatalog& models, const std::string& model,
    absl::string_view version, absl::Span<const absl::string_view> outputs,
    const InputTensor& input, int64_t max_message_bytes,
    engine::Matrix* storage);

}  // namespace mlp::service::oip

#endif  // MLP_SERVER_SERVICE_INFERENCE_H_
