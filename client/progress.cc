#include "client/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
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

namespace {

// The form for terminals wide enough: six digits, full labels.
std::string LongEpoch(const mlp::v1::TrainProgress& progress,
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

// "950", "41.2k", "1.23M": three digits.
std::string FormatRate(double rate) {
  if (rate >= 999.5e3) return absl::StrFormat("%.3gM", rate / 1e6);
  if (rate >= 999.5) return absl::StrFormat("%.3gk", rate / 1e3);
  return absl::StrFormat("%.0f", rate);
}

// The 80-column form: four digits, each validation figure next to its
// training one.
std::string CompactEpoch(const mlp::v1::TrainProgress& progress,
                         bool classification, bool validation) {
  std::string line = absl::StrFormat("epoch %4d  loss %-8s", progress.epoch(),
                                     FormatNumber(progress.loss(), 4));
  if (validation) {
    absl::StrAppendFormat(&line, " val %-8s",
                          FormatNumber(progress.validation_loss(), 4));
  }
  if (classification) {
    absl::StrAppendFormat(&line, "  acc %5.1f%%", 100 * progress.accuracy());
    if (validation) {
      absl::StrAppendFormat(&line, " val %5.1f%%",
                            100 * progress.validation_accuracy());
    }
  }
  absl::StrAppendFormat(&line, "  %5s samples/s",
                        FormatRate(progress.samples_per_second()));
  return line;
}

}  // namespace

std::string FormatEpoch(const mlp::v1::TrainProgress& progress,
                        bool classification, bool validation, int width) {
  // One form for the whole training, so that columns do not jump: the long
  // one only if its widest line fits.
  mlp::v1::TrainProgress widest;
  widest.set_epoch(99999);
  widest.set_loss(-1.23456e-05);
  widest.set_validation_loss(-1.23456e-05);
  widest.set_accuracy(1);
  widest.set_validation_accuracy(1);
  widest.set_samples_per_second(99999999);
  if (static_cast<int>(LongEpoch(widest, classification, validation).size()) <=
      width) {
    return LongEpoch(progress, classification, validation);
  }
  std::string line = CompactEpoch(progress, classification, validation);
  // Only with every figure at its widest: "1.23M/s".
  if (static_cast<int>(line.size()) > width) {
    line.erase(line.size() - std::string(" samples/s").size());
    line += "/s";
  }
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
  // The lowest and highest loss of each column's epochs.
  std::vector<double> low(columns);
  std::vector<double> high(columns);
  for (int c = 0; c < columns; ++c) {
    const int begin = static_cast<int>(int64_t{c} * n / columns);
    const int end = static_cast<int>(int64_t{c + 1} * n / columns);
    low[c] = *std::min_element(losses.begin() + begin, losses.begin() + end);
    high[c] = *std::max_element(losses.begin() + begin, losses.begin() + end);
  }
  const double lo = *std::min_element(low.begin(), low.end());
  const double hi = *std::max_element(high.begin(), high.end());
  // A falling loss usually spans decades; a log scale keeps its tail visible.
  const bool log_scale = lo > 0 && hi / lo > 100;
  auto scale = [&](double v) { return log_scale ? std::log10(v) : v; };
  const double bottom = scale(lo);
  const double span = scale(hi) - bottom;
  auto row_of = [&](double v) {
    return span > 0 ? static_cast<int>(std::lround((scale(v) - bottom) / span *
                                                   (height - 1)))
                    : height / 2;
  };

  std::vector<std::string> grid(height, std::string(columns, ' '));
  for (int c = 0; c < columns; ++c) {
    for (int row = row_of(low[c]); row <= row_of(high[c]); ++row) {
      grid[height - 1 - row][c] = '*';
    }
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
  if (options_.terminal && options_.live) {
    live_line_ = FormatEpoch(progress, options_.classification,
                             options_.validation, TerminalWidth() - 1);
    const absl::Time now = absl::Now();
    if (now - live_drawn_ >= absl::Milliseconds(50)) {
      out_ << kEraseLine << live_line_ << std::flush;
      bar_shown_ = true;
      live_drawn_ = now;
    }
  } else if (options_.terminal) {
    ClearBar();
    out_ << FormatEpoch(progress, options_.classification, options_.validation,
                        TerminalWidth() - 1)
         << "\n"
         << FormatProgressBar(progress.epoch(), options_.max_epochs,
                              progress.elapsed_seconds(), TerminalWidth() - 1);
    bar_shown_ = true;
    out_.flush();
  } else {
    // std::endl: a pipe must see each epoch as it arrives, not at exit.
    out_ << FormatEpoch(progress, options_.classification, options_.validation,
                        TerminalWidth())
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
  if (!live_line_.empty()) out_ << live_line_ << "\n";
  out_.flush();
  if (options_.json || last == nullptr || !last->done()) return;
  const uint32_t ran =
      last->epochs_run() > 0 ? last->epochs_run() : last->epoch();
  std::string summary =
      absl::StrCat("stopped after ", ran, ran == 1 ? " epoch (" : " epochs (",
                   StopReasonName(last->stop_reason()), "), ");
  if (ran != last->epoch()) {
    absl::StrAppend(&summary, "kept epoch ", last->epoch(), ", ");
  }
  absl::StrAppend(&summary, "loss ", FormatNumber(last->loss()));
  const std::string outcome =
      last->version() > 0 ? absl::StrCat("committed version ", last->version())
                          : "nothing committed";
  // Two lines rather than one too wide for the terminal.
  const bool fits =
      static_cast<int>(summary.size() + 2 + outcome.size()) < TerminalWidth();
  out_ << summary << (fits ? "; " : "\n") << outcome << "\n";
  if (options_.plot) {
    // Room for the y-axis labels ("1.23e-05 |").
    out_ << "\n" << RenderLossCurve(losses_, TerminalWidth() - 12, 8);
  }
  out_.flush();
}

}  // namespace mlp::cli
