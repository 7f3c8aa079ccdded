// dataset_store: streamed uploads, commit by link, recovery, quarantine.
#include "server/store/dataset_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/file_io.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp::store {
namespace {

namespace fs = std::filesystem;
using ::mlp::testing::FlipByte;
using ::mlp::testing::Names;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::IsEmpty;

class DatasetStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<DatasetStore> OpenStore() {
    absl::StatusOr<std::unique_ptr<DatasetStore>> s =
        DatasetStore::Open(dir_.path());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  std::string Datasets() const { return dir_.path() + "/datasets"; }
  std::string Quarantine() const { return dir_.path() + "/quarantine"; }

  // Writes `rows` rows of 3 inputs and 2 targets: input j of row i = i*10+j,
  // targets -i and i+0.5.
  absl::StatusOr<DatasetMeta> WriteSet(DatasetStore& store,
                                       const std::string& name, int rows) {
    absl::StatusOr<std::unique_ptr<DatasetWriter>> w =
        store.BeginWrite(name, 3, 2);
    if (!w.ok()) return w.status();
    for (int start = 0; start < rows; start += 4) {
      const int n = std::min(4, rows - start);
      std::vector<float> in, tg;
      for (int i = start; i < start + n; ++i) {
        for (int j = 0; j < 3; ++j)
          in.push_back(static_cast<float>(i * 10 + j));
        tg.push_back(static_cast<float>(-i));
        tg.push_back(static_cast<float>(i) + 0.5f);
      }
      if (absl::Status s = (*w)->Append(in.data(), tg.data(), n); !s.ok()) {
        return s;
      }
    }
    return (*w)->Commit();
  }

  testing::TempDir dir_;
};

TEST_F(DatasetStoreTest, WriteCommitReadRoundTrip) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  absl::StatusOr<DatasetMeta> meta = WriteSet(*store, "set", 10);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->name, "set");
  EXPECT_EQ(meta->rows, 10u);
  EXPECT_EQ(meta->input_size, 3u);
  EXPECT_EQ(meta->target_size, 2u);
  EXPECT_EQ(meta->size_bytes, 10u * 5 * 4 + 40);
  EXPECT_THAT(Names(Datasets()), ElementsAre("set.mlpd"));

  // Read back from a fresh store, as after a restart.
  std::unique_ptr<DatasetStore> again = OpenStore();
  std::vector<DatasetMeta> all = again->LoadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "set");
  EXPECT_EQ(all[0].rows, 10u);
  EXPECT_EQ(all[0].created_at, meta->created_at);
  EXPECT_EQ(all[0].size_bytes, meta->size_bytes);
  absl::StatusOr<engine::Dataset> data = again->Read("set");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->inputs.rows(), 3);
  ASSERT_EQ(data->inputs.cols(), 10);
  ASSERT_EQ(data->targets.rows(), 2);
  ASSERT_EQ(data->targets.cols(), 10);
  for (int i = 0; i < 10; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(data->inputs(j, i), i * 10 + j);
    EXPECT_EQ(data->targets(0, i), -i);
    EXPECT_EQ(data->targets(1, i), i + 0.5f);
  }
}

// Datasets hold a user's data: the owner's only, whatever the umask.
TEST_F(DatasetStoreTest, FilesAreTheOwnersOnly) {
  const mode_t old_umask = ::umask(0);
  std::unique_ptr<DatasetStore> store = OpenStore();
  absl::StatusOr<DatasetMeta> meta = WriteSet(*store, "private", 4);
  ::umask(old_umask);
  ASSERT_TRUE(meta.ok()) << meta.status();
  namespace fs = std::filesystem;
  EXPECT_EQ(fs::status(Datasets()).permissions() & fs::perms::all,
            fs::perms::owner_all);
  EXPECT_EQ(
      fs::status(Datasets() + "/private.mlpd").permissions() & fs::perms::all,
      fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(DatasetStoreTest, UncommittedWriterLeavesNothing) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  {
    absl::StatusOr<std::unique_ptr<DatasetWriter>> w =
        store->BeginWrite("half", 1, 1);
    ASSERT_TRUE(w.ok());
    const float x = 1, y = 2;
    ASSERT_TRUE((*w)->Append(&x, &y, 1).ok());
    EXPECT_EQ(Names(Datasets()).size(), 1u);  // the temporary upload file
  }
  EXPECT_THAT(Names(Datasets()), IsEmpty());
  EXPECT_THAT(store->LoadAll(), IsEmpty());
  EXPECT_EQ(store->Read("half").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DatasetStoreTest, InterruptedUploadIsRemovedOnOpen) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  ASSERT_TRUE(WriteSet(*store, "kept", 3).ok());
  // What a SIGKILL mid-upload leaves: a temporary file with some rows.
  {
    std::ofstream out(Datasets() + "/.upload-lost-999-0", std::ios::binary);
    out << std::string(100, 'r');
  }
  std::unique_ptr<DatasetStore> again = OpenStore();
  EXPECT_THAT(Names(Datasets()), ElementsAre("kept.mlpd"));
  std::vector<DatasetMeta> all = again->LoadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "kept");
  EXPECT_THAT(Names(Quarantine()), IsEmpty());
}

