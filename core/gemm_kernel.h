/* lrpe's float32 product kernel, one build per instruction set (gemm_avx512.c, gemm_avx2.c: the
 * same text, gemm_kernel_body.h, over each one's vectors), and what the code that runs it
 * (gemm_small.c: tasks, threads, the public calls of gemm.h) needs of it. Internal to core/ and
 * its tests. */
#ifndef LRPE_GEMM_KERNEL_H
#define LRPE_GEMM_KERNEL_H

#include "gemm.h"

#define SMALL_W 64     /* columns of C per block */
#define SMALL_KMAX 256 /* the most k of a packed block of B (gemm_bt) */
#define KC 128         /* gemm_own: its chunk of k for A^T (B's packed block, 32 KB, stays in L1) */
#define PANEL 256      /* gemm_own: rows of C per panel (A's chunk, up to 128 KB, stays in L2) */
#define GROUP_W 256    /* gemm_own: columns of C per task (a panel's block, 256 KB, stays in L2 over k) */
#define PACK_AHEAD 8   /* rows a copy fetches ahead (4 and 16 measured the same) */

/* B's or B^T's rows k < K for the block of columns being computed: row k at gemm_bt + k SMALL_W. */
extern _Thread_local float gemm_bt[SMALL_KMAX * SMALL_W];
/* gemm_own's chunk of A^T: KC rows of up to PANEL, a line apart more */
extern _Thread_local float gemm_at[KC * (PANEL + 16)];

/* How a block of C is stored: C = alpha X + beta C, plus bias[j] in column j where bias is not NULL
 * (bias indexed from the block's first column; beta is then 0). */
typedef struct c_store {
    float alpha, beta;
    const float *bias;
} c_store;

/* The c_store of the block of C starting j columns further on. */
static inline c_store store_from(const c_store *st, int j) {
    return (c_store){st->alpha, st->beta, st->bias ? st->bias + j : NULL};
}

/* One instruction set's kernel. Every element of C is one chain of fused multiply-adds over k in
 * order whichever it is: the same bits from each. */
typedef struct gemm_kernel {
    const char *name; /* "AVX-512", "AVX2" */
    /* C = op(A) op(B) stored by st, by blocks of SMALL_W columns, over the k op(A)'s shape (tri,
     * diag) leaves; B's block packed into gemm_bt first when B is transposed (K <= SMALL_KMAX), or
     * when pack (K <= SMALL_KMAX). */
    void (*small)(gemm_op ta, gemm_op tb, gemm_tri tri, int diag, int M, int N, int K, const float *A, int lda,
                  const float *B, int ldb, c_store st, float *C, int ldc, int pack);
    /* dst[j, i] = src[i, j] for i < rows, j < cols */
    void (*transpose)(float *dst, long ldd, const float *src, long lds, int rows, int cols);
    /* dst[k, j] = src[k, j] for j < w and k < K (rows side by side, fetched ahead) */
    void (*pack_rows)(float *dst, long ldd, const float *src, long lds, int w, int K);
    /* gemm_own's chunk of k where A is not transposed (A^T's: KC), at most SMALL_KMAX */
    int kc_a;
    /* gemm_own copies a chunk of A^T where its rows are a multiple of at_copy_stride floats apart,
     * into rows at_pad floats (at most 16) longer than the panel's */
    int at_copy_stride, at_pad;
    /* 1 when this CPU can run it */
    int (*supported)(void);
} gemm_kernel;

extern const gemm_kernel gemm_kernel_avx512, gemm_kernel_avx2;

/* The kernel gemm_small and gemm_own run: AVX-512 where the CPU has it, else AVX2 with FMA, else
 * none (NULL: OpenBLAS makes every product). */
const gemm_kernel *gemm_kernel_active(void);

/* Tests and benchmarks: run kernel k from now on (NULL: the CPU's choice again); -1 when this CPU
 * cannot run it. Not while products are being made. */
int gemm_kernel_use(const gemm_kernel *k);

#endif
