// The compute pool (server/engine/compute_pool.h) and the engine's blocked
// products (server/engine/gemm.h): every block runs exactly once, concurrent
// callers and resizes lose nothing, and a product's bits do not depend on the
// pool's size.
#include "server/engine/compute_pool.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/gemm.h"
#include "server/engine/network.h"

namespace mlp::engine::internal {
namespace {

TEST(ComputePoolTest, EveryBlockRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 4, 8}) {
    ComputePool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int blocks : {0, 1, 2, 3, 7, 64, 1000}) {
      SCOPED_TRACE(testing::Message()
                   << threads << " threads, " << blocks << " blocks");
      std::vector<std::atomic<int>> runs(static_cast<size_t>(blocks));
      pool.ParallelFor(blocks, [&](int i) { runs[i].fetch_add(1); });
      for (int i = 0; i < blocks; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
    }
  }
}

TEST(ComputePoolTest, ThreadsBelowOneAreOne) {
  ComputePool pool(0);
  EXPECT_EQ(pool.threads(), 1);
  pool.SetThreads(-3);
  EXPECT_EQ(pool.threads(), 1);
  int sum = 0;  // one thread: the caller runs every block, in order
  pool.ParallelFor(4, [&](int i) { sum = sum * 10 + i; });
  EXPECT_EQ(sum, 123);
}

