// The table entries of the CUDA backend implemented in ops.cu, gemm.cu, encodings.cu and optim.cu,
// with exactly the signatures of backend.h (the attention helper's entries are in attn_cuda.cuh).
#ifndef LRPE_OPS_CUDA_CUH
#define LRPE_OPS_CUDA_CUH

#include "cuda_ctx.cuh"

// ---- ops.cu: core/ops.h
void cuda_embed_forward(const backend *be, float *out, const int32_t *tok, const float *wte, int N, int C);
void cuda_embed_backward(const backend *be, float *dwte, const float *dout, const int32_t *tok, int N, int C);
void cuda_layernorm_forward(const backend *be, float *out, float *mean, float *rstd, const float *inp, const float *g,
                            const float *b, int N, int C, float eps);
void cuda_layernorm_backward(const backend *be, float *dinp, float *dg, float *db, const float *dout,
                             const float *inp, const float *g, const float *mean, const float *rstd, int N, int C);
void cuda_bias_gelu_forward(const backend *be, float *pre, float *out, const float *b, int N, int C);
void cuda_gelu_backward_bias(const backend *be, float *d, float *db, const float *slope, int N, int C);
void cuda_residual_layernorm_forward(const backend *be, float *res, float *ln, float *mean, float *rstd,
                                     const float *x, const float *bias, const float *g, const float *b, int N, int C,
                                     float eps);
void cuda_layernorm_backward_bias(const backend *be, float *dinp, float *dg, float *db, float *dbias,
                                  const float *dout, const float *inp, const float *g, const float *mean,
                                  const float *rstd, int N, int C);
double cuda_xent_forward(const backend *be, float *lse, const float *logits, const int32_t *targets, int N, int V);
void cuda_xent_backward(const backend *be, float *dlogits, const float *logits, const float *lse,
                        const int32_t *targets, int N, int V, float dloss);
void cuda_meanpool_forward(const backend *be, float *out, const float *inp, const uint8_t *valid, int B, int T, int C);
void cuda_meanpool_backward(const backend *be, float *dinp, const float *dout, const uint8_t *valid, int B, int T,
                            int C);

// ---- gemm.cu: the linear layer
void cuda_linear_layer_forward(const backend *be, float *out, const float *inp, const float *w, const float *b,
                               int N, int IC, int OC);
void cuda_linear_layer_backward(const backend *be, float *dinp, float *dw, float *db, const float *dout,
                                const float *inp, const float *w, int N, int IC, int OC);

// Column sums (gemm.cu, also used by the LayerNorm backward): out[c] += sum over rows n of x[n*ld + c],
// c < cols, in a fixed order (per-thread row strides, then the 32 partial sums in order).
void cuda_col_sums(const cuda_ctx *c, float *out, const float *x, int rows, int cols, int ld);

// ---- encodings.cu: pe.h through pe_data
be_pe *cuda_pe_open(const backend *be, const pe *e, char *err, size_t errlen);
void cuda_pe_close(const backend *be, be_pe *p);
void cuda_pe_embed_forward(const backend *be, const be_pe *p, const float *params, float *out, const float *tok,
                           const int32_t *pos, int N);
void cuda_pe_embed_backward(const backend *be, const be_pe *p, const float *params, float *grads, float *dtok,
                            const float *dout, const int32_t *pos, int N);
void cuda_pe_qk_forward(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params, const float *in,
                        float *out);
void cuda_pe_qk_backward(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params, float *grads,
                         const float *in, const float *dout, float *din);

// ---- optim.cu: core/optim.h
void cuda_adamw_step(const backend *be, float *params, const float *grads, float *m, float *v, const tensor_table *tt,
                     const adamw_config *c, float lr, long t);
double cuda_grad_norm(const backend *be, const float *g, size_t n);
void cuda_scale(const backend *be, float *g, size_t n, float s);

// Rows owned by the first token that has their key (ops.cu, also used by the learned table of
// encodings.cu): dst[key(n), c] += src[n, c] over the tokens n with that key, in token order
// (CPU-identical, no atomics). key: 0 tokens tok[n]; 1 flattened positions clamped into [0, rows).
struct row_key {
    int kind;          // 0: tok[n]; 1: position index of pos[n * rank ...] (row * grid_w + col), clamped
    const int32_t *ids; // tok or pos
    int rank, grid_w, rows;
};
void cuda_scatter_rows(const cuda_ctx *c, float *dst, const float *src, row_key key, int N, int C);

#endif
