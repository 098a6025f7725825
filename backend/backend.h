/* Compute backends: one table of operations per device (in the spirit of ggml's backend interface,
 * without a graph engine). The model and the trainer call only through this table, so the same
 * transformer runs on the CPU (backend/cpu.c: core/ and encodings/ as they are) or on an NVIDIA GPU
 * (backend/cuda/, built with `make CUDA=1`).
 *
 * Memory. Every float * / int32_t * / uint8_t * argument of an op is DEVICE memory of that backend
 * (from alloc, or host memory on a backend with host_memory = 1), except where marked "host".
 * Ops keep the conventions of core/ops.h: outputs first, inputs next, dimensions last; every
 * backward ACCUMULATES (+=) into its gradient outputs. Ops may run asynchronously; download and
 * the ops that return a number (xent_forward, grad_norm) wait for the work before them.
 *
 * Encodings. An encoding is opened once per backend (pe_open): the CPU backend calls the encoding's
 * own code (encodings/); another backend reads its transform as data (pe_describe in pe.h). */
#ifndef LRPE_BACKEND_H
#define LRPE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "attention.h"
#include "linattn.h"
#include "optim.h"
#include "pe.h"

typedef enum be_attn { BE_ATTN_SOFTMAX = 0, BE_ATTN_LINEAR } be_attn;

/* Matrix-product precision of a backend: fp32 is exact float32 (the default, CPU-identical
 * arithmetic); tf32 / bf16 are tensor-core modes of the CUDA backend. */
typedef enum be_precision { BE_FP32 = 0, BE_TF32, BE_BF16 } be_precision;

typedef struct backend backend;
typedef struct be_pe be_pe; /* an encoding opened on a backend */

struct backend {
    const char *name;   /* "cpu" | "cuda" */
    int host_memory;    /* 1: device pointers are host pointers (no copies needed) */
    be_precision precision;
    void *ctx;          /* the backend's own state */

