/* make bench-blas: the matrix products of a training step at the model's shapes, timed side by
 * side with three libraries and lrpe's two kernels, in rounds A B C D E A B C D E ..., median GFLOP/s
 * per code and shape, each result checked against OpenBLAS's:
 *   OpenBLAS  cblas_sgemm of the build lrpe links (its core as OPENBLAS_CORETYPE / OpenBLAS chose);
 *   BLIS      cblas_sgemm of Debian's libblis4-openmp, dlopen'd into its own namespace;
 *   libxsmm   JIT kernels of Debian's libxsmm-dev (static), on 64 x 64 x 64 tiles of the product
 *             that this program schedules over OpenMP threads (libxsmm's small-matrix kernels do
 *             not take a 4096-row product whole);
 *   lrpe bf16 gemm_bf16 of core/gemm_bf16.c (model.precision=bf16: bf16 products, float32 sums),
 *             where the CPU has AVX512-BF16; its difference is bf16's rounding, not an error;
 *   lrpe fp32 lrpe's float32 kernel (core/gemm_kernel.h: AVX-512, else AVX2 with FMA), as lrpe
 *             calls it: gemm_own for the linear layers' products (where gemm_f32 runs it,
 *             core/gemm.h), gemm_small for the one-thread chunk products.
 * Shapes are row-major C[M x N] = op(A) op(B) with op per letter (N as stored, T transposed), as
 * core/linear.c (forward NT, input gradient NN, weight gradient TN) and core/attn_linear.c (chunk
 * products, one thread each inside lrpe's per-head loop) call them.
 * Usage: blas_libs [rounds]   (default 5) */
#include <cblas.h>
#include <dlfcn.h>
#include <libxsmm.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm_kernel.h"

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint, blasint, float,
                         const float *, blasint, const float *, blasint, float, float *, blasint);

/* One product of a step: C[M x N] = op(A) op(B), on `threads` threads. */
typedef struct shape {
    const char *what;
    char ta, tb;
    int M, N, K, threads;
} shape;

/* d=256, 4 layers, 4 heads, T=256, B=16 (4,096 rows) and d=64, 2 layers, 4 heads, T=128, B=32. */
static const shape SHAPES[] = {
    {"d256 q/k/v/o forward", 'N', 'T', 4096, 256, 256, 2},
    {"d256 FFN up forward", 'N', 'T', 4096, 1024, 256, 2},
    {"d256 FFN down forward", 'N', 'T', 4096, 256, 1024, 2},
    {"d256 FFN down input grad", 'N', 'N', 4096, 1024, 256, 2},
    {"d256 FFN up weight grad", 'T', 'N', 1024, 256, 4096, 2},
    {"d256 q/k/v/o weight grad", 'T', 'N', 256, 256, 4096, 2},
    {"d64 q/k/v/o forward", 'N', 'T', 4096, 64, 64, 2},
    {"d64 FFN up forward", 'N', 'T', 4096, 256, 64, 2},
    {"d64 FFN down input grad", 'N', 'N', 4096, 256, 64, 2},
    {"d64 q/k/v/o weight grad", 'T', 'N', 64, 64, 4096, 2},
    {"chunk scores, head 64", 'N', 'T', 64, 64, 64, 1},
    {"chunk state K^T V, head 64", 'T', 'N', 64, 64, 64, 1},
    {"chunk scores, head 16", 'N', 'T', 64, 64, 16, 1},
    {"chunk out A V, head 16", 'N', 'N', 64, 16, 64, 1},
    {"chunk state K^T V, head 16", 'T', 'N', 16, 16, 64, 1},
};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0], TILE = 64, NLIBS = 5 };

static sgemm_fn blis_sgemm;
static void (*blis_threads)(long);

/* C = op(A) op(B) with cblas (OpenBLAS linked, or BLIS's symbol). */
static void run_cblas(sgemm_fn f, const shape *s, const float *A, const float *B, float *C) {
    const int lda = s->ta == 'N' ? s->K : s->M, ldb = s->tb == 'N' ? s->N : s->K;
    f(CblasRowMajor, s->ta == 'N' ? CblasNoTrans : CblasTrans, s->tb == 'N' ? CblasNoTrans : CblasTrans, s->M, s->N, s->K,
      1.0f, A, lda, B, ldb, 0.0f, C, s->N);
}

