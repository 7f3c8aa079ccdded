// mlp-server --mode=replica in process, beside a primary on the same data
// directory, over real gRPC channels: what a replica answers before and after
// it has loaded the repository, and that it refuses every write naming its
// primary.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "mlp/v1/mlp.grpc.pb.h"
#include "server/registry/registry.h"
#include "server/service/metrics.h"
#include "server/service/server.h"
#include "tests/testing/api.h"
#include "tests/testing/server_process.h"

namespace mlp {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::mlp::testing::ContextWithDeadline;
using ::mlp::testing::MakeTensor;
using ::mlp::testing::SeedSpec;
using ::testing::HasSubstr;

constexpr char kPrimaryAddress[] = "10.1.2.3:50051";

std::unique_ptr<service::MlpServer> Start(const std::string& data_dir,
                                          bool replica) {
  service::ServerOptions options;
  options.address = "127.0.0.1:0";
  options.http_address = "";
  options.data_dir = data_dir;
  if (replica) {
    options.mode = "replica";
    options.primary_address = kPrimaryAddress;
    options.repository_poll_seconds = 0.05;
  }
  absl::StatusOr<std::unique_ptr<service::MlpServer>> server =
      service::MlpServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::string Address(const service::MlpServer& server) {
  return "127.0.0.1:" + std::to_string(server.port());
}

// Waits (on the health Watch stream, no polling) until `address` reports
// `wanted` for the whole server; false after 30 s.
bool WaitForHealth(const std::string& address,
                   HealthCheckResponse::ServingStatus wanted) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto context = ContextWithDeadline(30);
  HealthCheckRequest request;
  auto reader = health->Watch(context.get(), request);
  HealthCheckResponse response;
  while (reader->Read(&response)) {
    if (response.status() == wanted) {
      context->TryCancel();
      return true;
    }
  }
  return false;
}

HealthCheckResponse::ServingStatus Health(const std::string& address) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  HealthCheckRequest request;
  HealthCheckResponse response;
  grpc::Status status =
      health->Check(ContextWithDeadline().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

grpc::Status Predict(v1::ModelService::Stub* stub, const std::string& model,
                     v1::PredictResponse* response) {
  v1::PredictRequest request;
  request.set_model(model);
  *request.mutable_inputs() = MakeTensor({1, 3}, {1, 0, 1});
  return stub->Predict(ContextWithDeadline().get(), request, response);
}

TEST(ReplicaServiceTest, NotServingUntilTheRepositoryIsLoaded) {
  testing::TempDir dir;
  const std::string data_dir = dir.path() + "/shared";
  std::unique_ptr<service::MlpServer> replica = Start(data_dir, true);
  ASSERT_NE(replica, nullptr);
  const std::string address = Address(*replica);
  auto stub = testing::MakeStub(address);
  // The primary has not created the directory yet.
  EXPECT_EQ(Health(address), HealthCheckResponse::NOT_SERVING);
  auto v2 = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(v2->ServerReady(ContextWithDeadline().get(),
                              inference::ServerReadyRequest(), &ready)
                  .ok());
  EXPECT_FALSE(ready.ready());
  v1::PredictResponse predicted;
  grpc::Status before = Predict(stub.get(), "m", &predicted);
  EXPECT_EQ(before.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(before.error_message(), HasSubstr("not loaded"));

  std::unique_ptr<service::MlpServer> primary = Start(data_dir, false);
  ASSERT_NE(primary, nullptr);
  auto primary_stub = testing::MakeStub(Address(*primary));
  ASSERT_TRUE(testing::CreateModel(primary_stub.get(), "m", SeedSpec(7)).ok());
  ASSERT_TRUE(WaitForHealth(address, HealthCheckResponse::SERVING));
  ASSERT_TRUE(v2->ServerReady(ContextWithDeadline().get(),
                              inference::ServerReadyRequest(), &ready)
                  .ok());
  EXPECT_TRUE(ready.ready());

  // The replica predicts exactly what the primary does.
  v1::PredictResponse from_primary;
  ASSERT_TRUE(Predict(primary_stub.get(), "m", &from_primary).ok());
  grpc::Status after = Predict(stub.get(), "m", &predicted);
  for (int i = 0; i < 600 && after.error_code() == grpc::StatusCode::NOT_FOUND;
       ++i) {
    absl::SleepFor(absl::Milliseconds(50));  // the model's pass may lag
    after = Predict(stub.get(), "m", &predicted);
  }
  ASSERT_TRUE(after.ok()) << after.error_message();
  EXPECT_EQ(predicted.version(), 1u);
  EXPECT_EQ(predicted.outputs().values(0), from_primary.outputs().values(0));

  // Stopping: NOT_SERVING from then on.
  replica->Shutdown(absl::Seconds(1));
}

TEST(ReplicaServiceTest, RefusesEveryWriteNamingThePrimary) {
  testing::TempDir dir;
  std::unique_ptr<service::MlpServer> primary = Start(dir.path(), false);
  std::unique_ptr<service::MlpServer> replica = Start(dir.path(), true);
  ASSERT_NE(replica, nullptr);
  ASSERT_TRUE(WaitForHealth(Address(*replica), HealthCheckResponse::SERVING));
  auto stub = testing::MakeStub(Address(*replica));
  const auto refused = [](const grpc::Status& status, const std::string& what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << what;
    EXPECT_EQ(status.error_message(),
              "this server is a read-only replica: send " + what +
                  " to the primary at " + kPrimaryAddress);
  };
  refused(testing::CreateModel(stub.get(), "m", SeedSpec(1)), "CreateModel");
  v1::DeleteModelRequest del;
  del.set_name("m");
  v1::DeleteModelResponse deleted;
  refused(stub->DeleteModel(ContextWithDeadline().get(), del, &deleted),
          "DeleteModel");
  {
    auto context = ContextWithDeadline();
    auto reader = stub->Train(context.get(), testing::SeedTrainRequest("m", 5));
    v1::TrainProgress progress;
    while (reader->Read(&progress)) {
    }
    refused(reader->Finish(), "Train");
  }
  v1::DatasetInfo info;
  refused(testing::UploadSeedDataset(stub.get(), "d", 4, 4, &info),
          "UploadDataset");
  v1::DeleteDatasetRequest del_dataset;
  del_dataset.set_name("d");
  v1::DeleteDatasetResponse dataset_deleted;
  refused(stub->DeleteDataset(ContextWithDeadline().get(), del_dataset,
                              &dataset_deleted),
          "DeleteDataset");
  // Reads are served.
  v1::ListModelsResponse models;
  EXPECT_TRUE(stub->ListModels(ContextWithDeadline().get(),
                               v1::ListModelsRequest(), &models)
                  .ok());
  v1::ListDatasetsResponse datasets;
  EXPECT_TRUE(stub->ListDatasets(ContextWithDeadline().get(),
                                 v1::ListDatasetsRequest(), &datasets)
                  .ok());
}

TEST(ReplicaServiceTest, MetricsShowTheFollowing) {
  testing::TempDir dir;
  ASSERT_TRUE(registry::Registry::Open(dir.path(), registry::Limits()).ok());
  absl::StatusOr<std::unique_ptr<registry::Registry>> replica =
      registry::Registry::OpenReplica(dir.path(), registry::Limits(),
                                      absl::Hours(1));
  ASSERT_TRUE(replica.ok());
  service::Metrics metrics(replica->get());
  ASSERT_TRUE((*replica)->follower()->SyncOnce().ok());
  const std::string text = metrics.Scrape();
  EXPECT_THAT(text, HasSubstr("\nmlp_replica_loaded 1\n"));
  EXPECT_THAT(text, HasSubstr("\nmlp_replica_unreadable_files 0\n"));
  EXPECT_THAT(text, HasSubstr("mlp_replica_passes_total{result=\"failed\"} 0"));
  EXPECT_THAT(text, HasSubstr("mlp_replica_last_pass_timestamp_seconds "));
  // A primary has none of them.
  absl::StatusOr<std::unique_ptr<registry::Registry>> primary =
      registry::Registry::Open(dir.path() + "/other", registry::Limits());
  ASSERT_TRUE(primary.ok());
  EXPECT_THAT(service::Metrics(primary->get()).Scrape(),
              ::testing::Not(HasSubstr("mlp_replica")));
}

}  // namespace
}  // namespace mlp
