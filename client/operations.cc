#include "client/operations.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/interrupt.h"
#include "client/output.h"
#include "client/progress.h"
#include "client/status.h"

namespace mlp::cli {
namespace {

using mlp::v1::ModelService;

void SetMatrix(int64_t rows, int64_t cols, const std::vector<float>& values,
               mlp::v1::Tensor* tensor) {
  tensor->clear_shape();
  tensor->add_shape(rows);
  tensor->add_shape(cols);
  tensor->mutable_values()->Assign(values.begin(), values.end());
}

// Index of the largest of `count` values.
int ArgMax(const float* values, int count) {
  return static_cast<int>(std::max_element(values, values + count) - values);
}

absl::Status CancelledByUser(absl::string_view what,
                             absl::string_view consequence) {
  return absl::CancelledError(
      absl::StrCat(what, " cancelled by Ctrl-C; ", consequence));
}

}  // namespace

bool IsClassifier(const mlp::v1::ModelSpec& spec) {
  return spec.loss() == mlp::v1::CROSS_ENTROPY ||
         spec.loss() == mlp::v1::BINARY_CROSS_ENTROPY;
}

absl::StatusOr<mlp::v1::TrainingData> ReadAll(RowSource& source,
                                              absl::string_view origin) {
  std::vector<float> inputs;
  std::vector<float> targets;
  int64_t rows = 0;
  for (;;) {
    MLP_ASSIGN_OR_RETURN(
        const size_t read,
        source.Read(RowsPerBatch(source, kMaxBatchBytes), &inputs, &targets));
    if (read == 0) break;
    rows += static_cast<int64_t>(read);
  }
  if (rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": no rows"));
  }
  mlp::v1::TrainingData data;
  SetMatrix(rows, source.input_size(), inputs, data.mutable_inputs());
  SetMatrix(rows, source.target_size(), targets, data.mutable_targets());
  return data;
}

bool SameArchitecture(const mlp::v1::ModelSpec& a,
                      const mlp::v1::ModelSpec& b) {
  if (a.input_size() != b.input_size() || a.layers_size() != b.layers_size() ||
      a.loss() != b.loss() || a.init() != b.init() ||
      (!a.has_bias() || a.bias()) != (!b.has_bias() || b.bias())) {
    return false;
  }
  for (int i = 0; i < a.layers_size(); ++i) {
    if (a.layers(i).units() != b.layers(i).units() ||
        a.layers(i).activation() != b.layers(i).activation()) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<DemoModel> CreateDemoModel(
    Connection& connection, const mlp::v1::CreateModelRequest& request) {
  DemoModel result;
  mlp::v1::GetModelRequest get;
  get.set_name(request.name());
  absl::StatusOr<mlp::v1::ModelInfo> existing =
      connection.Call(&ModelService::Stub::GetModel, get);
  if (existing.ok()) {
    if (!SameArchitecture(existing->spec(), request.spec())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model '", request.name(), "' exists and is not this demo's (",
          FormatArchitecture(existing->spec()),
          "); a demo never replaces another model: choose another --name"));
    }
    mlp::v1::DeleteModelRequest remove;
    remove.set_name(request.name());
    auto removed = connection.Call(&ModelService::Stub::DeleteModel, remove);
    if (!removed.ok() &&
        removed.status().code() != absl::StatusCode::kNotFound) {
      return removed.status();
    }
    result.replaced = true;
  } else if (existing.status().code() != absl::StatusCode::kNotFound) {
    return existing.status();
  }
  MLP_ASSIGN_OR_RETURN(
      result.model, connection.Call(&ModelService::Stub::CreateModel, request));
  return result;
}

