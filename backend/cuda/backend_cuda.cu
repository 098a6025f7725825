// The CUDA backend: opening GPU 0 (stream, cuBLAS handle at the requested precision, reduction
// buffers), its memory functions, the list of GPUs, and the table of operations
// (ops_cuda.cuh: this helper's files; attn_cuda.cuh: the attention kernels).
#include <string.h>

#include "attn_cuda.cuh"
#include "ops_cuda.cuh"

extern "C" {
#include "cuda_entry.h"
#include "err.h"
}

// cuBLAS workspace, given at open so cuBLAS never allocates during a step (NVIDIA recommends 32 MiB on Hopper).
#define BLAS_WS_BYTES ((size_t)32 << 20)

// ------------------------------------------------------------------ memory

// Counts an allocation of bytes at p (or its release, bytes 0) in the live bytes and their peak.
static void track(cuda_ctx *c, void *p, size_t bytes) {
    for (int i = 0; i < CUDA_LIVE_MAX; i++) {
        if (bytes && !c->live[i].p) { /* a free slot */
            c->live[i].p = p, c->live[i].bytes = bytes;
            c->live_bytes += bytes;
            if (c->live_bytes > c->peak_bytes) c->peak_bytes = c->live_bytes;
            return;
        }
        if (!bytes && c->live[i].p == p) {
            c->live_bytes -= c->live[i].bytes;
            c->live[i].p = NULL;
            return;
        }
    }
}

// A zeroed device allocation (cudaMalloc aligns to 256 bytes); NULL when out of memory.
static void *cuda_alloc(const backend *be, size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError(); // clear the (non-sticky) error, or the next launch check would report it
        return NULL;
    }
    CUDA_OK(cudaMemsetAsync(p, 0, bytes ? bytes : 1, ctx_of(be)->stream));
    track(ctx_of(be), p, bytes ? bytes : 1);
    return p;
}

// cudaFree waits for the device: no queued kernel still uses p.
static void cuda_free(const backend *be, void *p) {
    if (!p) return;
    track(ctx_of(be), p, 0);
    CUDA_OK(cudaFree(p));
}

static void cuda_synchronize(const backend *be) { CUDA_OK(cudaStreamSynchronize(ctx_of(be)->stream)); }

// Peak bytes of the backend's own allocations: the cuBLAS workspace and reduction buffers of open,
// then everything alloc handed out.
static size_t cuda_memory_peak(const backend *be) {
    const cuda_ctx *c = ctx_of(be);
    return c->peak_bytes + c->blas_ws_bytes + CUDA_RED_MAX * (sizeof(double) + sizeof(int));
}

// Host to device, ordered on the stream after the work before it; returns once the source has
// been read (pageable memory is staged by the driver anyway; the wait makes it hold for pinned
// sources too), so the caller may reuse or free it at once.
static void cuda_upload(const backend *be, void *dst, const void *host_src, size_t bytes) {
    cudaStream_t st = ctx_of(be)->stream;
    if (!bytes) return;
    CUDA_OK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, st));
    CUDA_OK(cudaStreamSynchronize(st));
}

// Device to host after the work queued before it; returns with the bytes in place.
static void cuda_download(const backend *be, void *host_dst, const void *src, size_t bytes) {
    cudaStream_t st = ctx_of(be)->stream;
    if (bytes) CUDA_OK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, st));
    CUDA_OK(cudaStreamSynchronize(st));
}

static void cuda_zero(const backend *be, void *p, size_t bytes) {
    if (bytes) CUDA_OK(cudaMemsetAsync(p, 0, bytes, ctx_of(be)->stream));
}

// ------------------------------------------------------------------ open / close

// The table, filled by name (open adds the precision and the context).
static void fill_table(backend *be) {
    memset(be, 0, sizeof *be);
    be->name = "cuda";
    be->host_memory = 0;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->synchronize = cuda_synchronize;
    be->memory_peak = cuda_memory_peak;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->zero = cuda_zero;
    be->embed_forward = cuda_embed_forward;
    be->embed_backward = cuda_embed_backward;
    be->linear_forward = cuda_linear_layer_forward;
    be->linear_backward = cuda_linear_layer_backward;
    be->layernorm_forward = cuda_layernorm_forward;
    be->layernorm_backward = cuda_layernorm_backward;
    be->bias_gelu_forward = cuda_bias_gelu_forward;
    be->gelu_backward_bias = cuda_gelu_backward_bias;
    be->residual_layernorm_forward = cuda_residual_layernorm_forward;
    be->layernorm_backward_bias = cuda_layernorm_backward_bias;
    be->xent_forward = cuda_xent_forward;
    be->xent_backward = cuda_xent_backward;
    be->meanpool_forward = cuda_meanpool_forward;
    be->meanpool_backward = cuda_meanpool_backward;
    be->featuremap_forward_rows = cuda_featuremap_forward_rows;
    be->featuremap_backward_rows = cuda_featuremap_backward_rows;
    be->lin_denom_forward = cuda_lin_denom_forward;
    be->lin_denom_backward = cuda_lin_denom_backward;
    be->attn_saved_floats = cuda_attn_saved_floats;
    be->scratch_floats = cuda_scratch_floats;
    be->attn_forward = cuda_attn_forward;
    be->attn_backward = cuda_attn_backward;
    be->pe_open = cuda_pe_open;
    be->pe_close = cuda_pe_close;
    be->pe_embed_forward = cuda_pe_embed_forward;
    be->pe_embed_backward = cuda_pe_embed_backward;
    be->pe_qk_forward = cuda_pe_qk_forward;
    be->pe_qk_backward = cuda_pe_qk_backward;
    be->adamw_step = cuda_adamw_step;
    be->grad_norm = cuda_grad_norm;
    be->scale = cuda_scale;
}

