/* The backend suite: every op of the backend table (backend.h) on every backend this build and
 * machine can open, against the slow double-precision references of core/ref.h and core/ref_linear.h
 * (and, for the encodings and the optimizer, against the CPU code), forward and backward, at several
 * shapes including odd sizes; backward ops run on pre-filled gradients, so accumulation (+=) is
 * checked too. Then the whole model on a backend against the CPU: loss, logits and every gradient.
 * On a build without CUDA, or a machine without a GPU, the CUDA tests are skipped with the reason.
 *
 * Tolerances: rtol 1e-4, atol 1e-5 against the references (float kernels vs double references,
 * values O(1): they agree to ~1e-6, a wrong formula is off by O(1)); a backend against the CPU's
 * own code (encodings, AdamW, the whole model): rtol 1e-5, atol 1e-6 of the tensor's scale, fp32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "gemm.h"
#include "gradcheck.h"
#include "model.h"
#include "ref.h"
#include "ref_linear.h"
#include "test.h"

#define RTOL 1e-4
#define ATOL 1e-5

static rng R;

/* ---- moving arrays between the host and a backend */

/* A new device array holding host[bytes] (zeroed when host is NULL). */
static void *to_dev(const backend *be, const void *host, size_t bytes) {
    void *d = be->alloc(be, bytes ? bytes : 1);
    if (!d) abort();
    if (host && bytes) be->upload(be, d, host, bytes);
    return d;
}

/* A new host array (tcalloc) holding dev[n floats]. */
static float *to_host(const backend *be, const void *dev, size_t n) {
    float *h = tcalloc(n ? n : 1);
    if (n) be->download(be, h, dev, n * sizeof(float));
    return h;
}

/* Frees the device arrays p[n] (NULL entries skipped); FREE_DEV(be, a, b, ...) lists them. */
static void free_dev(const backend *be, void *const *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) be->free(be, p[i]);
}
#define FREE_DEV(be, ...) free_dev(be, (void *const[]){__VA_ARGS__}, sizeof((void *[]){__VA_ARGS__}) / sizeof(void *))

/* Downloads dev[n] and compares it with want[n]. */
static void check_dev(const backend *be, const char *what, const void *dev, const float *want, size_t n,
                      double rtol, double atol) {
    float *got = to_host(be, dev, n);
    char label[1024];
    snprintf(label, sizeof label, "%s on %s", what, be->name);
    check_arrays(__FILE__, __LINE__, label, got, want, n, rtol, atol);
    free(got);
}

/* Opens the backend of device, or marks the running test skipped with the reason; NULL then. */
static const backend *open_or_skip(const char *device) {
    const backend *be;
    char err[512];
    if (backend_open(&be, device, BE_FP32, err, sizeof err)) {
        test_skip("%s", err);
        return NULL;
    }
    return be;
}

/* ---- ops of core/ops.h */

/* Embedding forward and backward (tokens repeat, so rows of dwte collect several tokens). */
static void embed_case(const backend *be, int N, int C, int V) {
    int32_t *tok = malloc((size_t)N * sizeof *tok);
    for (int n = 0; n < N; n++) tok[n] = (int32_t)(rng_next(&R) % (uint64_t)V);
    float *wte = trandn(&R, (size_t)V * C, 1.0f), *dout = trandn(&R, (size_t)N * C, 1.0f);
    float *dwte = trandn(&R, (size_t)V * C, 1.0f), *want = tcalloc((size_t)N * C), *dwant = tdup(dwte, (size_t)V * C);
    int32_t *dtok = to_dev(be, tok, (size_t)N * sizeof *tok);
    float *dw = to_dev(be, wte, (size_t)V * C * 4), *dout_d = to_dev(be, dout, (size_t)N * C * 4);
    float *out_d = to_dev(be, NULL, (size_t)N * C * 4), *dwte_d = to_dev(be, dwte, (size_t)V * C * 4);
    be->embed_forward(be, out_d, dtok, dw, N, C);
    ref_embed_forward(want, tok, wte, N, C);
    check_dev(be, "embed forward", out_d, want, (size_t)N * C, RTOL, ATOL);
    be->embed_backward(be, dwte_d, dout_d, dtok, N, C);
    ref_embed_backward(dwant, dout, tok, N, C);
    check_dev(be, "embed backward", dwte_d, dwant, (size_t)V * C, RTOL, ATOL);
    FREE_DEV(be, dtok, dw, dout_d, out_d, dwte_d);
    free(tok), free(wte), free(dout), free(dwte), free(want), free(dwant);
}

/* Linear forward and backward, with or without bias and input gradient. */
static void linear_case(const backend *be, int N, int IC, int OC, int bias) {
    float *x = trandn(&R, (size_t)N * IC, 1.0f), *w = trandn(&R, (size_t)OC * IC, 0.5f), *b = trandn(&R, OC, 1.0f);
    float *dout = trandn(&R, (size_t)N * OC, 1.0f), *dx = trandn(&R, (size_t)N * IC, 1.0f);
    float *dw = trandn(&R, (size_t)OC * IC, 1.0f), *db = trandn(&R, OC, 1.0f);
    float *out = tcalloc((size_t)N * OC), *dxw = tdup(dx, (size_t)N * IC), *dww = tdup(dw, (size_t)OC * IC),
          *dbw = tdup(db, OC);
    float *x_d = to_dev(be, x, (size_t)N * IC * 4), *w_d = to_dev(be, w, (size_t)OC * IC * 4);
    float *b_d = to_dev(be, b, (size_t)OC * 4), *dout_d = to_dev(be, dout, (size_t)N * OC * 4);
    float *out_d = to_dev(be, out, (size_t)N * OC * 4), *dx_d = to_dev(be, dx, (size_t)N * IC * 4);
    float *dw_d = to_dev(be, dw, (size_t)OC * IC * 4), *db_d = to_dev(be, db, (size_t)OC * 4);
    be->linear_forward(be, out_d, x_d, w_d, bias ? b_d : NULL, N, IC, OC);
    ref_linear_forward(out, x, w, bias ? b : NULL, N, IC, OC);
    check_dev(be, "linear forward", out_d, out, (size_t)N * OC, RTOL, ATOL);
    be->linear_backward(be, bias ? dx_d : NULL, dw_d, bias ? db_d : NULL, dout_d, x_d, w_d, N, IC, OC);
    ref_linear_backward(bias ? dxw : NULL, dww, bias ? dbw : NULL, dout, x, w, N, IC, OC);
    check_dev(be, "linear backward dinp", dx_d, dxw, (size_t)N * IC, RTOL, ATOL);
    check_dev(be, "linear backward dw", dw_d, dww, (size_t)OC * IC, RTOL, ATOL);
    check_dev(be, "linear backward db", db_d, dbw, OC, RTOL, ATOL);
    FREE_DEV(be, x_d, w_d, b_d, dout_d, out_d, dx_d, dw_d, db_d);
    free(x), free(w), free(b), free(dout), free(dx), free(dw), free(db), free(out), free(dxw), free(dww), free(dbw);
}

