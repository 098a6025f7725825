/* Reference implementations for the tests: see ref.h. Written for readability, not speed. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>

void ref_embed_forward(float *out, const int32_t *tok, const float *wte, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = wte[(size_t)tok[n] * C + c];
}

void ref_embed_backward(float *dwte, const float *dout, const int32_t *tok, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) dwte[(size_t)tok[n] * C + c] += dout[(size_t)n * C + c];
}

void ref_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IC, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < IC; i++) s += (double)inp[(size_t)n * IC + i] * w[(size_t)o * IC + i];
            out[(size_t)n * OC + o] = (float)s;
        }
}

void ref_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, int N, int IC, int OC) {
    if (dinp)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < IC; i++) {
                double s = 0.0;
                for (int o = 0; o < OC; o++) s += (double)dout[(size_t)n * OC + o] * w[(size_t)o * IC + i];
                dinp[(size_t)n * IC + i] = (float)s;
            }
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IC; i++) {
            double s = 0.0;
            for (int n = 0; n < N; n++) s += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * IC + i];
            dw[(size_t)o * IC + i] += (float)s;
        }
    if (db)
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
            db[o] += (float)s;
        }
}

/* mean and 1/sqrt(biased variance + eps) of one row, in double */
static void row_stats(const float *x, int C, float eps, double *mean, double *rstd) {
    double m = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    for (int c = 0; c < C; c++) var += ((double)x[c] - m) * ((double)x[c] - m);
    var /= C;
    *mean = m;
    *rstd = 1.0 / sqrt(var + (double)eps);
}

void ref_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g,
                           const float *b, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double m, r;
        row_stats(x, C, eps, &m, &r);
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = (float)(((double)x[c] - m) * r * g[c] + b[c]);
        mean[n] = (float)m;
        rstd[n] = (float)r;
    }
}

void ref_layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp,
                            const float *g, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        double m, r;
        row_stats(x, C, eps, &m, &r);
        /* the Jacobian of xhat_j = (x_j - mean) * rstd with respect to x_i is
         * rstd * (delta_ij - 1/C - xhat_i * xhat_j / C); y_j = xhat_j * g_j + b_j */
        for (int i = 0; i < C; i++) {
            double xhat_i = ((double)x[i] - m) * r, s = 0.0;
            for (int j = 0; j < C; j++) {
                double xhat_j = ((double)x[j] - m) * r;
                double jac = r * ((i == j ? 1.0 : 0.0) - 1.0 / C - xhat_i * xhat_j / C);
                s += (double)dy[j] * g[j] * jac;
            }
            dinp[(size_t)n * C + i] += (float)s;
        }
    }
    for (int c = 0; c < C; c++) {
        double sg = 0.0, sb = 0.0;
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            double m, r;
            row_stats(x, C, eps, &m, &r);
            sg += (double)dout[(size_t)n * C + c] * ((double)x[c] - m) * r;
            sb += dout[(size_t)n * C + c];
        }
        dg[c] += (float)sg;
        db[c] += (float)sb;
    }
}

/* standard normal CDF and density */
static double norm_cdf(double x) { return 0.5 * (1.0 + erf(x / sqrt(2.0))); }
static double norm_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846); }

void ref_gelu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)(inp[i] * norm_cdf(inp[i]));
}

void ref_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        dinp[i] += (float)(dout[i] * (norm_cdf(x) + x * norm_pdf(x)));
    }
}

void ref_residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ref_residual_backward(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

/* log sum_v exp(z[v]) in double, shifted by the max for range */
static double log_sum_exp(const float *z, int V) {
    double mx = z[0];
    for (int v = 1; v < V; v++)
        if (z[v] > mx) mx = z[v];
    double s = 0.0;
    for (int v = 0; v < V; v++) s += exp(z[v] - mx);
    return mx + log(s);
}

double ref_xent_forward(float *lse, const float *logits, const int32_t *targets, int N, int V) {
    double total = 0.0;
    int count = 0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        double l = log_sum_exp(z, V);
        lse[n] = (float)l;
        if (targets[n] < 0) continue;
        total += l - z[targets[n]];
        count++;
    }
    return count ? total / count : 0.0;
}

