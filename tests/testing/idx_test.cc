// The tests' IDX reader (tests/testing/idx.h).
#include "tests/testing/idx.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mlp::testing {
namespace {

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string base = tmp != nullptr ? tmp : "/tmp";
    dir_ = base + "/mlp_idx_XXXXXX";
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

TEST_F(IdxTest, IdxPlainAndGzip) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 3 * 2 * 2; ++i)
    pixels.push_back(static_cast<uint8_t>(i * 20));
  const std::string bytes = IdxBytes({3, 2, 2}, pixels);
  for (const std::string& path :
       {Write("i.idx", bytes), WriteGz("i.idx.gz", bytes)}) {
    SCOPED_TRACE(path);
    const engine::Matrix m = ReadIdx(path, false).value();
    ASSERT_EQ(m.rows(), 4);
    ASSERT_EQ(m.cols(), 3);
    EXPECT_EQ(m(0, 0), 0.0f);
    EXPECT_EQ(m(3, 0), 60.0f);
    EXPECT_EQ(m(0, 1), 80.0f);
    EXPECT_FLOAT_EQ(ReadIdx(path, true).value()(0, 2), 160.0f / 255.0f);
  }
  const std::string labels = WriteGz("l.idx.gz", IdxBytes({3}, {7, 0, 9}));
  const engine::Dataset d = ReadIdxDataset(dir_ + "/i.idx.gz", labels).value();
  EXPECT_EQ(d.inputs.cols(), 3);
  EXPECT_EQ(d.targets, (engine::Matrix(1, 3) << 7, 0, 9).finished());
}

TEST_F(IdxTest, IdxErrors) {
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
}  // namespace mlp::testing