/* LayerNorm forward (output, mean, rstd) and backward (dinp, dg, db). */
static void layernorm_case(const backend *be, int N, int C) {
    const float eps = 1e-5f;
    float *x = trandn(&R, (size_t)N * C, 2.0f), *g = trandn(&R, C, 1.0f), *b = trandn(&R, C, 1.0f);
    float *dout = trandn(&R, (size_t)N * C, 1.0f), *dx = trandn(&R, (size_t)N * C, 1.0f);
    float *dg = trandn(&R, C, 1.0f), *db = trandn(&R, C, 1.0f);
    float *out = tcalloc((size_t)N * C), *mean = tcalloc(N), *rstd = tcalloc(N);
    float *dxw = tdup(dx, (size_t)N * C), *dgw = tdup(dg, C), *dbw = tdup(db, C);
    float *x_d = to_dev(be, x, (size_t)N * C * 4), *g_d = to_dev(be, g, C * 4), *b_d = to_dev(be, b, C * 4);
    float *out_d = to_dev(be, out, (size_t)N * C * 4), *mean_d = to_dev(be, mean, N * 4), *rstd_d = to_dev(be, rstd, N * 4);
    float *dout_d = to_dev(be, dout, (size_t)N * C * 4), *dx_d = to_dev(be, dx, (size_t)N * C * 4);
    float *dg_d = to_dev(be, dg, C * 4), *db_d = to_dev(be, db, C * 4);
    be->layernorm_forward(be, out_d, mean_d, rstd_d, x_d, g_d, b_d, N, C, eps);
    ref_layernorm_forward(out, mean, rstd, x, g, b, N, C, eps);
    check_dev(be, "layernorm forward", out_d, out, (size_t)N * C, RTOL, ATOL);
    check_dev(be, "layernorm mean", mean_d, mean, N, RTOL, ATOL);
    check_dev(be, "layernorm rstd", rstd_d, rstd, N, RTOL, ATOL);
    be->layernorm_backward(be, dx_d, dg_d, db_d, dout_d, x_d, g_d, mean_d, rstd_d, N, C);
    ref_layernorm_backward(dxw, dgw, dbw, dout, x, g, N, C, eps);
    check_dev(be, "layernorm backward dinp", dx_d, dxw, (size_t)N * C, RTOL, ATOL);
    check_dev(be, "layernorm backward dg", dg_d, dgw, C, RTOL, ATOL);
    check_dev(be, "layernorm backward db", db_d, dbw, C, RTOL, ATOL);
    FREE_DEV(be, x_d, g_d, b_d, out_d, mean_d, rstd_d, dout_d, dx_d, dg_d, db_d);
    free(x), free(g), free(b), free(dout), free(dx), free(dg), free(db), free(out), free(mean), free(rstd);
    free(dxw), free(dgw), free(dbw);
}

/* db[C] += column sums of x[N,C] (the reference's linear bias gradient, in double). */
static void ref_col_sums(float *db, const float *x, int N, int C) {
    float *ones = tcalloc((size_t)N), *w = tcalloc((size_t)C), *dw = tcalloc((size_t)C);
    for (int n = 0; n < N; n++) ones[n] = 1.0f;
    ref_linear_backward(NULL, dw, db, x, ones, w, N, 1, C);
    free(ones), free(w), free(dw);
}

/* bias + GELU (pre becomes GELU's slope at pre + b) and the GELU backward with the bias gradient
 * (in place on the gradient; the bias gradient pre-filled), against the references of GELU, its
 * derivative and column sums. */
static void bias_gelu_case(const backend *be, int N, int C) {
    size_t n = (size_t)N * C;
    float *pre = trandn(&R, n, 2.0f), *b = trandn(&R, C, 1.0f), *dout = trandn(&R, n, 1.0f);
    float *db = trandn(&R, C, 1.0f), *dbw = tdup(db, C), *ones = tcalloc(n);
    float *prew = tcalloc(n), *slope = tcalloc(n), *out = tcalloc(n), *fresh = tcalloc(n);
    for (size_t i = 0; i < n; i++) prew[i] = pre[i] + b[i % C], ones[i] = 1.0f;
    ref_gelu_forward(out, prew, n);
    ref_gelu_backward(slope, prew, ones, n);
    ref_gelu_backward(fresh, prew, dout, n);
    ref_col_sums(dbw, fresh, N, C);
    float *pre_d = to_dev(be, pre, n * 4), *b_d = to_dev(be, b, C * 4), *dout_d = to_dev(be, dout, n * 4);
    float *out_d = to_dev(be, NULL, n * 4), *dx_d = to_dev(be, dout, n * 4), *db_d = to_dev(be, db, C * 4);
    be->bias_gelu_forward(be, pre_d, out_d, b_d, N, C);
    check_dev(be, "bias_gelu forward slope", pre_d, slope, n, RTOL, ATOL);
    check_dev(be, "bias_gelu forward out", out_d, out, n, RTOL, ATOL);
    be->gelu_backward_bias(be, dx_d, db_d, pre_d, N, C);
    check_dev(be, "gelu_backward_bias d", dx_d, fresh, n, RTOL, ATOL);
    check_dev(be, "gelu_backward_bias db", db_d, dbw, C, RTOL, ATOL);
    FREE_DEV(be, pre_d, b_d, dout_d, out_d, dx_d, db_d);
    free(pre), free(b), free(dout), free(db), free(dbw), free(ones), free(prew), free(slope), free(out), free(fresh);
}

