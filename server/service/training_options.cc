#include "server/service/training_options.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/random_seed.h"
#include "server/service/status.h"

namespace mlp::service {

absl::StatusOr<engine::TrainOptions> OptionsFromProto(
    const v1::TrainOptions& options) {
  engine::TrainOptions out;
  out.optimizer = kDefaultOptimizer;
  out.learning_rate = kDefaultLearningRate;
  out.batch_size = kDefaultBatchSize;
  out.max_epochs = kDefaultMaxEpochs;
  out.report_every = kDefaultReportEvery;
  out.momentum = kDefaultMomentum;
  switch (options.optimizer()) {
    case v1::OPTIMIZER_UNSPECIFIED:
      break;
    case v1::SGD:
      out.optimizer = engine::Optimizer::kSgd;
      break;
    case v1::MOMENTUM:
      out.optimizer = engine::Optimizer::kMomentum;
      break;
    case v1::ADAM:
      out.optimizer = engine::Optimizer::kAdam;
      break;
    default:
      return InvalidField("options.optimizer",
                          absl::StrCat(" has unknown value ",
                                       static_cast<int>(options.optimizer())));
  }
  constexpr uint32_t kIntMax = std::numeric_limits<int>::max();
  if (options.batch_size() > kIntMax || options.max_epochs() > kIntMax ||
      options.report_every() > kIntMax ||
      options.early_stopping_patience() > kIntMax) {
    return InvalidField(
        "options", absl::StrCat(": batch_size, max_epochs, report_every and "
                                "early_stopping_patience must be <= ",
                                kIntMax));
  }
  if (options.learning_rate() != 0) out.learning_rate = options.learning_rate();
  if (options.batch_size() != 0) out.batch_size = options.batch_size();
  if (options.max_epochs() != 0) out.max_epochs = options.max_epochs();
  if (options.report_every() != 0) out.report_every = options.report_every();
  if (options.momentum() != 0) out.momentum = options.momentum();
  out.target_loss = options.target_loss();
  out.shuffle = options.shuffle();
  out.validation_fraction = options.validation_fraction();
  out.early_stopping_patience =
      static_cast<int>(options.early_stopping_patience());
  out.l2 = options.l2();
  out.seed = options.seed() != 0 ? options.seed() : common::RandomSeed();
  MLP_RETURN_IF_ERROR(engine::ValidateOptions(out));
  return out;
}

}  // namespace mlp::service
