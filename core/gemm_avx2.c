/* lrpe's product kernel (gemm_kernel.h) on AVX2 with FMA, for CPUs without AVX-512 (Zen 1-3,
 * Intel's client cores): 8 lanes, blocks of C of 2 vectors (16 columns) by 6 rows or 1 vector by
 * 12, 12 accumulators of the 16 registers (with B's vectors and A's broadcast entry), in the
 * same chains of fused multiply-adds as the AVX-512 kernel: the same bits. Masked loads and stores
 * (vmaskmovps) only where a row ends inside a vector. */
#include <immintrin.h>

#define KERNEL __attribute__((target("avx2,fma")))
#define KERNEL_NAME "AVX2"
#define KERNEL_SUPPORTED() (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#define VW 8
#define NV_MAX 2
typedef __m256 vec;
typedef __m256i vmask;
#define v_zero() _mm256_setzero_ps()
#define v_set1(x) _mm256_set1_ps(x)
#define v_load(p) _mm256_loadu_ps(p)
#define v_fma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define v_add(a, b) _mm256_add_ps(a, b)
#define v_mul(a, b) _mm256_mul_ps(a, b)
#define v_first(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define v_load_first(m, n, p) ((n) >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m))
#define v_load_masked(m, p) _mm256_maskload_ps(p, m)
#define V_SPLIT_TAIL 1
#define v_store_first(p, m, n, x) ((n) >= 8 ? _mm256_storeu_ps(p, x) : _mm256_maskstore_ps(p, m, x))
#define BLOCKS(X) X(12, 1) X(4, 1) X(1, 1) X(6, 2) X(4, 2) X(1, 2)
#define ROW_BLOCKS(X) X(1, 12, 4) X(2, 6, 4)

/* Transposes the 8 x 8 block in r[] in place (row i becomes column i). */
KERNEL static inline void v_transpose(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) { /* t[i], t[i + 1]: rows i, i + 1 interleaved */
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4g + c]: rows 4g .. 4g+3 of column c in the low half, of column c + 4 in the high */
    for (int g = 0; g < 8; g += 4) {
        u[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
        u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xee);
        u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xee);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

#include "gemm_kernel_body.h"

/* k in chunks of 256 (d=256's products with K = 256 1.01-1.05x OpenBLAS's speed on a Zen 3,
 * 0.96-1.03x with 128); A^T's chunks copied where its rows are a multiple of 1 KB apart, into rows
 * a line longer than the panel's: rows 1 KB apart put a 6-row block's k in 4 of L1's 64 sets
 * (d=256's weight gradients 0.79-0.92x OpenBLAS's speed without both, 0.89-0.99x with them) */
const gemm_kernel gemm_kernel_avx2 = {KERNEL_NAME, small, transpose, pack_rows, SMALL_KMAX, 256, 16, supported};
