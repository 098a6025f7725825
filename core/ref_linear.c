/* References for linear attention, feature maps and the denominator: see ref_linear.h.
 * Written for readability, not speed. */
#include "ref_linear.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Index of element (b, t, h, i) of a view with row stride ld and per-head width w. */
static size_t at(int b, int t, int h, int i, int T, int ld, int w) {
    return ((size_t)b * T + t) * ld + (size_t)h * w + i;
}

/* r_h of the recurrence: decay[h] when causal with a decay, else 1. */
static double head_decay(const attn_shape *s, int h) { return s->causal && s->decay ? s->decay[h] : 1.0; }

/* Whether key t of batch row b takes part (valid may be NULL). */
static int key_valid(const uint8_t *valid, int b, int T, int t) { return !valid || valid[(size_t)b * T + t]; }

/* F[s,t]: the mask times the decay r^(s-t) of the quadratic form. */
static double lin_factor(const attn_shape *s, const uint8_t *valid, int b, int h, int qs, int t) {
    if (!key_valid(valid, b, s->T, t)) return 0.0;
    if (!s->causal) return 1.0;
    if (t > qs) return 0.0;
    return pow(head_decay(s, h), qs - t);
}

/* q_s . k_t of head h, batch row b, in double. */
static double qk_dot(const attn_shape *s, const float *q, const float *k, int b, int h, int qs, int t) {
    double acc = 0.0;
    for (int i = 0; i < s->dqk; i++)
        acc += (double)q[at(b, qs, h, i, s->T, s->ldq, s->dqk)] * k[at(b, t, h, i, s->T, s->ldk, s->dqk)];
    return acc;
}

/* S[dqk, dv] = r S + k_t v_t^T (an add with r = 1 for the bidirectional sum). */
static void state_step(const attn_shape *s, double *S, double r, const float *k, const float *v, int b, int h,
                       int t, int add) {
    for (int i = 0; i < s->dqk; i++)
        for (int j = 0; j < s->dv; j++) {
            double kv = add ? (double)k[at(b, t, h, i, s->T, s->ldk, s->dqk)] * v[at(b, t, h, j, s->T, s->ldv, s->dv)]
                            : 0.0;
            S[(size_t)i * s->dv + j] = r * S[(size_t)i * s->dv + j] + kv;
        }
}

/* S = sum over the valid keys of k_t v_t^T (the bidirectional state). */
static void full_state(const attn_shape *s, double *S, const float *k, const float *v, const uint8_t *valid,
                       int b, int h) {
    memset(S, 0, sizeof *S * (size_t)s->dqk * s->dv);
    for (int t = 0; t < s->T; t++) state_step(s, S, 1.0, k, v, b, h, t, key_valid(valid, b, s->T, t));
}

void ref_linattn_recurrent_forward(const attn_shape *s, float *o, const float *q, const float *k,
                                   const float *v, const uint8_t *valid) {
    double *S = calloc((size_t)s->dqk * s->dv + 1, sizeof *S);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            double r = head_decay(s, h);
            if (s->causal) memset(S, 0, sizeof *S * (size_t)s->dqk * s->dv);
            else full_state(s, S, k, v, valid, b, h);
            for (int t = 0; t < s->T; t++) {
                if (s->causal) state_step(s, S, r, k, v, b, h, t, key_valid(valid, b, s->T, t));
                for (int j = 0; j < s->dv; j++) {
                    double acc = 0.0;
                    for (int i = 0; i < s->dqk; i++)
                        acc += (double)q[at(b, t, h, i, s->T, s->ldq, s->dqk)] * S[(size_t)i * s->dv + j];
                    o[at(b, t, h, j, s->T, s->ldo, s->dv)] = (float)acc;
                }
            }
        }
    free(S);
}

