/* The CPU backend: the code of core/ and encodings/ behind the backend table; device memory is host
 * memory (64-byte aligned), so nothing is copied. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "err.h"
#include "ops.h"

/* ---- memory */

static void *cpu_alloc(const backend *be, size_t bytes) { return arena_alloc((bytes + sizeof(float) - 1) / sizeof(float)); }
static void cpu_free(const backend *be, void *p) { free(p); }
static void cpu_copy(const backend *be, void *dst, const void *src, size_t bytes) {
    if (dst != src) memcpy(dst, src, bytes);
}
static void cpu_zero(const backend *be, void *p, size_t bytes) { memset(p, 0, bytes); }
static void cpu_synchronize(const backend *be) {}
static size_t cpu_memory_peak(const backend *be) { return 0; }

/* ---- ops: core/ops.h */

static void cpu_embed_forward(const backend *be, float *out, const int32_t *tok, const float *wte, int N, int C) {
    embed_forward(out, tok, wte, N, C);
}
static void cpu_embed_backward(const backend *be, float *dwte, const float *dout, const int32_t *tok, int N, int C) {
    embed_backward(dwte, dout, tok, N, C);
}
static void cpu_linear_forward(const backend *be, float *out, const float *inp, const float *w, const float *b, int N,
                               int IC, int OC) {
    linear_forward(out, inp, w, b, N, IC, OC);
}
static void cpu_linear_backward(const backend *be, float *dinp, float *dw, float *db, const float *dout,
                                const float *inp, const float *w, int N, int IC, int OC) {
    linear_backward(dinp, dw, db, dout, inp, w, N, IC, OC);
}
static void cpu_linear_forward_bf16(const backend *be, float *out, const float *inp, const float *w, const float *b,
                                    int N, int IC, int OC) {
    linear_forward_bf16(out, inp, w, b, N, IC, OC);
}
static void cpu_linear_backward_bf16(const backend *be, float *dinp, float *dw, float *db, const float *dout,
                                     const float *inp, const float *w, int N, int IC, int OC) {
    linear_backward_bf16(dinp, dw, db, dout, inp, w, N, IC, OC);
}
static void cpu_layernorm_forward(const backend *be, float *out, float *mean, float *rstd, const float *inp,
                                  const float *g, const float *b, int N, int C, float eps) {
    layernorm_forward(out, mean, rstd, inp, g, b, N, C, eps);
}
static void cpu_layernorm_backward(const backend *be, float *dinp, float *dg, float *db, const float *dout,
                                   const float *inp, const float *g, const float *mean, const float *rstd, int N,
                                   int C) {
    layernorm_backward(dinp, dg, db, dout, inp, g, mean, rstd, N, C);
}
static void cpu_bias_gelu_forward(const backend *be, float *pre, float *out, const float *b, int N, int C) {
    bias_gelu_forward(pre, out, b, N, C);
}
static void cpu_gelu_backward_bias(const backend *be, float *d, float *db, const float *slope, int N, int C) {
    gelu_backward_bias(d, db, slope, N, C);
}
static void cpu_residual_layernorm_forward(const backend *be, float *res, float *ln, float *mean, float *rstd,
                                           const float *x, const float *bias, const float *g, const float *b, int N,
                                           int C, float eps) {
    residual_layernorm_forward(res, ln, mean, rstd, x, bias, g, b, N, C, eps);
}
static void cpu_layernorm_backward_bias(const backend *be, float *dinp, float *dg, float *db, float *dbias,
                                        const float *dout, const float *inp, const float *g, const float *mean,
                                        const float *rstd, int N, int C) {
    layernorm_backward_bias(dinp, dg, db, dbias, dout, inp, g, mean, rstd, N, C);
}
static double cpu_xent_forward(const backend *be, float *lse, const float *logits, const int32_t *targets, int N,
                               int V) {
    return xent_forward(lse, logits, targets, N, V);
}
static void cpu_xent_backward(const backend *be, float *dlogits, const float *logits, const float *lse,
                              const int32_t *targets, int N, int V, float dloss) {
    xent_backward(dlogits, logits, lse, targets, N, V, dloss);
}
static void cpu_meanpool_forward(const backend *be, float *out, const float *inp, const uint8_t *valid, int B, int T,
                                 int C) {
    meanpool_forward(out, inp, valid, B, T, C);
}
static void cpu_meanpool_backward(const backend *be, float *dinp, const float *dout, const uint8_t *valid, int B,
                                  int T, int C) {
    meanpool_backward(dinp, dout, valid, B, T, C);
}

