/* Every op of core/ops.h and the softmax attention kernel, checked three ways:
 *  (a) fast kernel vs the slow double-precision reference of core/ref.h, forward and backward,
 *      at several shapes including odd sizes (C not a multiple of 16, N = 1, T not a multiple of
 *      the 64-row attention tile);
 *  (b) central finite differences of a scalar loss (dot_loss of the output with random weights;
 *      for cross-entropy the op's own mean loss) against the fast backward, for every input and
 *      parameter;
 *  (c) backward accumulates: pre-filled gradient buffers receive prefill + gradient;
 * and the attention's ALiBi slopes (1-D and 2-D positions) against alibi's own score_bias hook.
 *
 * Tolerances (float32 kernels; test_close is |a-b| <= atol + rtol*max(|a|,|b|)):
 *  - fast vs reference: rtol 1e-4, atol 1e-5 (values are O(1); the fast kernels sum in float,
 *    the reference in double, so they agree to ~1e-6; a wrong formula is off by O(1)).
 *  - accumulation: rtol 1e-6, atol 1e-6 (only the rounding of one extra addition differs).
 *  - finite differences: rtol 1e-2 and
 *      ops: step eps 1e-2, atol 1e-4 (cross-entropy, whose gradients are O(1/count): atol 1e-5);
 *      attention: eps 3e-2, atol 3e-4. Every output of a head moves when one key moves, so the
 *      float rounding noise of the loss is ~3e-6 there (measured: worst error 2.5e-4 at eps 1e-2,
 *      1.1e-4 at 3e-2, decreasing with eps, so it is rounding, not truncation).
 *    Truncation error is O(eps^2) (~1e-4 relative); gradients are O(0.1..1), so a missing factor
 *    or a dropped term (checked by breaking formulas on purpose) fails by far.
 *  At most GC_MAX elements per tensor are checked (all of a smaller one), spread with a stride
 *  coprime with the row length so that every column is hit. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "gradcheck.h"
#include "fastmath.h"
#include "ops.h"
#include "pe.h"
#include "ref.h"
#include "test.h"
#include "threads.h"

#define REF_RTOL 1e-4
#define REF_ATOL 1e-5
#define ACC_RTOL 1e-6
#define ACC_ATOL 1e-6
#define GC_EPS 1e-2
#define GC_RTOL 1e-2
#define GC_ATOL 1e-4
#define GC_MAX 240 /* at most this many elements checked per tensor (all of a smaller one) */
#define ATT_EPS 3e-2
#define ATT_ATOL 3e-4
#define ATT_MAX 120 /* elements checked per attention input (each check is two forward passes) */

static rng R;

static void reseed(uint64_t stream) { rng_seed(&R, 20240607, stream); }

/* (c): got (backward run on a buffer pre-filled with pre) == pre + fresh (same backward run on
 * a zeroed buffer) */
static void check_accum(const char *what, const float *got, const float *pre, const float *fresh, size_t n) {
    float *want = tcalloc(n);
    for (size_t i = 0; i < n; i++) want[i] = pre[i] + fresh[i];
    check_arrays(__FILE__, __LINE__, what, got, want, n, ACC_RTOL, ACC_ATOL);
    free(want);
}

/* (b): gradcheck of x[n] (rows of `period` floats) against analytic, GC_MAX elements at most.
 * The analytic gradient comes from the caller at the runner's thread count; the many forward
 * passes of the finite differences run on one thread, which keeps them fast on a busy machine
 * (outputs do not depend on the thread count beyond rounding). */
static void gc_max(const char *what, loss_fn fn, void *ctx, float *x, const float *analytic, size_t n,
                   size_t period, double eps, double atol, size_t max_checks) {
    gradcheck_rows(what, fn, ctx, x, analytic, n, period, eps, GC_RTOL, atol, max_checks);
}

static void gc(const char *what, loss_fn fn, void *ctx, float *x, const float *analytic, size_t n, size_t period,
               double eps, double atol) {
    gc_max(what, fn, ctx, x, analytic, n, period, eps, atol, GC_MAX);
}

/* ---------------------------------------------------------------- embed */

typedef struct embed_fx { float *out, *wte, *w; const int32_t *tok; int N, C; } embed_fx;

static double embed_loss(void *ctx) {
    embed_fx *f = ctx;
    embed_forward(f->out, f->tok, f->wte, f->N, f->C);
    return dot_loss(f->out, f->w, (size_t)f->N * f->C);
}

static void embed_case(int N, int C, int V) {
    int32_t *tok = malloc((size_t)N * sizeof *tok);
    for (int n = 0; n < N; n++) tok[n] = (int32_t)rng_below(&R, (uint32_t)V); /* repeats when N > V */
    size_t nw = (size_t)V * C, no = (size_t)N * C;
    float *wte = trandn(&R, nw, 1.0f), *w = trandn(&R, no, 1.0f), *out = tcalloc(no), *out_ref = tcalloc(no);
    embed_forward(out, tok, wte, N, C);
    ref_embed_forward(out_ref, tok, wte, N, C);
    CHECK_ARRAYS("embed forward", out, out_ref, no, 0, 0);

    float *pre = trandn(&R, nw, 1.0f), *d = tdup(pre, nw), *d_ref = tdup(pre, nw), *fresh = tcalloc(nw);
    embed_backward(d, w, tok, N, C);
    ref_embed_backward(d_ref, w, tok, N, C);
    CHECK_ARRAYS("embed backward dwte", d, d_ref, nw, REF_RTOL, REF_ATOL);
    embed_backward(fresh, w, tok, N, C);
    check_accum("embed backward accumulates", d, pre, fresh, nw);

    embed_fx f = {out, wte, w, tok, N, C};
    gc("embed dwte", embed_loss, &f, wte, fresh, nw, (size_t)C, GC_EPS, GC_ATOL);
    free(tok), free(wte), free(w), free(out), free(out_ref), free(pre), free(d), free(d_ref), free(fresh);
}

TEST(ops_embed) {
    reseed(1);
    embed_case(1, 5, 3);
    embed_case(37, 19, 7);
    embed_case(50, 32, 64);
}

/* ---------------------------------------------------------------- linear */

typedef struct linear_fx { float *out, *inp, *wt, *b, *w; int N, IC, OC; } linear_fx;

static double linear_loss(void *ctx) {
    linear_fx *f = ctx;
    linear_forward(f->out, f->inp, f->wt, f->b, f->N, f->IC, f->OC);
    return dot_loss(f->out, f->w, (size_t)f->N * f->OC);
}

