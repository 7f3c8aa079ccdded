// record: CRC'd little-endian records refuse any damaged byte.
#include "server/store/record.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/crc32.h"

namespace mlp::store {
namespace {

using ::mlp::common::Crc32;
using ::testing::HasSubstr;

std::string SampleRecord() {
  RecordWriter w("TEST", 3);
  w.Put<uint64_t>(0x0102030405060708ull);
  w.Put<double>(-2.5);
  w.PutBytes("payload bytes");
  w.Put<int32_t>(-7);
  return std::move(w).Finish();
}

TEST(RecordTest, RoundTrip) {
  const std::string record = SampleRecord();
  absl::StatusOr<RecordReader> r = RecordReader::Open(record, "TEST", 3, "t");
  ASSERT_TRUE(r.ok()) << r.status();
  uint64_t u = 0;
  double d = 0;
  absl::string_view bytes;
  int32_t i = 0;
  ASSERT_TRUE(r->Get(&u).ok());
  ASSERT_TRUE(r->Get(&d).ok());
  ASSERT_TRUE(r->GetBytes(&bytes).ok());
  ASSERT_TRUE(r->Get(&i).ok());
  EXPECT_TRUE(r->ExpectEnd().ok());
  EXPECT_EQ(u, 0x0102030405060708ull);
  EXPECT_EQ(d, -2.5);
  EXPECT_EQ(bytes, "payload bytes");
  EXPECT_EQ(i, -7);
}

TEST(RecordTest, LayoutIsLittleEndianWithTrailingCrc) {
  RecordWriter w("ABCD", 1);
  w.Put<uint32_t>(0x11223344u);
  const std::string record = std::move(w).Finish();
  ASSERT_EQ(record.size(), 4u + 4u + 4u + 4u);
  EXPECT_EQ(record.substr(0, 4), "ABCD");
  EXPECT_EQ(record.substr(4, 4), std::string("\x01\x00\x00\x00", 4));
  EXPECT_EQ(record.substr(8, 4), std::string("\x44\x33\x22\x11", 4));
  const uint32_t crc = Crc32(absl::string_view(record).substr(0, 12));
  uint32_t stored;
  std::memcpy(&stored, record.data() + 12, 4);
  EXPECT_EQ(stored, crc);
}

TEST(RecordTest, EveryFlippedByteIsDataLoss) {
  const std::string good = SampleRecord();
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (const unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      absl::StatusOr<RecordReader> r = RecordReader::Open(bad, "TEST", 3, "t");
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss)
          << "byte " << pos << " xor " << int{mask} << " was accepted";
    }
  }
}

TEST(RecordTest, EveryTruncationIsDataLoss) {
  const std::string good = SampleRecord();
  for (size_t len = 0; len < good.size(); ++len) {
    absl::StatusOr<RecordReader> r =
        RecordReader::Open(good.substr(0, len), "TEST", 3, "t");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss)
        << "truncated to " << len << " bytes was accepted";
  }
}

TEST(RecordTest, WrongMagicOrFormatIsDataLossNamingTheFile) {
  const std::string good = SampleRecord();
  absl::StatusOr<RecordReader> magic =
      RecordReader::Open(good, "NOPE", 3, "file.x");
  EXPECT_EQ(magic.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(magic.status().message(), HasSubstr("file.x"));
  absl::StatusOr<RecordReader> format =
      RecordReader::Open(good, "TEST", 4, "file.x");
  EXPECT_EQ(format.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(format.status().message(), HasSubstr("format"));
}

TEST(RecordTest, ReadingPastTheEndIsDataLoss) {
  RecordWriter w("TEST", 1);
  w.Put<uint16_t>(5);
  const std::string record = std::move(w).Finish();
  absl::StatusOr<RecordReader> r = RecordReader::Open(record, "TEST", 1, "t");
  ASSERT_TRUE(r.ok());
  uint64_t too_wide = 0;
  EXPECT_EQ(r->Get(&too_wide).code(), absl::StatusCode::kDataLoss);
}

TEST(RecordTest, BytesLongerThanTheRecordIsDataLoss) {
  // A length prefix that claims more than is there (a valid CRC over it).
  RecordWriter w("TEST", 1);
  w.Put<uint64_t>(1000);
  w.Put<uint32_t>(0);
  const std::string record = std::move(w).Finish();
  absl::StatusOr<RecordReader> r = RecordReader::Open(record, "TEST", 1, "t");
  ASSERT_TRUE(r.ok());
  absl::string_view bytes;
  EXPECT_EQ(r->GetBytes(&bytes).code(), absl::StatusCode::kDataLoss);
}

TEST(RecordTest, TrailingBytesAreDataLoss) {
  const std::string record = SampleRecord();
  absl::StatusOr<RecordReader> r = RecordReader::Open(record, "TEST", 3, "t");
  ASSERT_TRUE(r.ok());
  uint64_t u = 0;
  ASSERT_TRUE(r->Get(&u).ok());
  EXPECT_EQ(r->ExpectEnd().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace mlp::store
