// The CLI's CSV and IDX readers: values, header detection, target columns,
// and errors that point at FILE:LINE:COL.
#include "client/csv.h"

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client/idx.h"
#include "client/rows.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlp::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mlp-csv-test-XXXXXX")
            .string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = path_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteGzip(const std::string& path, const std::string& content);

struct Rows {
  std::vector<float> inputs;
  std::vector<float> targets;
  size_t count = 0;
};

absl::StatusOr<Rows> ReadAllRows(RowSource& source, size_t batch = 1000) {
  Rows rows;
  for (;;) {
    absl::StatusOr<size_t> read =
        source.Read(batch, &rows.inputs, &rows.targets);
    if (!read.ok()) return read.status();
    if (*read == 0) return rows;
    rows.count += *read;
  }
}

absl::StatusOr<Rows> ReadCsvFile(const std::string& path,
                                 const std::string& targets) {
  auto reader = CsvReader::Open(path, targets);
  if (!reader.ok()) return reader.status();
  return ReadAllRows(**reader);
}

TEST(CsvReaderTest, ReadsRowsWithTargetsLast) {
  TempDir dir;
  const std::string path = dir.Write("xnor.csv", "1,1,1,1\n1,1,0,0\n0,1,0,1\n");
  auto reader = CsvReader::Open(path, "-1");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->input_size(), 3);
  EXPECT_EQ((*reader)->target_size(), 1);
  EXPECT_TRUE((*reader)->header().empty());
  auto rows = ReadAllRows(**reader, /*batch=*/2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->count, 3u);
  EXPECT_THAT(rows->inputs, ElementsAre(1, 1, 1, 1, 1, 0, 0, 1, 0));
  EXPECT_THAT(rows->targets, ElementsAre(1, 0, 1));
  EXPECT_DOUBLE_EQ((*reader)->fraction_read(), 1.0);
}

TEST(CsvReaderTest, HeaderNamesSelectTargetsInTheOrderGiven) {
  TempDir dir;
  const std::string path =
      dir.Write("h.csv", "a, \"b\" ,c,d\r\n\r\n1,2,3,4\r\n  \n5,6,7,8\r\n");
  auto reader = CsvReader::Open(path, "d,b");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_THAT((*reader)->header(), ElementsAre("a", "b", "c", "d"));
  auto rows = ReadAllRows(**reader);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(rows->inputs, ElementsAre(1, 3, 5, 7));
  EXPECT_THAT(rows->targets, ElementsAre(4, 2, 8, 6));
}

TEST(CsvReaderTest, NoTargetsMeansEveryColumnIsAnInput) {
  TempDir dir;
  auto rows = ReadCsvFile(dir.Write("p.csv", "1e-3,+2,-0.5\n"), "");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(rows->inputs, ElementsAre(1e-3f, 2, -0.5f));
  EXPECT_TRUE(rows->targets.empty());
}

TEST(CsvReaderTest, RaggedRowPointsAtLineAndColumn) {
  TempDir dir;
  const std::string path = dir.Write("ragged.csv", "1,2,3\n4,5,6\n7,8\n");
  auto rows = ReadCsvFile(path, "-1");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kInvalidArgument);
  // Too short: just past the end of "7,8".
  EXPECT_THAT(std::string(rows.status().message()),
              StartsWith(path + ":3:4: expected 3 fields"));
}

TEST(CsvReaderTest, RowTooLongPointsAtTheFirstExtraField) {
  TempDir dir;
  const std::string path = dir.Write("long.csv", "x,y\n1,2\n3,4,55\n");
  auto rows = ReadCsvFile(path, "y");
  ASSERT_FALSE(rows.ok());
  EXPECT_THAT(std::string(rows.status().message()),
              StartsWith(path + ":3:5: expected 2 fields"));
}

TEST(CsvReaderTest, NonNumberPointsAtItsColumn) {
  TempDir dir;
  const std::string path = dir.Write("nan.csv", "1,2,3\n4, abc,6\n");
  auto rows = ReadCsvFile(path, "-1");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(std::string(rows.status().message()),
            path + ":2:4: expected a finite number, got 'abc'");
}

