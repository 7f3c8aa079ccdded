#include "client/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/names.h"
#include "client/output.h"

namespace mlp::cli {
namespace {

// ANSI: carriage return + erase line, to redraw the bar in place.
constexpr char kEraseLine[] = "\r\033[K";

std::string FormatDuration(double seconds) {
  const int64_t total = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (total >= 3600) {
    return absl::StrFormat("%d:%02d:%02d", total / 3600, total / 60 % 60,
                           total % 60);
  }
  return absl::StrFormat("%d:%02d", total / 60, total % 60);
}

}  // namespace

std::string FormatEpoch(const mlp::v1::TrainProgress& progress,
                        bool classification, bool validation) {
  std::string line = absl::StrFormat("epoch %5d  loss %-11.6g",
                                     progress.epoch(), progress.loss());
  if (classification) {
    absl::StrAppendFormat(&line, "  acc %6.2f%%", 100 * progress.accuracy());
  }
  if (validation) {
    absl::StrAppendFormat(&line, "  val_loss %-11.6g",
                          progress.validation_loss());
    if (classification) {
      absl::StrAppendFormat(&line, "  val_acc %6.2f%%",
                            100 * progress.validation_accuracy());
    }
  }
  absl::StrAppendFormat(&line, "  %8.0f samples/s",
                        progress.samples_per_second());
  return line;
}

std::string FormatProgressBar(uint32_t epoch, uint32_t max_epochs,
                              double elapsed_seconds, int width) {
  const uint32_t total = std::max<uint32_t>(max_epochs, 1);
  const uint32_t done = std::min(epoch, total);
  std::string eta = "-:--";
  if (done > 0) {
    eta = FormatDuration(elapsed_seconds / done * (total - done));
  }
  const std::string text = absl::StrFormat(
      "  %*d/%d epochs  ETA %s", static_cast<int>(absl::StrCat(total).size()),
      done, total, eta);
  const int bar = std::max(10, width - static_cast<int>(text.size()) - 3);
  const int filled = static_cast<int>(static_cast<int64_t>(bar) * done / total);
  return absl::StrCat("[", std::string(filled, '#'),
                      std::string(bar - filled, '.'), "]", text);
}

std::string RenderLossCurve(const std::vector<double>& losses, int width,
                            int height) {
  const int n = static_cast<int>(losses.size());
  if (n < 2 || width < 2 || height < 2) return "";
  const int columns = std::min(width, n);
  std::vector<double> points(columns, 0);
  for (int c = 0; c < columns; ++c) {
    const int begin = static_cast<int>(int64_t{c} * n / columns);
    const int end = static_cast<int>(int64_t{c + 1} * n / columns);
    for (int i = begin; i < end; ++i) points[c] += losses[i];
    points[c] /= end - begin;
  }
  double lo = *std::min_element(points.begin(), points.end());
  double hi = *std::max_element(points.begin(), points.end());
  // A falling loss usually spans decades; a log scale keeps its tail visible.
  const bool log_scale = lo > 0 && hi / lo > 100;
  auto scale = [&](double v) { return log_scale ? std::log10(v) : v; };
  const double bottom = scale(lo);
  const double span = scale(hi) - bottom;

  std::vector<std::string> grid(height, std::string(columns, ' '));
  for (int c = 0; c < columns; ++c) {
    const int row =
        span > 0 ? static_cast<int>(std::lround((scale(points[c]) - bottom) /
                                                span * (height - 1)))
                 : height / 2;
    grid[height - 1 - row][c] = '*';
  }
  const std::string top_label = FormatNumber(hi, 3);
  const std::string bottom_label = FormatNumber(lo, 3);
  const size_t label_width = std::max(top_label.size(), bottom_label.size());
  auto pad = [&](const std::string& s) {
    return std::string(label_width - s.size(), ' ') + s;
  };
  std::string out =
      absl::StrCat("loss per epoch", log_scale ? " (log scale)" : "", "\n");
  for (int r = 0; r < height; ++r) {
    const std::string label = r == 0            ? pad(top_label)
                              : r == height - 1 ? pad(bottom_label)
                                                : std::string(label_width, ' ');
    std::string line = absl::StrCat(label, " |", grid[r]);
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  }
  const std::string last = absl::StrCat(n);
  absl::StrAppend(
      &out, std::string(label_width, ' '), " +", std::string(columns, '-'),
      "\n", std::string(label_width + 2, ' '), "1",
      std::string(std::max<int>(1, columns - 1 - static_cast<int>(last.size())),
                  ' '),
      last, "\n");
  return out;
}

absl::StatusOr<std::unique_ptr<TrainDisplay>> TrainDisplay::Create(
    const Options& options, std::ostream& out) {
  std::unique_ptr<TrainDisplay> display(new TrainDisplay(options, out));
  if (!options.metrics_path.empty()) {
    display->metrics_.open(options.metrics_path, std::ios::trunc);
    if (!display->metrics_.is_open()) {
      return absl::NotFoundError(
          absl::StrCat(options.metrics_path, ": cannot create"));
    }
    display->metrics_ << "epoch,loss,accuracy,validation_loss,"
                         "validation_accuracy,samples_per_second,"
                         "elapsed_seconds\n";
  }
  return display;
}

absl::Status TrainDisplay::Update(const mlp::v1::TrainProgress& progress) {
  if (options_.json) {
    out_ << FormatProgressJson(progress, options_.classification,
                               options_.validation)
         << std::endl;
  }
  // The final message carries the last epoch's figures, or those of an
  // earlier, kept epoch after early stopping (or epoch 0 when none ran): only
  // a new epoch adds a line.
  if (progress.epoch() == 0 || progress.epoch() <= last_epoch_) {
    return absl::OkStatus();
  }
  last_epoch_ = progress.epoch();
  losses_.push_back(progress.loss());
  if (metrics_.is_open()) {
    // Figures that do not apply are empty cells, not zeros.
    auto cell = [](bool applies, double value) {
      return applies ? absl::StrFormat("%.9g", value) : std::string();
    };
    const bool classification = options_.classification;
    const bool validation = options_.validation;
    metrics_ << absl::StrCat(
        progress.epoch(), ",", absl::StrFormat("%.9g", progress.loss()), ",",
        cell(classification, progress.accuracy()), ",",
        cell(validation, progress.validation_loss()), ",",
        cell(classification && validation, progress.validation_accuracy()), ",",
        absl::StrFormat("%.6g", progress.samples_per_second()), ",",
        absl::StrFormat("%.6g", progress.elapsed_seconds()), "\n");
    metrics_.flush();
    if (!metrics_) {
      return absl::DataLossError(
          absl::StrCat(options_.metrics_path, ": write failed"));
    }
  }
  if (options_.json) return absl::OkStatus();
  if (options_.terminal) {
    ClearBar();
    out_ << FormatEpoch(progress, options_.classification, options_.validation)
         << "\n"
         << FormatProgressBar(progress.epoch(), options_.max_epochs,
                              progress.elapsed_seconds(), TerminalWidth() - 1);
    bar_shown_ = true;
    out_.flush();
  } else {
    // std::endl: a pipe must see each epoch as it arrives, not at exit.
    out_ << FormatEpoch(progress, options_.classification, options_.validation)
         << std::endl;
  }
  return absl::OkStatus();
}

void TrainDisplay::ClearBar() {
  if (bar_shown_) out_ << kEraseLine;
  bar_shown_ = false;
}

void TrainDisplay::Finish(const mlp::v1::TrainProgress* last) {
  ClearBar();
  out_.flush();
  if (options_.json || last == nullptr || !last->done()) return;
  const uint32_t ran =
      last->epochs_run() > 0 ? last->epochs_run() : last->epoch();
  out_ << "stopped after " << ran << " epochs ("
       << StopReasonName(last->stop_reason()) << "), ";
  if (ran != last->epoch()) out_ << "kept epoch " << last->epoch() << ", ";
  out_ << "loss " << FormatNumber(last->loss()) << "; ";
  if (last->version() > 0) {
    out_ << "committed version " << last->version() << "\n";
  } else {
    out_ << "nothing committed\n";
  }
  if (options_.plot) {
    const int width = std::min(60, TerminalWidth() - 14);
    out_ << "\n" << RenderLossCurve(losses_, width, 8);
  }
  out_.flush();
}

bool StdoutIsTerminal() { return isatty(STDOUT_FILENO) == 1; }

int TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20) {
    return size.ws_col;
  }
  return 80;
}

}  // namespace mlp::cli
