// SIGKILL at the worst moments: in the middle of a training, of a stream of
// commits, and of a dataset upload. After a restart every committed version
// is intact and nothing half-written is visible.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "tests/persistence/persistence_util.h"

namespace mlp::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

class CrashTest : public DataDirTest {
 protected:
  // Only committed files: model.meta and vNNNNNN.ver in each model directory.
  void ExpectOnlyCommittedModelFiles() const {
    for (const std::string& entry : TreeOf(data_dir() + "/models")) {
      const std::string file = std::filesystem::path(entry).filename().string();
      const bool is_dir =
          std::filesystem::is_directory(data_dir() + "/models/" + entry);
      if (is_dir) {
        EXPECT_NE(file[0], '.') << "stray directory " << entry;
        continue;
      }
      EXPECT_TRUE(
          file == "model.meta" ||
          (file.size() == 11 && file[0] == 'v' && file.substr(7) == ".ver"))
          << "stray file " << entry;
    }
  }
};

// A 784-64-10 classifier on random rows: an epoch takes long enough to be
// killed in the middle of a training.
v1::ModelSpec WideSpec() {
  v1::ModelSpec spec;
  spec.set_input_size(784);
  v1::LayerSpec* hidden = spec.add_layers();
  hidden->set_units(64);
  hidden->set_activation(v1::RELU);
  v1::LayerSpec* out = spec.add_layers();
  out->set_units(10);
  out->set_activation(v1::SOFTMAX);
  spec.set_loss(v1::CROSS_ENTROPY);
  spec.set_seed(99);
  return spec;
}

v1::TrainRequest WideTrainRequest(const std::string& model, int rows,
                                  uint32_t max_epochs) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::uniform_int_distribution<int> label(0, 9);
  std::vector<float> inputs(static_cast<size_t>(rows) * 784);
  for (float& v : inputs) v = pixel(gen);
  std::vector<float> targets(static_cast<size_t>(rows));
  for (float& t : targets) t = static_cast<float>(label(gen));
  v1::TrainRequest request;
  request.set_model(model);
  *request.mutable_inline_data()->mutable_inputs() =
      MakeTensor({rows, 784}, inputs);
  *request.mutable_inline_data()->mutable_targets() =
      MakeTensor({rows}, targets);
  v1::TrainOptions* options = request.mutable_options();
  options->set_optimizer(v1::SGD);
  options->set_learning_rate(0.05f);
  options->set_batch_size(16);
  options->set_max_epochs(max_epochs);
  options->set_seed(3);
  options->set_shuffle(true);
  return request;
}

