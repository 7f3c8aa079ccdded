// IDX files (the MNIST / Fashion-MNIST format, plain or gzip-compressed) as
// engine matrices, for tests that train on the real data set. The server
// never reads IDX: clients stream rows (the CLI has its own reader).
#ifndef MLP_TESTS_TESTING_IDX_H_
#define MLP_TESTS_TESTING_IDX_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"

namespace mlp::testing {

// An IDX file of unsigned bytes (magic 0x0000080N), .gz or plain (zlib reads
// both), as a [prod(dims[1:]) x dims[0]] matrix: one item per column, e.g.
// [784 x 60000] for MNIST images, [1 x 60000] for its labels. scale = true
// maps 0..255 to [0, 1]. NOT_FOUND if the file cannot be opened;
// INVALID_ARGUMENT naming the file for a bad magic, a short header, a data
// size that disagrees with the dimensions, or a corrupt gzip stream.
absl::StatusOr<engine::Matrix> ReadIdx(const std::string& path, bool scale);

// An IDX images file and its labels file as a dataset whose targets are
// [1 x N] class indices. INVALID_ARGUMENT if the counts differ.
absl::StatusOr<engine::Dataset> ReadIdxDataset(const std::string& images_path,
                                               const std::string& labels_path);

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_IDX_H_
