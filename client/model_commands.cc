// mlp create | list | show | delete | weights
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/names.h"
#include "client/output.h"
#include "client/parse.h"
#include "client/status.h"

namespace mlp::cli {
namespace {

using mlp::v1::ModelService;

struct CreateOptions {
  std::string name;
  uint32_t input_size = 0;
  std::vector<std::string> layers;
  std::string loss;
  bool no_bias = false;
  std::string init;
  uint64_t seed = 0;
};

absl::StatusOr<mlp::v1::CreateModelRequest> BuildCreateRequest(
    const CreateOptions& options) {
  mlp::v1::CreateModelRequest request;
  request.set_name(options.name);
  mlp::v1::ModelSpec& spec = *request.mutable_spec();
  spec.set_input_size(options.input_size);
  for (const std::string& text : options.layers) {
    absl::StatusOr<mlp::v1::LayerSpec> layer = ParseLayer(text);
    if (!layer.ok()) return UsageError(layer.status().message());
    *spec.add_layers() = *layer;
  }
  if (options.loss.empty()) {
    // The only loss a softmax output trains with; MSE for everything else.
    const bool softmax =
        spec.layers(spec.layers_size() - 1).activation() == mlp::v1::SOFTMAX;
    spec.set_loss(softmax ? mlp::v1::CROSS_ENTROPY : mlp::v1::MSE);
  } else {
    std::optional<mlp::v1::Loss> loss = ParseLoss(options.loss);
    if (!loss) {
      return UsageError(absl::StrCat("--loss: unknown loss '", options.loss,
                                     "' (one of ", LossChoices(), ")"));
    }
    spec.set_loss(*loss);
  }
  if (options.no_bias) spec.set_bias(false);
  if (!options.init.empty()) {
    std::optional<mlp::v1::Init> init = ParseInit(options.init);
    if (!init) {
      return UsageError(absl::StrCat("--init: unknown init '", options.init,
                                     "' (one of ", InitChoices(), ")"));
    }
    spec.set_init(*init);
  }
  spec.set_seed(options.seed);
  return request;
}

absl::Status RunCreate(const CreateOptions& options,
                       const GlobalOptions& global) {
  MLP_ASSIGN_OR_RETURN(mlp::v1::CreateModelRequest request,
                       BuildCreateRequest(options));
  Connection connection(global);
  MLP_ASSIGN_OR_RETURN(
      mlp::v1::ModelInfo model,
      connection.Call(&ModelService::Stub::CreateModel, request));
  if (global.json) {
    std::cout << ToJson(model) << "\n";
  } else {
    std::cout << "created model '" << model.name()
              << "': " << FormatArchitecture(model.spec()) << ", "
              << model.parameter_count() << " parameters, seed "
              << model.spec().seed() << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunList(const GlobalOptions& global) {
  Connection connection(global);
  MLP_ASSIGN_OR_RETURN(mlp::v1::ListModelsResponse list,
                       connection.Call(&ModelService::Stub::ListModels,
                                       mlp::v1::ListModelsRequest()));
  std::cout << (global.json ? ToJson(list) + "\n"
                            : FormatModelList(list, TerminalWidth()));
  return absl::OkStatus();
}

absl::Status RunShow(const std::string& name, int http_port,
                     const GlobalOptions& global) {
  Connection connection(global);
  mlp::v1::GetModelRequest request;
  request.set_name(name);
  MLP_ASSIGN_OR_RETURN(mlp::v1::ModelInfo model,
                       connection.Call(&ModelService::Stub::GetModel, request));
  if (global.json) {
    std::cout << ToJson(model) << "\n";
  } else {
    std::cout << FormatModel(model)
              << FormatServingUrls(model.name(), global.server, http_port);
  }
  return absl::OkStatus();
}

absl::Status RunDelete(const std::string& name, const GlobalOptions& global) {
  Connection connection(global);
  mlp::v1::DeleteModelRequest request;
  request.set_name(name);
  MLP_ASSIGN_OR_RETURN(
      mlp::v1::DeleteModelResponse response,
      connection.Call(&ModelService::Stub::DeleteModel, request));
  std::cout << (global.json ? ToJson(response)
                            : absl::StrCat("deleted model '", name, "'"))
            << "\n";
  return absl::OkStatus();
}

absl::Status RunWeights(const std::string& name, uint64_t version,
                        const GlobalOptions& global) {
  Connection connection(global);
  mlp::v1::GetWeightsRequest request;
  request.set_model(name);
  request.set_version(version);
  MLP_ASSIGN_OR_RETURN(
      mlp::v1::GetWeightsResponse weights,
      connection.Call(&ModelService::Stub::GetWeights, request));
  std::cout << (global.json ? ToJson(weights) + "\n" : FormatWeights(weights));
  return absl::OkStatus();
}

}  // namespace

void AddModelCommands(CLI::App& app, GlobalOptions& global, Action* action) {
  {
    auto options = std::make_shared<CreateOptions>();
    CLI::App* create = app.add_subcommand(
        "create", "create a model with fresh weights (version 1)");
    create->add_option("name", options->name, "model name")->required();
    create->add_option("--input", options->input_size, "inputs per sample")
        ->required()
        ->check(CLI::PositiveNumber);
    create
        ->add_option("--layer", options->layers,
                     "UNITS:ACTIVATION, once per layer from the input side (" +
                         ActivationChoices() + ")")
        ->required()
        ->take_all()
        ->expected(1)
        ->allow_extra_args(false);
    create->add_option("--loss", options->loss,
                       LossChoices() +
                           " (default: cross-entropy for a softmax output, "
                           "else mse)");
    create->add_flag("--no-bias", options->no_bias,
                     "layers without bias vectors");
    create->add_option(
        "--init", options->init,
        InitChoices() + " (default: he for relu layers, else xavier)");
    create->add_option("--seed", options->seed,
                       "seed of the initial weights (default: the server "
                       "picks one and reports it)");
    create->callback([options, &global, action] {
      *action = [options, &global] { return RunCreate(*options, global); };
    });
  }
  {
    CLI::App* list = app.add_subcommand("list", "list the models");
    list->callback(
        [&global, action] { *action = [&global] { return RunList(global); }; });
  }
  {
    auto name = std::make_shared<std::string>();
    auto http_port = std::make_shared<int>(8000);
    CLI::App* show = app.add_subcommand(
        "show", "show one model and where the standard protocol serves it");
    show->add_option("name", *name, "model name")->required();
    show->add_option("--http-port", *http_port,
                     "the port of the server's --http_address, for the "
                     "printed v2 URL (default: 8000)")
        ->check(CLI::Range(1, 65535));
    show->callback([name, http_port, &global, action] {
      *action = [name, http_port, &global] {
        return RunShow(*name, *http_port, global);
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    CLI::App* remove = app.add_subcommand(
        "delete", "delete a model and its files (cancels its training)");
    remove->add_option("name", *name, "model name")->required();
    remove->callback([name, &global, action] {
      *action = [name, &global] { return RunDelete(*name, global); };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto version = std::make_shared<uint64_t>(0);
    CLI::App* weights =
        app.add_subcommand("weights", "print a model's weights and biases");
    weights->add_option("name", *name, "model name")->required();
    weights->add_option("--version", *version, "version (default: latest)");
    weights->callback([name, version, &global, action] {
      *action = [name, version, &global] {
        return RunWeights(*name, *version, global);
      };
    });
  }
}

}  // namespace mlp::cli
