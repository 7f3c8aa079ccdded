// Binary serialisation of a Network that round-trips bit for bit.
//
// Format (little-endian): magic "MLPN", format version (2), the spec, then
// every layer's weights and bias as raw float32. The blob has no checksum of
// its own: whoever stores it protects it (the model store writes it inside a
// record with a CRC-32 over the same bytes). Format 1, the same followed by a
// CRC-32, is still read; its CRC is not checked again.
#ifndef MLP_SERVER_ENGINE_SERIALIZE_H_
#define MLP_SERVER_ENGINE_SERIALIZE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/engine/network.h"

namespace mlp::engine {

std::string SerializeNetwork(const Network& network);

// DATA_LOSS for truncated or unrecognised bytes (magic, format version, a
// length that does not match the spec); INVALID_ARGUMENT if the decoded spec
// or weights are invalid.
absl::StatusOr<Network> ParseNetwork(absl::string_view bytes);

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_SERIALIZE_H_
