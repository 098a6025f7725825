// The cuBLAS subset of the CUDA emulator (include/cublas_v2.h): float matrix products on OpenBLAS.
#include "cublas_v2.h"

#include <cblas.h>
#include <stdio.h>

#include <vector>

#include "emu_internal.h"

struct cublasContext {
    cudaStream_t stream;
    cublasMath_t math;
    void *workspace;
    size_t workspace_bytes;
};

using namespace emu;

cublasStatus_t cublasCreate(cublasHandle_t *h) {
    *h = new cublasContext{nullptr, CUBLAS_DEFAULT_MATH, nullptr, 0};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h) {
    flush();
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!valid_stream(s)) return CUBLAS_STATUS_INVALID_VALUE;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t *s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *s = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (bytes && (!device_range(ws, bytes) || (uintptr_t)ws % 256)) {
        say("cublasSetWorkspace: %p..+%zu is not 256-byte aligned device memory", ws, bytes);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    h->workspace = ws, h->workspace_bytes = bytes;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((unsigned)mode > CUBLAS_TF32_TENSOR_OP_MATH) return CUBLAS_STATUS_INVALID_VALUE;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *mode = h->math;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value) {
    *value = 0;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetVersion(cublasHandle_t h, int *version) {
    *version = 0;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusName(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    }
    return "unknown error";
}

// ------------------------------------------------------------------ products

namespace {

enum rounding { ROUND_NONE, ROUND_TF32, ROUND_BF16 };

// x rounded to nearest even at `drop` fewer mantissa bits (TF32: 13, BF16: 16); NaN and inf stay.
float round_mantissa(float x, int drop) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    u += ((1u << (drop - 1)) - 1) + ((u >> drop) & 1);
    u &= ~((1u << drop) - 1);
    memcpy(&x, &u, 4);
    return x;
}

// One matrix operand, column-major rows x cols with leading dimension ld, of `batch` matrices stride apart.
struct operand {
    const char *what;
    const float *p;
    int rows, cols, ld;
    long long stride;
};

// The floats from the first element of matrix 0 to the last of the last matrix.
size_t extent(const operand &o, int batch) {
    if (o.rows <= 0 || o.cols <= 0 || batch <= 0) return 0;
    return (size_t)(batch - 1) * (size_t)o.stride + (size_t)(o.cols - 1) * o.ld + o.rows;
}

// The checks the GPU would fail on: the operand lies inside one device allocation.
bool operand_ok(const operand &o, int batch) {
    const size_t n = extent(o, batch);
    if (!n) return true;
    if (o.stride < 0 || !device_range(o.p, n * sizeof(float))) {
        region r;
        say("cuBLAS: matrix %s at %p (%d x %d, ld %d, %d matrices stride %lld) is %s", o.what, (const void *)o.p,
            o.rows, o.cols, o.ld, batch, o.stride,
            find_region(o.p, &r) && !r.pinned ? "not inside its device allocation" : "not device memory");
        return false;
    }
    return true;
}

// A copy of matrix o (the same layout) with every element rounded.
std::vector<float> rounded(const operand &o, int drop) {
    std::vector<float> v((size_t)(o.cols - 1) * o.ld + o.rows);
    for (int j = 0; j < o.cols; j++)
        for (int i = 0; i < o.rows; i++) v[(size_t)j * o.ld + i] = round_mantissa(o.p[(size_t)j * o.ld + i], drop);
    return v;
}

// The emulated cublasGemmStridedBatchedEx on float data: checks, then one sgemm per matrix.
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
                    const float *A, int lda, long long sa, const float *B, int ldb, long long sb, float beta, float *C,
                    int ldc, long long sc, int batch, rounding rnd) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((unsigned)ta > CUBLAS_OP_C || (unsigned)tb > CUBLAS_OP_C) return CUBLAS_STATUS_INVALID_VALUE;
    const operand a = {"A", A, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda, sa};
    const operand b = {"B", B, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb, sb};
    const operand c = {"C", C, m, n, ldc, sc};
    if (m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    for (const operand *o : {&a, &b, &c})
        if (o->ld < (o->rows > 1 ? o->rows : 1)) {
            say("cuBLAS: ld%c = %d is less than the %d rows of %s", o->what[0] + 32, o->ld, o->rows, o->what);
            return CUBLAS_STATUS_INVALID_VALUE;
        }
    if (!m || !n || !batch) return CUBLAS_STATUS_SUCCESS;
    if (!valid_stream(h->stream)) return CUBLAS_STATUS_INVALID_VALUE;
    flush();
    if (!operand_ok(a, batch) || !operand_ok(b, batch) || !operand_ok(c, batch)) return CUBLAS_STATUS_EXECUTION_FAILED;
    const size_t na = extent(a, batch), nb = extent(b, batch), nc = extent(c, batch);
    open_range(A, na * 4), open_range(B, nb * 4), open_range(C, nc * 4);
    const CBLAS_TRANSPOSE tra = ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, trb = tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    for (int i = 0; i < batch; i++) {
        operand ai = a, bi = b;
        ai.p += (size_t)i * sa, bi.p += (size_t)i * sb;
        float *ci = C + (size_t)i * sc;
        if (k == 0 || alpha == 0.0f) { // C = beta C (C is not read when beta is 0)
            for (int j = 0; j < n; j++)
                for (int r = 0; r < m; r++) ci[(size_t)j * ldc + r] = beta == 0.0f ? 0.0f : beta * ci[(size_t)j * ldc + r];
            continue;
        }
        std::vector<float> ra, rb;
        if (rnd != ROUND_NONE) {
            const int drop = rnd == ROUND_TF32 ? 13 : 16;
            ra = rounded(ai, drop), rb = rounded(bi, drop);
            ai.p = ra.data(), bi.p = rb.data();
        }
        cblas_sgemm(CblasColMajor, tra, trb, m, n, k, alpha, ai.p, lda, bi.p, ldb, beta, ci, ldc);
    }
    close_range(A, na * 4), close_range(B, nb * 4), close_range(C, nc * 4);
    return CUBLAS_STATUS_SUCCESS;
}

