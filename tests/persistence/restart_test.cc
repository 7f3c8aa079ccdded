// Restarting mlp-server on the same data directory: committed models,
// versions, weights and datasets come back exactly; deletions stay deleted;
// a corrupt file is reported and kept, and the rest loads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "tests/persistence/persistence_util.h"

namespace mlp::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class RestartTest : public DataDirTest {
 protected:
  // Creates the seed model and trains it to its target: versions 1 and 2.
  static void CreateAndTrain(Client& client, const std::string& name,
                             uint64_t seed) {
    ASSERT_TRUE(client.Create(name, SeedSpec(seed)).ok());
    std::vector<v1::TrainProgress> progress;
    grpc::Status s = client.Train(SeedTrainRequest(name), &progress);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_FALSE(progress.empty());
    ASSERT_TRUE(progress.back().done());
    ASSERT_EQ(progress.back().version(), 2u);
  }
};

TEST_F(RestartTest, ModelVersionWeightsAndPredictionsComeBackIdentical) {
  std::unique_ptr<ServerProcess> server = Start();
  ASSERT_NE(server, nullptr);
  v1::ModelInfo info_before;
  VersionView v1_before, v2_before;
  {
    Client client(server->address());
    CreateAndTrain(client, "xor", 3);
    ASSERT_TRUE(client.Get("xor", &info_before).ok());
    v1_before = Observe(client, "xor", 1, 3);
    v2_before = Observe(client, "xor", 2, 3);
  }
  ASSERT_EQ(info_before.version(), 2u);
  Stop(server);

  server = Start();
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  v1::ModelInfo info_after;
  ASSERT_TRUE(client.Get("xor", &info_after).ok());
  // Name, spec (with its seed), version, times, state and last training.
  EXPECT_TRUE(SameMessage(info_before, info_after))
      << "before: " << info_before.DebugString()
      << "after: " << info_after.DebugString();
  EXPECT_EQ(info_after.state(), v1::READY);
  EXPECT_EQ(info_after.version(), 2u);
  ExpectSameVersion(v1_before, Observe(client, "xor", 1, 3));
  ExpectSameVersion(v2_before, Observe(client, "xor", 2, 3));
  // Version 0 means latest, also after a restart.
  ExpectSameVersion(v2_before, Observe(client, "xor", 0, 3));

  // The next training commits version 3 on top of the restored weights.
  std::vector<v1::TrainProgress> progress;
  v1::TrainRequest again = SeedTrainRequest("xor", 1);
  ASSERT_TRUE(client.Train(again, &progress).ok());
  EXPECT_EQ(progress.back().version(), 3u);
}

TEST_F(RestartTest, SigkilledServerKeepsEverythingCommitted) {
  std::unique_ptr<ServerProcess> server = Start();
  ASSERT_NE(server, nullptr);
  VersionView before;
  {
    Client client(server->address());
    CreateAndTrain(client, "m", 8);
    before = Observe(client, "m", 0, 3);
  }
  server->Signal(SIGKILL);
  server->Wait(10);
  server = Start();
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  ExpectSameVersion(before, Observe(client, "m", 0, 3));
  EXPECT_THAT(TreeOf(data_dir() + "/quarantine"), IsEmpty());
}

