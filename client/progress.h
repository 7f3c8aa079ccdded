// How a training is shown while it runs: one line per reported epoch, as
// it arrives; on a terminal a progress bar with an ETA is kept under those
// lines; --metrics-out keeps the figures as CSV (a figure that does not
// apply, such as the accuracy of a regression or validation figures without
// a split, is an empty cell); at the end a loss curve.
#ifndef MLP_CLIENT_PROGRESS_H_
#define MLP_CLIENT_PROGRESS_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mlp/v1/mlp.pb.h"

namespace mlp::cli {

// "epoch   12  loss 0.0123  acc 93.10%  val_loss ...  1234 samples/s".
// Accuracy columns only for classification, validation ones only when on.
std::string FormatEpoch(const mlp::v1::TrainProgress& progress,
                        bool classification, bool validation);

// "[#######.............]  35/100 epochs  ETA 0:42", `width` columns wide
// at most. The ETA extrapolates the elapsed time per epoch so far.
std::string FormatProgressBar(uint32_t epoch, uint32_t max_epochs,
                              double elapsed_seconds, int width);

// An ASCII plot of the loss per epoch, `height` rows of at most `width`
// points (epochs are averaged into columns), on a log scale when the loss
// spans more than two decades. Empty with fewer than two points.
std::string RenderLossCurve(const std::vector<double>& losses, int width,
                            int height);

// Thread-compatible.
class TrainDisplay final {
 public:
  struct Options {
    bool json = false;      // one JSON TrainProgress per line instead
    bool terminal = false;  // draw the progress bar
    bool plot = false;      // draw the loss curve at the end
    bool classification = false;
    bool validation = false;
    uint32_t max_epochs = 0;
    std::string metrics_path;  // --metrics-out; empty = none
  };

  // NOT_FOUND if the metrics file cannot be created.
  static absl::StatusOr<std::unique_ptr<TrainDisplay>> Create(
      const Options& options, std::ostream& out);

  // Shows one message of the stream (including the final one).
  absl::Status Update(const mlp::v1::TrainProgress& progress);

  // Removes the progress bar; then, for a stream that ended normally, prints
  // the summary and the curve. `last` is null if no message arrived.
  void Finish(const mlp::v1::TrainProgress* last);

  const std::vector<double>& losses() const { return losses_; }

 private:
  TrainDisplay(const Options& options, std::ostream& out)
      : options_(options), out_(out) {}

  void ClearBar();

  const Options options_;
  std::ostream& out_;
  std::ofstream metrics_;
  std::vector<double> losses_;
  uint32_t last_epoch_ = 0;
  bool bar_shown_ = false;
};

// Whether stdout is a terminal (progress bars, curves) or a pipe (plain
// lines for scripts and logs).
bool StdoutIsTerminal();

// Columns of the terminal, 80 if unknown.
int TerminalWidth();

}  // namespace mlp::cli

#endif  // MLP_CLIENT_PROGRESS_H_
