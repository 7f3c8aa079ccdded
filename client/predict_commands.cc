// mlp predict | evaluate
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/operations.h"
#include "client/output.h"
#include "client/parse.h"
#include "client/rows.h"
#include "client/status.h"
#include "google/protobuf/struct.pb.h"

namespace mlp::cli {
namespace {

using mlp::v1::ModelService;

struct PredictOptions {
  std::string model;
  std::vector<std::string> inputs;  // --input 1,1,1 (repeatable)
  DataFiles data;
  uint64_t version = 0;
};

// The --input rows as one [N, F] tensor; F from the first row.
absl::StatusOr<mlp::v1::Tensor> InputTensor(
    const std::vector<std::string>& rows) {
  mlp::v1::Tensor tensor;
  size_t width = 0;
  for (const std::string& text : rows) {
    absl::StatusOr<std::vector<float>> values = ParseNumberList(text);
    if (!values.ok()) {
      return UsageError(absl::StrCat("--input: ", values.status().message()));
    }
    if (width == 0) width = values->size();
    if (values->size() != width) {
      return UsageError(absl::StrCat("--input '", text, "' has ",
                                     values->size(), " values, the first has ",
                                     width));
    }
    tensor.mutable_values()->Add(values->begin(), values->end());
  }
  tensor.add_shape(static_cast<int64_t>(rows.size()));
  tensor.add_shape(static_cast<int64_t>(width));
  return tensor;
}

std::string FormatRow(const float* values, int64_t count) {
  std::vector<std::string> cells;
  for (int64_t i = 0; i < count; ++i) {
    cells.push_back(absl::StrFormat("%.6g", values[i]));
  }
  return absl::StrJoin(cells, " ");
}

// The targets read with the rows, when the data has some (--labels,
// --targets): shown next to each prediction.
struct Targets {
  std::vector<float> values;
  int per_row = 0;
  bool classifier = false;  // right/WRONG per row
};

// How much of each row's outputs is shown.
enum class OutputLayout {
  kAll,       // every output, six digits
  kCompact,   // every output, three decimals (probabilities) or digits
  kShort,     // every output, two decimals (probabilities) or digits
  kTopClass,  // the highest output alone, next to its class
};

// One line per row: its inputs (or number), its outputs and, for a model
// with several outputs, the class with the highest one; then the target and,
// for a classifier, whether the prediction is right. The first layout whose
// lines fit `width` columns.
std::string FormatPredictions(const mlp::v1::Tensor& inputs,
                              const mlp::v1::Tensor& outputs, bool show_inputs,
                              const Targets& targets, int width) {
  const int64_t rows = outputs.shape_size() > 0 ? outputs.shape(0) : 0;
  const int64_t outputs_per_row = rows > 0 ? outputs.values_size() / rows : 0;
  const int64_t in_width = rows > 0 ? inputs.values_size() / rows : 0;
  const bool with_targets =
      targets.per_row > 0 &&
      targets.values.size() == static_cast<size_t>(rows * targets.per_row);
  const bool probabilities =
      std::all_of(outputs.values().begin(), outputs.values().end(),
                  [](float v) { return v >= 0 && v <= 1; });
  std::string out;
  for (OutputLayout layout : {OutputLayout::kAll, OutputLayout::kCompact,
                              OutputLayout::kShort, OutputLayout::kTopClass}) {
    if (layout == OutputLayout::kTopClass && outputs_per_row < 2) break;
    const bool top_only = layout == OutputLayout::kTopClass;
    // Compact cells are right-aligned within their column.
    const int digits = layout == OutputLayout::kShort ? 2 : 3;
    auto cell = [&](float value) {
      if (layout == OutputLayout::kAll) return absl::StrFormat("%.6g", value);
      return probabilities ? absl::StrFormat("%.*f", digits, value)
                           : absl::StrFormat("%.*g", digits, value);
    };
    size_t cell_width = 0;
    for (float value : outputs.values()) {
      cell_width = std::max(cell_width, cell(value).size());
    }
    std::vector<std::vector<std::string>> table = {
        {show_inputs ? "INPUT" : "ROW"}};
    if (outputs_per_row > 1) table[0].push_back("CLASS");
    table[0].push_back(top_only ? "OUTPUT OF CLASS" : "OUTPUTS");
    if (with_targets) table[0].push_back("TARGET");
    for (int64_t r = 0; r < rows; ++r) {
      const float* y = outputs.values().data() + r * outputs_per_row;
      const int64_t top = std::max_element(y, y + outputs_per_row) - y;
      std::vector<std::string> line = {
          show_inputs
              ? FormatRow(inputs.values().data() + r * in_width, in_width)
              : absl::StrCat(r + 1)};
      if (outputs_per_row > 1) line.push_back(absl::StrCat(top));
      if (top_only) {
        line.push_back(cell(y[top]));
      } else {
        std::vector<std::string> cells;
        for (int64_t o = 0; o < outputs_per_row; ++o) {
          const std::string text = cell(y[o]);
          cells.push_back(layout == OutputLayout::kAll
                              ? text
                              : std::string(cell_width - text.size(), ' ') +
                                    text);
        }
        line.push_back(absl::StrJoin(cells, " "));
      }
      if (with_targets) {
        const float* t = targets.values.data() + r * targets.per_row;
        line.push_back(FormatRow(t, targets.per_row));
        if (targets.classifier) {
          line.push_back(RightClass(y, static_cast<int>(outputs_per_row), t,
                                    targets.per_row)
                             ? "right"
                             : "WRONG");
        }
      }
      table.push_back(std::move(line));
    }
    out = FormatTable(table);
    if (static_cast<int>(WidestLine(out)) <= width) break;
  }
  return out;
}

absl::Status RunPredict(const PredictOptions& options,
                        const GlobalOptions& global) {
  mlp::v1::PredictRequest request;
  request.set_model(options.model);
  request.set_version(options.version);
  mlp::v1::PredictResponse all;  // what is printed: every row's outputs
  mlp::v1::Tensor all_inputs;
  Targets all_targets;
  Connection connection(global);
  if (!options.inputs.empty()) {
    MLP_ASSIGN_OR_RETURN(*request.mutable_inputs(),
                         InputTensor(options.inputs));
    MLP_ASSIGN_OR_RETURN(
        all, connection.Call(&ModelService::Stub::Predict, request));
    all_inputs = request.inputs();
  } else {
    MLP_ASSIGN_OR_RETURN(std::unique_ptr<RowSource> source,
                         OpenRows(options.data));
    all_targets.per_row = source->target_size();
    if (all_targets.per_row > 0 && !global.json) {
      mlp::v1::GetModelRequest get;
      get.set_name(options.model);
      MLP_ASSIGN_OR_RETURN(mlp::v1::ModelInfo model,
                           connection.Call(&ModelService::Stub::GetModel, get));
      all_targets.classifier = IsClassifier(model.spec());
    }
    const size_t batch = RowsPerBatch(*source, kMaxBatchBytes);
    std::vector<float> inputs;
    int64_t rows = 0;
    int64_t width = 0;
    for (;;) {
      inputs.clear();
      MLP_ASSIGN_OR_RETURN(const size_t read,
                           source->Read(batch, &inputs, &all_targets.values));
      if (read == 0) break;
      mlp::v1::Tensor& tensor = *request.mutable_inputs();
      tensor.Clear();
      tensor.add_shape(static_cast<int64_t>(read));
      tensor.add_shape(source->input_size());
      tensor.mutable_values()->Assign(inputs.begin(), inputs.end());
      MLP_ASSIGN_OR_RETURN(
          mlp::v1::PredictResponse response,
          connection.Call(&ModelService::Stub::Predict, request));
      // Every later batch asks for the version that answered the first.
      request.set_version(response.version());
      all.set_version(response.version());
      all.mutable_outputs()->mutable_values()->MergeFrom(
          response.outputs().values());
      rows += static_cast<int64_t>(read);
      width = response.outputs().shape_size() == 2 ? response.outputs().shape(1)
                                                   : 0;
    }
    if (rows == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.data.path, ": no rows"));
    }
    all.mutable_outputs()->add_shape(rows);
    all.mutable_outputs()->add_shape(width);
  }
  if (global.json) {
    std::cout << ToJson(all) << "\n";
  } else {
    std::cout << "version " << all.version() << "\n"
              << FormatPredictions(all_inputs, all.outputs(),
                                   !options.inputs.empty(), all_targets,
                                   TerminalWidth());
  }
  return absl::OkStatus();
}

