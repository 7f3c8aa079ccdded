// model_store: models/<name>/{model.meta,vNNNNNN.ver}, recovery, quarantine.
#include "server/store/model_store.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/file_io.h"
#include "server/engine/serialize.h"
#include "server/store/record.h"
#include "tests/testing/files.h"
#include "tests/testing/network_format1.h"
#include "tests/testing/server_process.h"

namespace mlp::store {
namespace {

namespace fs = std::filesystem;
using ::mlp::testing::FlipByte;
using ::mlp::testing::Names;
using ::mlp::testing::WritePlain;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

engine::NetworkSpec Spec(uint64_t seed) {
  engine::NetworkSpec spec;
  spec.input_size = 3;
  spec.layers = {{4, engine::Activation::kRelu},
                 {1, engine::Activation::kLinear}};
  spec.bias = true;
  spec.seed = seed;
  return spec;
}

VersionRecord Version(uint64_t version, uint64_t seed,
                      std::optional<TrainingSummary> summary = std::nullopt) {
  VersionRecord v;
  v.version = version;
  v.committed_at = absl::FromUnixSeconds(1700000000 + version);
  v.summary = summary;
  absl::StatusOr<engine::Network> net = engine::Network::Create(Spec(seed));
  if (!net.ok()) std::abort();
  v.network = std::make_shared<const engine::Network>(*std::move(net));
  return v;
}

std::vector<uint64_t> Versions(const ModelRecord& m) {
  std::vector<uint64_t> out;
  for (const VersionRecord& v : m.versions) out.push_back(v.version);
  return out;
}

class ModelStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<ModelStore> OpenStore() {
    absl::StatusOr<std::unique_ptr<ModelStore>> s =
        ModelStore::Open(dir_.path());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  std::string ModelDir(const std::string& name) const {
    return dir_.path() + "/models/" + name;
  }
  std::string Quarantine() const { return dir_.path() + "/quarantine"; }

  testing::TempDir dir_;
};

TEST_F(ModelStoreTest, OpenCreatesLayout) {
  ASSERT_NE(OpenStore(), nullptr);
  EXPECT_TRUE(fs::is_directory(dir_.path() + "/models"));
  EXPECT_TRUE(fs::is_directory(Quarantine()));
}

TEST_F(ModelStoreTest, CreateWriteLoadRoundTripIsBitwise) {
  TrainingSummary summary;
  summary.epochs = 42;
  summary.final_loss = 0.000123;
  summary.stop_reason = engine::StopReason::kTargetLoss;
  const VersionRecord v1 = Version(1, 11);
  const VersionRecord v2 = Version(2, 22, summary);
  const absl::Time created = absl::FromUnixSeconds(1600000000);
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(store->CreateModel("xor", created, v1).ok());
    ASSERT_TRUE(store->WriteVersion("xor", v2).ok());
  }
  EXPECT_THAT(Names(ModelDir("xor")),
              ElementsAre("model.meta", "v000001.ver", "v000002.ver"));

  std::unique_ptr<ModelStore> store = OpenStore();
  std::vector<ModelRecord> models = store->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  const ModelRecord& m = models[0];
  EXPECT_EQ(m.name, "xor");
  EXPECT_EQ(m.created_at, created);
  ASSERT_THAT(Versions(m), ElementsAre(1, 2));
  EXPECT_EQ(m.versions[0].committed_at, v1.committed_at);
  EXPECT_FALSE(m.versions[0].summary.has_value());
  ASSERT_TRUE(m.versions[1].summary.has_value());
  EXPECT_EQ(m.versions[1].summary->epochs, 42u);
  EXPECT_EQ(m.versions[1].summary->final_loss, 0.000123);
  EXPECT_EQ(m.versions[1].summary->stop_reason,
            engine::StopReason::kTargetLoss);
  EXPECT_EQ(engine::SerializeNetwork(*m.versions[0].network),
            engine::SerializeNetwork(*v1.network));
  EXPECT_EQ(engine::SerializeNetwork(*m.versions[1].network),
            engine::SerializeNetwork(*v2.network));
  EXPECT_THAT(Names(Quarantine()), IsEmpty());
}

TEST_F(ModelStoreTest, LoadAllIsSortedByName) {
  std::unique_ptr<ModelStore> store = OpenStore();
  for (const char* name : {"zeta", "alpha", "m1"}) {
    ASSERT_TRUE(store->CreateModel(name, absl::Now(), Version(1, 1)).ok());
  }
  std::vector<ModelRecord> models = store->LoadAll();
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[0].name, "alpha");
  EXPECT_EQ(models[1].name, "m1");
  EXPECT_EQ(models[2].name, "zeta");
}

