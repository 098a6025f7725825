/* The pieces of linear attention around the kernel (attn_linear in attention.h): the feature map
 * phi applied to q and k before any relative encoding, and the "denominator" normaliser applied
 * to the kernel's numerator after it (docs/encodings.md §4).
 * Conventions of ops.h: outputs first, dims last, every backward ACCUMULATES (+=). */
#ifndef LRPE_LINATTN_H
#define LRPE_LINATTN_H

#include <stddef.h>
#include <stdint.h>

/* The feature map phi of linear attention. */
typedef enum featuremap {
    FEATUREMAP_ELU1, /* "1+elu": 1 + x for x > 0, e^x otherwise (always positive) */
    FEATUREMAP_RELU, /* "relu": max(x, 0) */
} featuremap;

/* *out = the map named `name` ("1+elu" or "relu"); returns 0, or -1 (out untouched) if unknown. */
int featuremap_parse(featuremap *out, const char *name);
/* The name featuremap_parse accepts for fm ("?" for an invalid value). */
const char *featuremap_name(featuremap fm);
/* out[n] = phi(inp[n]); out may equal inp. On one thread (the model calls the rows form). */
void featuremap_forward(float *out, const float *inp, size_t n, featuremap fm);
/* dinp[n] += dout * phi'(x) given the forward's output y = phi(x) (not x): 1+elu: 1 for x > 0, e^x
 * otherwise; relu: 1 for x > 0, else 0. */
void featuremap_backward(float *dinp, const float *y, const float *dout, size_t n, featuremap fm);

/* The same over a rows x cols strided view (row strides ldo / ldi ...), e.g. the q or k columns of
 * the fused qkv buffer; OpenMP over rows. */
void featuremap_forward_rows(float *out, int ldo, const float *inp, int ldi, int rows, int cols, featuremap fm);
void featuremap_backward_rows(float *dinp, int lddi, const float *y, int ldy, const float *dout, int lddo, int rows,
                              int cols, featuremap fm);

/* z is clamped below at this value */
#define LIN_DENOM_EPS 1e-6f

/* Views of the denominator normaliser. Element (b, t, h, i) of fq lives at
 * fq[(b*T + t)*ldq + h*d + i] (fk likewise with ldk), of num at num[(b*T + t)*ldn + h*dv + i],
 * of out at out[(b*T + t)*ldo + h*dv + i]. */
typedef struct lin_denom_shape {
    int B, T, H;
    int d;        /* per-head width of fq, fk: the UNENCODED positive features phi(q), phi(k) */
    int dv;       /* per-head width of num and out */
    int ldq, ldk; /* row strides (floats) of fq and fk */
    int ldn, ldo; /* row strides of num and out */
    int causal;   /* 1: z_s sums keys t <= s only */
    int threads;  /* the threads the scratch was sized for (as attn_shape's); 0 = as many as OpenMP would start */
} lin_denom_shape;

/* Floats of working memory lin_denom_forward/backward need for nthreads threads. */
size_t lin_denom_scratch_floats(const lin_denom_shape *s, int nthreads);
/* Per (token s, head h): z_s = max(fq_s . sum_{t} fk_t, LIN_DENOM_EPS), the sum over keys with
 * valid[b,t] != 0 (valid may be NULL) and t <= s when causal; out_s = num_s / z_s.
 * Writes out and z[N*H] (z[(b*T + s)*H + h], kept for backward). out may equal num (same ld). */
void lin_denom_forward(const lin_denom_shape *s, float *out, float *z, const float *num, const float *fq,
                       const float *fk, const uint8_t *valid, float *scratch);
/* dnum, dfq, dfk = gradients given dout, from the forward's out and z (num is not needed): written,
 * not added (every element of each head's columns, zero for a padded key), so they need no zeroing
 * first. The gradient through z is zero where the clamp was active (z == LIN_DENOM_EPS). */
void lin_denom_backward(const lin_denom_shape *s, float *dnum, float *dfq, float *dfk, const float *dout,
                        const float *out, const float *z, const float *fq, const float *fk,
                        const uint8_t *valid, float *scratch);

#endif
