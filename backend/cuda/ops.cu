// The ops of core/ops.h on the GPU (the linear layer is in gemm.cu): embedding, LayerNorm (alone and
// after the residual sum), GELU (with the bias add, and its backward with the bias gradient),
// residual, cross-entropy and mean pooling. Same arguments and semantics as the CPU; every backward
// accumulates (+=). Reductions run in a fixed order (no atomics): the same bits on every run.
#include <math.h>

#include "cuda_math.cuh"
#include "ops_cuda.cuh"

#define THREADS 256
// elementwise kernels stride over n with at most this many blocks
#define MAX_BLOCKS 65535u

static unsigned ew_blocks(size_t n) {
    unsigned b = blocks_for(n, THREADS);
    return b < MAX_BLOCKS ? b : MAX_BLOCKS;
}

// ------------------------------------------------------------------ embedding

// out[N, C] = wte[tok[n], :]: one thread per element.
__global__ void embed_forward_kernel(float *out, const int32_t *tok, const float *wte, int N, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, total = (size_t)N * C;
    for (; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t n = i / C, c = i % C;
        out[i] = wte[(size_t)tok[n] * C + c];
    }
}

void cuda_embed_forward(const backend *be, float *out, const int32_t *tok, const float *wte, int N, int C) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0 || C <= 0) return;
    embed_forward_kernel<<<ew_blocks((size_t)N * C), THREADS, 0, c->stream>>>(out, tok, wte, N, C);
    LAUNCH_OK();
}

// The row a token adds into (row_key in ops_cuda.cuh).
__device__ __forceinline__ int key_of(const row_key &k, int n) {
    if (k.kind == 0) return k.ids[n];
    const int32_t *p = k.ids + (size_t)n * k.rank;
    long i = k.rank == 1 ? (long)p[0] : (long)p[0] * k.grid_w + p[1];
    if (i < 0) i = 0;
    if (i >= k.rows) i = k.rows - 1;
    return (int)i;
}

// dst[key(n), c] += src[n, c]: grid (N tokens, channel blocks of blockDim.x). The block of token n
// works only if n is the first token with its key; it then adds, per channel, the rows of every
// token m >= n with that key in increasing m (found 32 at a time by a warp ballot), starting from
// dst's value: the CPU's order of additions, with no atomics.
__global__ void scatter_rows_kernel(float *dst, const float *src, row_key key, int N, int C) {
    const int n = blockIdx.x, lane = threadIdx.x & 31;
    const int v = key_of(key, n);
    for (int base = 0; base < n; base += 32) { // an earlier token owns row v: nothing to do
        int m = base + lane;
        if (__any_sync(FULL_MASK, m < n && key_of(key, m) == v)) return;
    }
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    float acc = c < C ? dst[(size_t)v * C + c] : 0.0f;
    for (int base = n; base < N; base += 32) {
        int m = base + lane;
        unsigned hits = __ballot_sync(FULL_MASK, m < N && key_of(key, m) == v);
        while (hits) {
            int i = __ffs(hits) - 1;
            hits &= hits - 1;
            if (c < C) acc = __fadd_rn(acc, src[(size_t)(base + i) * C + c]);
        }
    }
    if (c < C) dst[(size_t)v * C + c] = acc;
}

void cuda_scatter_rows(const cuda_ctx *c, float *dst, const float *src, row_key key, int N, int C) {
    if (N <= 0 || C <= 0) return;
    const int threads = 128; // a multiple of 32: the ballots need whole warps
    dim3 grid((unsigned)N, blocks_for((size_t)C, threads));
    scatter_rows_kernel<<<grid, threads, 0, c->stream>>>(dst, src, key, N, C);
    LAUNCH_OK();
}

void cuda_embed_backward(const backend *be, float *dwte, const float *dout, const int32_t *tok, int N, int C) {
    row_key k = {0, tok, 1, 0, 0};
    cuda_scatter_rows(ctx_of(be), dwte, dout, k, N, C);
}

// ------------------------------------------------------------------ LayerNorm