TEST(ComputePoolTest, WorkersTakePartOfTheBlocks) {
  ComputePool pool(3);
  std::atomic<int> others{0};
  const std::thread::id caller = std::this_thread::get_id();
  // Blocks that last long enough for a sleeping worker to wake and join.
  for (int attempt = 0; attempt < 50 && others.load() == 0; ++attempt) {
    pool.ParallelFor(16, [&](int) {
      if (std::this_thread::get_id() != caller) others.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  }
  EXPECT_GT(others.load(), 0) << "no block ran on a worker";
}

TEST(ComputePoolTest, ConcurrentCallersEachGetAllTheirBlocks) {
  ComputePool pool(3);
  constexpr int kCallers = 4;
  constexpr int kRounds = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int r = 0; r < kRounds; ++r) {
        const int blocks = 1 + (c * 7 + r) % 23;
        std::vector<std::atomic<int>> runs(static_cast<size_t>(blocks));
        pool.ParallelFor(blocks, [&](int i) { runs[i].fetch_add(1); });
        for (int i = 0; i < blocks; ++i) {
          if (runs[i].load() != 1) wrong.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ComputePoolTest, ResizingWhileCallersRunLosesNothing) {
  ComputePool pool(2);
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::atomic<int64_t> rounds{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 2; ++c) {
    callers.emplace_back([&] {
      while (!done.load()) {
        std::vector<std::atomic<int>> runs(9);
        pool.ParallelFor(9, [&](int i) { runs[i].fetch_add(1); });
        for (auto& r : runs) {
          if (r.load() != 1) wrong.fetch_add(1);
        }
        rounds.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 40; ++i) pool.SetThreads(1 + i % 4);
  done.store(true);
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(rounds.load(), 0);
}

TEST(GemmPartitionTest, BlocksDependOnTheShapeAndCoverIt) {
  // Small products stay whole.
  EXPECT_EQ(PartitionGemm(4, 4, 4).count, 1);
  EXPECT_EQ(PartitionGemm(10, 128, 256).count, 1);
  for (int m : {1, 10, 63, 64, 128, 200, 256, 784, 1000, 4096}) {
    for (int n : {1, 32, 100, 128, 512, 1024}) {
      for (int k : {1, 64, 784, 2048}) {
        const GemmPartition p = PartitionGemm(m, n, k);
        SCOPED_TRACE(testing::Message() << m << "x" << n << "x" << k);
        const int dim = p.by_columns ? n : m;
        ASSERT_GE(p.count, 1);
        ASSERT_LE(p.count, 8);
        // The blocks cover [0, dim) exactly, none empty.
        ASSERT_GE(int64_t{p.block} * p.count, dim);
        ASSERT_LT(int64_t{p.block} * (p.count - 1), dim);
        if (p.count > 1 && !p.by_columns) {
          EXPECT_EQ(p.block % 16, 0) << "row blocks align to vector width";
        }
      }
    }
  }
  // The training products of 784-256-128-10 at batch 128 are split.
  EXPECT_GT(PartitionGemm(256, 128, 784).count, 1);  // forward, layer 1
  EXPECT_GT(PartitionGemm(256, 784, 128).count, 1);  // weight gradient
}

// op(X) of a column-major matrix stored with leading dimension ld.
float At(const std::vector<float>& x, Trans t, int ld, int i, int j) {
  return t == Trans::kNo ? x[static_cast<size_t>(j) * ld + i]
                         : x[static_cast<size_t>(i) * ld + j];
}

struct Shape {
  Trans ta, tb;
  int m, n, k;
};

TEST(GemmBlockedTest, SameBitsForAnyPoolSizeAndCorrect) {
  const std::vector<Shape> shapes = {
      {Trans::kNo, Trans::kNo, 256, 128, 784},    // split by rows
      {Trans::kNo, Trans::kYes, 256, 784, 128},   // split by columns
      {Trans::kYes, Trans::kNo, 784, 128, 256},   // transposed A
      {Trans::kYes, Trans::kYes, 300, 333, 257},  // ragged last block
      {Trans::kNo, Trans::kNo, 1000, 70, 100},    // partial, rows
  };
  ComputePool& pool = ProcessComputePool();
  const int saved = pool.threads();
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const Shape& s : shapes) {
    SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << "x" << s.k);
    // Leading dimensions larger than the rows, as for views of a matrix.
    const int rows_a = s.ta == Trans::kNo ? s.m : s.k;
    const int cols_a = s.ta == Trans::kNo ? s.k : s.m;
    const int rows_b = s.tb == Trans::kNo ? s.k : s.n;
    const int cols_b = s.tb == Trans::kNo ? s.n : s.k;
    const int lda = rows_a + 3, ldb = rows_b + 5, ldc = s.m + 1;
    std::vector<float> a(static_cast<size_t>(lda) * cols_a);
    std::vector<float> b(static_cast<size_t>(ldb) * cols_b);
    std::vector<float> c0(static_cast<size_t>(ldc) * s.n);
    for (float& v : a) v = u(gen);
    for (float& v : b) v = u(gen);
    for (float& v : c0) v = u(gen);
    std::vector<float> first;
    for (int threads : {1, 2, 3, 4, 8}) {
      pool.SetThreads(threads);
      std::vector<float> c = c0;
      GemmBlocked<float>(s.ta, s.tb, s.m, s.n, s.k, 0.5f, a.data(), lda,
                         b.data(), ldb, 2.0f, c.data(), ldc, nullptr);
      if (first.empty()) {
        first = c;
        // Against a double-precision reference, padding untouched.
        for (int j = 0; j < s.n; ++j) {
          for (int i = 0; i < ldc; ++i) {
            const size_t idx = static_cast<size_t>(j) * ldc + i;
            if (i >= s.m) {
              ASSERT_EQ(c[idx], c0[idx]) << "padding written";
              continue;
            }
            double sum = 0;
            for (int p = 0; p < s.k; ++p) {
              sum += double{At(a, s.ta, lda, i, p)} * At(b, s.tb, ldb, p, j);
            }
            const double want = 0.5 * sum + 2.0 * c0[idx];
            ASSERT_NEAR(c[idx], want, 1e-3) << "C(" << i << "," << j << ")";
          }
        }
      } else {
        EXPECT_EQ(std::memcmp(c.data(), first.data(), c.size() * sizeof(float)),
                  0)
            << threads << " threads differ from 1";
      }
    }
  }
  pool.SetThreads(saved);
}

TEST(GemmBlockedTest, EpilogueCoversEveryElementOnceAfterItsProduct) {
  ComputePool& pool = ProcessComputePool();
  const int saved = pool.threads();
  for (const Shape& s :
       std::vector<Shape>{{Trans::kNo, Trans::kNo, 256, 128, 784},  // columns
                          {Trans::kNo, Trans::kNo, 512, 32, 512},   // rows
                          {Trans::kNo, Trans::kNo, 8, 8, 8},
                          {Trans::kNo, Trans::kNo, 64, 64, 64}}) {  // not split
    for (int threads : {1, 3}) {
      SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << "x" << s.k << ", "
                                      << threads << " threads");
      pool.SetThreads(threads);
      const Matrix a = Matrix::Constant(s.m, s.k, 1.0f);
      const Matrix b = Matrix::Constant(s.k, s.n, 1.0f);
      Matrix c = Matrix::Zero(s.m, s.n);
      Matrix seen = Matrix::Zero(s.m, s.n);
      std::atomic<int> wrong{0};
      Gemm<float>(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), s.m, b.data(), s.k,
                  0.0f, c.data(), s.m,
                  [&](int row, int rows, int col, int cols) {
                    // The block's product is complete when its epilogue runs.
                    if ((c.block(row, col, rows, cols).array() !=
                         static_cast<float>(s.k))
                            .any()) {
                      wrong.fetch_add(1);
                    }
                    seen.block(row, col, rows, cols).array() += 1.0f;
                  });
      EXPECT_EQ(wrong.load(), 0);
      EXPECT_TRUE((seen.array() == 1.0f).all())
          << "an element seen " << seen.minCoeff() << " to " << seen.maxCoeff()
          << " times";
    }
  }
  pool.SetThreads(saved);
}

}  // namespace
}  // namespace mlp::engine::internal