/* The residual sum + LayerNorm, then its backward with the column sums of the finished dinp, on
 * pre-filled gradients, against the LayerNorm references and column sums. */
static void residual_layernorm_case(const backend *be, int N, int C) {
    const float eps = 1e-5f;
    size_t n = (size_t)N * C;
    float *res = trandn(&R, n, 2.0f), *x = trandn(&R, n, 1.0f), *bias = trandn(&R, C, 1.0f);
    float *g = trandn(&R, C, 1.0f), *b = trandn(&R, C, 1.0f), *dout = trandn(&R, n, 1.0f);
    float *dx = trandn(&R, n, 1.0f), *dg = trandn(&R, C, 1.0f), *db = trandn(&R, C, 1.0f), *ds = trandn(&R, C, 1.0f);
    float *sum = tcalloc(n), *ln = tcalloc(n), *mean = tcalloc(N), *rstd = tcalloc(N);
    float *dxw = tdup(dx, n), *dgw = tdup(dg, C), *dbw = tdup(db, C), *dsw = tdup(ds, C);
    for (size_t i = 0; i < n; i++) sum[i] = res[i] + bias[i % C] + x[i];
    ref_layernorm_forward(ln, mean, rstd, sum, g, b, N, C, eps);
    ref_layernorm_backward(dxw, dgw, dbw, dout, sum, g, N, C, eps);
    ref_col_sums(dsw, dxw, N, C);
    float *res_d = to_dev(be, res, n * 4), *x_d = to_dev(be, x, n * 4), *bias_d = to_dev(be, bias, C * 4);
    float *g_d = to_dev(be, g, C * 4), *b_d = to_dev(be, b, C * 4), *ln_d = to_dev(be, NULL, n * 4);
    float *mean_d = to_dev(be, NULL, N * 4), *rstd_d = to_dev(be, NULL, N * 4), *dout_d = to_dev(be, dout, n * 4);
    float *dx_d = to_dev(be, dx, n * 4), *dg_d = to_dev(be, dg, C * 4), *db_d = to_dev(be, db, C * 4);
    float *ds_d = to_dev(be, ds, C * 4);
    be->residual_layernorm_forward(be, res_d, ln_d, mean_d, rstd_d, x_d, bias_d, g_d, b_d, N, C, eps);
    check_dev(be, "residual_layernorm res", res_d, sum, n, RTOL, ATOL);
    check_dev(be, "residual_layernorm ln", ln_d, ln, n, RTOL, ATOL);
    check_dev(be, "residual_layernorm mean", mean_d, mean, N, RTOL, ATOL);
    check_dev(be, "residual_layernorm rstd", rstd_d, rstd, N, RTOL, ATOL);
    be->layernorm_backward_bias(be, dx_d, dg_d, db_d, ds_d, dout_d, res_d, g_d, mean_d, rstd_d, N, C);
    check_dev(be, "layernorm_backward_bias dinp", dx_d, dxw, n, RTOL, ATOL);
    check_dev(be, "layernorm_backward_bias dg", dg_d, dgw, C, RTOL, ATOL);
    check_dev(be, "layernorm_backward_bias db", db_d, dbw, C, RTOL, ATOL);
    check_dev(be, "layernorm_backward_bias dbias", ds_d, dsw, C, RTOL, ATOL);
    FREE_DEV(be, res_d, x_d, bias_d, g_d, b_d, ln_d, mean_d, rstd_d, dout_d, dx_d, dg_d, db_d, ds_d);
    free(res), free(x), free(bias), free(g), free(b), free(dout), free(dx), free(dg), free(db), free(ds), free(sum);
    free(ln), free(mean), free(rstd), free(dxw), free(dgw), free(dbw), free(dsw);
}

/* Cross-entropy forward (mean loss, lse) and backward, with every `ignore`-th target ignored. */
static void xent_case(const backend *be, int N, int V, int ignore) {
    float *logits = trandn(&R, (size_t)N * V, 3.0f), *dl = trandn(&R, (size_t)N * V, 1.0f);
    float *lse = tcalloc(N), *dlw = tcalloc((size_t)N * V); /* dl: garbage the backward overwrites */
    int32_t *tg = malloc((size_t)N * sizeof *tg);
    for (int n = 0; n < N; n++) tg[n] = ignore && n % ignore == 0 ? -1 : (int32_t)(rng_next(&R) % (uint64_t)V);
    float *lg_d = to_dev(be, logits, (size_t)N * V * 4), *lse_d = to_dev(be, lse, N * 4);
    float *dl_d = to_dev(be, dl, (size_t)N * V * 4);
    int32_t *tg_d = to_dev(be, tg, (size_t)N * 4);
    double loss = be->xent_forward(be, lse_d, lg_d, tg_d, N, V), want = ref_xent_forward(lse, logits, tg, N, V);
    /* the loss is a difference of float log-sum-exps and logits: each lse carries up to an ulp of
     * its own size (1.2e-7 of it), which a small loss (a confident row) does not scale down */
    double lse_scale = 0.0;
    for (int n = 0; n < N; n++) lse_scale = fmax(lse_scale, fabs(lse[n]));
    CHECK_CLOSE(loss, want, 1e-6, 1e-7 + 1.2e-7 * lse_scale, "xent loss");
    float *lse_got = to_host(be, lse_d, N);
    for (int n = 0; n < N; n++)
        if (tg[n] >= 0) CHECK_CLOSE(lse_got[n], lse[n], RTOL, ATOL, "xent lse");
    be->xent_backward(be, dl_d, lg_d, lse_d, tg_d, N, V, 0.5f);
    ref_xent_backward(dlw, logits, tg, N, V, 0.5f);
    check_dev(be, "xent backward", dl_d, dlw, (size_t)N * V, RTOL, ATOL);
    FREE_DEV(be, lg_d, lse_d, dl_d, tg_d);
    free(logits), free(dl), free(lse), free(dlw), free(tg), free(lse_got);
}

