// A replica's registry (Registry::OpenReplica) following a primary's data
// directory: what it serves after each pass, what it never does (write,
// lock), and how it reports what it cannot read.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/registry/registry.h"
#include "tests/testing/engine_specs.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"

namespace mlp::registry {
namespace {

namespace fs = std::filesystem;
using ::mlp::testing::SeedNetworkSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A pass is started by hand (SyncOnce): the follower's own thread, started
// with a poll interval of an hour, only adds passes triggered by change
// notifications, which change nothing SyncOnce would not.
constexpr absl::Duration kNoPoll = absl::Hours(1);

engine::Network Shifted(const engine::Network& base, float delta) {
  engine::Network out = base;
  for (engine::Layer& layer : out.mutable_layers()) {
    layer.weights.array() += delta;
  }
  return out;
}

// Every file under `dir` with its size and modification time.
std::map<std::string, std::pair<uintmax_t, int64_t>> Snapshot(
    const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, int64_t>> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    struct stat st;
    ::lstat(entry.path().c_str(), &st);
    out[entry.path().string()] = {
        static_cast<uintmax_t>(st.st_size),
        int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
  }
  return out;
}

class ReplicaTest : public ::testing::Test {
 protected:
  std::unique_ptr<Registry> OpenPrimary(Limits limits = Limits()) {
    absl::StatusOr<std::unique_ptr<Registry>> r =
        Registry::Open(dir_.path(), limits);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  }
  std::unique_ptr<Registry> OpenReplica(absl::Duration poll = kNoPoll) {
    absl::StatusOr<std::unique_ptr<Registry>> r =
        Registry::OpenReplica(dir_.path(), Limits(), poll);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  }
  static void Sync(Registry& replica) {
    ASSERT_TRUE(replica.follower()->SyncOnce().ok());
  }
  static uint64_t Train(Registry& primary, const std::string& name,
                        float delta) {
    absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
        primary.models().BeginTraining(name);
    EXPECT_TRUE(lease.ok()) << lease.status();
    if (!lease.ok()) return 0;
    TrainingSummary summary;
    summary.epochs = 2;
    absl::StatusOr<uint64_t> v =
        (*lease)->Commit(Shifted(*(*lease)->base()->network, delta), summary);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : 0;
  }
  static std::vector<float> Weights(const Registry& r, const std::string& name,
                                    uint64_t version) {
    absl::StatusOr<std::shared_ptr<const ModelVersion>> v =
        r.models().GetVersion(name, version);
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) return {};
    const engine::Matrix& w = (*v)->network->layers()[0].weights;
    return std::vector<float>(w.data(), w.data() + w.size());
  }