static void linear_case(int N, int IC, int OC, int bias) {
    size_t ni = (size_t)N * IC, nw = (size_t)OC * IC, no = (size_t)N * OC;
    float *inp = trandn(&R, ni, 1.0f), *wt = trandn(&R, nw, 0.5f), *b = bias ? trandn(&R, (size_t)OC, 1.0f) : NULL;
    float *w = trandn(&R, no, 1.0f), *out = trandn(&R, no, 1.0f), *out_ref = tcalloc(no);
    linear_forward(out, inp, wt, b, N, IC, OC); /* out pre-filled with garbage: must be overwritten */
    ref_linear_forward(out_ref, inp, wt, b, N, IC, OC);
    CHECK_ARRAYS("linear forward", out, out_ref, no, REF_RTOL, REF_ATOL);

    float *pi = trandn(&R, ni, 1.0f), *pw = trandn(&R, nw, 1.0f), *pb = trandn(&R, (size_t)OC, 1.0f);
    float *di = tdup(pi, ni), *dw = tdup(pw, nw), *db = tdup(pb, (size_t)OC);
    float *di_ref = tdup(pi, ni), *dw_ref = tdup(pw, nw), *db_ref = tdup(pb, (size_t)OC);
    linear_backward(di, dw, bias ? db : NULL, w, inp, wt, N, IC, OC);
    ref_linear_backward(di_ref, dw_ref, bias ? db_ref : NULL, w, inp, wt, N, IC, OC);
    CHECK_ARRAYS("linear backward dinp", di, di_ref, ni, REF_RTOL, REF_ATOL);
    CHECK_ARRAYS("linear backward dw", dw, dw_ref, nw, REF_RTOL, REF_ATOL);
    CHECK_ARRAYS("linear backward db", db, db_ref, (size_t)OC, REF_RTOL, REF_ATOL); /* == pb without bias */

    float *fi = tcalloc(ni), *fw = tcalloc(nw), *fb = tcalloc((size_t)OC);
    for (size_t i = 0; i < ni; i++) fi[i] = NAN; /* dinp is written, never read */
    linear_backward(fi, fw, bias ? fb : NULL, w, inp, wt, N, IC, OC);
    CHECK_ARRAYS("linear backward writes dinp whole", fi, di, ni, 0, 0);
    check_accum("linear backward accumulates dw", dw, pw, fw, nw);
    check_accum("linear backward accumulates db", db, pb, fb, (size_t)OC);

    /* dinp may be NULL: the weight gradients are the same */
    float *fw2 = tcalloc(nw);
    linear_backward(NULL, fw2, NULL, w, inp, wt, N, IC, OC);
    CHECK_ARRAYS("linear backward dw without dinp", fw2, fw, nw, 0, 0);

    linear_fx f = {out, inp, wt, b, w, N, IC, OC};
    gc("linear dinp", linear_loss, &f, inp, fi, ni, (size_t)IC, GC_EPS, GC_ATOL);
    gc("linear dw", linear_loss, &f, wt, fw, nw, (size_t)IC, GC_EPS, GC_ATOL);
    if (bias) gc("linear db", linear_loss, &f, b, fb, (size_t)OC, 1, GC_EPS, GC_ATOL);
    free(inp), free(wt), free(b), free(w), free(out), free(out_ref), free(pi), free(pw), free(pb);
    free(di), free(dw), free(db), free(di_ref), free(dw_ref), free(db_ref), free(fi), free(fw), free(fb), free(fw2);
}

TEST(ops_linear) {
    reseed(2);
    for (int bias = 0; bias <= 1; bias++) {
        linear_case(1, 3, 5, bias);
        linear_case(7, 13, 9, bias);
        linear_case(33, 40, 17, bias);
    }
}

/* ---------------------------------------------------------------- layernorm */

#define LN_EPS 1e-5f

typedef struct ln_fx { float *out, *mean, *rstd, *inp, *g, *b, *w; int N, C; } ln_fx;

static double ln_loss(void *ctx) {
    ln_fx *f = ctx;
    layernorm_forward(f->out, f->mean, f->rstd, f->inp, f->g, f->b, f->N, f->C, LN_EPS);
    return dot_loss(f->out, f->w, (size_t)f->N * f->C);
}

static void layernorm_case(int N, int C) {
    size_t n = (size_t)N * C;
    float *inp = trandn(&R, n, 2.0f);
    for (size_t i = 0; i < n; i++) inp[i] += 0.5f; /* a non-zero mean */
    float *g = trandn(&R, (size_t)C, 0.3f), *b = trandn(&R, (size_t)C, 0.3f), *w = trandn(&R, n, 1.0f);
    for (int c = 0; c < C; c++) g[c] += 1.0f;
    float *out = tcalloc(n), *mean = tcalloc((size_t)N), *rstd = tcalloc((size_t)N);
    float *out_ref = tcalloc(n), *mean_ref = tcalloc((size_t)N), *rstd_ref = tcalloc((size_t)N);
    layernorm_forward(out, mean, rstd, inp, g, b, N, C, LN_EPS);
    ref_layernorm_forward(out_ref, mean_ref, rstd_ref, inp, g, b, N, C, LN_EPS);
    CHECK_ARRAYS("layernorm forward", out, out_ref, n, REF_RTOL, REF_ATOL);
    CHECK_ARRAYS("layernorm mean", mean, mean_ref, (size_t)N, REF_RTOL, REF_ATOL);
    CHECK_ARRAYS("layernorm rstd", rstd, rstd_ref, (size_t)N, REF_RTOL, REF_ATOL);

    float *pi = trandn(&R, n, 1.0f), *pg = trandn(&R, (size_t)C, 1.0f), *pb = trandn(&R, (size_t)C, 1.0f);
    float *di = tdup(pi, n), *dg = tdup(pg, (size_t)C), *db = tdup(pb, (size_t)C);
    float *di_ref = tdup(pi, n), *dg_ref = tdup(pg, (size_t)C), *db_ref = tdup(pb, (size_t)C);
    layernorm_backward(di, dg, db, w, inp, g, mean, rstd, N, C);
    ref_layernorm_backward(di_ref, dg_ref, db_ref, w, inp, g, N, C, LN_EPS);
    CHECK_ARRAYS("layernorm backward dinp", di, di_ref, n, REF_RTOL, REF_ATOL);
    CHECK_ARRAYS("layernorm backward dg", dg, dg_ref, (size_t)C, REF_RTOL, REF_ATOL);
    CHECK_ARRAYS("layernorm backward db", db, db_ref, (size_t)C, REF_RTOL, REF_ATOL);

    float *fi = tcalloc(n), *fg = tcalloc((size_t)C), *fb = tcalloc((size_t)C);
    layernorm_backward(fi, fg, fb, w, inp, g, mean, rstd, N, C);
    check_accum("layernorm backward accumulates dinp", di, pi, fi, n);
    check_accum("layernorm backward accumulates dg", dg, pg, fg, (size_t)C);
    check_accum("layernorm backward accumulates db", db, pb, fb, (size_t)C);

    ln_fx f = {out, mean, rstd, inp, g, b, w, N, C};
    gc("layernorm dinp", ln_loss, &f, inp, fi, n, (size_t)C, GC_EPS, GC_ATOL);
    gc("layernorm dg", ln_loss, &f, g, fg, (size_t)C, 1, GC_EPS, GC_ATOL);
    gc("layernorm db", ln_loss, &f, b, fb, (size_t)C, 1, GC_EPS, GC_ATOL);
    free(inp), free(g), free(b), free(w), free(out), free(mean), free(rstd), free(out_ref), free(mean_ref);
    free(rstd_ref), free(pi), free(pg), free(pb), free(di), free(dg), free(db), free(di_ref), free(dg_ref);
    free(db_ref), free(fi), free(fg), free(fb);
}

TEST(ops_layernorm) {
    reseed(3);
    /* by hand: x = (1, 2, 3) has mean 2 and biased variance 2/3, so xhat = (-1, 0, 1) * sqrt(3/2) */
    const float x[3] = {1, 2, 3}, g[3] = {1, 2, 1}, b[3] = {0, 0, 0.5f};
    const float want[3] = {-1.22474487f, 0.0f, 1.72474487f};
    float y[3], y_ref[3], mean[1], rstd[1];
    layernorm_forward(y, mean, rstd, x, g, b, 1, 3, 0.0f);
    CHECK_ARRAYS("layernorm by hand", y, want, 3, 1e-6, 1e-6);
    ref_layernorm_forward(y_ref, mean, rstd, x, g, b, 1, 3, 0.0f);
    CHECK_ARRAYS("layernorm by hand (reference)", y_ref, want, 3, 1e-6, 1e-6);
    layernorm_case(1, 7);
    layernorm_case(5, 13);
    layernorm_case(9, 67);
    layernorm_case(4, 64);
}

/* ---------------------------------------------------------------- gelu, residual */

typedef struct ew_fx { float *out, *a, *b, *w; size_t n; } ew_fx;

static double gelu_loss(void *ctx) {
    ew_fx *f = ctx;
    gelu_forward(f->out, f->a, f->n);
    return dot_loss(f->out, f->w, f->n);
}

static double residual_loss(void *ctx) {
    ew_fx *f = ctx;
    residual_forward(f->out, f->a, f->b, f->n);
    return dot_loss(f->out, f->w, f->n);
}

