// No heap allocation in the training loop after the first batch.
//
// Built against mlp_engine_nomalloc (EIGEN_RUNTIME_NO_MALLOC, assertions on):
// any Eigen allocation while set_is_malloc_allowed(false) is in force aborts.
// Global operator new is replaced by a counting one, so that allocations
// outside Eigen (std::vector, std::function, ...) are caught as well.
// OpenBLAS, which serves the large float products, works from its own buffer
// pool, allocated when it first runs.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>

#include "gtest/gtest.h"
#include "server/engine/batch_stepper.h"
#include "server/engine/epoch_loop.h"
#include "server/engine/gemm.h"
#include "server/engine/network.h"

#ifndef EIGEN_RUNTIME_NO_MALLOC
#error "no_malloc_test must be built with EIGEN_RUNTIME_NO_MALLOC"
#endif

namespace {
std::atomic<long> g_news{0};
}  // namespace

void* operator new(std::size_t size) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace mlp::engine {
namespace {

// Counts operator new calls and forbids Eigen allocations in its scope.
class NoMallocScope {
 public:
  NoMallocScope() : before_(g_news.load()) {
    Eigen::internal::set_is_malloc_allowed(false);
  }
  ~NoMallocScope() { Eigen::internal::set_is_malloc_allowed(true); }
  long news() const { return g_news.load() - before_; }

 private:
  long before_;
};

struct Case {
  const char* name;
  NetworkSpec spec;
  Optimizer optimizer;
  int batch;
  bool class_indices;
};

NetworkSpec Spec(int inputs, std::vector<LayerSpec> layers, Loss loss) {
  NetworkSpec spec;
  spec.input_size = inputs;
  spec.layers = std::move(layers);
  spec.loss = loss;
  return spec;
}

TEST(NoMallocTest, BatchStepperStepsDoNotAllocate) {
  const std::vector<Case> cases = {
      {"seed network, batch 1, sgd",
       Spec(3, {{4, Activation::kRelu}, {1, Activation::kLinear}}, Loss::kMse),
       Optimizer::kSgd, 1, false},
      {"mlp, batch 32, adam, class indices",
       Spec(784,
            {{256, Activation::kRelu},
             {128, Activation::kRelu},
             {10, Activation::kSoftmax}},
            Loss::kCrossEntropy),
       Optimizer::kAdam, 32, true},
      {"mlp, batch 7 of 16, momentum, bce",
       Spec(20, {{33, Activation::kTanh}, {2, Activation::kSigmoid}},
            Loss::kBinaryCrossEntropy),
       Optimizer::kMomentum, 16, false},
      {"mlp, batch 128, sgd, softmax mse",
       Spec(64, {{100, Activation::kSigmoid}, {5, Activation::kSoftmax}},
            Loss::kMse),
       Optimizer::kSgd, 128, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Network network = Network::Create(c.spec).value();
    if (!internal::HaveBlas() && network.parameter_count() > 4096) {
      // Without OpenBLAS every product is Eigen's, whose blocking space for
      // large products lives on the heap (server/engine/gemm.h).
      std::printf("skipped without OpenBLAS: %s\n", c.name);
      continue;
    }
    TrainOptions options;
    options.optimizer = c.optimizer;
    options.l2 = 1e-4f;
    BatchStepper stepper =
        BatchStepper::Create(network, options, c.batch, c.class_indices)
            .value();
    std::mt19937_64 gen(1);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const Matrix x =
        Matrix::NullaryExpr(c.spec.input_size, c.batch, [&] { return u(gen); });
    Matrix t = Matrix::NullaryExpr(c.class_indices ? 1 : network.output_size(),
                                   c.batch,
                                   [&] { return u(gen) < 0.5f ? 0.0f : 1.0f; });
    if (c.class_indices) {
      for (int j = 0; j < c.batch; ++j)
        t(0, j) = static_cast<float>(j % network.output_size());
    }
    stepper.Step(network, x, t);  // the first batch may allocate (BLAS pool)
    const int small = std::max(1, c.batch / 2 - 1);
    // The compute pool's workers must not allocate either (blocks are handed
    // over on the caller's stack).
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(threads);
      SetComputeThreads(threads);  // starts threads: allocates
      NoMallocScope scope;
      for (int i = 0; i < 5; ++i) {
        stepper.Step(network, x, t);
        stepper.Step(network, x.leftCols(small),
                     t.leftCols(small));  // last, short batch
        stepper.Evaluate(network, x, t);
      }
      EXPECT_EQ(scope.news(), 0);
    }
    SetComputeThreads(1);
  }
}

// The whole epoch loop: allocations are forbidden from the first poll of
// should_stop (after the setup) to the end of training, across epochs,
// shuffles, validation passes and callbacks.
TEST(NoMallocTest, EpochLoopDoesNotAllocateAfterSetup) {
  const NetworkSpec spec =
      Spec(30, {{40, Activation::kRelu}, {3, Activation::kSoftmax}},
           Loss::kCrossEntropy);
  Network network = Network::Create(spec).value();
  std::mt19937_64 gen(2);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const Matrix x = Matrix::NullaryExpr(30, 500, [&] { return u(gen); });
  Matrix t(1, 500);
  for (int j = 0; j < 500; ++j) t(0, j) = static_cast<float>(j % 3);
  TrainOptions options;
  options.optimizer = Optimizer::kAdam;
  options.batch_size = 64;
  options.max_epochs = 4;
  options.shuffle = true;
  options.validation_fraction = 0.2f;
  options.early_stopping_patience = 10;
  long before = -1;
  int polls = 0;
  int epochs = 0;
  const EpochCallback on_epoch = [&](const EpochStats&) {
    ++epochs;
    return true;
  };
  const StopPredicate should_stop = [&] {
    if (++polls == 2) {  // after the first batch
      before = g_news.load();
      Eigen::internal::set_is_malloc_allowed(false);
    }
    return false;
  };
  TrainResult result;
  {
    absl::StatusOr<TrainResult> r =
        RunEpochs(network, x, t, options, on_epoch, should_stop);
    Eigen::internal::set_is_malloc_allowed(true);
    const long news = g_news.load() - before;
    ASSERT_TRUE(r.ok()) << r.status();
    result = *r;
    EXPECT_EQ(news, 0);
  }
  EXPECT_EQ(result.epochs, 4);
  EXPECT_EQ(epochs, 4);
  EXPECT_GT(polls, 4 * 6);
}

}  // namespace
}  // namespace mlp::engine
