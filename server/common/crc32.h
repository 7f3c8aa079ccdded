// CRC-32 (IEEE 802.3, zlib's crc32), the checksum of every file the store
// writes.
#ifndef MLP_SERVER_COMMON_CRC32_H_
#define MLP_SERVER_COMMON_CRC32_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace mlp::common {

// The CRC-32 of `data`, continuing from `crc` (0 to start): Crc32(b, Crc32(a))
// is the CRC-32 of a followed by b.
uint32_t Crc32(absl::string_view data, uint32_t crc = 0);

}  // namespace mlp::common

#endif  // MLP_SERVER_COMMON_CRC32_H_