static void gelu_case(size_t n) {
    float *x = trandn(&R, n, 2.0f), *w = trandn(&R, n, 1.0f), *out = tcalloc(n), *out_ref = tcalloc(n);
    gelu_forward(out, x, n);
    ref_gelu_forward(out_ref, x, n);
    CHECK_ARRAYS("gelu forward", out, out_ref, n, REF_RTOL, REF_ATOL);
    float *pre = trandn(&R, n, 1.0f), *d = tdup(pre, n), *d_ref = tdup(pre, n), *fresh = tcalloc(n);
    gelu_backward(d, x, w, n);
    ref_gelu_backward(d_ref, x, w, n);
    CHECK_ARRAYS("gelu backward", d, d_ref, n, REF_RTOL, REF_ATOL);
    gelu_backward(fresh, x, w, n);
    check_accum("gelu backward accumulates", d, pre, fresh, n);
    ew_fx f = {out, x, NULL, w, n};
    gc("gelu dinp", gelu_loss, &f, x, fresh, n, 1, GC_EPS, GC_ATOL);
    free(x), free(w), free(out), free(out_ref), free(pre), free(d), free(d_ref), free(fresh);
}

TEST(ops_gelu) {
    reseed(4);
    gelu_case(1);
    gelu_case(37);
    gelu_case(1000);
    /* the exact erf form (PyTorch nn.GELU()), not the tanh approximation: x * Phi(x) */
    const float x[4] = {1.0f, -0.5f, 2.0f, 0.0f};
    const double want[4] = {0.8413447460685429, -0.15426876936299347, 1.9544997361036416, 0.0};
    float y[4], y_ref[4];
    gelu_forward(y, x, 4);
    ref_gelu_forward(y_ref, x, 4);
    for (int i = 0; i < 4; i++) {
        CHECK_CLOSE(y[i], want[i], 1e-6, 1e-7, "gelu known value");
        CHECK_CLOSE(y_ref[i], want[i], 1e-6, 1e-7, "ref gelu known value");
    }
}

static void residual_case(size_t n) {
    float *a = trandn(&R, n, 1.0f), *b = trandn(&R, n, 1.0f), *w = trandn(&R, n, 1.0f), *out = tcalloc(n), *out_ref = tcalloc(n);
    residual_forward(out, a, b, n);
    ref_residual_forward(out_ref, a, b, n);
    CHECK_ARRAYS("residual forward", out, out_ref, n, 0, 0);
    float *pa = trandn(&R, n, 1.0f), *pb = trandn(&R, n, 1.0f);
    float *da = tdup(pa, n), *db = tdup(pb, n), *da_ref = tdup(pa, n), *db_ref = tdup(pb, n);
    float *fa = tcalloc(n), *fb = tcalloc(n);
    residual_backward(da, db, w, n);
    ref_residual_backward(da_ref, db_ref, w, n);
    CHECK_ARRAYS("residual backward da", da, da_ref, n, 0, 0);
    CHECK_ARRAYS("residual backward db", db, db_ref, n, 0, 0);
    residual_backward(fa, fb, w, n);
    check_accum("residual backward accumulates da", da, pa, fa, n);
    check_accum("residual backward accumulates db", db, pb, fb, n);
    /* in place, as the model calls it: out aliases a */
    float *a2 = tdup(a, n);
    residual_forward(a2, a2, b, n);
    CHECK_ARRAYS("residual forward in place", a2, out_ref, n, 0, 0);
    ew_fx f = {out, a, b, w, n};
    gc("residual da", residual_loss, &f, a, fa, n, 1, GC_EPS, GC_ATOL);
    gc("residual db", residual_loss, &f, b, fb, n, 1, GC_EPS, GC_ATOL);
    free(a), free(b), free(w), free(out), free(out_ref), free(pa), free(pb), free(da), free(db);
    free(da_ref), free(db_ref), free(fa), free(fb), free(a2);
}

TEST(ops_residual) {
    reseed(5);
    residual_case(1);
    residual_case(37);
    residual_case(1000);
}

/* ---------------------------------------------------------------- fused ops
 * Each fused op against the unfused ops it replaces in the model, composed as the model composed
 * them (linear with its bias, then GELU / the residual sum / LayerNorm; a backward, then
 * linear_backward's column sums): bitwise where the two do the same float operations in the same
 * order, else FUSED_RTOL (the bias enters a matrix product's sum at another point, which with
 * K <= the BLAS's K-block does not change the bits either). Finite differences as above. */

#define FUSED_RTOL 1e-6
#define FUSED_ATOL 1e-7
/* Finite-difference step of the residual + LayerNorm: a moved element changes its whole row's
 * statistics, so the float noise of the loss is ~1.6e-6 at C = 67, 8e-5 in the gradient at step
 * 1e-2 (measured: one of 240 elements 1.5e-4 off at 1e-2, six at 3e-3, none at 3e-2: rounding). */
#define RES_LN_EPS 3e-2

/* db[C] += column sums of x[N,C] the unfused way: linear_backward's bias gradient (IC = 1). */
static void colsum_unfused(float *db, const float *x, int N, int C) {
    float *ones = tcalloc((size_t)N), *w = tcalloc((size_t)C), *dw = tcalloc((size_t)C);
    for (int n = 0; n < N; n++) ones[n] = 1.0f;
    linear_backward(NULL, dw, db, x, ones, w, N, 1, C);
    free(ones), free(w), free(dw);
}

typedef struct bias_gelu_fx { float *pre0, *pre, *out, *b, *w; int N, C; } bias_gelu_fx;

/* bias_gelu_forward on a fresh copy of pre0 (the op adds the bias in place). */
static double bias_gelu_loss(void *ctx) {
    bias_gelu_fx *f = ctx;
    size_t n = (size_t)f->N * f->C;
    memcpy(f->pre, f->pre0, n * sizeof *f->pre);
    bias_gelu_forward(f->pre, f->out, f->b, f->N, f->C);
    return dot_loss(f->out, f->w, n);
}

/* bias_gelu_forward after a product without bias vs linear_forward with it + gelu_forward (out) and
 * gelu_backward of ones (the slope it leaves in pre); its gradients (gelu_backward_bias, by that
 * slope) by finite differences. */
static void bias_gelu_case(int N, int IC, int C) {
    size_t n = (size_t)N * C;
    float *inp = trandn(&R, (size_t)N * IC, 1.0f), *wt = trandn(&R, (size_t)C * IC, 0.5f);
    float *b = trandn(&R, (size_t)C, 1.0f), *w = trandn(&R, n, 1.0f), *ones = tcalloc(n);
    float *pre0 = tcalloc(n), *out = tcalloc(n), *pre_u = tcalloc(n), *out_u = tcalloc(n), *slope_u = tcalloc(n);
    for (size_t i = 0; i < n; i++) ones[i] = 1.0f;
    linear_forward(pre0, inp, wt, NULL, N, IC, C);
    float *pre = tdup(pre0, n);
    bias_gelu_forward(pre, out, b, N, C);
    linear_forward(pre_u, inp, wt, b, N, IC, C);
    gelu_forward(out_u, pre_u, n);
    gelu_backward(slope_u, pre_u, ones, n);
    CHECK_ARRAYS("bias_gelu out vs linear with bias + gelu", out, out_u, n, FUSED_RTOL, FUSED_ATOL);
    CHECK_ARRAYS("bias_gelu slope (pre) vs gelu_backward of ones", pre, slope_u, n, FUSED_RTOL, FUSED_ATOL);

    float *dpre = tdup(w, n), *db = tcalloc((size_t)C);
    gelu_backward_bias(dpre, db, pre, N, C);
    bias_gelu_fx f = {pre0, pre, out, b, w, N, C};
    gc("bias_gelu dpre", bias_gelu_loss, &f, pre0, dpre, n, (size_t)C, GC_EPS, GC_ATOL);
    gc("bias_gelu db", bias_gelu_loss, &f, b, db, (size_t)C, 1, GC_EPS, GC_ATOL);
    free(inp), free(wt), free(b), free(w), free(pre0), free(out), free(pre_u), free(out_u), free(pre), free(dpre);
    free(db), free(ones), free(slope_u);
}

