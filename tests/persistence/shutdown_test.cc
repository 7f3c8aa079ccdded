// SIGTERM: mlp-server drains and exits 0 within 5 s, also while a training
// streams; the training is cancelled and commits nothing. A call in flight
// may finish within --shutdown_grace_seconds, and no longer.
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

#include "absl/strings/match.h"
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

// Waits (up to 30 s) until an upload's temporary file (".upload-...") under
// `data_dir` holds rows: the server has taken the call, its header and a
// chunk. 1024 rows are more than stdio buffers, so the file grows as soon
// as the server has taken such a chunk.
bool UploadReachedTheDisk(const std::string& data_dir) {
  const std::string datasets = data_dir + "/datasets";
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    for (const std::string& entry : TreeOf(datasets)) {
      std::error_code error;
      if (entry[0] == '.' &&
          std::filesystem::file_size(datasets + "/" + entry, error) > 0 &&
          !error) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
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
    v1::UploadDatasetRequest chunk;
    *chunk.mutable_chunk()->mutable_inputs() =
        MakeTensor({1024, 3}, std::vector<float>(1024 * 3, 0.5f));
    *chunk.mutable_chunk()->mutable_targets() =
        MakeTensor({1024, 1}, std::vector<float>(1024, 1.0f));
    ASSERT_TRUE(writer->Write(chunk));
    // The signal comes once the server has taken the header and the chunk.
    ASSERT_TRUE(UploadReachedTheDisk(DataDir(dir)))
        << "the upload never reached the disk";
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

// An upload of `rows` rows of 3 inputs and 1 target as one chunk.
v1::UploadDatasetRequest Chunk(int rows) {
  v1::UploadDatasetRequest chunk;
  *chunk.mutable_chunk()->mutable_inputs() =
      MakeTensor({rows, 3}, std::vector<float>(rows * 3, 0.5f));
  *chunk.mutable_chunk()->mutable_targets() =
      MakeTensor({rows, 1}, std::vector<float>(rows, 1.0f));
  return chunk;
}

v1::UploadDatasetRequest Header(const std::string& name) {
  v1::UploadDatasetRequest header;
  header.mutable_header()->set_name(name);
  header.mutable_header()->set_input_size(3);
  header.mutable_header()->set_target_size(1);
  return header;
}

// Waits (up to 30 s) until the server's log says it is shutting down.
bool WaitForShutdownLine(const ServerProcess& server) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (absl::StrContains(ReadWholeFile(server.log_path()),
                          "received SIGTERM, shutting down")) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// A call in flight when SIGTERM comes may go on and finish within the grace
// period: an upload begun before the signal sends its last rows after the
// server has begun to shut down, and is committed. The server then exits 0
// as soon as nothing is left, long before the grace period ends.
TEST(ShutdownTest, ACallInFlightFinishesWithinTheGracePeriod) {
  TempDir dir;
  auto server =
      ServerProcess::Start(DataDir(dir), {"--shutdown_grace_seconds=30"});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::Time start;
  {
    Client client((*server)->address());
    auto context = ContextWithDeadline(60);
    v1::DatasetInfo info;
    auto writer = client.stub()->UploadDataset(context.get(), &info);
    ASSERT_TRUE(writer->Write(Header("late")));
    ASSERT_TRUE(writer->Write(Chunk(1024)));
    ASSERT_TRUE(UploadReachedTheDisk(DataDir(dir)));
    start = absl::Now();
    (*server)->Signal(SIGTERM);
    ASSERT_TRUE(WaitForShutdownLine(**server))
        << ReadWholeFile((*server)->log_path());
    ASSERT_TRUE(writer->Write(Chunk(28)));
    ASSERT_TRUE(writer->WritesDone());
    const grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(info.rows(), 1052u);
  }  // the connection closes: nothing holds the stop any longer
  ExpectExitZeroWithin(**server, start, 15);

  auto restarted = ServerProcess::Start(DataDir(dir));
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  Client client((*restarted)->address());
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(client.Datasets(&list).ok());
  ASSERT_EQ(list.datasets_size(), 1);
  EXPECT_EQ(list.datasets(0).name(), "late");
  EXPECT_EQ(list.datasets(0).rows(), 1052u);
}

// A call that does not finish is cut off when the grace period ends,
// --shutdown_grace_seconds after the signal (0.5 s here, where the default
// would take 3 s); the server exits 0 and commits nothing of it.
TEST(ShutdownTest, TheGracePeriodBoundsTheWaitForACallInFlight) {
  TempDir dir;
  auto server =
      ServerProcess::Start(DataDir(dir), {"--shutdown_grace_seconds=0.5"});
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->address());
  auto context = ContextWithDeadline(60);
  v1::DatasetInfo info;
  auto writer = client.stub()->UploadDataset(context.get(), &info);
  ASSERT_TRUE(writer->Write(Header("held")));
  ASSERT_TRUE(writer->Write(Chunk(1024)));
  ASSERT_TRUE(UploadReachedTheDisk(DataDir(dir)));
  const absl::Time start = absl::Now();
  (*server)->Signal(SIGTERM);
  // The caller never half-closes; the server cuts the call off when the
  // grace period ends (timed here rather than the exit, which a sanitizer's
  // checks at exit may delay).
  EXPECT_FALSE(writer->Finish().ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(500));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(2500));
  ExpectExitZeroWithin(**server, start, 5);
  EXPECT_THAT(TreeOf(DataDir(dir) + "/datasets"), ::testing::IsEmpty());
}

}  // namespace
}  // namespace mlp::testing
