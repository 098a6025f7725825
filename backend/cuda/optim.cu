// The optimizer of core/optim.h on the GPU: AdamW with PyTorch's arithmetic exactly as
// core/optim.c writes it (round-to-nearest intrinsics, no fused multiply-adds), the gradient norm
// over a fixed partition summed in double, and scaling.
#include <math.h>

#include "cuda_math.cuh"
#include "ops_cuda.cuh"

// Tensors per AdamW launch: their offsets, sizes and decay factors travel as a kernel argument
// (no device table to upload, nothing to allocate).
#define ADAMW_BATCH 64
struct adamw_batch {
    size_t off[ADAMW_BATCH], numel[ADAMW_BATCH];
    float decay[ADAMW_BATCH];
};

struct adamw_consts {
    float beta1, beta2, one_m_beta1, one_m_beta2, eps, bc2_sqrt, step_size;
};

// One AdamW update of the tensors of a batch: tensor blockIdx.y, its elements strided over blockIdx.x.
__global__ void adamw_kernel(float *params, const float *grads, float *m, float *v, adamw_batch tb, adamw_consts k) {
    const int t = blockIdx.y;
    const size_t off = tb.off[t], n = tb.numel[t];
    const float decay = tb.decay[t];
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        const size_t i = off + j;
        const float g = grads[i];
        const float mi = __fadd_rn(__fmul_rn(k.beta1, m[i]), __fmul_rn(k.one_m_beta1, g));
        const float vi = __fadd_rn(__fmul_rn(k.beta2, v[i]), __fmul_rn(__fmul_rn(k.one_m_beta2, g), g));
        const float denom = __fadd_rn(__fdiv_rn(sqrtf(vi), k.bc2_sqrt), k.eps);
        params[i] = __fsub_rn(__fmul_rn(params[i], decay), __fdiv_rn(__fmul_rn(k.step_size, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

void cuda_adamw_step(const backend *be, float *params, const float *grads, float *m, float *v, const tensor_table *tt,
                     const adamw_config *c, float lr, long t) {
    const cuda_ctx *cx = ctx_of(be);
    adamw_consts k;
    k.beta1 = c->beta1, k.beta2 = c->beta2, k.eps = c->eps;
    k.one_m_beta1 = 1.0f - c->beta1, k.one_m_beta2 = 1.0f - c->beta2;
    // bias corrections in double, as core/optim.c
    k.bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, (double)t));
    k.step_size = (float)(lr / (1.0 - pow(c->beta1, (double)t)));
    adamw_batch tb = {};
    int nb = 0;
    size_t most = 0;
    for (int i = 0; i <= tt->n; i++) {
        if (i < tt->n) {
            const tensor_desc *d = &tt->t[i];
            if (d->frozen || d->numel == 0) continue;
            tb.off[nb] = d->offset, tb.numel[nb] = d->numel;
            tb.decay[nb] = (c->decay_kinds >> d->kind) & 1u ? 1.0f - lr * c->weight_decay : 1.0f;
            if (d->numel > most) most = d->numel;
            nb++;
        }
        if (nb == ADAMW_BATCH || (i == tt->n && nb > 0)) {
            unsigned bx = blocks_for(most, 256);
            if (bx > 1024) bx = 1024;
            adamw_kernel<<<dim3(bx, (unsigned)nb), 256, 0, cx->stream>>>(params, grads, m, v, tb, k);
            LAUNCH_OK();
            nb = 0, most = 0;
        }
    }
}

// The gradient norm's fixed partition: NORM_BLOCKS blocks of NORM_THREADS threads, whatever the GPU.
#define NORM_BLOCKS 256
#define NORM_THREADS 512

// part[blockIdx.x] = sum of g[i]^2 in double over i = global thread id + k * all threads (each
// thread in order, then the block's fixed tree).
__global__ void sumsq_kernel(double *part, const float *g, size_t n) {
    __shared__ double sh[32];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        s += (double)g[i] * g[i];
    s = block_sum_d(s, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

double cuda_grad_norm(const backend *be, const float *g, size_t n) {
    cuda_ctx *c = ctx_of(be);
    if (!n) return 0.0;
    static_assert(NORM_BLOCKS <= CUDA_RED_MAX, "partial sums fit the reduction buffer");
    sumsq_kernel<<<NORM_BLOCKS, NORM_THREADS, 0, c->stream>>>(c->dev_red, g, n);
    LAUNCH_OK();
    CUDA_OK(cudaMemcpyAsync(c->host_red, c->dev_red, NORM_BLOCKS * sizeof(double), cudaMemcpyDeviceToHost, c->stream));
    CUDA_OK(cudaStreamSynchronize(c->stream));
    double total = 0.0;
    for (int b = 0; b < NORM_BLOCKS; b++) total += c->host_red[b]; // in order
    return sqrt(total);
}

// g[n] *= s.
__global__ void scale_kernel(float *g, size_t n, float s) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        g[i] = __fmul_rn(g[i], s);
}

void cuda_scale(const backend *be, float *g, size_t n, float s) {
    if (!n) return;
    unsigned b = blocks_for(n, 256);
    if (b > 65535u) b = 65535u;
    scale_kernel<<<b, 256, 0, ctx_of(be)->stream>>>(g, n, s);
    LAUNCH_OK();
}
