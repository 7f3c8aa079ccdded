// Binary serialisation of a Network that round-trips bit for bit.
//
// Format (little-endian): magic "MLPN", format version, the spec, then every
// layer's weights and bias as raw float32, and a CRC-32 of all that precedes
// it. Readers reject anything that does not check out.
#ifndef MLP_SERVER_ENGINE_SERIALIZE_H_
#define MLP_SERVER_ENGINE_SERIALIZE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/engine/network.h"

namespace mlp::engine {

std::string SerializeNetwork(const Network& network);

// DATA_LOSS for truncated, corrupt (checksum) or unrecognised bytes;
// INVALID_ARGUMENT if the decoded spec or weights are invalid.
absl::StatusOr<Network> ParseNetwork(absl::string_view bytes);

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_SERIALIZE_H_
