#include "tests/testing/idx.h"

#include <zlib.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mlp::testing {

absl::StatusOr<engine::Matrix> ReadIdx(const std::string& path, bool scale) {
  // gzopen reads plain files transparently, so one path serves both.
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  }
  std::string bytes;
  char chunk[1 << 16];
  int got = 0;
  while ((got = gzread(file, chunk, sizeof(chunk))) > 0)
    bytes.append(chunk, static_cast<size_t>(got));
  int err = Z_OK;
  const char* message = gzerror(file, &err);
  const bool failed = got < 0 || (err != Z_OK && err != Z_STREAM_END);
  const std::string error_text = failed ? std::string(message) : std::string();
  gzclose(file);
  if (failed) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot decompress: ", error_text));
  }
  if (bytes.size() < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": has ", bytes.size(), " bytes, expected an IDX header"));
  }
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const int dims = byte(3);
  if (byte(0) != 0 || byte(1) != 0 || byte(2) != 0x08 || dims < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": magic is 0x",
        absl::Hex(uint32_t{byte(0)} << 24 | uint32_t{byte(1)} << 16 |
                      uint32_t{byte(2)} << 8 | uint32_t{byte(3)},
                  absl::kZeroPad8),
        ", expected 0x0000080N (unsigned bytes, N >= 1 dimensions)"));
  }
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() < header) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": has ", bytes.size(), " bytes, expected a header of ", header));
  }
  std::vector<uint64_t> sizes(static_cast<size_t>(dims));
  uint64_t per_item = 1;
  for (int d = 0; d < dims; ++d) {
    const size_t o = 4 + 4 * static_cast<size_t>(d);
    sizes[static_cast<size_t>(d)] =
        uint64_t{byte(o)} << 24 | uint64_t{byte(o + 1)} << 16 |
        uint64_t{byte(o + 2)} << 8 | uint64_t{byte(o + 3)};
    if (d > 0) per_item *= sizes[static_cast<size_t>(d)];
    if (per_item > (uint64_t{1} << 31)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": item size overflows, expected under 2^31 values"));
    }
  }
  const uint64_t items = sizes[0];
  const uint64_t expected = items * per_item;
  if (bytes.size() - header != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": has ", bytes.size() - header, " bytes of data, expected ",
        expected, " (", items, " items of ", per_item, ")"));
  }
  engine::Matrix out(static_cast<Eigen::Index>(per_item),
                     static_cast<Eigen::Index>(items));
  const float factor = scale ? 1.0f / 255.0f : 1.0f;
  float* dst = out.data();
  const uint8_t* src = reinterpret_cast<const uint8_t*>(bytes.data() + header);
  for (uint64_t i = 0; i < expected; ++i)
    dst[i] = static_cast<float>(src[i]) * factor;
  return out;
}

absl::StatusOr<engine::Dataset> ReadIdxDataset(const std::string& images_path,
                                               const std::string& labels_path) {
  absl::StatusOr<engine::Matrix> images = ReadIdx(images_path, /*scale=*/true);
  if (!images.ok()) return images.status();
  absl::StatusOr<engine::Matrix> labels = ReadIdx(labels_path, /*scale=*/false);
  if (!labels.ok()) return labels.status();
  if (labels->rows() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": has items of ", labels->rows(),
                     " values, expected 1 label per item"));
  }
  if (labels->cols() != images->cols()) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels_path, ": has ", labels->cols(), " labels, expected ",
        images->cols(), " as images in ", images_path));
  }
  engine::Dataset data;
  data.inputs = std::move(*images);
  data.targets = std::move(*labels);
  return data;
}

}  // namespace mlp::testing
