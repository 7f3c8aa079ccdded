#include "server/store/dataset_store.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/engine/status_macros.h"
#include "server/store/file_util.h"
#include "server/store/record.h"

namespace mlp::store {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[] = "MLPD";
constexpr uint32_t kFormat = 1;
constexpr char kExtension[] = ".mlpd";
// magic, format, input_size, target_size, rows, created_at, rows CRC, CRC.
constexpr size_t kTrailerSize = 4 + 4 + 4 + 4 + 8 + 8 + 4 + 4;

struct Trailer {
  uint32_t input_size = 0;
  uint32_t target_size = 0;
  uint64_t rows = 0;
  int64_t created_at_nanos = 0;
  uint32_t rows_crc = 0;
};

std::string EncodeTrailer(const Trailer& t) {
  RecordWriter w(kMagic, kFormat);
  w.Put(t.input_size);
  w.Put(t.target_size);
  w.Put(t.rows);
  w.Put(t.created_at_nanos);
  w.Put(t.rows_crc);
  return std::move(w).Finish();
}

// Checks the trailer and the CRC of the rows; returns the trailer.
absl::StatusOr<Trailer> Verify(absl::string_view file,
                               const std::string& path) {
  if (file.size() < kTrailerSize) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated (", file.size(), " bytes)"));
  }
  MLP_ASSIGN_OR_RETURN(
      RecordReader r,
      RecordReader::Open(file.substr(file.size() - kTrailerSize), kMagic,
                         kFormat, path));
  Trailer t;
  MLP_RETURN_IF_ERROR(r.Get(&t.input_size));
  MLP_RETURN_IF_ERROR(r.Get(&t.target_size));
  MLP_RETURN_IF_ERROR(r.Get(&t.rows));
  MLP_RETURN_IF_ERROR(r.Get(&t.created_at_nanos));
  MLP_RETURN_IF_ERROR(r.Get(&t.rows_crc));
  MLP_RETURN_IF_ERROR(r.ExpectEnd());
  const absl::string_view rows = file.substr(0, file.size() - kTrailerSize);
  const uint64_t row_bytes =
      (uint64_t{t.input_size} + t.target_size) * sizeof(float);
  if (t.input_size == 0 || t.target_size == 0 || row_bytes == 0 ||
      rows.size() % row_bytes != 0 || rows.size() / row_bytes != t.rows) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", rows.size(), " bytes of rows do not match ", t.rows,
        " rows of ", t.input_size, "+", t.target_size, " values"));
  }
  if (Crc32(rows) != t.rows_crc) {
    return absl::DataLossError(absl::StrCat(path, ": checksum mismatch"));
  }
  return t;
}

}  // namespace

DatasetWriter::DatasetWriter(std::string name, std::string tmp_path,
                             std::string final_path, std::string dir,
                             std::FILE* file, uint32_t input_size,
                             uint32_t target_size)
    : name_(std::move(name)),
      tmp_path_(std::move(tmp_path)),
      final_path_(std::move(final_path)),
      dir_(std::move(dir)),
      file_(file),
      input_size_(input_size),
      target_size_(target_size),
      row_buffer_(size_t{input_size} + target_size) {}

DatasetWriter::~DatasetWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

absl::Status DatasetWriter::Write(const void* data, size_t size) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError("dataset writer is closed");
  }
  if (std::fwrite(data, 1, size, file_) != size) {
    return ErrnoStatus("write", tmp_path_, errno);
  }
  return absl::OkStatus();
}

absl::Status DatasetWriter::Append(const float* inputs, const float* targets,
                                   uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    std::copy_n(inputs + i * input_size_, input_size_, row_buffer_.begin());
    std::copy_n(targets + i * target_size_, target_size_,
                row_buffer_.begin() + input_size_);
    const size_t bytes = row_buffer_.size() * sizeof(float);
    crc_ = Crc32(absl::string_view(
                     reinterpret_cast<const char*>(row_buffer_.data()), bytes),
                 crc_);
    MLP_RETURN_IF_ERROR(Write(row_buffer_.data(), bytes));
  }
  rows_ += n;
  return absl::OkStatus();
}

