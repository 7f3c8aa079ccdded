// mlp train
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/names.h"
#include "client/operations.h"
#include "client/output.h"
#include "client/rows.h"
#include "client/status.h"

namespace mlp::cli {
namespace {

using mlp::v1::ModelService;

struct TrainCommandOptions {
  std::string model;
  DataFiles data;
  std::string dataset;
  uint32_t epochs = 0;
  float learning_rate = 0;
  uint32_t batch = 0;
  std::string optimizer;
  float momentum = 0;
  float target_loss = 0;
  float validation = 0;
  uint32_t patience = 0;
  float l2 = 0;
  bool shuffle = false;
  uint64_t seed = 0;
  uint32_t report_every = 0;
  bool reinitialize = false;
  std::string metrics_out;
  int plot = 0;  // --plot: 1, --no-plot: -1, neither: 0 = on a terminal only
};

absl::Status RunTrain(const TrainCommandOptions& options,
                      const GlobalOptions& global) {
  mlp::v1::TrainRequest request;
  request.set_model(options.model);
  mlp::v1::TrainOptions& train = *request.mutable_options();
  if (!options.optimizer.empty()) {
    std::optional<mlp::v1::Optimizer> optimizer =
        ParseOptimizer(options.optimizer);
    if (!optimizer) {
      return UsageError(absl::StrCat("--optimizer: unknown optimizer '",
                                     options.optimizer, "' (one of ",
                                     OptimizerChoices(), ")"));
    }
    train.set_optimizer(*optimizer);
  }
  if (options.momentum != 0 && train.optimizer() != mlp::v1::MOMENTUM) {
    return UsageError(
        "--momentum applies only to --optimizer momentum, which is not "
        "chosen");
  }
  train.set_learning_rate(options.learning_rate);
  train.set_batch_size(options.batch);
  train.set_max_epochs(options.epochs);
  train.set_target_loss(options.target_loss);
  train.set_shuffle(options.shuffle);
  train.set_seed(options.seed);
  train.set_validation_fraction(options.validation);
  train.set_early_stopping_patience(options.patience);
  train.set_l2(options.l2);
  train.set_report_every(options.report_every);
  train.set_reinitialize(options.reinitialize);
  train.set_momentum(options.momentum);

  Connection connection(global);
  // First, so that an unknown model is reported before a large file is read.
  mlp::v1::GetModelRequest get;
  get.set_name(options.model);
  MLP_ASSIGN_OR_RETURN(mlp::v1::ModelInfo model,
                       connection.Call(&ModelService::Stub::GetModel, get));

  if (!options.dataset.empty()) {
    request.set_dataset(options.dataset);
  } else {
    MLP_ASSIGN_OR_RETURN(std::unique_ptr<RowSource> rows,
                         OpenRows(options.data));
    MLP_ASSIGN_OR_RETURN(*request.mutable_inline_data(),
                         ReadAll(*rows, options.data.path));
  }

  TrainView view;
  view.json = global.json;
  view.terminal = StdoutIsTerminal();
  view.plot = options.plot == 0 ? view.terminal : options.plot > 0;
  view.metrics_path = options.metrics_out;
  absl::StatusOr<mlp::v1::TrainProgress> done =
      RunTraining(connection, request, model, view, std::cout);
  if (!done.ok() &&
      done.status().code() == absl::StatusCode::kResourceExhausted &&
      IsServerError(done.status())) {
    return FromGrpc(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat(done.status().message(),
                     " (for large data: `mlp dataset upload`, then "
                     "`mlp train --dataset`)")));
  }
  return done.status();
}

}  // namespace

void AddTrainCommand(CLI::App& app, GlobalOptions& global, Action* action) {
  auto o = std::make_shared<TrainCommandOptions>();
  CLI::App* train = app.add_subcommand(
      "train",
      "train a model, streaming one line per epoch; Ctrl-C cancels and "
      "commits nothing");
  train->add_option("name", o->model, "model name")->required();
  CLI::Option* data = train->add_option(
      "--data", o->data.path,
      "training data: a CSV file (with --targets) or IDX images (with "
      "--labels)");
  CLI::Option* targets = train->add_option(
      "--targets", o->data.targets,
      "CSV target columns: 0-based indices (-1 = last) or header names, "
      "comma-separated");
  CLI::Option* labels =
      train->add_option("--labels", o->data.labels, "IDX labels file");
  CLI::Option* dataset =
      train->add_option("--dataset", o->dataset, "name of an uploaded dataset");
  data->excludes(dataset);
  targets->needs(data)->excludes(labels);
  labels->needs(data);
  train->add_option("--epochs", o->epochs, "maximum epochs (default 10)")
      ->check(AtLeastOne("10"));
  train->add_option("--lr", o->learning_rate, "learning rate (default 0.01)")
      ->check(GreaterThanZero("0.01"));
  train
      ->add_option("--batch", o->batch,
                   "samples per update; 1 = per-sample SGD (default 32)")
      ->check(AtLeastOne("32"));
  train->add_option("--optimizer", o->optimizer,
                    OptimizerChoices() + " (default sgd)");
  train
      ->add_option("--momentum", o->momentum,
                   "momentum coefficient of --optimizer momentum, in (0, 1) "
                   "(default 0.9)")
      ->check(GreaterThanZero("0.9"));
  train->add_option("--target-loss", o->target_loss,
                    "stop once the epoch loss is at or under this");
  train->add_option("--validation", o->validation,
                    "fraction of rows held out for validation, in [0, 1)");
  train->add_option("--patience", o->patience,
                    "early stopping: stop after this many epochs without "
                    "improvement of the validation loss or, without "
                    "--validation, of the training loss; the best epoch's "
                    "weights are kept");
  train->add_option("--l2", o->l2, "L2 weight decay");
  train->add_flag("--shuffle", o->shuffle, "shuffle the rows every epoch");
  train->add_option("--seed", o->seed,
                    "seed of shuffling and validation split (default random)");
  train
      ->add_option("--report-every", o->report_every,
                   "epochs per progress line (default 1)")
      ->check(AtLeastOne("1"));
  train->add_flag("--reinitialize", o->reinitialize,
                  "start from fresh weights, not the latest version");
  train->add_option("--metrics-out", o->metrics_out,
                    "write the per-epoch figures to this CSV file");
  train->add_flag("--plot,!--no-plot", o->plot,
                  "draw the loss curve at the end (default: on a terminal)");
  train->callback([o, data, dataset, &global, action] {
    *action = [o, data, dataset, &global]() -> absl::Status {
      if (data->count() == 0 && dataset->count() == 0) {
        return UsageError("train needs --data FILE or --dataset NAME");
      }
      if (data->count() > 0 && o->data.targets.empty() &&
          o->data.labels.empty()) {
        return UsageError(
            "--data needs --targets COLS (CSV) or --labels FILE (IDX)");
      }
      return RunTrain(*o, global);
    };
  });
}

}  // namespace mlp::cli
