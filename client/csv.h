// A streaming reader for numeric CSV files (training data, prediction
// inputs). Memory stays bounded by one batch whatever the file size.
//
// Format: one row per line, fields separated by ','; blank lines are
// skipped; "\r\n" line ends are accepted. The first non-blank line is a
// header if any of its fields is not a number. Every row must have as many
// fields as the first one, and every field must be a finite number.
//
// Errors point at the culprit as "FILE:LINE:COL: message", 1-based, where
// COL is the character column at which the offending field starts (for a
// row that is too short: the end of the line), as compilers do. Text quoted
// from the file is escaped and bounded (see Quote in status.h); a file that
// is binary (a NUL byte in its first 512 bytes) or gzip-compressed is
// refused as a whole.
#ifndef MLP_CLIENT_CSV_H_
#define MLP_CLIENT_CSV_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/rows.h"

namespace mlp::cli {

// Thread-compatible: one thread at a time.
class CsvReader final : public RowSource {
 public:
  // `targets` names the target columns: comma-separated 0-based indices
  // (negative ones count from the end, "-1" = the last column) or header
  // names, in the order the targets have; empty = every column is an input.
  // NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT for an empty
  // file, an unknown or repeated target column, or no input column left.
  static absl::StatusOr<std::unique_ptr<CsvReader>> Open(
      const std::string& path, absl::string_view targets);

  int input_size() const override { return input_size_; }
  int target_size() const override {
    return static_cast<int>(target_columns_.size());
  }
  absl::StatusOr<size_t> Read(size_t max_rows, std::vector<float>* inputs,
                              std::vector<float>* targets) override;
  double fraction_read() const override;

  // Column names from the header line; empty if the file has none.
  const std::vector<std::string>& header() const { return header_; }

 private:
  CsvReader(std::string path, std::ifstream file, uint64_t file_size)
      : path_(std::move(path)), file_(std::move(file)), file_size_(file_size) {}

  // Reads the next non-blank line into line_; false at the end of the file.
  bool NextLine();
  // Splits line_ into fields_ (and where each starts, in field_starts_).
  void SplitLine();
  absl::Status LineError(size_t column, absl::string_view message) const;
  absl::Status ResolveTargets(absl::string_view targets);
  // The header's names, quoted and bounded for an error message.
  std::string HeaderList() const;
  // Appends the fields of the current line to *inputs and *targets.
  absl::Status ParseRow(std::vector<float>* inputs,
                        std::vector<float>* targets);

  const std::string path_;
  std::ifstream file_;
  const uint64_t file_size_;

  int columns_ = 0;
  int input_size_ = 0;
  std::vector<std::string> header_;
  std::vector<int> target_columns_;  // in target order
  std::vector<int> input_columns_;   // ascending
  std::vector<int> target_index_;    // per column: its target slot or -1

  std::string line_;
  uint64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;    // for fraction_read(); a line end counts 1
  bool line_pending_ = false;  // line_ holds a data row not yet returned
  std::vector<absl::string_view> fields_;  // views into line_
  std::vector<size_t> field_starts_;       // 0-based offsets into line_
  std::vector<float> row_;                 // per column, reused
};

}  // namespace mlp::cli

#endif  // MLP_CLIENT_CSV_H_