/* gelu_backward_bias (in place on the gradient, by the slope bias_gelu_forward leaves) vs
 * gelu_backward into a zeroed buffer + its column sums: the same bits; db accumulates into a
 * pre-filled buffer. */
static void gelu_backward_bias_case(int N, int C) {
    size_t n = (size_t)N * C;
    float *x = trandn(&R, n, 2.0f), *dout = trandn(&R, n, 1.0f), *pb = trandn(&R, (size_t)C, 1.0f);
    float *d = tdup(dout, n), *db = tcalloc((size_t)C), *dp = tdup(dout, n), *dbp = tdup(pb, (size_t)C);
    float *d_u = tcalloc(n), *db_u = tcalloc((size_t)C), *zero_b = tcalloc((size_t)C), *slope = tdup(x, n);
    float *gx = tcalloc(n);
    bias_gelu_forward(slope, gx, zero_b, N, C);
    gelu_backward_bias(d, db, slope, N, C);
    gelu_backward(d_u, x, dout, n);
    colsum_unfused(db_u, d_u, N, C);
    CHECK_ARRAYS("gelu_backward_bias d vs gelu_backward", d, d_u, n, 0, 0);
    CHECK_ARRAYS("gelu_backward_bias db vs column sums of gelu_backward", db, db_u, (size_t)C, 0, 0);
    gelu_backward_bias(dp, dbp, slope, N, C);
    CHECK(memcmp(dp, d, n * sizeof *d) == 0, "gelu_backward_bias writes d whatever db held");
    check_accum("gelu_backward_bias accumulates db", dbp, pb, db, (size_t)C);
    free(x), free(dout), free(pb), free(d), free(db), free(dp), free(dbp), free(d_u), free(db_u), free(zero_b);
    free(slope), free(gx);
}

TEST(ops_fused_bias_gelu) {
    reseed(12);
    bias_gelu_case(1, 3, 5);
    bias_gelu_case(7, 13, 37);
    bias_gelu_case(33, 40, 70);
    gelu_backward_bias_case(1, 1);
    gelu_backward_bias_case(9, 37);
    gelu_backward_bias_case(40, 131);
}

typedef struct res_ln_fx { float *res0, *res, *ln, *mean, *rstd, *x, *bias, *g, *b, *w; int N, C; } res_ln_fx;

/* residual_layernorm_forward on a fresh copy of res0 (the op adds into res in place). */
static double res_ln_loss(void *ctx) {
    res_ln_fx *f = ctx;
    size_t n = (size_t)f->N * f->C;
    memcpy(f->res, f->res0, n * sizeof *f->res);
    residual_layernorm_forward(f->res, f->ln, f->mean, f->rstd, f->x, f->bias, f->g, f->b, f->N, f->C, LN_EPS);
    return dot_loss(f->ln, f->w, n);
}

/* residual_layernorm_forward after a product without bias vs linear_forward with the bias +
 * residual_forward + layernorm_forward; its gradients (layernorm_backward_bias: the sum's gradient
 * is that of the product, of x and, summed over rows, of the bias) by finite differences. */
static void residual_layernorm_case(int N, int IC, int C) {
    size_t n = (size_t)N * C;
    float *inp = trandn(&R, (size_t)N * IC, 1.0f), *wt = trandn(&R, (size_t)C * IC, 0.5f);
    float *bias = trandn(&R, (size_t)C, 0.5f), *x = trandn(&R, n, 1.0f), *w = trandn(&R, n, 1.0f);
    float *g = trandn(&R, (size_t)C, 0.3f), *b = trandn(&R, (size_t)C, 0.3f);
    for (int c = 0; c < C; c++) g[c] += 1.0f, bias[c] += 0.5f; /* a non-zero mean */
    float *res0 = tcalloc(n), *ln = tcalloc(n), *mean = tcalloc((size_t)N), *rstd = tcalloc((size_t)N);
    float *res_u = tcalloc(n), *ln_u = tcalloc(n), *mean_u = tcalloc((size_t)N), *rstd_u = tcalloc((size_t)N);
    linear_forward(res0, inp, wt, NULL, N, IC, C);
    float *res = tdup(res0, n);
    residual_layernorm_forward(res, ln, mean, rstd, x, bias, g, b, N, C, LN_EPS);
    linear_forward(res_u, inp, wt, bias, N, IC, C);
    residual_forward(res_u, res_u, x, n);
    layernorm_forward(ln_u, mean_u, rstd_u, res_u, g, b, N, C, LN_EPS);
    CHECK_ARRAYS("residual_layernorm res vs linear with bias + residual", res, res_u, n, FUSED_RTOL, FUSED_ATOL);
    CHECK_ARRAYS("residual_layernorm ln vs layernorm_forward", ln, ln_u, n, FUSED_RTOL, FUSED_ATOL);
    CHECK_ARRAYS("residual_layernorm mean", mean, mean_u, (size_t)N, FUSED_RTOL, FUSED_ATOL);
    CHECK_ARRAYS("residual_layernorm rstd", rstd, rstd_u, (size_t)N, FUSED_RTOL, FUSED_ATOL);

    float *dres = tcalloc(n), *dg = tcalloc((size_t)C), *db = tcalloc((size_t)C), *dbias = tcalloc((size_t)C);
    layernorm_backward_bias(dres, dg, db, dbias, w, res, g, mean, rstd, N, C);
    res_ln_fx f = {res0, res, ln, mean, rstd, x, bias, g, b, w, N, C};
    gc("residual_layernorm dres", res_ln_loss, &f, res0, dres, n, (size_t)C, RES_LN_EPS, GC_ATOL);
    gc("residual_layernorm dx", res_ln_loss, &f, x, dres, n, (size_t)C, RES_LN_EPS, GC_ATOL);
    gc("residual_layernorm dbias", res_ln_loss, &f, bias, dbias, (size_t)C, 1, RES_LN_EPS, GC_ATOL);
    gc("residual_layernorm dg", res_ln_loss, &f, g, dg, (size_t)C, 1, RES_LN_EPS, GC_ATOL);
    gc("residual_layernorm db", res_ln_loss, &f, b, db, (size_t)C, 1, RES_LN_EPS, GC_ATOL);
    free(inp), free(wt), free(bias), free(x), free(w), free(g), free(b), free(res0), free(ln), free(mean);
    free(rstd), free(res_u), free(ln_u), free(mean_u), free(rstd_u), free(res), free(dres), free(dg), free(db);
    free(dbias);
}

/* layernorm_backward_bias on pre-filled buffers vs layernorm_backward + the column sums of the
 * accumulated dinp: the same bits; with dbias NULL it is layernorm_backward. */
static void layernorm_backward_bias_case(int N, int C) {
    size_t n = (size_t)N * C;
    float *inp = trandn(&R, n, 2.0f), *g = trandn(&R, (size_t)C, 1.0f), *b = trandn(&R, (size_t)C, 1.0f);
    float *dout = trandn(&R, n, 1.0f), *out = tcalloc(n), *mean = tcalloc((size_t)N), *rstd = tcalloc((size_t)N);
    layernorm_forward(out, mean, rstd, inp, g, b, N, C, LN_EPS);
    float *pi = trandn(&R, n, 1.0f), *pg = trandn(&R, (size_t)C, 1.0f), *pb = trandn(&R, (size_t)C, 1.0f);
    float *ps = trandn(&R, (size_t)C, 1.0f);
    float *di = tdup(pi, n), *dg = tdup(pg, (size_t)C), *db = tdup(pb, (size_t)C), *ds = tdup(ps, (size_t)C);
    float *di_u = tdup(pi, n), *dg_u = tdup(pg, (size_t)C), *db_u = tdup(pb, (size_t)C), *ds_u = tdup(ps, (size_t)C);
    layernorm_backward_bias(di, dg, db, ds, dout, inp, g, mean, rstd, N, C);
    layernorm_backward(di_u, dg_u, db_u, dout, inp, g, mean, rstd, N, C);
    colsum_unfused(ds_u, di_u, N, C);
    CHECK_ARRAYS("layernorm_backward_bias dinp", di, di_u, n, 0, 0);
    CHECK_ARRAYS("layernorm_backward_bias dg", dg, dg_u, (size_t)C, 0, 0);
    CHECK_ARRAYS("layernorm_backward_bias db", db, db_u, (size_t)C, 0, 0);
    CHECK_ARRAYS("layernorm_backward_bias dbias vs column sums of dinp", ds, ds_u, (size_t)C, 0, 0);
    float *di2 = tdup(pi, n), *dg2 = tdup(pg, (size_t)C), *db2 = tdup(pb, (size_t)C);
    layernorm_backward_bias(di2, dg2, db2, NULL, dout, inp, g, mean, rstd, N, C);
    CHECK_ARRAYS("layernorm_backward_bias without dbias", di2, di_u, n, 0, 0);
    free(inp), free(g), free(b), free(dout), free(out), free(mean), free(rstd), free(pi), free(pg), free(pb);
    free(ps), free(di), free(dg), free(db), free(ds), free(di_u), free(dg_u), free(db_u), free(ds_u), free(di2);
    free(dg2), free(db2);
}

