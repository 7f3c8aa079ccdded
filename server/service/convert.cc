#include "server/service/convert.h"

#include <cmath>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/status_macros.h"

namespace mlp::service {
namespace {

std::string ShapeString(const v1::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.shape(), ", "), "]");
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, what));
}

// Checks that `t` holds exactly rows * cols finite values.
absl::Status CheckValues(const v1::Tensor& t, absl::string_view field,
                         int64_t rows, int64_t cols) {
  const int64_t have = t.values_size();
  // rows, cols >= 1 here; compare without overflowing.
  if (rows > have / cols || rows * cols != have) {
    return Invalid(field,
                   absl::StrCat(" has ", have, " values, but shape ",
                                ShapeString(t), " needs ", rows, " x ", cols));
  }
  for (int64_t i = 0; i < have; ++i) {
    if (!std::isfinite(t.values(static_cast<int>(i)))) {
      return Invalid(
          field, absl::StrCat(".values[", i, "] (row ", i / cols, ", column ",
                              i % cols, ") is ", t.values(static_cast<int>(i)),
                              "; values must be finite"));
    }
  }
  return absl::OkStatus();
}

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
      return Invalid(field, absl::StrCat(" is ", v1::Activation_Name(a), " (",
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
    return Invalid("spec.input_size",
                   absl::StrCat(" must be in [1, ", engine::kMaxLayerWidth,
                                "], got ", spec.input_size()));
  }
  out.input_size = static_cast<int>(spec.input_size());
  if (spec.layers_size() < 1 || spec.layers_size() > engine::kMaxLayers) {
    return Invalid("spec.layers",
                   absl::StrCat(" must have 1 to ", engine::kMaxLayers,
                                " layers, got ", spec.layers_size()));
  }
  for (int i = 0; i < spec.layers_size(); ++i) {
    const v1::LayerSpec& layer = spec.layers(i);
    const std::string field = absl::StrCat("spec.layers[", i, "]");
    if (layer.units() < 1 ||
        layer.units() > static_cast<uint32_t>(engine::kMaxLayerWidth)) {
      return Invalid(
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
      return Invalid("spec.loss",
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
      return Invalid("spec.init", absl::StrCat(" has unknown value ",
                                               static_cast<int>(spec.init())));
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

absl::StatusOr<engine::TrainOptions> OptionsFromProto(
    const v1::TrainOptions& options) {
  engine::TrainOptions out;
  switch (options.optimizer()) {
    case v1::OPTIMIZER_UNSPECIFIED:
    case v1::SGD:
      out.optimizer = engine::Optimizer::kSgd;
      break;
    case v1::MOMENTUM:
      out.optimizer = engine::Optimizer::kMomentum;
      break;
    case v1::ADAM:
      out.optimizer = engine::Optimizer::kAdam;
      break;
    default:
      return Invalid("options.optimizer",
                     absl::StrCat(" has unknown value ",
                                  static_cast<int>(options.optimizer())));
  }
  constexpr uint32_t kIntMax = std::numeric_limits<int>::max();
  if (options.batch_size() > kIntMax || options.max_epochs() > kIntMax ||
      options.report_every() > kIntMax ||
      options.early_stopping_patience() > kIntMax) {
    return Invalid("options",
                   absl::StrCat(": batch_size, max_epochs, report_every and "
                                "early_stopping_patience must be <= ",
                                kIntMax));
  }
  if (options.learning_rate() != 0) out.learning_rate = options.learning_rate();
  if (options.batch_size() != 0) out.batch_size = options.batch_size();
  if (options.max_epochs() != 0) out.max_epochs = options.max_epochs();
  if (options.report_every() != 0) out.report_every = options.report_every();
  if (options.momentum() != 0) out.momentum = options.momentum();
  out.target_loss = options.target_loss();
  out.shuffle = options.shuffle();
  out.validation_fraction = options.validation_fraction();
  out.early_stopping_patience =
      static_cast<int>(options.early_stopping_patience());
  out.l2 = options.l2();
  if (options.seed() != 0) {
    out.seed = options.seed();
  } else {
    std::random_device device;
    out.seed = (uint64_t{device()} << 32) | device();
  }
  MLP_RETURN_IF_ERROR(engine::ValidateOptions(out));
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

absl::StatusOr<MatrixView> InputsView(const v1::Tensor& tensor,
                                      absl::string_view field,
                                      int64_t input_size,
                                      absl::string_view expected_name) {
  if (tensor.shape_size() != 2) {
    return Invalid(field, absl::StrCat(".shape must be [N, ", input_size,
                                       "], got ", ShapeString(tensor)));
  }
  const int64_t rows = tensor.shape(0);
  const int64_t cols = tensor.shape(1);
  if (rows < 1) {
    return Invalid(field,
                   absl::StrCat(".shape[0] (rows) must be >= 1, got ", rows));
  }
  if (cols != input_size) {
    return Invalid(field, absl::StrCat(".shape[1] is ", cols, ", expected ",
                                       expected_name, " ", input_size));
  }
  MLP_RETURN_IF_ERROR(CheckValues(tensor, field, rows, cols));
  return MatrixView(tensor.values().data(), cols, rows);
}

absl::StatusOr<MatrixView> TargetsView(const v1::Tensor& tensor,
                                       absl::string_view field, int64_t rows,
                                       int64_t outputs, engine::Loss loss) {
  const bool indices_allowed =
      loss == engine::Loss::kCrossEntropy && outputs > 1;
  const bool as_indices =
      indices_allowed && (tensor.shape_size() == 1 ||
                          (tensor.shape_size() == 2 && tensor.shape(1) == 1));
  const int64_t cols = as_indices ? 1 : outputs;
  const bool shape_ok =
      as_indices || (tensor.shape_size() == 2 && tensor.shape(1) == outputs);
  if (!shape_ok || tensor.shape(0) != rows) {
    return Invalid(
        field, absl::StrCat(".shape must be [", rows, ", ", outputs, "]",
                            indices_allowed
                                ? absl::StrCat(" or class indices [", rows, "]")
                                : "",
                            " (rows must match the inputs), got ",
                            ShapeString(tensor)));
  }
  MLP_RETURN_IF_ERROR(CheckValues(tensor, field, rows, cols));
  if (as_indices) {
    for (int i = 0; i < tensor.values_size(); ++i) {
      const float v = tensor.values(i);
      if (v != std::floor(v) || v < 0 || v >= static_cast<float>(outputs)) {
        return Invalid(field, absl::StrCat(".values[", i, "] is ", v,
                                           "; class indices must be whole "
                                           "numbers in [0, ",
                                           outputs, ")"));
      }
    }
  }
  return MatrixView(tensor.values().data(), cols, rows);
}

absl::Status CheckResponseFits(absl::string_view what, int64_t values,
                               int64_t max_message_bytes) {
  // Headroom for shapes, field tags and the rest of the message.
  constexpr int64_t kOverhead = 64 << 10;
  const int64_t bytes = values * int64_t{sizeof(float)} + kOverhead;
  if (bytes > max_message_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, " would take ", bytes, " bytes, over the server's limit of ",
        max_message_bytes, " (--max_message_bytes)"));
  }
  return absl::OkStatus();
}

absl::Status PredictInto(const engine::Network& network,
                         const Eigen::Ref<const engine::Matrix>& inputs,
                         v1::Tensor* outputs) {
  // About 4 MB of intermediate values per slice.
  constexpr int64_t kSliceValues = 1 << 20;
  int64_t width = network.input_size();
  for (const engine::LayerSpec& layer : network.spec().layers) {
    width = std::max<int64_t>(width, layer.units);
  }
  const int64_t slice = std::max<int64_t>(1, kSliceValues / width);
  const int64_t n = inputs.cols();
  const int64_t k = network.output_size();
  outputs->add_shape(n);
  outputs->add_shape(k);
  outputs->mutable_values()->Resize(static_cast<int>(n * k), 0.0f);
  float* out = outputs->mutable_values()->mutable_data();
  for (int64_t begin = 0; begin < n; begin += slice) {
    const int64_t count = std::min(slice, n - begin);
    // [k x count], column-major: the rows [begin, begin + count) of the
    // row-major [n, k] response.
    MLP_ASSIGN_OR_RETURN(engine::Matrix y,
                         network.Predict(inputs.middleCols(begin, count)));
    std::copy_n(y.data(), y.size(), out + begin * k);
  }
  return absl::OkStatus();
}

void MatrixToTensor(const engine::Matrix& m, v1::Tensor* tensor) {
  tensor->add_shape(m.cols());
  tensor->add_shape(m.rows());
  tensor->mutable_values()->Resize(static_cast<int>(m.size()), 0.0f);
  std::copy_n(m.data(), m.size(), tensor->mutable_values()->mutable_data());
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

void DatasetToProto(const store::DatasetMeta& meta, v1::DatasetInfo* info) {
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
