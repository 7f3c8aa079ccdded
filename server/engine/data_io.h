// Readers for the training data people have: CSV files and IDX files (the
// MNIST / Fashion-MNIST format, plain or gzip-compressed).
//
// Results use the engine's layout: one sample per column.
// Errors name the file, and for CSV the line and the 1-based character column
// where the offending field starts, then the field's 1-based index:
//   "data.csv:7:5: field 3 is 'abc', expected a number".
//
// Thread-safety: free functions with no shared state.
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

// Blank lines are skipped, "\r\n" endings accepted, fields trimmed of spaces
// and tabs; numbers are read locale-independently (std::from_chars).
// NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT with
// file:line:column for ragged rows (against the first line's width),
// non-numbers, NaN/Inf, bad or repeated target columns, no input column left,
// or no data rows.
absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const CsvOptions& options);

// An IDX file of unsigned bytes (magic 0x0000080N), .gz or plain (zlib reads
// both), as a [prod(dims[1:]) x dims[0]] matrix: one item per column, e.g.
// [784 x 60000] for MNIST images, [1 x 60000] for its labels. scale = true
// maps 0..255 to [0, 1]. NOT_FOUND if the file cannot be opened;
// INVALID_ARGUMENT naming the file for a bad magic, a short header, a data
// size that disagrees with the dimensions, or a corrupt gzip stream.
absl::StatusOr<Matrix> ReadIdx(const std::string& path, bool scale);

// An IDX images file and its labels file as a dataset whose targets are
// [1 x N] class indices. INVALID_ARGUMENT if the counts differ.
absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path);

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_DATA_IO_H_