/* ---- linear attention's pieces: core/linattn.h */

static void cpu_featuremap_forward_rows(const backend *be, float *out, int ldo, const float *inp, int ldi, int rows,
                                        int cols, featuremap fm) {
    featuremap_forward_rows(out, ldo, inp, ldi, rows, cols, fm);
}
static void cpu_featuremap_backward_rows(const backend *be, float *dinp, int lddi, const float *y, int ldy,
                                         const float *dout, int lddo, int rows, int cols, featuremap fm) {
    featuremap_backward_rows(dinp, lddi, y, ldy, dout, lddo, rows, cols, fm);
}
static void cpu_lin_denom_forward(const backend *be, const lin_denom_shape *s, float *out, float *z, const float *num,
                                  const float *fq, const float *fk, const uint8_t *valid, float *scratch) {
    lin_denom_forward(s, out, z, num, fq, fk, valid, scratch);
}
static void cpu_lin_denom_backward(const backend *be, const lin_denom_shape *s, float *dnum, float *dfq, float *dfk,
                                   const float *dout, const float *out, const float *z, const float *fq,
                                   const float *fk, const uint8_t *valid, float *scratch) {
    lin_denom_backward(s, dnum, dfq, dfk, dout, out, z, fq, fk, valid, scratch);
}

/* ---- attention: core/attention.h */

/* The kernel of an attention kind. */
static const attn_kernel *kernel_of(be_attn kind) { return kind == BE_ATTN_LINEAR ? &attn_linear : &attn_softmax; }

static size_t cpu_attn_saved_floats(const backend *be, be_attn kind, const attn_shape *s) {
    return kernel_of(kind)->saved_floats(s);
}
static size_t cpu_scratch_floats(const backend *be, be_attn kind, const attn_shape *s, const lin_denom_shape *d) {
    const int nt = s->threads > 0 ? s->threads : omp_get_max_threads();
    size_t a = kernel_of(kind)->scratch_floats(s, nt), b = d ? lin_denom_scratch_floats(d, nt) : 0;
    return a > b ? a : b;
}
static void cpu_attn_forward(const backend *be, be_attn kind, const attn_shape *s, float *o, float *saved,
                             const float *q, const float *k, const float *v, const uint8_t *valid, float *scratch) {
    kernel_of(kind)->forward(s, o, saved, q, k, v, valid, scratch);
}
static void cpu_attn_backward(const backend *be, be_attn kind, const attn_shape *s, float *dq, float *dk, float *dv,
                              const float *dout, const float *o, const float *saved, const float *q, const float *k,
                              const float *v, const uint8_t *valid, float *scratch) {
    kernel_of(kind)->backward(s, dq, dk, dv, dout, o, saved, q, k, v, valid, scratch);
}

/* ---- encodings: the instance itself is the handle; its hooks run as they are */

