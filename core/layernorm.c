#include <math.h>
#include <omp.h>

#include "ops.h"
#include "vec.h"

/* y[C] = LayerNorm of the row x[C]; its mean and rstd into *mean, *rstd. */
static inline void layernorm_row(float *y, float *mean, float *rstd, const float *x, const float *g, const float *b,
                                 int C, float eps) {
    float m, v;
    VEC_SUM(m, C, c, x[c]);
    m /= (float)C;
    VEC_SUM(v, C, c, (x[c] - m) * (x[c] - m));
    v /= (float)C;
    float r = 1.0f / sqrtf(v + eps);
    for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * g[c] + b[c];
    *mean = m;
    *rstd = r;
}

/* layernorm_forward on rows [n0, n1). */
LRPE_VEC static void layernorm_span(float *out, float *mean, float *rstd, const float *inp, const float *g,
                                    const float *b, int n0, int n1, int C, float eps) {
    for (int n = n0; n < n1; n++)
        layernorm_row(out + (size_t)n * C, mean + n, rstd + n, inp + (size_t)n * C, g, b, C, eps);
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g,
                       const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += VEC_ROWS)
        layernorm_span(out, mean, rstd, inp, g, b, n0, rows_end(n0, N), C, eps);
}

/* residual_layernorm_forward on rows [n0, n1): the sum is normalised while the row is in cache. */
LRPE_VEC static void residual_layernorm_span(float *res, float *ln, float *mean, float *rstd, const float *x,
                                             const float *bias, const float *g, const float *b, int n0, int n1,
                                             int C, float eps) {
    for (int n = n0; n < n1; n++) {
        float *r = res + (size_t)n * C;
        const float *xr = x + (size_t)n * C;
        for (int c = 0; c < C; c++) r[c] = (r[c] + bias[c]) + xr[c];
        layernorm_row(ln + (size_t)n * C, mean + n, rstd + n, r, g, b, C, eps);
    }
}

void residual_layernorm_forward(float *res, float *ln, float *mean, float *rstd, const float *x, const float *bias,
                                const float *g, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += VEC_ROWS)
        residual_layernorm_span(res, ln, mean, rstd, x, bias, g, b, n0, rows_end(n0, N), C, eps);
}

void layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp,
                        const float *g, const float *mean, const float *rstd, int N, int C) {
    layernorm_backward_bias(dinp, dg, db, NULL, dout, inp, g, mean, rstd, N, C);
}

/* The input gradient of row n: dxhat = dy * g; dx += r * (dxhat - mean(dxhat) - xhat *
 * mean(dxhat * xhat)). */
static inline void layernorm_dx_row(float *dinp, const float *dout, const float *inp, const float *g,
                                    const float *mean, const float *rstd, int n, int C) {
    const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
    float *dx = dinp + (size_t)n * C;
    const float m = mean[n], r = rstd[n];
    float sum_d, sum_dx;
    VEC_SUM(sum_d, C, c, dy[c] * g[c]);
    VEC_SUM(sum_dx, C, c, dy[c] * g[c] * (x[c] - m) * r);
    sum_d /= (float)C;
    sum_dx /= (float)C;
    for (int c = 0; c < C; c++) {
        float xhat = (x[c] - m) * r;
        dx[c] += r * (dy[c] * g[c] - sum_d - xhat * sum_dx);
    }
}

/* The input gradient of rows [n0, n1). */
LRPE_VEC static void layernorm_dx_span(float *dinp, const float *dout, const float *inp, const float *g,
                                       const float *mean, const float *rstd, int n0, int n1, int C) {
    for (int n = n0; n < n1; n++) layernorm_dx_row(dinp, dout, inp, g, mean, rstd, n, C);
}

/* Row n's terms of the parameter gradients of the columns [c0, c0 + w) into the accumulators ag
 * (gain), ab (bias) and, when dbias, as (the column sums of the finished dinp). */
static inline void params_row(float *ag, float *ab, float *as, const float *dbias, const float *dinp, const float *dout,
                              const float *inp, const float *mean, const float *rstd, int n, int C, int c0, int w) {
    const float *x = inp + (size_t)n * C + c0, *dy = dout + (size_t)n * C + c0;
    const float m = mean[n], r = rstd[n];
    for (int j = 0; j < w; j++) {
        ag[j] += dy[j] * (x[j] - m) * r;
        ab[j] += dy[j];
    }
    if (dbias)
        for (int j = 0; j < w; j++) as[j] += dinp[(size_t)n * C + c0 + j];
}

/* Adds the accumulators of params_row into the gradients' columns [c0, c0 + w). */
static inline void params_add(float *dg, float *db, float *dbias, const float *ag, const float *ab, const float *as,
                              int c0, int w) {
    for (int j = 0; j < w; j++) {
        dg[c0 + j] += ag[j];
        db[c0 + j] += ab[j];
        if (dbias) dbias[c0 + j] += as[j];
    }
}

/* The parameter gradients of the columns [c0, c0 + w), and the column sums of the finished dinp
 * into dbias when it is not NULL; the rows in order. */
LRPE_VEC static void layernorm_params_block(float *dg, float *db, float *dbias, const float *dinp, const float *dout,
                                            const float *inp, const float *mean, const float *rstd, int N, int C,
                                            int c0, int w) {
    float ag[COL_CHUNK], ab[COL_CHUNK], as[COL_CHUNK];
    for (int j = 0; j < w; j++) ag[j] = ab[j] = as[j] = 0.0f;
    for (int n = 0; n < N; n++) params_row(ag, ab, as, dbias, dinp, dout, inp, mean, rstd, n, C, c0, w);
    params_add(dg, db, dbias, ag, ab, as, c0, w);
}

/* layernorm_backward_bias in one pass on one thread (C <= COL_CHUNK): each row's input gradient,
 * then its terms of the column sums, which add the rows in order as layernorm_params_block does:
 * the same bits as the two passes. */
LRPE_VEC static void layernorm_backward_one_pass(float *dinp, float *dg, float *db, float *dbias, const float *dout,
                                                 const float *inp, const float *g, const float *mean,
                                                 const float *rstd, int N, int C) {
    float ag[COL_CHUNK], ab[COL_CHUNK], as[COL_CHUNK];
    for (int j = 0; j < C; j++) ag[j] = ab[j] = as[j] = 0.0f;
    for (int n = 0; n < N; n++) {
        layernorm_dx_row(dinp, dout, inp, g, mean, rstd, n, C);
        params_row(ag, ab, as, dbias, dinp, dout, inp, mean, rstd, n, C, 0, C);
    }
    params_add(dg, db, dbias, ag, ab, as, 0, C);
}

void layernorm_backward_bias(float *dinp, float *dg, float *db, float *dbias, const float *dout, const float *inp,
                             const float *g, const float *mean, const float *rstd, int N, int C) {
    if (omp_get_max_threads() == 1 && C <= COL_CHUNK) { /* a shard's thread */
        layernorm_backward_one_pass(dinp, dg, db, dbias, dout, inp, g, mean, rstd, N, C);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += VEC_ROWS)
        layernorm_dx_span(dinp, dout, inp, g, mean, rstd, n0, rows_end(n0, N), C);
    /* each thread owns blocks of channels, every column's rows added in order */
    const int block = col_block(C);
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += block)
        layernorm_params_block(dg, db, dbias, dinp, dout, inp, mean, rstd, N, C, c0, C - c0 < block ? C - c0 : block);
}
