#include "server/engine/gemm.h"

#include <atomic>
#include <cstdint>

#include "server/engine/network.h"

#ifdef MLP_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace mlp::engine {
namespace internal {
namespace {

// 32 x 32 x 32: OpenBLAS 0.3.21 (with its small-matrix kernels) beats
// Eigen's kernel on square products from 16^3 up on an AVX2/AVX-512 machine;
// below 32^3 the difference is a few hundred nanoseconds per call at most, and
// Eigen avoids a library call. Measured with BM_GemmCrossover in
// bench/engine/engine_bench.cc (docs/performance.md).
std::atomic<int64_t> g_blas_threshold{int64_t{32} * 32 * 32};

}  // namespace

int64_t BlasThreshold() {
  return g_blas_threshold.load(std::memory_order_relaxed);
}

void SetBlasThreshold(int64_t threshold) {
  g_blas_threshold.store(threshold, std::memory_order_relaxed);
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
  if (threads < 1) threads = 1;
#ifdef MLP_HAVE_OPENBLAS
  openblas_set_num_threads(threads);
#endif
  Eigen::setNbThreads(threads);
}

int ComputeThreads() {
#ifdef MLP_HAVE_OPENBLAS
  return openblas_get_num_threads();
#else
  return Eigen::nbThreads();
#endif
}

}  // namespace mlp::engine