TEST_F(ModelStoreTest, CreateExistingIsAlreadyExistsAndKeepsTheOld) {
  std::unique_ptr<ModelStore> store = OpenStore();
  const VersionRecord first = Version(1, 1);
  ASSERT_TRUE(store->CreateModel("m", absl::Now(), first).ok());
  EXPECT_EQ(store->CreateModel("m", absl::Now(), Version(1, 2)).code(),
            absl::StatusCode::kAlreadyExists);
  std::vector<ModelRecord> models = store->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(engine::SerializeNetwork(*models[0].versions[0].network),
            engine::SerializeNetwork(*first.network));
  // No temporary directory left behind by the refused creation.
  EXPECT_THAT(Names(dir_.path() + "/models"), ElementsAre("m"));
}

TEST_F(ModelStoreTest, CorruptVersionIsQuarantinedAndOthersLoad) {
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(store->CreateModel("m", absl::Now(), Version(1, 1)).ok());
    ASSERT_TRUE(store->WriteVersion("m", Version(2, 2)).ok());
    ASSERT_TRUE(store->WriteVersion("m", Version(3, 3)).ok());
  }
  const std::string bad = ModelDir("m") + "/v000002.ver";
  FlipByte(bad, 40, 0x5a);
  absl::StatusOr<std::string> corrupt_bytes = common::ReadFile(bad);
  ASSERT_TRUE(corrupt_bytes.ok());

  std::unique_ptr<ModelStore> store = OpenStore();
  std::vector<ModelRecord> models = store->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_THAT(Versions(models[0]), ElementsAre(1, 3));
  EXPECT_FALSE(fs::exists(bad));
  // Kept for inspection, byte for byte.
  const std::vector<std::string> kept = Names(Quarantine());
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_THAT(kept[0], EndsWith("m-v000002.ver"));
  absl::StatusOr<std::string> kept_bytes =
      common::ReadFile(Quarantine() + "/" + kept[0]);
  ASSERT_TRUE(kept_bytes.ok());
  EXPECT_EQ(*kept_bytes, *corrupt_bytes);
}

TEST_F(ModelStoreTest, TruncatedVersionIsQuarantined) {
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(store->CreateModel("m", absl::Now(), Version(1, 1)).ok());
    ASSERT_TRUE(store->WriteVersion("m", Version(2, 2)).ok());
  }
  fs::resize_file(ModelDir("m") + "/v000002.ver", 30);
  std::vector<ModelRecord> models = OpenStore()->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_THAT(Versions(models[0]), ElementsAre(1));
  EXPECT_EQ(Names(Quarantine()).size(), 1u);
}

TEST_F(ModelStoreTest, VersionFileUnderTheWrongNumberIsQuarantined) {
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(store->CreateModel("m", absl::Now(), Version(1, 1)).ok());
  }
  fs::copy_file(ModelDir("m") + "/v000001.ver", ModelDir("m") + "/v000007.ver");
  std::vector<ModelRecord> models = OpenStore()->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_THAT(Versions(models[0]), ElementsAre(1));
  const std::vector<std::string> kept = Names(Quarantine());
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_THAT(kept[0], EndsWith("v000007.ver"));
}

