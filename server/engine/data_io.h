// Readers for the training data people have: CSV files and IDX files (the
// MNIST / Fashion-MNIST format, plain or gzip-compressed).
//
// Results use the engine's layout: one sample per column.
// Errors name the file, and for CSV the line and column:
//   "data.csv:7:3: expected a number, got 'abc'".
#ifndef MLP_SERVER_ENGINE_DATA_IO_H_
#define MLP_SERVER_ENGINE_DATA_IO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/network.h"

namespace mlp::engine {

struct Dataset {
  Matrix inputs;   // [input_size x N]
  Matrix targets;  // [target_size x N]
};

struct CsvOptions {
  // Columns (0-based) that hold targets; negative values count from the end
  // (-1 = last column). Every other column is an input.
  std::vector<int> target_columns = {-1};
  enum class Header { kAuto, kPresent, kAbsent };
  // kAuto: the first line is a header if any of its fields is not a number.
  Header header = Header::kAuto;
  char delimiter = ',';
};

// NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT with
// file:line:column for ragged rows, non-numbers, NaN/Inf, bad target columns
// or an empty file.
absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const CsvOptions& options);

// An IDX file of unsigned bytes (magic 0x0000080N), .gz or plain, as a
// [prod(dims[1:]) x dims[0]] matrix. scale = true maps 0..255 to [0, 1].
absl::StatusOr<Matrix> ReadIdx(const std::string& path, bool scale);

// An IDX images file and its labels file as a dataset whose targets are
// [1 x N] class indices. INVALID_ARGUMENT if the counts differ.
absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path);

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_DATA_IO_H_