// y[C] = LayerNorm of the row x[C] by the 32 lanes of one warp (lane strides, then the warp's
// butterfly), its mean and rstd written by lane 0. Each lane reads only the x[c] of its own stride.
__device__ __forceinline__ void layernorm_row_warp(float *y, float *mean, float *rstd, const float *x, const float *g,
                                                   const float *b, int C, float eps, int lane) {
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += x[c];
    const float m = warp_sum(s) / (float)C;
    float q = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float d = x[c] - m;
        q = __fadd_rn(q, __fmul_rn(d, d));
    }
    const float var = warp_sum(q) / (float)C;
    const float r = 1.0f / sqrtf(var + eps);
    for (int c = lane; c < C; c += 32) y[c] = __fadd_rn(__fmul_rn(__fmul_rn(x[c] - m, r), g[c]), b[c]);
    if (lane == 0) *mean = m, *rstd = r;
}

// out[N, C] = (x - mean) * rstd * g + b, mean[N], rstd[N]: one warp per row (8 rows per block).
__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp, const float *g,
                                         const float *b, int N, int C, float eps) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return; // the whole warp
    const size_t o = (size_t)row * C;
    layernorm_row_warp(out + o, mean + row, rstd + row, inp + o, g, b, C, eps, lane);
}

// res[N, C] = (res + bias) + x, then ln = LayerNorm(res), mean[N], rstd[N]: one warp per row, each
// lane normalising the elements it has just written.
__global__ void residual_layernorm_forward_kernel(float *res, float *ln, float *mean, float *rstd, const float *x,
                                                  const float *bias, const float *g, const float *b, int N, int C,
                                                  float eps) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const size_t o = (size_t)row * C;
    for (int c = lane; c < C; c += 32) res[o + c] = __fadd_rn(__fadd_rn(res[o + c], bias[c]), x[o + c]);
    layernorm_row_warp(ln + o, mean + row, rstd + row, res + o, g, b, C, eps, lane);
}

void cuda_layernorm_forward(const backend *be, float *out, float *mean, float *rstd, const float *inp, const float *g,
                            const float *b, int N, int C, float eps) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0 || C <= 0) return;
    layernorm_forward_kernel<<<blocks_for((size_t)N, THREADS / 32), THREADS, 0, c->stream>>>(out, mean, rstd, inp, g,
                                                                                           b, N, C, eps);
    LAUNCH_OK();
}

void cuda_residual_layernorm_forward(const backend *be, float *res, float *ln, float *mean, float *rstd,
                                     const float *x, const float *bias, const float *g, const float *b, int N, int C,
                                     float eps) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0 || C <= 0) return;
    residual_layernorm_forward_kernel<<<blocks_for((size_t)N, THREADS / 32), THREADS, 0, c->stream>>>(
        res, ln, mean, rstd, x, bias, g, b, N, C, eps);
    LAUNCH_OK();
}

// dinp[N, C] += r * (dy g - mean(dy g) - xhat mean(dy g xhat)): one warp per row.
__global__ void layernorm_dinp_kernel(float *dinp, const float *dout, const float *inp, const float *g,
                                      const float *mean, const float *rstd, int N, int C) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    const float m = mean[row], r = rstd[row];
    float sd = 0.0f, sdx = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float dxhat = __fmul_rn(dy[c], g[c]);
        sd += dxhat;
        sdx = __fadd_rn(sdx, __fmul_rn(__fmul_rn(dxhat, x[c] - m), r));
    }
    sd = warp_sum(sd) / (float)C;
    sdx = warp_sum(sdx) / (float)C;
    for (int c = lane; c < C; c += 32) {
        float xhat = __fmul_rn(x[c] - m, r);
        float t = __fsub_rn(__fsub_rn(__fmul_rn(dy[c], g[c]), sd), __fmul_rn(xhat, sdx));
        dx[c] = __fadd_rn(dx[c], __fmul_rn(r, t));
    }
}