absl::StatusOr<DatasetMeta> DatasetWriter::Commit() {
  const absl::Time created_at = absl::Now();
  Trailer t;
  t.input_size = input_size_;
  t.target_size = target_size_;
  t.rows = rows_;
  t.created_at_nanos = absl::ToUnixNanos(created_at);
  t.rows_crc = crc_;
  const std::string trailer = EncodeTrailer(t);
  MLP_RETURN_IF_ERROR(Write(trailer.data(), trailer.size()));
  if (std::fflush(file_) != 0) return ErrnoStatus("flush", tmp_path_, errno);
  if (::fsync(::fileno(file_)) != 0) {
    return ErrnoStatus("fsync", tmp_path_, errno);
  }
  const long size = std::ftell(file_);
  std::fclose(file_);
  file_ = nullptr;
  // link() refuses to replace an existing file: a concurrent upload of the
  // same name cannot be overwritten.
  if (::link(tmp_path_.c_str(), final_path_.c_str()) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat("dataset '", name_, "' already exists"));
    }
    return ErrnoStatus("link", final_path_, errno);
  }
  committed_ = true;
  ::unlink(tmp_path_.c_str());
  SyncDirectoryAfterCommit(dir_);
  DatasetMeta meta;
  meta.name = name_;
  meta.rows = rows_;
  meta.input_size = input_size_;
  meta.target_size = target_size_;
  meta.created_at = absl::FromUnixNanos(t.created_at_nanos);
  meta.size_bytes = static_cast<uint64_t>(size);
  return meta;
}

absl::StatusOr<std::unique_ptr<DatasetStore>> DatasetStore::Open(
    const std::string& data_dir) {
  const std::string dir = (fs::path(data_dir) / "datasets").string();
  const std::string quarantine_dir =
      (fs::path(data_dir) / "quarantine").string();
  MLP_RETURN_IF_ERROR(EnsureDirectory(dir));
  MLP_RETURN_IF_ERROR(EnsureDirectory(quarantine_dir));
  MLP_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(dir));
  for (const std::string& name : names) {
    // Interrupted uploads were never committed.
    if (absl::StartsWith(name, ".")) {
      std::error_code error;
      fs::remove(fs::path(dir) / name, error);
    }
  }
  return std::unique_ptr<DatasetStore>(new DatasetStore(dir, quarantine_dir));
}

std::string DatasetStore::PathOf(const std::string& name) const {
  return (fs::path(dir_) / absl::StrCat(name, kExtension)).string();
}

std::vector<DatasetMeta> DatasetStore::LoadAll() {
  std::vector<std::string> paths;
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir_);
  if (!names.ok()) {
    MLP_LOG(ERROR) << names.status().message();
    return {};
  }
  for (const std::string& file : *names) {
    if (!absl::StartsWith(file, ".") && absl::EndsWith(file, kExtension)) {
      paths.push_back((fs::path(dir_) / file).string());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<DatasetMeta> out;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> bytes = ReadFile(path);
    absl::StatusOr<Trailer> trailer =
        bytes.ok() ? Verify(*bytes, path)
                   : absl::StatusOr<Trailer>(bytes.status());
    if (!trailer.ok()) {
      MoveToQuarantine(path, quarantine_dir_, trailer.status());
      continue;
    }
    DatasetMeta meta;
    const std::string file = fs::path(path).filename().string();
    meta.name = file.substr(0, file.size() - std::string(kExtension).size());
    meta.rows = trailer->rows;
    meta.input_size = trailer->input_size;
    meta.target_size = trailer->target_size;
    meta.created_at = absl::FromUnixNanos(trailer->created_at_nanos);
    meta.size_bytes = bytes->size();
    out.push_back(std::move(meta));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<DatasetWriter>> DatasetStore::BeginWrite(
    const std::string& name, uint32_t input_size, uint32_t target_size) {
  const std::string final_path = PathOf(name);
  std::error_code exists_error;
  if (fs::exists(final_path, exists_error)) {
    return absl::AlreadyExistsError(
        absl::StrCat("dataset '", name, "' already exists"));
  }
  const std::string tmp_path =
      (fs::path(dir_) / absl::StrCat(".upload-", name, "-", UniqueSuffix()))
          .string();
  std::FILE* file = std::fopen(tmp_path.c_str(), "wbx");
  if (file == nullptr) return ErrnoStatus("create", tmp_path, errno);
  return std::unique_ptr<DatasetWriter>(new DatasetWriter(
      name, tmp_path, final_path, dir_, file, input_size, target_size));
}

absl::StatusOr<engine::Dataset> DatasetStore::Read(
    const std::string& name) const {
  const std::string path = PathOf(name);
  MLP_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  MLP_ASSIGN_OR_RETURN(Trailer t, Verify(bytes, path));
  engine::Dataset out;
  const Eigen::Index n = static_cast<Eigen::Index>(t.rows);
  out.inputs.resize(t.input_size, n);
  out.targets.resize(t.target_size, n);
  const float* row = reinterpret_cast<const float*>(bytes.data());
  for (Eigen::Index i = 0; i < n; ++i) {
    std::copy_n(row, t.input_size, out.inputs.col(i).data());
    std::copy_n(row + t.input_size, t.target_size, out.targets.col(i).data());
    row += t.input_size + t.target_size;
  }
  return out;
}

absl::Status DatasetStore::Delete(const std::string& name) {
  const std::string path = PathOf(name);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("dataset '", name, "' not found"));
    }
    return ErrnoStatus("remove", path, errno);
  }
  SyncDirectoryAfterCommit(dir_);
  return absl::OkStatus();
}

}  // namespace mlp::store
