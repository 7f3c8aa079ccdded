#include "server/engine/train_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace mlp::engine {

absl::string_view OptimizerName(Optimizer optimizer) {
  switch (optimizer) {
    case Optimizer::kSgd:
      return "sgd";
    case Optimizer::kMomentum:
      return "momentum";
    case Optimizer::kAdam:
      return "adam";
  }
  return "unknown";
}

absl::Status ValidateOptions(const TrainOptions& o) {
  switch (o.optimizer) {
    case Optimizer::kSgd:
    case Optimizer::kMomentum:
    case Optimizer::kAdam:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer is ", static_cast<int>(o.optimizer),
                       ", expected sgd, momentum or adam"));
  }
  if (!(o.learning_rate > 0.0f) || !std::isfinite(o.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learning_rate is ", o.learning_rate, ", expected a finite value > 0"));
  }
  if (o.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size is ", o.batch_size, ", expected at least 1"));
  }
  if (o.max_epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_epochs is ", o.max_epochs, ", expected at least 1"));
  }
  if (!std::isfinite(o.target_loss)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_loss is ", o.target_loss, ", expected a finite value"));
  }
  if (!(o.validation_fraction >= 0.0f && o.validation_fraction < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_fraction is ", o.validation_fraction,
                     ", expected a value in [0, 1)"));
  }
  if (o.early_stopping_patience < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("early_stopping_patience is ", o.early_stopping_patience,
                     ", expected at least 0"));
  }
  if (!(o.l2 >= 0.0f) || !std::isfinite(o.l2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("l2 is ", o.l2, ", expected a finite value >= 0"));
  }
  if (o.report_every < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report_every is ", o.report_every, ", expected at least 1"));
  }
  if (!(o.momentum >= 0.0f && o.momentum < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "momentum is ", o.momentum, ", expected a value in [0, 1)"));
  }
  if (!(o.adam_beta1 >= 0.0f && o.adam_beta1 < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adam_beta1 is ", o.adam_beta1, ", expected a value in [0, 1)"));
  }
  if (!(o.adam_beta2 >= 0.0f && o.adam_beta2 < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adam_beta2 is ", o.adam_beta2, ", expected a value in [0, 1)"));
  }
  if (!(o.adam_epsilon > 0.0f) || !std::isfinite(o.adam_epsilon)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adam_epsilon is ", o.adam_epsilon, ", expected a finite value > 0"));
  }
  return absl::OkStatus();
}

}  // namespace mlp::engine
