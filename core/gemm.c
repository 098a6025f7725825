/* float32 matrix products through OpenBLAS: the library choice of the CPU path (core/gemm.h). */
#include <cblas.h>

#include "gemm.h"

static CBLAS_TRANSPOSE cblas_op(gemm_op t) { return t == GEMM_T ? CblasTrans : CblasNoTrans; }

void gemm_f32(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, cblas_op(ta), cblas_op(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *gemm_library(void) {
    static const char *const text[2][2] = {
        {"fp32: OpenBLAS sgemm; bf16: none (this CPU has no AVX512-BF16)",
         "fp32: OpenBLAS sgemm; bf16: lrpe's AVX512-BF16 kernel (linear layers)"},
        {"fp32: OpenBLAS sgemm, attention's A B and A B^T tiles lrpe's AVX-512 kernel; bf16: none (this CPU has no "
         "AVX512-BF16)",
         "fp32: OpenBLAS sgemm, attention's A B and A B^T tiles lrpe's AVX-512 kernel; bf16: lrpe's AVX512-BF16 "
         "kernel (linear layers)"}};
    return text[gemm_small_own()][gemm_bf16_supported()];
}
