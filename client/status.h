// How the CLI classifies failures, and how that becomes a message and an
// exit code. Every fallible function in client/ returns absl::Status; where
// the failure came from decides what the user sees:
//   server error  "error: NOT_FOUND: model 'x' not found"   exit 1
//   no connection "error: UNAVAILABLE: cannot connect ..."  exit 1
//   local error   "error: data.csv:7:3: expected a number"  exit 1
//   usage error   "error: --input: ..."                     exit 2
//   Ctrl-C        "training cancelled; nothing committed"   exit 130
// With --json the message is a JSON object instead (FormatErrorJson).
#ifndef MLP_CLIENT_STATUS_H_
#define MLP_CLIENT_STATUS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"  // MLP_RETURN_IF_ERROR, for every command

namespace grpc {
class Status;
}

namespace mlp::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells do

// A status returned by the server. gRPC and Abseil share the canonical code
// numbering, so the code is kept as is; the status is marked as remote so
// that it is printed with its code name.
absl::Status FromGrpc(const grpc::Status& status);

// Whether `status` came from the server (see FromGrpc).
bool IsServerError(const absl::Status& status);

// No connection to a gRPC server at the address: nothing listens there,
// the name does not resolve, or what answers does not speak gRPC. Printed
// with its code like a server error; source "connection" in JSON.
absl::Status ConnectionError(absl::StatusCode code, absl::string_view message);
bool IsConnectionError(const absl::Status& status);

// A command line that parses but makes no sense (e.g. ragged --input rows).
// CLI11 reports the syntax errors; this is for the checks made after it.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// `text` from a file (a CSV field, a header name) quoted for an error
// message: in single quotes, control characters and bytes that are not
// UTF-8 as \xNN, and cut after `max_chars` characters with the full size
// said ("'abc...' (5000 bytes)"), so a binary file read as text cannot
// flood the terminal.
std::string Quote(absl::string_view text, size_t max_chars = 40);

// The line printed on stderr for a failed command, without the newline.
std::string FormatError(const absl::Status& status);

// The same for --json: one JSON object on one line,
//   {"error":{"code":"NOT_FOUND","message":"model 'x' not found",
//             "source":"server"}}
// with source "server", "connection", "local" or "usage" and the canonical
// code name;
// bytes of the message that are not UTF-8 become U+FFFD.
std::string FormatErrorJson(const absl::Status& status);

// The process exit code for a command's result.
int ExitCode(const absl::Status& status, bool interrupted);

}  // namespace mlp::cli

#endif  // MLP_CLIENT_STATUS_H_