TEST_F(CrashTest, SigkillDuringTrainingKeepsCommittedVersionsIntact) {
  std::unique_ptr<ServerProcess> server = Start();
  ASSERT_NE(server, nullptr);
  std::vector<VersionView> before;  // index = version - 1
  v1::ModelInfo info_before;
  {
    Client client(server->address());
    ASSERT_TRUE(client.Create("wide", WideSpec()).ok());
    std::vector<v1::TrainProgress> progress;
    grpc::Status s = client.Train(WideTrainRequest("wide", 500, 1), &progress);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(progress.back().version(), 2u);
    before.push_back(Observe(client, "wide", 1, 784));
    before.push_back(Observe(client, "wide", 2, 784));
    ASSERT_TRUE(client.Get("wide", &info_before).ok());

    // A long training; killed after its second progress message.
    auto context = ContextWithDeadline(120);
    auto reader = client.stub()->Train(context.get(),
                                       WideTrainRequest("wide", 3000, 100000));
    v1::TrainProgress message;
    ASSERT_TRUE(reader->Read(&message));
    ASSERT_TRUE(reader->Read(&message));
    ASSERT_FALSE(message.done());
    ASSERT_EQ(message.epoch(), 2u);
    Kill(server);
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  server = Start();
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  v1::ModelInfo info_after;
  ASSERT_TRUE(client.Get("wide", &info_after).ok());
  // Not half-trained: the same version, and READY.
  EXPECT_TRUE(SameMessage(info_before, info_after))
      << info_before.DebugString() << info_after.DebugString();
  EXPECT_EQ(info_after.version(), 2u);
  EXPECT_EQ(info_after.state(), v1::READY);
  for (uint64_t v = 1; v <= 2; ++v) {
    SCOPED_TRACE(v);
    ExpectSameVersion(before[v - 1], Observe(client, "wide", v, 784));
  }
  ExpectOnlyCommittedModelFiles();
  EXPECT_THAT(TreeOf(data_dir() + "/quarantine"), IsEmpty());
}

TEST_F(CrashTest, SigkillDuringACommitStormLosesNothingAcknowledged) {
  // Short trainings commit (and prune) as fast as they can while the server
  // is killed at a random moment after a commit of the round, three times
  // over. After each restart the latest version is the last acknowledged
  // one or the one after it (committed, killed before `done` was sent), the
  // last --keep_versions versions are all readable, and older ones are
  // pruned: only the one just below the kept range may survive, when the
  // kill fell between the latest commit and its prune (so that commit was
  // never acknowledged: `done` follows the prune).
  constexpr uint64_t kKeep = 3;
  const std::vector<std::string> flags = {"--keep_versions=3"};
  std::mt19937 gen(17);
  std::uniform_int_distribution<int> delay_ms(0, 300);
  std::unique_ptr<ServerProcess> server = Start(flags);
  ASSERT_NE(server, nullptr);
  {
    Client client(server->address());
    ASSERT_TRUE(client.Create("storm", SeedSpec(11)).ok());
  }
  uint64_t latest_before = 1;  // CreateModel commits version 1
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    std::atomic<uint64_t> acknowledged{0};
    std::atomic<bool> stop{false};
    const std::string address = server->address();
    std::thread trainer([&] {
      Client client(address);
      while (!stop.load()) {
        std::vector<v1::TrainProgress> progress;
        if (!client.Train(SeedTrainRequest("storm", 2), &progress, 10).ok()) {
          return;
        }
        if (!progress.empty() && progress.back().done()) {
          acknowledged.store(progress.back().version());
        }
      }
    });
    // The kill lands among commits: after this round's first acknowledged
    // one, at a random moment.
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (acknowledged.load() == 0 && absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_GT(acknowledged.load(), latest_before) << "no commit in 60 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(gen)));
    Kill(server);
    stop.store(true);
    trainer.join();

    server = Start(flags);
    ASSERT_NE(server, nullptr);
    Client client(server->address());
    v1::ModelInfo info;
    ASSERT_TRUE(client.Get("storm", &info).ok());
    const uint64_t latest = info.version();
    const uint64_t acked = acknowledged.load();
    EXPECT_GE(latest, acked);
    EXPECT_LE(latest, acked + 1);  // trainings run one at a time
    EXPECT_EQ(info.state(), v1::READY);
    // Every version file on disk reads back (none was quarantined).
    EXPECT_THAT(TreeOf(data_dir() + "/quarantine"), IsEmpty());
    const uint64_t oldest_kept = latest > kKeep ? latest - kKeep + 1 : 1;
    const bool unpruned_allowed = latest == acked + 1;
    for (uint64_t v = 1; v <= latest; ++v) {
      SCOPED_TRACE(v);
      v1::GetWeightsResponse weights;
      const grpc::Status s = client.Weights("storm", v, &weights);
      if (v >= oldest_kept ||
          (v + 1 == oldest_kept && unpruned_allowed && s.ok())) {
        // Kept (or not yet pruned when the kill came): whole.
        EXPECT_TRUE(s.ok()) << s.error_message();
        EXPECT_EQ(weights.version(), v);
        EXPECT_EQ(weights.layers_size(), 2);
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND)
            << s.error_message();
        EXPECT_THAT(s.error_message(),
                    HasSubstr("has no version " + std::to_string(v)));
      }
    }
    std::vector<uint64_t> available(info.available_versions().begin(),
                                    info.available_versions().end());
    ASSERT_FALSE(available.empty());
    EXPECT_EQ(available.back(), latest);
    EXPECT_EQ(available.size(),
              latest - available.front() + 1);  // no gap
    if (unpruned_allowed) {
      EXPECT_GE(available.front() + 1, oldest_kept);
    } else {
      EXPECT_EQ(available.front(), oldest_kept);
    }
    v1::GetWeightsResponse newest;
    ASSERT_TRUE(client.Weights("storm", 0, &newest).ok());
    EXPECT_EQ(newest.version(), latest);
    ExpectOnlyCommittedModelFiles();
    latest_before = latest;
  }
  std::fprintf(stderr, "latest version after the kills: %llu\n",
               static_cast<unsigned long long>(latest_before));
}

