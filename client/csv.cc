#include "client/csv.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/parse.h"
#include "client/status.h"

namespace mlp::cli {
namespace {

constexpr char kDelimiter = ',';

absl::string_view Unquote(absl::string_view field) {
  field = absl::StripAsciiWhitespace(field);
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
    field = field.substr(1, field.size() - 2);
  }
  return field;
}

bool IsBlank(absl::string_view line) {
  return absl::StripAsciiWhitespace(line).empty();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CsvReader>> CsvReader::Open(
    const std::string& path, absl::string_view targets) {
  std::ifstream file(path, std::ios::binary);
  if (!file.is_open()) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::error_code error;
  const uint64_t size = std::filesystem::file_size(path, error);
  // A binary file read as text makes only confusing errors about fields;
  // say what it is instead.
  char start[512];
  file.read(start, sizeof(start));
  const absl::string_view head(start, static_cast<size_t>(file.gcount()));
  if (absl::StartsWith(head, "\x1f\x8b")) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": gzip-compressed, and not IDX images: a CSV file must be "
        "plain text (decompress it first)"));
  }
  if (absl::StrContains(head, '\0')) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": binary data, neither a CSV file nor IDX images"));
  }
  file.clear();
  file.seekg(0);
  std::unique_ptr<CsvReader> reader(
      new CsvReader(path, std::move(file), error ? 0 : size));

  if (!reader->NextLine()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no rows"));
  }
  reader->SplitLine();
  reader->columns_ = static_cast<int>(reader->fields_.size());
  bool is_header = false;
  for (absl::string_view field : reader->fields_) {
    if (!ParseFloat(field)) is_header = true;
  }
  if (is_header) {
    for (absl::string_view field : reader->fields_) {
      reader->header_.emplace_back(Unquote(field));
    }
  } else {
    reader->line_pending_ = true;
  }
  MLP_RETURN_IF_ERROR(reader->ResolveTargets(targets));
  return reader;
}

absl::Status CsvReader::ResolveTargets(absl::string_view targets) {
  target_index_.assign(columns_, -1);
  if (!absl::StripAsciiWhitespace(targets).empty()) {
    for (absl::string_view item : absl::StrSplit(targets, kDelimiter)) {
      item = absl::StripAsciiWhitespace(item);
      int column = -1;
      if (absl::SimpleAtoi(item, &column)) {
        if (column < 0) column += columns_;
        if (column < 0 || column >= columns_) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": target column ", Quote(item),
                           " does not exist: the file has ", columns_,
                           " columns (0-based; -1 is the last)"));
        }
      } else {
        column = -1;  // SimpleAtoi may have written to it
        for (int i = 0; i < static_cast<int>(header_.size()); ++i) {
          if (header_[i] == item) column = i;
        }
        if (column < 0) {
          return absl::InvalidArgumentError(
              header_.empty()
                  ? absl::StrCat(path_, ": no column named ", Quote(item),
                                 ": the file has no header line")
                  : absl::StrCat(path_, ": no column named ", Quote(item),
                                 "; the columns are ", HeaderList()));
        }
      }
      if (target_index_[column] >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            path_, ": target column ", Quote(item), " given twice"));
      }
      target_index_[column] = static_cast<int>(target_columns_.size());
      target_columns_.push_back(column);
    }
  }
  for (int i = 0; i < columns_; ++i) {
    if (target_index_[i] < 0) input_columns_.push_back(i);
  }
  input_size_ = static_cast<int>(input_columns_.size());
  if (input_size_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": all ", columns_, " columns are targets; no input is left"));
  }
  return absl::OkStatus();
}

std::string CsvReader::HeaderList() const {
  constexpr size_t kShown = 12;
  std::vector<std::string> names;
  for (size_t i = 0; i < header_.size() && i < kShown; ++i) {
    names.push_back(Quote(header_[i]));
  }
  std::string list = absl::StrJoin(names, ", ");
  if (header_.size() > kShown) {
    absl::StrAppend(&list, ", ... (", header_.size(), " columns)");
  }
  return list;
}

bool CsvReader::NextLine() {
  while (std::getline(file_, line_)) {
    ++line_number_;
    bytes_read_ += line_.size() + 1;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (!IsBlank(line_)) return true;
  }
  return false;
}

void CsvReader::SplitLine() {
  fields_ = absl::StrSplit(line_, kDelimiter);
  field_starts_.clear();
  for (absl::string_view field : fields_) {
    field_starts_.push_back(static_cast<size_t>(field.data() - line_.data()));
  }
}

absl::Status CsvReader::LineError(size_t column,
                                  absl::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat(path_, ":", line_number_, ":", column, ": ", message));
}

absl::Status CsvReader::ParseRow(std::vector<float>* inputs,
                                 std::vector<float>* targets) {
  const int fields = static_cast<int>(fields_.size());
  if (fields != columns_) {
    // Point at the first field too many, or just past the end of the line.
    const size_t column =
        fields > columns_ ? field_starts_[columns_] + 1 : line_.size() + 1;
    return LineError(column,
                     absl::StrCat("expected ", columns_,
                                  " fields like the first row, got ", fields));
  }
  row_.resize(columns_);
  for (int i = 0; i < columns_; ++i) {
    std::optional<float> value = ParseFloat(fields_[i]);
    if (!value) {
      const absl::string_view field = fields_[i];
      const absl::string_view text = absl::StripAsciiWhitespace(field);
      const size_t leading = text.empty() ? 0 : text.data() - field.data();
      return LineError(
          field_starts_[i] + leading + 1,
          text.empty()
              ? std::string("empty field, expected a number")
              : absl::StrCat("expected a finite number, got ", Quote(text)));
    }
    row_[i] = *value;
  }
  for (int column : input_columns_) inputs->push_back(row_[column]);
  for (int column : target_columns_) targets->push_back(row_[column]);
  return absl::OkStatus();
}

absl::StatusOr<size_t> CsvReader::Read(size_t max_rows,
                                       std::vector<float>* inputs,
                                       std::vector<float>* targets) {
  size_t rows = 0;
  while (rows < max_rows) {
    if (line_pending_) {
      line_pending_ = false;
    } else {
      if (!NextLine()) {
        if (file_.bad()) {
          return absl::DataLossError(
              absl::StrCat(path_, ":", line_number_, ": read error"));
        }
        break;
      }
      SplitLine();
    }
    MLP_RETURN_IF_ERROR(ParseRow(inputs, targets));
    ++rows;
  }
  return rows;
}

double CsvReader::fraction_read() const {
  if (file_size_ == 0) return 0;
  return std::min(
      1.0, static_cast<double>(bytes_read_) / static_cast<double>(file_size_));
}

}  // namespace mlp::cli
