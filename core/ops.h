/* Elementwise and dense ops of the transformer, as forward/backward pairs over flat float arrays.
 * Conventions (llm.c style): outputs first, inputs next, dimensions last; every backward
 * ACCUMULATES (+=) into its gradient outputs, which the caller zeroes once per step, except where
 * its comment says it writes one (the linear layer's input gradient, GELU's, cross-entropy's).
 * Row-major throughout; N is the number of rows (tokens), C the channels. */
#ifndef LRPE_OPS_H
#define LRPE_OPS_H

#include <stddef.h>
#include <stdint.h>

/* out[N,C] = wte[tok[n], :]. */
void embed_forward(float *out, const int32_t *tok, const float *wte, int N, int C);
/* dwte[V,C] += scatter of dout[N,C] by tok[N]; deterministic (channel-parallel). */
void embed_backward(float *dwte, const float *dout, const int32_t *tok, int N, int C);

/* out[N,OC] = inp[N,IC] . w[OC,IC]^T + b[OC] (nn.Linear layout; b may be NULL). gemm_f32. */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IC, int OC);
/* dinp[N,IC] = dout.w (written whole, its old contents never read: no zeroing first);
 * dw[OC,IC] += dout^T.inp; db[OC] += column sums of dout. dinp and db may be NULL (not needed). */
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int IC, int OC);
/* The same two with bf16 products and float32 accumulation (gemm_bf16): model.precision=bf16. */
void linear_forward_bf16(float *out, const float *inp, const float *w, const float *b, int N, int IC, int OC);
void linear_backward_bf16(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                          int N, int IC, int OC);

/* out[N,C] = (x - mean) * rstd * g + b, rstd = 1/sqrt(var + eps) (biased variance);
 * saves mean[N] and rstd[N] for the backward pass. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g,
                       const float *b, int N, int C, float eps);
/* dinp[N,C], dg[C], db[C] += LayerNorm gradients; dg/db reduced in a fixed order. */
void layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp,
                        const float *g, const float *mean, const float *rstd, int N, int C);
/* layernorm_backward, and dbias[C] (or NULL) += column sums of dinp AFTER it: the stream's last bias, one pass. */
void layernorm_backward_bias(float *dinp, float *dg, float *db, float *dbias, const float *dout, const float *inp,
                             const float *g, const float *mean, const float *rstd, int N, int C);
/* res[N,C] = (res + bias[C]) + x (res: a product without its bias); ln, mean[N], rstd[N] = LayerNorm(res). */
void residual_layernorm_forward(float *res, float *ln, float *mean, float *rstd, const float *x, const float *bias,
                                const float *g, const float *b, int N, int C, float eps);

/* GELU, exact erf form (PyTorch's nn.GELU() default): out = x * Phi(x), n elements. */
void gelu_forward(float *out, const float *inp, size_t n);
/* dinp[n] += dout * (Phi(x) + x * phi(x)). */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
/* With x = pre[N,C] + b[C] (pre: a product without its bias): out[N,C] = GELU(x) and pre becomes
 * GELU'(x), the slope gelu_backward_bias multiplies by (one pass: the erf and exponential serve
 * both, and the backward computes neither). */
void bias_gelu_forward(float *pre, float *out, const float *b, int N, int C);
/* In place, one pass: d[N,C] holds the gradient of a GELU's output and becomes that of its input,
 * d * slope (GELU' there: what bias_gelu_forward left); db[C] += its column sums (the bias before
 * the GELU). Writes d, unlike the accumulating backwards: the model needs no second buffer, nor to
 * zero one. */
void gelu_backward_bias(float *d, float *db, const float *slope, int N, int C);

/* out[n] = a[n] + b[n]. */
void residual_forward(float *out, const float *a, const float *b, size_t n);
/* da[n] += dout; db[n] += dout. */
void residual_backward(float *da, float *db, const float *dout, size_t n);

/* Softmax cross-entropy over rows of logits[N,V] with targets[N]; a negative target is ignored.
 * Writes lse[N] (log-sum-exp per row, for the backward) and returns the MEAN loss over the
 * rows not ignored (0 when all are ignored). Summed in double, in a fixed order. */
double xent_forward(float *lse, const float *logits, const int32_t *targets, int N, int V);
/* dlogits[N,V] = dloss * (softmax - onehot) / count, zeros on ignored rows (and everywhere when
 * every row is ignored). Writes dlogits, unlike the accumulating backwards: the model need not
 * zero it first. */
void xent_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                   int N, int V, float dloss);
/* Number of rows whose target is not ignored. */
int xent_count(const int32_t *targets, int N);

/* out[B,C] = mean over t with valid[b,t] != 0 of inp[b,t,:]; valid NULL means all tokens.
 * A row with no valid token gives zeros. */
void meanpool_forward(float *out, const float *inp, const uint8_t *valid, int B, int T, int C);
/* dinp[B,T,C] += dout[b,:] / count_b on valid tokens. */
void meanpool_backward(float *dinp, const float *dout, const uint8_t *valid, int B, int T, int C);

#endif
