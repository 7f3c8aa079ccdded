#include "client/rows.h"

#include <algorithm>

#include "client/csv.h"
#include "client/idx.h"

namespace mlp::cli {

size_t RowsPerBatch(const RowSource& source, size_t max_bytes) {
  const size_t row_bytes =
      sizeof(float) *
      static_cast<size_t>(source.input_size() + source.target_size());
  return std::max<size_t>(1, max_bytes / std::max<size_t>(1, row_bytes));
}

absl::StatusOr<std::unique_ptr<RowSource>> OpenRows(const DataFiles& files) {
  if (!files.labels.empty()) {
    auto idx = IdxReader::Open(files.path, files.labels);
    if (!idx.ok()) return idx.status();
    return std::unique_ptr<RowSource>(std::move(idx).value());
  }
  auto csv = CsvReader::Open(files.path, files.targets);
  if (!csv.ok()) return csv.status();
  return std::unique_ptr<RowSource>(std::move(csv).value());
}

}  // namespace mlp::cli
