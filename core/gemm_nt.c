/* float32 C = alpha A B^T + beta C for short K (core/gemm.h, gemm_f32's choice for the linear
 * layers' forward): B's rows are packed once into panels of NR columns, k-major; A is read in place,
 * each A[i][k] broadcast against a panel's k-th row, an MR x NR tile of C kept in registers over the
 * whole K. Packing only the small operand is what beats the library at K = 64 (make bench-blas).
 * Each C element is summed by one thread, k in order: the bits do not depend on the thread count. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h"

#define MR 12 /* rows of a tile: 24 accumulators, two B vectors and a broadcast fit 32 registers */
#define NR 32 /* columns of a tile: two vectors of 16 floats */

/* B's panels, grown on demand and kept: no allocation once the shapes have been seen. */
static float *panels;
static size_t panels_cap;

int gemm_nt_fits(int K) {
    return K <= GEMM_NT_MAX_K && omp_get_level() == 0 && __builtin_cpu_supports("avx512f"); /* level: a team of one too */
}

/* acc[rows][2] += A[rows, K] . panel[K, NR]; inlined with rows = MR for whole tiles, so the row
 * loop unrolls and the accumulators stay in registers. */
__attribute__((target("avx512f"), always_inline)) static inline void accumulate(__m512 acc[MR][2], const float *A,
                                                                                int lda, const float *b, int K,
                                                                                int rows) {
    for (int k = 0; k < K; k++, b += NR) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        for (int i = 0; i < rows; i++) {
            const __m512 a = _mm512_set1_ps(A[(size_t)i * lda + k]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
}

/* C[mr, nr] = alpha * (A rows . panel) (+ beta C when beta is not 0), over K. */
__attribute__((target("avx512f"))) static void tile(const float *A, int lda, const float *b, int K, float *C, int ldc,
                                                    int mr, int nr, float alpha, float beta) {
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    if (mr == MR) accumulate(acc, A, lda, b, K, MR);
    else accumulate(acc, A, lda, b, K, mr);
    const __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++)
        for (int h = 0; h < 2; h++) {
            float *c = C + (size_t)i * ldc + 16 * h;
            const __mmask16 m = h ? m1 : m0;
            __m512 v = _mm512_mul_ps(va, acc[i][h]);
            if (beta != 0.0f) v = _mm512_add_ps(v, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, c)));
            _mm512_mask_storeu_ps(c, m, v);
        }
}

void gemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc) {
    if (M <= 0 || N <= 0) return;
    const int np = (N + NR - 1) / NR;
    const size_t need = (size_t)np * NR * (size_t)(K > 0 ? K : 1);
    if (need > panels_cap) {
        float *p = aligned_alloc(64, need * sizeof *p);
        if (!p) { /* the first product of a shape grows it; out of memory there cannot go back */
            fprintf(stderr, "lrpe: out of memory for the product's packing buffer (%d x %d)\n", N, K);
            abort();
        }
        free(panels);
        panels = p, panels_cap = need;
    }
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int q = 0; q < np; q++)
            for (int k = 0; k < K; k++)
                for (int j = 0; j < NR; j++) {
                    const int c = q * NR + j;
                    panels[((size_t)q * K + k) * NR + j] = c < N ? B[(size_t)c * ldb + k] : 0.0f;
                }
#pragma omp for schedule(static)
        for (int i0 = 0; i0 < M; i0 += MR)
            for (int q = 0; q < np; q++)
                tile(A + (size_t)i0 * lda, lda, panels + (size_t)q * K * NR, K, C + (size_t)i0 * ldc + q * NR, ldc,
                     M - i0 < MR ? M - i0 : MR, N - q * NR < NR ? N - q * NR : NR, alpha, beta);
    }
}
