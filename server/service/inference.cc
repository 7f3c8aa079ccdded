#include "server/service/inference.h"

#include <cmath>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "server/common/escape.h"
#include "server/service/limits.h"
#include "server/service/status.h"

namespace mlp::service::oip {
namespace {

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// The first non-finite value of `n`, as an INVALID_ARGUMENT naming its row
// and column, or OK.
absl::Status CheckFinite(const float* values, int64_t n, int64_t features,
                         absl::string_view field) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidField(
          field, absl::StrCat(" value ", i, " (row ", i / features, ", column ",
                              i % features, ") is ", values[i],
                              "; values must be finite"));
    }
  }
  return absl::OkStatus();
}

// rows x features values of `count`, or INVALID_ARGUMENT.
absl::Status CheckCount(int64_t count, int64_t rows, int64_t features,
                        absl::Span<const int64_t> shape,
                        absl::string_view field, absl::string_view what) {
  if (count != rows * features) {
    return InvalidField(
        field, absl::StrCat(" has ", count, " ", what, ", but shape ",
                            ShapeString(shape), " needs ", rows * features));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> ParseVersion(absl::string_view text,
                                      absl::string_view field) {
  if (text.empty()) return 0;
  uint64_t version = 0;
  if (!absl::SimpleAtoi(text, &version) || version == 0 ||
      text.find_first_not_of("0123456789") != absl::string_view::npos) {
    return absl::NotFoundError(absl::StrCat(
        field, " is ", common::Quote(text, 64),
        "; versions are whole numbers from 1, or empty for the latest"));
  }
  return version;
}

absl::StatusOr<std::shared_ptr<const registry::ModelVersion>> FindVersion(
    const registry::ModelCatalog& models, const std::string& name,
    absl::string_view version) {
  MLP_ASSIGN_OR_RETURN(uint64_t number, ParseVersion(version, "version"));
  return models.GetVersion(name, number);
}

absl::StatusOr<ModelMetadata> GetModelMetadata(
    const registry::ModelCatalog& models, const std::string& name,
    absl::string_view version) {
  MLP_ASSIGN_OR_RETURN(std::shared_ptr<const registry::ModelVersion> found,
                       FindVersion(models, name, version));
  MLP_ASSIGN_OR_RETURN(registry::ModelSnapshot snapshot, models.GetModel(name));
  ModelMetadata out;
  out.name = name;
  for (uint64_t v : snapshot.available_versions) {
    out.versions.push_back(absl::StrCat(v));
  }
  out.input_size = found->network->input_size();
  out.output_size = found->network->output_size();
  return out;
}

absl::StatusOr<PreparedInput> PrepareInput(const InputTensor& input,
                                           absl::string_view field,
                                           int64_t input_size,
                                           int64_t output_size,
                                           engine::Matrix* storage) {
  if (input.name != kInputName) {
    return InvalidField(
        field, absl::StrCat(".name is ", common::Quote(input.name, 64),
                            "; the model's only input is '", kInputName, "'"));
  }
  const bool fp64 = input.datatype == kFp64;
  if (input.datatype != kFp32 && !fp64) {
    return InvalidField(
        field, absl::StrCat(".datatype is ", common::Quote(input.datatype, 64),
                            "; expected ", kFp32, " (or ", kFp64, ")"));
  }
  PreparedInput out;
  out.features = input_size;
  const absl::Span<const int64_t> shape = input.shape;
  if (shape.size() == 1 && shape[0] == input_size) {
    out.rows = 1;
    out.output_shape = {output_size};
  } else if (shape.size() == 2 && shape[1] == input_size && shape[0] >= 1) {
    out.rows = shape[0];
    out.output_shape = {out.rows, output_size};
  } else {
    return InvalidField(field, absl::StrCat(".shape is ", ShapeString(shape),
                                            "; expected [N, ", input_size,
                                            "] with N "
                                            ">= 1, or [",
                                            input_size, "] for one sample"));
  }
  // rows * input_size cannot overflow below: every count is checked against
  // it after dividing.
  if (out.rows > (int64_t{1} << 40) / input_size) {
    return InvalidField(
        field, absl::StrCat(".shape ", ShapeString(shape), " is too large"));
  }
  const int64_t n = out.rows * input_size;
  if (input.raw.has_value()) {
    const int64_t element = fp64 ? 8 : 4;
    if (static_cast<int64_t>(input.raw->size()) != n * element) {
      return InvalidField(
          input.raw_field,
          absl::StrCat(" has ", input.raw->size(), " bytes, but ", field,
                       ".shape ", ShapeString(shape), " of ", input.datatype,
                       " needs ", n * element));
    }
    storage->resize(input_size, out.rows);
    if (fp64) {
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, input.raw->data() + i * 8, 8);
        storage->data()[i] = static_cast<float>(d);
      }
    } else {
      std::memcpy(storage->data(), input.raw->data(), n * 4);
    }
    out.data = storage->data();
  } else if (fp64) {
    MLP_RETURN_IF_ERROR(
        CheckCount(input.count, out.rows, input_size, shape, field,
                   absl::StrCat("values in ", input.values_field.empty()
                                                  ? "contents.fp64_contents"
                                                  : input.values_field)));
    storage->resize(input_size, out.rows);
    for (int64_t i = 0; i < n; ++i) {
      storage->data()[i] = static_cast<float>(input.fp64[i]);
    }
    out.data = storage->data();
  } else {
    MLP_RETURN_IF_ERROR(
        CheckCount(input.count, out.rows, input_size, shape, field,
                   absl::StrCat("values in ", input.values_field.empty()
                                                  ? "contents.fp32_contents"
                                                  : input.values_field)));
    out.data = input.fp32;
  }
  MLP_RETURN_IF_ERROR(CheckFinite(out.data, n, input_size, field));
  return out;
}

absl::Status CheckOutputName(absl::string_view name, absl::string_view field) {
  if (name == kOutputName) return absl::OkStatus();
  return InvalidField(
      field, absl::StrCat(".name is ", common::Quote(name, 64),
                          "; the model's only output is '", kOutputName, "'"));
}

absl::StatusOr<InferencePlan> PlanInference(
    const registry::ModelCatalog& models, const std::string& model,
    absl::string_view version, absl::Span<const absl::string_view> outputs,
    const InputTensor& input, int64_t max_message_bytes,
    engine::Matrix* storage) {
  InferencePlan plan;
  MLP_ASSIGN_OR_RETURN(plan.version, FindVersion(models, model, version));
  for (size_t i = 0; i < outputs.size(); ++i) {
    MLP_RETURN_IF_ERROR(
        CheckOutputName(outputs[i], absl::StrCat("outputs[", i, "]")));
  }
  const engine::Network& network = *plan.version->network;
  MLP_ASSIGN_OR_RETURN(plan.input,
                       PrepareInput(input, "inputs[0]", network.input_size(),
                                    network.output_size(), storage));
  plan.output_values = plan.input.rows * int64_t{network.output_size()};
  MLP_RETURN_IF_ERROR(
      CheckResponseFits("outputs", plan.output_values, max_message_bytes));
  return plan;
}

}  // namespace mlp::service::oip
