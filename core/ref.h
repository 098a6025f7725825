/* Slow, obviously-correct reference implementations of every op in ops.h and of softmax
 * attention (attention.h), used only by the tests to check the fast kernels.
 * Plain loops in textbook form, every sum accumulated in double, no BLAS, no OpenMP.
 * Same conventions as the fast ops: outputs first, dims last, every backward ACCUMULATES (+=).
 * Where a fast backward reads statistics saved by its forward (LayerNorm mean/rstd, the
 * cross-entropy lse, attention's lse and output), the reference recomputes them from the inputs. */
#ifndef LRPE_REF_H
#define LRPE_REF_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"

/* out[N,C] = wte[tok[n], :]. */
void ref_embed_forward(float *out, const int32_t *tok, const float *wte, int N, int C);
/* dwte[V,C] += dout[n,:] added to row tok[n], for every n. */
void ref_embed_backward(float *dwte, const float *dout, const int32_t *tok, int N, int C);

/* out[N,OC] = inp[N,IC] . w[OC,IC]^T + b[OC] (b may be NULL). */
void ref_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IC, int OC);
/* dinp[N,IC] = dout.w; dw[OC,IC] += dout^T.inp; db[OC] += sum over n of dout (dinp, db may be NULL). */
void ref_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, int N, int IC, int OC);

/* out[N,C] = (x - mean) / sqrt(var + eps) * g + b per row (biased var); writes mean[N], rstd[N]. */
void ref_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g,
                           const float *b, int N, int C, float eps);
/* dinp[N,C], dg[C], db[C] += LayerNorm gradients (row statistics recomputed from inp). */
void ref_layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp,
                            const float *g, int N, int C, float eps);

/* out[n] = x * Phi(x), Phi the standard normal CDF (exact erf form). */
void ref_gelu_forward(float *out, const float *inp, size_t n);
/* dinp[n] += dout * (Phi(x) + x * phi(x)), phi the standard normal density. */
void ref_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* out[n] = a[n] + b[n]. */
void ref_residual_forward(float *out, const float *a, const float *b, size_t n);
/* da[n] += dout; db[n] += dout. */
void ref_residual_backward(float *da, float *db, const float *dout, size_t n);

/* Mean over rows with target >= 0 of -log softmax(logits[n,:])[target[n]] (0 if none);
 * writes lse[N] = log sum_v exp(logits[n,v]) for every row. */
double ref_xent_forward(float *lse, const float *logits, const int32_t *targets, int N, int V);
/* dlogits[N,V] += dloss * (softmax - onehot(target)) / count on rows not ignored. */
void ref_xent_backward(float *dlogits, const float *logits, const int32_t *targets, int N, int V, float dloss);

/* out[B,C] = mean of inp[b,t,:] over t with valid[b,t] (all t if valid is NULL); 0 if none. */
void ref_meanpool_forward(float *out, const float *inp, const uint8_t *valid, int B, int T, int C);
/* dinp[B,T,C] += dout[b,:] / count_b on valid tokens. */
void ref_meanpool_backward(float *dinp, const float *dout, const uint8_t *valid, int B, int T, int C);

/* Softmax attention on the strided views of attention.h: for each (b,h) the full score matrix
 * S[s,t] = scale * q_s . k_t, with -inf where t > s (causal) or valid[b,t] == 0, P = softmax over t,
 * o_s = sum_t P[s,t] v_t; a query with no visible key gets o = 0 and lse = -inf.
 * Writes o and lse[B,H,T] (the row log-sum-exp of S; may be NULL). */
void ref_attn_softmax_forward(const attn_shape *s, float *o, float *lse, const float *q, const float *k,
                              const float *v, const uint8_t *valid);
/* dq, dk, dv += gradients of sum(o * dout), with P recomputed from q and k. */
void ref_attn_softmax_backward(const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, const uint8_t *valid);

#endif
