// SIGTERM: mlp-server drains and exits 0 within 5 s, also while a training
// streams; the training is cancelled and commits nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "tests/persistence/persistence_util.h"

namespace mlp::testing {
namespace {

using ::testing::ElementsAre;

std::string DataDir(const TempDir& dir) { return dir.path() + "/data"; }

void ExpectExitZeroWithin(ServerProcess& server, absl::Time since,
                          double seconds) {
  const int status = server.Wait(seconds);
  ASSERT_NE(status, -1) << "mlp-server still runs " << seconds
                        << " s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(absl::Now() - since, absl::Seconds(seconds));
}

TEST(ShutdownTest, IdleServerExitsZeroAndKeepsItsModels) {
  TempDir dir;
  auto server = ServerProcess::Start(DataDir(dir));
  ASSERT_TRUE(server.ok()) << server.status();
  VersionView before;
  {
    Client client((*server)->address());
    ASSERT_TRUE(client.Create("m", SeedSpec(4)).ok());
    before = Observe(client, "m", 0, 3);
  }
  const absl::Time start = absl::Now();
  (*server)->Signal(SIGTERM);
  ExpectExitZeroWithin(**server, start, 5);
  EXPECT_THAT(TreeOf(DataDir(dir) + "/models"),
              ElementsAre("m", "m/model.meta", "m/v000001.ver"));

  auto restarted = ServerProcess::Start(DataDir(dir));
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  Client client((*restarted)->address());
  ExpectSameVersion(before, Observe(client, "m", 0, 3));
}

TEST(ShutdownTest, SigtermDuringTrainingCancelsItAndCommitsNothing) {
  TempDir dir;
  auto server = ServerProcess::Start(DataDir(dir));
  ASSERT_TRUE(server.ok()) << server.status();
  VersionView before;
  {
    Client client((*server)->address());
    ASSERT_TRUE(client.Create("m", SeedSpec(6)).ok());
    before = Observe(client, "m", 0, 3);
    // Far more epochs than can run before the signal; no target loss.
    v1::TrainRequest train = SeedTrainRequest("m", 100000000);
    train.mutable_options()->set_target_loss(0);
    train.mutable_options()->set_report_every(1000);
    auto context = ContextWithDeadline(60);
    auto reader = client.stub()->Train(context.get(), train);
    std::vector<v1::TrainProgress> messages;
    v1::TrainProgress progress;
    ASSERT_TRUE(reader->Read(&progress));
    ASSERT_TRUE(reader->Read(&progress));
    ASSERT_FALSE(progress.done());

    const absl::Time start = absl::Now();
    (*server)->Signal(SIGTERM);
    while (reader->Read(&progress)) messages.push_back(progress);
    const grpc::Status status = reader->Finish();
    // What the server does: the stream ends normally with a final `done`
    // message saying CANCELLED and committing nothing.
    EXPECT_TRUE(status.ok())
        << status.error_code() << ": " << status.error_message();
    ASSERT_FALSE(messages.empty());
    const v1::TrainProgress& last = messages.back();
    EXPECT_TRUE(last.done());
    EXPECT_EQ(last.stop_reason(), v1::CANCELLED);
    EXPECT_EQ(last.version(), 0u);
    ExpectExitZeroWithin(**server, start, 5);
  }
  EXPECT_THAT(TreeOf(DataDir(dir) + "/models"),
              ElementsAre("m", "m/model.meta", "m/v000001.ver"));

  auto restarted = ServerProcess::Start(DataDir(dir));
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  Client client((*restarted)->address());
  v1::ModelInfo info;
  ASSERT_TRUE(client.Get("m", &info).ok());
  EXPECT_EQ(info.version(), 1u);
  EXPECT_EQ(info.state(), v1::READY);
  ExpectSameVersion(before, Observe(client, "m", 0, 3));
}

TEST(ShutdownTest, SigtermDuringUploadLeavesNoDataset) {
  TempDir dir;
  auto server = ServerProcess::Start(DataDir(dir));
  ASSERT_TRUE(server.ok()) << server.status();
  {
    Client client((*server)->address());
    auto context = ContextWithDeadline(30);
    v1::DatasetInfo info;
    auto writer = client.stub()->UploadDataset(context.get(), &info);
    v1::UploadDatasetRequest header;
    header.mutable_header()->set_name("half");
    header.mutable_header()->set_input_size(3);
    header.mutable_header()->set_target_size(1);
    ASSERT_TRUE(writer->Write(header));
    // 1024 rows: more than stdio buffers, so the temporary file grows as
    // soon as the server has taken the chunk.
    v1::UploadDatasetRequest chunk;
    *chunk.mutable_chunk()->mutable_inputs() =
        MakeTensor({1024, 3}, std::vector<float>(1024 * 3, 0.5f));
    *chunk.mutable_chunk()->mutable_targets() =
        MakeTensor({1024, 1}, std::vector<float>(1024, 1.0f));
    ASSERT_TRUE(writer->Write(chunk));
    // The signal comes once the server has taken the header and the chunk:
    // its temporary file (".upload-...") holds rows.
    const std::string datasets = DataDir(dir) + "/datasets";
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    bool writing = false;
    while (!writing && absl::Now() < deadline) {
      for (const std::string& entry : TreeOf(datasets)) {
        std::error_code error;
        if (entry[0] == '.' &&
            std::filesystem::file_size(datasets + "/" + entry, error) > 0 &&
            !error) {
          writing = true;
        }
      }
      if (!writing) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(writing) << "the upload never reached the disk";
    const absl::Time start = absl::Now();
    (*server)->Signal(SIGTERM);
    // The caller never half-closes: the upload must not be committed.
    ExpectExitZeroWithin(**server, start, 5);
    EXPECT_FALSE(writer->Finish().ok());
  }
  EXPECT_THAT(TreeOf(DataDir(dir) + "/datasets"), ::testing::IsEmpty());
  auto restarted = ServerProcess::Start(DataDir(dir));
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  Client client((*restarted)->address());
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(client.Datasets(&list).ok());
  EXPECT_EQ(list.datasets_size(), 0);
}

}  // namespace
}  // namespace mlp::testing