  testing::TempDir dir_;
};

TEST_F(ReplicaTest, ServesWhatThePrimaryCommittedAfterAPass) {
  std::unique_ptr<Registry> primary = OpenPrimary();
  ASSERT_TRUE(primary->models().CreateModel("m", SeedNetworkSpec(7)).ok());
  std::unique_ptr<Registry> replica = OpenReplica();
  Sync(*replica);
  absl::StatusOr<ModelSnapshot> seen = replica->models().GetModel("m");
  ASSERT_TRUE(seen.ok()) << seen.status();
  absl::StatusOr<ModelSnapshot> original = primary->models().GetModel("m");
  EXPECT_EQ(seen->created_at, original->created_at);
  EXPECT_EQ(seen->updated_at, original->updated_at);
  EXPECT_EQ(seen->spec.seed, 7u);
  EXPECT_THAT(seen->available_versions, ElementsAre(1));
  EXPECT_EQ(Weights(*replica, "m", 1), Weights(*primary, "m", 1));

  EXPECT_EQ(Train(*primary, "m", 0.25f), 2u);
  EXPECT_EQ(replica->models().GetModel("m")->version, 1u);  // not yet
  Sync(*replica);
  seen = replica->models().GetModel("m");
  EXPECT_EQ(seen->version, 2u);
  EXPECT_THAT(seen->available_versions, ElementsAre(1, 2));
  ASSERT_TRUE(seen->last_training.has_value());
  EXPECT_EQ(seen->last_training->epochs, 2u);
  EXPECT_EQ(Weights(*replica, "m", 0), Weights(*primary, "m", 2));
  EXPECT_NE(Weights(*replica, "m", 2), Weights(*replica, "m", 1));
  EXPECT_EQ(replica->follower()->stats().unreadable_files, 0);
}

TEST_F(ReplicaTest, APrunedVersionStaysAliveForWhoeverHoldsIt) {
  Limits limits;
  limits.keep_versions = 2;
  std::unique_ptr<Registry> primary = OpenPrimary(limits);
  ASSERT_TRUE(primary->models().CreateModel("m", SeedNetworkSpec(3)).ok());
  std::unique_ptr<Registry> replica = OpenReplica();
  Sync(*replica);
  absl::StatusOr<std::shared_ptr<const ModelVersion>> held =
      replica->models().GetVersion("m", 1);
  ASSERT_TRUE(held.ok());
  const std::vector<float> before = Weights(*replica, "m", 1);
  Train(*primary, "m", 1.0f);
  Train(*primary, "m", 2.0f);  // prunes version 1 on disk
  Sync(*replica);
  EXPECT_THAT(replica->models().GetModel("m")->available_versions,
              ElementsAre(2, 3));
  EXPECT_THAT(replica->models().GetVersion("m", 1),
              testing::StatusIs(absl::StatusCode::kNotFound));
  // The caller that held version 1 still predicts with it.
  const engine::Matrix& w = (*held)->network->layers()[0].weights;
  EXPECT_EQ(std::vector<float>(w.data(), w.data() + w.size()), before);
}

TEST_F(ReplicaTest, ForgetsDeletedModelsAndSeesOnesCreatedAgain) {
  std::unique_ptr<Registry> primary = OpenPrimary();
  ASSERT_TRUE(primary->models().CreateModel("m", SeedNetworkSpec(1)).ok());
  ASSERT_TRUE(primary->models().CreateModel("keep", SeedNetworkSpec(2)).ok());
  std::unique_ptr<Registry> replica = OpenReplica();
  Sync(*replica);
  absl::StatusOr<std::shared_ptr<const ModelVersion>> held =
      replica->models().GetVersion("m", 0);
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(primary->models().DeleteModel("m").ok());
  Sync(*replica);
  EXPECT_THAT(replica->models().GetModel("m"),
              testing::StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(replica->models().size(), 1u);
  EXPECT_EQ((*held)->network->spec().seed, 1u);  // still usable

  // Deleted and created again between two passes, with the same version
  // numbers: the replica must serve the new weights, not the old ones.
  const std::vector<float> old_weights = Weights(*primary, "keep", 1);
  ASSERT_TRUE(primary->models().DeleteModel("keep").ok());
  ASSERT_TRUE(primary->models().CreateModel("keep", SeedNetworkSpec(99)).ok());
  Sync(*replica);
  EXPECT_EQ(replica->models().GetModel("keep")->spec.seed, 99u);
  EXPECT_EQ(Weights(*replica, "keep", 1), Weights(*primary, "keep", 1));
  EXPECT_NE(Weights(*replica, "keep", 1), old_weights);
}

TEST_F(ReplicaTest, SkipsAndReportsAnUnreadableVersionUntilItIsWhole) {
  std::unique_ptr<Registry> primary = OpenPrimary();
  ASSERT_TRUE(primary->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  Train(*primary, "m", 0.5f);
  const std::string v2 = dir_.path() + "/models/m/v000002.ver";
  const std::string whole = testing::ReadWholeFile(v2);
  ASSERT_FALSE(whole.empty());
  testing::FlipByte(v2, whole.size() / 2, 0x40);

  std::unique_ptr<Registry> replica = OpenReplica();
  Sync(*replica);
  // Version 1 is served; version 2 is skipped, counted, and left in place
  // (a replica never quarantines: the primary owns the files).
  EXPECT_THAT(replica->models().GetModel("m")->available_versions,
              ElementsAre(1));
  EXPECT_EQ(replica->follower()->stats().unreadable_files, 1);
  EXPECT_TRUE(fs::exists(v2));
  Sync(*replica);  // still unreadable: still counted
  EXPECT_EQ(replica->follower()->stats().unreadable_files, 1);

  testing::WritePlain(v2, whole);
  Sync(*replica);
  EXPECT_THAT(replica->models().GetModel("m")->available_versions,
              ElementsAre(1, 2));
  EXPECT_EQ(replica->follower()->stats().unreadable_files, 0);
  EXPECT_EQ(Weights(*replica, "m", 2), Weights(*primary, "m", 2));
}

TEST_F(ReplicaTest, NeverWritesLocksOrCleansTheDirectory) {
  std::unique_ptr<Registry> primary = OpenPrimary();
  ASSERT_TRUE(primary->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  Train(*primary, "m", 0.5f);
  // Leftovers a primary would clean at its start: a replica leaves them.
  testing::WritePlain(dir_.path() + "/models/m/v000009.ver.tmp.1-1", "x");
  fs::create_directory(dir_.path() + "/models/.new-x-1");
  primary.reset();
  const auto before = Snapshot(dir_.path());
  {
    std::unique_ptr<Registry> replica = OpenReplica();
    Sync(*replica);
    EXPECT_EQ(replica->models().size(), 1u);
    // Writes are refused in the catalogs too, not only on the wire.
    EXPECT_THAT(replica->models().CreateModel("n", SeedNetworkSpec(1)),
                testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                  HasSubstr("read-only replica")));
    EXPECT_THAT(replica->models().DeleteModel("m"),
                testing::StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(replica->models().BeginTraining("m"),
                testing::StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(replica->datasets().BeginUpload("d", 1, 1),
                testing::StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(replica->datasets().DeleteDataset("d"),
                testing::StatusIs(absl::StatusCode::kFailedPrecondition));
    // It takes no lock: a primary opens the directory while it runs.
    std::unique_ptr<Registry> again = OpenPrimary();
    EXPECT_NE(again, nullptr);
    again.reset();
    EXPECT_EQ(Snapshot(dir_.path()).size(), before.size() - 2)
        << "the restarted primary cleans its two leftovers";
  }
}

TEST_F(ReplicaTest, ReadOnlyReplicaLeavesEveryByteAsItWas) {
  std::unique_ptr<Registry> primary = OpenPrimary();
  ASSERT_TRUE(primary->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  primary.reset();
  const auto before = Snapshot(dir_.path());
  std::unique_ptr<Registry> replica = OpenReplica();
  Sync(*replica);
  Sync(*replica);
  replica.reset();
  EXPECT_EQ(Snapshot(dir_.path()), before);
}

TEST_F(ReplicaTest, FollowsADirectoryThatDoesNotExistYet) {
  const std::string later = dir_.path() + "/later";
  absl::StatusOr<std::unique_ptr<Registry>> replica =
      Registry::OpenReplica(later, Limits(), kNoPoll);
  ASSERT_TRUE(replica.ok()) << replica.status();
  std::atomic<int> loaded_calls{0};
  (*replica)->follower()->OnLoaded([&] { ++loaded_calls; });
  EXPECT_THAT((*replica)->follower()->SyncOnce(),
              testing::StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE((*replica)->follower()->loaded());
  EXPECT_EQ(loaded_calls.load(), 0);
  EXPECT_FALSE(fs::exists(later)) << "a replica creates nothing";

  absl::StatusOr<std::unique_ptr<Registry>> primary =
      Registry::Open(later, Limits());
  ASSERT_TRUE(primary.ok());
  ASSERT_TRUE((*primary)->models().CreateModel("m", SeedNetworkSpec(1)).ok());
  ASSERT_TRUE((*replica)->follower()->SyncOnce().ok());
  EXPECT_TRUE((*replica)->follower()->loaded());
  EXPECT_EQ(loaded_calls.load(), 1);
  EXPECT_EQ((*replica)->models().size(), 1u);
  // Registered after loading: runs at once.
  (*replica)->follower()->OnLoaded([&] { ++loaded_calls; });
  EXPECT_EQ(loaded_calls.load(), 2);
}

TEST_F(ReplicaTest, ListsTheDatasetsThePrimaryStores) {
  std::unique_ptr<Registry> primary = OpenPrimary();
  absl::StatusOr<std::unique_ptr<DatasetUpload>> upload =
      primary->datasets().BeginUpload("rows", 2, 1);
  ASSERT_TRUE(upload.ok()) << upload.status();
  const float inputs[] = {1, 2, 3, 4};
  const float targets[] = {5, 6};
  ASSERT_TRUE((*upload)->Append(inputs, targets, 2).ok());
  ASSERT_TRUE((*upload)->Commit().ok());
  upload->reset();
  std::unique_ptr<Registry> replica = OpenReplica();
  Sync(*replica);
  std::vector<DatasetInfo> listed = replica->datasets().ListDatasets();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, "rows");
  EXPECT_EQ(listed[0].rows, 2u);
  EXPECT_EQ(listed[0].input_size, 2u);
  EXPECT_EQ(listed[0].target_size, 1u);
  EXPECT_EQ(listed[0].size_bytes,
            primary->datasets().ListDatasets()[0].size_bytes);
  ASSERT_TRUE(primary->datasets().DeleteDataset("rows").ok());
  Sync(*replica);
  EXPECT_THAT(replica->datasets().ListDatasets(), IsEmpty());
}

TEST_F(ReplicaTest, ChangeNotificationBringsChangesBeforeThePoll) {
  std::unique_ptr<Registry> primary = OpenPrimary();
  std::unique_ptr<Registry> replica = OpenReplica(kNoPoll);
  absl::Notification loaded;
  replica->follower()->OnLoaded([&] { loaded.Notify(); });
  ASSERT_TRUE(loaded.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(replica->follower()->stats().notification)
      << "inotify is missing: Linux always has it on a local file system";
  ASSERT_TRUE(primary->models().CreateModel("m", SeedNetworkSpec(1)).ok());
  // Nothing but a notification can start a pass within the hour.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!replica->models().GetModel("m").ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(replica->models().GetModel("m").ok());
  Train(*primary, "m", 1.0f);
  while (replica->models().GetModel("m")->version != 2 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(replica->models().GetModel("m")->version, 2u);
}

TEST_F(ReplicaTest, RefusesANonPositivePollInterval) {
  EXPECT_THAT(
      Registry::OpenReplica(dir_.path(), Limits(), absl::ZeroDuration()),
      testing::StatusIs(absl::StatusCode::kInvalidArgument,
                        HasSubstr("poll interval")));
}

}  // namespace
}  // namespace mlp::registry
