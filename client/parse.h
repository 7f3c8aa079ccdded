// Parsing of the numbers and small specs that users type or write in files.
#ifndef MLP_CLIENT_PARSE_H_
#define MLP_CLIENT_PARSE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mlp/v1/mlp.pb.h"

namespace mlp::cli {

// A finite float32 written in decimal or scientific notation, surrounded by
// optional blanks ("1", " -0.5", "1e-3", "+2"). nullopt for anything else,
// including NaN, infinities and values out of float range.
std::optional<float> ParseFloat(absl::string_view text);

// "1,0.5,-2" -> {1, 0.5, -2}. INVALID_ARGUMENT naming the 1-based position
// of the first value that is not a number.
absl::StatusOr<std::vector<float>> ParseNumberList(absl::string_view text);

// "4:relu" -> {units 4, RELU}. INVALID_ARGUMENT for a missing or zero unit
// count or an unknown activation.
absl::StatusOr<mlp::v1::LayerSpec> ParseLayer(absl::string_view text);

// A server address as --server and MLP_SERVER take it: HOST:PORT with a port
// in 1-65535 ("127.0.0.1:50051", "[::1]:50051", "localhost:50051"), or a
// gRPC target with a scheme ("dns:///host:50051", "unix:/run/mlp.sock"),
// which is left to gRPC. INVALID_ARGUMENT saying what is wrong otherwise:
// gRPC would quietly wrap a port such as 99999 into another one.
absl::Status CheckServerAddress(absl::string_view address);

}  // namespace mlp::cli

#endif  // MLP_CLIENT_PARSE_H_
