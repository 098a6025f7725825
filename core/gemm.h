/* The matrix products of the CPU path, row-major as cblas: C[M,N] = alpha op(A)[M,K] op(B)[K,N]
 * + beta C. The one place the library is chosen (`make bench-blas` measured OpenBLAS fastest on
 * 13 of the 15 products of a training step; attention's tile products are lrpe's own where the CPU
 * has AVX-512, measured in the step; README, "Which matrix-multiply library"). */
#ifndef LRPE_GEMM_H
#define LRPE_GEMM_H

typedef enum gemm_op { GEMM_N = 0, GEMM_T = 1 } gemm_op;

/* A product as above; op(X) is X or its transpose. */
typedef void (*gemm_fn)(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc);

/* float32 products: OpenBLAS's cblas_sgemm. */
void gemm_f32(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);

/* Attention's small products (M and N a tile or a head wide, K a head or a tile): A B and A B^T
 * (K <= 256) in lrpe's AVX-512 kernel where gemm_small_own(); A^T B, larger K and other CPUs in
 * gemm_f32. Each element of C is one chain of fused multiply-adds over k in order, then alpha and
 * beta: the same bits at any thread count. Threads may call it at once. */
void gemm_small(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc);

/* 1 when gemm_small runs lrpe's kernel on this CPU (it has AVX-512F). */
int gemm_small_own(void);

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