/* Mean pooling over valid tokens, forward and backward (mask kind mk). */
static void meanpool_case(const backend *be, int B, int T, int C, mask_kind mk) {
    size_t n = (size_t)B * T * C;
    uint8_t *valid = make_mask(mk, B, T);
    float *x = trandn(&R, n, 1.0f), *dout = trandn(&R, (size_t)B * C, 1.0f), *dx = trandn(&R, n, 1.0f);
    float *out = tcalloc((size_t)B * C), *dxw = tdup(dx, n);
    uint8_t *v_d = valid ? to_dev(be, valid, (size_t)B * T) : NULL;
    float *x_d = to_dev(be, x, n * 4), *dout_d = to_dev(be, dout, (size_t)B * C * 4);
    float *out_d = to_dev(be, out, (size_t)B * C * 4), *dx_d = to_dev(be, dx, n * 4);
    be->meanpool_forward(be, out_d, x_d, v_d, B, T, C);
    ref_meanpool_forward(out, x, valid, B, T, C);
    check_dev(be, "meanpool forward", out_d, out, (size_t)B * C, RTOL, ATOL);
    be->meanpool_backward(be, dx_d, dout_d, v_d, B, T, C);
    ref_meanpool_backward(dxw, dout, valid, B, T, C);
    check_dev(be, "meanpool backward", dx_d, dxw, n, RTOL, ATOL);
    FREE_DEV(be, x_d, dout_d, out_d, dx_d, v_d);
    free(valid), free(x), free(dout), free(dx), free(out), free(dxw);
}

/* Every op of core/ops.h on be, at odd and round shapes. */
static void ops_suite(const backend *be) {
    rng_seed(&R, 20261206, 1);
    embed_case(be, 1, 8, 5);
    embed_case(be, 37, 13, 11);
    embed_case(be, 256, 64, 50);
    const int lin[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 64, 96}, {130, 17, 3}};
    for (size_t i = 0; i < sizeof lin / sizeof *lin; i++)
        for (int bias = 0; bias < 2; bias++) linear_case(be, lin[i][0], lin[i][1], lin[i][2], bias);
    layernorm_case(be, 1, 7);
    layernorm_case(be, 29, 13);
    layernorm_case(be, 64, 256);
    bias_gelu_case(be, 1, 1);
    bias_gelu_case(be, 37, 13);
    bias_gelu_case(be, 70, 96);
    residual_layernorm_case(be, 1, 7);
    residual_layernorm_case(be, 29, 13);
    residual_layernorm_case(be, 64, 256);
    xent_case(be, 1, 3, 0);
    xent_case(be, 37, 11, 5);
    xent_case(be, 64, 300, 7);
    meanpool_case(be, 1, 5, 3, MASK_NONE);
    meanpool_case(be, 4, 9, 13, MASK_PAD);
}

TEST(backend_cpu_ops_vs_reference) { ops_suite(&backend_cpu); }

TEST(backend_cuda_ops_vs_reference) {
    const backend *be = open_or_skip("cuda");
    if (!be) return;
    ops_suite(be);
    backend_close(be);
}

/* ---- linear attention's pieces and both attention kernels */

/* The feature map over strided rows (ld > cols), forward and backward. */
static void featuremap_case(const backend *be, int rows, int cols, int ld, featuremap fm) {
    size_t n = (size_t)rows * ld;
    float *x = trandn(&R, n, 1.5f), *dout = trandn(&R, n, 1.0f), *dx = trandn(&R, n, 1.0f);
    float *out = trandn(&R, n, 1.0f), *dxw = tdup(dx, n), *outw = tdup(out, n);
    for (int r = 0; r < rows; r++) {
        ref_featuremap_forward(outw + (size_t)r * ld, x + (size_t)r * ld, cols, fm);
        ref_featuremap_backward(dxw + (size_t)r * ld, x + (size_t)r * ld, dout + (size_t)r * ld, cols, fm);
    }
    float *x_d = to_dev(be, x, n * 4), *dout_d = to_dev(be, dout, n * 4), *dx_d = to_dev(be, dx, n * 4);
    float *out_d = to_dev(be, out, n * 4);
    be->featuremap_forward_rows(be, out_d, ld, x_d, ld, rows, cols, fm);
    check_dev(be, "featuremap forward rows", out_d, outw, n, RTOL, ATOL);
    be->featuremap_backward_rows(be, dx_d, ld, out_d, ld, dout_d, ld, rows, cols, fm); /* from the output */
    check_dev(be, "featuremap backward rows", dx_d, dxw, n, RTOL, ATOL);
    FREE_DEV(be, x_d, dout_d, dx_d, out_d);
    free(x), free(dout), free(dx), free(out), free(dxw), free(outw);
}