TEST(ops_fused_residual_layernorm) {
    reseed(13);
    residual_layernorm_case(1, 3, 7);
    residual_layernorm_case(5, 11, 13);
    residual_layernorm_case(9, 24, 67);
    layernorm_backward_bias_case(1, 7);
    layernorm_backward_bias_case(9, 67);
    layernorm_backward_bias_case(40, 64);
}

/* The outputs of every fused op on inputs x, y [N,C] and pv [C], into out (fused_floats floats). */
static size_t fused_floats(int N, int C) { return 6 * (size_t)N * C + 2 * (size_t)N + 4 * (size_t)C; }
static void fused_run(float *out, const float *x, const float *y, const float *pv, int N, int C) {
    const size_t n = (size_t)N * C;
    float *pre = out, *gl = pre + n, *dpre = gl + n, *res = dpre + n, *ln = res + n, *dres = ln + n;
    float *mean = dres + n, *rstd = mean + N, *db = rstd + N, *dg = db + C, *dlb = dg + C, *dbias = dlb + C;
    memcpy(pre, x, n * sizeof *x);
    bias_gelu_forward(pre, gl, pv, N, C);
    memcpy(dpre, y, n * sizeof *y);
    gelu_backward_bias(dpre, db, pre, N, C);
    memcpy(res, y, n * sizeof *y);
    residual_layernorm_forward(res, ln, mean, rstd, x, pv, pv, pv, N, C, LN_EPS);
    layernorm_backward_bias(dres, dg, dlb, dbias, x, res, pv, mean, rstd, N, C);
}

/* Every fused op gives the same bits on 1 and 2 threads (odd sizes: uneven row and column blocks). */
TEST(ops_fused_threads_bitwise) {
    reseed(14);
    const int N = 67, C = 83, threads = omp_get_max_threads();
    const size_t n = (size_t)N * C, nf = fused_floats(N, C);
    float *x = trandn(&R, n, 1.0f), *y = trandn(&R, n, 1.0f), *pv = trandn(&R, (size_t)C, 1.0f);
    float *out1 = tcalloc(nf), *out2 = tcalloc(nf);
    threads_set(1);
    fused_run(out1, x, y, pv, N, C);
    threads_set(2);
    fused_run(out2, x, y, pv, N, C);
    threads_set(threads);
    CHECK(memcmp(out1, out2, nf * sizeof *out1) == 0, "the fused ops differ with 1 and 2 threads");
    free(x), free(y), free(pv), free(out1), free(out2);
}

/* ---------------------------------------------------------------- cross-entropy */

#define XENT_ATOL 1e-5

typedef struct xent_fx { float *lse, *logits; const int32_t *tgt; int N, V; } xent_fx;

static double xent_loss(void *ctx) {
    xent_fx *f = ctx;
    return xent_forward(f->lse, f->logits, f->tgt, f->N, f->V);
}

/* ignore: every third target ignored (1) or all of them (2) */
static void xent_case(int N, int V, int ignore) {
    size_t n = (size_t)N * V;
    int32_t *tgt = malloc((size_t)N * sizeof *tgt);
    int count = 0;
    for (int i = 0; i < N; i++) {
        tgt[i] = (int32_t)rng_below(&R, (uint32_t)V);
        if (ignore == 2 || (ignore == 1 && i % 3 == 1)) tgt[i] = -1;
        count += tgt[i] >= 0;
    }
    CHECK(xent_count(tgt, N) == count, "xent_count %d, want %d", xent_count(tgt, N), count);
    float *logits = trandn(&R, n, 2.0f), *lse = tcalloc((size_t)N), *lse_ref = tcalloc((size_t)N);
    double loss = xent_forward(lse, logits, tgt, N, V);
    double loss_ref = ref_xent_forward(lse_ref, logits, tgt, N, V);
    CHECK_CLOSE(loss, loss_ref, 1e-6, 1e-7, "xent loss vs reference");
    CHECK_ARRAYS("xent lse", lse, lse_ref, (size_t)N, REF_RTOL, REF_ATOL);
    if (!count) CHECK(loss == 0.0, "all targets ignored: loss %g, want 0", loss);

    const float dloss = 0.7f;
    float *d = trandn(&R, n, 1.0f), *d_ref = tcalloc(n), *fresh = tcalloc(n); /* d: garbage it overwrites */
    xent_backward(d, logits, lse, tgt, N, V, dloss);
    ref_xent_backward(d_ref, logits, tgt, N, V, dloss);
    CHECK_ARRAYS("xent backward", d, d_ref, n, REF_RTOL, REF_ATOL);
    xent_backward(fresh, logits, lse, tgt, N, V, dloss);
    CHECK(memcmp(d, fresh, n * sizeof *d) == 0, "xent backward writes dlogits whatever it held");
    for (int i = 0; i < N; i++) /* ignored rows get zeros */
        if (tgt[i] < 0)
            for (int v = 0; v < V; v++) CHECK(d[(size_t)i * V + v] == 0.0f, "xent ignored row %d not zero", i);
    xent_backward(fresh, logits, lse, tgt, N, V, 1.0f);

    xent_fx f = {lse, logits, tgt, N, V};
    gc("xent dlogits", xent_loss, &f, logits, fresh, n, (size_t)V, GC_EPS, XENT_ATOL);
    free(tgt), free(logits), free(lse), free(lse_ref), free(d), free(d_ref), free(fresh);
}

TEST(ops_xent) {
    reseed(6);
    xent_case(1, 2, 0);
    xent_case(9, 11, 1);
    xent_case(20, 67, 1);
    xent_case(4, 5, 2);
    /* equal logits: the loss is log V; a huge logit does not overflow */
    float z[2 * 7] = {0}, lse[2];
    int32_t t[2] = {3, 0};
    z[7] = 1000.0f;
    double loss = xent_forward(lse, z, t, 2, 7);
    CHECK_CLOSE(loss, 0.5 * log(7.0), 1e-6, 1e-7, "xent of uniform logits + a confident row");
    CHECK(isfinite(lse[1]) && fabsf(lse[1] - 1000.0f) < 1e-3f, "lse of a huge logit: %g", lse[1]);
}

/* ---------------------------------------------------------------- mean pooling */

typedef struct pool_fx { float *out, *inp, *w; const uint8_t *valid; int B, T, C; } pool_fx;

static double pool_loss(void *ctx) {
    pool_fx *f = ctx;
    meanpool_forward(f->out, f->inp, f->valid, f->B, f->T, f->C);
    return dot_loss(f->out, f->w, (size_t)f->B * f->C);
}