absl::Status RunEvaluate(const std::string& name, const DataFiles& files,
                         uint64_t version, const GlobalOptions& global) {
  Connection connection(global);
  mlp::v1::GetModelRequest get;
  get.set_name(name);
  MLP_ASSIGN_OR_RETURN(mlp::v1::ModelInfo model,
                       connection.Call(&ModelService::Stub::GetModel, get));
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<RowSource> source, OpenRows(files));
  MLP_ASSIGN_OR_RETURN(Evaluation result,
                       Evaluate(connection, model, version, *source));
  const double accuracy =
      static_cast<double>(result.correct) / static_cast<double>(result.rows);
  if (global.json) {
    google::protobuf::Struct json;
    auto& fields = *json.mutable_fields();
    fields["model"].set_string_value(name);
    fields["version"].set_number_value(static_cast<double>(result.version));
    fields["rows"].set_number_value(static_cast<double>(result.rows));
    if (result.classifier) {
      fields["correct"].set_number_value(static_cast<double>(result.correct));
      fields["accuracy"].set_number_value(accuracy);
    } else {
      fields["mean_squared_error"].set_number_value(result.mean_squared_error);
    }
    std::cout << ToJson(json) << "\n";
  } else if (result.classifier) {
    std::cout << absl::StrFormat(
        "model '%s' version %d: accuracy %.2f%% (%d of %d rows right)\n", name,
        result.version, 100 * accuracy, result.correct, result.rows);
  } else {
    std::cout << absl::StrFormat(
        "model '%s' version %d: mean squared error %.6g over %d rows\n", name,
        result.version, result.mean_squared_error, result.rows);
  }
  return absl::OkStatus();
}