// Frees whatever of c was created (members still NULL are skipped), then c.
static void ctx_free(cuda_ctx *c) {
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->blas) cublasDestroy(c->blas);
    if (c->blas_ws) cudaFree(c->blas_ws);
    if (c->dev_red) cudaFree(c->dev_red);
    if (c->dev_int) cudaFree(c->dev_int);
    if (c->host_red) cudaFreeHost(c->host_red);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

// The math mode and compute type of a precision: fp32 pedantic (exact float32: no TF32, no
// emulation, whatever the environment says), tf32 on TF32 tensor cores, bf16 on bf16 tensor cores
// (inputs stay float; cuBLAS rounds them to bf16 inside, accumulates in float).
static void precision_modes(be_precision p, cublasMath_t *math, cublasComputeType_t *compute) {
    switch (p) {
    case BE_TF32: *math = CUBLAS_TF32_TENSOR_OP_MATH, *compute = CUBLAS_COMPUTE_32F_FAST_TF32; break;
    case BE_BF16: *math = CUBLAS_DEFAULT_MATH, *compute = CUBLAS_COMPUTE_32F_FAST_16BF; break;
    default: *math = CUBLAS_PEDANTIC_MATH, *compute = CUBLAS_COMPUTE_32F_PEDANTIC; break;
    }
}

int backend_cuda_open(const backend **out, be_precision precision, char *err, size_t errlen) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        const char *why = cudaGetErrorString(e != cudaSuccess ? e : cudaErrorNoDevice);
        cudaGetLastError();
        return errf(err, errlen, "model.device=cuda: no CUDA GPU is visible (%s); run on a machine with an NVIDIA "
                    "GPU and its driver, or set model.device=cpu", why);
    }
    if ((unsigned)precision > BE_BF16)
        return errf(err, errlen, "model.precision: the CUDA backend has no precision %d (" BACKEND_PRECISIONS ")",
                    (int)precision);
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    backend *be = (backend *)calloc(1, sizeof *be);
    if (!c || !be) {
        free(c), free(be);
        return errf(err, errlen, "model.device=cuda: out of host memory");
    }
    c->device = 0;
    c->precision = precision;
    const char *step = "cudaSetDevice";
    cublasMath_t math;
    precision_modes(precision, &math, &c->compute);
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    if ((e = cudaSetDevice(0)) != cudaSuccess) goto fail;
    step = "cudaStreamCreate";
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) goto fail;
    step = "device memory";
    if ((e = cudaMalloc((void **)&c->dev_red, CUDA_RED_MAX * sizeof(double))) != cudaSuccess) goto fail;
    if ((e = cudaMalloc((void **)&c->dev_int, CUDA_RED_MAX * sizeof(int))) != cudaSuccess) goto fail;
    if ((e = cudaMalloc(&c->blas_ws, BLAS_WS_BYTES)) != cudaSuccess) goto fail;
    c->blas_ws_bytes = BLAS_WS_BYTES;
    step = "pinned host memory";
    if ((e = cudaMallocHost((void **)&c->host_red, CUDA_RED_MAX * sizeof(double))) != cudaSuccess) goto fail;
    step = "cuBLAS";
    if ((bs = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS) goto fail;
    if ((bs = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS) goto fail;
    if ((bs = cublasSetWorkspace(c->blas, c->blas_ws, c->blas_ws_bytes)) != CUBLAS_STATUS_SUCCESS) goto fail;
    if ((bs = cublasSetMathMode(c->blas, math)) != CUBLAS_STATUS_SUCCESS) goto fail;
    fill_table(be);
    be->precision = precision;
    be->ctx = c;
    *out = be;
    return 0;
fail:
    ctx_free(c);
    free(be);
    cudaGetLastError();
    if (bs != CUBLAS_STATUS_SUCCESS)
        return errf(err, errlen, "model.device=cuda: cuBLAS could not start (%s); check the CUDA installation, or "
                    "set model.device=cpu", cublasGetStatusString(bs));
    return errf(err, errlen, "model.device=cuda: %s failed on GPU 0 (%s); run on a machine with a working NVIDIA GPU, "
                "or set model.device=cpu", step, cudaGetErrorString(e));
}

void backend_cuda_close(const backend *be) {
    if (!be) return;
    ctx_free(ctx_of(be));
    free((void *)be);
}

int backend_cuda_gpus(backend_gpu *out, int max, char *why, size_t whylen) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        errf(why, whylen, "no CUDA GPU is visible (%s)", cudaGetErrorString(e != cudaSuccess ? e : cudaErrorNoDevice));
        cudaGetLastError();
        return 0;
    }
    int driver = 0, runtime = 0, major = 0, minor = 0, patch = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cublasGetProperty(MAJOR_VERSION, &major);
    cublasGetProperty(MINOR_VERSION, &minor);
    cublasGetProperty(PATCH_LEVEL, &patch);
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
        backend_gpu *g = &out[k++];
        memset(g, 0, sizeof *g);
        size_t len = strnlen(prop.name, sizeof g->name - 1); // cut to fit
        memcpy(g->name, prop.name, len);
        g->name[len] = '\0';
        g->cc_major = prop.major, g->cc_minor = prop.minor;
        g->driver = driver, g->runtime = runtime;
        g->cublas = major * 10000 + minor * 100 + patch; // the CUBLAS_VERSION encoding (cublasGetVersion's)
        g->memory = prop.totalGlobalMem;
    }
    cudaGetLastError();
    if (!k) errf(why, whylen, "the CUDA runtime sees %d GPU(s) but could not read their properties", n);
    return k;
}