/* masked: row 0 all valid, row 1 every other token and the last two invalid, row 2 none valid */
static void meanpool_case(int B, int T, int C, int masked) {
    size_t ni = (size_t)B * T * C, no = (size_t)B * C;
    uint8_t *valid = NULL;
    if (masked) {
        valid = malloc((size_t)B * T);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                valid[b * T + t] = b % 3 == 0 ? 1 : b % 3 == 1 ? (t % 2 == 0 && t < T - 2) : 0;
    }
    float *inp = trandn(&R, ni, 1.0f), *w = trandn(&R, no, 1.0f), *out = trandn(&R, no, 1.0f), *out_ref = tcalloc(no);
    meanpool_forward(out, inp, valid, B, T, C);
    ref_meanpool_forward(out_ref, inp, valid, B, T, C);
    CHECK_ARRAYS("meanpool forward", out, out_ref, no, REF_RTOL, REF_ATOL);
    float *pre = trandn(&R, ni, 1.0f), *d = tdup(pre, ni), *d_ref = tdup(pre, ni), *fresh = tcalloc(ni);
    meanpool_backward(d, w, valid, B, T, C);
    ref_meanpool_backward(d_ref, w, valid, B, T, C);
    CHECK_ARRAYS("meanpool backward", d, d_ref, ni, REF_RTOL, REF_ATOL);
    meanpool_backward(fresh, w, valid, B, T, C);
    check_accum("meanpool backward accumulates", d, pre, fresh, ni);
    if (masked && B > 2) { /* the row with no valid token: zero output, no gradient */
        for (int c = 0; c < C; c++) CHECK(out[2 * C + c] == 0.0f, "meanpool empty row out %g", out[2 * C + c]);
        for (size_t i = (size_t)2 * T * C; i < (size_t)3 * T * C; i++)
            CHECK(fresh[i] == 0.0f, "meanpool empty row gradient %g", fresh[i]);
    }
    pool_fx f = {out, inp, w, valid, B, T, C};
    gc("meanpool dinp", pool_loss, &f, inp, fresh, ni, (size_t)C, GC_EPS, GC_ATOL);
    free(valid), free(inp), free(w), free(out), free(out_ref), free(pre), free(d), free(d_ref), free(fresh);
}

TEST(ops_meanpool) {
    reseed(7);
    meanpool_case(1, 1, 1, 0);
    meanpool_case(2, 5, 7, 0);
    meanpool_case(3, 6, 19, 1);
    meanpool_case(4, 9, 3, 1);
}

/* ---------------------------------------------------------------- softmax attention */

/* The inputs live in one buffer `in`. Fused: the model's qkv layout, q|k|v side by side in rows
 * of 3*H*d floats. Not fused: three separate regions q, k, v whose rows have `gap` unused floats
 * at the end (strides H*dqk + gap, H*dv + gap), as is o; the gaps must never be read as data nor
 * written. */
typedef struct attn_fx {
    attn_shape s;
    const uint8_t *valid;
    float *in, *q, *k, *v;   /* in: the whole input buffer; q, k, v views into it */
    size_t nin, no;
    float *o, *saved, *scratch, *w;
} attn_fx;

static double attn_loss(void *ctx) {
    attn_fx *f = ctx;
    attn_softmax.forward(&f->s, f->o, f->saved, f->q, f->k, f->v, f->valid, f->scratch);
    return dot_loss(f->o, f->w, f->no);
}

/* lse of the fast kernel vs the reference, where -inf (a query that sees no key) must match */
static void check_lse(const float *got, const float *want, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = isinf(want[i]) ? isinf(got[i]) && got[i] < 0 : test_close(got[i], want[i], REF_RTOL, REF_ATOL);
        if (!ok && bad++ == 0) test_fail(__FILE__, __LINE__, "attention lse [%zu]: %g vs %g", i, got[i], want[i]);
    }
}

/* ALiBi inputs of an attention case (attn_shape's slopes [H], pos [B*T*pos_rank], pos_rank). */
typedef struct alibi_in {
    const float *slopes;
    const int32_t *pos;
    int pos_rank;
} alibi_in;

/* One shape checked (a), (b), (c): the fast kernel vs the reference of core/ref.c (which also
 * applies the ALiBi slopes when ab is not NULL), finite differences and accumulation. */
static void attn_case(const char *name, int B, int T, int H, int dqk, int dv, int causal, mask_kind mk,
                      int fused, int gap, const alibi_in *ab) {
    attn_shape s = {.B = B, .T = T, .H = H, .dqk = dqk, .dv = dv, .causal = causal,
                    .scale = 1.0f / sqrtf((float)dqk), .slopes = ab ? ab->slopes : NULL,
                    .pos = ab ? ab->pos : NULL, .pos_rank = ab ? ab->pos_rank : 0};
    const size_t N = (size_t)B * T;
    attn_fx f = {0};
    if (fused) { /* the model's qkv buffer: ld = 3C, o ld = C */
        s.ldq = s.ldk = s.ldv = 2 * H * dqk + H * dv;
        s.ldo = H * dv;
        f.nin = N * s.ldq;
    } else {
        s.ldq = s.ldk = H * dqk + gap;
        s.ldv = s.ldo = H * dv + gap;
        f.nin = N * (2 * (size_t)s.ldq + s.ldv);
    }
    f.s = s;
    f.no = N * s.ldo;
    f.valid = make_mask(mk, B, T);
    f.in = trandn(&R, f.nin, 1.0f);
    size_t kofs = fused ? (size_t)H * dqk : N * s.ldq, vofs = fused ? 2 * (size_t)H * dqk : 2 * N * s.ldq;
    f.q = f.in, f.k = f.in + kofs, f.v = f.in + vofs;
    f.w = trandn(&R, f.no, 1.0f);
    f.o = tcalloc(f.no);
    float *o_ref = tcalloc(f.no);
    for (size_t i = 0; i < f.no; i++) /* o's gaps hold a sentinel and carry no loss weight */
        if ((int)(i % s.ldo) >= H * dv) f.o[i] = o_ref[i] = 777.0f, f.w[i] = 0.0f;
    size_t nsaved = attn_softmax.saved_floats(&s);
    CHECK(nsaved == (size_t)B * H * T, "%s: saved floats %zu", name, nsaved);
    f.saved = tcalloc(nsaved);
    f.scratch = tcalloc(attn_softmax.scratch_floats(&s, omp_get_max_threads()));
    float *lse_ref = tcalloc(nsaved);

    /* (a) forward */
    attn_loss(&f);
    ref_attn_softmax_forward(&s, o_ref, lse_ref, f.q, f.k, f.v, f.valid);
    CHECK_ARRAYS(name, f.o, o_ref, f.no, REF_RTOL, REF_ATOL);
    check_lse(f.saved, lse_ref, nsaved);
    if (mk == MASK_PAD && B > 2) /* batch 2 sees no key at all: o = 0 */
        for (int t = 0; t < T; t++)
            for (int i = 0; i < H * dv; i++)
                CHECK(f.o[(2 * (size_t)T + t) * s.ldo + i] == 0.0f, "%s: o of a query with no key", name);

    /* (a) backward vs reference and (c) accumulation, with pre-filled gradients (gaps too) */
    float *pre = trandn(&R, f.nin, 1.0f), *d = tdup(pre, f.nin), *d_ref = tdup(pre, f.nin), *fresh = tcalloc(f.nin);
    float *dq = d + (f.q - f.in), *dk = d + (f.k - f.in), *dv_ = d + (f.v - f.in);
    attn_softmax.backward(&s, dq, dk, dv_, f.w, f.o, f.saved, f.q, f.k, f.v, f.valid, f.scratch);
    ref_attn_softmax_backward(&s, d_ref + (f.q - f.in), d_ref + (f.k - f.in), d_ref + (f.v - f.in), f.w, f.q,
                              f.k, f.v, f.valid);
    CHECK_ARRAYS(name, d, d_ref, f.nin, REF_RTOL, REF_ATOL);
    attn_softmax.backward(&s, fresh + (f.q - f.in), fresh + (f.k - f.in), fresh + (f.v - f.in), f.w, f.o, f.saved,
                          f.q, f.k, f.v, f.valid, f.scratch);
    check_accum(name, d, pre, fresh, f.nin);

    /* (b) finite differences of every input: q, k and v regions (fused: the whole buffer, sampled
     * so that every column of the qkv rows is hit) */
    char what[96];
    if (fused) {
        snprintf(what, sizeof what, "%s dqkv", name);
        gc_max(what, attn_loss, &f, f.in, fresh, f.nin, (size_t)s.ldq, ATT_EPS, ATT_ATOL, ATT_MAX);
    } else {
        size_t nq = N * s.ldq, nv = N * s.ldv;
        snprintf(what, sizeof what, "%s dq", name);
        gc_max(what, attn_loss, &f, f.q, fresh, nq, (size_t)s.ldq, ATT_EPS, ATT_ATOL, ATT_MAX);
        snprintf(what, sizeof what, "%s dk", name);
        gc_max(what, attn_loss, &f, f.k, fresh + nq, nq, (size_t)s.ldk, ATT_EPS, ATT_ATOL, ATT_MAX);
        snprintf(what, sizeof what, "%s dv", name);
        gc_max(what, attn_loss, &f, f.v, fresh + 2 * nq, nv, (size_t)s.ldv, ATT_EPS, ATT_ATOL, ATT_MAX);
    }
    free((void *)f.valid), free(f.in), free(f.w), free(f.o), free(o_ref), free(f.saved), free(f.scratch);
    free(lse_ref), free(pre), free(d), free(d_ref), free(fresh);
}