// The sum of v over the 32 row lanes of a (32 columns x 32 row lanes) block, lane 0 first, for
// column threadIdx.x; valid in row lane 0. part: 32 x 33 floats of shared memory, free for this call.
__device__ __forceinline__ float row_lanes_sum(float v, float (*part)[33]) {
    part[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    float s = part[0][threadIdx.x];
    if (threadIdx.y == 0)
        for (int y = 1; y < 32; y++) s += part[y][threadIdx.x];
    return s;
}

// dg[C] += sum_n dy (x - mean) rstd, db[C] += sum_n dy, and dbias[C] (when not NULL) += sum_n dinp
// (the finished dinp, as cuda_col_sums adds it): block (32 channels x 32 row lanes), lane y adds
// rows y, y+32, ... in order, then the 32 lane sums are added in order.
__global__ void layernorm_params_kernel(float *dg, float *db, float *dbias, const float *dinp, const float *dout,
                                        const float *inp, const float *mean, const float *rstd, int N, int C) {
    __shared__ float pg[32][33], pb[32][33], ps[32][33];
    const int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * 32 + tx;
    float ag = 0.0f, ab = 0.0f, as = 0.0f;
    if (c < C)
        for (int n = ty; n < N; n += 32) {
            float dy = dout[(size_t)n * C + c], x = inp[(size_t)n * C + c];
            ag = __fadd_rn(ag, __fmul_rn(__fmul_rn(dy, x - mean[n]), rstd[n]));
            ab += dy;
            if (dbias) as += dinp[(size_t)n * C + c];
        }
    const float sg = row_lanes_sum(ag, pg), sb = row_lanes_sum(ab, pb), ss = row_lanes_sum(as, ps);
    if (ty == 0 && c < C) {
        dg[c] += sg;
        db[c] += sb;
        if (dbias) dbias[c] += ss;
    }
}

void cuda_layernorm_backward_bias(const backend *be, float *dinp, float *dg, float *db, float *dbias,
                                  const float *dout, const float *inp, const float *g, const float *mean,
                                  const float *rstd, int N, int C) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0 || C <= 0) return;
    layernorm_dinp_kernel<<<blocks_for((size_t)N, THREADS / 32), THREADS, 0, c->stream>>>(dinp, dout, inp, g, mean,
                                                                                        rstd, N, C);
    LAUNCH_OK();
    layernorm_params_kernel<<<blocks_for((size_t)C, 32), dim3(32, 32), 0, c->stream>>>(dg, db, dbias, dinp, dout, inp,
                                                                                      mean, rstd, N, C);
    LAUNCH_OK();
}

void cuda_layernorm_backward(const backend *be, float *dinp, float *dg, float *db, const float *dout,
                             const float *inp, const float *g, const float *mean, const float *rstd, int N, int C) {
    cuda_layernorm_backward_bias(be, dinp, dg, db, NULL, dout, inp, g, mean, rstd, N, C);
}

// ------------------------------------------------------------------ GELU, residual

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

// 1 + erf(x / sqrt 2) = 2 Phi(x), and *e = e^(-x^2/2), which serves both the erf and the density:
// the CPU's gelu_parts, with its erf/exp arithmetic.
__device__ __forceinline__ float gelu_parts(float x, float *e) {
    *e = dev_expf(__fmul_rn(__fmul_rn(-0.5f, x), x));
    return __fadd_rn(1.0f, dev_erff_with(__fmul_rn(x, INV_SQRT2), *e));
}

// x = pre[N, C] + b[C]: out = GELU(x) = x Phi(x), pre = GELU'(x) = Phi(x) + x phi(x) (the backward's
// slope), both from one gelu_parts: one thread per element.
__global__ void bias_gelu_forward_kernel(float *pre, float *out, const float *b, int C, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float x = __fadd_rn(pre[i], b[i % C]), e, erf1 = gelu_parts(x, &e);
        pre[i] = __fadd_rn(__fmul_rn(0.5f, erf1), __fmul_rn(__fmul_rn(x, INV_SQRT_2PI), e));
        out[i] = __fmul_rn(__fmul_rn(0.5f, x), erf1);
    }
}

