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
  app.add_option("--token-file", global.token_file,
                 "file holding the server's access token (for a server run "
                 "with --auth_token_file); the token itself may instead be "
                 "given in the environment variable MLP_TOKEN");
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