    /* ---- memory (bytes) */
    /* A zeroed allocation, 64-byte aligned at least; NULL when out of memory. */
    void *(*alloc)(const backend *be, size_t bytes);
    void (*free)(const backend *be, void *p);
    void (*upload)(const backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(const backend *be, void *host_dst, const void *src, size_t bytes);
    void (*zero)(const backend *be, void *p, size_t bytes);
    /* Waits until every op issued so far has finished (timing); nothing to wait for on the CPU. */
    void (*synchronize)(const backend *be);
    /* Peak bytes allocated through this backend since it was opened; 0 on the CPU, whose memory is
     * the process's (see its peak resident size). */
    size_t (*memory_peak)(const backend *be);

    /* ---- the ops of core/ops.h (same arguments and semantics) */
    void (*embed_forward)(const backend *be, float *out, const int32_t *tok, const float *wte, int N, int C);
    void (*embed_backward)(const backend *be, float *dwte, const float *dout, const int32_t *tok, int N, int C);
    void (*linear_forward)(const backend *be, float *out, const float *inp, const float *w, const float *b, int N,
                           int IC, int OC);
    void (*linear_backward)(const backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, int N, int IC, int OC);
    void (*layernorm_forward)(const backend *be, float *out, float *mean, float *rstd, const float *inp,
                              const float *g, const float *b, int N, int C, float eps);
    void (*layernorm_backward)(const backend *be, float *dinp, float *dg, float *db, const float *dout,
                               const float *inp, const float *g, const float *mean, const float *rstd, int N, int C);
    /* the fused ops of core/ops.h: adjacent passes of the training step in one */
    void (*bias_gelu_forward)(const backend *be, float *pre, float *out, const float *b, int N, int C);
    /* in place on d, which it writes (core/ops.h) */
    void (*gelu_backward_bias)(const backend *be, float *d, float *db, const float *slope, int N, int C);
    void (*residual_layernorm_forward)(const backend *be, float *res, float *ln, float *mean, float *rstd,
                                       const float *x, const float *bias, const float *g, const float *b, int N,
                                       int C, float eps);
    void (*layernorm_backward_bias)(const backend *be, float *dinp, float *dg, float *db, float *dbias,
                                    const float *dout, const float *inp, const float *g, const float *mean,
                                    const float *rstd, int N, int C);
    /* Mean cross-entropy over rows with targets >= 0 (returned, host), lse[N] kept for backward. */
    double (*xent_forward)(const backend *be, float *lse, const float *logits, const int32_t *targets, int N, int V);
    /* writes dlogits (core/ops.h) */
    void (*xent_backward)(const backend *be, float *dlogits, const float *logits, const float *lse,
                          const int32_t *targets, int N, int V, float dloss);
    void (*meanpool_forward)(const backend *be, float *out, const float *inp, const uint8_t *valid, int B, int T,
                             int C);
    void (*meanpool_backward)(const backend *be, float *dinp, const float *dout, const uint8_t *valid, int B, int T,
                              int C);

    /* ---- linear attention's feature map and denominator normaliser (core/linattn.h) */
    void (*featuremap_forward_rows)(const backend *be, float *out, int ldo, const float *inp, int ldi, int rows,
                                    int cols, featuremap fm);
    /* y: the forward's output phi(x), not x (core/linattn.h) */
    void (*featuremap_backward_rows)(const backend *be, float *dinp, int lddi, const float *y, int ldy,
                                     const float *dout, int lddo, int rows, int cols, featuremap fm);
    void (*lin_denom_forward)(const backend *be, const lin_denom_shape *s, float *out, float *z, const float *num,
                              const float *fq, const float *fk, const uint8_t *valid, float *scratch);
    /* writes dnum, dfq and dfk (core/linattn.h) */
    void (*lin_denom_backward)(const backend *be, const lin_denom_shape *s, float *dnum, float *dfq, float *dfk,
                               const float *dout, const float *out, const float *z, const float *fq,
                               const float *fk, const uint8_t *valid, float *scratch);

    /* ---- attention kernels (core/attention.h; the shape's decay and slopes are device arrays) */
    /* Floats kept per layer between forward and backward. */
    size_t (*attn_saved_floats)(const backend *be, be_attn kind, const attn_shape *s);
    /* Floats of per-call working memory of the attention kernel and, with d (may be NULL), the
     * denominator normaliser. */
    size_t (*scratch_floats)(const backend *be, be_attn kind, const attn_shape *s, const lin_denom_shape *d);
    void (*attn_forward)(const backend *be, be_attn kind, const attn_shape *s, float *o, float *saved,
                         const float *q, const float *k, const float *v, const uint8_t *valid, float *scratch);
    void (*attn_backward)(const backend *be, be_attn kind, const attn_shape *s, float *dq, float *dk, float *dv,
                          const float *dout, const float *o, const float *saved, const float *q, const float *k,
                          const float *v, const uint8_t *valid, float *scratch);

    /* ---- encodings (pe.h): open once per model, then the EMBED and QK hooks */
    /* Opens encoding e after its parameters are registered (pe_describe's offsets are set then);
     * NULL with a one-line reason when this backend cannot run it. */
    be_pe *(*pe_open)(const backend *be, const pe *e, char *err, size_t errlen);
    void (*pe_close)(const backend *be, be_pe *p);
    void (*pe_embed_forward)(const backend *be, const be_pe *p, const float *params, float *out, const float *tok,
                             const int32_t *pos, int N);
    void (*pe_embed_backward)(const backend *be, const be_pe *p, const float *params, float *grads, float *dtok,
                              const float *dout, const int32_t *pos, int N);
    void (*pe_qk_forward)(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params,
                          const float *in, float *out);
    void (*pe_qk_backward)(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params,
                           float *grads, const float *in, const float *dout, float *din);

    /* ---- the optimizer (core/optim.h); tt is the host table */
    void (*adamw_step)(const backend *be, float *params, const float *grads, float *m, float *v,
                       const tensor_table *tt, const adamw_config *c, float lr, long t);
    /* L2 norm of g[n] (host result), the same for any thread count. */
    double (*grad_norm)(const backend *be, const float *g, size_t n);
    /* g[n] *= s. */
    void (*scale)(const backend *be, float *g, size_t n, float s);
};

/* The devices a backend can be opened for, and the precisions, in `lrpe` spellings. */
#define BACKEND_DEVICES "cpu | cuda"
#define BACKEND_PRECISIONS "fp32 | tf32 | bf16"

/* Opens the backend of `device` ("cpu" | "cuda") at this precision. Returns 0, or -1 with one line
 * saying which and how to fix it (unknown device, a build without CUDA, no GPU visible, a precision
 * the device does not have). The CPU backend is static; close it all the same. */
int backend_open(const backend **out, const char *device, be_precision precision, char *err, size_t errlen);
void backend_close(const backend *be);

/* "fp32" | "tf32" | "bf16" <-> be_precision; parse returns -1 when unknown. */
int be_precision_parse(const char *name);
const char *be_precision_name(be_precision p);

/* What the CUDA runtime reports about one GPU (provenance, `lrpe version`). */
typedef struct backend_gpu {
    char name[128];
    int cc_major, cc_minor;     /* compute capability */
    int driver, runtime, cublas; /* versions as the libraries report them (e.g. 13000) */
    size_t memory;              /* bytes */
} backend_gpu;

/* Fills up to max GPUs the CUDA runtime sees; returns their number, or 0 with the reason in why
 * (a build without CUDA, no driver, no device). */
int backend_gpus(backend_gpu *out, int max, char *why, size_t whylen);

/* The CPU backend (backend/cpu.c): fp32, and bf16 (its linear layers' products through gemm_bf16;
 * attention in fp32) for CPUs with AVX512-BF16. */
extern const backend backend_cpu, backend_cpu_bf16;

#endif