TEST(CsvReaderTest, RejectsNonFiniteAndEmptyFields) {
  TempDir dir;
  auto inf = ReadCsvFile(dir.Write("inf.csv", "1,2\n3,inf\n"), "-1");
  ASSERT_FALSE(inf.ok());
  EXPECT_THAT(std::string(inf.status().message()), HasSubstr(":2:3: "));
  auto empty = ReadCsvFile(dir.Write("empty.csv", "1,2\n,4\n"), "-1");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(std::string(empty.status().message()),
              HasSubstr(":2:1: empty field"));
}

TEST(CsvReaderTest, BadTargetColumnsAreReported) {
  TempDir dir;
  const std::string path = dir.Write("t.csv", "a,b\n1,2\n");
  EXPECT_THAT(std::string(CsvReader::Open(path, "5").status().message()),
              HasSubstr("target column '5' does not exist"));
  EXPECT_THAT(std::string(CsvReader::Open(path, "z").status().message()),
              HasSubstr("no column named 'z'; the columns are 'a', 'b'"));
  EXPECT_THAT(std::string(CsvReader::Open(path, "a,0").status().message()),
              HasSubstr("given twice"));
  EXPECT_THAT(std::string(CsvReader::Open(path, "a,b").status().message()),
              HasSubstr("no input is left"));
}

// True if `text` has a byte a terminal could act on (a control character
// other than the newline, or anything beyond ASCII).
bool HasRawBytes(const std::string& text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\n') || byte >= 0x7f) return true;
  }
  return false;
}

TEST(CsvReaderTest, TextQuotedFromTheFileIsEscapedAndBounded) {
  TempDir dir;
  const std::string junk =
      std::string("\x01\x1b[2J\x80\xff") + std::string(500, 'z');
  const std::string path = dir.Write("junk.csv", "1,2\n3," + junk + "\n");
  auto rows = ReadCsvFile(path, "-1");
  ASSERT_FALSE(rows.ok());
  const std::string message(rows.status().message());
  EXPECT_EQ(message,
            path +
                ":2:3: expected a finite number, got "
                "'\\x01\\x1b[2J\\x80\\xffzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                "zz...' (507 bytes)");
  EXPECT_FALSE(HasRawBytes(message));
  // A header of binary names, listed when a target name is unknown.
  std::string header;
  for (int i = 0; i < 30; ++i) header += "\x02name" + std::to_string(i) + ",";
  const std::string named = dir.Write("header.csv", header + "x\n");
  const std::string unknown(CsvReader::Open(named, "y").status().message());
  EXPECT_THAT(unknown, HasSubstr("'\\x02name0', '\\x02name1'"));
  EXPECT_THAT(unknown, HasSubstr("... (31 columns)"));
  EXPECT_FALSE(HasRawBytes(unknown));
}

TEST(CsvReaderTest, BinaryAndGzipFilesAreRefusedAsAWhole) {
  TempDir dir;
  const std::string binary =
      dir.Write("b.bin", std::string("ab\0\x01\x02,\xff\n", 8));
  const std::string message(CsvReader::Open(binary, "").status().message());
  EXPECT_EQ(message,
            binary + ": binary data, neither a CSV file nor IDX images");
  const std::string gzip = dir.path() + "/rows.csv.gz";
  WriteGzip(gzip, "1,2\n3,4\n");
  EXPECT_THAT(std::string(CsvReader::Open(gzip, "").status().message()),
              HasSubstr("gzip-compressed, and not IDX images"));
}

TEST(CsvReaderTest, MissingAndEmptyFiles) {
  TempDir dir;
  EXPECT_EQ(CsvReader::Open(dir.path() + "/none.csv", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CsvReader::Open(dir.Write("e.csv", "\n\n"), "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RowsPerBatchTest, StaysUnderTheByteLimit) {
  TempDir dir;
  auto reader = CsvReader::Open(dir.Write("w.csv", "1,2,3,4\n"), "-1");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(RowsPerBatch(**reader, 1600), 100u);  // 16 bytes per row
  EXPECT_EQ(RowsPerBatch(**reader, 3), 1u);
}

// IDX: big-endian header, then unsigned bytes.
std::string IdxBytes(const std::vector<uint32_t>& dims,
                     const std::vector<uint8_t>& data) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      bytes.push_back(static_cast<char>((d >> shift) & 0xff));
    }
  }
  bytes.append(data.begin(), data.end());
  return bytes;
}

void WriteGzip(const std::string& path, const std::string& content) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  gzwrite(gz, content.data(), static_cast<unsigned>(content.size()));
  gzclose(gz);
}

