#include "client/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "client/status.h"

namespace mlp::cli {
namespace {

// IDX magic: two zero bytes, the element type (0x08 = unsigned byte) and the
// number of dimensions; then each dimension as a big-endian uint32.
constexpr uint8_t kUnsignedByte = 0x08;
// Guards against reading a random file's bytes as a huge allocation.
constexpr uint64_t kMaxItemSize = uint64_t{1} << 26;

uint32_t BigEndian32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
         (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]};
}

}  // namespace

absl::StatusOr<std::unique_ptr<IdxFile>> IdxFile::Open(
    const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  gzbuffer(gz, 1 << 17);
  std::unique_ptr<IdxFile> file(new IdxFile(path, gz));
  uint8_t magic[4];
  MLP_RETURN_IF_ERROR(file->ReadExactly(magic, sizeof(magic)));
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != kUnsignedByte ||
      magic[3] == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not an IDX file of unsigned bytes (magic ",
                     absl::Hex(BigEndian32(magic), absl::kZeroPad8),
                     ", expected 0x0000080N)"));
  }
  for (int i = 0; i < magic[3]; ++i) {
    uint8_t dim[4];
    MLP_RETURN_IF_ERROR(file->ReadExactly(dim, sizeof(dim)));
    file->dims_.push_back(BigEndian32(dim));
  }
  if (file->item_size() == 0 || file->item_size() > kMaxItemSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": items of ", file->item_size(), " bytes are not supported"));
  }
  return file;
}

IdxFile::~IdxFile() { gzclose(static_cast<gzFile>(gz_)); }

uint64_t IdxFile::item_size() const {
  uint64_t size = 1;
  for (size_t i = 1; i < dims_.size(); ++i) size *= dims_[i];
  return size;
}

absl::Status IdxFile::ReadExactly(uint8_t* out, size_t bytes) {
  while (bytes > 0) {
    const unsigned step = static_cast<unsigned>(
        std::min<size_t>(bytes, std::numeric_limits<int>::max()));
    const int got = gzread(static_cast<gzFile>(gz_), out, step);
    if (got <= 0) {
      int error = Z_OK;
      const char* message = gzerror(static_cast<gzFile>(gz_), &error);
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": ", got < 0 ? message : "the file ends too early"));
    }
    out += got;
    bytes -= static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

bool LooksLikeIdx(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) return false;
  uint8_t magic[4];
  const int got = gzread(gz, magic, sizeof(magic));
  gzclose(gz);
  return got == sizeof(magic) && magic[0] == 0 && magic[1] == 0 &&
         magic[2] >= 0x08 && magic[2] <= 0x0e && magic[3] >= 1 && magic[3] <= 8;
}

absl::StatusOr<std::unique_ptr<IdxReader>> IdxReader::Open(
    const std::string& images_path, const std::string& labels_path) {
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<IdxFile> images,
                       IdxFile::Open(images_path));
  if (labels_path.empty()) {
    return std::unique_ptr<IdxReader>(
        new IdxReader(std::move(images), nullptr));
  }
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<IdxFile> labels,
                       IdxFile::Open(labels_path));
  if (labels->dims().size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": a labels file has 1 dimension, got ",
                     labels->dims().size()));
  }
  if (labels->items() != images->items()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": ", labels->items(), " labels for ",
                     images->items(), " images in ", images_path));
  }
  return std::unique_ptr<IdxReader>(
      new IdxReader(std::move(images), std::move(labels)));
}

int IdxReader::input_size() const {
  return static_cast<int>(images_->item_size());
}

absl::StatusOr<size_t> IdxReader::Read(size_t max_rows,
                                       std::vector<float>* inputs,
                                       std::vector<float>* targets) {
  const size_t count =
      static_cast<size_t>(std::min<uint64_t>(max_rows, rows() - rows_read_));
  if (count == 0) return 0;
  const size_t pixels = count * images_->item_size();
  buffer_.resize(pixels);
  MLP_RETURN_IF_ERROR(images_->ReadExactly(buffer_.data(), pixels));
  // Same scaling as the server's own IDX reader, so that uploaded and
  // server-read data agree.
  for (uint8_t pixel : buffer_) inputs->push_back(pixel / 255.0f);
  if (labels_ != nullptr) {
    buffer_.resize(count);
    MLP_RETURN_IF_ERROR(labels_->ReadExactly(buffer_.data(), count));
    for (uint8_t label : buffer_) targets->push_back(label);
  }
  rows_read_ += count;
  return count;
}

double IdxReader::fraction_read() const {
  if (rows() == 0) return 1;
  return static_cast<double>(rows_read_) / static_cast<double>(rows());
}

}  // namespace mlp::cli