// alpha and beta are read on the host (CUBLAS_POINTER_MODE_HOST): they must not be device memory.
bool scalars_ok(const void *alpha, const void *beta) {
    region r;
    for (const void *p : {alpha, beta})
        if (!p || (find_region(p, &r) && !r.pinned)) {
            say("cuBLAS: alpha / beta %p must be host memory (pointer mode host)", p);
            return false;
        }
    return true;
}

// The rounding of a compute type on float data; false when cuBLAS has no such combination.
bool rounding_of(cublasComputeType_t compute, cudaDataType at, cudaDataType bt, cudaDataType ct, rounding *r) {
    if (at != CUDA_R_32F || bt != CUDA_R_32F || ct != CUDA_R_32F) return false;
    switch (compute) {
    case CUBLAS_COMPUTE_32F:
    case CUBLAS_COMPUTE_32F_PEDANTIC: *r = ROUND_NONE; return true;
    case CUBLAS_COMPUTE_32F_FAST_TF32: *r = ROUND_TF32; return true;
    case CUBLAS_COMPUTE_32F_FAST_16BF: *r = ROUND_BF16; return true;
    case CUBLAS_COMPUTE_32F_FAST_16F: *r = ROUND_TF32; return true; // fp16 inputs: not emulated, TF32 at least
    }
    return false;
}

} // namespace

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long sa,
                                         const float *B, int ldb, long long sb, const float *beta, float *C, int ldc,
                                         long long sc, int batch) {
    if (!scalars_ok(alpha, beta)) return CUBLAS_STATUS_INVALID_VALUE;
    const rounding r = h && h->math == CUBLAS_TF32_TENSOR_OP_MATH ? ROUND_TF32 : ROUND_NONE;
    return gemm(h, ta, tb, m, n, k, *alpha, A, lda, sa, B, ldb, sb, *beta, C, ldc, sc, batch, r);
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C, Ctype,
                                      ldc, 0, 1, compute, algo);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType Atype, int lda,
                                          long long sa, const void *B, cudaDataType Btype, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType Ctype, int ldc, long long sc,
                                          int batch, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    rounding r;
    if (!rounding_of(compute, Atype, Btype, Ctype, &r)) {
        say("cuBLAS: compute type %d on data types %d / %d / %d is not emulated (float data only)", (int)compute,
            (int)Atype, (int)Btype, (int)Ctype);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (!scalars_ok(alpha, beta)) return CUBLAS_STATUS_INVALID_VALUE;
    if (compute == CUBLAS_COMPUTE_32F && h && h->math == CUBLAS_TF32_TENSOR_OP_MATH) r = ROUND_TF32;
    return gemm(h, ta, tb, m, n, k, *(const float *)alpha, (const float *)A, lda, sa, (const float *)B, ldb, sb,
                *(const float *)beta, (float *)C, ldc, sc, batch, r);
}