/* The denominator normaliser, forward (out, z) and backward, over positive features. */
static void denom_case(const backend *be, int B, int T, int H, int d, int causal, mask_kind mk) {
    lin_denom_shape s = {.B = B, .T = T, .H = H, .d = d, .dv = d, .ldq = H * d, .ldk = H * d, .ldn = H * d,
                         .ldo = H * d, .causal = causal};
    size_t n = (size_t)B * T * H * d, nz = (size_t)B * T * H;
    uint8_t *valid = make_mask(mk, B, T);
    float *fq = trandn(&R, n, 1.0f), *fk = trandn(&R, n, 1.0f), *num = trandn(&R, n, 1.0f), *dout = trandn(&R, n, 1.0f);
    for (size_t i = 0; i < n; i++) fq[i] = fabsf(fq[i]) + 0.1f, fk[i] = fabsf(fk[i]) + 0.1f;
    /* the backward writes its three gradients: the device's start as garbage, the reference's at 0 */
    float *dnum = trandn(&R, n, 1.0f), *dfq = trandn(&R, n, 1.0f), *dfk = trandn(&R, n, 1.0f);
    float *out = tcalloc(n), *z = tcalloc(nz), *dnw = tcalloc(n), *dqw = tcalloc(n), *dkw = tcalloc(n);
    ref_lin_denom_forward(&s, out, z, num, fq, fk, valid);
    ref_lin_denom_backward(&s, dnw, dqw, dkw, dout, num, fq, fk, valid);
    float *fq_d = to_dev(be, fq, n * 4), *fk_d = to_dev(be, fk, n * 4), *num_d = to_dev(be, num, n * 4);
    float *dout_d = to_dev(be, dout, n * 4), *dnum_d = to_dev(be, dnum, n * 4), *dfq_d = to_dev(be, dfq, n * 4);
    float *dfk_d = to_dev(be, dfk, n * 4), *out_d = to_dev(be, NULL, n * 4), *z_d = to_dev(be, NULL, nz * 4);
    uint8_t *v_d = valid ? to_dev(be, valid, (size_t)B * T) : NULL;
    attn_shape as = {.B = B, .T = T, .H = H, .dqk = d, .dv = d};
    float *scratch = to_dev(be, NULL, be->scratch_floats(be, BE_ATTN_LINEAR, &as, &s) * 4);
    be->lin_denom_forward(be, &s, out_d, z_d, num_d, fq_d, fk_d, v_d, scratch);
    check_dev(be, "denominator forward", out_d, out, n, RTOL, ATOL);
    check_dev(be, "denominator z", z_d, z, nz, RTOL, ATOL);
    be->lin_denom_backward(be, &s, dnum_d, dfq_d, dfk_d, dout_d, out_d, z_d, fq_d, fk_d, v_d, scratch);
    check_dev(be, "denominator backward dnum", dnum_d, dnw, n, RTOL, ATOL);
    check_dev(be, "denominator backward dfq", dfq_d, dqw, n, RTOL, ATOL);
    check_dev(be, "denominator backward dfk", dfk_d, dkw, n, RTOL, ATOL);
    FREE_DEV(be, fq_d, fk_d, num_d, dout_d, dnum_d, dfq_d, dfk_d, out_d, z_d, scratch, v_d);
    free(valid), free(fq), free(fk), free(num), free(dout), free(dnum), free(dfq), free(dfk), free(out), free(z);
    free(dnw), free(dqw), free(dkw);
}

/* One attention call checked against the reference: q, k, v in separate strided buffers (row gap
 * `gap` floats), ALiBi slopes (softmax, rank 1 or 2 positions) or decay (linear) when asked. */
