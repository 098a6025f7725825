/* The cuBLAS subset of the CUDA emulator (tests/cuda_emu/, see cuda_runtime.h): the handle, its
 * stream / workspace / math mode, and the float matrix products of backend/cuda/gemm.cu, computed by
 * OpenBLAS on the host (emu_cublas.cpp). Arguments are checked as cuBLAS checks them (sizes, leading
 * dimensions, data and compute types) plus what the GPU would fault on (a matrix that is not device
 * memory, or that runs past the end of its allocation). Precision: fp32 compute types are exact
 * float32 products (OpenBLAS sgemm); TF32 / BF16 compute types round the inputs to TF32 / BF16 first
 * (round to nearest even) and accumulate in float, which is close to, not bitwise, the tensor cores. */
#ifndef LRPE_CUDA_EMU_CUBLAS_H
#define LRPE_CUDA_EMU_CUBLAS_H

#include "cuda_runtime.h"

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;

typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
} cublasMath_t;

typedef enum {
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_PEDANTIC = 69,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
} cublasComputeType_t;

typedef enum { CUBLAS_GEMM_DEFAULT = -1, CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99 } cublasGemmAlgo_t;

typedef struct cublasContext *cublasHandle_t;

/* A handle: stream 0, no workspace, CUBLAS_DEFAULT_MATH. */
cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
/* The stream the handle's work is ordered on (one queue in the emulator: recorded, checked). */
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t *s);
/* A user workspace: must be device memory, 256-byte aligned (recorded; the emulator needs none). */
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes);
/* Math mode: PEDANTIC / DEFAULT compute float32; TF32_TENSOR_OP rounds cublasSgemm's inputs to TF32. */
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode);
cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode);
/* 0 for every version number: there is no cuBLAS library here. */
cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value);
cublasStatus_t cublasGetVersion(cublasHandle_t h, int *version);
const char *cublasGetStatusName(cublasStatus_t s);
const char *cublasGetStatusString(cublasStatus_t s);

/* C = alpha op(A) op(B) + beta C, column-major, alpha / beta host pointers (CUBLAS_POINTER_MODE_HOST). */
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc);
/* The same for batch products, matrix i at A + i*sa, B + i*sb, C + i*sc. */
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long sa,
                                         const float *B, int ldb, long long sb, const float *beta, float *C, int ldc,
                                         long long sc, int batch);
/* cublasSgemm with explicit types: CUDA_R_32F matrices, a CUBLAS_COMPUTE_32F* compute type. */
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo);
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType Atype, int lda,
                                          long long sa, const void *B, cudaDataType Btype, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType Ctype, int ldc, long long sc,
                                          int batch, cublasComputeType_t compute, cublasGemmAlgo_t algo);

#endif
