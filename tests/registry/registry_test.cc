// Registry: names -> versions, training leases, limits and dataset uploads.
#include "server/registry/registry.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/serialize.h"
#include "tests/testing/engine_specs.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp::registry {
namespace {

namespace fs = std::filesystem;
using ::mlp::testing::Names;
using ::mlp::testing::SeedNetworkSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The base network with every weight shifted by `delta`: a recognisable
// "trained" network.
engine::Network Shifted(const engine::Network& base, float delta) {
  engine::Network out = base;
  for (engine::Layer& layer : out.mutable_layers()) {
    layer.weights.array() += delta;
  }
  return out;
}

registry::TrainingSummary Summary(uint32_t epochs) {
  registry::TrainingSummary s;
  s.epochs = epochs;
  s.final_loss = 0.5;
  s.stop_reason = engine::StopReason::kMaxEpochs;
  return s;
}

class RegistryTest : public ::testing::Test {
 protected:
  std::unique_ptr<Registry> Open(Limits limits = Limits()) {
    absl::StatusOr<std::unique_ptr<Registry>> r =
        Registry::Open(dir_.path(), limits);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  }
  std::string ModelDir(const std::string& name) const {
    return dir_.path() + "/models/" + name;
  }

  // Takes a lease on `name` and commits the base shifted by `delta`.
  static absl::StatusOr<uint64_t> TrainOnce(Registry& r,
                                            const std::string& name,
                                            float delta) {
    absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
        r.models().BeginTraining(name);
    if (!lease.ok()) return lease.status();
    return (*lease)->Commit(Shifted(*(*lease)->base()->network, delta),
                            Summary(3));
  }

  testing::TempDir dir_;
};

TEST_F(RegistryTest, CreateGetListDelete) {
  std::unique_ptr<Registry> r = Open();
  absl::StatusOr<ModelSnapshot> created =
      r->models().CreateModel("xor", SeedNetworkSpec(9));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->name, "xor");
  EXPECT_EQ(created->version, 1u);
  EXPECT_EQ(created->spec.seed, 9u);
  EXPECT_FALSE(created->training);
  EXPECT_FALSE(created->last_training.has_value());
  EXPECT_THAT(created->available_versions, ElementsAre(1));
  ASSERT_TRUE(r->models().CreateModel("abc", SeedNetworkSpec(5)).ok());

  absl::StatusOr<ModelSnapshot> got = r->models().GetModel("xor");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 1u);
  EXPECT_EQ(got->created_at, created->created_at);

  std::vector<ModelSnapshot> list = r->models().ListModels();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "abc");
  EXPECT_EQ(list[1].name, "xor");

  ASSERT_TRUE(r->models().DeleteModel("xor").ok());
  EXPECT_EQ(r->models().GetModel("xor").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r->models().ListModels().size(), 1u);
  EXPECT_FALSE(fs::exists(ModelDir("xor")));
  // The name is free again.
  EXPECT_TRUE(r->models().CreateModel("xor", SeedNetworkSpec(5)).ok());
}

TEST_F(RegistryTest, SeedZeroPicksAndReportsASeed) {
  std::unique_ptr<Registry> r = Open();
  absl::StatusOr<ModelSnapshot> m =
      r->models().CreateModel("m", SeedNetworkSpec(0));
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->spec.seed, 0u);
  // The reported seed reproduces the initial weights.
  absl::StatusOr<engine::Network> replay = engine::Network::Create(m->spec);
  ASSERT_TRUE(replay.ok());
  absl::StatusOr<std::shared_ptr<const registry::ModelVersion>> v =
      r->models().GetVersion("m", 1);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(engine::SerializeNetwork(*replay),
            engine::SerializeNetwork(*(*v)->network));
}

TEST_F(RegistryTest, AlreadyExists) {
  std::unique_ptr<Registry> r = Open();
  ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(1)).ok());
  absl::StatusOr<ModelSnapshot> again =
      r->models().CreateModel("m", SeedNetworkSpec(2));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("'m'"));
  EXPECT_EQ(r->models().GetModel("m")->spec.seed, 1u);
}

