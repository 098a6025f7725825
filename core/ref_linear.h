/* Slow, obviously-correct references for linear attention (attn_linear), the feature maps and
 * the denominator normaliser (linattn.h), used only by the tests. Plain loops, sums in double, no
 * BLAS, no OpenMP; every backward ACCUMULATES (+=) and recomputes what it needs from the inputs.
 * Linear attention: o_s = sum_t [t visible from s] r_h^(s-t) (q_s . k_t) v_t, t visible when
 * valid[b,t] != 0 (valid may be NULL) and, if causal, t <= s; r_h = decay[h] when causal and
 * decay != NULL, else 1 (bidirectional ignores the decay). */
#ifndef LRPE_REF_LINEAR_H
#define LRPE_REF_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "linattn.h"

/* Recurrent form, token by token per (b, h): S_s = r S_{s-1} + k_s v_s^T (valid s), o_s = S_s^T q_s
 * (bidirectional: S = sum over valid t of k_t v_t^T for every s). Writes o. */
void ref_linattn_recurrent_forward(const attn_shape *s, float *o, const float *q, const float *k,
                                   const float *v, const uint8_t *valid);
/* dq, dk, dv += gradients of sum(o * dout) by the reverse recurrence: dq_s = S_s dout_s;
 * D_s = r D_{s+1} + q_s dout_s^T, dk_t = D_t v_t, dv_t = D_t^T k_t (valid t). */
void ref_linattn_recurrent_backward(const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, const uint8_t *valid);
/* Masked-quadratic form: the full T x T matrix W[s,t] = mask * r^(s-t) * q_s . k_t, o = W V. */
void ref_linattn_quadratic_forward(const attn_shape *s, float *o, const float *q, const float *k,
                                   const float *v, const uint8_t *valid);
/* dq, dk, dv += gradients of sum(o * dout) by matrix calculus on the quadratic form:
 * G = (dO V^T) o F (F the mask times decay), dQ = G K, dK = G^T Q, dV = W^T dO. */
void ref_linattn_quadratic_backward(const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, const uint8_t *valid);

/* out[n] = phi(inp[n]) (1+elu: x + 1 for x > 0 else exp(x); relu: max(x, 0)), in double. */
void ref_featuremap_forward(float *out, const float *inp, size_t n, featuremap fm);
/* dinp[n] += dout * phi'(inp). */
void ref_featuremap_backward(float *dinp, const float *inp, const float *dout, size_t n, featuremap fm);

/* Denominator: z_s = max(sum over visible t of fq_s . fk_t, LIN_DENOM_EPS) (pairwise, T x T),
 * out_s = num_s / z_s; writes out and z[N*H] (z may be NULL). */
void ref_lin_denom_forward(const lin_denom_shape *s, float *out, float *z, const float *num, const float *fq,
                           const float *fk, const uint8_t *valid);
/* dnum, dfq, dfk += gradients of sum(out * dout), z recomputed; zero through z where clamped. */
void ref_lin_denom_backward(const lin_denom_shape *s, float *dnum, float *dfq, float *dfk, const float *dout,
                            const float *num, const float *fq, const float *fk, const uint8_t *valid);

#endif
