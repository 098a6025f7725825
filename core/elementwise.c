#include <math.h>
#include <omp.h>

#include "fastmath.h"
#include "ops.h"
#include "vec.h"

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/* 1 + erf(x / sqrt 2) = 2 Phi(x), and *e = e^(-x^2/2), which serves both the erf and the density. */
static inline float gelu_parts(float x, float *e) {
    *e = lrpe_expf(-0.5f * x * x);
    return 1.0f + lrpe_erff_with(x * INV_SQRT2, *e);
}

/* GELU(x) = x Phi(x), exact erf form, from gelu_parts. */
static inline float gelu_from(float x, float erf1) { return 0.5f * x * erf1; }

/* GELU'(x) = Phi(x) + x phi(x), from gelu_parts. */
static inline float gelu_grad_from(float x, float erf1, float e) { return 0.5f * erf1 + x * INV_SQRT_2PI * e; }

static inline float gelu_of(float x) {
    float e, erf1 = gelu_parts(x, &e);
    return gelu_from(x, erf1);
}

static inline float gelu_grad_of(float x) {
    float e, erf1 = gelu_parts(x, &e);
    return gelu_grad_from(x, erf1, e);
}

/* out[i] = GELU(inp[i]) for i in [i0, i1). */
LRPE_VEC static void gelu_span(float *out, const float *inp, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) out[i] = gelu_of(inp[i]);
}

/* dinp[i] += dout[i] GELU'(inp[i]) for i in [i0, i1). */
LRPE_VEC static void gelu_grad_span(float *dinp, const float *inp, const float *dout, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) dinp[i] += dout[i] * gelu_grad_of(inp[i]);
}

void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += VEC_SPAN) gelu_span(out, inp, i, span_end(i, n));
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += VEC_SPAN) gelu_grad_span(dinp, inp, dout, i, span_end(i, n));
}

/* bias_gelu_forward on rows [n0, n1): GELU and its slope from one gelu_parts (the bits of gelu_of
 * and gelu_grad_of). */
LRPE_VEC static void bias_gelu_span(float *pre, float *out, const float *b, int n0, int n1, int C) {
    for (int n = n0; n < n1; n++) {
        float *p = pre + (size_t)n * C, *y = out + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            float x = p[c] + b[c], e, erf1 = gelu_parts(x, &e);
            y[c] = gelu_from(x, erf1);
            p[c] = gelu_grad_from(x, erf1, e);
        }
    }
}

void bias_gelu_forward(float *pre, float *out, const float *b, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += VEC_ROWS) bias_gelu_span(pre, out, b, n0, rows_end(n0, N), C);
}

/* gelu_backward_bias on the columns [c0, c0 + w) of every row, the rows in order. */
LRPE_VEC static void gelu_grad_bias_block(float *d, float *db, const float *slope, int N, int C, int c0, int w) {
    float acc[COL_CHUNK];
    for (int j = 0; j < w; j++) acc[j] = 0.0f;
    for (int n = 0; n < N; n++) {
        const size_t o = (size_t)n * C + c0;
        for (int j = 0; j < w; j++) {
            float v = d[o + j] * slope[o + j];
            d[o + j] = v;
            acc[j] += v;
        }
    }
    for (int j = 0; j < w; j++) db[c0 + j] += acc[j];
}

/* Each thread owns blocks of columns and walks their rows in order. */
void gelu_backward_bias(float *d, float *db, const float *slope, int N, int C) {
    const int block = col_block(C);
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += block) gelu_grad_bias_block(d, db, slope, N, C, c0, C - c0 < block ? C - c0 : block);
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void residual_backward(float *da, float *db, const float *dout, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}
