// mlp: the command-line client of mlp-server. Parses, dispatches, and turns
// the command's result into a message and an exit code (see status.h).
#include <grpc/support/log.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "CLI/CLI.hpp"
#include "client/commands.h"
#include "client/interrupt.h"
#include "client/status.h"
#include "mlp_version.h"

int main(int argc, char** argv) {
  // First, before gRPC starts any thread (see interrupt.h).
  mlp::cli::InterruptWatcher interrupts;
  // gRPC logs a failed TLS handshake on stderr, where the CLI's own error
  // (a JSON line with --json) must stand alone; Connection reports it in
  // words. GRPC_VERBOSITY or GRPC_TRACE still turn gRPC's log on.
  if (std::getenv("GRPC_VERBOSITY") == nullptr &&
      std::getenv("GRPC_TRACE") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args* /*args*/) {});
  }

  CLI::App app{
      "mlp: create, train and query multi-layer perceptrons on an "
      "mlp-server.\nExit codes: 0 ok, 1 error (server or local file), 2 "
      "usage, 130 interrupted.",
      "mlp"};
  mlp::cli::GlobalOptions global;
  global.interrupts = &interrupts;
  mlp::cli::Action action;
  app.set_version_flag(
      "--version", "mlp " MLP_VERSION " (git " MLP_GIT_REVISION ")",
      "print the version and the git revision it was built from, and exit");
  mlp::cli::AddCommands(app, global, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are ParseErrors too, with exit code 0.
    if (error.get_exit_code() == 0) {
      app.exit(error);
      return mlp::cli::kExitOk;
    }
    // With --json anywhere on the line, a usage error is JSON like every
    // other error.
    const bool json = std::any_of(argv + 1, argv + argc, [](const char* arg) {
      return std::strcmp(arg, "--json") == 0;
    });
    const absl::Status usage =
        mlp::cli::UsageError(mlp::cli::DescribeParseError(app, error));
    if (json) {
      std::cerr << mlp::cli::FormatErrorJson(usage) << std::endl;
    } else {
      std::cerr << mlp::cli::FormatError(usage) << "\nRun '"
                << mlp::cli::ParsedCommandPath(app)
                << " --help' for more information." << std::endl;
    }
    return mlp::cli::kExitUsage;
  }

  absl::Status status = mlp::cli::ResolveToken(&global);
  if (status.ok()) status = mlp::cli::ResolveTls(&global);
  if (status.ok()) status = action();
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << (global.json ? mlp::cli::FormatErrorJson(status)
                              : mlp::cli::FormatError(status))
              << std::endl;
  }
  return mlp::cli::ExitCode(status, interrupts.interrupted());
}
