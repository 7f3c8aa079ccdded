#include "server/service/model_convert.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "server/service/status.h"
#include "server/service/tensor_convert.h"

namespace mlp::service {
namespace {

absl::StatusOr<engine::Activation> ActivationFromProto(
    v1::Activation a, absl::string_view field) {
  switch (a) {
    case v1::LINEAR:
      return engine::Activation::kLinear;
    case v1::RELU:
      return engine::Activation::kRelu;
    case v1::SIGMOID:
      return engine::Activation::kSigmoid;
    case v1::TANH:
      return engine::Activation::kTanh;
    case v1::SOFTMAX:
      return engine::Activation::kSoftmax;
    default:
      return InvalidField(field,
                          absl::StrCat(" is ", v1::Activation_Name(a), " (",
                                       static_cast<int>(a),
                                       "); expected LINEAR, RELU, SIGMOID, "
                                       "TANH or SOFTMAX"));
  }
}

v1::Activation ActivationToProto(engine::Activation a) {
  switch (a) {
    case engine::Activation::kLinear:
      return v1::LINEAR;
    case engine::Activation::kRelu:
      return v1::RELU;
    case engine::Activation::kSigmoid:
      return v1::SIGMOID;
    case engine::Activation::kTanh:
      return v1::TANH;
    case engine::Activation::kSoftmax:
      return v1::SOFTMAX;
  }
  return v1::ACTIVATION_UNSPECIFIED;
}

void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

}  // namespace

absl::StatusOr<engine::NetworkSpec> SpecFromProto(const v1::ModelSpec& spec) {
  engine::NetworkSpec out;
  if (spec.input_size() < 1 ||
      spec.input_size() > static_cast<uint32_t>(engine::kMaxLayerWidth)) {
    return InvalidField("spec.input_size",
                        absl::StrCat(" must be in [1, ", engine::kMaxLayerWidth,
                                     "], got ", spec.input_size()));
  }
  out.input_size = static_cast<int>(spec.input_size());
  if (spec.layers_size() < 1 || spec.layers_size() > engine::kMaxLayers) {
    return InvalidField("spec.layers",
                        absl::StrCat(" must have 1 to ", engine::kMaxLayers,
                                     " layers, got ", spec.layers_size()));
  }
  for (int i = 0; i < spec.layers_size(); ++i) {
    const v1::LayerSpec& layer = spec.layers(i);
    const std::string field = absl::StrCat("spec.layers[", i, "]");
    if (layer.units() < 1 ||
        layer.units() > static_cast<uint32_t>(engine::kMaxLayerWidth)) {
      return InvalidField(
          field, absl::StrCat(".units must be in [1, ", engine::kMaxLayerWidth,
                              "], got ", layer.units()));
    }
    MLP_ASSIGN_OR_RETURN(
        engine::Activation activation,
        ActivationFromProto(layer.activation(), field + ".activation"));
    out.layers.push_back({static_cast<int>(layer.units()), activation});
  }
  switch (spec.loss()) {
    case v1::MSE:
      out.loss = engine::Loss::kMse;
      break;
    case v1::CROSS_ENTROPY:
      out.loss = engine::Loss::kCrossEntropy;
      break;
    case v1::BINARY_CROSS_ENTROPY:
      out.loss = engine::Loss::kBinaryCrossEntropy;
      break;
    default:
      return InvalidField("spec.loss",
                          absl::StrCat(" is ", v1::Loss_Name(spec.loss()),
                                       "; expected MSE, CROSS_ENTROPY or "
                                       "BINARY_CROSS_ENTROPY"));
  }
  out.bias = spec.has_bias() ? spec.bias() : true;
  switch (spec.init()) {
    case v1::INIT_UNSPECIFIED:
      out.init = engine::Init::kAuto;
      break;
    case v1::UNIFORM_0_1:
      out.init = engine::Init::kUniform01;
      break;
    case v1::XAVIER_UNIFORM:
      out.init = engine::Init::kXavierUniform;
      break;
    case v1::HE_NORMAL:
      out.init = engine::Init::kHeNormal;
      break;
    default:
      return InvalidField(
          "spec.init",
          absl::StrCat(" has unknown value ", static_cast<int>(spec.init())));
  }
  out.seed = spec.seed();
  MLP_RETURN_IF_ERROR(engine::ValidateSpec(out));
  return out;
}

v1::ModelSpec SpecToProto(const engine::NetworkSpec& spec) {
  v1::ModelSpec out;
  out.set_input_size(static_cast<uint32_t>(spec.input_size));
  for (const engine::LayerSpec& layer : spec.layers) {
    v1::LayerSpec* l = out.add_layers();
    l->set_units(static_cast<uint32_t>(layer.units));
    l->set_activation(ActivationToProto(layer.activation));
  }
  switch (spec.loss) {
    case engine::Loss::kMse:
      out.set_loss(v1::MSE);
      break;
    case engine::Loss::kCrossEntropy:
      out.set_loss(v1::CROSS_ENTROPY);
      break;
    case engine::Loss::kBinaryCrossEntropy:
      out.set_loss(v1::BINARY_CROSS_ENTROPY);
      break;
  }
  out.set_bias(spec.bias);
  switch (spec.init) {
    case engine::Init::kAuto:
      out.set_init(v1::INIT_UNSPECIFIED);
      break;
    case engine::Init::kUniform01:
      out.set_init(v1::UNIFORM_0_1);
      break;
    case engine::Init::kXavierUniform:
      out.set_init(v1::XAVIER_UNIFORM);
      break;
    case engine::Init::kHeNormal:
      out.set_init(v1::HE_NORMAL);
      break;
  }
  out.set_seed(spec.seed);
  return out;
}

v1::StopReason StopReasonToProto(engine::StopReason reason) {
  switch (reason) {
    case engine::StopReason::kMaxEpochs:
      return v1::MAX_EPOCHS;
    case engine::StopReason::kTargetLoss:
      return v1::TARGET_LOSS;
    case engine::StopReason::kEarlyStopping:
      return v1::EARLY_STOPPING;
    case engine::StopReason::kCancelled:
      return v1::CANCELLED;
    case engine::StopReason::kDiverged:
      return v1::DIVERGED;
  }
  return v1::STOP_REASON_UNSPECIFIED;
}

void SnapshotToProto(const registry::ModelSnapshot& snapshot,
                     v1::ModelInfo* info) {
  info->set_name(snapshot.name);
  *info->mutable_spec() = SpecToProto(snapshot.spec);
  info->set_version(snapshot.version);
  info->set_parameter_count(
      static_cast<uint64_t>(engine::ParameterCount(snapshot.spec)));
  info->set_state(snapshot.training ? v1::TRAINING : v1::READY);
  TimeToProto(snapshot.created_at, info->mutable_created_at());
  TimeToProto(snapshot.updated_at, info->mutable_updated_at());
  if (snapshot.last_training.has_value()) {
    v1::TrainingSummary* t = info->mutable_last_training();
    t->set_epochs(snapshot.last_training->epochs);
    t->set_final_loss(snapshot.last_training->final_loss);
    t->set_stop_reason(StopReasonToProto(snapshot.last_training->stop_reason));
  }
  for (uint64_t v : snapshot.available_versions) {
    info->add_available_versions(v);
  }
}

void DatasetToProto(const registry::DatasetInfo& meta, v1::DatasetInfo* info) {
  info->set_name(meta.name);
  info->set_rows(meta.rows);
  info->set_input_size(meta.input_size);
  info->set_target_size(meta.target_size);
  TimeToProto(meta.created_at, info->mutable_created_at());
  info->set_size_bytes(meta.size_bytes);
}

void LayersToProto(const engine::Network& network,
                   v1::GetWeightsResponse* out) {
  for (const engine::Layer& layer : network.layers()) {
    v1::LayerWeights* lw = out->add_layers();
    // [units x inputs] column-major is the API's row-major [inputs, units].
    MatrixToTensor(layer.weights, lw->mutable_weights());
    if (layer.bias.size() > 0) {
      lw->mutable_bias()->add_shape(layer.bias.size());
      lw->mutable_bias()->mutable_values()->Add(
          layer.bias.data(), layer.bias.data() + layer.bias.size());
    }
    lw->set_activation(ActivationToProto(layer.activation));
  }
}

}  // namespace mlp::service
