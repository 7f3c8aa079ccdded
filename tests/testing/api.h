// Builders for mlp.v1 requests used across the service tests.
#ifndef MLP_TESTS_TESTING_API_H_
#define MLP_TESTS_TESTING_API_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "mlp/v1/mlp.grpc.pb.h"

namespace mlp::testing {

// The tutorial's data: XNOR of the first and third input.
inline const std::vector<float> kSeedInputs = {1, 1, 1, 1, 1, 0,
                                               0, 1, 0, 0, 1, 1};
inline const std::vector<float> kSeedTargets = {1, 0, 1, 0};

v1::Tensor MakeTensor(std::vector<int64_t> shape, std::vector<float> values);

// 3 -> 4 (RELU) -> 1 (LINEAR), MSE, no bias, UNIFORM_0_1, given seed.
v1::ModelSpec SeedSpec(uint64_t seed);

// The tutorial's training: batch 1, SGD lr 0.1, until MSE <= 0.001.
v1::TrainRequest SeedTrainRequest(const std::string& model,
                                  uint32_t max_epochs = 1000);

// Uploads `rows` rows of the tutorial's data (repeated) as dataset `name`
// (3 inputs, 1 target), in chunks of `chunk_rows`; the call's status.
grpc::Status UploadSeedDataset(v1::ModelService::Stub* stub,
                               const std::string& name, int rows,
                               int chunk_rows, v1::DatasetInfo* info);

std::unique_ptr<v1::ModelService::Stub> MakeStub(const std::string& address);

// CreateModel `name` with `spec`; the call's status, the reply in `info` if
// given.
grpc::Status CreateModel(v1::ModelService::Stub* stub, const std::string& name,
                         const v1::ModelSpec& spec,
                         v1::ModelInfo* info = nullptr);

// A context with a deadline `seconds` from now.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(double seconds = 30);

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_API_H_
