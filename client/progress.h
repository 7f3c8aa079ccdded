// How a training is shown while it runs: one line per reported epoch, as
// it arrives; on a terminal a progress bar with an ETA is kept under those
// lines, or (live) a single line redrawn in place with the latest epoch;
// --metrics-out keeps the figures as CSV (a figure that does not apply, such as
// the accuracy of a regression or validation figures without a split, is an
// empty cell); at the end a loss curve.
#ifndef MLP_CLIENT_PROGRESS_H_
#define MLP_CLIENT_PROGRESS_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mlp/v1/mlp.pb.h"

namespace mlp::cli {

// One epoch's figures in at most `width` columns. Accuracy only for
// classification, validation figures only when on. When the widest line of
// the kind fits: "epoch    12  loss 0.0123       acc  93.10%  val_loss ...
// val_acc ...  1234 samples/s"; else the compact form, at most 80 columns:
// "epoch   12  loss 0.0123   val 0.0131    acc  93.1% val  92.8%  1.23k
// samples/s".
std::string FormatEpoch(const mlp::v1::TrainProgress& progress,
                        bool classification, bool validation, int width);

// "[#######.............]  35/100 epochs  ETA 0:42", `width` columns wide
// at most. The ETA extrapolates the elapsed time per epoch so far.
std::string FormatProgressBar(uint32_t epoch, uint32_t max_epochs,
                              double elapsed_seconds, int width);

// An ASCII plot of the loss per epoch, `height` rows of at most `width`
// columns, on a log scale when the loss spans more than two decades. With
// more epochs than columns, each column covers a run of epochs and marks
// every row between their lowest and highest loss. The y-axis is labelled
// with the real highest and lowest loss. Empty with fewer than two points.
std::string RenderLossCurve(const std::vector<double>& losses, int width,
                            int height);

// Thread-compatible.
class TrainDisplay final {
 public:
  struct Options {
    bool json = false;      // one JSON TrainProgress per line instead
    bool terminal = false;  // draw the progress bar
    // On a terminal: one line with the latest epoch, redrawn in place (at
    // most every 50 ms), instead of a line per epoch; the last epoch's line
    // stays when the training ends.
    bool live = false;
    bool plot = false;  // draw the loss curve at the end
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
  std::string live_line_;  // live: the latest epoch's line
  absl::Time live_drawn_ = absl::InfinitePast();
};

}  // namespace mlp::cli

#endif  // MLP_CLIENT_PROGRESS_H_
