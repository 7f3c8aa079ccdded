// Engine benchmarks (Google Benchmark). Run from a Release build:
//   build/bench/engine/engine_bench
// or one family: --benchmark_filter=BM_BatchStep
//
// Families (args in the names):
//   BM_Sgemm/<m>/<n>/<k>/<threads>/<eigen?>  GFLOP/s of one product, OpenBLAS
//                        (eigen=0) or Eigen's own kernel (eigen=1): the
//                        machine's sgemm peak beside the training figures
//   BM_GemmCrossover/<size>/<eigen?>  square products around the BLAS cutoff
//                        (one thread)
//   BM_BatchStep/<batch>/<threads>/<mode>  one optimiser step (SGD, lr 0.01)
//                        of 784-256-128-10 ReLU/softmax/cross-entropy through
//                        BatchStepper::Step; mode 0 = the engine's dispatch
//                        (OpenBLAS for large products), 1 = Eigen only,
//                        2 = every matrix product to OpenBLAS (as
//                        EIGEN_USE_BLAS would). Counters: samples/s and
//                        GFLOP/s of useful work (6 x parameters x samples).
//   BM_EpochLoop/<batch>/<threads>  the whole RunEpochs() loop (gathering,
//                        shuffling, stats) over 16384 samples per epoch
//   BM_Predict/<batch>/<threads>  Network::Predict, samples/s
//   BM_SeedStep          the seed network (3-4-1 ReLU, batch 1) per-sample
//                        step through BatchStepper::Step; BM_SeedEpochLoop
//                        the same through RunEpochs() (per-sample time)
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/engine/batch_stepper.h"
#include "server/engine/epoch_loop.h"
#include "server/engine/gemm.h"
#include "server/engine/network.h"

namespace mlp::engine {
namespace {

constexpr int kDataColumns = 8192;

NetworkSpec MlpSpec() {
  NetworkSpec spec;
  spec.input_size = 784;
  spec.layers = {{256, Activation::kRelu},
                 {128, Activation::kRelu},
                 {10, Activation::kSoftmax}};
  spec.loss = Loss::kCrossEntropy;
  spec.seed = 1;
  return spec;
}

// Random images in [0, 1) and class indices, [784 x cols] and [1 x cols].
void MlpData(int cols, Matrix* x, Matrix* t) {
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  *x = Matrix::NullaryExpr(784, cols, [&] { return u(gen); });
  t->resize(1, cols);
  for (int j = 0; j < cols; ++j) (*t)(0, j) = static_cast<float>(gen() % 10);
}

// Restores the engine's defaults after a benchmark that changed them.
class Settings {
 public:
  Settings(int threads, int64_t blas_threshold)
      : saved_threshold_(internal::BlasThreshold()),
        saved_threads_(ComputeThreads()) {
    SetComputeThreads(threads);
    internal::SetBlasThreshold(blas_threshold);
  }
  ~Settings() {
    internal::SetBlasThreshold(saved_threshold_);
    SetComputeThreads(saved_threads_);
  }