static void attention_case(const backend *be, be_attn kind, int B, int T, int H, int dqk, int dv, int causal,
                           mask_kind mk, int gap, int alibi_rank, int decay) {
    attn_shape s = {.B = B, .T = T, .H = H, .dqk = dqk, .dv = dv, .ldq = H * dqk + gap, .ldk = H * dqk + gap,
                    .ldv = H * dv + gap, .ldo = H * dv + gap, .causal = causal,
                    .scale = kind == BE_ATTN_SOFTMAX ? 1.0f / sqrtf((float)dqk) : 1.0f};
    const size_t N = (size_t)B * T, nq = N * s.ldq, nv = N * s.ldv, no = N * s.ldo;
    uint8_t *valid = make_mask(mk, B, T);
    float *slopes = tcalloc(H), *dec = tcalloc(H);
    int32_t *pos = malloc(N * 2 * sizeof *pos);
    for (int h = 0; h < H; h++) slopes[h] = 0.5f / (float)(h + 1), dec[h] = 0.9f + 0.09f * (float)h / (float)H;
    for (size_t n = 0; n < N; n++) /* rank 2: a 4-wide grid; rank 1: t */
        pos[2 * n] = (int32_t)(alibi_rank == 2 ? (n % T) / 4 : n % T), pos[2 * n + 1] = (int32_t)((n % T) % 4);
    if (alibi_rank == 1)
        for (size_t n = 0; n < N; n++) pos[n] = (int32_t)(n % T);
    float *q = trandn(&R, nq, 1.0f), *k = trandn(&R, nq, 1.0f), *v = trandn(&R, nv, 1.0f), *dout = trandn(&R, no, 1.0f);
    if (kind == BE_ATTN_LINEAR) /* positive features, as after phi */
        for (size_t i = 0; i < nq; i++) q[i] = fabsf(q[i]) * 0.3f, k[i] = fabsf(k[i]) * 0.3f;
    float *dq = trandn(&R, nq, 1.0f), *dk = trandn(&R, nq, 1.0f), *dvv = trandn(&R, nv, 1.0f);
    float *o = tcalloc(no), *lse = tcalloc(N * H), *dqw = tdup(dq, nq), *dkw = tdup(dk, nq), *dvw = tdup(dvv, nv);
    attn_shape rs = s; /* the reference sees host arrays */
    if (alibi_rank) rs.slopes = slopes, rs.pos = pos, rs.pos_rank = alibi_rank;
    if (decay) rs.decay = dec;
    if (kind == BE_ATTN_SOFTMAX) {
        ref_attn_softmax_forward(&rs, o, lse, q, k, v, valid);
        ref_attn_softmax_backward(&rs, dqw, dkw, dvw, dout, q, k, v, valid);
    } else {
        ref_linattn_quadratic_forward(&rs, o, q, k, v, valid);
        ref_linattn_quadratic_backward(&rs, dqw, dkw, dvw, dout, q, k, v, valid);
    }
    attn_shape ds = s; /* the backend sees device arrays */
    float *slopes_d = to_dev(be, slopes, H * 4), *dec_d = to_dev(be, dec, H * 4);
    int32_t *pos_d = to_dev(be, pos, N * 2 * sizeof *pos);
    if (alibi_rank) ds.slopes = slopes_d, ds.pos = pos_d, ds.pos_rank = alibi_rank;
    if (decay) ds.decay = dec_d;
    float *q_d = to_dev(be, q, nq * 4), *k_d = to_dev(be, k, nq * 4), *v_d = to_dev(be, v, nv * 4);
    float *dout_d = to_dev(be, dout, no * 4), *dq_d = to_dev(be, dq, nq * 4), *dk_d = to_dev(be, dk, nq * 4);
    float *dv_d = to_dev(be, dvv, nv * 4), *o_d = to_dev(be, NULL, no * 4);
    uint8_t *valid_d = valid ? to_dev(be, valid, N) : NULL;
    float *saved = to_dev(be, NULL, be->attn_saved_floats(be, kind, &ds) * 4 + 4);
    float *scratch = to_dev(be, NULL, be->scratch_floats(be, kind, &ds, NULL) * 4 + 4);
    char what[160];
    snprintf(what, sizeof what, "%s attention B%d T%d H%d dqk%d dv%d causal%d mask%d alibi%d decay%d",
             kind == BE_ATTN_SOFTMAX ? "softmax" : "linear", B, T, H, dqk, dv, causal, mk, alibi_rank, decay);
    be->attn_forward(be, kind, &ds, o_d, saved, q_d, k_d, v_d, valid_d, scratch);
    /* the output's row gaps are not written by either side: compare the heads' columns only */
    float *og = to_host(be, o_d, no);
    for (size_t n = 0; n < N; n++)
        for (int i = H * dv; i < s.ldo; i++) og[n * s.ldo + i] = o[n * s.ldo + i];
    char fw[512];
    snprintf(fw, sizeof fw, "%s forward on %s", what, be->name);
    check_arrays(__FILE__, __LINE__, fw, og, o, no, 1e-4, 1e-5);
    be->attn_backward(be, kind, &ds, dq_d, dk_d, dv_d, dout_d, o_d, saved, q_d, k_d, v_d, valid_d, scratch);
    snprintf(fw, sizeof fw, "%s backward dq", what);
    check_dev(be, fw, dq_d, dqw, nq, 1e-4, 1e-4);
    snprintf(fw, sizeof fw, "%s backward dk", what);
    check_dev(be, fw, dk_d, dkw, nq, 1e-4, 1e-4);
    snprintf(fw, sizeof fw, "%s backward dv", what);
    check_dev(be, fw, dv_d, dvw, nv, 1e-4, 1e-4);
    FREE_DEV(be, slopes_d, dec_d, pos_d, q_d, k_d, v_d, dout_d, dq_d, dk_d, dv_d, o_d, saved, scratch, valid_d);
    free(valid), free(slopes), free(dec), free(pos), free(q), free(k), free(v), free(dout), free(dq), free(dk);
    free(dvv), free(o), free(lse), free(dqw), free(dkw), free(dvw), free(og);
}

/* Feature maps, the denominator, and both kernels in every mode the model uses. */
static void attention_suite(const backend *be) {
    rng_seed(&R, 20261206, 2);
    for (int fm = 0; fm < 2; fm++) {
        featuremap_case(be, 1, 3, 3, (featuremap)fm);
        featuremap_case(be, 37, 13, 40, (featuremap)fm);
    }
    for (int causal = 0; causal < 2; causal++) {
        denom_case(be, 1, 1, 1, 4, causal, MASK_NONE);
        denom_case(be, 4, 19, 3, 5, causal, MASK_PAD);
        for (int mk = 0; mk < 2; mk++) {
            attention_case(be, BE_ATTN_SOFTMAX, 2, 9, 2, 8, 8, causal, (mask_kind)mk, 0, 0, 0);
            attention_case(be, BE_ATTN_SOFTMAX, 4, 70, 3, 10, 5, causal, (mask_kind)mk, 3, 0, 0);
            attention_case(be, BE_ATTN_SOFTMAX, 4, 33, 2, 7, 7, causal, (mask_kind)mk, 1, 1, 0);
            attention_case(be, BE_ATTN_SOFTMAX, 4, 32, 2, 6, 6, causal, (mask_kind)mk, 0, 2, 0);
            attention_case(be, BE_ATTN_LINEAR, 2, 9, 2, 8, 8, causal, (mask_kind)mk, 0, 0, 0);
            attention_case(be, BE_ATTN_LINEAR, 4, 70, 3, 10, 5, causal, (mask_kind)mk, 3, 0, 0);
        }
        if (causal) attention_case(be, BE_ATTN_LINEAR, 4, 150, 2, 6, 6, 1, MASK_PAD, 2, 0, 1);
    }
    /* heads wider than one 64-column slice of the GPU kernels (dqk != dv), more than two chunks */
    attention_case(be, BE_ATTN_LINEAR, 1, 130, 1, 70, 66, 1, MASK_PAD, 1, 0, 1);
    attention_case(be, BE_ATTN_LINEAR, 1, 70, 1, 66, 70, 0, MASK_PAD, 1, 0, 0);
    attention_case(be, BE_ATTN_SOFTMAX, 1, 70, 1, 80, 72, 1, MASK_PAD, 0, 1, 0);
    denom_case(be, 1, 130, 1, 70, 1, MASK_PAD);
}