void AddDataOptions(CLI::App* command, DataFiles* files, bool need_targets) {
  CLI::Option* data = command->add_option(
      "--data", files->path,
      need_targets ? "a CSV file (with --targets) or IDX images (with "
                     "--labels), plain or gzip-compressed"
                   : "a CSV file or IDX images (plain or "
                     "gzip-compressed)");
  data->required(need_targets);
  CLI::Option* targets = command->add_option(
      "--targets", files->targets,
      need_targets ? "CSV target columns: 0-based indices (-1 = last) or "
                     "header names, comma-separated"
                   : "CSV target columns, not inputs: 0-based indices (-1 = "
                     "last) or header names; shown next to the predictions");
  CLI::Option* labels =
      command->add_option("--labels", files->labels,
                          need_targets ? "IDX labels file"
                                       : "IDX labels file; shown next to the "
                                         "predictions");
  targets->needs(data)->excludes(labels);
  labels->needs(data);
}

}  // namespace

void AddPredictCommands(CLI::App& app, GlobalOptions& global, Action* action) {
  {
    auto o = std::make_shared<PredictOptions>();
    CLI::App* predict = app.add_subcommand(
        "predict", "run a model on rows given inline or in a file");
    predict->add_option("name", o->model, "model name")->required();
    CLI::Option* input =
        predict
            ->add_option("--input", o->inputs,
                         "one sample as comma-separated values; repeatable")
            ->take_all()
            ->expected(1)
            ->allow_extra_args(false);
    AddDataOptions(predict, &o->data, /*need_targets=*/false);
    predict->add_option("--version", o->version, "version (default: latest)");
    input->excludes(predict->get_option("--data"));
    predict->callback([o, &global, action] {
      *action = [o, &global]() -> absl::Status {
        if (o->inputs.empty() && o->data.path.empty()) {
          return UsageError("predict needs --input VALUES or --data FILE");
        }
        return RunPredict(*o, global);
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto files = std::make_shared<DataFiles>();
    auto version = std::make_shared<uint64_t>(0);
    CLI::App* evaluate = app.add_subcommand(
        "evaluate",
        "accuracy (classifiers) or mean squared error of a model on "
        "labelled data");
    evaluate->add_option("name", *name, "model name")->required();
    AddDataOptions(evaluate, files.get(), /*need_targets=*/true);
    evaluate->add_option("--version", *version, "version (default: latest)");
    evaluate->callback([name, files, version, &global, action] {
      *action = [name, files, version, &global]() -> absl::Status {
        if (files->targets.empty() == files->labels.empty()) {
          return UsageError(
              "evaluate needs either --targets COLS (CSV) or --labels FILE "
              "(IDX)");
        }
        return RunEvaluate(*name, *files, *version, global);
      };
    });
  }
}

}  // namespace mlp::cli