 private:
  int64_t saved_threshold_;
  int saved_threads_;
};

int64_t ThresholdForMode(int mode) {
  switch (mode) {
    case 1:
      return -1;  // Eigen only
    case 2:
      return 0;  // every matrix product to BLAS
    default:
      return internal::BlasThreshold();
  }
}

void BM_Sgemm(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const int n = static_cast<int>(state.range(1));
  const int k = static_cast<int>(state.range(2));
  const bool eigen = state.range(4) != 0;
  if (!eigen && !internal::HaveBlas()) {
    state.SkipWithError("built without OpenBLAS");
    return;
  }
  Settings settings(static_cast<int>(state.range(3)), 0);
  const Matrix a = Matrix::Random(m, k);
  const Matrix b = Matrix::Random(k, n);
  Matrix c(m, n);
  for (auto _ : state) {
    if (eigen) {
      internal::EigenGemm<float>(internal::Trans::kNo, internal::Trans::kNo, m,
                                 n, k, 1.0f, a.data(), m, b.data(), k, 0.0f,
                                 c.data(), m);
    } else {
      internal::Gemm<float>(internal::Trans::kNo, internal::Trans::kNo, m, n, k,
                            1.0f, a.data(), m, b.data(), k, 0.0f, c.data(), m);
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
}
// Peak on a large square product, then the shapes of a batch-128 step.
BENCHMARK(BM_Sgemm)
    ->ArgNames({"m", "n", "k", "threads", "eigen"})
    ->Args({1024, 1024, 1024, 1, 0})
    ->Args({1024, 1024, 1024, 2, 0})
    ->Args({1024, 1024, 1024, 1, 1})
    ->Args({256, 128, 784, 1, 0})  // forward, layer 1
    ->Args({256, 128, 784, 2, 0})
    ->Args({256, 128, 784, 1, 1})
    ->Args({256, 784, 128, 1, 0})  // weight gradient, layer 1
    ->Args({256, 784, 128, 2, 0})
    ->Args({256, 784, 128, 1, 1})
    ->Args({128, 128, 256, 1, 0})  // forward, layer 2
    ->Args({128, 128, 256, 2, 0})
    ->UseRealTime();

void BM_GemmCrossover(benchmark::State& state) {
  const int s = static_cast<int>(state.range(0));
  const bool eigen = state.range(1) != 0;
  if (!eigen && !internal::HaveBlas()) {
    state.SkipWithError("built without OpenBLAS");
    return;
  }
  Settings settings(1, 0);  // one thread: the cutoff, not the pool
  const Matrix a = Matrix::Random(s, s);
  const Matrix b = Matrix::Random(s, s);
  Matrix c(s, s);
  for (auto _ : state) {
    if (eigen) {
      internal::EigenGemm<float>(internal::Trans::kNo, internal::Trans::kNo, s,
                                 s, s, 1.0f, a.data(), s, b.data(), s, 0.0f,
                                 c.data(), s);
    } else {
      internal::Gemm<float>(internal::Trans::kNo, internal::Trans::kNo, s, s, s,
                            1.0f, a.data(), s, b.data(), s, 0.0f, c.data(), s);
    }
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * s * s * s, benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
}
BENCHMARK(BM_GemmCrossover)
    ->ArgNames({"size", "eigen"})
    ->ArgsProduct({{16, 32, 48, 64, 96, 128, 192}, {0, 1}})
    ->UseRealTime();

void BM_BatchStep(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  Settings settings(static_cast<int>(state.range(1)),
                    ThresholdForMode(static_cast<int>(state.range(2))));
  Network network = Network::Create(MlpSpec()).value();
  Matrix x, t;
  MlpData(kDataColumns, &x, &t);
  TrainOptions options;
  options.learning_rate = 0.01f;
  BatchStepper stepper =
      BatchStepper::Create(network, options, batch, true).value();
  int begin = 0;
  for (auto _ : state) {
    if (begin + batch > kDataColumns) begin = 0;
    const BatchStepper::Figures f = stepper.Step(
        network, x.middleCols(begin, batch), t.middleCols(begin, batch));
    benchmark::DoNotOptimize(f.loss_sum);
    begin += batch;
  }
  const double params = static_cast<double>(network.parameter_count());
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(batch),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(
      6.0 * params * batch, benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
}
BENCHMARK(BM_BatchStep)
    ->ArgNames({"batch", "threads", "mode"})
    ->ArgsProduct({{1, 32, 128, 1024}, {1, 2}, {0}})
    ->Args({128, 1, 1})
    ->Args({128, 2, 2})
    ->Args({32, 1, 1})
    ->Args({32, 2, 2})
    ->Args({1, 1, 2})
    ->UseRealTime();

void BM_EpochLoop(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  Settings settings(static_cast<int>(state.range(1)),
                    internal::BlasThreshold());
  Matrix x, t;
  MlpData(16384, &x, &t);
  Network network = Network::Create(MlpSpec()).value();
  TrainOptions options;
  options.learning_rate = 0.01f;
  options.batch_size = batch;
  options.max_epochs = 1;
  options.shuffle = true;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        RunEpochs(network, x, t, options).value().final_loss);
  }
  state.counters["samples/s"] = benchmark::Counter(
      16384.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_EpochLoop)
    ->ArgNames({"batch", "threads"})
    ->ArgsProduct({{32, 128}, {2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Predict(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  Settings settings(static_cast<int>(state.range(1)),
                    internal::BlasThreshold());
  const Network network = Network::Create(MlpSpec()).value();
  Matrix x, t;
  MlpData(batch, &x, &t);
  for (auto _ : state) {
    absl::StatusOr<Matrix> y = network.Predict(x);
    benchmark::DoNotOptimize(y->data());
  }
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(batch),
                         benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Predict)
    ->ArgNames({"batch", "threads"})
    ->ArgsProduct({{1, 1024}, {1, 2}})
    ->UseRealTime();

NetworkSpec SeedSpec() {
  NetworkSpec spec;
  spec.input_size = 3;
  spec.layers = {{4, Activation::kRelu}, {1, Activation::kLinear}};
  spec.loss = Loss::kMse;
  spec.bias = false;
  spec.init = Init::kUniform01;
  spec.seed = 1;
  return spec;
}

Matrix SeedInputs() {
  Matrix x(3, 4);
  x << 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1;
  return x;
}

Matrix SeedTargets() {
  Matrix t(1, 4);
  t << 1, 0, 1, 0;
  return t;
}

void BM_SeedStep(benchmark::State& state) {
  Network network = Network::Create(SeedSpec()).value();
  TrainOptions options;
  options.learning_rate = 0.1f;
  options.batch_size = 1;
  BatchStepper stepper =
      BatchStepper::Create(network, options, 1, false).value();
  const Matrix x = SeedInputs();
  const Matrix t = SeedTargets();
  int j = 0;
  for (auto _ : state) {
    const BatchStepper::Figures f = stepper.Step(network, x.col(j), t.col(j));
    benchmark::DoNotOptimize(f.loss_sum);
    j = (j + 1) & 3;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SeedStep);

void BM_SeedEpochLoop(benchmark::State& state) {
  const Matrix x = SeedInputs();
  const Matrix t = SeedTargets();
  TrainOptions options;
  options.learning_rate = 0.1f;
  options.batch_size = 1;
  options.max_epochs = 1000;
  for (auto _ : state) {
    Network network = Network::Create(SeedSpec()).value();
    benchmark::DoNotOptimize(
        RunEpochs(network, x, t, options).value().final_loss);
  }
  // 4 samples x 1000 epochs per iteration; time per sample = 1 / this rate.
  state.counters["samples/s"] =
      benchmark::Counter(4000.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ns/sample"] =
      benchmark::Counter(4000.0,
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_SeedEpochLoop)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mlp::engine

BENCHMARK_MAIN();
