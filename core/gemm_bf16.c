/* bf16 matrix products with float32 accumulation on AVX512-BF16 (core/gemm.h).
 *
 * C = alpha op(A) op(B) + beta C in blocks of KC values of k. For each block, op(B) is packed once
 * into bf16 panels of NR columns, op(A) into panels of MR rows, both with k in pairs, the layout of
 * VDPBF16PS: a B panel holds, for each pair p, the NR columns' (B[2p][j], B[2p+1][j]) side by side;
 * an A panel the MR rows' (A[i][2p], A[i][2p+1]). The micro-kernel keeps an MR x NR tile of C in
 * registers over the block. Each C element is summed by one thread over k in a fixed order, so the
 * bits do not depend on the thread count. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

#define KC 256 /* values of k per block (even) */
#define MR 8   /* rows of a micro-tile */
#define NR 32  /* columns of a micro-tile: two vectors of 16 float32 */
#define MC 64  /* rows of op(A) per task (a multiple of MR) */

/* Packing buffers of the calling thread (threads that each run a shard of a step call this at once),
 * grown on demand and kept: no allocation once the shapes have been seen. */
static _Thread_local uint32_t *bpack, *apack; /* pairs of bf16 */
static _Thread_local size_t bpack_cap, apack_cap;

/* The bf16 bits of x, rounded to nearest even (NaN stays NaN). */
static uint16_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float gemm_bf16_round(float x) {
    uint32_t u = (uint32_t)bf16_bits(x) << 16;
    float y;
    memcpy(&y, &u, sizeof y);
    return y;
}

/* op(X)[r][c] of a row-major X with leading dimension ld. */
static inline float at(const float *X, int ld, gemm_op t, int r, int c) {
    return t == GEMM_T ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c];
}

/* (lo, hi) rounded to bf16 as one 32-bit pair, lo in the low half. */
static inline uint32_t pair_of(float lo, float hi) { return (uint32_t)bf16_bits(lo) | (uint32_t)bf16_bits(hi) << 16; }

/* Packs rows [r0, r0 + rows) x k [k0, k0 + kc) of op(X) into panels of `w` rows: panel q, pair p,
 * row i at dst[(q * kp + p) * w + i]; rows and k past the ends are zero. */
static void pack_panels(uint32_t *dst, const float *X, int ld, gemm_op t, int r0, int rows, int k0, int kc, int w) {
    const int kp = (kc + 1) / 2, panels = (rows + w - 1) / w;
    for (int q = 0; q < panels; q++)
        for (int p = 0; p < kp; p++) {
            uint32_t *d = dst + ((size_t)q * kp + p) * w;
            const int k = k0 + 2 * p, has_hi = 2 * p + 1 < kc;
            for (int i = 0; i < w; i++) {
                int r = q * w + i;
                d[i] = r < rows ? pair_of(at(X, ld, t, r0 + r, k), has_hi ? at(X, ld, t, r0 + r, k + 1) : 0.0f) : 0;
            }
        }
}

/* Grows *buf to hold n pairs; 0 or -1 when out of memory. */
static int reserve(uint32_t **buf, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    uint32_t *p = aligned_alloc(64, (n * sizeof *p + 63) / 64 * 64);
    if (!p) return -1;
    free(*buf);
    *buf = p, *cap = n;
    return 0;
}

/* C[mr, nr] (= or +=) alpha * the product of an A panel and a B panel over kp pairs; `first`: the
 * first k block, where beta applies. */
__attribute__((target("avx512f,avx512bf16"))) static void micro_tile(const uint32_t *a, const uint32_t *b, int kp,
                                                                     float *C, int ldc, int mr, int nr,
                                                                     float alpha, float beta, int first) {
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++, a += MR, b += NR) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
        for (int i = 0; i < MR; i++) {
            __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++)
        for (int h = 0; h < 2; h++) {
            int cols = nr - 16 * h;
            if (cols <= 0) break;
            __mmask16 m = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
            float *c = C + (size_t)i * ldc + 16 * h;
            __m512 v = _mm512_mul_ps(va, acc[i][h]);
            if (!first)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
            else if (beta != 0.0f)
                v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c), v);
            _mm512_mask_storeu_ps(c, m, v);
        }
}

void gemm_bf16(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    const int nthreads = omp_get_max_threads(), npanels = (N + NR - 1) / NR, mblocks = (M + MC - 1) / MC;
    if (reserve(&bpack, &bpack_cap, (size_t)npanels * NR * (KC / 2)) ||
        reserve(&apack, &apack_cap, (size_t)nthreads * MC * (KC / 2)))
    { /* the first product of a shape grows them; out of memory there cannot go back to the caller */
        fprintf(stderr, "lrpe: out of memory for the bf16 packing buffers (%d columns); use model.precision=fp32\n", N);
        abort();
    }
    uint32_t *const bp = bpack, *const apacks = apack; /* the caller's, shared with the threads below */
    /* op(B) is K x N: its columns are the rows of op(B)^T, which is B with the other op */
    const gemm_op tbt = tb == GEMM_T ? GEMM_N : GEMM_T;
    for (int k0 = 0; k0 < (K > 0 ? K : 1); k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, kp = (kc + 1) / 2, first = k0 == 0;
#pragma omp parallel for schedule(static)
        for (int q = 0; q < npanels; q++)
            pack_panels(bp + (size_t)q * kp * NR, B, ldb, tbt, q * NR, N - q * NR < NR ? N - q * NR : NR, k0, kc,
                        NR);
#pragma omp parallel for schedule(static)
        for (int mb = 0; mb < mblocks; mb++) {
            const int i0 = mb * MC, rows = M - i0 < MC ? M - i0 : MC;
            uint32_t *ap = apacks + (size_t)omp_get_thread_num() * MC * (KC / 2);
            pack_panels(ap, A, lda, ta, i0, rows, k0, kc, MR);
            for (int q = 0; q < npanels; q++)
                for (int ip = 0; ip * MR < rows; ip++) {
                    int mr = rows - ip * MR < MR ? rows - ip * MR : MR, nr = N - q * NR < NR ? N - q * NR : NR;
                    micro_tile(ap + (size_t)ip * kp * MR, bp + (size_t)q * kp * NR, kp,
                               C + (size_t)(i0 + ip * MR) * ldc + q * NR, ldc, mr, nr, alpha, beta, first);
                }
        }
    }
}

int gemm_bf16_supported(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}
