/* The text of lrpe's product kernel (gemm_kernel.h), written once over an instruction set's
 * vectors and included by one file per set, which first defines:
 *   KERNEL                 the function attribute that enables the set (target("..."))
 *   VW, vec, vmask         lanes per vector, the vector type, a mask of lanes
 *   v_zero() v_set1(x) v_load(p) v_fma(a, b, c) v_add(a, b) v_mul(a, b)
 *   v_first(n)             the mask of the first n lanes (all where n >= VW)
 *   v_load_first(m, n, p)  p's first n lanes (m = v_first(n)), zeros after
 *   v_load_masked(m, p)    the same with n < VW; V_SPLIT_TAIL 1 where it costs more than a load
 *   v_store_first(p, m, n, x)  x's first n lanes to p
 *   v_transpose(r)         transposes the VW x VW block in vec r[VW] in place
 *   BLOCKS(X)              X(ROWS, NV) for each block of C held in registers (ROWS x NV vectors)
 *   ROW_BLOCKS(X)          X(NV, ROWS, ROWS2) for NV = 1 .. NV_MAX vectors of columns: C's rows in
 *                          blocks of ROWS, then of ROWS2 (ROWS2 = ROWS: none), then one at a time
 *   NV_MAX, KERNEL_NAME, KERNEL_SUPPORTED()
 * A block of C, a few rows by up to NV_MAX vectors, is held in registers while k runs; A's entries
 * are broadcast in place (from its rows, or for A^T its columns), B's rows are read in place or,
 * for B^T, transposed VW x VW at a time into gemm_bt. */

#include "gemm_kernel.h"

/* Loops over constant counts, unrolled before GCC decides where arrays live: the accumulators
 * stay in registers. */
#define UNROLL _Pragma("GCC unroll 16")

#define PW (NV_MAX * VW) /* columns of C per block held in registers */

/* c[n lanes, mask m] = alpha x + beta c, plus st->bias[j .. j + VW) where there is one (c is not
 * read when beta is 0): the bias added as filling C with it and adding (beta 1) would, to the same
 * bits. */
KERNEL static inline void store_c(float *c, vmask m, int n, vec x, const c_store *st, int j) {
    const float alpha = st->alpha, beta = st->beta;
    if (alpha != 1.0f) x = v_mul(v_set1(alpha), x);
    if (st->bias)
        x = v_add(x, v_load_first(m, n, st->bias + j));
    else if (beta == 1.0f)
        x = v_add(x, v_load_first(m, n, c));
    else if (beta != 0.0f)
        x = v_add(x, v_mul(v_set1(beta), v_load_first(m, n, c)));
    v_store_first(c, m, n, x);
}

/* C[ROWS, NV vectors] = sum_k a[r ar + k ak] b[k ldb + :], stored by st, the last vector `tail`
 * lanes wide: one chain of fused multiply-adds per element, k in order. One function per (ROWS,
 * NV), so that acc has a constant size and lives in registers. A's strides (ar, ak): (lda, 1) for
 * A, (1, lda) for A^T. B's last vector is loaded masked when `masked` (a constant where inlined);
 * V_SPLIT_TAIL: a loop of its own for whole last vectors, where masked loads cost. */
#define BLOCK(ROWS, NV)                                                                                      \
    KERNEL static inline __attribute__((always_inline)) void block_##ROWS##x##NV##_k(                          \
        int masked, int tail, int K, const float *a, long ar, long ak, const float *b, long ldb,               \
        const c_store *st, float *c, long ldc) {                                                              \
        vec acc[ROWS][NV];                                                                                    \
        const vmask last = v_first(tail), all = v_first(VW);                                                  \
        const c_store s = *st; /* a copy: C's stores cannot change it, so it stays in registers */            \
        UNROLL for (int r = 0; r < ROWS; r++) UNROLL for (int v = 0; v < NV; v++) acc[r][v] = v_zero();        \
        _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {                                                 \
            const float *bk = b + k * ldb;                                                                    \
            vec bv[NV];                                                                                       \
            UNROLL for (int v = 0; v < NV; v++)                                                               \
                bv[v] = masked && v == NV - 1 ? v_load_masked(last, bk + VW * v) : v_load(bk + VW * v);       \
            UNROLL for (int r = 0; r < ROWS; r++) {                                                           \
                const vec x = v_set1(a[r * ar + k * ak]);                                                     \
                UNROLL for (int v = 0; v < NV; v++) acc[r][v] = v_fma(x, bv[v], acc[r][v]);                   \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < ROWS; r++) UNROLL for (int v = 0; v < NV; v++)                             \
            store_c(c + r * ldc + VW * v, v == NV - 1 ? last : all, v == NV - 1 ? tail : VW, acc[r][v], &s,   \
                    VW * v);                                                                                  \
    }                                                                                                         \
    KERNEL static void block_##ROWS##x##NV(int tail, int K, const float *a, long ar, long ak, const float *b,  \
                                           long ldb, const c_store *st, float *c, long ldc) {                 \
        if (V_SPLIT_TAIL && tail == VW)                                                                       \
            block_##ROWS##x##NV##_k(0, tail, K, a, ar, ak, b, ldb, st, c, ldc);                                \
        else                                                                                                  \
            block_##ROWS##x##NV##_k(1, tail, K, a, ar, ak, b, ldb, st, c, ldc);                                \
    }