void ref_linattn_recurrent_backward(const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, const uint8_t *valid) {
    const int T = s->T, dqk = s->dqk, dvw = s->dv;
    double *S = calloc((size_t)dqk * dvw + 1, sizeof *S), *D = calloc((size_t)dqk * dvw + 1, sizeof *D);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            double r = head_decay(s, h);
            /* dq_s = S_s dout_s, S_s the state query s reads */
            if (s->causal) memset(S, 0, sizeof *S * (size_t)dqk * dvw);
            else full_state(s, S, k, v, valid, b, h);
            for (int t = 0; t < T; t++) {
                if (s->causal) state_step(s, S, r, k, v, b, h, t, key_valid(valid, b, T, t));
                for (int i = 0; i < dqk; i++) {
                    double acc = 0.0;
                    for (int j = 0; j < dvw; j++) acc += S[(size_t)i * dvw + j] * dout[at(b, t, h, j, T, s->ldo, dvw)];
                    dq[at(b, t, h, i, T, s->ldq, dqk)] += (float)acc;
                }
            }
            /* D_t = sum of r^(s-t) q_s dout_s^T over the queries s that see key t */
            memset(D, 0, sizeof *D * (size_t)dqk * dvw);
            if (!s->causal)
                for (int t = 0; t < T; t++)
                    for (int i = 0; i < dqk; i++)
                        for (int j = 0; j < dvw; j++)
                            D[(size_t)i * dvw + j] +=
                                (double)q[at(b, t, h, i, T, s->ldq, dqk)] * dout[at(b, t, h, j, T, s->ldo, dvw)];
            for (int t = T - 1; t >= 0; t--) {
                if (s->causal)
                    for (int i = 0; i < dqk; i++)
                        for (int j = 0; j < dvw; j++)
                            D[(size_t)i * dvw + j] = r * D[(size_t)i * dvw + j] +
                                (double)q[at(b, t, h, i, T, s->ldq, dqk)] * dout[at(b, t, h, j, T, s->ldo, dvw)];
                if (!key_valid(valid, b, T, t)) continue;
                for (int i = 0; i < dqk; i++) { /* dk_t = D_t v_t */
                    double acc = 0.0;
                    for (int j = 0; j < dvw; j++) acc += D[(size_t)i * dvw + j] * v[at(b, t, h, j, T, s->ldv, dvw)];
                    dk[at(b, t, h, i, T, s->ldk, dqk)] += (float)acc;
                }
                for (int j = 0; j < dvw; j++) { /* dv_t = D_t^T k_t */
                    double acc = 0.0;
                    for (int i = 0; i < dqk; i++) acc += D[(size_t)i * dvw + j] * k[at(b, t, h, i, T, s->ldk, dqk)];
                    dv[at(b, t, h, j, T, s->ldv, dvw)] += (float)acc;
                }
            }
        }
    free(S), free(D);
}

void ref_linattn_quadratic_forward(const attn_shape *s, float *o, const float *q, const float *k,
                                   const float *v, const uint8_t *valid) {
    const int T = s->T;
    double *W = malloc(((size_t)T * T + 1) * sizeof *W);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            for (int qs = 0; qs < T; qs++)
                for (int t = 0; t < T; t++) {
                    double f = lin_factor(s, valid, b, h, qs, t);
                    W[(size_t)qs * T + t] = f == 0.0 ? 0.0 : f * qk_dot(s, q, k, b, h, qs, t);
                }
            for (int qs = 0; qs < T; qs++)
                for (int j = 0; j < s->dv; j++) {
                    double acc = 0.0;
                    for (int t = 0; t < T; t++) acc += W[(size_t)qs * T + t] * v[at(b, t, h, j, T, s->ldv, s->dv)];
                    o[at(b, qs, h, j, T, s->ldo, s->dv)] = (float)acc;
                }
        }
    free(W);
}

void ref_linattn_quadratic_backward(const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, const uint8_t *valid) {
    const int T = s->T, dqk = s->dqk, dvw = s->dv;
    double *W = malloc(((size_t)T * T + 1) * sizeof *W), *G = malloc(((size_t)T * T + 1) * sizeof *G);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            for (int qs = 0; qs < T; qs++)
                for (int t = 0; t < T; t++) {
                    double f = lin_factor(s, valid, b, h, qs, t), dW = 0.0;
                    for (int j = 0; j < dvw; j++)
                        dW += (double)dout[at(b, qs, h, j, T, s->ldo, dvw)] * v[at(b, t, h, j, T, s->ldv, dvw)];
                    W[(size_t)qs * T + t] = f * qk_dot(s, q, k, b, h, qs, t);
                    G[(size_t)qs * T + t] = f * dW;
                }
            for (int qs = 0; qs < T; qs++) /* dQ = G K */
                for (int i = 0; i < dqk; i++) {
                    double acc = 0.0;
                    for (int t = 0; t < T; t++) acc += G[(size_t)qs * T + t] * k[at(b, t, h, i, T, s->ldk, dqk)];
                    dq[at(b, qs, h, i, T, s->ldq, dqk)] += (float)acc;
                }
            for (int t = 0; t < T; t++) { /* dK = G^T Q, dV = W^T dO */
                for (int i = 0; i < dqk; i++) {
                    double acc = 0.0;
                    for (int qs = 0; qs < T; qs++) acc += G[(size_t)qs * T + t] * q[at(b, qs, h, i, T, s->ldq, dqk)];
                    dk[at(b, t, h, i, T, s->ldk, dqk)] += (float)acc;
                }
                for (int j = 0; j < dvw; j++) {
                    double acc = 0.0;
                    for (int qs = 0; qs < T; qs++) acc += W[(size_t)qs * T + t] * dout[at(b, qs, h, j, T, s->ldo, dvw)];
                    dv[at(b, t, h, j, T, s->ldv, dvw)] += (float)acc;
                }
            }
        }
    free(W), free(G);
}

