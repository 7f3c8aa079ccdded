// predict_path_bench: the in-process cost of one Predict, without gRPC, for
// the two models service_load drives (seed 3-4-1 and 784-256-128-10) at batch
// 1 and 256:
//   BM_Forward      engine::Network::Predict alone (the forward pass)
//   BM_PredictPath  what ModelServiceImpl::Predict does: the input view and
//                   its checks (InputsView), the size check, and the forward
//                   pass written into a fresh PredictResponse (PredictInto)
// Subtracting the first from the second gives the service layer's own cost;
// adding the first to the echo floor's CPU time per call predicts Predict's.
// BM_Forward also runs the 784-256-128-10 model at batches 2 to 64: the cost
// per sample if concurrent batch-1 calls were computed in one pass (see
// docs/performance.md, "Coalescing concurrent calls").
//
// BM_RequestLogLine is the RequestLog line the service writes per call at
// --log_level=info (to /dev/null: formatting plus the write(2)).
//
// Products use one thread, as mlp-server's default --compute_threads=1.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include "mlp/v1/mlp.pb.h"
#include "server/engine/network.h"
#include "server/service/limits.h"
#include "server/service/predict.h"
#include "server/service/request_log.h"
#include "server/service/tensor_convert.h"

namespace {

using mlp::engine::Activation;
using mlp::engine::Network;
using mlp::engine::NetworkSpec;

// range(0): 0 = seed 3-4-1 (relu, linear, no bias), 1 = 784-256-128-10.
Network MakeNetwork(int64_t which) {
  NetworkSpec spec;
  if (which == 0) {
    spec.input_size = 3;
    spec.layers = {{4, Activation::kRelu}, {1, Activation::kLinear}};
    spec.bias = false;
  } else {
    spec.input_size = 784;
    spec.layers = {{256, Activation::kRelu},
                   {128, Activation::kRelu},
                   {10, Activation::kSoftmax}};
    spec.loss = mlp::engine::Loss::kCrossEntropy;
  }
  return *Network::Create(spec);
}

mlp::v1::PredictRequest MakeRequest(const Network& network, int64_t batch) {
  mlp::v1::PredictRequest request;
  request.set_model("bench");
  mlp::v1::Tensor* inputs = request.mutable_inputs();
  inputs->add_shape(batch);
  inputs->add_shape(network.input_size());
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (int64_t i = 0; i < batch * network.input_size(); ++i) {
    inputs->add_values(uniform(rng));
  }
  return request;
}

void SetLabel(benchmark::State& state) {
  state.SetLabel(state.range(0) == 0 ? "seed 3-4-1" : "784-256-128-10");
  state.SetItemsProcessed(state.iterations() * state.range(1));
}

void BM_Forward(benchmark::State& state) {
  const Network network = MakeNetwork(state.range(0));
  const mlp::v1::PredictRequest request = MakeRequest(network, state.range(1));
  const mlp::service::MatrixView inputs(request.inputs().values().data(),
                                        network.input_size(), state.range(1));
  for (auto _ : state) {
    absl::StatusOr<mlp::engine::Matrix> out = network.Predict(inputs);
    benchmark::DoNotOptimize(out->data());
  }
  SetLabel(state);
}

void BM_PredictPath(benchmark::State& state) {
  const Network network = MakeNetwork(state.range(0));
  const mlp::v1::PredictRequest request = MakeRequest(network, state.range(1));
  for (auto _ : state) {
    mlp::v1::PredictResponse response;
    absl::StatusOr<mlp::service::MatrixView> inputs = mlp::service::InputsView(
        request.inputs(), "inputs", network.input_size());
    absl::Status fits = mlp::service::CheckResponseFits(
        "outputs", inputs->cols() * int64_t{network.output_size()},
        int64_t{64} << 20);
    absl::Status done =
        mlp::service::PredictInto(network, *inputs, response.mutable_outputs());
    benchmark::DoNotOptimize(fits.ok() && done.ok());
    response.set_version(1);
    benchmark::DoNotOptimize(response.outputs().values().data());
  }
  SetLabel(state);
}

void Args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"model", "batch"});
  for (int model : {0, 1}) {
    for (int batch : {1, 256}) b->Args({model, batch});
  }
}

BENCHMARK(BM_Forward)->Apply(Args);
// The 784-256-128-10 pass at the depths that coalescing concurrent batch-1
// calls would compute together.
BENCHMARK(BM_Forward)
    ->ArgNames({"model", "batch"})
    ->ArgsProduct({{1}, {2, 4, 8, 16, 32, 64}});
BENCHMARK(BM_PredictPath)->Apply(Args);

void BM_RequestLogLine(benchmark::State& state) {
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  const int null_fd = open("/dev/null", O_WRONLY);
  if (saved < 0 || null_fd < 0 || dup2(null_fd, STDERR_FILENO) < 0) {
    if (saved >= 0) close(saved);
    if (null_fd >= 0) close(null_fd);
    state.SkipWithError("cannot redirect stderr to /dev/null");
    return;
  }
  for (auto _ : state) {
    mlp::service::RequestLog("Predict", "784-256-128-10", nullptr)
        .Done(absl::OkStatus());
  }
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(null_fd);
}
BENCHMARK(BM_RequestLogLine);

}  // namespace

int main(int argc, char** argv) {
  mlp::engine::SetComputeThreads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
