// Everything the CLI prints on stdout: JSON for scripts (--json), aligned
// tables and matrices for people.
#ifndef MLP_CLIENT_OUTPUT_H_
#define MLP_CLIENT_OUTPUT_H_

#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "mlp/v1/mlp.pb.h"

namespace mlp::cli {

// One message as one line of JSON: proto field names, zero values included,
// so every line of a stream parses on its own. 64-bit integers (versions,
// row counts, seeds) are JSON numbers, written exactly, for every command;
// the proto3 JSON mapping would make them strings.
std::string ToJson(const google::protobuf::Message& message);

// A `mlp train --json` line: ToJson without the fields that do not apply.
// stop_reason, version and epochs_run are on the final (done) line only,
// accuracies only for classifiers, validation figures only with a
// validation split.
std::string FormatProgressJson(const mlp::v1::TrainProgress& progress,
                               bool classification, bool validation);

// Rows of cells as columns aligned on the widest cell; the first row is the
// header. Each line ends with '\n'; trailing blanks are trimmed.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// A value with `digits` significant digits, in the shortest of fixed and
// scientific notation ("0.5", "1.25e-05").
std::string FormatNumber(double value, int digits = 6);

// "2024-05-01 12:00:00 UTC", or "-" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& time);

// "1.5 MB".
std::string FormatBytes(uint64_t bytes);

// "3 -> 4 relu -> 1 linear".
std::string FormatArchitecture(const mlp::v1::ModelSpec& spec);

// The same as `mlp create` spells it: "3 4:relu 1:linear".
std::string FormatLayers(const mlp::v1::ModelSpec& spec);

// The longest line of `text`, in bytes.
size_t WidestLine(const std::string& text);

// A [rows, cols] (or [n]) tensor as right-aligned columns, one row per line,
// each line starting with `indent`.
std::string FormatMatrix(const mlp::v1::Tensor& tensor,
                         const std::string& indent);

// The initialisation the model's weights were drawn with: the spec's, or
// for INIT_UNSPECIFIED the API's rule applied per layer (he for a relu
// layer, xavier otherwise): "auto: he, xavier (he for relu layers, xavier
// otherwise)".
std::string FormatInit(const mlp::v1::ModelSpec& spec);

// `mlp show`: the model's properties, one per line.
std::string FormatModel(const mlp::v1::ModelInfo& model);

// `mlp show`'s last lines: where the Open Inference Protocol serves the
// model, over gRPC at `server` and over HTTP on `http_port` of the same host
// (the server's --http_address; the CLI cannot ask for it):
//   v2 gRPC:  127.0.0.1:50051  inference.GRPCInferenceService  model_name
//   "xnor" v2 HTTP:  http://127.0.0.1:8000/v2/models/xnor/infer
// A --server with a scheme (dns:///host:port) gives HOST in the URL.
std::string FormatServingUrls(const std::string& model,
                              const std::string& server, int http_port);

// `mlp list`: one row per model, in the fullest of a few layouts that fits
// `width` columns (full names and times; then the layers as `mlp create`
// spells them, short loss names and times to the minute; then without the
// parameter count; then name, version, state and layers alone).
std::string FormatModelList(const mlp::v1::ListModelsResponse& list, int width);

// `mlp weights`: every layer's weight matrix [inputs x units] and bias.
std::string FormatWeights(const mlp::v1::GetWeightsResponse& weights);

// `mlp dataset list` and `mlp dataset upload`.
std::string FormatDatasetList(const mlp::v1::ListDatasetsResponse& list);
std::string FormatDataset(const mlp::v1::DatasetInfo& dataset);

// Whether stdout is a terminal (progress bars, curves) or a pipe (plain
// lines for scripts and logs).
bool StdoutIsTerminal();

// Columns available on stdout: the terminal's (TIOCGWINSZ), else $COLUMNS,
// else 80. What is printed for people fits in it.
int TerminalWidth();

}  // namespace mlp::cli

#endif  // MLP_CLIENT_OUTPUT_H_