TEST_F(RegistryTest, UnknownModelIsNotFoundEverywhere) {
  std::unique_ptr<Registry> r = Open();
  EXPECT_EQ(r->models().GetModel("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(r->models().GetModel("nope").status().message(),
              HasSubstr("'nope'"));
  EXPECT_EQ(r->models().DeleteModel("nope").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r->models().GetVersion("nope", 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r->models().BeginTraining("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r->datasets().GetDataset("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r->datasets().LoadDataset("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r->datasets().DeleteDataset("nope").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, NameValidation) {
  std::unique_ptr<Registry> r = Open();
  const std::string longest(63, 'a');
  for (const std::string& good :
       {std::string("a"), std::string("0"), std::string("a.b_c-d9"), longest}) {
    EXPECT_TRUE(ValidateName(good, "name").ok()) << good;
    EXPECT_TRUE(r->models().CreateModel(good, SeedNetworkSpec(5)).ok()) << good;
  }
  for (const std::string& bad :
       {std::string(""), std::string("A"), std::string("-x"), std::string(".x"),
        std::string("_x"), std::string(64, 'a'), std::string("a/b"),
        std::string("a b"), std::string("../x"), std::string("x\n"),
        std::string("caf\xc3\xa9")}) {
    const absl::Status s = ValidateName(bad, "name");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("name")) << bad;
    EXPECT_EQ(r->models().CreateModel(bad, SeedNetworkSpec(5)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_EQ(r->datasets().BeginUpload(bad, 1, 1).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // Nothing but the good names reached the disk.
  EXPECT_EQ(Names(dir_.path() + "/models").size(), 4u);
  EXPECT_THAT(Names(dir_.path() + "/datasets"), IsEmpty());
}

TEST_F(RegistryTest, ParameterLimitIsCheckedBeforeAllocation) {
  Limits limits;
  limits.max_parameters = 1000;
  std::unique_ptr<Registry> r = Open(limits);
  engine::NetworkSpec huge;
  huge.input_size = 1 << 20;
  huge.layers = {{1 << 20, engine::Activation::kRelu},
                 {1 << 20, engine::Activation::kLinear}};
  // 2^41 weights (8 TiB): allocating them would abort or take minutes.
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ModelSnapshot> m = r->models().CreateModel("huge", huge);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(m.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(m.status().message(), HasSubstr("1000"));
  EXPECT_LT(seconds, 1.0);
  EXPECT_THAT(Names(dir_.path() + "/models"), IsEmpty());

  // Exactly at the limit is fine, one over is not: 3*4+4*1 = 16.
  limits.max_parameters = 16;
  testing::TempDir other;
  absl::StatusOr<std::unique_ptr<Registry>> small =
      Registry::Open(other.path(), limits);
  ASSERT_TRUE(small.ok());
  EXPECT_TRUE((*small)->models().CreateModel("fits", SeedNetworkSpec(5)).ok());
  engine::NetworkSpec bigger = SeedNetworkSpec(5);
  bigger.layers[0].units = 5;  // 15 + 5 = 20
  EXPECT_EQ((*small)->models().CreateModel("over", bigger).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(RegistryTest, InvalidSpecIsInvalidArgument) {
  std::unique_ptr<Registry> r = Open();
  engine::NetworkSpec spec = SeedNetworkSpec(5);
  spec.layers.clear();
  EXPECT_EQ(r->models().CreateModel("m", spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r->models().GetModel("m").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, OneTrainingPerModel) {
  std::unique_ptr<Registry> r = Open();
  ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
      r->models().BeginTraining("m");
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(r->models().GetModel("m")->training);
  absl::StatusOr<std::unique_ptr<TrainingLease>> second =
      r->models().BeginTraining("m");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("'m'"));
  lease->reset();
  EXPECT_FALSE(r->models().GetModel("m")->training);
  EXPECT_TRUE(r->models().BeginTraining("m").ok());
}

TEST_F(RegistryTest, MaxConcurrentTrainings) {
  Limits limits;
  limits.max_concurrent_trainings = 2;
  std::unique_ptr<Registry> r = Open(limits);
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(r->models().CreateModel(name, SeedNetworkSpec(5)).ok());
  }
  absl::StatusOr<std::unique_ptr<TrainingLease>> a =
      r->models().BeginTraining("a");
  absl::StatusOr<std::unique_ptr<TrainingLease>> b =
      r->models().BeginTraining("b");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  absl::StatusOr<std::unique_ptr<TrainingLease>> c =
      r->models().BeginTraining("c");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(c.status().message(), HasSubstr("max_concurrent_trainings"));
  EXPECT_FALSE(r->models().GetModel("c")->training);
  // A refused or finished training frees its slot.
  a->reset();
  EXPECT_TRUE(r->models().BeginTraining("c").ok());
}

TEST_F(RegistryTest, CommitIncrementsVersionAndReadersSeeIt) {
  std::unique_ptr<Registry> r = Open();
  ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  absl::StatusOr<std::shared_ptr<const registry::ModelVersion>> v1 =
      r->models().GetVersion("m", 0);
  ASSERT_TRUE(v1.ok());

  absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
      r->models().BeginTraining("m");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)->base()->version, 1u);
  const engine::Network trained = Shifted(*(*lease)->base()->network, 0.25f);
  // Before the commit, readers still see version 1.
  EXPECT_EQ((*r->models().GetVersion("m", 0))->version, 1u);
  absl::StatusOr<uint64_t> committed = (*lease)->Commit(trained, Summary(7));
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(*committed, 2u);
  lease->reset();

  absl::StatusOr<ModelSnapshot> m = r->models().GetModel("m");
  EXPECT_EQ(m->version, 2u);
  EXPECT_THAT(m->available_versions, ElementsAre(1, 2));
  ASSERT_TRUE(m->last_training.has_value());
  EXPECT_EQ(m->last_training->epochs, 7u);
  absl::StatusOr<std::shared_ptr<const registry::ModelVersion>> latest =
      r->models().GetVersion("m", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)->version, 2u);
  EXPECT_EQ(engine::SerializeNetwork(*(*latest)->network),
            engine::SerializeNetwork(trained));
  // The old snapshot a reader held is untouched, and still addressable.
  EXPECT_EQ(
      engine::SerializeNetwork(*(*v1)->network),
      engine::SerializeNetwork(*(*r->models().GetVersion("m", 1))->network));
  EXPECT_EQ(r->models().GetVersion("m", 3).status().code(),
            absl::StatusCode::kNotFound);

  EXPECT_EQ(*TrainOnce(*r, "m", 0.5f), 3u);
  EXPECT_EQ(r->models().GetModel("m")->version, 3u);
}

TEST_F(RegistryTest, CommittedVersionsSurviveReopen) {
  std::string v2_bytes;
  {
    std::unique_ptr<Registry> r = Open();
    ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(5)).ok());
    ASSERT_TRUE(TrainOnce(*r, "m", 0.125f).ok());
    v2_bytes =
        engine::SerializeNetwork(*(*r->models().GetVersion("m", 2))->network);
  }
  std::unique_ptr<Registry> r = Open();
  absl::StatusOr<ModelSnapshot> m = r->models().GetModel("m");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->version, 2u);
  EXPECT_THAT(m->available_versions, ElementsAre(1, 2));
  EXPECT_EQ(
      engine::SerializeNetwork(*(*r->models().GetVersion("m", 0))->network),
      v2_bytes);
  EXPECT_EQ(*TrainOnce(*r, "m", 1.0f), 3u);
}

TEST_F(RegistryTest, KeepVersionsPrunes) {
  Limits limits;
  limits.keep_versions = 2;
  std::unique_ptr<Registry> r = Open(limits);
  ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(TrainOnce(*r, "m", 0.1f * i).ok());
  absl::StatusOr<ModelSnapshot> m = r->models().GetModel("m");
  EXPECT_EQ(m->version, 4u);
  EXPECT_THAT(m->available_versions, ElementsAre(3, 4));
  for (uint64_t pruned : {1, 2}) {
    absl::StatusOr<std::shared_ptr<const registry::ModelVersion>> v =
        r->models().GetVersion("m", pruned);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound) << pruned;
  }
  EXPECT_THAT(r->models().GetVersion("m", 1).status().message(),
              HasSubstr("3 to 4"));
  EXPECT_TRUE(r->models().GetVersion("m", 3).ok());
  EXPECT_THAT(Names(ModelDir("m")),
              ElementsAre("model.meta", "v000003.ver", "v000004.ver"));
  r.reset();
  std::unique_ptr<Registry> again = Open(limits);
  EXPECT_THAT(again->models().GetModel("m")->available_versions,
              ElementsAre(3, 4));
}

TEST_F(RegistryTest, DeleteDuringTrainingCancelsAndCommitWritesNothing) {
  std::unique_ptr<Registry> r = Open();
  ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
      r->models().BeginTraining("m");
  ASSERT_TRUE(lease.ok());
  EXPECT_FALSE((*lease)->cancel_signal()->cancelled());
  ASSERT_TRUE(r->models().DeleteModel("m").ok());
  EXPECT_TRUE((*lease)->cancel_signal()->cancelled());
  absl::StatusOr<uint64_t> committed =
      (*lease)->Commit(Shifted(*(*lease)->base()->network, 1), Summary(1));
  EXPECT_EQ(committed.status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(fs::exists(ModelDir("m")));
  EXPECT_THAT(Names(dir_.path() + "/models"), IsEmpty());
  lease->reset();
  EXPECT_EQ(r->models().GetModel("m").status().code(),
            absl::StatusCode::kNotFound);
  // The slot was freed and the name can be reused from version 1.
  absl::StatusOr<ModelSnapshot> again =
      r->models().CreateModel("m", SeedNetworkSpec(5));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, 1u);
  EXPECT_TRUE(r->models().BeginTraining("m").ok());
}

TEST_F(RegistryTest, CommitAbandonedByTheCallerCommitsNothing) {
  std::unique_ptr<Registry> r = Open();
  ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
      r->models().BeginTraining("m");
  ASSERT_TRUE(lease.ok());
  const std::atomic<bool> abandoned{true};
  absl::StatusOr<uint64_t> committed = (*lease)->Commit(
      Shifted(*(*lease)->base()->network, 1), Summary(1), &abandoned);
  EXPECT_EQ(committed.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(committed.status().message(),
              HasSubstr("cancelled by the caller"));
  EXPECT_THAT(Names(ModelDir("m")), ElementsAre("model.meta", "v000001.ver"));
  EXPECT_EQ(r->models().GetModel("m")->version, 1u);
  // The next commit makes version 2, as if the abandoned one never was.
  const std::atomic<bool> kept{false};
  absl::StatusOr<uint64_t> next = (*lease)->Commit(
      Shifted(*(*lease)->base()->network, 2), Summary(2), &kept);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 2u);
  lease->reset();
  r.reset();
  EXPECT_THAT(Open()->models().GetModel("m")->available_versions,
              ElementsAre(1, 2));
}

TEST_F(RegistryTest, CancelRacingCommitIsAllOrNothing) {
  // The caller's cancel lands at any point of the commit: whichever wins,
  // what the registry answers, what is on disk and what a restart loads
  // agree, and no temporary file is left.
  int cancelled = 0;
  for (int round = 0; round < 40; ++round) {
    std::unique_ptr<Registry> r = Open();
    const std::string name = absl::StrCat("m", round);
    ASSERT_TRUE(r->models().CreateModel(name, SeedNetworkSpec(5)).ok());
    absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
        r->models().BeginTraining(name);
    ASSERT_TRUE(lease.ok());
    const engine::Network trained = Shifted(*(*lease)->base()->network, 1);
    // Round 0 cancels before the commit starts, so that one round at least
    // is certainly cancelled; the others spread the cancel over the write
    // (tens to hundreds of microseconds), landing wherever it lands: the
    // assertions below hold for either outcome.
    std::atomic<bool> abandoned{round == 0};
    absl::StatusOr<uint64_t> committed;
    std::thread committer(
        [&] { committed = (*lease)->Commit(trained, Summary(1), &abandoned); });
    std::this_thread::sleep_for(std::chrono::microseconds(round * 25));
    abandoned.store(true);
    committer.join();
    lease->reset();
    const bool ok = committed.ok();
    EXPECT_TRUE(ok || committed.status().code() == absl::StatusCode::kCancelled)
        << committed.status();
    cancelled += ok ? 0 : 1;
    const uint64_t expected = ok ? 2 : 1;
    EXPECT_EQ(r->models().GetModel(name)->version, expected) << round;
    const std::vector<std::string> files =
        ok ? std::vector<std::string>{"model.meta", "v000001.ver",
                                      "v000002.ver"}
           : std::vector<std::string>{"model.meta", "v000001.ver"};
    EXPECT_EQ(Names(ModelDir(name)), files) << round;
    r.reset();
    EXPECT_EQ(Open()->models().GetModel(name)->version, expected) << round;
  }
  // Round 0 was cancelled before its commit began.
  EXPECT_GT(cancelled, 0);
}

TEST_F(RegistryTest, DeleteRacingCommitNeverLeavesAHalfModel) {
  // Whichever wins, the outcome is whole: either the commit is CANCELLED and
  // the model is gone, or it committed and then the model is gone.
  for (int round = 0; round < 20; ++round) {
    std::unique_ptr<Registry> r = Open();
    ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(5)).ok());
    absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
        r->models().BeginTraining("m");
    ASSERT_TRUE(lease.ok());
    const engine::Network trained = Shifted(*(*lease)->base()->network, 1);
    absl::StatusOr<uint64_t> committed;
    std::thread committer(
        [&] { committed = (*lease)->Commit(trained, Summary(1)); });
    const absl::Status deleted = r->models().DeleteModel("m");
    committer.join();
    EXPECT_TRUE(deleted.ok()) << deleted;
    EXPECT_TRUE(committed.ok() ||
                committed.status().code() == absl::StatusCode::kCancelled)
        << committed.status();
    lease->reset();
    EXPECT_THAT(Names(dir_.path() + "/models"), IsEmpty()) << round;
    r.reset();
    EXPECT_THAT(Open()->models().ListModels(), IsEmpty());
  }
}

TEST_F(RegistryTest, ShutdownCancelsTrainingsAndRefusesNewOnes) {
  std::unique_ptr<Registry> r = Open();
  ASSERT_TRUE(r->models().CreateModel("a", SeedNetworkSpec(5)).ok());
  ASSERT_TRUE(r->models().CreateModel("b", SeedNetworkSpec(5)).ok());
  absl::StatusOr<std::unique_ptr<TrainingLease>> lease =
      r->models().BeginTraining("a");
  ASSERT_TRUE(lease.ok());
  r->models().CancelAllTrainings();
  EXPECT_TRUE((*lease)->cancel_signal()->cancelled());
  EXPECT_EQ(r->models().BeginTraining("b").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(RegistryTest, BadLimitsAreRefused) {
  Limits limits;
  limits.keep_versions = 0;
  EXPECT_EQ(Registry::Open(dir_.path(), limits).status().code(),
            absl::StatusCode::kInvalidArgument);
  limits = Limits();
  limits.max_dataset_bytes = 0;
  EXPECT_EQ(Registry::Open(dir_.path(), limits).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------ datasets

std::vector<float> Column(int n, float base) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = base + static_cast<float>(i);
  return v;
}

TEST_F(RegistryTest, UploadCommitListLoadDelete) {
  {
    std::unique_ptr<Registry> r = Open();
    absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
        r->datasets().BeginUpload("set", 1, 1);
    ASSERT_TRUE(up.ok()) << up.status();
    const std::vector<float> in = Column(4, 0), tg = Column(4, 100);
    ASSERT_TRUE((*up)->Append(in.data(), tg.data(), 4).ok());
    // Not visible until committed.
    EXPECT_THAT(r->datasets().ListDatasets(), IsEmpty());
    absl::StatusOr<registry::DatasetInfo> meta = (*up)->Commit();
    ASSERT_TRUE(meta.ok()) << meta.status();
    EXPECT_EQ(meta->rows, 4u);
    ASSERT_EQ(r->datasets().ListDatasets().size(), 1u);
    EXPECT_EQ(r->datasets().GetDataset("set")->rows, 4u);
  }
  std::unique_ptr<Registry> r = Open();
  ASSERT_EQ(r->datasets().ListDatasets().size(), 1u);
  absl::StatusOr<std::shared_ptr<const engine::Dataset>> data =
      r->datasets().LoadDataset("set");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ((*data)->inputs(0, 3), 3.0f);
  EXPECT_EQ((*data)->targets(0, 2), 102.0f);
  ASSERT_TRUE(r->datasets().DeleteDataset("set").ok());
  EXPECT_THAT(r->datasets().ListDatasets(), IsEmpty());
  EXPECT_THAT(Names(dir_.path() + "/datasets"), IsEmpty());
  // A caller still holding the rows keeps them.
  EXPECT_EQ((*data)->inputs.cols(), 4);
}

TEST_F(RegistryTest, UploadRowLimit) {
  Limits limits;
  limits.max_dataset_rows = 5;
  std::unique_ptr<Registry> r = Open(limits);
  const std::vector<float> v = Column(6, 0);
  {
    absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
        r->datasets().BeginUpload("big", 1, 1);
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->Append(v.data(), v.data(), 3).ok());
    const absl::Status over = (*up)->Append(v.data(), v.data(), 3);
    EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(over.message(), HasSubstr("max_dataset_rows"));
    EXPECT_EQ((*up)->rows(), 3u);
  }
  // The refused upload left nothing, and released its name.
  EXPECT_THAT(r->datasets().ListDatasets(), IsEmpty());
  EXPECT_THAT(Names(dir_.path() + "/datasets"), IsEmpty());
  absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
      r->datasets().BeginUpload("big", 1, 1);
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE((*up)->Append(v.data(), v.data(), 5).ok());
  ASSERT_TRUE((*up)->Commit().ok());
  EXPECT_EQ(r->datasets().GetDataset("big")->rows, 5u);
}

// The byte limit bounds the file an upload stores: rows of 1 + 1 float32
// (8 bytes) and the 40-byte trailer, so 80 bytes hold 5 rows.
TEST_F(RegistryTest, UploadByteLimitCountsTheStoredFile) {
  Limits limits;
  limits.max_dataset_bytes = 80;
  std::unique_ptr<Registry> r = Open(limits);
  const std::vector<float> v = Column(6, 0);
  {
    absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
        r->datasets().BeginUpload("big", 1, 1);
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->Append(v.data(), v.data(), 3).ok());
    const absl::Status over = (*up)->Append(v.data(), v.data(), 3);
    EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(over.message(), HasSubstr("would take 88 bytes"));
    EXPECT_THAT(over.message(), HasSubstr("limit of 80 bytes"));
    EXPECT_THAT(over.message(), HasSubstr("--max_dataset_bytes"));
    EXPECT_EQ((*up)->rows(), 3u);
  }
  // The refused upload left nothing, and released its name.
  EXPECT_THAT(r->datasets().ListDatasets(), IsEmpty());
  EXPECT_THAT(Names(dir_.path() + "/datasets"), IsEmpty());
  // Exactly at the limit is fine, and the file is that large.
  absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
      r->datasets().BeginUpload("big", 1, 1);
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE((*up)->Append(v.data(), v.data(), 5).ok());
  absl::StatusOr<DatasetInfo> info = (*up)->Commit();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size_bytes, 80u);
  EXPECT_EQ(fs::file_size(dir_.path() + "/datasets/big.mlpd"), 80u);
}

TEST_F(RegistryTest, UploadWithoutRowsIsInvalidAndLeavesNothing) {
  std::unique_ptr<Registry> r = Open();
  {
    absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
        r->datasets().BeginUpload("empty", 2, 1);
    ASSERT_TRUE(up.ok());
    EXPECT_EQ((*up)->Commit().status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(r->datasets().ListDatasets(), IsEmpty());
  EXPECT_THAT(Names(dir_.path() + "/datasets"), IsEmpty());
}

TEST_F(RegistryTest, UploadSizesAndNamesAreChecked) {
  std::unique_ptr<Registry> r = Open();
  EXPECT_EQ(r->datasets().BeginUpload("s", 0, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r->datasets().BeginUpload("s", 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<DatasetUpload>> first =
      r->datasets().BeginUpload("s", 1, 1);
  ASSERT_TRUE(first.ok());
  // Taken while being uploaded, and once committed.
  EXPECT_EQ(r->datasets().BeginUpload("s", 1, 1).status().code(),
            absl::StatusCode::kAlreadyExists);
  const float x = 1;
  ASSERT_TRUE((*first)->Append(&x, &x, 1).ok());
  ASSERT_TRUE((*first)->Commit().ok());
  EXPECT_EQ(r->datasets().BeginUpload("s", 1, 1).status().code(),
            absl::StatusCode::kAlreadyExists);
}

// Regression: BeginUpload accepted any header.input_size / target_size, and
// the writer allocates one row of input_size + target_size floats up front,
// so a header of 2^32-1 inputs made the server allocate 16 GiB before any
// row arrived. No model can take more than engine::kMaxLayerWidth values.
TEST_F(RegistryTest, AbsurdUploadRowWidthIsRefusedBeforeAllocation) {
  std::unique_ptr<Registry> r = Open();
  const uint32_t widest = engine::kMaxLayerWidth;
  for (const auto& [inputs, targets] :
       std::vector<std::pair<uint32_t, uint32_t>>{{0xffffffffu, 1},
                                                  {1, 0xffffffffu},
                                                  {widest + 1, 1},
                                                  {1, widest + 1}}) {
    absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
        r->datasets().BeginUpload("wide", inputs, targets);
    EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument)
        << inputs << " x " << targets;
    EXPECT_THAT(up.status().message(), HasSubstr("header."));
  }
  EXPECT_THAT(Names(dir_.path() + "/datasets"), IsEmpty());
  // The widest a model can take is fine.
  EXPECT_TRUE(r->datasets().BeginUpload("wide", widest, 1).ok());
}

TEST_F(RegistryTest, AbandonedUploadLeavesNothingAfterReopen) {
  {
    std::unique_ptr<Registry> r = Open();
    absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
        r->datasets().BeginUpload("lost", 1, 1);
    ASSERT_TRUE(up.ok());
    const float x = 1;
    ASSERT_TRUE((*up)->Append(&x, &x, 1).ok());
    up->reset();
  }
  std::unique_ptr<Registry> r = Open();
  EXPECT_THAT(r->datasets().ListDatasets(), IsEmpty());
  EXPECT_THAT(Names(dir_.path() + "/datasets"), IsEmpty());
}

// ------------------------------------------------- storage errors

// What a caller may see of a failed write or read: the model or dataset and
// the cause, never where the data directory is (the log has that).
::testing::Matcher<absl::Status> NamesNoPath(const std::string& data_dir,
                                             const std::string& what) {
  return ::testing::AllOf(
      ::testing::Property(&absl::Status::message, HasSubstr(what)),
      ::testing::Property(&absl::Status::message,
                          HasSubstr("the server log has the details")),
      ::testing::Property(&absl::Status::message,
                          ::testing::Not(HasSubstr(data_dir))),
      ::testing::Property(&absl::Status::message,
                          ::testing::Not(HasSubstr("/models/"))),
      ::testing::Property(&absl::Status::message,
                          ::testing::Not(HasSubstr("/datasets/"))));
}

// Tests run as root, where permissions stop no write: a directory replaced
// by a file fails every write under it (ENOTDIR) whoever runs the test.
void ReplaceWithFile(const std::string& dir) {
  fs::rename(dir, dir + ".moved");
  testing::WritePlain(dir, "not a directory");
}

TEST_F(RegistryTest, FailedCommitNamesTheModelNotTheServerPath) {
  std::unique_ptr<Registry> r = Open();
  ASSERT_TRUE(r->models().CreateModel("m", SeedNetworkSpec(1)).ok());
  ReplaceWithFile(ModelDir("m"));
  const absl::StatusOr<uint64_t> committed = TrainOnce(*r, "m", 0.5f);
  EXPECT_EQ(committed.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(committed.status(),
              NamesNoPath(dir_.path(),
                          "cannot store version 2 of model 'm': "
                          "the server could not read or write "
                          "its files (Not a directory)"));
  // Nothing changed: the model still serves version 1.
  EXPECT_EQ(r->models().GetModel("m")->version, 1u);
}

TEST_F(RegistryTest, FailedUploadAndCorruptReadNameTheDatasetNotThePath) {
  std::unique_ptr<Registry> r = Open();
  const std::vector<float> v = Column(4, 0);
  {
    absl::StatusOr<std::unique_ptr<DatasetUpload>> up =
        r->datasets().BeginUpload("good", 1, 1);
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->Append(v.data(), v.data(), 4).ok());
    ASSERT_TRUE((*up)->Commit().ok());
  }
  testing::FlipByte(dir_.path() + "/datasets/good.mlpd", 0, 0xff);
  const absl::Status corrupt = r->datasets().LoadDataset("good").status();
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(corrupt, NamesNoPath(dir_.path(),
                                   "cannot read dataset 'good': its stored "
                                   "file is corrupt"));

  ReplaceWithFile(dir_.path() + "/datasets");
  const absl::Status begun = r->datasets().BeginUpload("new", 1, 1).status();
  EXPECT_EQ(begun.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(begun, NamesNoPath(dir_.path(), "cannot store dataset 'new'"));
  // The name is free again once the directory is back.
  fs::remove(dir_.path() + "/datasets");
  fs::rename(dir_.path() + "/datasets.moved", dir_.path() + "/datasets");
  EXPECT_TRUE(r->datasets().BeginUpload("new", 1, 1).ok());
}

}  // namespace
}  // namespace mlp::registry
