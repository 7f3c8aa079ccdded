#include "server/engine/data_io.h"

#include <zlib.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mlp::engine {
namespace {

// One field of a CSV line: its text (trimmed) and 1-based character column.
struct Field {
  absl::string_view text;
  int column = 1;
};

void SplitLine(absl::string_view line, char delimiter,
               std::vector<Field>& out) {
  out.clear();
  size_t start = 0;
  while (true) {
    size_t end = line.find(delimiter, start);
    if (end == absl::string_view::npos) end = line.size();
    absl::string_view text = line.substr(start, end - start);
    int column = static_cast<int>(start) + 1;
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
      text.remove_prefix(1);
      ++column;
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
      text.remove_suffix(1);
    }
    out.push_back(Field{text, column});
    if (end == line.size()) break;
    start = end + 1;
  }
}

// A number, as strtof would read it but locale-independent; false if the
// whole text is not one.
bool ParseFloat(absl::string_view text, float* value) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const std::from_chars_result r = std::from_chars(text.data(), end, *value);
  return r.ec == std::errc() && r.ptr == end;
}

bool IsBlank(absl::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Dataset> ReadCsv(const std::string& path,
                                const CsvOptions& options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  }
  std::ostringstream buffer;
  buffer << file.rdbuf();
  const std::string content = buffer.str();
  const absl::string_view all(content);

  std::vector<Field> fields;
  std::vector<float> input_values, target_values;
  std::vector<int> is_target;  // per column: -1 input, else target slot
  int columns = 0;
  int first_line = 0;
  int64_t rows = 0;
  bool first = true;
  int line_no = 0;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\n', pos);
    if (end == absl::string_view::npos) end = all.size();
    absl::string_view line = all.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (IsBlank(line)) continue;
    SplitLine(line, options.delimiter, fields);
    if (first) {
      first = false;
      columns = static_cast<int>(fields.size());
      first_line = line_no;
      // Resolve the target columns against the first line's width.
      is_target.assign(static_cast<size_t>(columns), -1);
      if (options.target_columns.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": target_columns is empty, expected at least one column"));
      }
      for (size_t i = 0; i < options.target_columns.size(); ++i) {
        int c = options.target_columns[i];
        if (c < 0) c += columns;
        if (c < 0 || c >= columns) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ":", line_no, ":1: target_columns[", i, "] is ",
              options.target_columns[i], ", expected ", -columns, " to ",
              columns - 1, " for ", columns, " columns"));
        }
        if (is_target[static_cast<size_t>(c)] >= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": target_columns[", i, "] repeats column ", c));
        }
        is_target[static_cast<size_t>(c)] = static_cast<int>(i);
      }
      if (options.target_columns.size() >= static_cast<size_t>(columns)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":", line_no, ":1: all ", columns,
            " columns are targets, expected at least one input column"));
      }
      bool header = options.header == CsvOptions::Header::kPresent;
      if (options.header == CsvOptions::Header::kAuto) {
        float ignored = 0.0f;
        for (const Field& f : fields) {
          if (!ParseFloat(f.text, &ignored)) header = true;
        }
      }
      if (header) continue;
    }
    if (static_cast<int>(fields.size()) != columns) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_no, ":1: row has ", fields.size(),
          " fields, expected ", columns, " as on line ", first_line));
    }
    const size_t target_base = target_values.size();
    target_values.resize(target_base + options.target_columns.size());
    for (int c = 0; c < columns; ++c) {
      const Field& f = fields[static_cast<size_t>(c)];
      float value = 0.0f;
      if (!ParseFloat(f.text, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_no, ":", f.column, ": field ", c + 1,
                         " is '", f.text, "', expected a number"));
      }
      if (!std::isfinite(value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_no, ":", f.column, ": field ", c + 1,
                         " is '", f.text, "', expected a finite number"));
      }
      const int slot = is_target[static_cast<size_t>(c)];
      if (slot >= 0) {
        target_values[target_base + static_cast<size_t>(slot)] = value;
      } else {
        input_values.push_back(value);
      }
    }
    ++rows;
  }
  if (rows == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": has no data rows, expected at least 1"));
  }
  const Eigen::Index n_targets =
      static_cast<Eigen::Index>(options.target_columns.size());
  const Eigen::Index n_inputs = columns - n_targets;
  Dataset data;
  // Values were appended sample by sample: column-major [features x rows].
  data.inputs = Eigen::Map<const Matrix>(input_values.data(), n_inputs, rows);
  data.targets =
      Eigen::Map<const Matrix>(target_values.data(), n_targets, rows);
  return data;
}