TEST_F(ModelStoreTest, ModelWithEveryVersionCorruptIsMovedAsideWhole) {
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(store->CreateModel("good", absl::Now(), Version(1, 1)).ok());
    ASSERT_TRUE(store->CreateModel("bad", absl::Now(), Version(1, 2)).ok());
    ASSERT_TRUE(store->WriteVersion("bad", Version(2, 3)).ok());
  }
  FlipByte(ModelDir("bad") + "/v000001.ver", 20, 0x5a);
  FlipByte(ModelDir("bad") + "/v000002.ver", 60, 0x5a);

  std::unique_ptr<ModelStore> store = OpenStore();
  std::vector<ModelRecord> models = store->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, "good");
  EXPECT_FALSE(fs::exists(ModelDir("bad")));
  // The version files go first, then the (now versionless) directory with its
  // meta: nothing is deleted, everything is under quarantine.
  size_t kept_files = 0;
  bool dir_kept = false;
  for (const fs::directory_entry& e :
       fs::recursive_directory_iterator(Quarantine())) {
    if (e.is_regular_file()) ++kept_files;
    if (e.is_directory() &&
        absl::EndsWith(e.path().filename().string(), "models-bad")) {
      dir_kept = true;
    }
  }
  EXPECT_TRUE(dir_kept) << "no quarantined directory for 'bad'";
  EXPECT_EQ(kept_files, 3u);  // model.meta and both versions

  // A second open finds a clean state and the same models.
  std::vector<ModelRecord> again = OpenStore()->LoadAll();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].name, "good");
}

TEST_F(ModelStoreTest, EmptyModelDirectoryIsMovedAside) {
  ASSERT_NE(OpenStore(), nullptr);
  fs::create_directory(ModelDir("orphan"));
  EXPECT_THAT(OpenStore()->LoadAll(), IsEmpty());
  EXPECT_FALSE(fs::exists(ModelDir("orphan")));
  EXPECT_EQ(Names(Quarantine()).size(), 1u);
}

TEST_F(ModelStoreTest, CorruptMetaKeepsVersionsAndIsRewritten) {
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(store->CreateModel("m", absl::Now(), Version(1, 1)).ok());
  }
  FlipByte(ModelDir("m") + "/model.meta", 6, 0x5a);
  std::vector<ModelRecord> models = OpenStore()->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_THAT(Versions(models[0]), ElementsAre(1));
  EXPECT_EQ(models[0].created_at, models[0].versions[0].committed_at);
  EXPECT_EQ(Names(Quarantine()).size(), 1u);
  // The rewritten meta loads cleanly next time.
  std::vector<ModelRecord> again = OpenStore()->LoadAll();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(Names(Quarantine()).size(), 1u);
}

TEST_F(ModelStoreTest, OpenRemovesLeftoverTemporaries) {
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(store->CreateModel("m", absl::Now(), Version(1, 1)).ok());
  }
  // An interrupted creation, deletion and version write.
  fs::create_directory(dir_.path() + "/models/.new-x-123-0");
  WritePlain(dir_.path() + "/models/.new-x-123-0/model.meta", "half");
  fs::create_directory(dir_.path() + "/models/.del-y-123-1");
  WritePlain(dir_.path() + "/models/.del-y-123-1/v000001.ver", "old");
  WritePlain(ModelDir("m") + "/v000002.ver.tmp.123-2", "torn");
  WritePlain(ModelDir("m") + "/model.meta.tmp.123-3", "torn");

  std::unique_ptr<ModelStore> store = OpenStore();
  EXPECT_THAT(Names(dir_.path() + "/models"), ElementsAre("m"));
  EXPECT_THAT(Names(ModelDir("m")), ElementsAre("model.meta", "v000001.ver"));
  std::vector<ModelRecord> models = store->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_THAT(Versions(models[0]), ElementsAre(1));
  // Temporaries were never committed: removed, not quarantined.
  EXPECT_THAT(Names(Quarantine()), IsEmpty());
}