/* The k of rows [r, r + rows) that op(A)'s shape (tri, its diagonal at k = i + diag) can make
 * nonzero: [*k0, *k0 + return). */
static inline int k_range(gemm_tri tri, int diag, int r, int rows, int K, int *k0) {
    *k0 = tri == GEMM_UPPER && r - diag > 0 ? r - diag : 0;
    if (tri == GEMM_LOWER) return r + rows + diag < K ? r + rows + diag : K;
    return K - *k0;
}

BLOCKS(BLOCK)

/* Rows [0, M) of C for one block of NV vectors: blocks of ROWS, then of ROWS2, then the rest one
 * row at a time (the same arithmetic per element), each over the k its rows of op(A) can make
 * nonzero (tri). */
#define ROW_FN(NV, ROWS, ROWS2)                                                                               \
    KERNEL static void rows_nv##NV(int M, int tail, int K, gemm_tri tri, int diag, const float *a, long ar,    \
                                   long ak, const float *b, long ldb, const c_store *st, float *c, long ldc) { \
        int r = 0, k0, kn;                                                                                    \
        for (; r + ROWS <= M; r += ROWS) {                                                                    \
            kn = k_range(tri, diag, r, ROWS, K, &k0);                                                         \
            block_##ROWS##x##NV(tail, kn, a + r * ar + k0 * ak, ar, ak, b + k0 * ldb, ldb, st, c + r * ldc,   \
                                ldc);                                                                         \
        }                                                                                                     \
        for (; ROWS2 < ROWS && r + ROWS2 <= M; r += ROWS2) {                                                  \
            kn = k_range(tri, diag, r, ROWS2, K, &k0);                                                        \
            block_##ROWS2##x##NV(tail, kn, a + r * ar + k0 * ak, ar, ak, b + k0 * ldb, ldb, st, c + r * ldc,  \
                                 ldc);                                                                        \
        }                                                                                                     \
        for (; r < M; r++) {                                                                                  \
            kn = k_range(tri, diag, r, 1, K, &k0);                                                            \
            block_1x##NV(tail, kn, a + r * ar + k0 * ak, ar, ak, b + k0 * ldb, ldb, st, c + r * ldc, ldc);    \
        }                                                                                                     \
    }
ROW_BLOCKS(ROW_FN)

/* Rows [0, M) of C's first w (<= SMALL_W) columns, over the k op(A)'s shape (tri, diag) leaves,
 * stored by st: column blocks of up to PW, block p's B at b + p b_step. */
KERNEL static void rows_w(int M, int w, int K, gemm_tri tri, int diag, const float *a, long ar, long ak,
                          const float *b, long ldb, long b_step, const c_store *st, float *c, long ldc) {
    for (int j = 0; j < w; j += PW, b += b_step) {
        const int nv = (w - j + VW - 1) / VW < NV_MAX ? (w - j + VW - 1) / VW : NV_MAX;
        const int tail = w - j - VW * (nv - 1) < VW ? w - j - VW * (nv - 1) : VW;
        const c_store sj = store_from(st, j);
        switch (nv) {
#define ROWS_CASE(NV, ROWS, ROWS2)                                                                            \
    case NV: rows_nv##NV(M, tail, K, tri, diag, a, ar, ak, b, ldb, &sj, c + j, ldc); break;
            ROW_BLOCKS(ROWS_CASE)
#undef ROWS_CASE
        }
    }
}

/* dst[j, i] = src[i, j] for i < rows, j < cols: blocks of VW x VW transposed in registers, the
 * next block's rows fetched meanwhile. */
