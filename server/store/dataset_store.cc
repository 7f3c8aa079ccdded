#include "server/store/dataset_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <limits>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/crc32.h"
#include "server/common/file_io.h"
#include "server/common/log.h"
#include "server/store/quarantine.h"
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

// Reads a dataset file in bounded memory: the trailer first (passed to
// `on_trailer`, e.g. to size the destination), then the rows in chunks of
// about 1 MB (passed to `on_rows` with the index of their first row), while
// checking the rows' CRC. DATA_LOSS for a trailer or size that does not check
// out or a CRC mismatch (then whatever on_rows received must be discarded).
absl::StatusOr<Trailer> ScanFile(
    const std::string& path, uint64_t* file_size,
    const std::function<void(const Trailer&)>& on_trailer,
    const std::function<void(const float*, uint64_t, uint64_t)>& on_rows) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::ErrnoStatus("open", path, errno);
  const std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });
  struct stat info;
  if (::fstat(fd, &info) != 0) return common::ErrnoStatus("stat", path, errno);
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  *file_size = size;
  if (size < kTrailerSize) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated (", size, " bytes)"));
  }
  auto read_at = [&](char* buffer, size_t n, uint64_t offset) -> absl::Status {
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd, buffer + done, n - done,
                                  static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return common::ErrnoStatus("read", path, errno);
      if (got == 0)
        return absl::DataLossError(absl::StrCat(path, ": truncated"));
      done += static_cast<size_t>(got);
    }
    return absl::OkStatus();
  };
  char trailer_bytes[kTrailerSize];
  MLP_RETURN_IF_ERROR(
      read_at(trailer_bytes, kTrailerSize, size - kTrailerSize));
  MLP_ASSIGN_OR_RETURN(
      RecordReader r,
      RecordReader::Open(absl::string_view(trailer_bytes, kTrailerSize), kMagic,
                         kFormat, path));
  Trailer t;
  MLP_RETURN_IF_ERROR(r.Get(&t.input_size));
  MLP_RETURN_IF_ERROR(r.Get(&t.target_size));
  MLP_RETURN_IF_ERROR(r.Get(&t.rows));
  MLP_RETURN_IF_ERROR(r.Get(&t.created_at_nanos));
  MLP_RETURN_IF_ERROR(r.Get(&t.rows_crc));
  MLP_RETURN_IF_ERROR(r.ExpectEnd());
  const uint64_t rows_bytes = size - kTrailerSize;
  const uint64_t row_bytes =
      (uint64_t{t.input_size} + t.target_size) * sizeof(float);
  if (t.input_size == 0 || t.target_size == 0 || rows_bytes % row_bytes != 0 ||
      rows_bytes / row_bytes != t.rows) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", rows_bytes, " bytes of rows do not match ", t.rows,
        " rows of ", t.input_size, "+", t.target_size, " values"));
  }
  if (on_trailer) on_trailer(t);
  const uint64_t chunk_rows = std::max<uint64_t>(1, (1 << 20) / row_bytes);
  std::vector<float> chunk(chunk_rows * (row_bytes / sizeof(float)));
  uint32_t crc = 0;
  for (uint64_t first = 0; first < t.rows; first += chunk_rows) {
    const uint64_t count = std::min(chunk_rows, t.rows - first);
    char* bytes = reinterpret_cast<char*>(chunk.data());
    MLP_RETURN_IF_ERROR(read_at(bytes, count * row_bytes, first * row_bytes));
    crc = common::Crc32(absl::string_view(bytes, count * row_bytes), crc);
    if (on_rows) on_rows(chunk.data(), first, count);
  }
  if (crc != t.rows_crc) {
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

uint64_t DatasetWriter::StoredBytes(uint64_t rows) const {
  const uint64_t row_bytes = row_buffer_.size() * sizeof(float);
  const uint64_t most = std::numeric_limits<uint64_t>::max();
  if (rows > (most - kTrailerSize) / row_bytes) return most;
  return rows * row_bytes + kTrailerSize;
}

absl::Status DatasetWriter::Write(const void* data, size_t size) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError("dataset writer is closed");
  }
  if (std::fwrite(data, 1, size, file_) != size) {
    return common::ErrnoStatus("write", tmp_path_, errno);
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
    crc_ = common::Crc32(
        absl::string_view(reinterpret_cast<const char*>(row_buffer_.data()),
                          bytes),
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
  if (std::fflush(file_) != 0)
    return common::ErrnoStatus("flush", tmp_path_, errno);
  if (::fsync(::fileno(file_)) != 0) {
    return common::ErrnoStatus("fsync", tmp_path_, errno);
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
    return common::ErrnoStatus("link", final_path_, errno);
  }
  committed_ = true;
  ::unlink(tmp_path_.c_str());
  common::SyncDirectoryAfterCommit(dir_);
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
  MLP_RETURN_IF_ERROR(common::EnsureDirectory(dir));
  MLP_RETURN_IF_ERROR(common::EnsureDirectory(quarantine_dir));
  MLP_ASSIGN_OR_RETURN(std::vector<std::string> names,
                       common::ListDirectory(dir));
  for (const std::string& name : names) {
    // Interrupted uploads were never committed.
    if (absl::StartsWith(name, ".")) {
      std::error_code error;
      fs::remove(fs::path(dir) / name, error);
    }
  }
  return std::unique_ptr<DatasetStore>(
      new DatasetStore(dir, quarantine_dir, /*read_only=*/false));
}

std::unique_ptr<DatasetStore> DatasetStore::OpenReadOnly(
    const std::string& data_dir) {
  return std::unique_ptr<DatasetStore>(
      new DatasetStore((fs::path(data_dir) / "datasets").string(),
                       (fs::path(data_dir) / "quarantine").string(),
                       /*read_only=*/true));
}

absl::Status DatasetStore::CheckWritable() const {
  if (!read_only_) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "the dataset store is read-only (a replica's)");
}