void ref_featuremap_forward(float *out, const float *inp, size_t n, featuremap fm) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(fm == FEATUREMAP_RELU ? (x > 0 ? x : 0.0) : (x > 0 ? x + 1.0 : exp(x)));
    }
}

void ref_featuremap_backward(float *dinp, const float *inp, const float *dout, size_t n, featuremap fm) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        double d = fm == FEATUREMAP_RELU ? (x > 0 ? 1.0 : 0.0) : (x > 0 ? 1.0 : exp(x));
        dinp[i] = (float)(dinp[i] + d * dout[i]);
    }
}

/* Whether query qs sees key t in the denominator. */
static int denom_sees(const lin_denom_shape *s, const uint8_t *valid, int b, int qs, int t) {
    return key_valid(valid, b, s->T, t) && (!s->causal || t <= qs);
}

/* Unclamped z of query qs, head h: pairwise sum of fq_s . fk_t over the keys it sees. */
static double denom_raw(const lin_denom_shape *s, const float *fq, const float *fk, const uint8_t *valid, int b,
                        int h, int qs) {
    double acc = 0.0;
    for (int t = 0; t < s->T; t++)
        if (denom_sees(s, valid, b, qs, t))
            for (int i = 0; i < s->d; i++)
                acc += (double)fq[at(b, qs, h, i, s->T, s->ldq, s->d)] * fk[at(b, t, h, i, s->T, s->ldk, s->d)];
    return acc;
}

void ref_lin_denom_forward(const lin_denom_shape *s, float *out, float *z, const float *num, const float *fq,
                           const float *fk, const uint8_t *valid) {
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++)
            for (int qs = 0; qs < s->T; qs++) {
                double raw = denom_raw(s, fq, fk, valid, b, h, qs);
                double zz = raw > LIN_DENOM_EPS ? raw : LIN_DENOM_EPS;
                if (z) z[((size_t)b * s->T + qs) * s->H + h] = (float)zz;
                for (int j = 0; j < s->dv; j++)
                    out[at(b, qs, h, j, s->T, s->ldo, s->dv)] = (float)(num[at(b, qs, h, j, s->T, s->ldn, s->dv)] / zz);
            }
}

void ref_lin_denom_backward(const lin_denom_shape *s, float *dnum, float *dfq, float *dfk, const float *dout,
                            const float *num, const float *fq, const float *fk, const uint8_t *valid) {
    const int T = s->T;
    double *dz = malloc(((size_t)T + 1) * sizeof *dz); /* dL/dz_s before the clamp, 0 where clamped */
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            for (int qs = 0; qs < T; qs++) {
                double raw = denom_raw(s, fq, fk, valid, b, h, qs);
                double zz = raw > LIN_DENOM_EPS ? raw : LIN_DENOM_EPS, dn = 0.0;
                for (int j = 0; j < s->dv; j++) {
                    double g = dout[at(b, qs, h, j, T, s->ldo, s->dv)];
                    dnum[at(b, qs, h, j, T, s->ldn, s->dv)] += (float)(g / zz);
                    dn += g * num[at(b, qs, h, j, T, s->ldn, s->dv)];
                }
                dz[qs] = raw > LIN_DENOM_EPS ? -dn / (zz * zz) : 0.0;
            }
            /* z_s = sum_t fq_s . fk_t: dfq_s += dz_s sum_t fk_t; dfk_t += sum_s dz_s fq_s */
            for (int qs = 0; qs < T; qs++)
                for (int i = 0; i < s->d; i++) {
                    double acc = 0.0;
                    for (int t = 0; t < T; t++)
                        if (denom_sees(s, valid, b, qs, t)) acc += dz[qs] * fk[at(b, t, h, i, T, s->ldk, s->d)];
                    dfq[at(b, qs, h, i, T, s->ldq, s->d)] += (float)acc;
                }
            for (int t = 0; t < T; t++)
                for (int i = 0; i < s->d; i++) {
                    double acc = 0.0;
                    for (int qs = 0; qs < T; qs++)
                        if (denom_sees(s, valid, b, qs, t)) acc += dz[qs] * fq[at(b, qs, h, i, T, s->ldq, s->d)];
                    dfk[at(b, t, h, i, T, s->ldk, s->d)] += (float)acc;
                }
        }
    free(dz);
}
