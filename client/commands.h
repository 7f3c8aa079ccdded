// The commands of `mlp`. main() builds the command line with AddCommands,
// parses it and runs the action that the parsed command left behind.
#ifndef MLP_CLIENT_COMMANDS_H_
#define MLP_CLIENT_COMMANDS_H_

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/connection.h"

namespace mlp::cli {

// What running the parsed command means. Reads `global` when it runs, so
// global options may follow the command on the command line.
using Action = std::function<absl::Status()>;

// Declares every command and the global options (--server, --json,
// --timeout, --token-file, --tls-ca, --tls-cert, --tls-key) on `app`. After
// app.parse(), *action is the parsed command's.
void AddCommands(CLI::App& app, GlobalOptions& global, Action* action);

// The message for a parse error of `app` (after app.parse() threw `error`).
// CLI11 checks required arguments before it looks at words it did not
// recognise, so a mistyped command or option would be reported as whatever
// is then missing; this names the word instead, with the nearest spelling:
//   "unknown command 'lsit' (did you mean 'list'?)"
//   "unknown option '-x' (see 'mlp create --help')"
//   "unexpected argument 'extra'"
// Any other error keeps CLI11's message.
std::string DescribeParseError(const CLI::App& app,
                               const CLI::ParseError& error);

// "mlp create": the command the parser got to (the deepest parsed one).
std::string ParsedCommandPath(const CLI::App& app);

// Checks for options whose 0 the API reads as "the default": a user who
// types 0 did not mean that, so it is a usage error naming the option,
//   "--epochs: must be at least 1, got 0 (without the option: 10)".
// `when_omitted` says what leaving the option out gives. Text that is not a
// number is left to CLI11's conversion error.
CLI::Validator AtLeastOne(const std::string& when_omitted);
CLI::Validator GreaterThanZero(const std::string& when_omitted);

// --server / MLP_SERVER: see CheckServerAddress (parse.h).
CLI::Validator ServerAddress();

// One Add* per file, each declaring related commands.
void AddModelCommands(CLI::App& app, GlobalOptions& global, Action* action);
void AddTrainCommand(CLI::App& app, GlobalOptions& global, Action* action);
void AddPredictCommands(CLI::App& app, GlobalOptions& global, Action* action);
void AddDatasetCommands(CLI::App& app, GlobalOptions& global, Action* action);
void AddDemoCommand(CLI::App& app, GlobalOptions& global, Action* action);
void AddHealthCommand(CLI::App& app, GlobalOptions& global, Action* action);

}  // namespace mlp::cli

#endif  // MLP_CLIENT_COMMANDS_H_
