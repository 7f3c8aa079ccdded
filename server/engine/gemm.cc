#include "server/engine/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>

#include "server/engine/compute_pool.h"
#include "server/engine/network.h"

#ifdef MLP_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace mlp::engine {
namespace internal {
namespace {

// 32 x 32 x 32: OpenBLAS 0.3.21 (with its small-matrix kernels) beats
// Eigen's kernel on square products from 16^3 up on an AVX2/AVX-512 machine;
// below 32^3 what it gains is too little to be worth a library call, which
// Eigen avoids. Measured with BM_GemmCrossover in
// bench/engine/engine_bench.cc (figures in docs/performance.md).
std::atomic<int64_t> g_blas_threshold{int64_t{32} * 32 * 32};

}  // namespace

int64_t BlasThreshold() {
  return g_blas_threshold.load(std::memory_order_relaxed);
}

void SetBlasThreshold(int64_t threshold) {
  g_blas_threshold.store(threshold, std::memory_order_relaxed);
}

// The partition rule. Blocks of COLUMNS of C by default: in the forward and
// backward-data products the columns are the batch's samples, so a thread
// that computed a block of one layer's output tends to own the same samples
// in the next product, and in the weight products they are input features.
// Measured against splitting the larger of m and n (docs/performance.md,
// "Threads"): the 2-thread training step of 784-256-128-10 at batch 128 was
// faster this way, the 1-thread one the same. Rows only when there are too few
// columns to cut (small batches). A block is at least kMinBlockWork
// multiply-adds and kMinBlockDim columns (rows), so that its computation
// dwarfs repacking the other operand and the hand-off to a thread; at most
// kMaxBlocks. Rows are cut at multiples of 16 (the kernels' vector width).
constexpr int64_t kMinBlockWork = int64_t{1} << 21;
constexpr int kMinBlockDim = 64;
constexpr int kMaxBlocks = 8;

GemmPartition PartitionGemm(int m, int n, int k) {
  GemmPartition p;
  p.by_columns = n >= 2 * kMinBlockDim || n >= m;
  const int dim = p.by_columns ? n : m;
  const int64_t work = int64_t{m} * n * k;
  const int64_t count = std::min(
      {int64_t{kMaxBlocks}, work / kMinBlockWork, int64_t{dim / kMinBlockDim}});
  if (count < 2) {
    p.block = dim;
    p.count = 1;
    return p;
  }
  const int align = p.by_columns ? 1 : 16;
  const int per_block = static_cast<int>((dim + count - 1) / count);
  p.block = (per_block + align - 1) / align * align;
  p.count = (dim + p.block - 1) / p.block;
  return p;
}

template <typename S>
void GemmBlocked(Trans ta, Trans tb, int m, int n, int k, S alpha, const S* a,
                 int lda, const S* b, int ldb, S beta, S* c, int ldc,
                 const BlockEpilogue* epilogue) {
  const GemmPartition p = PartitionGemm(m, n, k);
  if (p.count == 1) {
    GemmNotTiny<S>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (epilogue != nullptr) (*epilogue)(0, m, 0, n);
    return;
  }
  ProcessComputePool().ParallelFor(p.count, [&](int i) {
    const int begin = i * p.block;
    const int size = std::min(p.block, (p.by_columns ? n : m) - begin);
    if (p.by_columns) {
      // Columns [begin, begin + size) of op(B) and of C.
      const S* bb = tb == Trans::kNo ? b + int64_t{begin} * ldb : b + begin;
      GemmNotTiny<S>(ta, tb, m, size, k, alpha, a, lda, bb, ldb, beta,
                     c + int64_t{begin} * ldc, ldc);
      if (epilogue != nullptr) (*epilogue)(0, m, begin, size);
    } else {
      // Rows [begin, begin + size) of op(A) and of C.
      const S* ab = ta == Trans::kNo ? a + begin : a + int64_t{begin} * lda;
      GemmNotTiny<S>(ta, tb, size, n, k, alpha, ab, lda, b, ldb, beta,
                     c + begin, ldc);
      if (epilogue != nullptr) (*epilogue)(begin, size, 0, n);
    }
  });
}

template void GemmBlocked<float>(Trans, Trans, int, int, int, float,
                                 const float*, int, const float*, int, float,
                                 float*, int, const BlockEpilogue*);
template void GemmBlocked<double>(Trans, Trans, int, int, int, double,
                                  const double*, int, const double*, int,
                                  double, double*, int, const BlockEpilogue*);

std::string BlasCoreName() {
#ifdef MLP_HAVE_OPENBLAS
  const char* name = openblas_get_corename();
  return name == nullptr ? std::string() : std::string(name);
#else
  return std::string();
#endif
}

bool HaveBlas() {
#ifdef MLP_HAVE_OPENBLAS
  return true;
#else
  return false;
#endif
}

template <>
void GemmNotTiny<float>(Trans ta, Trans tb, int m, int n, int k, float alpha,
                        const float* a, int lda, const float* b, int ldb,
                        float beta, float* c, int ldc) {
#ifdef MLP_HAVE_OPENBLAS
  // One thread inside OpenBLAS, whatever OPENBLAS_NUM_THREADS says: the
  // engine's blocks are the only parallelism (see gemm.h). Set once, before
  // the first product.
  static const bool single_threaded = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)single_threaded;
  // n == 1 is a matrix-vector product: Eigen's GEMV is several times faster
  // than OpenBLAS's call overhead at these sizes.
  // Eigen's GEMM packs blocks of up to [m x k] and [k x n] into a blocking
  // space that lives on the stack only under EIGEN_STACK_ALLOCATION_LIMIT
  // (128 KiB) and on the heap otherwise: products whose packed blocks could
  // exceed kEigenStackFloats go to OpenBLAS whatever their size, which keeps
  // the training loop free of heap allocations.
  constexpr int64_t kEigenStackFloats = 16384;  // 64 KiB, half the limit
  const int64_t threshold = g_blas_threshold.load(std::memory_order_relaxed);
  if (n > 1 && m > 1 && threshold >= 0 &&
      (int64_t{m} * n * k >= threshold || int64_t{m} * k > kEigenStackFloats ||
       int64_t{k} * n > kEigenStackFloats)) {
    cblas_sgemm(CblasColMajor, ta == Trans::kNo ? CblasNoTrans : CblasTrans,
                tb == Trans::kNo ? CblasNoTrans : CblasTrans, m, n, k, alpha, a,
                lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  EigenGemm<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace internal

void SetComputeThreads(int threads) {
  internal::ProcessComputePool().SetThreads(threads);
}

int ComputeThreads() { return internal::ProcessComputePool().threads(); }

}  // namespace mlp::engine
