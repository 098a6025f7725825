/* float32 matrix products: the choice between lrpe's gemm_nt and OpenBLAS (core/gemm.h). */
#include <cblas.h>

#include "gemm.h"

static CBLAS_TRANSPOSE cblas_op(gemm_op t) { return t == GEMM_T ? CblasTrans : CblasNoTrans; }

void gemm_f32(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    if (ta == GEMM_N && tb == GEMM_T && gemm_nt_fits(K))
        gemm_nt(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        cblas_sgemm(CblasRowMajor, cblas_op(ta), cblas_op(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *gemm_library(void) {
    const int nt = __builtin_cpu_supports("avx512f"), bf = gemm_bf16_supported();
    return nt && bf ? "fp32: lrpe's AVX-512 kernel for A B^T with K <= 256, OpenBLAS sgemm otherwise; bf16: lrpe's "
                      "AVX512-BF16 kernel (linear layers)"
           : nt     ? "fp32: lrpe's AVX-512 kernel for A B^T with K <= 256, OpenBLAS sgemm otherwise; bf16: none "
                      "(this CPU has no AVX512-BF16)"
                    : "fp32: OpenBLAS sgemm; bf16: none (this CPU has no AVX512-BF16)";
}