void ref_xent_backward(float *dlogits, const float *logits, const int32_t *targets, int N, int V, float dloss) {
    int count = 0;
    for (int n = 0; n < N; n++) count += targets[n] >= 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0) continue;
        const float *z = logits + (size_t)n * V;
        double l = log_sum_exp(z, V);
        for (int v = 0; v < V; v++) {
            double p = exp(z[v] - l), onehot = v == targets[n] ? 1.0 : 0.0;
            dlogits[(size_t)n * V + v] += (float)((double)dloss * (p - onehot) / count);
        }
    }
}

/* is token t of row b a real token */
static int is_valid(const uint8_t *valid, int b, int T, int t) { return !valid || valid[(size_t)b * T + t]; }

void ref_meanpool_forward(float *out, const float *inp, const uint8_t *valid, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        int count = 0;
        for (int t = 0; t < T; t++) count += is_valid(valid, b, T, t);
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int t = 0; t < T; t++)
                if (is_valid(valid, b, T, t)) s += inp[((size_t)b * T + t) * C + c];
            out[(size_t)b * C + c] = count ? (float)(s / count) : 0.0f;
        }
    }
}

void ref_meanpool_backward(float *dinp, const float *dout, const uint8_t *valid, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        int count = 0;
        for (int t = 0; t < T; t++) count += is_valid(valid, b, T, t);
        for (int t = 0; t < T; t++)
            if (is_valid(valid, b, T, t))
                for (int c = 0; c < C; c++)
                    dinp[((size_t)b * T + t) * C + c] += (float)((double)dout[(size_t)b * C + c] / count);
    }
}

/* Element (b, t, h, i) of a strided view with row stride ld and per-head width w. */
static size_t at(int b, int t, int h, int i, int T, int ld, int w) {
    return ((size_t)b * T + t) * ld + (size_t)h * w + i;
}

/* Probabilities P[T,T] of head (b,h): softmax over visible keys of scale * q.k (row of zeros when
 * a query sees no key); writes the row log-sum-exp to lse_row[T] when it is not NULL. */
static void attn_probs(const attn_shape *s, double *P, float *lse_row, const float *q, const float *k,
                       const uint8_t *valid, int b, int h) {
    const int T = s->T;
    const int R = s->pos_rank;
    const int32_t *pos = s->slopes ? s->pos + (size_t)b * T * R : NULL;
    for (int qs = 0; qs < T; qs++) {
        double *row = P + (size_t)qs * T;
        double mx = -INFINITY;
        for (int t = 0; t < T; t++) {
            int visible = (!s->causal || t <= qs) && is_valid(valid, b, T, t);
            double score = 0.0;
            for (int i = 0; i < s->dqk; i++)
                score += (double)q[at(b, qs, h, i, T, s->ldq, s->dqk)] * k[at(b, t, h, i, T, s->ldk, s->dqk)];
            score *= s->scale;
            if (pos) { /* ALiBi: -slope * distance, in the arithmetic of encodings/alibi.c */
                long dist = labs((long)pos[qs * R] - pos[t * R]);
                if (R == 2) dist += labs((long)pos[qs * R + 1] - pos[t * R + 1]);
                score += (float)(-(double)s->slopes[h] * dist);
            }
            row[t] = visible ? score : -INFINITY;
            if (row[t] > mx) mx = row[t];
        }
        if (isinf(mx)) { /* no visible key */
            for (int t = 0; t < T; t++) row[t] = 0.0;
            if (lse_row) lse_row[qs] = -INFINITY;
            continue;
        }
        double sum = 0.0;
        for (int t = 0; t < T; t++) sum += exp(row[t] - mx);
        for (int t = 0; t < T; t++) row[t] = exp(row[t] - mx) / sum;
        if (lse_row) lse_row[qs] = (float)(mx + log(sum));
    }
}

