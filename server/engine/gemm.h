// Private to the engine: one matrix-product entry point for every GEMM the
// engine does, so that large float products can go to OpenBLAS while small
// ones (batch 1, the seed network) stay in Eigen's kernels, which have far less
// call overhead. The crossover is measured by bench/engine/engine_bench.cc
// (BM_Gemm*) and documented in docs/performance.md.
//
// Threads: OpenBLAS always runs single-threaded (its own pool would split a
// product by thread count, and rounding with it, under some kernels); the
// engine splits large products itself (GemmBlocked below).
//
// Thread-safety: safe to call from any number of threads.
#ifndef MLP_SERVER_ENGINE_GEMM_H_
#define MLP_SERVER_ENGINE_GEMM_H_

#include <Eigen/Core>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"

namespace mlp::engine::internal {

enum class Trans { kNo, kYes };

// C = alpha * op(A) * op(B) + beta * C, all column-major.
//   op(A): [m x k] (A is [m x k] with leading dimension lda, or [k x m] if
//          transposed), op(B): [k x n], C: [m x n] with leading dimension ldc.
// beta == 0 overwrites C (NaNs in C do not propagate). C must not overlap A or
// B. Never allocates on the heap for the products the engine issues once the
// buffers exist (Eigen's blocking space stays under its stack limit for
// products small enough to be kept in Eigen, and OpenBLAS uses its own
// preallocated buffer pool).
// Plain loops for tiny products (the seed network's 4 x 3 layers): at these
// sizes the call overhead of Eigen's dynamic-size product dispatch, not
// arithmetic, is the cost. Instantiated per transpose pair so that the loops
// carry no branches.
template <typename S, bool kTransA, bool kTransB>
void TinyGemmImpl(int m, int n, int k, S alpha, const S* a, int lda, const S* b,
                  int ldb, S beta, S* c, int ldc) {
  if (k == 1) {  // outer product: the weight update of a batch of 1
    for (int j = 0; j < n; ++j) {
      S* cj = c + j * ldc;
      const S bj = alpha * (kTransB ? b[j] : b[j * ldb]);
      if (beta == S(0)) {
        for (int i = 0; i < m; ++i) cj[i] = (kTransA ? a[i * lda] : a[i]) * bj;
      } else {
        for (int i = 0; i < m; ++i) {
          cj[i] = (kTransA ? a[i * lda] : a[i]) * bj + beta * cj[i];
        }
      }
    }
    return;
  }
  for (int j = 0; j < n; ++j) {
    S* cj = c + j * ldc;
    for (int i = 0; i < m; ++i) {
      S sum = S(0);
      for (int p = 0; p < k; ++p) {
        const S av = kTransA ? a[p + i * lda] : a[i + p * lda];
        const S bv = kTransB ? b[j + p * ldb] : b[p + j * ldb];
        sum += av * bv;
      }
      cj[i] = beta == S(0) ? alpha * sum : alpha * sum + beta * cj[i];
    }
  }
}

template <typename S>
void TinyGemm(Trans ta, Trans tb, int m, int n, int k, S alpha, const S* a,
              int lda, const S* b, int ldb, S beta, S* c, int ldc) {
  if (ta == Trans::kNo) {
    if (tb == Trans::kNo) {
      TinyGemmImpl<S, false, false>(m, n, k, alpha, a, lda, b, ldb, beta, c,
                                    ldc);
    } else {
      TinyGemmImpl<S, false, true>(m, n, k, alpha, a, lda, b, ldb, beta, c,
                                   ldc);
    }
  } else if (tb == Trans::kNo) {
    TinyGemmImpl<S, true, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    TinyGemmImpl<S, true, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// Products with m * n * k at or under this use TinyGemm.
inline constexpr int64_t kTinyGemmFlops = 256;

template <typename S>
void EigenGemm(Trans ta, Trans tb, int m, int n, int k, S alpha, const S* a,
               int lda, const S* b, int ldb, S beta, S* c, int ldc) {
  if (int64_t{m} * n * k <= kTinyGemmFlops) {
    TinyGemm<S>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using ConstMap = Eigen::Map<const M, 0, Eigen::OuterStride<>>;
  using MutMap = Eigen::Map<M, 0, Eigen::OuterStride<>>;
  MutMap cm(c, m, n, Eigen::OuterStride<>(ldc));
  if (beta == S(0)) {
    cm.setZero();
  } else if (beta != S(1)) {
    cm *= beta;
  }
  if (k == 0 || alpha == S(0)) return;
  if (k == 1) {
    // Outer product (the weight update of a batch of 1): one vectorised axpy
    // per column, where Eigen's GEMM would pack both operands first.
    using Vec = Eigen::Matrix<S, Eigen::Dynamic, 1>;
    using StridedVec = Eigen::Map<const Vec, 0, Eigen::InnerStride<>>;
    const StridedVec av(a, m, Eigen::InnerStride<>(ta == Trans::kNo ? 1 : lda));
    for (int j = 0; j < n; ++j) {
      const S bj = alpha * (tb == Trans::kNo ? b[j * ldb] : b[j]);
      cm.col(j) += bj * av;
    }
    return;
  }
  const ConstMap am(a, ta == Trans::kNo ? m : k, ta == Trans::kNo ? k : m,
                    Eigen::OuterStride<>(lda));
  const ConstMap bm(b, tb == Trans::kNo ? k : n, tb == Trans::kNo ? n : k,
                    Eigen::OuterStride<>(ldb));
  if (ta == Trans::kNo && tb == Trans::kNo) {
    cm.noalias() += alpha * am * bm;
  } else if (ta == Trans::kYes && tb == Trans::kNo) {
    cm.noalias() += alpha * am.transpose() * bm;
  } else if (ta == Trans::kNo && tb == Trans::kYes) {
    cm.noalias() += alpha * am * bm.transpose();
  } else {
    cm.noalias() += alpha * am.transpose() * bm.transpose();
  }
}

// Products past the tiny size: the generic version (double: gradient checks)
// is Eigen's; the float specialisation (gemm.cc) dispatches by size between
// Eigen and OpenBLAS.
template <typename S>
void GemmNotTiny(Trans ta, Trans tb, int m, int n, int k, S alpha, const S* a,
                 int lda, const S* b, int ldb, S beta, S* c, int ldc) {
  EigenGemm<S>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <>
void GemmNotTiny<float>(Trans ta, Trans tb, int m, int n, int k, float alpha,
                        const float* a, int lda, const float* b, int ldb,
                        float beta, float* c, int ldc);

// How a product is cut into blocks of output rows or columns, each computed
// by one single-threaded call on one of the compute pool's threads
// (compute_pool.h). A function of the shape ALONE, never of the thread count:
// that is what makes the result independent of the number of threads. See
// PartitionGemm in gemm.cc for the rule and docs/performance.md for the
// measurements behind its constants.
struct GemmPartition {
  bool by_columns = true;  // blocks of columns of C (else of rows)
  int block = 0;           // rows or columns per block (the last may be less)
  int count = 1;           // number of blocks
};
GemmPartition PartitionGemm(int m, int n, int k);

// Elementwise work on a block of C (rows [row, row + rows), columns
// [col, col + cols)), run right after the block's product on the thread that
// computed it, while the block is in that core's cache: bias, activation,
// activation derivative. Must touch only that block of C (and read-only data).
using BlockEpilogue =
    absl::FunctionRef<void(int row, int rows, int col, int cols)>;

// Products past the tiny size, cut by PartitionGemm and run on the process's
// compute pool, each block followed by *epilogue when it is not null (defined
// for float and double in gemm.cc).
template <typename S>
void GemmBlocked(Trans ta, Trans tb, int m, int n, int k, S alpha, const S* a,
                 int lda, const S* b, int ldb, S beta, S* c, int ldc,
                 const BlockEpilogue* epilogue);

// The engine's product (inline, so that tiny products cost no calls).
template <typename S>
inline void Gemm(Trans ta, Trans tb, int m, int n, int k, S alpha, const S* a,
                 int lda, const S* b, int ldb, S beta, S* c, int ldc) {
  if (int64_t{m} * n * k <= kTinyGemmFlops) {
    TinyGemm<S>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  GemmBlocked<S>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

// The product followed by epilogue(row, rows, col, cols) over all of C, block
// by block (a BlockEpilogue; a template so that the tiny products of batch-1
// steps call it inline).
template <typename S, typename Epilogue>
inline void Gemm(Trans ta, Trans tb, int m, int n, int k, S alpha, const S* a,
                 int lda, const S* b, int ldb, S beta, S* c, int ldc,
                 Epilogue&& epilogue) {
  if (int64_t{m} * n * k <= kTinyGemmFlops) {
    TinyGemm<S>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    epilogue(0, m, 0, n);
    return;
  }
  const BlockEpilogue ref(epilogue);
  GemmBlocked<S>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &ref);
}

// Products with m * n * k at or above this go to OpenBLAS (when the engine was
// built with it), and so do those too large for Eigen's stack blocking space;
// 0 sends every matrix-matrix product (n > 1), like EIGEN_USE_BLAS would; a
// negative value sends none (Eigen only, which may then allocate). Matrix-
// vector products (n == 1) always stay in Eigen. Process-wide; exposed so that
// the benchmark can measure each choice.
int64_t BlasThreshold();
void SetBlasThreshold(int64_t threshold);

// True when the engine was built with OpenBLAS.
bool HaveBlas();
// The OpenBLAS kernel set in use ("Haswell", "SkylakeX", ...; chosen by the
// CPU or OPENBLAS_CORETYPE), or "" without OpenBLAS.
std::string BlasCoreName();

}  // namespace mlp::engine::internal

#endif  // MLP_SERVER_ENGINE_GEMM_H_