TEST_F(DatasetStoreTest, ExistingNameIsAlreadyExists) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  ASSERT_TRUE(WriteSet(*store, "set", 3).ok());
  EXPECT_EQ(store->BeginWrite("set", 3, 2).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(DatasetStoreTest, RacingUploadsOfOneNameNeverOverwrite) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  absl::StatusOr<std::unique_ptr<DatasetWriter>> a =
      store->BeginWrite("s", 1, 1);
  absl::StatusOr<std::unique_ptr<DatasetWriter>> b =
      store->BeginWrite("s", 1, 1);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  const float one = 1, two = 2;
  ASSERT_TRUE((*a)->Append(&one, &one, 1).ok());
  ASSERT_TRUE((*b)->Append(&two, &two, 1).ok());
  ASSERT_TRUE((*b)->Append(&two, &two, 1).ok());
  ASSERT_TRUE((*a)->Commit().ok());
  EXPECT_EQ((*b)->Commit().status().code(), absl::StatusCode::kAlreadyExists);
  b->reset();
  EXPECT_THAT(Names(Datasets()), ElementsAre("s.mlpd"));
  absl::StatusOr<engine::Dataset> data = store->Read("s");
  ASSERT_TRUE(data.ok());
  ASSERT_EQ(data->inputs.cols(), 1);
  EXPECT_EQ(data->inputs(0, 0), 1.0f);
}

TEST_F(DatasetStoreTest, CorruptRowIsDataLossAndQuarantinedOnLoad) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  ASSERT_TRUE(WriteSet(*store, "good", 5).ok());
  ASSERT_TRUE(WriteSet(*store, "bad", 5).ok());
  const std::string path = Datasets() + "/bad.mlpd";
  FlipByte(path, 17, 0x01);  // inside the rows, not the trailer
  absl::StatusOr<std::string> corrupt = common::ReadFile(path);
  ASSERT_TRUE(corrupt.ok());
  EXPECT_EQ(store->Read("bad").status().code(), absl::StatusCode::kDataLoss);

  std::unique_ptr<DatasetStore> again = OpenStore();
  std::vector<DatasetMeta> all = again->LoadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "good");
  EXPECT_THAT(Names(Datasets()), ElementsAre("good.mlpd"));
  const std::vector<std::string> kept = Names(Quarantine());
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_THAT(kept[0], EndsWith("bad.mlpd"));
  absl::StatusOr<std::string> kept_bytes =
      common::ReadFile(Quarantine() + "/" + kept[0]);
  ASSERT_TRUE(kept_bytes.ok());
  EXPECT_EQ(*kept_bytes, *corrupt);
}

TEST_F(DatasetStoreTest, CorruptTrailerOrTruncationIsQuarantined) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  ASSERT_TRUE(WriteSet(*store, "trailer", 5).ok());
  ASSERT_TRUE(WriteSet(*store, "torn", 5).ok());
  ASSERT_TRUE(WriteSet(*store, "tiny", 5).ok());
  const std::string trailer = Datasets() + "/trailer.mlpd";
  FlipByte(trailer, fs::file_size(trailer) - 20, 0x01);
  const std::string torn = Datasets() + "/torn.mlpd";
  fs::resize_file(torn, fs::file_size(torn) - 8);
  fs::resize_file(Datasets() + "/tiny.mlpd", 10);
  EXPECT_THAT(OpenStore()->LoadAll(), IsEmpty());
  EXPECT_THAT(Names(Datasets()), IsEmpty());
  EXPECT_EQ(Names(Quarantine()).size(), 3u);
}

TEST_F(DatasetStoreTest, DeleteRemovesTheFile) {
  std::unique_ptr<DatasetStore> store = OpenStore();
  ASSERT_TRUE(WriteSet(*store, "set", 2).ok());
  ASSERT_TRUE(store->Delete("set").ok());
  EXPECT_THAT(Names(Datasets()), IsEmpty());
  EXPECT_EQ(store->Delete("set").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Read("set").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlp::store
