// A streaming reader for IDX files, the MNIST / Fashion-MNIST format, plain
// or gzip-compressed: an images file (unsigned bytes, N x d1 x d2 ...) and
// its labels file (unsigned bytes, N) read together as rows of pixels scaled
// from 0..255 to [0, 1] with one class index as the target, or the images
// alone.
#ifndef MLP_CLIENT_IDX_H_
#define MLP_CLIENT_IDX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/rows.h"

namespace mlp::cli {

// One open IDX file of unsigned bytes; the gzip stream is read transparently
// (zlib also reads plain files). Thread-compatible.
class IdxFile final {
 public:
  // NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT if its header
  // is not that of an IDX file of unsigned bytes.
  static absl::StatusOr<std::unique_ptr<IdxFile>> Open(const std::string& path);
  ~IdxFile();
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;

  // The first dimension: the number of items.
  uint64_t items() const { return dims_.front(); }
  // Bytes per item: the product of the other dimensions (1 for labels).
  uint64_t item_size() const;
  const std::vector<uint32_t>& dims() const { return dims_; }

  // Reads exactly `bytes` into `out`; INVALID_ARGUMENT if the file ends first.
  absl::Status ReadExactly(uint8_t* out, size_t bytes);

 private:
  IdxFile(std::string path, void* gz) : path_(std::move(path)), gz_(gz) {}

  const std::string path_;
  void* const gz_;  // gzFile, kept opaque so zlib.h stays out of this header
  std::vector<uint32_t> dims_;
};

// Whether `path`, plain or gzip-compressed, starts with an IDX header: two
// zero bytes, an element type (0x08 unsigned byte ... 0x0E double) and 1 to
// 8 dimensions. False if it cannot be read.
bool LooksLikeIdx(const std::string& path);

class IdxReader final : public RowSource {
 public:
  // `labels_path` empty: images alone, with no targets (for prediction).
  // INVALID_ARGUMENT if the labels file is not one-dimensional or the counts
  // differ; see IdxFile::Open for the rest.
  static absl::StatusOr<std::unique_ptr<IdxReader>> Open(
      const std::string& images_path, const std::string& labels_path);

  int input_size() const override;
  int target_size() const override { return labels_ != nullptr ? 1 : 0; }
  absl::StatusOr<size_t> Read(size_t max_rows, std::vector<float>* inputs,
                              std::vector<float>* targets) override;
  double fraction_read() const override;

  uint64_t rows() const { return images_->items(); }

 private:
  IdxReader(std::unique_ptr<IdxFile> images, std::unique_ptr<IdxFile> labels)
      : images_(std::move(images)), labels_(std::move(labels)) {}

  std::unique_ptr<IdxFile> images_;
  std::unique_ptr<IdxFile> labels_;  // null: images alone
  uint64_t rows_read_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace mlp::cli

#endif  // MLP_CLIENT_IDX_H_
