#include "client/output.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/names.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace mlp::cli {

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Turns the 64-bit integers of `json`, the proto3 JSON of a message of type
// `descriptor` (proto field names), from strings into numbers.
void Int64sAsNumbers(const Descriptor& descriptor,
                     nlohmann::ordered_json& json) {
  if (!json.is_object()) return;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    const auto found = json.find(field.name());
    if (found == json.end() || field.is_map()) continue;
    auto convert = [&field](nlohmann::ordered_json& value) {
      switch (field.cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT64: {
          int64_t number = 0;
          if (value.is_string() &&
              absl::SimpleAtoi(value.get<std::string>(), &number)) {
            value = number;
          }
          break;
        }
        case FieldDescriptor::CPPTYPE_UINT64: {
          uint64_t number = 0;
          if (value.is_string() &&
              absl::SimpleAtoi(value.get<std::string>(), &number)) {
            value = number;
          }
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          // Well-known types (Timestamp, Struct) have JSON forms of their
          // own.
          if (!absl::StartsWith(field.message_type()->full_name(),
                                "google.protobuf.")) {
            Int64sAsNumbers(*field.message_type(), value);
          }
          break;
        default:
          break;
      }
    };
    if (field.is_repeated()) {
      for (auto& element : *found) convert(element);
    } else {
      convert(*found);
    }
  }
}

nlohmann::ordered_json ToJsonObject(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = true;
  std::string text;
  // Fails only for messages the JSON mapping cannot express (none of ours).
  if (!google::protobuf::util::MessageToJsonString(message, &text, options)
           .ok()) {
    return nlohmann::ordered_json::object();
  }
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(
      text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return nlohmann::ordered_json::object();
  Int64sAsNumbers(*message.GetDescriptor(), json);
  return json;
}

std::string Dump(const nlohmann::ordered_json& json) {
  return json.dump(-1, ' ', false,
                   nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  return Dump(ToJsonObject(message));
}

std::string FormatProgressJson(const mlp::v1::TrainProgress& progress,
                               bool classification, bool validation) {
  nlohmann::ordered_json json = ToJsonObject(progress);
  if (!progress.done()) {
    for (const char* key : {"stop_reason", "version", "epochs_run"}) {
      json.erase(key);
    }
  }
  if (!classification) {
    json.erase("accuracy");
    json.erase("validation_accuracy");
  }
  if (!validation) {
    json.erase("validation_loss");
    json.erase("validation_accuracy");
  }
  return Dump(json);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i],
                      std::string(widths[i] - row[i].size() + 2, ' '));
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string FormatNumber(double value, int digits) {
  return absl::StrFormat("%.*g", digits, value);
}

std::string FormatTimestamp(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

namespace {

// "2024-05-01 12:00", UTC; "-" when unset.
std::string FormatTimestampToTheMinute(
    const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M",
                          absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, units[unit]);
}

std::string FormatArchitecture(const mlp::v1::ModelSpec& spec) {
  std::string out = absl::StrCat(spec.input_size());
  for (const auto& layer : spec.layers()) {
    absl::StrAppend(&out, " -> ", layer.units(), " ",
                    ActivationName(layer.activation()));
  }
  return out;
}

std::string FormatLayers(const mlp::v1::ModelSpec& spec) {
  std::string out = absl::StrCat(spec.input_size());
  for (const auto& layer : spec.layers()) {
    absl::StrAppend(&out, " ", layer.units(), ":",
                    ActivationName(layer.activation()));
  }
  return out;
}

size_t WidestLine(const std::string& text) {
  size_t widest = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    widest = std::max(widest, line.size());
  }
  return widest;
}

std::string FormatMatrix(const mlp::v1::Tensor& tensor,
                         const std::string& indent) {
  const int64_t cols = tensor.shape_size() >= 2
                           ? tensor.shape(tensor.shape_size() - 1)
                           : tensor.values_size();
  if (cols <= 0 || tensor.values_size() == 0) return indent + "(empty)\n";
  std::vector<std::string> cells;
  size_t width = 0;
  for (float value : tensor.values()) {
    cells.push_back(absl::StrFormat("%.6g", value));
    width = std::max(width, cells.back().size());
  }
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i % cols == 0) absl::StrAppend(&out, indent);
    absl::StrAppend(&out, std::string(width - cells[i].size(), ' '), cells[i]);
    absl::StrAppend(&out, (i + 1) % cols == 0 ? "\n" : "  ");
  }
  if (cells.size() % cols != 0) out += "\n";
  return out;
}

std::string FormatInit(const mlp::v1::ModelSpec& spec) {
  if (spec.init() != mlp::v1::INIT_UNSPECIFIED) return InitName(spec.init());
  std::vector<std::string> per_layer;
  for (const auto& layer : spec.layers()) {
    per_layer.push_back(InitName(layer.activation() == mlp::v1::RELU
                                     ? mlp::v1::HE_NORMAL
                                     : mlp::v1::XAVIER_UNIFORM));
  }
  return absl::StrCat("auto: ", absl::StrJoin(per_layer, ", "), " (",
                      InitName(mlp::v1::HE_NORMAL), " for relu layers, ",
                      InitName(mlp::v1::XAVIER_UNIFORM), " otherwise)");
}

