/* The matrix products of the CPU path, row-major as cblas: C[M,N] = alpha op(A)[M,K] op(B)[K,N]
 * + beta C. The one place the library is chosen, by measurement (`make bench-blas` and the step;
 * README, "Which matrix-multiply library"): OpenBLAS on Intel's CPUs where its core has AVX-512
 * kernels (SkylakeX: fastest on 13 of the 15 products of a step), lrpe's AVX-512 kernel on AMD's
 * AVX-512 CPUs (a Zen 4's steps up to 1.09x faster than with OpenBLAS's Cooperlake kernels) and
 * wherever OpenBLAS runs a 256-bit core (Haswell, Zen: 1.5-3.2x slower than it on a Zen 5; on a
 * Zen 3, without AVX-512, lrpe's AVX2 kernel: d=64's steps 1.26-1.28x faster, d=256's 0.94-1.06x),
 * and lrpe's kernel for attention's tile products wherever the CPU has AVX-512 or AVX2. */
#ifndef LRPE_GEMM_H
#define LRPE_GEMM_H

typedef enum gemm_op { GEMM_N = 0, GEMM_T = 1 } gemm_op;

/* A product as above; op(X) is X or its transpose. */
typedef void (*gemm_fn)(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc);

/* float32 products of the linear layers: gemm_own where gemm_f32_own(), else OpenBLAS's
 * cblas_sgemm. */
void gemm_f32(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);

/* Attention's small products (M and N a tile or a head wide, K a head or a tile), one thread, in
 * lrpe's kernel where gemm_small_own() (A^T B only where gemm_f32_own() too); the rest in
 * gemm_f32. Each element of C is one chain of fused multiply-adds over k in order, then alpha and
 * beta: the same bits at any thread count. Threads may call it at once. */
void gemm_small(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc);

/* What a product may skip, given a diagonal at column i + diag of row i: nothing; the k of op(A)'s
 * zeros where op(A) is lower triangular (op(A)[i, k] = 0 for k > i + diag) or upper triangular
 * (0 for k < i - diag); or C's entries past the diagonal when only the rest is wanted: rows in
 * bands of 16, row i computed for the columns j < 16 (i / 16 + 1) + diag, the others unspecified
 * (left as they were by lrpe's kernel). */
typedef enum gemm_tri { GEMM_FULL = 0, GEMM_LOWER, GEMM_UPPER, GEMM_C_LOWER } gemm_tri;

/* gemm_small skipping what (tri, diag) allows, in lrpe's kernel (causal attention's masked chunk
 * and tile products: about half the work of a diagonal block): for each block of rows the k whose
 * entries of op(A) are all 0, or the blocks of C past the diagonal; what it computes is what the
 * whole product gives (finite inputs). */
void gemm_small_tri(gemm_op ta, gemm_op tb, gemm_tri tri, int diag, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* dst[j, i] = src[i, j] for i < rows, j < cols (dst's rows ldd apart, src's lds): a head's keys
 * turned into the rows gemm_small reads in place, once rather than per tile. */
void gemm_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols);

/* 1 when gemm_small runs lrpe's kernel on this CPU (it has AVX-512F, or AVX2 with FMA). */
int gemm_small_own(void);

/* The kernel of gemm_small over tasks of 256 rows by up to 256 columns of C, on all threads unless
 * called inside a parallel region (then on the calling thread, other threads of a share taking
 * some: gemm_share_*; the same bits either way), k in chunks of 128 (each adding into C), a chunk
 * of A^T or B copied side by side first where its rows' spacing would thrash the cache. Only
 * where gemm_small_own(). */
void gemm_own(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc);

/* C[M,N] = A[M,K] B[N,K]^T + bias[N] on every row (a linear layer's forward) in gemm_own, the
 * bias added as the first chunk of k is stored, instead of a pass filling C with it first: the
 * bits of filling C and multiplying with beta 1. Only where gemm_small_own(). */
void gemm_own_bias(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                      float *C, int ldc);

/* Threads that make the same products in the same order side by side (the shards of a step,
 * model/train.c) take each other's gemm_own tasks: before each of its products, a thread takes
 * those of any thread that has started fewer products than it (one behind, on a slower core), and
 * a thread that has finished its own work takes the others' until all have. Inside the parallel
 * region, one thread calls gemm_share_begin(number of threads) and all wait for it; each calls
 * gemm_share_join(its number) before its work and gemm_share_help() after it. A task computes the
 * same block of C whichever thread runs it: the same bits. One share at a time in a process (its
 * slots are global). gemm_share_taken: the tasks run by another thread since gemm_share_begin. */
void gemm_share_begin(int threads);
void gemm_share_join(int thread);
void gemm_share_help(void);
long gemm_share_taken(void);

/* 1 when gemm_f32 runs gemm_own: gemm_small_own(), and an AMD CPU (on a Zen 4 with
 * OpenBLAS's Cooperlake kernels, training steps up to 1.09x faster with lrpe's) or OpenBLAS's
 * core has no AVX-512 kernels (Haswell, Zen). On Intel's CPUs with its SkylakeX kernels OpenBLAS
 * matched an earlier form of lrpe's kernel on the linear layers' products, and it stays. */
int gemm_f32_own(void);

/* bf16 products with float32 accumulation: A and B rounded to bf16 (round to nearest even) as they
 * are packed, multiplied with AVX512-BF16's dot products, summed in float32 in a fixed order (the
 * same bits at any thread count). Only where gemm_bf16_supported(); threads may call it at once
 * (each has its own packing buffers, as the shards of a step do). */
void gemm_bf16(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc);

/* 1 when this CPU has AVX512-BF16 (and the AVX-512 the kernel also uses). */
int gemm_bf16_supported(void);

/* x rounded to the nearest bf16 (ties to even) and back to float: what gemm_bf16 multiplies. */
float gemm_bf16_round(float x);

/* Which code computes the products at each precision on this CPU (provenance, lrpe version). */
const char *gemm_library(void);

#endif
