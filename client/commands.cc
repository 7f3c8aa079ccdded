#include "client/commands.h"

namespace mlp::cli {

void AddCommands(CLI::App& app, GlobalOptions& global, Action* action) {
  app.add_option("--server", global.server, "mlp-server address host:port")
      ->envname("MLP_SERVER")
      ->capture_default_str();
  app.add_flag("--json", global.json,
               "print results as JSON (one object per line) for scripts");
  app.add_option("--timeout", global.timeout_seconds,
                 "deadline of each request in seconds (training streams and "
                 "uploads have none; Ctrl-C cancels them)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  // Global options are also accepted after the command: `mlp list --json`.
  app.fallthrough();
  app.require_subcommand(1);

  AddModelCommands(app, global, action);
  AddTrainCommand(app, global, action);
  AddPredictCommands(app, global, action);
  AddDatasetCommands(app, global, action);
  AddDemoCommand(app, global, action);
  AddHealthCommand(app, global, action);
}

}  // namespace mlp::cli