namespace {

// After a Ctrl-C: waits (up to 10 s) until the server has stopped the
// training, then says whether it committed anything. A cancel normally stops
// it with nothing committed; one that lands while the new version is being
// renamed into place is too late, and the version stands.
std::string WhatTheCancelKept(Connection& connection,
                              const mlp::v1::ModelInfo& before) {
  mlp::v1::GetModelRequest get;
  get.set_name(before.name());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    absl::StatusOr<mlp::v1::ModelInfo> now =
        connection.Call(&ModelService::Stub::GetModel, get);
    if (!now.ok()) {
      return absl::StrCat("could not confirm what was committed: ",
                          now.status().message());
    }
    if (now->state() != mlp::v1::TRAINING) {
      if (now->version() == before.version()) return "nothing was committed";
      return absl::StrCat("it was already committing: version ", now->version(),
                          " was committed");
    }
    if (absl::Now() >= deadline) {
      return absl::StrCat(
          "the server is still stopping the training; see `mlp "
          "show ",
          before.name(), "`");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace

absl::StatusOr<mlp::v1::TrainProgress> RunTraining(
    Connection& connection, const mlp::v1::TrainRequest& request,
    const mlp::v1::ModelInfo& model, const TrainView& view, std::ostream& out) {
  const mlp::v1::ModelSpec& spec = model.spec();
  TrainDisplay::Options options;
  options.json = view.json;
  options.terminal = view.terminal;
  options.live = view.live;
  options.plot = view.plot;
  options.classification = IsClassifier(spec);
  options.validation = request.options().validation_fraction() > 0;
  options.max_epochs = request.options().max_epochs() > 0
                           ? request.options().max_epochs()
                           : 10;  // the server's default
  options.metrics_path = view.metrics_path;
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<TrainDisplay> display,
                       TrainDisplay::Create(options, out));
  MLP_RETURN_IF_ERROR(connection.Connect());

  std::unique_ptr<grpc::ClientContext> context = connection.StreamContext();
  grpc::ClientContext* raw_context = context.get();
  const InterruptWatcher::Scope cancel_on_interrupt =
      connection.interrupts().OnInterrupt(
          [raw_context] { raw_context->TryCancel(); });
  auto stream = connection.models().Train(context.get(), request);

  mlp::v1::TrainProgress progress;
  mlp::v1::TrainProgress last;
  bool any = false;
  absl::Status shown = absl::OkStatus();
  while (stream->Read(&progress)) {
    last = progress;
    any = true;
    shown = display->Update(progress);
    if (!shown.ok()) {
      // Without its metrics file the training is not what was asked for.
      context->TryCancel();
      break;
    }
  }
  const grpc::Status status = stream->Finish();
  display->Finish(any ? &last : nullptr);
  MLP_RETURN_IF_ERROR(shown);
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::CANCELLED &&
        connection.interrupts().interrupted()) {
      return CancelledByUser("training", WhatTheCancelKept(connection, model));
    }
    return connection.Error(status);
  }
  if (!any || !last.done()) {
    return absl::UnavailableError(
        "the training stream ended without its final message");
  }
  if (last.stop_reason() == mlp::v1::CANCELLED && last.version() == 0) {
    // The server stopped it: the model was deleted or the server is shutting
    // down. Scripts must not mistake that for a finished training.
    return absl::AbortedError(
        "the server cancelled the training (model deleted or server "
        "stopping); nothing was committed");
  }
  return last;
}

absl::StatusOr<mlp::v1::DatasetInfo> UploadDataset(Connection& connection,
                                                   const std::string& name,
                                                   RowSource& source,
                                                   bool show_progress) {
  MLP_RETURN_IF_ERROR(connection.Connect());
  std::unique_ptr<grpc::ClientContext> context = connection.StreamContext();
  grpc::ClientContext* raw_context = context.get();
  const InterruptWatcher::Scope cancel_on_interrupt =
      connection.interrupts().OnInterrupt(
          [raw_context] { raw_context->TryCancel(); });
  mlp::v1::DatasetInfo info;
  auto writer = connection.models().UploadDataset(context.get(), &info);

  mlp::v1::UploadDatasetRequest message;
  auto* header = message.mutable_header();
  header->set_name(name);
  header->set_input_size(static_cast<uint32_t>(source.input_size()));
  header->set_target_size(static_cast<uint32_t>(source.target_size()));
  bool open = writer->Write(message);

  const size_t batch = RowsPerBatch(source, kMaxBatchBytes);
  std::vector<float> inputs;
  std::vector<float> targets;
  absl::Status local = absl::OkStatus();
  int shown_percent = -1;
  while (open && !connection.interrupts().interrupted()) {
    inputs.clear();
    targets.clear();
    absl::StatusOr<size_t> rows = source.Read(batch, &inputs, &targets);
    if (!rows.ok()) {
      local = rows.status();
      break;
    }
    if (*rows == 0) break;
    auto* chunk = message.mutable_chunk();
    SetMatrix(static_cast<int64_t>(*rows), source.input_size(), inputs,
              chunk->mutable_inputs());
    SetMatrix(static_cast<int64_t>(*rows), source.target_size(), targets,
              chunk->mutable_targets());
    open = writer->Write(message);
    const int percent = static_cast<int>(100 * source.fraction_read());
    if (show_progress && percent != shown_percent) {
      std::cout << "\r\033[Kuploading '" << name << "': " << percent << "%"
                << std::flush;
      shown_percent = percent;
    }
  }
  if (show_progress) std::cout << "\r\033[K" << std::flush;
  // A half-read file must not become a dataset: cancel rather than finish.
  const bool cancel = !local.ok() || connection.interrupts().interrupted();
  if (cancel) {
    context->TryCancel();
  } else if (open) {
    writer->WritesDone();
  }
  const grpc::Status status = writer->Finish();
  MLP_RETURN_IF_ERROR(local);
  if (connection.interrupts().interrupted()) {
    // A Ctrl-C after the last chunk may come after the server committed.
    return CancelledByUser(
        "upload", status.ok() ? absl::StrCat("it had already finished: "
                                             "dataset '",
                                             name, "' was created")
                              : "no dataset was created");
  }
  if (!status.ok()) return connection.Error(status);
  return info;
}

