// Child process of tests/engine/determinism_test.cc: trains fixed workloads
// with every compute-thread count the test names, in THIS process's
// environment (which the test varies: OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS,
// OMP_NUM_THREADS), and prints one line per result for the test to compare:
//   core <OpenBLAS kernel set, or "none">
//   result <workload> <how> <fingerprint of the serialized weights or outputs>
// <how> is "threads=N", "replay" (threads=2 again) or "concurrent-a/b" (two
// trainings at once sharing a pool of 4 threads). The probe decides nothing:
// the test asserts that every fingerprint of a workload is the same.
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/engine/epoch_loop.h"
#include "server/engine/gemm.h"
#include "server/engine/network.h"
#include "server/engine/serialize.h"

namespace mlp::engine {
namespace {

uint64_t Fingerprint(const std::string& bytes) {  // FNV-1a, 64 bits
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

struct Workload {
  const char* name;
  NetworkSpec spec;
  TrainOptions options;
  bool class_indices;
};

Matrix Inputs(int rows, int cols, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  return Matrix::NullaryExpr(rows, cols, [&] { return u(gen); });
}

Matrix Targets(const Workload& w, int cols) {
  const int classes = w.spec.layers.back().units;
  if (w.class_indices) {
    Matrix t(1, cols);
    for (int j = 0; j < cols; ++j) t(0, j) = static_cast<float>(j % classes);
    return t;
  }
  return Inputs(classes, cols, 7);
}

std::vector<Workload> Workloads() {
  std::vector<Workload> w;
  {  // Adam on a classifier: products split by rows and by columns.
    Workload a{"adam-softmax", {}, {}, true};
    a.spec.input_size = 300;
    a.spec.layers = {{200, Activation::kRelu}, {10, Activation::kSoftmax}};
    a.spec.loss = Loss::kCrossEntropy;
    a.options.optimizer = Optimizer::kAdam;
    a.options.learning_rate = 0.001f;
    a.options.batch_size = 128;
    a.options.max_epochs = 3;
    a.options.shuffle = true;
    w.push_back(a);
  }
  {  // Plain SGD (the fused update, beta != 0) and a wide, deep net.
    Workload s{"sgd-tanh", {}, {}, false};
    s.spec.input_size = 256;
    s.spec.layers = {{512, Activation::kTanh},
                     {256, Activation::kSigmoid},
                     {8, Activation::kLinear}};
    s.spec.loss = Loss::kMse;
    s.options.optimizer = Optimizer::kSgd;
    s.options.learning_rate = 0.05f;
    s.options.batch_size = 96;
    s.options.max_epochs = 2;
    s.options.l2 = 0.001f;
    w.push_back(s);
  }
  {  // Momentum, a batch that leaves a partial last batch.
    Workload m{"momentum-relu", {}, {}, true};
    m.spec.input_size = 784;
    m.spec.layers = {{256, Activation::kRelu},
                     {128, Activation::kRelu},
                     {10, Activation::kSoftmax}};
    m.spec.loss = Loss::kCrossEntropy;
    m.options.optimizer = Optimizer::kMomentum;
    m.options.learning_rate = 0.01f;
    m.options.batch_size = 200;
    m.options.max_epochs = 1;
    w.push_back(m);
  }
  return w;
}

constexpr int kSamples = 512;

std::string TrainOnce(const Workload& w, const Matrix& x, const Matrix& t) {
  absl::StatusOr<Network> n = Network::Create(w.spec);
  if (!n.ok()) return "create failed: " + n.status().ToString();
  absl::StatusOr<TrainResult> r = RunEpochs(*n, x, t, w.options);
  if (!r.ok()) return "train failed: " + r.status().ToString();
  std::string bytes = SerializeNetwork(*n);
  // The trained network's outputs on a large batch too (Predict's products).
  absl::StatusOr<Matrix> y = n->Predict(x);
  if (!y.ok()) return "predict failed: " + y.status().ToString();
  bytes.append(reinterpret_cast<const char*>(y->data()),
               sizeof(float) * static_cast<size_t>(y->size()));
  return bytes;
}

void Print(const char* workload, const std::string& how,
           const std::string& bytes) {
  std::printf("result %s %s %016llx\n", workload, how.c_str(),
              static_cast<unsigned long long>(Fingerprint(bytes)));
}

int Main() {
  const std::string core = internal::BlasCoreName();
  std::printf("core %s\n", core.empty() ? "none" : core.c_str());
  for (const Workload& w : Workloads()) {
    const Matrix x = Inputs(w.spec.input_size, kSamples, 1);
    const Matrix t = Targets(w, kSamples);
    for (int threads : {1, 2, 3, 4, 8}) {
      SetComputeThreads(threads);
      Print(w.name, "threads=" + std::to_string(threads), TrainOnce(w, x, t));
    }
    SetComputeThreads(2);
    Print(w.name, "replay", TrainOnce(w, x, t));
    // Two trainings at once on one pool: blocks of both interleave on the
    // workers in an order that differs from run to run.
    SetComputeThreads(4);
    std::string a, b;
    std::thread other([&] { b = TrainOnce(w, x, t); });
    a = TrainOnce(w, x, t);
    other.join();
    Print(w.name, "concurrent-a", a);
    Print(w.name, "concurrent-b", b);
  }
  return 0;
}

}  // namespace
}  // namespace mlp::engine

int main() { return mlp::engine::Main(); }