// Regression: names such as "run.tmp.1" are valid model names, but Open took
// any name containing ".tmp." for a leftover temporary and deleted the whole
// committed model.
TEST_F(ModelStoreTest, ModelNameContainingTmpIsNotDeletedOnOpen) {
  {
    std::unique_ptr<ModelStore> store = OpenStore();
    ASSERT_TRUE(
        store->CreateModel("run.tmp.1", absl::Now(), Version(1, 1)).ok());
    ASSERT_TRUE(store->WriteVersion("run.tmp.1", Version(2, 2)).ok());
  }
  std::unique_ptr<ModelStore> store = OpenStore();
  std::vector<ModelRecord> models = store->LoadAll();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, "run.tmp.1");
  EXPECT_THAT(Versions(models[0]), ElementsAre(1, 2));
  EXPECT_THAT(Names(ModelDir("run.tmp.1")),
              ElementsAre("model.meta", "v000001.ver", "v000002.ver"));
}

TEST_F(ModelStoreTest, DeleteVersionAndDeleteModel) {
  std::unique_ptr<ModelStore> store = OpenStore();
  ASSERT_TRUE(store->CreateModel("m", absl::Now(), Version(1, 1)).ok());
  ASSERT_TRUE(store->WriteVersion("m", Version(2, 2)).ok());
  ASSERT_TRUE(store->DeleteVersion("m", 1).ok());
  ASSERT_TRUE(store->DeleteVersion("m", 1).ok());  // missing is fine
  EXPECT_THAT(Names(ModelDir("m")), ElementsAre("model.meta", "v000002.ver"));
  ASSERT_TRUE(store->DeleteModel("m").ok());
  EXPECT_THAT(Names(dir_.path() + "/models"), IsEmpty());
  EXPECT_THAT(OpenStore()->LoadAll(), IsEmpty());
  EXPECT_EQ(store->DeleteModel("m").code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelStoreTest, DecodeRejectsEveryFlippedByteOfTheNetwork) {
  const std::string good = EncodeVersion(Version(1, 5));
  for (size_t pos = 0; pos < good.size(); pos += 7) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
    EXPECT_EQ(DecodeVersion(bad, "v").status().code(),
              absl::StatusCode::kDataLoss)
        << "byte " << pos;
  }
}

// A version record as EncodeVersion lays it out, holding `network` as given.
std::string VersionRecordWith(const VersionRecord& v,
                              const std::string& network) {
  RecordWriter w("MLPV", 1);
  w.Put<uint64_t>(v.version);
  w.Put<int64_t>(absl::ToUnixNanos(v.committed_at));
  w.Put<uint8_t>(0);  // no summary
  w.Put<uint32_t>(0);
  w.Put<double>(0.0);
  w.Put<int32_t>(0);
  w.PutBytes(network);
  return std::move(w).Finish();
}

// Version files written while the network blob carried its own CRC-32
// (format 1) still load, bit for bit.
TEST_F(ModelStoreTest, VersionWithAFormatOneNetworkStillDecodes) {
  const VersionRecord v = Version(4, 9);
  ASSERT_EQ(VersionRecordWith(v, engine::SerializeNetwork(*v.network)),
            EncodeVersion(v));  // the layout above is EncodeVersion's
  const absl::StatusOr<VersionRecord> back = DecodeVersion(
      VersionRecordWith(v, testing::EncodeNetworkFormat1(*v.network)), "v");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 4u);
  EXPECT_EQ(back->committed_at, v.committed_at);
  EXPECT_FALSE(back->summary.has_value());
  EXPECT_EQ(engine::SerializeNetwork(*back->network),
            engine::SerializeNetwork(*v.network));
}

}  // namespace
}  // namespace mlp::store
