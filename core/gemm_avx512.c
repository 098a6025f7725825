/* lrpe's product kernel (gemm_kernel.h) on AVX-512: 16 lanes, blocks of C up to 4 vectors (64
 * columns) by 16 / 8 / 5 / 4 rows, 16 accumulators of the 32 registers. Inside a training step
 * OpenBLAS ran A B^T at attention's shapes (64 x 64 x 16, 64 x 64 x 64) at 56-63 GFLOP/s, and on
 * its Haswell core A^T B (64 x 16 x 64, 16 x 16 x 64) at 43-69 GFLOP/s per core; on a Zen 5 core,
 * whose FMAs are 512 bits wide, OpenBLAS's Haswell kernels reach about half of what this one does
 * (README, "Which matrix-multiply library"). */
#include <immintrin.h>

#define KERNEL __attribute__((target("avx512f")))
#define KERNEL_NAME "AVX-512"
#define KERNEL_SUPPORTED() (__builtin_cpu_supports("avx512f") != 0)
#define VW 16
#define NV_MAX 4
typedef __m512 vec;
typedef __mmask16 vmask;
#define v_zero() _mm512_setzero_ps()
#define v_set1(x) _mm512_set1_ps(x)
#define v_load(p) _mm512_loadu_ps(p)
#define v_fma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define v_add(a, b) _mm512_add_ps(a, b)
#define v_mul(a, b) _mm512_mul_ps(a, b)
#define v_first(n) ((n) >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n)) - 1))
#define v_load_first(m, n, p) _mm512_maskz_loadu_ps(m, p)
#define v_load_masked(m, p) _mm512_maskz_loadu_ps(m, p)
#define V_SPLIT_TAIL 0
#define v_store_first(p, m, n, x) _mm512_mask_storeu_ps(p, m, x)
#define BLOCKS(X) X(16, 1) X(8, 2) X(5, 3) X(4, 4) X(1, 1) X(1, 2) X(1, 3) X(1, 4)
#define ROW_BLOCKS(X) X(1, 16, 16) X(2, 8, 8) X(3, 5, 5) X(4, 4, 4)

/* Transposes the 16 x 16 block in r[] in place (row i becomes column i). */
KERNEL static inline void v_transpose(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4g + c], lane L: rows 4g .. 4g+3 at column 4L + c */
    for (int g = 0; g < 16; g += 4) {
        __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
        __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    /* column 4L + c gathers lane L of u[c], u[4 + c], u[8 + c], u[12 + c] */
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

#include "gemm_kernel_body.h"

/* k in chunks of 128 (256: 0.98-1.01x on a Zen 5); A^T's chunks copied where its rows are a
 * multiple of 2 KB apart, into rows of the panel's width */
const gemm_kernel gemm_kernel_avx512 = {KERNEL_NAME, small, transpose, pack_rows, KC, 512, 0, supported};