void ref_attn_softmax_forward(const attn_shape *s, float *o, float *lse, const float *q, const float *k,
                              const float *v, const uint8_t *valid) {
    const int T = s->T;
    double *P = malloc((size_t)T * T * sizeof *P);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            if (!P) { /* out of memory: poison the output so a comparison fails */
                for (int t = 0; t < T; t++)
                    for (int i = 0; i < s->dv; i++) o[at(b, t, h, i, T, s->ldo, s->dv)] = NAN;
                continue;
            }
            attn_probs(s, P, lse ? lse + ((size_t)b * s->H + h) * T : NULL, q, k, valid, b, h);
            for (int qs = 0; qs < T; qs++)
                for (int i = 0; i < s->dv; i++) {
                    double acc = 0.0;
                    for (int t = 0; t < T; t++) acc += P[(size_t)qs * T + t] * v[at(b, t, h, i, T, s->ldv, s->dv)];
                    o[at(b, qs, h, i, T, s->ldo, s->dv)] = (float)acc;
                }
        }
    free(P);
}

void ref_attn_softmax_backward(const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, const uint8_t *valid) {
    const int T = s->T;
    double *P = malloc((size_t)T * T * sizeof *P), *dS = malloc((size_t)T * T * sizeof *dS);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            if (!P || !dS) { /* out of memory: poison the gradient so a comparison fails */
                dq[at(b, 0, h, 0, T, s->ldq, s->dqk)] = NAN;
                continue;
            }
            attn_probs(s, P, NULL, q, k, valid, b, h);
            /* dv_t += sum_s P[s,t] dout_s */
            for (int t = 0; t < T; t++)
                for (int i = 0; i < s->dv; i++) {
                    double acc = 0.0;
                    for (int qs = 0; qs < T; qs++) acc += P[(size_t)qs * T + t] * dout[at(b, qs, h, i, T, s->ldo, s->dv)];
                    dv[at(b, t, h, i, T, s->ldv, s->dv)] += (float)acc;
                }
            /* dP[s,t] = dout_s . v_t; softmax Jacobian: dS[s,t] = P[s,t] (dP[s,t] - sum_u P[s,u] dP[s,u]) */
            for (int qs = 0; qs < T; qs++) {
                double *dSrow = dS + (size_t)qs * T;
                const double *Prow = P + (size_t)qs * T;
                for (int t = 0; t < T; t++) {
                    double dP = 0.0;
                    for (int i = 0; i < s->dv; i++)
                        dP += (double)dout[at(b, qs, h, i, T, s->ldo, s->dv)] * v[at(b, t, h, i, T, s->ldv, s->dv)];
                    dSrow[t] = dP;
                }
                double expected = 0.0;
                for (int t = 0; t < T; t++) expected += Prow[t] * dSrow[t];
                for (int t = 0; t < T; t++) dSrow[t] = Prow[t] * (dSrow[t] - expected);
            }
            /* S = scale * q.k: dq_s += scale * sum_t dS[s,t] k_t; dk_t += scale * sum_s dS[s,t] q_s */
            for (int qs = 0; qs < T; qs++)
                for (int i = 0; i < s->dqk; i++) {
                    double acc = 0.0;
                    for (int t = 0; t < T; t++) acc += dS[(size_t)qs * T + t] * k[at(b, t, h, i, T, s->ldk, s->dqk)];
                    dq[at(b, qs, h, i, T, s->ldq, s->dqk)] += (float)(s->scale * acc);
                }
            for (int t = 0; t < T; t++)
                for (int i = 0; i < s->dqk; i++) {
                    double acc = 0.0;
                    for (int qs = 0; qs < T; qs++) acc += dS[(size_t)qs * T + t] * q[at(b, qs, h, i, T, s->ldq, s->dqk)];
                    dk[at(b, t, h, i, T, s->ldk, s->dqk)] += (float)(s->scale * acc);
                }
        }
    free(P);
    free(dS);
}