TEST(IdxReaderTest, ReadsScaledPixelsAndLabelsPlainOrGzip) {
  TempDir dir;
  // Three 2x2 images.
  const std::string images =
      IdxBytes({3, 2, 2}, {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8});
  const std::string labels = IdxBytes({3}, {7, 0, 9});
  const std::string images_path = dir.Write("images.idx", images);
  const std::string labels_path = dir.path() + "/labels.idx.gz";
  WriteGzip(labels_path, labels);
  auto reader = IdxReader::Open(images_path, labels_path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->input_size(), 4);
  EXPECT_EQ((*reader)->rows(), 3u);
  auto rows = ReadAllRows(**reader, /*batch=*/2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->count, 3u);
  EXPECT_FLOAT_EQ(rows->inputs[1], 1.0f);
  EXPECT_FLOAT_EQ(rows->inputs[2], 0.2f);
  EXPECT_THAT(rows->targets, ElementsAre(7, 0, 9));
}

TEST(IdxReaderTest, RejectsMismatchedCountsAndForeignFiles) {
  TempDir dir;
  const std::string images = dir.Write("i", IdxBytes({2, 1}, {1, 2}));
  const std::string labels = dir.Write("l", IdxBytes({3}, {1, 2, 3}));
  EXPECT_THAT(std::string(IdxReader::Open(images, labels).status().message()),
              HasSubstr("3 labels for 2 images"));
  const std::string text = dir.Write("t.csv", "1,2,3\n");
  EXPECT_THAT(std::string(IdxReader::Open(text, labels).status().message()),
              HasSubstr("not an IDX file"));
  const std::string short_images = dir.Write("s", IdxBytes({3, 2}, {1, 2}));
  auto reader = IdxReader::Open(short_images, labels);
  ASSERT_TRUE(reader.ok());
  EXPECT_THAT(std::string(ReadAllRows(**reader).status().message()),
              HasSubstr("ends too early"));
}

TEST(IdxReaderTest, ImagesWithoutLabelsHaveNoTargets) {
  TempDir dir;
  const std::string images = dir.path() + "/images.idx.gz";
  WriteGzip(images, IdxBytes({2, 1, 2}, {0, 255, 255, 0}));
  auto reader = IdxReader::Open(images, "");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->input_size(), 2);
  EXPECT_EQ((*reader)->target_size(), 0);
  auto rows = ReadAllRows(**reader);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(rows->inputs, ElementsAre(0, 1, 1, 0));
  EXPECT_TRUE(rows->targets.empty());
}

// IDX images are recognised by their header, compressed or not, so that
// `--data images.idx.gz` without --labels is not read as CSV.
TEST(OpenRowsTest, RecognisesIdxImagesByTheirHeader) {
  TempDir dir;
  const std::string plain = dir.Write("i", IdxBytes({2, 2}, {1, 2, 3, 4}));
  const std::string gz = dir.path() + "/i.gz";
  WriteGzip(gz, IdxBytes({2, 2}, {1, 2, 3, 4}));
  const std::string csv = dir.Write("c.csv", "1,2\n");
  const std::string other_gz = dir.path() + "/c.csv.gz";
  WriteGzip(other_gz, "1,2\n");
  EXPECT_TRUE(LooksLikeIdx(plain));
  EXPECT_TRUE(LooksLikeIdx(gz));
  EXPECT_FALSE(LooksLikeIdx(csv));
  EXPECT_FALSE(LooksLikeIdx(other_gz));
  EXPECT_FALSE(LooksLikeIdx(dir.path() + "/none"));

  auto images = OpenRows({gz, "", ""});
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ((*images)->input_size(), 2);
  EXPECT_EQ((*images)->target_size(), 0);
  auto rows = OpenRows({csv, "", ""});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)->input_size(), 2);
  // CSV target columns make no sense for images.
  EXPECT_THAT(std::string(OpenRows({gz, "-1", ""}).status().message()),
              HasSubstr("--targets is for CSV files"));
}

}  // namespace
}  // namespace mlp::cli