TEST_F(CrashTest, SigkillDuringUploadLeavesNoDataset) {
  std::unique_ptr<ServerProcess> server = Start();
  ASSERT_NE(server, nullptr);
  const std::string datasets = data_dir() + "/datasets";
  {
    Client client(server->address());
    // One complete dataset, which must survive.
    {
      v1::DatasetInfo info;
      grpc::Status s =
          UploadSeedDataset(client.stub(), "complete", 4, 4, &info);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    // The interrupted one: a header and a few chunks, never finished.
    auto context = ContextWithDeadline(30);
    v1::DatasetInfo info;
    auto writer = client.stub()->UploadDataset(context.get(), &info);
    v1::UploadDatasetRequest header;
    header.mutable_header()->set_name("interrupted");
    header.mutable_header()->set_input_size(784);
    header.mutable_header()->set_target_size(1);
    ASSERT_TRUE(writer->Write(header));
    std::vector<float> inputs(256 * 784, 0.5f);
    std::vector<float> targets(256, 1.0f);
    v1::UploadDatasetRequest chunk;
    *chunk.mutable_chunk()->mutable_inputs() = MakeTensor({256, 784}, inputs);
    *chunk.mutable_chunk()->mutable_targets() = MakeTensor({256, 1}, targets);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(writer->Write(chunk));
    // Wait until the server is writing the upload to disk, then kill it.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    bool writing = false;
    while (!writing && absl::Now() < deadline) {
      for (const std::string& entry : TreeOf(datasets)) {
        if (entry[0] == '.' &&
            std::filesystem::file_size(datasets + "/" + entry) > 0) {
          writing = true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(writing) << "the upload never reached the disk";
    Kill(server);
    // The half-written upload is on disk now, under a temporary name only.
    bool temporary_left = false;
    for (const std::string& entry : TreeOf(datasets)) {
      EXPECT_NE(entry, "interrupted.mlpd");
      if (entry[0] == '.') temporary_left = true;
    }
    EXPECT_TRUE(temporary_left);
    EXPECT_FALSE(writer->Finish().ok());
  }

  server = Start();
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(client.Datasets(&list).ok());
  ASSERT_EQ(list.datasets_size(), 1);
  EXPECT_EQ(list.datasets(0).name(), "complete");
  EXPECT_EQ(list.datasets(0).rows(), 4u);
  // No stray file: the temporary upload was removed at start-up, not kept.
  EXPECT_THAT(TreeOf(datasets), ::testing::ElementsAre("complete.mlpd"));
  EXPECT_THAT(TreeOf(data_dir() + "/quarantine"), IsEmpty());
  // The name is free.
  auto context = ContextWithDeadline();
  v1::DatasetInfo info;
  auto writer = client.stub()->UploadDataset(context.get(), &info);
  v1::UploadDatasetRequest header;
  header.mutable_header()->set_name("interrupted");
  header.mutable_header()->set_input_size(3);
  header.mutable_header()->set_target_size(1);
  ASSERT_TRUE(writer->Write(header));
  v1::UploadDatasetRequest chunk;
  *chunk.mutable_chunk()->mutable_inputs() = MakeTensor({4, 3}, kSeedInputs);
  *chunk.mutable_chunk()->mutable_targets() = MakeTensor({4, 1}, kSeedTargets);
  ASSERT_TRUE(writer->Write(chunk));
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status s = writer->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(info.rows(), 4u);
}

}  // namespace
}  // namespace mlp::testing
