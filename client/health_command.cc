// mlp health: the container's HEALTHCHECK.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/output.h"
#include "client/status.h"

namespace mlp::cli {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckResponse;

absl::Status RunHealth(const std::string& service,
                       const GlobalOptions& global) {
  Connection connection(global);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  MLP_ASSIGN_OR_RETURN(HealthCheckResponse response,
                       connection.Call(&Health::Stub::Check, request));
  std::cout << (global.json ? ToJson(response)
                            : HealthCheckResponse::ServingStatus_Name(
                                  response.status()))
            << "\n";
  if (response.status() != HealthCheckResponse::SERVING) {
    // Not serving yet (still loading its data directory) or shutting down.
    return absl::UnavailableError(absl::StrCat(
        "'", service, "' is ",
        HealthCheckResponse::ServingStatus_Name(response.status())));
  }
  return absl::OkStatus();
}

}  // namespace

void AddHealthCommand(CLI::App& app, GlobalOptions& global, Action* action) {
  auto service = std::make_shared<std::string>("mlp.v1.ModelService");
  CLI::App* health = app.add_subcommand(
      "health", "exit 0 if and only if the server reports SERVING");
  health->add_option("--service", *service, "service to ask about")
      ->capture_default_str();
  health->callback([service, &global, action] {
    *action = [service, &global] { return RunHealth(*service, global); };
  });
}

}  // namespace mlp::cli
