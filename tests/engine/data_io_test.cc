#include "server/engine/data_io.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlp::engine {
namespace {

using ::testing::HasSubstr;

class DataIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string base = tmp != nullptr ? tmp : "/tmp";
    dir_ = base + "/mlp_data_io_XXXXXX";
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    files_.push_back(path);
    return path;
  }
  std::string WriteGz(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
    gzclose(f);
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(DataIoTest, CsvWithHeaderAndLastTargetColumn) {
  const std::string path = Write("a.csv", "x1,x2,y\n1,2,3\r\n4.5, -5 ,6e1\n\n");
  const Dataset d = ReadCsv(path, CsvOptions()).value();
  ASSERT_EQ(d.inputs.rows(), 2);
  ASSERT_EQ(d.inputs.cols(), 2);
  ASSERT_EQ(d.targets.rows(), 1);
  EXPECT_EQ(d.inputs(0, 0), 1.0f);
  EXPECT_EQ(d.inputs(1, 0), 2.0f);
  EXPECT_EQ(d.inputs(0, 1), 4.5f);
  EXPECT_EQ(d.inputs(1, 1), -5.0f);
  EXPECT_EQ(d.targets(0, 0), 3.0f);
  EXPECT_EQ(d.targets(0, 1), 60.0f);
}

TEST_F(DataIoTest, CsvWithoutHeaderAndChosenTargets) {
  const std::string path = Write("b.csv", "1;2;3;4\n5;6;7;8\n");
  CsvOptions o;
  o.delimiter = ';';
  o.target_columns = {0, -2};
  const Dataset d = ReadCsv(path, o).value();
  EXPECT_EQ(d.inputs, (Matrix(2, 2) << 2, 6, 4, 8).finished());
  EXPECT_EQ(d.targets, (Matrix(2, 2) << 1, 5, 3, 7).finished());
  o.header = CsvOptions::Header::kPresent;
  EXPECT_EQ(ReadCsv(path, o).value().inputs.cols(), 1);
}

TEST_F(DataIoTest, CsvErrorsNameFileLineAndColumn) {
  const std::string bad = Write("bad.csv", "a,b,c\n1,2,3\n4,xyz,6\n");
  absl::Status s = ReadCsv(bad, CsvOptions()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), bad + ":3:3: field 2 is 'xyz', expected a number");

  const std::string ragged = Write("ragged.csv", "1,2,3\n4,5\n");
  s = ReadCsv(ragged, CsvOptions()).status();
  EXPECT_EQ(s.message(),
            ragged + ":2:1: row has 2 fields, expected 3 as on line 1");

  const std::string nan = Write("nan.csv", "1,nan,3\n");
  CsvOptions absent;
  absent.header = CsvOptions::Header::kAbsent;
  s = ReadCsv(nan, absent).status();
  EXPECT_EQ(s.message(),
            nan + ":1:3: field 2 is 'nan', expected a finite number");

  const std::string empty = Write("empty.csv", "\n\n");
  EXPECT_THAT(std::string(ReadCsv(empty, CsvOptions()).status().message()),
              HasSubstr("no data rows"));
  const std::string header_only = Write("header.csv", "a,b\n");
  EXPECT_EQ(ReadCsv(header_only, CsvOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);

  CsvOptions far;
  far.target_columns = {5};
  const std::string ok = Write("ok.csv", "1,2,3\n");
  EXPECT_EQ(
      ReadCsv(ok, far).status().message(),
      ok + ":1:1: target_columns[0] is 5, expected -3 to 2 for 3 columns");
  EXPECT_EQ(ReadCsv(dir_ + "/missing.csv", CsvOptions()).status().code(),
            absl::StatusCode::kNotFound);
}

std::string IdxBytes(std::vector<uint32_t> dims,
                     const std::vector<uint8_t>& data) {
  std::string s = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int i = 3; i >= 0; --i)
      s.push_back(static_cast<char>((d >> (8 * i)) & 0xff));
  }
  s.append(data.begin(), data.end());
  return s;
}

TEST_F(DataIoTest, IdxPlainAndGzip) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 3 * 2 * 2; ++i)
    pixels.push_back(static_cast<uint8_t>(i * 20));
  const std::string bytes = IdxBytes({3, 2, 2}, pixels);
  for (const std::string& path :
       {Write("i.idx", bytes), WriteGz("i.idx.gz", bytes)}) {
    SCOPED_TRACE(path);
    const Matrix m = ReadIdx(path, false).value();
    ASSERT_EQ(m.rows(), 4);
    ASSERT_EQ(m.cols(), 3);
    EXPECT_EQ(m(0, 0), 0.0f);
    EXPECT_EQ(m(3, 0), 60.0f);
    EXPECT_EQ(m(0, 1), 80.0f);
    EXPECT_FLOAT_EQ(ReadIdx(path, true).value()(0, 2), 160.0f / 255.0f);
  }
  const std::string labels = WriteGz("l.idx.gz", IdxBytes({3}, {7, 0, 9}));
  const Dataset d = ReadIdxDataset(dir_ + "/i.idx.gz", labels).value();
  EXPECT_EQ(d.inputs.cols(), 3);
  EXPECT_EQ(d.targets, (Matrix(1, 3) << 7, 0, 9).finished());
}

TEST_F(DataIoTest, IdxErrors) {
  const std::string truncated =
      Write("t.idx", IdxBytes({3, 2}, {1, 2, 3, 4, 5}));
  EXPECT_EQ(ReadIdx(truncated, false).status().message(),
            truncated + ": has 5 bytes of data, expected 6 (3 items of 2)");
  std::string wrong = IdxBytes({1}, {1});
  wrong[2] = 0x0d;  // float data
  const std::string magic = Write("m.idx", wrong);
  EXPECT_EQ(ReadIdx(magic, false).status().message(),
            magic +
                ": magic is 0x00000d01, expected 0x0000080N (unsigned bytes, N "
                ">= 1 dimensions)");
  const std::string images = Write("i.idx", IdxBytes({2, 1}, {1, 2}));
  const std::string labels = Write("l.idx", IdxBytes({3}, {1, 2, 3}));
  EXPECT_EQ(ReadIdxDataset(images, labels).status().message(),
            labels + ": has 3 labels, expected 2 as images in " + images);
  EXPECT_EQ(ReadIdx(dir_ + "/none.idx", false).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlp::engine