// In place: d[N, C] = d slope, db[C] += its column sums: block (32 columns x 32 row lanes), lane y
// takes rows y, y+32, ... in order, then the 32 lane sums are added in order (cuda_col_sums' order).
__global__ void gelu_backward_bias_kernel(float *d, float *db, const float *slope, int N, int C) {
    __shared__ float part[32][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    float acc = 0.0f;
    if (c < C)
        for (int n = threadIdx.y; n < N; n += 32) {
            const size_t i = (size_t)n * C + c;
            const float v = __fmul_rn(d[i], slope[i]);
            d[i] = v;
            acc += v;
        }
    const float s = row_lanes_sum(acc, part);
    if (threadIdx.y == 0 && c < C) db[c] += s;
}

void cuda_bias_gelu_forward(const backend *be, float *pre, float *out, const float *b, int N, int C) {
    if (N <= 0 || C <= 0) return;
    const size_t n = (size_t)N * C;
    bias_gelu_forward_kernel<<<ew_blocks(n), THREADS, 0, ctx_of(be)->stream>>>(pre, out, b, C, n);
    LAUNCH_OK();
}

void cuda_gelu_backward_bias(const backend *be, float *d, float *db, const float *slope, int N, int C) {
    if (N <= 0 || C <= 0) return;
    gelu_backward_bias_kernel<<<blocks_for((size_t)C, 32), dim3(32, 32), 0, ctx_of(be)->stream>>>(d, db, slope, N, C);
    LAUNCH_OK();
}

// ------------------------------------------------------------------ cross-entropy

// lse[N] = max + log(sum exp(z - max)) per row of logits[N, V]: one block per row, the exp sum in
// double (thread strides, then the block's fixed reduction tree).
__global__ void xent_lse_kernel(float *lse, const float *logits, int V) {
    __shared__ float shm[32];
    __shared__ double shd[32];
    const float *z = logits + (size_t)blockIdx.x * V;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float mx = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, z[v]);
    mx = warp_max(mx);
    if (lane == 0) shm[w] = mx;
    __syncthreads();
    mx = warp_max(lane < nw ? shm[lane] : -INFINITY);
    double s = 0.0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) s += (double)dev_expf(z[v] - mx);
    s = block_sum_d(s, shd);
    if (threadIdx.x == 0) lse[blockIdx.x] = mx + (float)log(s);
}

// red[0] = sum over rows with target >= 0 of lse - logit[target] (double), red[1] = their count:
// one block, thread strides over rows, then the block's fixed tree.
__global__ void xent_loss_kernel(double *red, const float *lse, const float *logits, const int32_t *targets, int N,
                                 int V) {
    __shared__ double shd[32];
    __shared__ int shi[32];
    double s = 0.0;
    int cnt = 0;
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        int t = targets[n];
        if (t >= 0) s += (double)lse[n] - (double)logits[(size_t)n * V + t], cnt++;
    }
    s = block_sum_d(s, shd);
    cnt = block_sum_i(cnt, shi);
    if (threadIdx.x == 0) red[0] = s, red[1] = (double)cnt;
}

double cuda_xent_forward(const backend *be, float *lse, const float *logits, const int32_t *targets, int N, int V) {
    cuda_ctx *c = ctx_of(be);
    if (N <= 0 || V <= 0) return 0.0;
    xent_lse_kernel<<<(unsigned)N, THREADS, 0, c->stream>>>(lse, logits, V);
    LAUNCH_OK();
    xent_loss_kernel<<<1, 1024, 0, c->stream>>>(c->dev_red, lse, logits, targets, N, V);
    LAUNCH_OK();
    CUDA_OK(cudaMemcpyAsync(c->host_red, c->dev_red, 2 * sizeof(double), cudaMemcpyDeviceToHost, c->stream));
    CUDA_OK(cudaStreamSynchronize(c->stream));
    const double total = c->host_red[0], count = c->host_red[1];
    return count > 0 ? total / count : 0.0;
}

// *count = number of targets >= 0 (one block).
__global__ void xent_count_kernel(int *count, const int32_t *targets, int N) {
    __shared__ int shi[32];
    int cnt = 0;
    for (int n = threadIdx.x; n < N; n += blockDim.x) cnt += targets[n] >= 0;
    cnt = block_sum_i(cnt, shi);
    if (threadIdx.x == 0) *count = cnt;
}