std::string FormatModel(const mlp::v1::ModelInfo& model) {
  const auto& spec = model.spec();
  std::vector<std::vector<std::string>> rows = {
      {"name:", model.name()},
      {"layers:", FormatArchitecture(spec)},
      {"loss:", LossName(spec.loss())},
      {"bias:", spec.has_bias() && !spec.bias() ? "no" : "yes"},
      {"init:", FormatInit(spec)},
      {"seed:", absl::StrCat(spec.seed())},
      {"parameters:", absl::StrCat(model.parameter_count())},
      {"version:", absl::StrCat(model.version())},
      {"versions kept:", absl::StrJoin(model.available_versions(), ", ")},
      {"state:", StateName(model.state())},
      {"created:", FormatTimestamp(model.created_at())},
      {"updated:", FormatTimestamp(model.updated_at())},
  };
  if (model.has_last_training()) {
    const auto& last = model.last_training();
    rows.push_back(
        {"last training:", absl::StrCat(last.epochs(), " epochs, loss ",
                                        FormatNumber(last.final_loss()), ", ",
                                        StopReasonName(last.stop_reason()))});
  }
  return FormatTable(rows);
}

std::string FormatServingUrls(const std::string& model,
                              const std::string& server, int http_port) {
  std::string host = "HOST";
  const size_t colon = server.rfind(':');
  if (server.find("://") == std::string::npos && colon != std::string::npos &&
      colon > 0) {
    host = server.substr(0, colon);
  }
  return FormatTable({
      {"v2 gRPC:",
       absl::StrCat(server, "  inference.GRPCInferenceService  model_name \"",
                    model, "\"")},
      {"v2 HTTP:", absl::StrCat("http://", host, ":", http_port, "/v2/models/",
                                model, "/infer")},
  });
}

std::string FormatModelList(const mlp::v1::ListModelsResponse& list,
                            int width) {
  if (list.models().empty()) return "no models\n";
  enum Layout { kFull, kCompact, kNoParams, kNarrowest };
  std::string out;
  for (Layout layout : {kFull, kCompact, kNoParams, kNarrowest}) {
    const bool full = layout == kFull;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> header = {"NAME", full ? "VERSION" : "VER",
                                       "STATE", "LAYERS"};
    if (layout != kNarrowest) {
      header.push_back("LOSS");
      if (layout != kNoParams) header.push_back("PARAMS");
      header.push_back(full ? "UPDATED" : "UPDATED (UTC)");
    }
    rows.push_back(header);
    for (const auto& model : list.models()) {
      std::vector<std::string> row = {
          model.name(), absl::StrCat(model.version()), StateName(model.state()),
          full ? FormatArchitecture(model.spec()) : FormatLayers(model.spec())};
      if (layout != kNarrowest) {
        row.push_back(full ? LossName(model.spec().loss())
                           : LossShortName(model.spec().loss()));
        if (layout != kNoParams) {
          row.push_back(absl::StrCat(model.parameter_count()));
        }
        row.push_back(full ? FormatTimestamp(model.updated_at())
                           : FormatTimestampToTheMinute(model.updated_at()));
      }
      rows.push_back(std::move(row));
    }
    out = FormatTable(rows);
    if (static_cast<int>(WidestLine(out)) <= width) break;
  }
  return out;
}

std::string FormatWeights(const mlp::v1::GetWeightsResponse& weights) {
  std::string out = absl::StrCat("version ", weights.version(), "\n");
  int number = 0;
  for (const auto& layer : weights.layers()) {
    ++number;
    const auto& shape = layer.weights().shape();
    const std::string size =
        shape.size() == 2 ? absl::StrCat(shape[0], " x ", shape[1]) : "?";
    absl::StrAppend(&out, "\nlayer ", number, ": weights [", size, "], ",
                    ActivationName(layer.activation()), "\n",
                    FormatMatrix(layer.weights(), "  "));
    if (layer.bias().values_size() > 0) {
      absl::StrAppend(&out, "  bias\n", FormatMatrix(layer.bias(), "  "));
    }
  }
  return out;
}

std::string FormatDatasetList(const mlp::v1::ListDatasetsResponse& list) {
  if (list.datasets().empty()) return "no datasets\n";
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "ROWS", "INPUTS", "TARGETS", "SIZE", "CREATED"}};
  for (const auto& dataset : list.datasets()) {
    rows.push_back({dataset.name(), absl::StrCat(dataset.rows()),
                    absl::StrCat(dataset.input_size()),
                    absl::StrCat(dataset.target_size()),
                    FormatBytes(dataset.size_bytes()),
                    FormatTimestamp(dataset.created_at())});
  }
  return FormatTable(rows);
}

std::string FormatDataset(const mlp::v1::DatasetInfo& dataset) {
  return absl::StrCat("dataset '", dataset.name(), "': ", dataset.rows(),
                      " rows, ", dataset.input_size(), " inputs, ",
                      dataset.target_size(), " targets, ",
                      FormatBytes(dataset.size_bytes()), "\n");
}

bool StdoutIsTerminal() { return isatty(STDOUT_FILENO) == 1; }

int TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20) {
    return size.ws_col;
  }
  int columns = 0;
  const char* from_environment = std::getenv("COLUMNS");
  if (from_environment != nullptr &&
      absl::SimpleAtoi(from_environment, &columns) && columns > 20) {
    return columns;
  }
  return 80;
}

}  // namespace mlp::cli