TEST(backend_cpu_attention_vs_reference) { attention_suite(&backend_cpu); }

TEST(backend_cuda_attention_vs_reference) {
    const backend *be = open_or_skip("cuda");
    if (!be) return;
    attention_suite(be);
    backend_close(be);
}

/* ---- the optimizer against core/optim.c */

/* AdamW over a small table (decayed and frozen tensors), the gradient norm and scaling. */
static void optim_suite(const backend *be) {
    rng_seed(&R, 20261206, 3);
    tensor_table tt = {0};
    int shape_w[2] = {13, 7}, shape_b[1] = {13}, shape_p[1] = {5};
    int iw = tt_add(&tt, "w", TK_WEIGHT, INIT_NORMAL, 0.02f, 2, shape_w);
    tt_add(&tt, "b", TK_BIAS, INIT_ZERO, 0, 1, shape_b);
    int ip = tt_add(&tt, "pe.theta", TK_POS, INIT_ZERO, 0, 1, shape_p);
    CHECK(iw >= 0 && ip >= 0, "table");
    tt.t[ip].frozen = 1;
    size_t n = tt.total;
    float *p = trandn(&R, n, 1.0f), *g = trandn(&R, n, 0.1f), *m = trandn(&R, n, 0.01f), *v = tcalloc(n);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(p[i]) * 1e-3f;
    float *p_d = to_dev(be, p, n * 4), *g_d = to_dev(be, g, n * 4), *m_d = to_dev(be, m, n * 4), *v_d = to_dev(be, v, n * 4);
    adamw_config c = adamw_defaults();
    for (long t = 1; t <= 3; t++) {
        adamw_step(p, g, m, v, &tt, &c, 1e-2f, t);
        be->adamw_step(be, p_d, g_d, m_d, v_d, &tt, &c, 1e-2f, t);
    }
    check_dev(be, "adamw params", p_d, p, n, 1e-6, 1e-7);
    check_dev(be, "adamw m", m_d, m, n, 1e-6, 1e-9);
    check_dev(be, "adamw v", v_d, v, n, 1e-6, 1e-12);
    CHECK_CLOSE(be->grad_norm(be, g_d, n), grad_norm(g, n), 1e-12, 0, "grad norm");
    be->scale(be, g_d, n, 0.25f);
    for (size_t i = 0; i < n; i++) g[i] *= 0.25f;
    check_dev(be, "scale", g_d, g, n, 0, 0);
    FREE_DEV(be, p_d, g_d, m_d, v_d);
    free(p), free(g), free(m), free(v);
    tt_free(&tt);
}

TEST(backend_cpu_optimizer) { optim_suite(&backend_cpu); }

TEST(backend_cuda_optimizer) {
    const backend *be = open_or_skip("cuda");
    if (!be) return;
    optim_suite(be);
    backend_close(be);
}

/* ---- the whole model on a backend against the CPU */

/* One model configuration: relative encoding, attention, and the options that change the code path. */
typedef struct model_case {
    const char *attention, *encoding, *absolute, *normalizer, *feature_map;
    int causal, cls, pos_rank;
    const char *p; /* the lrpe P option (NULL: the default, householder) */
} model_case;

/* Every relative encoding with each attention it supports, and the other code paths once. */
static const model_case MODEL_CASES[] = {
    {"softmax", "none", "none", "layernorm", "1+elu", 1, 0, 1, NULL},
    {"softmax", "rope", "learned", "layernorm", "1+elu", 1, 0, 1, NULL},
    {"softmax", "lrpe-rotation", "none", "layernorm", "1+elu", 1, 0, 1, NULL},
    {"softmax", "lrpe-unitary", "sinusoidal", "layernorm", "1+elu", 0, 1, 1, NULL},
    {"softmax", "lrpe-permutation", "none", "layernorm", "1+elu", 1, 0, 1, NULL},
    {"softmax", "alibi", "none", "layernorm", "1+elu", 0, 1, 2, NULL},
    {"softmax", "alibi", "none", "layernorm", "1+elu", 1, 0, 1, NULL},
    {"linear", "none", "sinusoidal", "layernorm", "1+elu", 1, 0, 1, NULL},
    {"linear", "rope", "none", "denominator", "relu", 1, 0, 1, NULL},
    {"linear", "lrpe-rotation", "none", "layernorm", "1+elu", 0, 1, 2, NULL},
    {"linear", "lrpe-rotation", "none", "layernorm", "1+elu", 1, 0, 1, "identity"},
    {"softmax", "lrpe-unitary", "none", "layernorm", "1+elu", 1, 0, 1, "dct"},
    {"linear", "lrpe-unitary", "none", "layernorm", "1+elu", 1, 0, 1, "oddeven"},
    {"linear", "lrpe-unitary", "none", "denominator", "1+elu", 1, 0, 1, NULL},
    {"linear", "lrpe-permutation", "learned", "layernorm", "relu", 1, 0, 1, NULL},
    {"linear", "permuteformer", "none", "layernorm", "1+elu", 1, 0, 1, NULL},
    {"linear", "permuteformer", "none", "denominator", "1+elu", 0, 1, 2, NULL},
    {"linear", "cosformer", "none", "layernorm", "relu", 1, 0, 1, NULL},
    {"linear", "cosformer", "none", "denominator", "relu", 0, 1, 1, NULL},
};

/* A small model of case mc on device, initialised from seed 7 with learned theta (where it has
 * one); NULL after recording a failure. */
