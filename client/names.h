// Command-line spellings of the API's enums: lower case with '-' ("relu",
// "cross-entropy"), plus a few short aliases ("he", "bce"). Derived from the
// proto descriptors, so values added to the API later are accepted and
// printed without changes here.
#ifndef MLP_CLIENT_NAMES_H_
#define MLP_CLIENT_NAMES_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "mlp/v1/mlp.pb.h"

namespace mlp::cli {

std::string ActivationName(mlp::v1::Activation value);
std::string LossName(mlp::v1::Loss value);
// The shortest spelling: "ce" for cross-entropy, "mse".
std::string LossShortName(mlp::v1::Loss value);
std::string InitName(mlp::v1::Init value);
std::string OptimizerName(mlp::v1::Optimizer value);
std::string StopReasonName(mlp::v1::StopReason value);
std::string StateName(mlp::v1::State value);

// nullopt for unknown names and for the *_UNSPECIFIED values.
std::optional<mlp::v1::Activation> ParseActivation(absl::string_view text);
std::optional<mlp::v1::Loss> ParseLoss(absl::string_view text);
std::optional<mlp::v1::Init> ParseInit(absl::string_view text);
std::optional<mlp::v1::Optimizer> ParseOptimizer(absl::string_view text);

// "linear|relu|..." for help texts and error messages.
std::string ActivationChoices();
std::string LossChoices();
std::string InitChoices();
std::string OptimizerChoices();

}  // namespace mlp::cli

#endif  // MLP_CLIENT_NAMES_H_
