/* float32 matrix products through OpenBLAS or lrpe's own kernel (AVX-512 or AVX2): the library
 * choice of the CPU path (core/gemm.h). */
#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>

#include "gemm_kernel.h"

static CBLAS_TRANSPOSE cblas_op(gemm_op t) { return t == GEMM_T ? CblasTrans : CblasNoTrans; }

/* 1 when OpenBLAS's core is one of its AVX-512 kernel sets. */
static int openblas_core_avx512(void) {
    static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    const char *core = openblas_get_corename();
    for (size_t i = 0; i < sizeof avx512_cores / sizeof *avx512_cores; i++)
        if (core && strcasecmp(core, avx512_cores[i]) == 0) return 1;
    return 0;
}

/* gemm_f32_own's answer, found from the CPU and OpenBLAS's core. */
static int decide_own(void) {
    return gemm_small_own() && (__builtin_cpu_is("amd") || !openblas_core_avx512());
}

int gemm_f32_own(void) {
    /* decided once (neither the CPU nor OpenBLAS's core changes in a process): it is asked on every
     * product, attention's included; threads that race here store the same value */
    static _Atomic int own = -1;
    int v = atomic_load_explicit(&own, memory_order_relaxed);
    if (v < 0) atomic_store_explicit(&own, v = decide_own(), memory_order_relaxed);
    return v;
}

void gemm_f32(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    if (gemm_f32_own())
        gemm_own(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        cblas_sgemm(CblasRowMajor, cblas_op(ta), cblas_op(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *gemm_library(void) {
    static char text[320], fp32[160];
    const gemm_kernel *k = gemm_kernel_active();
    if (gemm_f32_own() && openblas_core_avx512())
        snprintf(fp32, sizeof fp32, "lrpe's %s kernel (an AMD CPU: faster than OpenBLAS's AVX-512 kernels there)", k->name);
    else if (gemm_f32_own())
        snprintf(fp32, sizeof fp32, "lrpe's %s kernel (OpenBLAS's core has no AVX-512 kernels)", k->name);
    else if (k)
        snprintf(fp32, sizeof fp32, "OpenBLAS sgemm, attention's tile products lrpe's %s kernel", k->name);
    else
        snprintf(fp32, sizeof fp32, "OpenBLAS sgemm");
    snprintf(text, sizeof text, "fp32: %s; bf16: %s", fp32,
             gemm_bf16_supported() ? "lrpe's AVX512-BF16 kernel (linear layers)"
                                   : "none (this CPU has no AVX512-BF16)");
    return text;
}