bool RightClass(const float* y, int outputs, const float* t, int targets) {
  if (outputs == 1) return (y[0] >= 0.5f) == (t[0] >= 0.5f);
  if (targets == 1) {
    return ArgMax(y, outputs) == static_cast<int>(std::lround(t[0]));
  }
  return ArgMax(y, outputs) == ArgMax(t, outputs);
}

absl::StatusOr<Evaluation> Evaluate(Connection& connection,
                                    const mlp::v1::ModelInfo& model,
                                    uint64_t version, RowSource& source) {
  Evaluation result;
  result.version = version;
  result.classifier = IsClassifier(model.spec());
  const int targets_per_row = source.target_size();
  if (targets_per_row == 0) {
    return absl::InvalidArgumentError(
        "evaluation needs targets: --targets COLS or --labels FILE");
  }
  const size_t batch = RowsPerBatch(source, kMaxBatchBytes);
  std::vector<float> inputs;
  std::vector<float> targets;
  double squared_error = 0;
  int outputs = 0;
  for (;;) {
    inputs.clear();
    targets.clear();
    MLP_ASSIGN_OR_RETURN(const size_t rows,
                         source.Read(batch, &inputs, &targets));
    if (rows == 0) break;
    mlp::v1::PredictRequest request;
    request.set_model(model.name());
    // Pinned after the first answer so a training that commits meanwhile
    // cannot mix two versions into one figure.
    request.set_version(result.version);
    SetMatrix(static_cast<int64_t>(rows), source.input_size(), inputs,
              request.mutable_inputs());
    MLP_ASSIGN_OR_RETURN(
        mlp::v1::PredictResponse response,
        connection.Call(&ModelService::Stub::Predict, request));
    result.version = response.version();
    outputs = static_cast<int>(response.outputs().values_size() / rows);
    if (outputs == 0 || (targets_per_row != outputs && targets_per_row != 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the data has ", targets_per_row, " targets per row but model '",
          model.name(), "' has ", outputs, " outputs"));
    }
    const float* out = response.outputs().values().data();
    for (size_t r = 0; r < rows; ++r) {
      const float* y = out + r * outputs;
      const float* t = targets.data() + r * targets_per_row;
      if (result.classifier) {
        result.correct += RightClass(y, outputs, t, targets_per_row) ? 1 : 0;
      }
      if (targets_per_row == outputs) {
        for (int o = 0; o < outputs; ++o) {
          squared_error += (y[o] - t[o]) * double{y[o] - t[o]};
        }
      }
    }
    result.rows += rows;
  }
  if (result.rows == 0) {
    return absl::InvalidArgumentError("the data has no rows");
  }
  // Class indices have no squared error; one-hot rows and values do.
  if (targets_per_row == outputs) {
    result.mean_squared_error =
        squared_error / (static_cast<double>(result.rows) * outputs);
  }
  return result;
}

}  // namespace mlp::cli