static be_pe *cpu_pe_open(const backend *be, const pe *e, char *err, size_t errlen) { return (be_pe *)e; }
static void cpu_pe_close(const backend *be, be_pe *p) {}
static void cpu_pe_embed_forward(const backend *be, const be_pe *p, const float *params, float *out, const float *tok,
                                 const int32_t *pos, int N) {
    const pe *e = (const pe *)p;
    e->vt->embed_forward(e, params, out, tok, pos, N);
}
static void cpu_pe_embed_backward(const backend *be, const be_pe *p, const float *params, float *grads, float *dtok,
                                  const float *dout, const int32_t *pos, int N) {
    const pe *e = (const pe *)p;
    e->vt->embed_backward(e, params, grads, dtok, dout, pos, N);
}
static void cpu_pe_qk_forward(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params,
                              const float *in, float *out) {
    const pe *e = (const pe *)p;
    e->vt->qk_forward(e, r, params, in, out);
}
static void cpu_pe_qk_backward(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params,
                               float *grads, const float *in, const float *dout, float *din) {
    const pe *e = (const pe *)p;
    e->vt->qk_backward(e, r, params, grads, in, dout, din);
}

/* ---- optimizer: core/optim.h */

static void cpu_adamw_step(const backend *be, float *params, const float *grads, float *m, float *v,
                           const tensor_table *tt, const adamw_config *c, float lr, long t) {
    adamw_step(params, grads, m, v, tt, c, lr, t);
}
static double cpu_grad_norm(const backend *be, const float *g, size_t n) { return grad_norm(g, n); }
static void cpu_scale(const backend *be, float *g, size_t n, float s) { grad_scale(g, n, s); }

/* The table of the CPU backend at a precision, with the linear layers' two ops of that precision. */
#define CPU_BACKEND(prec, linear_fwd, linear_bwd)                 \
    {                                                             \
        .name = "cpu",                                            \
        .host_memory = 1,                                         \
        .precision = prec,                                        \
        .alloc = cpu_alloc,                                       \
        .free = cpu_free,                                         \
        .upload = cpu_copy,                                       \
        .download = cpu_copy,                                     \
        .zero = cpu_zero,                                         \
        .synchronize = cpu_synchronize,                           \
        .memory_peak = cpu_memory_peak,                           \
        .embed_forward = cpu_embed_forward,                       \
        .embed_backward = cpu_embed_backward,                     \
        .linear_forward = linear_fwd,                             \
        .linear_backward = linear_bwd,                            \
        .layernorm_forward = cpu_layernorm_forward,               \
        .layernorm_backward = cpu_layernorm_backward,             \
        .bias_gelu_forward = cpu_bias_gelu_forward,               \
        .gelu_backward_bias = cpu_gelu_backward_bias,             \
        .residual_layernorm_forward = cpu_residual_layernorm_forward, \
        .layernorm_backward_bias = cpu_layernorm_backward_bias,   \
        .xent_forward = cpu_xent_forward,                         \
        .xent_backward = cpu_xent_backward,                       \
        .meanpool_forward = cpu_meanpool_forward,                 \
        .meanpool_backward = cpu_meanpool_backward,               \
        .featuremap_forward_rows = cpu_featuremap_forward_rows,   \
        .featuremap_backward_rows = cpu_featuremap_backward_rows, \
        .lin_denom_forward = cpu_lin_denom_forward,               \
        .lin_denom_backward = cpu_lin_denom_backward,             \
        .attn_saved_floats = cpu_attn_saved_floats,               \
        .scratch_floats = cpu_scratch_floats,                     \
        .attn_forward = cpu_attn_forward,                         \
        .attn_backward = cpu_attn_backward,                       \
        .pe_open = cpu_pe_open,                                   \
        .pe_close = cpu_pe_close,                                 \
        .pe_embed_forward = cpu_pe_embed_forward,                 \
        .pe_embed_backward = cpu_pe_embed_backward,               \
        .pe_qk_forward = cpu_pe_qk_forward,                       \
        .pe_qk_backward = cpu_pe_qk_backward,                     \
        .adamw_step = cpu_adamw_step,                             \
        .grad_norm = cpu_grad_norm,                               \
        .scale = cpu_scale,                                       \
    }

const backend backend_cpu = CPU_BACKEND(BE_FP32, cpu_linear_forward, cpu_linear_backward);
const backend backend_cpu_bf16 = CPU_BACKEND(BE_BF16, cpu_linear_forward_bf16, cpu_linear_backward_bf16);
