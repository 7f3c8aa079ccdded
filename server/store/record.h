// Little-endian binary records with a trailing CRC-32, for the store's files.
//
// A record is: 4-byte magic, u32 format version, fields, u32 CRC-32 of all the
// preceding bytes. RecordReader checks magic, format and CRC before any field
// is read, so a torn or bit-flipped file is refused as a whole (DATA_LOSS).
#ifndef MLP_SERVER_STORE_RECORD_H_
#define MLP_SERVER_STORE_RECORD_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mlp::store {

class RecordWriter {
 public:
  RecordWriter(absl::string_view magic, uint32_t format);
  template <typename T>
  void Put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    data_.append(bytes, sizeof(T));
  }
  // u64 length, then the bytes.
  void PutBytes(absl::string_view bytes);
  // Appends the CRC and returns the record.
  std::string Finish() &&;

 private:
  std::string data_;
};

class RecordReader {
 public:
  // DATA_LOSS naming `what` if magic, format or CRC do not check out.
  static absl::StatusOr<RecordReader> Open(absl::string_view record,
                                           absl::string_view magic,
                                           uint32_t format,
                                           absl::string_view what);
  template <typename T>
  absl::Status Get(T* value) {
    if (body_.size() < sizeof(T)) return Truncated();
    std::memcpy(value, body_.data(), sizeof(T));
    body_.remove_prefix(sizeof(T));
    return absl::OkStatus();
  }
  absl::Status GetBytes(absl::string_view* bytes);
  // DATA_LOSS if bytes are left over.
  absl::Status ExpectEnd() const;

 private:
  RecordReader(absl::string_view body, std::string what)
      : body_(body), what_(std::move(what)) {}
  absl::Status Truncated() const;

  absl::string_view body_;
  std::string what_;
};

}  // namespace mlp::store

#endif  // MLP_SERVER_STORE_RECORD_H_
