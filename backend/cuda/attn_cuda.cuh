// The attention kernels of the CUDA backend: softmax attention (attention.cu), linear attention,
// its feature map and its denominator normaliser (linattn.cu). Same arguments and semantics as the
// backend table entries of backend.h and the CPU kernels of core/ (attn_softmax.c, attn_linear.c,
// featuremap.c, lin_denom.c); every pointer is device memory, every op runs on ctx_of(be)->stream.
//
// Deterministic: no float atomics anywhere; every output element is written by one thread of one
// block, and every sum runs in an order fixed by the shape alone (not by scheduling), so a run
// repeats its bits. Working memory comes from the caller's scratch (cuda_scratch_floats): nothing
// is allocated during a step.
//
// Limits: any T, B, H; any per-head width (dqk, dv, d): the kernels walk the head dimension in
// tiles of 64, so odd widths and widths above 512 work (wider ones cost more: see each kernel).
#ifndef LRPE_ATTN_CUDA_CUH
#define LRPE_ATTN_CUDA_CUH

#include "cuda_ctx.cuh"

// ---- the backend table entries (backend.h)
size_t cuda_attn_saved_floats(const backend *be, be_attn kind, const attn_shape *s);
size_t cuda_scratch_floats(const backend *be, be_attn kind, const attn_shape *s, const lin_denom_shape *d);
void cuda_attn_forward(const backend *be, be_attn kind, const attn_shape *s, float *o, float *saved, const float *q,
                       const float *k, const float *v, const uint8_t *valid, float *scratch);
void cuda_attn_backward(const backend *be, be_attn kind, const attn_shape *s, float *dq, float *dk, float *dv,
                        const float *dout, const float *o, const float *saved, const float *q, const float *k,
                        const float *v, const uint8_t *valid, float *scratch);
void cuda_featuremap_forward_rows(const backend *be, float *out, int ldo, const float *inp, int ldi, int rows,
                                  int cols, featuremap fm);
void cuda_featuremap_backward_rows(const backend *be, float *dinp, int lddi, const float *y, int ldy,
                                   const float *dout, int lddo, int rows, int cols, featuremap fm);
void cuda_lin_denom_forward(const backend *be, const lin_denom_shape *s, float *out, float *z, const float *num,
                            const float *fq, const float *fk, const uint8_t *valid, float *scratch);
void cuda_lin_denom_backward(const backend *be, const lin_denom_shape *s, float *dnum, float *dfq, float *dfk,
                             const float *dout, const float *out, const float *z, const float *fq, const float *fk,
                             const uint8_t *valid, float *scratch);

// ---- shared by attention.cu and linattn.cu only (they define LRPE_ATTN_CUDA_IMPL first)
#ifdef LRPE_ATTN_CUDA_IMPL

// Linear attention (linattn.cu), called by cuda_attn_* of attention.cu.
size_t cuda_linear_scratch_floats(const attn_shape *s);
size_t cuda_lin_denom_scratch_floats(const lin_denom_shape *d);
void cuda_linear_forward(cudaStream_t st, const attn_shape *s, float *o, const float *q, const float *k,
                         const float *v, const uint8_t *valid, float *scratch);
void cuda_linear_backward(cudaStream_t st, const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                          const float *q, const float *k, const float *v, const uint8_t *valid, float *scratch);

// The tile machinery. A block of AT_THREADS threads works on 64 x 64 tiles held in shared memory
// with row stride AT_LD (odd, so reading a column touches 32 different banks); thread
// (tr, tc) = (tid / 16, tid % 16) owns the 4 x 4 register micro-tile of rows tr + 16 i and columns
// tc + 16 j (i, j < 4). The 16 threads of one row group tr are 16 adjacent lanes of one warp.
#define AT_TILE 64
#define AT_LD 65
#define AT_THREADS 256
#define AT_TILE_FLOATS (AT_TILE * AT_LD)

__device__ __forceinline__ int at_tr() { return (int)threadIdx.x >> 4; }
__device__ __forceinline__ int at_tc() { return (int)threadIdx.x & 15; }

