#include "client/rows.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/csv.h"
#include "client/idx.h"
#include "client/status.h"

namespace mlp::cli {

size_t RowsPerBatch(const RowSource& source, size_t max_bytes) {
  const size_t row_bytes =
      sizeof(float) *
      static_cast<size_t>(source.input_size() + source.target_size());
  return std::max<size_t>(1, max_bytes / std::max<size_t>(1, row_bytes));
}

absl::StatusOr<std::unique_ptr<RowSource>> OpenRows(const DataFiles& files) {
  const bool idx_images = !files.labels.empty() || LooksLikeIdx(files.path);
  if (idx_images) {
    if (!files.targets.empty()) {
      return UsageError(absl::StrCat(
          files.path,
          " holds IDX images: their targets come from --labels FILE; "
          "--targets is for CSV files"));
    }
    auto idx = IdxReader::Open(files.path, files.labels);
    if (!idx.ok()) return idx.status();
    return std::unique_ptr<RowSource>(std::move(idx).value());
  }
  auto csv = CsvReader::Open(files.path, files.targets);
  if (!csv.ok()) return csv.status();
  return std::unique_ptr<RowSource>(std::move(csv).value());
}

}  // namespace mlp::cli