// dlogits[N, V] += dloss/count (softmax - onehot) on rows with a target: one block per row.
__global__ void xent_backward_kernel(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                     const int *count, int V, float dloss) {
    const int n = blockIdx.x, t = targets[n], cnt = *count;
    float *dz = dlogits + (size_t)n * V;
    if (t < 0 || cnt == 0) { // written, as the CPU: zeros
        for (int v = threadIdx.x; v < V; v += blockDim.x) dz[v] = 0.0f;
        return;
    }
    const float scale = dloss / (float)cnt, l = lse[n];
    const float *z = logits + (size_t)n * V;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float d = __fmul_rn(scale, dev_expf(z[v] - l));
        if (v == t) d = __fsub_rn(d, scale);
        dz[v] = d;
    }
}

void cuda_xent_backward(const backend *be, float *dlogits, const float *logits, const float *lse,
                        const int32_t *targets, int N, int V, float dloss) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0 || V <= 0) return;
    xent_count_kernel<<<1, 1024, 0, c->stream>>>(c->dev_int, targets, N);
    LAUNCH_OK();
    xent_backward_kernel<<<(unsigned)N, THREADS, 0, c->stream>>>(dlogits, logits, lse, targets, c->dev_int, V, dloss);
    LAUNCH_OK();
}

// ------------------------------------------------------------------ mean pooling

// Number of valid tokens of batch row b (T when valid is NULL), the same in every thread.
__device__ int valid_count(const uint8_t *valid, int b, int T, int *sh) {
    if (!valid) return T;
    int k = 0;
    for (int t = threadIdx.x; t < T; t += blockDim.x) k += valid[(size_t)b * T + t] != 0;
    return block_sum_i(k, sh);
}

// out[B, C] = mean of inp[b, t, :] over valid t (zeros without any): one block per b, each thread
// a channel, adding the tokens in order.
__global__ void meanpool_forward_kernel(float *out, const float *inp, const uint8_t *valid, int T, int C) {
    __shared__ int shi[32];
    const int b = blockIdx.x;
    const int k = valid_count(valid, b, T, shi);
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = 0.0f;
        if (k)
            for (int t = 0; t < T; t++)
                if (!valid || valid[(size_t)b * T + t]) acc += inp[((size_t)b * T + t) * C + c];
        out[(size_t)b * C + c] = k ? acc / (float)k : 0.0f;
    }
}

// dinp[b, t, :] += dout[b, :] / count_b on valid tokens: one block per (t, b).
__global__ void meanpool_backward_kernel(float *dinp, const float *dout, const uint8_t *valid, int T, int C) {
    __shared__ int shi[32];
    const int t = blockIdx.x, b = blockIdx.y;
    const int k = valid_count(valid, b, T, shi);
    if (!k || (valid && !valid[(size_t)b * T + t])) return;
    float *dx = dinp + ((size_t)b * T + t) * C;
    const float *dy = dout + (size_t)b * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dx[c] = __fadd_rn(dx[c], dy[c] / (float)k);
}

void cuda_meanpool_forward(const backend *be, float *out, const float *inp, const uint8_t *valid, int B, int T,
                           int C) {
    const cuda_ctx *c = ctx_of(be);
    if (B <= 0 || C <= 0) return;
    meanpool_forward_kernel<<<(unsigned)B, THREADS, 0, c->stream>>>(out, inp, valid, T, C);
    LAUNCH_OK();
}

void cuda_meanpool_backward(const backend *be, float *dinp, const float *dout, const uint8_t *valid, int B, int T,
                            int C) {
    const cuda_ctx *c = ctx_of(be);
    if (B <= 0 || T <= 0 || C <= 0) return;
    meanpool_backward_kernel<<<dim3((unsigned)T, (unsigned)B), THREADS, 0, c->stream>>>(dinp, dout, valid, T, C);
    LAUNCH_OK();
}