KERNEL static void transpose(float *dst, long ldd, const float *src, long lds, int rows, int cols) {
    for (int i0 = 0; i0 < rows; i0 += VW) {
        for (int i = i0 + VW; i < i0 + 2 * VW && i < rows; i++)
            for (int j0 = 0; j0 < cols; j0 += 16) _mm_prefetch((const char *)(src + i * lds + j0), _MM_HINT_T0);
        for (int j0 = 0; j0 < cols; j0 += VW) {
            const int ni = rows - i0 < VW ? rows - i0 : VW, nj = cols - j0 < VW ? cols - j0 : VW;
            const vmask mi = v_first(ni), mj = v_first(nj);
            vec r[VW];
            for (int i = 0; i < VW; i++) r[i] = i < ni ? v_load_first(mj, nj, src + (i0 + i) * lds + j0) : v_zero();
            v_transpose(r);
            for (int j = 0; j < nj; j++) v_store_first(dst + (j0 + j) * ldd + i0, mi, ni, r[j]);
        }
    }
}

/* dst[k, j] = src[k, j] for j < w and k < K, dst's rows ldd apart: rows side by side, so that they
 * do not share cache sets (a row stride of 4 KB put every row of a block in one). The row
 * PACK_AHEAD further on is fetched meanwhile: rows a page apart defeat the hardware's prefetcher,
 * and the weight gradients, which copy their activations, waited on memory (1.01-1.09x as fast
 * with the fetch, timed in pairs). */
KERNEL static void pack_rows(float *dst, long ldd, const float *src, long lds, int w, int K) {
    for (int k = 0; k < K; k++) {
        if (k + PACK_AHEAD < K)
            for (int j0 = 0; j0 < w; j0 += 16)
                _mm_prefetch((const char *)(src + (k + PACK_AHEAD) * lds + j0), _MM_HINT_T0);
        for (int j0 = 0; j0 < w; j0 += VW) {
            const int n = w - j0 < VW ? w - j0 : VW;
            const vmask m = v_first(n);
            v_store_first(dst + k * ldd + j0, m, n, v_load_first(m, n, src + k * lds + j0));
        }
    }
}

/* gemm_kernel.small (gemm_kernel.h); GEMM_C_LOWER: bands of 16 rows, each to the band's last
 * diagonal column. A packed block of B is laid out as panels of PW columns, K rows each, so that a
 * block of C reads rows side by side (AVX2's 16 columns of 64-wide rows used a quarter of L1's
 * sets). */
KERNEL static void small(gemm_op ta, gemm_op tb, gemm_tri tri, int diag, int M, int N, int K, const float *A,
                         int lda, const float *B, int ldb, c_store st, float *C, int ldc, int pack) {
    const long ar = ta == GEMM_T ? 1 : lda, ak = ta == GEMM_T ? lda : 1;
    for (int j0 = 0; j0 < N; j0 += SMALL_W) {
        const int w = N - j0 < SMALL_W ? N - j0 : SMALL_W;
        const float *b = B + j0;
        long ldbk = ldb, b_step = PW;
        if (tb == GEMM_T || pack) {
            for (int p = 0; p < w; p += PW) {
                const int wp = w - p < PW ? w - p : PW;
                if (tb == GEMM_T) transpose(gemm_bt + (long)p * K, PW, B + (long)(j0 + p) * ldb, ldb, wp, K);
                else pack_rows(gemm_bt + (long)p * K, PW, B + j0 + p, ldb, wp, K);
            }
            b = gemm_bt, ldbk = PW, b_step = (long)PW * K;
        }
        float *c = C + j0;
        const c_store sj = store_from(&st, j0);
        if (tri != GEMM_C_LOWER) {
            rows_w(M, w, K, tri, diag, A, ar, ak, b, ldbk, b_step, &sj, c, ldc);
            continue;
        }
        for (int r0 = 0; r0 < M; r0 += 16) { /* band r0: the columns j < r0 + 16 + diag */
            const int rows = M - r0 < 16 ? M - r0 : 16, end = r0 + 16 + diag - j0, wb = end < w ? end : w;
            if (wb > 0)
                rows_w(rows, wb, K, GEMM_FULL, 0, A + r0 * ar, ar, ak, b, ldbk, b_step, &sj, c + (long)r0 * ldc,
                       ldc);
        }
    }
}

static int supported(void) { return KERNEL_SUPPORTED(); }