static model *build_model(const model_case *mc, const char *device, int B, int T) {
    model_config c = model_config_default();
    c.attention = mc->attention, c.encoding = mc->encoding, c.absolute = mc->absolute;
    c.normalizer = mc->normalizer, c.feature_map = mc->feature_map, c.causal = mc->causal;
    c.head = mc->cls ? HEAD_CLS : HEAD_LM;
    c.vocab = 40, c.n_out = mc->cls ? 5 : 40, c.d_model = 24, c.heads = 2, c.layers = 2;
    c.max_batch = B, c.max_seq = T, c.seed = 11, c.device = device;
    if (mc->pos_rank == 2) c.pos_rank = 2, c.grid_h = T / 4, c.grid_w = 4;
    char err[256];
    pe_options_set(&c.pe_opt, "theta", "learned", err, sizeof err);
    if (mc->p) pe_options_set(&c.pe_opt, "p", mc->p, err, sizeof err);
    model *m;
    if (model_create(&m, &c, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s/%s on %s: %s", mc->attention, mc->encoding, device, err);
        return NULL;
    }
    model_init(m, 7);
    return m;
}

/* Loss, logits and every gradient of case mc on be against the CPU, on a padded batch. */
static void model_case_check(const backend *be, const model_case *mc) {
    const int B = 3, T = 16;
    model *cpu = build_model(mc, "cpu", B, T), *dev = build_model(mc, be->name, B, T);
    if (!cpu || !dev) {
        model_destroy(cpu), model_destroy(dev);
        return;
    }
    int32_t tok[3 * 16], tgt[3 * 16], pos[3 * 16 * 2];
    uint8_t valid[3 * 16];
    for (int n = 0; n < B * T; n++) {
        tok[n] = (int32_t)(rng_next(&R) % 40), tgt[n] = mc->cls ? n % 5 : (int32_t)(rng_next(&R) % 40);
        valid[n] = !(n / T == 1 && n % T > 10);
        pos[2 * n] = (n % T) / 4, pos[2 * n + 1] = (n % T) % 4;
    }
    model_batch b = {.B = B, .T = T, .tokens = tok, .targets = tgt, .valid = mc->cls ? valid : NULL,
                     .pos = mc->pos_rank == 2 ? pos : NULL};
    double lc = test_forward(cpu, &b), ld = test_forward(dev, &b);
    char what[160];
    snprintf(what, sizeof what, "%s/%s/%s causal %d on %s", mc->attention, mc->encoding, mc->normalizer, mc->causal,
             be->name);
    CHECK_CLOSE(ld, lc, 1e-5, 0, what);
    size_t nl = (size_t)(mc->cls ? B : B * T) * model_cfg(cpu)->n_out;
    check_arrays(__FILE__, __LINE__, what, model_logits(dev), model_logits(cpu), nl, 1e-4, 1e-5);
    model_zero_grad(cpu), model_zero_grad(dev);
    model_backward(cpu, 1.0f), model_backward(dev, 1.0f);
    const tensor_table *tt = model_param_table(cpu);
    const float *gc = model_grads(cpu), *gd = model_grads(dev);
    for (int i = 0; i < tt->n; i++) {
        const tensor_desc *t = &tt->t[i];
        double mx = 0;
        for (size_t j = 0; j < t->numel; j++) mx = fmax(mx, fabs(gc[t->offset + j]));
        char name[512];
        snprintf(name, sizeof name, "%s grad %s", what, t->name);
        check_arrays(__FILE__, __LINE__, name, gd + t->offset, gc + t->offset, t->numel, 1e-4, 1e-5 * mx + 1e-9);
    }
    model_destroy(cpu), model_destroy(dev);
}

/* Every model case on be against the CPU. */
static void model_suite(const backend *be) {
    rng_seed(&R, 20261206, 4);
    for (size_t i = 0; i < sizeof MODEL_CASES / sizeof *MODEL_CASES; i++) model_case_check(be, &MODEL_CASES[i]);
}

TEST(backend_cpu_model_matches_itself) { model_suite(&backend_cpu); }

TEST(backend_cuda_model_matches_cpu) {
    const backend *be = open_or_skip("cuda");
    if (!be) return;
    model_suite(be);
    backend_close(be);
}

/* ---- opening backends */

TEST(backend_open_refuses_clearly) {
    const backend *be;
    char err[512];
    CHECK(backend_open(&be, "cpu", BE_FP32, err, sizeof err) == 0 && be == &backend_cpu, "cpu opens");
    CHECK(backend_open(&be, "tpu", BE_FP32, err, sizeof err) == -1 && strstr(err, "unknown device 'tpu'") &&
              strstr(err, BACKEND_DEVICES),
          "unknown device: %s", err);
    CHECK(backend_open(&be, "cpu", BE_TF32, err, sizeof err) == -1 &&
              strstr(err, "model.precision=tf32: tf32 is a mode of the GPU's tensor cores; on the CPU set"),
          "cpu tf32: %s", err);
    if (gemm_bf16_supported())
        CHECK(backend_open(&be, "cpu", BE_BF16, err, sizeof err) == 0 && be == &backend_cpu_bf16 &&
                  be->precision == BE_BF16,
              "cpu bf16 opens on this CPU: %s", err);
    else
        CHECK(backend_open(&be, "cpu", BE_BF16, err, sizeof err) == -1 && strstr(err, "no AVX512-BF16"), "cpu bf16: %s",
              err);
    if (backend_open(&be, "cuda", BE_FP32, err, sizeof err) == 0) {
        backend_close(be);
        return;
    }
    /* refused: the line says why and how to fix it */
    CHECK(strstr(err, "model.device=cuda") && (strstr(err, "make CUDA=1") || strstr(err, "no CUDA GPU")) &&
              strstr(err, "model.device=cpu") && !strchr(err, '\n'),
          "cuda refusal: %s", err);
    model_config c = model_config_default();
    c.device = "cuda";
    model *m;
    CHECK(model_create(&m, &c, err, sizeof err) == -1 && strstr(err, "model.device=cuda"), "model on cuda: %s", err);
}
