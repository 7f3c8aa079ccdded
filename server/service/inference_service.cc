#include "server/service/inference_service.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "mlp_version.h"
#include "server/service/inference.h"
#include "server/service/predict.h"
#include "server/service/request_log.h"
#include "server/service/unary.h"

namespace mlp::service {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

// The request's one input, as inference.h reads it. Raw bytes are used when
// the request carries any; an input may then not also carry contents.
absl::StatusOr<oip::InputTensor> InputOf(const ModelInferRequest& request) {
  if (request.inputs_size() != 1) {
    return InvalidField(
        "inputs",
        absl::StrCat(" has ", request.inputs_size(),
                     " tensors; the model takes one, '", oip::kInputName, "'"));
  }
  const ModelInferRequest::InferInputTensor& tensor = request.inputs(0);
  oip::InputTensor input;
  input.name = tensor.name();
  input.datatype = tensor.datatype();
  input.shape = tensor.shape();
  const inference::InferTensorContents& contents = tensor.contents();
  if (request.raw_input_contents_size() > 0) {
    if (request.raw_input_contents_size() != 1) {
      return InvalidField(
          "raw_input_contents",
          absl::StrCat(" has ", request.raw_input_contents_size(),
                       " entries for 1 input"));
    }
    if (tensor.has_contents()) {
      return InvalidField("inputs[0].contents",
                          " is set, but the request uses raw_input_contents; "
                          "send the values one way only");
    }
    input.raw = request.raw_input_contents(0);
  } else if (input.datatype == oip::kFp64) {
    input.fp64 = contents.fp64_contents().data();
    input.count = contents.fp64_contents_size();
  } else {
    input.fp32 = contents.fp32_contents().data();
    input.count = contents.fp32_contents_size();
  }
  return input;
}

}  // namespace

InferenceServiceImpl::InferenceServiceImpl(registry::Registry* registry,
                                           const ServiceLimits& limits,
                                           std::vector<Credential> credentials,
                                           Metrics* metrics)
    : registry_(registry),
      limits_(limits),
      auth_(std::move(credentials)),
      metrics_(metrics) {}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerLive(
    grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* response) {
  response->set_live(true);
  return FinishUnary(context, RequestLog("ServerLive", "", metrics_),
                     absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  response->set_ready(serving_.load());
  return FinishUnary(context, RequestLog("ServerReady", "", metrics_),
                     absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelReady(
    grpc::CallbackServerContext* context,
    const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  return RunUnary(context, auth_,
                  RequestLog("ModelReady", request->name(), metrics_),
                  [&]() -> absl::Status {
                    response->set_ready(serving_.load() &&
                                        oip::FindVersion(registry_->models(),
                                                         request->name(),
                                                         request->version())
                                            .ok());
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerMetadata(
    grpc::CallbackServerContext* context,
    const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  return RunUnary(context, auth_, RequestLog("ServerMetadata", "", metrics_),
                  [&]() -> absl::Status {
                    response->set_name(std::string(oip::kServerName));
                    response->set_version(MLP_VERSION);
                    for (absl::string_view e : oip::kExtensions) {
                      response->add_extensions(std::string(e));
                    }
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelMetadata(
    grpc::CallbackServerContext* context,
    const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  return RunUnary(
      context, auth_, RequestLog("ModelMetadata", request->name(), metrics_),
      [&]() -> absl::Status {
        MLP_ASSIGN_OR_RETURN(
            oip::ModelMetadata meta,
            oip::GetModelMetadata(registry_->models(), request->name(),
                                  request->version()));
        response->set_name(meta.name);
        for (std::string& v : meta.versions) {
          response->add_versions(std::move(v));
        }
        response->set_platform(std::string(oip::kPlatform));
        auto* input = response->add_inputs();
        input->set_name(std::string(oip::kInputName));
        input->set_datatype(std::string(oip::kFp32));
        input->add_shape(-1);
        input->add_shape(meta.input_size);
        auto* output = response->add_outputs();
        output->set_name(std::string(oip::kOutputName));
        output->set_datatype(std::string(oip::kFp32));
        output->add_shape(-1);
        output->add_shape(meta.output_size);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelInfer(
    grpc::CallbackServerContext* context, const ModelInferRequest* request,
    ModelInferResponse* response) {
  return RunUnary(context, auth_,
                  RequestLog("ModelInfer", request->model_name(), metrics_),
                  [&] { return Infer(context, *request, response); });
}

absl::Status InferenceServiceImpl::Infer(grpc::CallbackServerContext* context,
                                         const ModelInferRequest& request,
                                         ModelInferResponse* response) const {
  if (!serving_.load()) {
    return absl::UnavailableError(
        "the server is not ready (starting or shutting down)");
  }
  MLP_ASSIGN_OR_RETURN(oip::InputTensor input, InputOf(request));
  std::vector<absl::string_view> outputs;
  for (const auto& output : request.outputs()) outputs.push_back(output.name());
  engine::Matrix storage;
  MLP_ASSIGN_OR_RETURN(
      oip::InferencePlan plan,
      oip::PlanInference(registry_->models(), request.model_name(),
                         request.model_version(), outputs, input,
                         limits_.max_message_bytes, &storage));
  const int64_t values = plan.output_values;

  auto* output = response->add_outputs();
  output->set_name(std::string(oip::kOutputName));
  output->set_datatype(std::string(oip::kFp32));
  for (int64_t d : plan.input.output_shape) output->add_shape(d);
  float* out = nullptr;
  if (input.raw.has_value()) {
    // Little-endian FP32, as on every machine this builds for (see the
    // static_assert in the engine's serialisation).
    std::string* raw = response->add_raw_output_contents();
    raw->resize(static_cast<size_t>(values) * sizeof(float));
    out = reinterpret_cast<float*>(raw->data());
  } else {
    auto* fp32 = output->mutable_contents()->mutable_fp32_contents();
    fp32->Resize(static_cast<int>(values), 0.0f);
    out = fp32->mutable_data();
  }
  MLP_RETURN_IF_ERROR(PredictRows(*plan.version->network, plan.input.view(),
                                  out, WhileTheCallerWaits(context)));
  response->set_model_name(request.model_name());
  response->set_model_version(absl::StrCat(plan.version->version));
  response->set_id(request.id());
  return absl::OkStatus();
}

}  // namespace mlp::service
