// Uploaded training sets on disk: <data_dir>/datasets/<name>.mlpd
//
// File layout: N rows, each input_size then target_size float32 values
// (row-major, as uploaded), then a fixed 40-byte trailer record (MLPD: sizes,
// row count, creation time, CRC-32 of the rows; its own CRC). The trailer
// comes last so an upload streams straight to disk; a file is committed by
// linking its temporary ".upload-..." file to the final name (never replacing
// an existing one). Unreadable files are moved to quarantine, never deleted.
//
// A read-only store (OpenReadOnly, a replica's) never writes, moves or removes
// a file; its write methods are FAILED_PRECONDITION.
//
// Thread-safety: DatasetStore is stateless beyond its paths and safe to use
// from several threads; a DatasetWriter belongs to one thread.
#ifndef MLP_SERVER_STORE_DATASET_STORE_H_
#define MLP_SERVER_STORE_DATASET_STORE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/train_options.h"

namespace mlp::store {

struct DatasetMeta {
  std::string name;
  uint64_t rows = 0;
  uint32_t input_size = 0;
  uint32_t target_size = 0;
  absl::Time created_at;
  uint64_t size_bytes = 0;
};

// Streams one upload to a temporary file. Destroying a writer that was not
// committed removes the temporary file: a failed upload leaves nothing.
class DatasetWriter {
 public:
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // Appends n rows: inputs row-major [n x input_size], targets row-major
  // [n x target_size]. Errors are the file system's.
  absl::Status Append(const float* inputs, const float* targets, uint64_t n);
  uint64_t rows() const { return rows_; }
  // Bytes the committed file would take with `rows` rows (the rows and the
  // trailer); UINT64_MAX if that does not fit in 64 bits.
  uint64_t StoredBytes(uint64_t rows) const;
  // Writes the trailer, syncs and publishes the file. ALREADY_EXISTS if a
  // dataset of that name appeared meanwhile.
  absl::StatusOr<DatasetMeta> Commit();

 private:
  friend class DatasetStore;
  DatasetWriter(std::string name, std::string tmp_path, std::string final_path,
                std::string dir, std::FILE* file, uint32_t input_size,
                uint32_t target_size);
  absl::Status Write(const void* data, size_t size);

  const std::string name_;
  const std::string tmp_path_;
  const std::string final_path_;
  const std::string dir_;
  std::FILE* file_;
  const uint32_t input_size_;
  const uint32_t target_size_;
  uint64_t rows_ = 0;
  uint32_t crc_ = 0;
  std::vector<float> row_buffer_;
  bool committed_ = false;
};

// A committed dataset file as listed, before it is read.
struct DatasetFile {
  std::string name;
  uint64_t file_id = 0;  // inode: a dataset deleted and uploaded again differs
  uint64_t size_bytes = 0;
};

class DatasetStore {
 public:
  // Creates <data_dir>/datasets if missing; removes interrupted uploads.
  static absl::StatusOr<std::unique_ptr<DatasetStore>> Open(
      const std::string& data_dir);

  // A store over a directory another process writes (see above).
  static std::unique_ptr<DatasetStore> OpenReadOnly(
      const std::string& data_dir);

  bool read_only() const { return read_only_; }
  // <data_dir>/datasets.
  const std::string& directory() const { return dir_; }

  // Every readable dataset, sorted by name; others are quarantined + logged.
  // Not for a read-only store (it returns nothing).
  std::vector<DatasetMeta> LoadAll();

  // Reading without side effects (a read-only store's way to load).
  // The committed files, sorted by name. NOT_FOUND if datasets/ does not
  // exist; the file system's errors.
  absl::StatusOr<std::vector<DatasetFile>> List() const;
  // One dataset's description, the whole file verified. NOT_FOUND, DATA_LOSS.
  absl::StatusOr<DatasetMeta> ReadMeta(const std::string& name) const;

  // ALREADY_EXISTS if the name is taken on disk.
  absl::StatusOr<std::unique_ptr<DatasetWriter>> BeginWrite(
      const std::string& name, uint32_t input_size, uint32_t target_size);

  // The rows in engine layout (inputs [input_size x N], targets
  // [target_size x N]). NOT_FOUND, or DATA_LOSS if the file is corrupt.
  absl::StatusOr<engine::Dataset> Read(const std::string& name) const;

  // NOT_FOUND if there is no such file.
  absl::Status Delete(const std::string& name);

 private:
  DatasetStore(std::string dir, std::string quarantine_dir, bool read_only)
      : dir_(std::move(dir)),
        quarantine_dir_(std::move(quarantine_dir)),
        read_only_(read_only) {}
  std::string PathOf(const std::string& name) const;
  absl::Status CheckWritable() const;

  const std::string dir_;
  const std::string quarantine_dir_;
  const bool read_only_;
};

}  // namespace mlp::store

#endif  // MLP_SERVER_STORE_DATASET_STORE_H_
