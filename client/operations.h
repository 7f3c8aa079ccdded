// Multi-call operations that several commands share: training with live
// progress, uploading a dataset, evaluating a model on labelled rows.
#ifndef MLP_CLIENT_OPERATIONS_H_
#define MLP_CLIENT_OPERATIONS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/connection.h"
#include "client/rows.h"
#include "mlp/v1/mlp.pb.h"

namespace mlp::cli {

// Stays well under any sensible gRPC message limit (the server's default is
// 64 MiB) while keeping the per-message overhead negligible.
inline constexpr size_t kMaxBatchBytes = size_t{1} << 20;

// Whether the model's loss makes accuracy meaningful.
bool IsClassifier(const mlp::v1::ModelSpec& spec);

// Reads every row of `source` into one TrainingData ([N, inputs] and
// [N, targets] tensors). INVALID_ARGUMENT "ORIGIN: no rows" if the source
// has none, or the source's own error.
absl::StatusOr<mlp::v1::TrainingData> ReadAll(RowSource& source,
                                              absl::string_view origin);

// Whether two specs describe the same network: input size, layers, loss,
// bias and init (not the seed).
bool SameArchitecture(const mlp::v1::ModelSpec& a, const mlp::v1::ModelSpec& b);

struct DemoModel {
  mlp::v1::ModelInfo model;
  bool replaced = false;  // an earlier run's model was deleted first
};

// Creates the model a demo trains. A model of that name with the same
// architecture is an earlier run's and is replaced (its training, if any,
// is cancelled); one with another architecture is someone's own and is left
// alone: FAILED_PRECONDITION naming it and the way out (--name).
absl::StatusOr<DemoModel> CreateDemoModel(
    Connection& connection, const mlp::v1::CreateModelRequest& request);

struct TrainView {
  bool json = false;
  bool terminal = false;  // progress bar
  bool live = false;      // on a terminal, one line redrawn per epoch
  bool plot = false;      // loss curve at the end
  std::string metrics_path;
};

// Runs a Train stream of `model` (as it was before the training), showing
// each message on `out` as it arrives. Ctrl-C cancels the stream: CANCELLED
// then, once the server has confirmed what it kept (nothing, unless the
// cancel landed as the training was committing). Returns the final (done)
// message; ABORTED if the server cancelled the training (model deleted,
// server stopping).
absl::StatusOr<mlp::v1::TrainProgress> RunTraining(
    Connection& connection, const mlp::v1::TrainRequest& request,
    const mlp::v1::ModelInfo& model, const TrainView& view, std::ostream& out);

// Streams `source` to the server as dataset `name` in chunks of at most
// kMaxBatchBytes. A local read error or Ctrl-C cancels the upload, which
// leaves nothing behind on the server.
absl::StatusOr<mlp::v1::DatasetInfo> UploadDataset(Connection& connection,
                                                   const std::string& name,
                                                   RowSource& source,
                                                   bool show_progress);

// Whether a classifier's outputs `y` (`outputs` values) pick the class of
// the target row `t`, which is a class index (`targets` = 1 with several
// outputs) or one-hot; for one output, whether both are on the same side
// of 0.5.
bool RightClass(const float* y, int outputs, const float* t, int targets);

struct Evaluation {
  uint64_t version = 0;  // the version that answered every batch
  uint64_t rows = 0;
  bool classifier = false;
  uint64_t correct = 0;  // classifiers: argmax (or 0.5 threshold) right
  // Mean over rows and outputs; 0 when the targets are class indices.
  double mean_squared_error = 0;
};

// Predicts every row of `source` in batches on one version and compares
// with the targets. Class targets may be indices ([N, 1]) or one-hot rows.
absl::StatusOr<Evaluation> Evaluate(Connection& connection,
                                    const mlp::v1::ModelInfo& model,
                                    uint64_t version, RowSource& source);

}  // namespace mlp::cli

#endif  // MLP_CLIENT_OPERATIONS_H_
