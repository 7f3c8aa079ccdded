#include "server/store/record.h"

#include "absl/strings/str_cat.h"
#include "server/common/crc32.h"

namespace mlp::store {

using common::Crc32;

RecordWriter::RecordWriter(absl::string_view magic, uint32_t format) {
  data_.append(magic.data(), magic.size());
  Put<uint32_t>(format);
}

void RecordWriter::PutBytes(absl::string_view bytes) {
  Put<uint64_t>(bytes.size());
  data_.append(bytes.data(), bytes.size());
}

std::string RecordWriter::Finish() && {
  Put<uint32_t>(Crc32(data_));
  return std::move(data_);
}

absl::StatusOr<RecordReader> RecordReader::Open(absl::string_view record,
                                                absl::string_view magic,
                                                uint32_t format,
                                                absl::string_view what) {
  const size_t overhead = magic.size() + 2 * sizeof(uint32_t);
  if (record.size() < overhead) {
    return absl::DataLossError(
        absl::StrCat(what, ": truncated (", record.size(), " bytes)"));
  }
  if (record.substr(0, magic.size()) != magic) {
    return absl::DataLossError(
        absl::StrCat(what, ": not a '", magic, "' file"));
  }
  uint32_t stored_crc;
  std::memcpy(&stored_crc, record.data() + record.size() - sizeof(uint32_t),
              sizeof(uint32_t));
  const absl::string_view covered = record.substr(0, record.size() - 4);
  if (Crc32(covered) != stored_crc) {
    return absl::DataLossError(absl::StrCat(what, ": checksum mismatch"));
  }
  uint32_t stored_format;
  std::memcpy(&stored_format, record.data() + magic.size(), sizeof(uint32_t));
  if (stored_format != format) {
    return absl::DataLossError(
        absl::StrCat(what, ": format ", stored_format, ", expected ", format));
  }
  return RecordReader(covered.substr(magic.size() + sizeof(uint32_t)),
                      std::string(what));
}

absl::Status RecordReader::GetBytes(absl::string_view* bytes) {
  uint64_t size = 0;
  if (absl::Status s = Get(&size); !s.ok()) return s;
  if (body_.size() < size) return Truncated();
  *bytes = body_.substr(0, size);
  body_.remove_prefix(size);
  return absl::OkStatus();
}

absl::Status RecordReader::ExpectEnd() const {
  if (body_.empty()) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat(what_, ": ", body_.size(), " unexpected trailing bytes"));
}

absl::Status RecordReader::Truncated() const {
  return absl::DataLossError(absl::StrCat(what_, ": record too short"));
}

}  // namespace mlp::store
