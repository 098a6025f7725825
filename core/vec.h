/* Hot loops built for AVX-512 and AVX2 besides baseline x86-64, the one to run chosen when lrpe
 * loads (GCC's target_clones; the default build targets any x86-64, whose SSE2 is 4 floats wide).
 * The Makefile turns floating-point contraction off, so no clone fuses a multiply and an add that
 * the others round apart, and the loops keep their order of additions: the clones compute the same
 * bits. The attribute does not reach the bodies OpenMP outlines from a parallel loop, so it goes on
 * span functions over a block of rows that the parallel loops call. */
#ifndef LRPE_VEC_H
#define LRPE_VEC_H

#include <omp.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LRPE_VEC __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LRPE_VEC
#endif

/* Rows per task when a parallel loop hands blocks of rows to a span function. */
#define VEC_ROWS 16
/* Elements per task of a parallel loop over a flat array. */
#define VEC_SPAN 4096

/* The end of the block of rows that starts at n0 of N: n0 + VEC_ROWS, or N for the last block. */
static inline int rows_end(int n0, int N) { return n0 + VEC_ROWS < N ? n0 + VEC_ROWS : N; }
/* The end of the span that starts at i of n elements: i + VEC_SPAN, or n for the last span. */
static inline size_t span_end(size_t i, size_t n) { return i + VEC_SPAN < n ? i + VEC_SPAN : n; }
/* The most columns one thread sums at a time in a column reduction (its accumulators live on its
 * stack). */
#define COL_CHUNK 1024
/* Independent partial sums of a row reduction, so it vectorizes. */
#define VEC_LANES 16

/* Width of the column blocks of a column sum over C columns: about one block per thread, so that
 * each thread walks long contiguous pieces of rows; a multiple of 16, at most COL_CHUNK. Every
 * column's rows are added in order from zero whatever the width: the sums depend neither on it nor
 * on the thread count. */
static inline int col_block(int C) {
    const int nt = omp_get_max_threads(), w = ((C + nt - 1) / nt + 15) / 16 * 16;
    return w < 16 ? 16 : w < COL_CHUNK ? w : COL_CHUNK;
}

/* VEC_LANES floats as one vector value (GCC's vector extension), and its halves. */
typedef float vec_lanes __attribute__((vector_size(VEC_LANES * sizeof(float))));
typedef float vec_half __attribute__((vector_size(VEC_LANES / 2 * sizeof(float))));
typedef float vec_quarter __attribute__((vector_size(VEC_LANES / 4 * sizeof(float))));
typedef float vec_eighth __attribute__((vector_size(VEC_LANES / 8 * sizeof(float))));

/* The sum of lane[VEC_LANES], added pairwise (lane j and lane j + w for w = 8, 4, 2, 1): a fixed
 * order whatever the vector width, and 4 dependent additions instead of 15 (at d=64 the 15 in a row
 * cost LayerNorm more than its arithmetic). Written with whole vectors: as a loop over the array,
 * GCC stored the lanes and read them back one by one. */
static inline float vec_lanes_sum(const float *lane) {
    vec_lanes v;
    __builtin_memcpy(&v, lane, sizeof v);
    vec_half h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    vec_quarter q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    vec_eighth e = __builtin_shufflevector(q, q, 0, 1) + __builtin_shufflevector(q, q, 2, 3);
    return e[0] + e[1];
}

/* total = the sum over c in [0, n) of EXPR (an expression of c), in VEC_LANES float lanes (lane j
 * takes c = j mod VEC_LANES) combined by vec_lanes_sum: the same bits at any vector width. */
#define VEC_SUM(total, n, c, EXPR)                                          \
    do {                                                                    \
        float lane_[VEC_LANES] = {0};                                       \
        int base_ = 0;                                                      \
        for (; base_ + VEC_LANES <= (n); base_ += VEC_LANES)                \
            for (int j_ = 0; j_ < VEC_LANES; j_++) {                        \
                const int c = base_ + j_;                                   \
                lane_[j_] += (EXPR);                                        \
            }                                                               \
        for (int c = base_; c < (n); c++) lane_[c - base_] += (EXPR);       \
        (total) = vec_lanes_sum(lane_);                                     \
    } while (0)

#endif