/* The libxsmm kernels of one shape: column-major C^T[N x M] = op(B)^T op(A)^T on tiles of
 * mt x nt x kt, one for beta 0 (first k tile) and one for beta 1. */
typedef struct xsmm_plan {
    libxsmm_smmfunction k0, k1;
    int mt, nt, kt;
} xsmm_plan;

/* The plan of s, or k0 NULL when libxsmm has no kernel for it. */
static xsmm_plan xsmm_prepare(const shape *s) {
    xsmm_plan p = {NULL, NULL, s->N < TILE ? s->N : TILE, s->M < TILE ? s->M : TILE, s->K < TILE ? s->K : TILE};
    const libxsmm_blasint lda = s->tb == 'N' ? s->N : s->K, ldb = s->ta == 'N' ? s->K : s->M, ldc = s->N;
    const int flags = (s->tb == 'T' ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (s->ta == 'T' ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    const float alpha = 1.0f, beta0 = 0.0f, beta1 = 1.0f;
    if (s->N % p.mt || s->M % p.nt || s->K % p.kt) return p;
    p.k0 = libxsmm_smmdispatch(p.mt, p.nt, p.kt, &lda, &ldb, &ldc, &alpha, &beta0, &flags, NULL);
    p.k1 = libxsmm_smmdispatch(p.mt, p.nt, p.kt, &lda, &ldb, &ldc, &alpha, &beta1, &flags, NULL);
    if (!p.k1) p.k0 = NULL;
    return p;
}

/* C = op(A) op(B) through the plan's tiles, the (row, column) tiles of C shared among the threads. */
static void run_xsmm(const xsmm_plan *p, const shape *s, const float *A, const float *B, float *C) {
    const int tiles_c = s->N / p->mt, tiles_r = s->M / p->nt;
#pragma omp parallel for collapse(2) num_threads(s->threads) schedule(static)
    for (int r = 0; r < tiles_r; r++)
        for (int c = 0; c < tiles_c; c++) {
            const int r0 = r * p->nt, c0 = c * p->mt;
            for (int k0 = 0; k0 < s->K; k0 += p->kt) {
                /* column-major A' = op(B)^T: B stored K x N (tb N) or N x K (tb T); B' = op(A)^T */
                const float *a = s->tb == 'N' ? B + (size_t)k0 * s->N + c0 : B + (size_t)c0 * s->K + k0;
                const float *b = s->ta == 'N' ? A + (size_t)r0 * s->K + k0 : A + (size_t)k0 * s->M + r0;
                (k0 ? p->k1 : p->k0)(a, b, C + (size_t)r0 * s->N + c0);
            }
        }
}

/* Whether lib runs on shape plan p on this CPU (libxsmm: a kernel; lrpe bf16: AVX512-BF16; lrpe
 * fp32: AVX-512F or AVX2 with FMA). */
static int lib_runs(int lib, const xsmm_plan *p) {
    return lib == 2 ? p->k0 != NULL : lib == 3 ? gemm_bf16_supported() : lib == 4 ? gemm_small_own() : 1;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Runs library lib on s once. */
static void run(int lib, const shape *s, const xsmm_plan *p, const float *A, const float *B, float *C) {
    if (lib == 0) run_cblas(cblas_sgemm, s, A, B, C);
    else if (lib == 1) run_cblas(blis_sgemm, s, A, B, C);
    else if (lib == 2) run_xsmm(p, s, A, B, C);
    else {
        const gemm_fn lrpe = lib == 3 ? gemm_bf16 : s->threads == 1 ? gemm_small : gemm_own;
        lrpe(s->ta == 'T' ? GEMM_T : GEMM_N, s->tb == 'T' ? GEMM_T : GEMM_N, s->M, s->N, s->K, 1.0f, A,
             s->ta == 'N' ? s->K : s->M, B, s->tb == 'N' ? s->N : s->K, 0.0f, C, s->N);
    }
}

/* GFLOP/s of lib on s over about 0.1 s of repetitions. */
static double rate(int lib, const shape *s, const xsmm_plan *p, const float *A, const float *B, float *C) {
    const double flops = 2.0 * s->M * s->N * s->K;
    long reps = 1;
    for (;;) {
        double t0 = now();
        for (long i = 0; i < reps; i++) run(lib, s, p, A, B, C);
        double dt = now() - t0;
        if (dt > 0.1) return flops * reps / dt * 1e-9;
        reps *= dt > 0.01 ? 2 : 10;
    }
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 5;
    const char *blis_path = "/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4";
    void *blis = dlopen(blis_path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!blis || !(blis_sgemm = (sgemm_fn)dlsym(blis, "cblas_sgemm")) ||
        !(blis_threads = (void (*)(long))dlsym(blis, "bli_thread_set_num_threads"))) {
        fprintf(stderr, "bench-blas: %s: %s (apt-get install libblis-openmp-dev)\n", blis_path, dlerror());
        return 2;
    }
    libxsmm_init();
    const int bf16 = gemm_bf16_supported(), own = gemm_small_own();
    printf("%d rounds of OpenBLAS, BLIS, libxsmm, lrpe bf16, lrpe fp32 (%s kernel) in turn; median GFLOP/s (ratio to "
           "OpenBLAS); max |C - C_OpenBLAS| / max |C|\n", rounds, own ? gemm_kernel_active()->name : "no");
    printf("| product | M x N x K | op | threads | OpenBLAS | BLIS | libxsmm | lrpe bf16 | lrpe fp32 | max rel. diff BLIS / libxsmm / bf16 / lrpe fp32 |\n");
    printf("|---|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &SHAPES[i];
        const size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
        float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *ref = malloc(nc * 4);
        if (!A || !B || !C || !ref) return 1;
        srand(1);
        for (size_t j = 0; j < na; j++) A[j] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t j = 0; j < nb; j++) B[j] = (float)rand() / RAND_MAX - 0.5f;
        openblas_set_num_threads(s->threads);
        blis_threads(s->threads);
        omp_set_num_threads(s->threads);
        xsmm_plan p = xsmm_prepare(s);
        run(0, s, &p, A, B, ref);
        double diff[NLIBS] = {0}, scale = 0;
        for (size_t j = 0; j < nc; j++) scale = fmax(scale, fabs(ref[j]));
        for (int lib = 1; lib < NLIBS; lib++) {
            if (!lib_runs(lib, &p)) continue;
            memset(C, 0, nc * 4);
            run(lib, s, &p, A, B, C);
            for (size_t j = 0; j < nc; j++) diff[lib] = fmax(diff[lib], fabs(C[j] - ref[j]) / scale);
        }
        double r[NLIBS][64], med[NLIBS];
        char xd[16], bd[16], od[16];
        for (int k = 0; k < rounds && k < 64; k++)
            for (int lib = 0; lib < NLIBS; lib++) r[lib][k] = lib_runs(lib, &p) ? rate(lib, s, &p, A, B, C) : 0;
        for (int lib = 0; lib < NLIBS; lib++) {
            qsort(r[lib], (size_t)rounds, sizeof r[lib][0], by_value);
            med[lib] = r[lib][rounds / 2];
        }
        printf("| %s | %d x %d x %d | %c%c | %d | %.1f | %.1f (%.2fx) | ", s->what, s->M, s->N, s->K, s->ta, s->tb,
               s->threads, med[0], med[1], med[1] / med[0]);
        if (p.k0) printf("%.1f (%.2fx) | ", med[2], med[2] / med[0]);
        else printf("no kernel | ");
        if (bf16) printf("%.1f (%.2fx) | ", med[3], med[3] / med[0]);
        else printf("no AVX512-BF16 | ");
        if (own) printf("%.1f (%.2fx) | ", med[4], med[4] / med[0]);
        else printf("no AVX2 | ");
        printf("%.1e / %s / %s / %s |\n", diff[1], p.k0 ? (snprintf(xd, sizeof xd, "%.1e", diff[2]), xd) : "-",
               bf16 ? (snprintf(bd, sizeof bd, "%.1e", diff[3]), bd) : "-",
               own ? (snprintf(od, sizeof od, "%.1e", diff[4]), od) : "-");
        fflush(stdout);
        free(A), free(B), free(C), free(ref);
    }
    return 0;
}