TEST(attn_softmax_small) {
    reseed(8);
    attn_case("attn T=1", 2, 1, 1, 3, 3, 1, MASK_NONE, 1, 0, NULL);
    attn_case("attn causal gaps", 2, 13, 2, 8, 8, 1, MASK_NONE, 0, 3, NULL);
    attn_case("attn bidir dqk!=dv gaps", 2, 11, 2, 12, 6, 0, MASK_NONE, 0, 5, NULL);
}

TEST(attn_softmax_padding) {
    reseed(9);
    attn_case("attn causal pad fused", 4, 9, 3, 4, 4, 1, MASK_PAD, 1, 0, NULL);
    attn_case("attn bidir pad fused", 4, 9, 3, 4, 4, 0, MASK_PAD, 1, 0, NULL);
    attn_case("attn bidir pad dqk!=dv gaps", 3, 10, 2, 10, 5, 0, MASK_PAD, 0, 2, NULL);
    attn_case("attn causal pad dqk!=dv gaps", 3, 10, 2, 10, 5, 1, MASK_PAD, 0, 2, NULL);
}

/* T beyond one 64-row query tile and not a multiple of it: the tile loop's edges */
TEST(attn_softmax_long) {
    reseed(10);
    attn_case("attn T=70 causal pad fused", 2, 70, 2, 8, 8, 1, MASK_PAD, 1, 0, NULL);
    attn_case("attn T=130 bidir pad fused", 3, 130, 1, 8, 8, 0, MASK_PAD, 1, 0, NULL);
    attn_case("attn T=130 causal odd head", 1, 130, 1, 5, 5, 1, MASK_NONE, 1, 0, NULL);
    attn_case("attn T=65 causal gaps", 1, 65, 2, 6, 7, 1, MASK_NONE, 0, 1, NULL);
}

/* A case small enough to do by hand: one head of width 1, scale 1, q = (1, 1), k = (0, ln 3),
 * v = (1, 5). Query 1 sees both keys with weights (1/4, 3/4): o = 1/4 + 15/4 = 4, lse = ln 4.
 * Causal query 0 sees only key 0: o = 1, lse = 0; bidirectional it is like query 1. With key 1
 * padded, both queries see key 0 only. */
TEST(attn_softmax_hand_example) {
    const float q[2] = {1, 1}, k[2] = {0, (float)log(3.0)}, v[2] = {1, 5};
    const uint8_t pad[2] = {1, 0};
    const struct { int causal; const uint8_t *valid; float o[2], lse[2]; } cases[] = {
        {1, NULL, {1, 4}, {0, (float)log(4.0)}},
        {0, NULL, {4, 4}, {(float)log(4.0), (float)log(4.0)}},
        {0, pad, {1, 1}, {0, 0}},
    };
    for (int c = 0; c < 3; c++) {
        attn_shape s = {.B = 1, .T = 2, .H = 1, .dqk = 1, .dv = 1, .ldq = 1, .ldk = 1, .ldv = 1, .ldo = 1,
                        .causal = cases[c].causal, .scale = 1.0f};
        float o[2], lse[2], o_ref[2], lse_ref[2];
        float *scratch = tcalloc(attn_softmax.scratch_floats(&s, omp_get_max_threads()));
        attn_softmax.forward(&s, o, lse, q, k, v, cases[c].valid, scratch);
        free(scratch);
        ref_attn_softmax_forward(&s, o_ref, lse_ref, q, k, v, cases[c].valid);
        CHECK_ARRAYS("hand attention o", o, cases[c].o, 2, 1e-6, 1e-6);
        CHECK_ARRAYS("hand attention lse", lse, cases[c].lse, 2, 1e-6, 1e-6);
        CHECK_ARRAYS("hand attention o (reference)", o_ref, cases[c].o, 2, 1e-6, 1e-6);
        CHECK_ARRAYS("hand attention lse (reference)", lse_ref, cases[c].lse, 2, 1e-6, 1e-6);
    }
}

TEST(attn_lookup_by_name) {
    CHECK(attn_lookup("softmax") == &attn_softmax, "softmax kernel by name");
    CHECK(attn_lookup("no-such-kernel") == NULL, "unknown kernel gives NULL");
}

/* ALiBi slopes on the scores, on positions that are not just 0..T-1: 1-D positions with stride 3
 * and an offset per batch row; 2-D (row, col) pairs walking a 9-wide grid from a per-row origin,
 * so that |dr| + |dc| differs from |s - t|. T = 70 crosses the 64-row query tile. */
TEST(ops_attention_score_bias) {
    enum { B = 3, T = 70, H = 2 };
    static const float slopes[H] = {0.5f, 0.125f};
    int32_t pos[B * T], pos2[2 * B * T];
    for (int i = 0; i < B * T; i++) pos[i] = 3 * (i % T) + i / T; /* stride 3, offset per row */
    for (int i = 0; i < B * T; i++) {
        int t = i % T, b = i / T;
        pos2[2 * i] = b + t / 9, pos2[2 * i + 1] = 2 * b + t % 9;
    }
    const alibi_in ab1 = {slopes, pos, 1}, ab2 = {slopes, pos2, 2};
    attn_case("attn causal bias pad fused", B, T, H, 4, 4, 1, MASK_PAD, 1, 0, &ab1);
    attn_case("attn bidir bias gaps", B, T, H, 6, 5, 0, MASK_NONE, 0, 2, &ab1);
    attn_case("attn causal 2-D bias pad fused", B, T, H, 4, 4, 1, MASK_PAD, 1, 0, &ab2);
    attn_case("attn bidir 2-D bias pad gaps", B, T, H, 6, 5, 0, MASK_PAD, 0, 2, &ab2);
    attn_case("attn causal 2-D bias small", 2, 13, 1, 3, 3, 1, MASK_NONE, 0, 1, &ab2);
}

/* want[T] = the attention probabilities of query qs (head h, batch row with positions pos_b and
 * mask valid_b) when the scores are alibi's score_bias row alone: softmax over the visible keys in
 * double, zeros when none is visible. */
static void alibi_probs(const pe *e, int h, int qs, int T, int causal, const int32_t *pos_b,
                        const uint8_t *valid_b, float *want) {
    const int rank = e->dims.pos_rank;
    float row[512];
    for (int t = 0; t < T; t++) row[t] = 0.0f;
    e->vt->score_bias(e, row, h, pos_b + (size_t)qs * rank, pos_b, T);
    double mx = -INFINITY, sum = 0.0;
    for (int t = 0; t < T; t++)
        if ((!causal || t <= qs) && valid_b[t] && row[t] > mx) mx = row[t];
    for (int t = 0; t < T; t++)
        if ((!causal || t <= qs) && valid_b[t]) sum += exp(row[t] - mx);
    for (int t = 0; t < T; t++)
        want[t] = (!causal || t <= qs) && valid_b[t] ? (float)(exp(row[t] - mx) / sum) : 0.0f;
}

