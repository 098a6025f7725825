// The CUDA backend's shared state and checks, seen by every file of backend/cuda/.
#ifndef LRPE_CUDA_CTX_CUH
#define LRPE_CUDA_CTX_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

extern "C" {
#include "backend.h"
}

// One backend instance: GPU 0, one stream (every op is ordered on it), one cuBLAS handle, and a
// small pinned host buffer for the numbers ops return (loss, gradient norm).
#define CUDA_LIVE_MAX 1024 // allocations tracked at once (a model makes about 30)

struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    be_precision precision;
    double *host_red;   // pinned, CUDA_RED_MAX doubles
    double *dev_red;    // device, CUDA_RED_MAX doubles: partial sums of reductions
    // ---- added by backend_cuda.cu (open): everything below is set before the first op
    int *dev_int;                // device, CUDA_RED_MAX ints: small integer results (counts)
    void *blas_ws;               // device workspace given to cuBLAS (so it never allocates in a step)
    size_t blas_ws_bytes;
    cublasComputeType_t compute; // the compute type of every matrix product at this precision
    // ---- the bytes of each live allocation (cudaFree does not say), for memory_peak
    struct { void *p; size_t bytes; } live[CUDA_LIVE_MAX];
    size_t live_bytes, peak_bytes;
};
#define CUDA_RED_MAX 4096

static inline cuda_ctx *ctx_of(const backend *be) { return (cuda_ctx *)be->ctx; }

// A CUDA or cuBLAS call that cannot fail in a correct program: on failure, one line and abort
// (a lost device or a kernel fault leaves nothing to recover).
#define CUDA_OK(call)                                                                                   \
    do {                                                                                                \
        cudaError_t e_ = (call);                                                                        \
        if (e_ != cudaSuccess) {                                                                        \
            fprintf(stderr, "lrpe: CUDA error %s at %s:%d: %s\n", cudaGetErrorName(e_), __FILE__, __LINE__, \
                    cudaGetErrorString(e_));                                                            \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)
#define CUBLAS_OK(call)                                                                                 \
    do {                                                                                                \
        cublasStatus_t s_ = (call);                                                                     \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                              \
            fprintf(stderr, "lrpe: cuBLAS error %d at %s:%d\n", (int)s_, __FILE__, __LINE__);            \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)
// after a kernel launch
#define LAUNCH_OK() CUDA_OK(cudaGetLastError())

// blocks of `threads` covering n items
static inline unsigned blocks_for(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

// ---- matrix products (gemm.cu), at the backend's precision (fp32: pedantic float32, no TF32;
// tf32: TF32 tensor cores; bf16: bf16 tensor cores with float inputs and accumulation).
// Column-major, cuBLAS conventions: C[m,n] = alpha op(A) op(B) + beta C, on the backend's stream.
void cuda_gemm(const cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
// The same for `batch` independent products, matrix i at A + i*sa, B + i*sb, C + i*sc.
void cuda_gemm_batched(const cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                       float alpha, const float *A, int lda, long long sa, const float *B, int ldb, long long sb,
                       float beta, float *C, int ldc, long long sc, int batch);

#endif
