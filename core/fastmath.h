/* exp and erf for float32 written with arithmetic and selects only, so loops calling them
 * vectorize (glibc's expf / erff are scalar calls; the selects need -fno-trapping-math, which the
 * Makefile sets). The polynomials use fmaf: one rounding per step, one instruction where the CPU
 * has FMA, and glibc's exact fmaf gives the same bits on a CPU without it (slower). Accuracy
 * (tests/test_ops.c checks it against libm): lrpe_expf within 3e-7 relative on [-87, 88] (7.2e-8
 * measured; inputs are clamped to [-87.3, 88.3]: exp(-87.3) is the smallest normal float),
 * lrpe_erff within 5e-7 absolute everywhere. */
#ifndef LRPE_FASTMATH_H
#define LRPE_FASTMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* e^x: x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor polynomial of degree 7 (error
 * 0.35^8 / 8! = 5e-9), 2^n built in the exponent bits. */
static inline float lrpe_expf(float x) {
    /* clamp (NaN goes to the low end here, so the integer conversion below is always defined) */
    float xc = x > -87.3f ? x : -87.3f; /* selects, not fminf / fmaxf: those are calls that block vectorizing */
    xc = xc < 88.3f ? xc : 88.3f; /* 2^n stays finite: n <= 127 */
    const float shift = 12582912.0f; /* 1.5 x 2^23: adding it rounds to an integer */
    float n = fmaf(xc, 1.44269504088896341f, shift) - shift;
    float r = fmaf(n, -1.42860682030941723e-06f, fmaf(n, -0.693145751953125f, xc)); /* ln2 in two parts */
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) * (1 << 23)}; /* 2^n, n in [-126, 127] */
    return x == x ? p * scale.f : x; /* NaN in, NaN out */
}

/* erf(x) = 1 - t P(t) e^(-x^2), t = 1 / (1 + 0.3275911 |x|) (Abramowitz and Stegun 7.1.26: error
 * below 1.5e-7 in exact arithmetic, below 5e-7 in float, largest near 0 where 1 - t P e^(-x^2)
 * cancels), with the sign of x. One smooth formula on purpose: switching to a series near 0 would
 * leave a step that finite-difference gradient checks see. e_mx2 must be e^(-x^2). */
static inline float lrpe_erff_with(float x, float e_mx2) {
    float a = fabsf(x);
    float t = 1.0f / fmaf(0.3275911f, a, 1.0f);
    float p = fmaf(fmaf(fmaf(fmaf(1.061405429f, t, -1.453152027f), t, 1.421413741f), t, -0.284496736f), t, 0.254829592f) * t;
    return copysignf(fmaf(-p, e_mx2, 1.0f), x);
}

/* erf(x). */
static inline float lrpe_erff(float x) { return lrpe_erff_with(x, lrpe_expf(-x * x)); }

/* e^x, but exactly 0 for x <= -87.3 (e^-87.3 is the smallest normal float), so a masked score of
 * -inf weighs nothing; NaN stays NaN. */
static inline float lrpe_exp_or_zero(float x) {
    float e = lrpe_expf(x); /* computed always: a select of two values vectorizes, a branch does not */
    return x <= -87.3f ? 0.0f : e;
}

#define LSE_LANES 16 /* independent partial maxima and sums, so the loops vectorize */

/* The largest of v[LSE_LANES], compared pairwise (v[j] with v[j + w], w = 8, 4, 2, 1): 4 dependent
 * steps instead of 15, in an order fixed whatever the vector width. */
static inline float lrpe_lanes_max(float *v) {
    for (int w = LSE_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) v[j] = v[j + w] > v[j] ? v[j + w] : v[j];
    return v[0];
}

/* The sum of v[LSE_LANES] in double, added pairwise as lrpe_lanes_max compares. */
static inline double lrpe_lanes_sum(const float *v) {
    double d[LSE_LANES];
    for (int j = 0; j < LSE_LANES; j++) d[j] = v[j];
    for (int w = LSE_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) d[j] += d[j + w];
    return d[0];
}

/* max_t z[t] over z[n] (-inf when n is 0), in LSE_LANES lanes. */
static inline float lrpe_row_max(const float *z, int n) {
    float mx[LSE_LANES];
    for (int j = 0; j < LSE_LANES; j++) mx[j] = -INFINITY;
    int t = 0;
    for (; t + LSE_LANES <= n; t += LSE_LANES)
#pragma omp simd
        for (int j = 0; j < LSE_LANES; j++) mx[j] = z[t + j] > mx[j] ? z[t + j] : mx[j];
    for (; t < n; t++) mx[t % LSE_LANES] = z[t] > mx[t % LSE_LANES] ? z[t] : mx[t % LSE_LANES];
    return lrpe_lanes_max(mx);
}

/* sum_t e^(z[t] - m) over z[n], in LSE_LANES float lanes added by lrpe_lanes_sum; when out is not
 * NULL, also out[t] = e^(z[t] - m) (out may be z). */
static inline double lrpe_sum_exp(float *out, const float *z, int n, float m) {
    float s[LSE_LANES];
    for (int j = 0; j < LSE_LANES; j++) s[j] = 0.0f;
    int t = 0;
    for (; t + LSE_LANES <= n; t += LSE_LANES)
#pragma omp simd
        for (int j = 0; j < LSE_LANES; j++) {
            float e = lrpe_exp_or_zero(z[t + j] - m);
            if (out) out[t + j] = e;
            s[j] += e;
        }
    for (; t < n; t++) {
        float e = lrpe_exp_or_zero(z[t] - m);
        if (out) out[t] = e;
        s[t % LSE_LANES] += e;
    }
    return lrpe_lanes_sum(s);
}

/* log sum_t e^z[t] over z[n]: the maximum and the sum kept in LSE_LANES float lanes (lane j takes
 * t = j mod LSE_LANES), the lanes combined pairwise, so the bits depend on neither the thread count
 * nor the vector width; the log in double (the cross-entropy's loss is reported); -inf when every
 * z[t] is -inf (or n is 0). */
static inline float lrpe_logsumexp(const float *z, int n) {
    const float m = lrpe_row_max(z, n);
    return m == -INFINITY ? -INFINITY : m + (float)log(lrpe_sum_exp(NULL, z, n, m));
}

/* Softmax of z[n] in place, returning its log-sum-exp (within an ulp or so of lrpe_logsumexp's:
 * the log is logf, one per attention row): one exponential per element (each e^(z - max) kept,
 * then divided by the sum). A row of -inf becomes zeros. */
static inline float lrpe_softmax_row(float *z, int n) {
    const float m = lrpe_row_max(z, n);
    if (m == -INFINITY) {
        for (int t = 0; t < n; t++) z[t] = 0.0f;
        return -INFINITY;
    }
    const float total = (float)lrpe_sum_exp(z, z, n, m), inv = 1.0f / total;
    for (int t = 0; t < n; t++) z[t] *= inv;
    return m + logf(total);
}

#endif