/* The kernel's bias is alibi's own (encodings/alibi.c): with q = 0 the scores are the bias alone,
 * and with one-hot values (v_t = e_t, dv = T) the output row of query s is its probability row,
 * so o must equal the softmax of the rows alibi's score_bias hook writes (slopes from pe_describe;
 * H = 3 and 4: the non-power-of-two slopes too; 1-D and 2-D; causal, bidirectional, padded). The
 * slopes are the hook's double ones rounded to float: rtol 1e-5 covers bias ~35 x 6e-8. */
TEST(ops_attention_alibi_matches_hook) {
    reseed(11);
    enum { B = 4, T = 70 };
    for (int H = 3; H <= 4; H++)
        for (int rank = 1; rank <= 2; rank++)
            for (int causal = 0; causal <= 1; causal++) {
                char err[256] = "", what[96];
                pe_options o = pe_options_default();
                pe_dims d = {.d_model = 4 * H, .heads = H, .head_dim = 4, .layers = 1, .max_len = 80,
                             .pos_rank = rank, .grid_h = 8, .grid_w = 10, .causal = causal,
                             .attention = PE_ATTN_SOFTMAX};
                pe *e = NULL;
                if (pe_create(&e, "alibi", &o, &d, err, sizeof err)) {
                    CHECK(0, "alibi: %s", err);
                    return;
                }
                pe_data pd;
                pe_describe(e, &pd);
                int32_t pos[2 * B * T];
                for (int i = 0; i < B * T * rank; i++) pos[i] = (int32_t)rng_below(&R, rank == 1 ? 200 : 9);
                const size_t N = (size_t)B * T, ld = (size_t)H * T; /* v and o rows: H one-hot blocks */
                attn_shape s = {.B = B, .T = T, .H = H, .dqk = 1, .dv = T, .ldq = H, .ldk = H, .ldv = (int)ld,
                                .ldo = (int)ld, .causal = causal, .scale = 1.0f, .slopes = pd.alibi_slope,
                                .pos = pos, .pos_rank = rank};
                float *q = tcalloc(N * H), *k = trandn(&R, N * H, 1.0f), *v = tcalloc(N * ld);
                float *out = tcalloc(N * ld), *want = tcalloc(N * ld), *lse = tcalloc((size_t)B * H * T);
                float *scratch = tcalloc(attn_softmax.scratch_floats(&s, omp_get_max_threads()));
                for (size_t n = 0; n < N; n++)
                    for (int h = 0; h < H; h++) v[n * ld + (size_t)h * T + n % T] = 1.0f;
                uint8_t *valid = make_mask(MASK_PAD, B, T);
                attn_softmax.forward(&s, out, lse, q, k, v, valid, scratch);
                for (int b = 0; b < B; b++)
                    for (int h = 0; h < H; h++)
                        for (int qs = 0; qs < T; qs++)
                            alibi_probs(e, h, qs, T, causal, pos + (size_t)b * T * rank, valid + (size_t)b * T,
                                        want + ((size_t)b * T + qs) * ld + (size_t)h * T);
                snprintf(what, sizeof what, "alibi softmax probabilities H=%d %d-D causal=%d", H, rank, causal);
                CHECK_ARRAYS(what, out, want, N * ld, 1e-5, 1e-7);
                free(q), free(k), free(v), free(out), free(want), free(lse), free(scratch), free(valid);
                pe_destroy(e);
            }
}

/* ---------------------------------------------------------------- fastmath */

/* The vectorizable exp and erf (core/fastmath.h) against libm in double on dense grids. */
TEST(fastmath_exp_and_erf_match_libm) {
    double worst_exp = 0, worst_erf = 0, at_exp = 0, at_erf = 0;
    for (double x = -87.0; x <= 88.0; x += 1.0 / 1024) {
        double want = exp((float)x), rel = fabs(lrpe_expf((float)x) - want) / want;
        if (rel > worst_exp) worst_exp = rel, at_exp = x;
    }
    for (double x = -7.0; x <= 7.0; x += 1.0 / 4096) {
        double err = fabs(lrpe_erff((float)x) - erf((float)x));
        if (err > worst_erf) worst_erf = err, at_erf = x;
    }
    printf("    exp: worst relative error %.2e at %.4f; erf: worst absolute error %.2e at %.4f\n", worst_exp, at_exp,
           worst_erf, at_erf);
    CHECK(worst_exp < 3e-7, "lrpe_expf relative error %.2e at %g", worst_exp, at_exp);
    CHECK(worst_erf < 5e-7, "lrpe_erff absolute error %.2e at %g", worst_erf, at_erf);
    CHECK(lrpe_expf(-1000.0f) < 2e-38f && lrpe_expf(-1000.0f) >= 0.0f, "exp clamps below");
    CHECK(lrpe_erff(0.0f) == 0.0f && lrpe_erff(-9.0f) == -1.0f && lrpe_erff(9.0f) == 1.0f, "erf at 0 and the tails");
    CHECK(isnan(lrpe_expf(NAN)) && isnan(lrpe_erff(NAN)), "NaN in, NaN out (a diverged run must stay visible)");
    CHECK(isfinite(lrpe_expf(1000.0f)) && lrpe_expf(1000.0f) > 1e38f, "exp clamps above to a finite value");
}

/* lrpe_softmax_row (one exponential per element) against the log-sum-exp and exp(z - lse) in
 * double: rows longer and shorter than the lanes, masked (-inf) entries, a fully masked row. */
TEST(fastmath_softmax_row_matches_double) {
    const int lens[] = {1, 5, 16, 37, 128};
    rng r;
    rng_seed(&r, 7, 0);
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        const int n = lens[li];
        float z[128], p[128];
        for (int t = 0; t < n; t++) z[t] = (t % 5 == 3) ? -INFINITY : (float)(8.0 * rng_normal(&r));
        if (n > 1) z[0] = 3.0f; /* at least one visible entry */
        memcpy(p, z, sizeof(float) * n);
        double m = -INFINITY, sum = 0.0;
        for (int t = 0; t < n; t++) m = z[t] > m ? z[t] : m;
        for (int t = 0; t < n; t++) sum += exp((double)z[t] - m);
        const double lse = m + log(sum);
        const float got = lrpe_softmax_row(p, n);
        CHECK(fabs(got - lse) <= 2e-6 * fmax(1.0, fabs(lse)), "n=%d: lse %.9g, want %.9g", n, got, lse);
        CHECK(fabs(got - lrpe_logsumexp(z, n)) <= 2.5e-7 * fmax(1.0, fabs(lse)), "n=%d: lse %.9g, lrpe_logsumexp %.9g", n,
              got, lrpe_logsumexp(z, n));
        double total = 0.0;
        for (int t = 0; t < n; t++) {
            /* float's z - max carries a relative 2^-24, an absolute |z - max| 2^-24 in the exponent */
            const double want = exp((double)z[t] - lse), rel = 1e-6 + fabs((double)z[t] - m) * 0x1p-23;
            CHECK(isinf(z[t]) ? p[t] == 0.0f : fabs(p[t] - want) <= rel * want, "n=%d: p[%d] %.9g, want %.9g", n, t,
                  p[t], want);
            total += p[t];
        }
        CHECK(fabs(total - 1.0) < 1e-5, "n=%d: probabilities sum to %.9g", n, total);
    }
    float masked[3] = {-INFINITY, -INFINITY, -INFINITY};
    CHECK(lrpe_softmax_row(masked, 3) == -INFINITY && masked[0] == 0.0f && masked[2] == 0.0f,
          "a fully masked row gives -inf and zeros");
}