std::string DatasetStore::PathOf(const std::string& name) const {
  return (fs::path(dir_) / absl::StrCat(name, kExtension)).string();
}

namespace {

// "rows.mlpd" -> "rows".
std::string NameOf(const std::string& file) {
  return file.substr(0, file.size() - std::string(kExtension).size());
}

// The dataset at `path`, the whole file verified.
absl::StatusOr<DatasetMeta> MetaOf(const std::string& path) {
  uint64_t size = 0;
  MLP_ASSIGN_OR_RETURN(Trailer trailer, ScanFile(path, &size, {}, {}));
  DatasetMeta meta;
  meta.name = NameOf(fs::path(path).filename().string());
  meta.rows = trailer.rows;
  meta.input_size = trailer.input_size;
  meta.target_size = trailer.target_size;
  meta.created_at = absl::FromUnixNanos(trailer.created_at_nanos);
  meta.size_bytes = size;
  return meta;
}

bool IsCommittedFile(const std::string& file) {
  return !absl::StartsWith(file, ".") && absl::EndsWith(file, kExtension);
}

}  // namespace

std::vector<DatasetMeta> DatasetStore::LoadAll() {
  if (read_only_) return {};
  std::vector<std::string> paths;
  absl::StatusOr<std::vector<std::string>> names = common::ListDirectory(dir_);
  if (!names.ok()) {
    MLP_LOG(ERROR) << names.status().message();
    return {};
  }
  for (const std::string& file : *names) {
    if (IsCommittedFile(file))
      paths.push_back((fs::path(dir_) / file).string());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<DatasetMeta> out;
  for (const std::string& path : paths) {
    absl::StatusOr<DatasetMeta> meta = MetaOf(path);
    if (!meta.ok()) {
      MoveToQuarantine(path, quarantine_dir_, meta.status());
      continue;
    }
    out.push_back(*std::move(meta));
  }
  return out;
}

absl::StatusOr<std::vector<DatasetFile>> DatasetStore::List() const {
  MLP_ASSIGN_OR_RETURN(std::vector<std::string> names,
                       common::ListDirectory(dir_));
  std::vector<DatasetFile> out;
  for (const std::string& file : names) {
    if (!IsCommittedFile(file)) continue;
    struct stat info;
    const std::string path = (fs::path(dir_) / file).string();
    if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    DatasetFile listed;
    listed.name = NameOf(file);
    listed.file_id = static_cast<uint64_t>(info.st_ino);
    listed.size_bytes = static_cast<uint64_t>(info.st_size);
    out.push_back(std::move(listed));
  }
  std::sort(out.begin(), out.end(),
            [](const DatasetFile& a, const DatasetFile& b) {
              return a.name < b.name;
            });
  return out;
}

absl::StatusOr<DatasetMeta> DatasetStore::ReadMeta(
    const std::string& name) const {
  return MetaOf(PathOf(name));
}

absl::StatusOr<std::unique_ptr<DatasetWriter>> DatasetStore::BeginWrite(
    const std::string& name, uint32_t input_size, uint32_t target_size) {
  MLP_RETURN_IF_ERROR(CheckWritable());
  const std::string final_path = PathOf(name);
  std::error_code exists_error;
  if (fs::exists(final_path, exists_error)) {
    return absl::AlreadyExistsError(
        absl::StrCat("dataset '", name, "' already exists"));
  }
  const std::string tmp_path =
      (fs::path(dir_) /
       absl::StrCat(".upload-", name, "-", common::UniqueSuffix()))
          .string();
  // Owner only (0600), like every file of the data directory.
  const int fd =
      ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return common::ErrnoStatus("create", tmp_path, errno);
  std::FILE* file = ::fdopen(fd, "wb");
  if (file == nullptr) {
    const int err = errno;
    ::close(fd);
    return common::ErrnoStatus("open", tmp_path, err);
  }
  return std::unique_ptr<DatasetWriter>(new DatasetWriter(
      name, tmp_path, final_path, dir_, file, input_size, target_size));
}

absl::StatusOr<engine::Dataset> DatasetStore::Read(
    const std::string& name) const {
  engine::Dataset out;
  uint64_t size = 0;
  MLP_RETURN_IF_ERROR(
      ScanFile(
          PathOf(name), &size,
          [&out](const Trailer& t) {
            out.inputs.resize(t.input_size, static_cast<Eigen::Index>(t.rows));
            out.targets.resize(t.target_size,
                               static_cast<Eigen::Index>(t.rows));
          },
          [&out](const float* rows, uint64_t first, uint64_t count) {
            const Eigen::Index f = out.inputs.rows();
            const Eigen::Index k = out.targets.rows();
            for (uint64_t i = 0; i < count; ++i) {
              const Eigen::Index col = static_cast<Eigen::Index>(first + i);
              std::copy_n(rows, f, out.inputs.col(col).data());
              std::copy_n(rows + f, k, out.targets.col(col).data());
              rows += f + k;
            }
          })
          .status());
  return out;
}

absl::Status DatasetStore::Delete(const std::string& name) {
  MLP_RETURN_IF_ERROR(CheckWritable());
  const std::string path = PathOf(name);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("dataset '", name, "' not found"));
    }
    return common::ErrnoStatus("remove", path, errno);
  }
  common::SyncDirectoryAfterCommit(dir_);
  return absl::OkStatus();
}

}  // namespace mlp::store
