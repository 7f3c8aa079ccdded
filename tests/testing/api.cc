#include "tests/testing/api.h"

#include <algorithm>
#include <chrono>

namespace mlp::testing {

v1::Tensor MakeTensor(std::vector<int64_t> shape, std::vector<float> values) {
  v1::Tensor t;
  for (int64_t d : shape) t.add_shape(d);
  for (float v : values) t.add_values(v);
  return t;
}

v1::ModelSpec SeedSpec(uint64_t seed) {
  v1::ModelSpec spec;
  spec.set_input_size(3);
  v1::LayerSpec* hidden = spec.add_layers();
  hidden->set_units(4);
  hidden->set_activation(v1::RELU);
  v1::LayerSpec* out = spec.add_layers();
  out->set_units(1);
  out->set_activation(v1::LINEAR);
  spec.set_loss(v1::MSE);
  spec.set_bias(false);
  spec.set_init(v1::UNIFORM_0_1);
  spec.set_seed(seed);
  return spec;
}

v1::TrainRequest SeedTrainRequest(const std::string& model,
                                  uint32_t max_epochs) {
  v1::TrainRequest request;
  request.set_model(model);
  *request.mutable_inline_data()->mutable_inputs() =
      MakeTensor({4, 3}, kSeedInputs);
  *request.mutable_inline_data()->mutable_targets() =
      MakeTensor({4, 1}, kSeedTargets);
  v1::TrainOptions* options = request.mutable_options();
  options->set_optimizer(v1::SGD);
  options->set_learning_rate(0.1f);
  options->set_batch_size(1);
  options->set_max_epochs(max_epochs);
  options->set_target_loss(0.001f);
  options->set_seed(7);
  return request;
}

grpc::Status UploadSeedDataset(v1::ModelService::Stub* stub,
                               const std::string& name, int rows,
                               int chunk_rows, v1::DatasetInfo* info) {
  auto context = ContextWithDeadline();
  auto writer = stub->UploadDataset(context.get(), info);
  v1::UploadDatasetRequest header;
  header.mutable_header()->set_name(name);
  header.mutable_header()->set_input_size(3);
  header.mutable_header()->set_target_size(1);
  writer->Write(header);
  for (int begin = 0; begin < rows; begin += chunk_rows) {
    const int n = std::min(chunk_rows, rows - begin);
    std::vector<float> x, t;
    for (int i = begin; i < begin + n; ++i) {
      for (int j = 0; j < 3; ++j) x.push_back(kSeedInputs[(i % 4) * 3 + j]);
      t.push_back(kSeedTargets[i % 4]);
    }
    v1::UploadDatasetRequest chunk;
    *chunk.mutable_chunk()->mutable_inputs() = MakeTensor({n, 3}, x);
    *chunk.mutable_chunk()->mutable_targets() = MakeTensor({n, 1}, t);
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status CreateModel(v1::ModelService::Stub* stub, const std::string& name,
                         const v1::ModelSpec& spec, v1::ModelInfo* info) {
  v1::CreateModelRequest request;
  request.set_name(name);
  *request.mutable_spec() = spec;
  v1::ModelInfo ignored;
  return stub->CreateModel(ContextWithDeadline().get(), request,
                           info != nullptr ? info : &ignored);
}

std::unique_ptr<v1::ModelService::Stub> MakeStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return v1::ModelService::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(double seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
  return context;
}

}  // namespace mlp::testing
