#include "server/common/crc32.h"

#include <zlib.h>

#include <algorithm>

namespace mlp::common {

uint32_t Crc32(absl::string_view data, uint32_t crc) {
  // zlib's crc32 takes a uInt length: feed large buffers in pieces.
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), 1u << 30);
    crc = static_cast<uint32_t>(
        ::crc32(crc, reinterpret_cast<const Bytef*>(data.data()),
                static_cast<uInt>(n)));
    data.remove_prefix(n);
  }
  return crc;
}

}  // namespace mlp::common
