// Matrix products with cuBLAS at the backend's precision, and the linear layer (nn.Linear layout,
// row-major) on top of them: out = inp w^T + b, and its backward with the bias gradient as
// deterministic column sums.
#include "ops_cuda.cuh"

void cuda_gemm(const cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (m <= 0 || n <= 0) return;
    CUBLAS_OK(cublasGemmEx(c->blas, ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta, C,
                           CUDA_R_32F, ldc, c->compute, CUBLAS_GEMM_DEFAULT));
}

void cuda_gemm_batched(const cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                       float alpha, const float *A, int lda, long long sa, const float *B, int ldb, long long sb,
                       float beta, float *C, int ldc, long long sc, int batch) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    CUBLAS_OK(cublasGemmStridedBatchedEx(c->blas, ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, sa, B, CUDA_R_32F, ldb,
                                         sb, &beta, C, CUDA_R_32F, ldc, sc, batch, c->compute, CUBLAS_GEMM_DEFAULT));
}

// out[N, OC] = b broadcast over the rows (before the product adds into it, as the CPU does).
__global__ void bias_fill_kernel(float *out, const float *b, int N, int OC) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)N * OC) out[i] = b[i % OC];
}

// out[cols] += column sums of x[rows, ld]: block (32 columns x 32 row lanes); lane y adds rows
// y, y+32, ... in order, then row 0 of the block adds the 32 lane sums in order (fixed order, no atomics).
__global__ void col_sums_kernel(float *out, const float *x, int rows, int cols, int ld) {
    __shared__ float part[32][33];
    const int tx = threadIdx.x, ty = threadIdx.y, col = blockIdx.x * 32 + tx;
    float acc = 0.0f;
    if (col < cols)
        for (int n = ty; n < rows; n += 32) acc += x[(size_t)n * ld + col];
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && col < cols) {
        float s = part[0][tx];
        for (int y = 1; y < 32; y++) s += part[y][tx];
        out[col] += s;
    }
}

void cuda_col_sums(const cuda_ctx *c, float *out, const float *x, int rows, int cols, int ld) {
    if (cols <= 0) return;
    col_sums_kernel<<<blocks_for((size_t)cols, 32), dim3(32, 32), 0, c->stream>>>(out, x, rows, cols, ld);
    LAUNCH_OK();
}

// Row-major out[N, OC] = inp[N, IC] w[OC, IC]^T (+ b) is column-major out^T = w^T' inp^T: op(w) = T.
void cuda_linear_layer_forward(const backend *be, float *out, const float *inp, const float *w, const float *b,
                               int N, int IC, int OC) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0 || OC <= 0) return;
    if (b) {
        bias_fill_kernel<<<blocks_for((size_t)N * OC, 256), 256, 0, c->stream>>>(out, b, N, OC);
        LAUNCH_OK();
    }
    cuda_gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, IC, 1.0f, w, IC, inp, IC, b ? 1.0f : 0.0f, out, OC);
}

// dinp[N, IC] = dout[N, OC] w[OC, IC]    (column-major dinp^T = w^T dout^T: both ops N; beta 0,
//                                         so dinp is written without being read)
// dw[OC, IC]  += dout^T inp              (column-major dw^T = inp^T dout: op(dout) = T)
// db[OC]      += column sums of dout
void cuda_linear_layer_backward(const backend *be, float *dinp, float *dw, float *db, const float *dout,
                                const float *inp, const float *w, int N, int IC, int OC) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0) return;
    if (dinp) cuda_gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, IC, N, OC, 1.0f, w, IC, dout, OC, 0.0f, dinp, IC);
    cuda_gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, IC, OC, N, 1.0f, inp, IC, dout, OC, 1.0f, dw, IC);
    if (db) cuda_col_sums(c, db, dout, N, OC, OC);
}
