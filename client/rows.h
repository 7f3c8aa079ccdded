// A source of training or prediction rows read in batches, so that files of
// any size go to the server with bounded memory: CSV files (csv.h) and IDX
// image/label pairs (idx.h).
#ifndef MLP_CLIENT_ROWS_H_
#define MLP_CLIENT_ROWS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mlp::cli {

class RowSource {
 public:
  virtual ~RowSource() = default;

  // Values per input row and per target row (0 when the source has none).
  virtual int input_size() const = 0;
  virtual int target_size() const = 0;

  // Appends up to `max_rows` rows, row-major: input values to *inputs and
  // target values to *targets. Returns the number of rows appended; 0 means
  // the end of the data. INVALID_ARGUMENT for malformed data, with the file
  // (and for text, "FILE:LINE:COL: ") in the message; after an error the
  // source must not be read again.
  virtual absl::StatusOr<size_t> Read(size_t max_rows,
                                      std::vector<float>* inputs,
                                      std::vector<float>* targets) = 0;

  // How much of the data has been read, in [0, 1], for progress display.
  virtual double fraction_read() const = 0;
};

// Rows such that one batch of inputs and targets stays under `max_bytes`
// (gRPC messages must stay well under the server's size limit); at least 1.
size_t RowsPerBatch(const RowSource& source, size_t max_bytes);

// The data options shared by train, predict, evaluate and dataset upload:
// `path` is a CSV file whose `targets` columns are the targets (empty: none),
// or IDX images (recognised by their header, plain or gzip-compressed) with
// the IDX labels file `labels` as targets (empty: none).
struct DataFiles {
  std::string path;
  std::string targets;
  std::string labels;
};

// NOT_FOUND if a file cannot be opened; INVALID_ARGUMENT if it is malformed;
// a usage error for --targets with IDX images.
absl::StatusOr<std::unique_ptr<RowSource>> OpenRows(const DataFiles& files);

}  // namespace mlp::cli

#endif  // MLP_CLIENT_ROWS_H_