absl::StatusOr<Matrix> ReadIdx(const std::string& path, bool scale) {
  // gzopen reads plain files transparently, so one path serves both.
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  }
  std::string bytes;
  char chunk[1 << 16];
  int got = 0;
  while ((got = gzread(file, chunk, sizeof(chunk))) > 0)
    bytes.append(chunk, static_cast<size_t>(got));
  int err = Z_OK;
  const char* message = gzerror(file, &err);
  const bool failed = got < 0 || (err != Z_OK && err != Z_STREAM_END);
  const std::string error_text = failed ? std::string(message) : std::string();
  gzclose(file);
  if (failed) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot decompress: ", error_text));
  }
  if (bytes.size() < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": has ", bytes.size(), " bytes, expected an IDX header"));
  }
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const int dims = byte(3);
  if (byte(0) != 0 || byte(1) != 0 || byte(2) != 0x08 || dims < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": magic is 0x",
        absl::Hex(uint32_t{byte(0)} << 24 | uint32_t{byte(1)} << 16 |
                      uint32_t{byte(2)} << 8 | uint32_t{byte(3)},
                  absl::kZeroPad8),
        ", expected 0x0000080N (unsigned bytes, N >= 1 dimensions)"));
  }
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() < header) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": has ", bytes.size(), " bytes, expected a header of ", header));
  }
  std::vector<uint64_t> sizes(static_cast<size_t>(dims));
  uint64_t per_item = 1;
  for (int d = 0; d < dims; ++d) {
    const size_t o = 4 + 4 * static_cast<size_t>(d);
    sizes[static_cast<size_t>(d)] =
        uint64_t{byte(o)} << 24 | uint64_t{byte(o + 1)} << 16 |
        uint64_t{byte(o + 2)} << 8 | uint64_t{byte(o + 3)};
    if (d > 0) per_item *= sizes[static_cast<size_t>(d)];
    if (per_item > (uint64_t{1} << 31)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": item size overflows, expected under 2^31 values"));
    }
  }
  const uint64_t items = sizes[0];
  const uint64_t expected = items * per_item;
  if (bytes.size() - header != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": has ", bytes.size() - header, " bytes of data, expected ",
        expected, " (", items, " items of ", per_item, ")"));
  }
  Matrix out(static_cast<Eigen::Index>(per_item),
             static_cast<Eigen::Index>(items));
  const float factor = scale ? 1.0f / 255.0f : 1.0f;
  float* dst = out.data();
  const uint8_t* src = reinterpret_cast<const uint8_t*>(bytes.data() + header);
  for (uint64_t i = 0; i < expected; ++i)
    dst[i] = static_cast<float>(src[i]) * factor;
  return out;
}

absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path) {
  absl::StatusOr<Matrix> images = ReadIdx(images_path, /*scale=*/true);
  if (!images.ok()) return images.status();
  absl::StatusOr<Matrix> labels = ReadIdx(labels_path, /*scale=*/false);
  if (!labels.ok()) return labels.status();
  if (labels->rows() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": has items of ", labels->rows(),
                     " values, expected 1 label per item"));
  }
  if (labels->cols() != images->cols()) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels_path, ": has ", labels->cols(), " labels, expected ",
        images->cols(), " as images in ", images_path));
  }
  Dataset data;
  data.inputs = std::move(*images);
  data.targets = std::move(*labels);
  return data;
}

}  // namespace mlp::engine
