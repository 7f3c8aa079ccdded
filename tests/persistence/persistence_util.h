// Helpers shared by the persistence tests: API calls that fail the test on
// error, bitwise comparisons and data-directory inspection.
#ifndef MLP_TESTS_PERSISTENCE_PERSISTENCE_UTIL_H_
#define MLP_TESTS_PERSISTENCE_PERSISTENCE_UTIL_H_

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mlp/v1/mlp.grpc.pb.h"
#include "tests/testing/api.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp::testing {

// Every entry under `dir`, relative to it, sorted ("a", "a/b", ...).
inline std::vector<std::string> TreeOf(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code error;
  if (!std::filesystem::exists(dir, error)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    out.push_back(std::filesystem::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// True if the two float sequences are identical bit for bit.
inline bool BitwiseEqual(const google::protobuf::RepeatedField<float>& a,
                         const google::protobuf::RepeatedField<float>& b) {
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
}

inline bool SameMessage(const google::protobuf::Message& a,
                        const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// Thin blocking wrappers: each returns the status and fills `out`.
class Client {
 public:
  explicit Client(const std::string& address) : stub_(MakeStub(address)) {}

  grpc::Status Create(const std::string& name, const v1::ModelSpec& spec,
                      v1::ModelInfo* out = nullptr) {
    return CreateModel(stub_.get(), name, spec, out);
  }
  grpc::Status Get(const std::string& name, v1::ModelInfo* out) {
    v1::GetModelRequest request;
    request.set_name(name);
    return stub_->GetModel(ContextWithDeadline().get(), request, out);
  }
  grpc::Status List(v1::ListModelsResponse* out) {
    return stub_->ListModels(ContextWithDeadline().get(),
                             v1::ListModelsRequest(), out);
  }
  grpc::Status Delete(const std::string& name) {
    v1::DeleteModelRequest request;
    request.set_name(name);
    v1::DeleteModelResponse response;
    return stub_->DeleteModel(ContextWithDeadline().get(), request, &response);
  }
  grpc::Status Predict(const std::string& name, uint64_t version,
                       const v1::Tensor& inputs, v1::PredictResponse* out) {
    v1::PredictRequest request;
    request.set_model(name);
    request.set_version(version);
    *request.mutable_inputs() = inputs;
    return stub_->Predict(ContextWithDeadline().get(), request, out);
  }
  grpc::Status Weights(const std::string& name, uint64_t version,
                       v1::GetWeightsResponse* out) {
    v1::GetWeightsRequest request;
    request.set_model(name);
    request.set_version(version);
    return stub_->GetWeights(ContextWithDeadline().get(), request, out);
  }
  grpc::Status Datasets(v1::ListDatasetsResponse* out) {
    return stub_->ListDatasets(ContextWithDeadline().get(),
                               v1::ListDatasetsRequest(), out);
  }
  // Runs a training to its end; `messages` gets every progress message.
  grpc::Status Train(const v1::TrainRequest& request,
                     std::vector<v1::TrainProgress>* messages,
                     double deadline_seconds = 60) {
    auto context = ContextWithDeadline(deadline_seconds);
    auto reader = stub_->Train(context.get(), request);
    v1::TrainProgress progress;
    while (reader->Read(&progress)) messages->push_back(progress);
    return reader->Finish();
  }

  v1::ModelService::Stub* stub() { return stub_.get(); }

 private:
  std::unique_ptr<v1::ModelService::Stub> stub_;
};

// What a user can observe of one committed version.
struct VersionView {
  v1::GetWeightsResponse weights;
  v1::PredictResponse prediction;
};

// Probe inputs for a model with `input_size` inputs: 8 rows, fixed seed.
inline v1::Tensor ProbeInputs(int input_size) {
  std::mt19937 gen(1234);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(8 * input_size));
  for (float& v : values) v = dist(gen);
  return MakeTensor({8, input_size}, values);
}

inline VersionView Observe(Client& client, const std::string& name,
                           uint64_t version, int input_size) {
  VersionView view;
  grpc::Status w = client.Weights(name, version, &view.weights);
  EXPECT_TRUE(w.ok()) << name << " v" << version << ": " << w.error_message();
  grpc::Status p =
      client.Predict(name, version, ProbeInputs(input_size), &view.prediction);
  EXPECT_TRUE(p.ok()) << name << " v" << version << ": " << p.error_message();
  return view;
}

// Both views are the same version with bitwise-identical weights and outputs.
inline void ExpectSameVersion(const VersionView& before,
                              const VersionView& after) {
  EXPECT_EQ(before.weights.version(), after.weights.version());
  ASSERT_EQ(before.weights.layers_size(), after.weights.layers_size());
  for (int l = 0; l < before.weights.layers_size(); ++l) {
    const v1::LayerWeights& a = before.weights.layers(l);
    const v1::LayerWeights& b = after.weights.layers(l);
    EXPECT_TRUE(SameMessage(a, b)) << "layer " << l << " differs";
    EXPECT_TRUE(BitwiseEqual(a.weights().values(), b.weights().values()))
        << "layer " << l;
    EXPECT_TRUE(BitwiseEqual(a.bias().values(), b.bias().values()))
        << "layer " << l;
  }
  EXPECT_EQ(before.prediction.version(), after.prediction.version());
  EXPECT_TRUE(BitwiseEqual(before.prediction.outputs().values(),
                           after.prediction.outputs().values()))
      << "predictions differ";
}

// A data directory that outlives the mlp-server processes started on it.
class DataDirTest : public ::testing::Test {
 protected:
  std::string data_dir() const { return dir_.path() + "/data"; }

  // A server on data_dir(); nullptr (and a failed expectation) if it does
  // not start.
  std::unique_ptr<ServerProcess> Start(
      const std::vector<std::string>& flags = {}) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(data_dir(), flags);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // SIGTERM and a clean exit.
  static void Stop(std::unique_ptr<ServerProcess>& server) {
    server->Signal(SIGTERM);
    const int status = server->Wait(10);
    ASSERT_NE(status, -1) << "mlp-server did not stop";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    server.reset();
  }

  // SIGKILL: no chance to clean up.
  static void Kill(std::unique_ptr<ServerProcess>& server) {
    server->Signal(SIGKILL);
    ASSERT_NE(server->Wait(10), -1);
    server.reset();
  }

  TempDir dir_;
};

}  // namespace mlp::testing

#endif  // MLP_TESTS_PERSISTENCE_PERSISTENCE_UTIL_H_