TEST_F(RestartTest, DeletedModelStaysDeleted) {
  std::unique_ptr<ServerProcess> server = Start();
  ASSERT_NE(server, nullptr);
  {
    Client client(server->address());
    CreateAndTrain(client, "gone", 1);
    ASSERT_TRUE(client.Create("kept", SeedSpec(2)).ok());
    ASSERT_TRUE(client.Delete("gone").ok());
  }
  Stop(server);
  EXPECT_THAT(TreeOf(data_dir() + "/models"),
              ElementsAre("kept", "kept/model.meta", "kept/v000001.ver"));

  server = Start();
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  v1::ModelInfo info;
  EXPECT_EQ(client.Get("gone", &info).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::PredictResponse prediction;
  EXPECT_EQ(client.Predict("gone", 0, ProbeInputs(3), &prediction).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ListModelsResponse list;
  ASSERT_TRUE(client.List(&list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).name(), "kept");
  // The name can be taken again, from version 1.
  v1::ModelInfo created;
  ASSERT_TRUE(client.Create("gone", SeedSpec(5), &created).ok());
  EXPECT_EQ(created.version(), 1u);
}

TEST_F(RestartTest, DatasetsSurviveAndDeletedDatasetsStayDeleted) {
  std::unique_ptr<ServerProcess> server = Start();
  ASSERT_NE(server, nullptr);
  v1::DatasetInfo kept_before;
  {
    Client client(server->address());
    for (const std::string name : {"kept", "dropped"}) {
      v1::DatasetInfo info;
      grpc::Status s = UploadSeedDataset(client.stub(), name, 4, 4, &info);
      ASSERT_TRUE(s.ok()) << s.error_message();
      if (name == "kept") kept_before = info;
    }
    v1::DeleteDatasetRequest del;
    del.set_name("dropped");
    v1::DeleteDatasetResponse deleted;
    ASSERT_TRUE(client.stub()
                    ->DeleteDataset(ContextWithDeadline().get(), del, &deleted)
                    .ok());
  }
  Stop(server);
  server = Start();
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(client.Datasets(&list).ok());
  ASSERT_EQ(list.datasets_size(), 1);
  EXPECT_TRUE(SameMessage(list.datasets(0), kept_before))
      << list.datasets(0).DebugString() << kept_before.DebugString();

  // The restored rows train the seed model as the inline ones would.
  ASSERT_TRUE(client.Create("a", SeedSpec(4)).ok());
  ASSERT_TRUE(client.Create("b", SeedSpec(4)).ok());
  v1::TrainRequest inline_request = SeedTrainRequest("a", 50);
  v1::TrainRequest dataset_request = SeedTrainRequest("b", 50);
  dataset_request.set_dataset("kept");
  std::vector<v1::TrainProgress> a, b;
  ASSERT_TRUE(client.Train(inline_request, &a).ok());
  ASSERT_TRUE(client.Train(dataset_request, &b).ok());
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.back().loss(), b.back().loss());
}

TEST_F(RestartTest, CorruptModelFileIsQuarantinedReportedAndTheRestLoads) {
  std::unique_ptr<ServerProcess> server = Start();
  ASSERT_NE(server, nullptr);
  VersionView good_before, partial_v2_before;
  {
    Client client(server->address());
    CreateAndTrain(client, "good", 1);
    CreateAndTrain(client, "partial", 2);  // v1 will be corrupt, v2 intact
    ASSERT_TRUE(client.Create("broken", SeedSpec(3)).ok());  // v1 only
    good_before = Observe(client, "good", 0, 3);
    partial_v2_before = Observe(client, "partial", 2, 3);
  }
  Stop(server);

  const std::string models = data_dir() + "/models";
  FlipBytes(models + "/broken/v000001.ver", 30, 4, 0xff);
  FlipBytes(models + "/partial/v000001.ver", 30, 4, 0xff);
  const std::string broken_bytes =
      ReadWholeFile(models + "/broken/v000001.ver");
  const std::string partial_bytes =
      ReadWholeFile(models + "/partial/v000001.ver");
  const std::string log_path = data_dir() + ".log";
  const size_t log_offset = ReadWholeFile(log_path).size();

  server = Start();
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  // The intact model is untouched.
  ExpectSameVersion(good_before, Observe(client, "good", 0, 3));
  // The partly corrupt one serves what is intact.
  v1::ModelInfo partial;
  ASSERT_TRUE(client.Get("partial", &partial).ok());
  EXPECT_EQ(partial.version(), 2u);
  ExpectSameVersion(partial_v2_before, Observe(client, "partial", 2, 3));
  v1::GetWeightsResponse weights;
  EXPECT_EQ(client.Weights("partial", 1, &weights).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The model without a readable version is not served.
  v1::ModelInfo broken;
  EXPECT_EQ(client.Get("broken", &broken).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ListModelsResponse list;
  ASSERT_TRUE(client.List(&list).ok());
  std::vector<std::string> names;
  for (const v1::ModelInfo& m : list.models()) names.push_back(m.name());
  EXPECT_THAT(names, ElementsAre("good", "partial"));

  // Both corrupt files are kept, byte for byte, under quarantine/.
  const std::string quarantine = data_dir() + "/quarantine";
  std::vector<std::string> kept_contents;
  for (const std::string& entry : TreeOf(quarantine)) {
    const std::string path = quarantine + "/" + entry;
    if (std::filesystem::is_regular_file(path)) {
      kept_contents.push_back(ReadWholeFile(path));
    }
  }
  EXPECT_THAT(kept_contents, Contains(broken_bytes));
  EXPECT_THAT(kept_contents, Contains(partial_bytes));
  EXPECT_FALSE(std::filesystem::exists(models + "/broken"));
  EXPECT_FALSE(std::filesystem::exists(models + "/partial/v000001.ver"));

  // And the log says which files and where they went.
  const std::string log = ReadWholeFile(log_path).substr(log_offset);
  EXPECT_THAT(log, HasSubstr("broken/v000001.ver"));
  EXPECT_THAT(log, HasSubstr("partial/v000001.ver"));
  EXPECT_THAT(log, HasSubstr("quarantine"));

  // A further restart is clean: nothing new is quarantined.
  const size_t kept_count = TreeOf(quarantine).size();
  Stop(server);
  server = Start();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(TreeOf(quarantine).size(), kept_count);
  Client again(server->address());
  ExpectSameVersion(partial_v2_before, Observe(again, "partial", 2, 3));
}

}  // namespace
}  // namespace mlp::testing