// sm[r][c] = src[r*ld + c] (times rs[r] when rs, exactly 0 where rs[r] == 0) for r < nrows, c < ncols; 0 elsewhere.
__device__ __forceinline__ void at_load(float *sm, const float *src, long ld, int nrows, int ncols,
                                        const float *rs = nullptr) {
    for (int idx = (int)threadIdx.x; idx < AT_TILE * AT_TILE; idx += AT_THREADS) {
        int r = idx >> 6, c = idx & 63;
        float x = 0.0f;
        if (r < nrows && c < ncols) {
            x = src[(long)r * ld + c];
            if (rs) x = rs[r] == 0.0f ? 0.0f : x * rs[r];
        }
        sm[r * AT_LD + c] = x;
    }
}

// sm[r][c] = src[c*ld + r] (the transpose) for r < nrows, c < ncols; 0 elsewhere. Reads run along r: coalesced.
__device__ __forceinline__ void at_load_t(float *sm, const float *src, long ld, int nrows, int ncols) {
    for (int idx = (int)threadIdx.x; idx < AT_TILE * AT_TILE; idx += AT_THREADS) {
        int r = idx & 63, c = idx >> 6;
        sm[r * AT_LD + c] = (r < nrows && c < ncols) ? src[(long)c * ld + r] : 0.0f;
    }
}

__device__ __forceinline__ void at_zero(float acc[4][4]) {
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
}

// acc[i][j] += sum_k A[tr+16i][k] * B[tc+16j][k]   (A B^T of two row tiles)
__device__ __forceinline__ void at_mma_abt(float acc[4][4], const float *A, const float *B) {
    const int tr = at_tr(), tc = at_tc();
#pragma unroll 4
    for (int k = 0; k < AT_TILE; k++) {
        float a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; i++) a[i] = A[(tr + 16 * i) * AT_LD + k];
#pragma unroll
        for (int j = 0; j < 4; j++) b[j] = B[(tc + 16 * j) * AT_LD + k];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
}

// acc[i][j] += sum_k A[tr+16i][k] * B[k][tc+16j]   (A B)
__device__ __forceinline__ void at_mma_ab(float acc[4][4], const float *A, const float *B) {
    const int tr = at_tr(), tc = at_tc();
#pragma unroll 4
    for (int k = 0; k < AT_TILE; k++) {
        float a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; i++) a[i] = A[(tr + 16 * i) * AT_LD + k];
#pragma unroll
        for (int j = 0; j < 4; j++) b[j] = B[k * AT_LD + tc + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
}

// acc[i][j] += sum_k A[k][tr+16i] * B[k][tc+16j]   (A^T B)
__device__ __forceinline__ void at_mma_atb(float acc[4][4], const float *A, const float *B) {
    const int tr = at_tr(), tc = at_tc();
#pragma unroll 4
    for (int k = 0; k < AT_TILE; k++) {
        float a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; i++) a[i] = A[k * AT_LD + tr + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; j++) b[j] = B[k * AT_LD + tc + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
}

// acc = sum over the width w (in slices of 64) of X Y^T: X rows [nx x w] (stride ldx), Y rows [ny x w]
// (stride ldy), through the shared tiles As, Bs. Syncs before each load, so the caller may have used
// As / Bs just before; leaves them holding the last slice (synced: safe to read, not to overwrite).
__device__ __forceinline__ void at_gemm_abt(float acc[4][4], const float *X, long ldx, int nx, const float *Y, long ldy,
                                            int ny, int w, float *As, float *Bs) {
    at_zero(acc);
    for (int d0 = 0; d0 < w; d0 += AT_TILE) {
        const int wd = w - d0 < AT_TILE ? w - d0 : AT_TILE;
        __syncthreads();
        at_load(As, X + d0, ldx, nx, wd);
        at_load(Bs, Y + d0, ldy, ny, wd);
        __syncthreads();
        at_mma_abt(acc, As, Bs);
    }
}

// Sums v over the 16 lanes of the row group (xor butterfly: every lane gets the same bits).
__device__ __forceinline__ float at_group16_sum(float v) {
#pragma unroll
    for (int m = 8; m >= 1; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}
__device__ __forceinline__ float at_group16_max(float v) {
#pragma unroll
    for (int m = 8; m >= 1; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}

// Lets `kernel` use `bytes` (> 48 KiB) of dynamic shared memory; idempotent, cheap.
template <typename K>
static inline void at_smem_opt_in(K kernel, size_t bytes) {
    CUDA_OK(cudaFuncSetAttribute((const void *)kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

#endif // LRPE_ATTN_CUDA_IMPL

#endif
