/* Linear attention (attn_linear), its feature maps and its denominator normaliser (linattn.h):
 *  - the chunked kernel == the recurrent reference == the masked-quadratic reference, forward and
 *    backward, causal and bidirectional, with and without per-head decay (r_h = sigmoid(3h/H + 2),
 *    0.88..0.99), with padding, T = 200 (over six chunks of 32 and not a multiple of it),
 *    dqk = 2 dv (the width the unitary encoding gives), strided views whose gaps must be neither
 *    read nor written; the two references are also checked against each other;
 *  - finite differences of q, k, v (kernel), of the feature maps, and of num, fq, fk (denominator);
 *  - every backward accumulates into pre-filled buffers;
 *  - T = 4096 with decay: finite and equal to the recurrent reference (the decay is applied
 *    chunk-relative; r^-t would overflow float32 before t = 784);
 *  - the same bits with 1 and 2 threads, and no heap allocation in the kernel.
 *
 * Tolerances (test_close is |a-b| <= atol + rtol*max(|a|,|b|)):
 *  - kernel vs references: rtol 1e-4 with atol 1e-5 * max|reference| over the array (outputs are
 *    sums of up to 200 terms; float rounding then scales with the array's magnitude, measured
 *    worst ~1e-6 relative to it). A dropped term, a decay exponent off by one (an error of
 *    (1 - r) >= 1% on the inter-chunk part) or a padding key let through fails by far.
 *  - recurrent vs quadratic reference (both in double): rtol 1e-6, atol 1e-6 * max|reference|.
 *  - accumulation: rtol 1e-5, atol 1e-6 * max|fresh| (the kernel adds several GEMM results in
 *    turn onto the prefill, so the rounding differs from prefill + total by a few ulps).
 *  - finite differences: the numerator is linear in each single element of q, k and v, so central
 *    differences are exact but for rounding: step 0.5, rtol 1e-4, atol 1e-4 (measured worst
 *    error 1e-5 on gradients of O(5)). Feature maps: step 1e-3, rtol 1e-3, atol 1e-4 (inputs kept
 *    0.05 away from the kink at 0; measured 1.2e-4 relative, the float rounding of the loss).
 *    Denominator: step 1e-2, rtol 1e-3, atol 1e-4 (smooth there; measured 3e-5 relative). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "attention.h"
#include "fastmath.h"
#include "gradcheck.h"
#include "linattn.h"
#include "ref_linear.h"
#include "test.h"
#include "threads.h"

#define LIN_RTOL 1e-4
#define LIN_ATOL_REL 1e-5
#define REFS_RTOL 1e-6
#define REFS_ATOL_REL 1e-6
#define ACC_RTOL 1e-5
#define ACC_ATOL_REL 1e-6
#define LIN_GC_EPS 0.5
#define LIN_GC_RTOL 1e-4
#define LIN_GC_ATOL 1e-4
#define LIN_GC_MAX 60 /* elements checked per kernel input (each is two forward passes) */
#define FM_GC_EPS 1e-3
#define FM_GC_RTOL 1e-3
#define FM_GC_ATOL 1e-4
#define DEN_GC_EPS 1e-2
#define DEN_GC_RTOL 1e-3
#define DEN_GC_ATOL 1e-4
#define DEN_GC_MAX 120

static rng R;

static void reseed(uint64_t stream) { rng_seed(&R, 20240611, stream); }

/* max |x[i]| over n floats */
static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* got vs want with atol relative to the largest |want| */
#define CHECK_SCALED(what, got, want, n, rtol, atol_rel) \
    check_arrays(__FILE__, __LINE__, what, got, want, n, rtol, (atol_rel) * max_abs(want, n) + 1e-30)

/* got (backward on a buffer pre-filled with pre) == pre + fresh (backward on a zeroed one) */
static void check_accum(const char *what, const float *got, const float *pre, const float *fresh, size_t n) {
    float *want = tcalloc(n);
    for (size_t i = 0; i < n; i++) want[i] = pre[i] + fresh[i];
    check_arrays(__FILE__, __LINE__, what, got, want, n, ACC_RTOL, ACC_ATOL_REL * max_abs(fresh, n) + 1e-30);
    free(want);
}

/* The per-head decay of the permuteformer baseline: r_h = sigmoid(3h/H + 2). */
static float *make_decay(int H) {
    float *r = tcalloc((size_t)H);
    for (int h = 0; h < H; h++) r[h] = (float)(1.0 / (1.0 + exp(-(3.0 * h / H + 2.0))));
    return r;
}

/* ---------------------------------------------------------------- the kernel */

/* q, k, v, o in separate buffers whose rows end in `gap` unused floats. */
typedef struct lin_fx {
    attn_shape s;
    const uint8_t *valid;
    float *q, *k, *v, *o, *w, *scratch, *saved; /* saved: the forward's segment states */
    size_t nq, nv;
} lin_fx;

/* sum(o * w) after the kernel's forward on the fixture's current inputs. */
static double lin_loss(void *ctx) {
    lin_fx *f = ctx;
    attn_linear.forward(&f->s, f->o, f->saved, f->q, f->k, f->v, f->valid, f->scratch);
    return dot_loss(f->o, f->w, f->nv);
}

/* A fixture: the shape, random inputs (q, k std 0.5, v std 1), loss weights w (0 on o's gaps), o
 * pre-filled with noise (the forward must overwrite it) and a sentinel in its gaps, and scratch for the runner's thread count. */
static lin_fx lin_setup(int B, int T, int H, int dqk, int dv, int causal, const float *decay, mask_kind mk,
                        int gap) {
    lin_fx f = {0};
    f.s = (attn_shape){.B = B, .T = T, .H = H, .dqk = dqk, .dv = dv, .causal = causal, .scale = 1.0f,
                       .decay = decay, .ldq = H * dqk + gap, .ldk = H * dqk + gap, .ldv = H * dv + gap,
                       .ldo = H * dv + gap};
    size_t N = (size_t)B * T;
    f.nq = N * f.s.ldq, f.nv = N * f.s.ldv;
    f.valid = make_mask(mk, B, T);
    f.q = trandn(&R, f.nq, 0.5f), f.k = trandn(&R, f.nq, 0.5f), f.v = trandn(&R, f.nv, 1.0f), f.w = trandn(&R, f.nv, 1.0f);
    f.o = trandn(&R, f.nv, 100.0f); /* the forward must write o, not add to it */
    for (size_t i = 0; i < f.nv; i++)
        if ((int)(i % f.s.ldo) >= H * dv) f.o[i] = 777.0f, f.w[i] = 0.0f;
    f.scratch = tcalloc(attn_linear.scratch_floats(&f.s, omp_get_max_threads()));
    f.saved = tcalloc(attn_linear.saved_floats(&f.s));
    return f;
}

/* Frees what lin_setup allocated. */
static void lin_free(lin_fx *f) {
    free((void *)f->valid), free(f->q), free(f->k), free(f->v), free(f->o), free(f->w), free(f->scratch), free(f->saved);
}

/* Gradients of q, k, v in one buffer [nq | nq | nv]. */
typedef struct grads { float *all, *q, *k, *v; } grads;

/* The q, k, v parts of a gradient buffer laid out [nq | nq | nv]. */
static grads grads_from(float *all, const lin_fx *f) {
    return (grads){all, all, all + f->nq, all + 2 * f->nq};
}

/* The chunked kernel against both references (forward and backward, pre-filled gradients), the
 * references against each other, accumulation, untouched gaps, and (gc) finite differences. */
static void lin_case(const char *name, int B, int T, int H, int dqk, int dv, int causal, int use_decay,
                     mask_kind mk, int gap, int gc) {
    float *decay = use_decay ? make_decay(H) : NULL;
    lin_fx f = lin_setup(B, T, H, dqk, dv, causal, decay, mk, gap);
    char what[128];
    /* causal: one dqk x dv state per (batch, head) and segment of 256 tokens after the first */
    size_t want_saved = causal ? (size_t)B * H * ((T - 1) / 256) * dqk * dv : 0;
    CHECK(attn_linear.saved_floats(&f.s) == want_saved, "%s: saved floats %zu, want %zu", name,
          attn_linear.saved_floats(&f.s), want_saved);

    /* forward: chunked, recurrent, quadratic (o's gaps keep their sentinel in all three) */
    float *o_rec = tdup(f.o, f.nv), *o_quad = tdup(f.o, f.nv);
    lin_loss(&f);
    ref_linattn_recurrent_forward(&f.s, o_rec, f.q, f.k, f.v, f.valid);
    ref_linattn_quadratic_forward(&f.s, o_quad, f.q, f.k, f.v, f.valid);
    snprintf(what, sizeof what, "%s forward chunked vs recurrent", name);
    CHECK_SCALED(what, f.o, o_rec, f.nv, LIN_RTOL, LIN_ATOL_REL);
    snprintf(what, sizeof what, "%s forward chunked vs quadratic", name);
    CHECK_SCALED(what, f.o, o_quad, f.nv, LIN_RTOL, LIN_ATOL_REL);
    snprintf(what, sizeof what, "%s forward recurrent vs quadratic", name);
    CHECK_SCALED(what, o_rec, o_quad, f.nv, REFS_RTOL, REFS_ATOL_REL);
    if (mk == MASK_PAD && B > 2) /* batch 2 has no valid key: o = 0 exactly */
        for (int t = 0; t < T; t++)
            for (int i = 0; i < H * dv; i++)
                CHECK(f.o[(2 * (size_t)T + t) * f.s.ldo + i] == 0.0f, "%s: o of a query with no key", name);

    /* backward into pre-filled buffers (gaps included: they must keep their prefill) */
    size_t ng = 2 * f.nq + f.nv;
    float *pre = trandn(&R, ng, 1.0f), *d = tdup(pre, ng), *d_rec = tdup(pre, ng), *d_quad = tdup(pre, ng);
    float *fresh = tcalloc(ng);
    grads g = grads_from(d, &f), gr = grads_from(d_rec, &f), gq = grads_from(d_quad, &f), gf = grads_from(fresh, &f);
    attn_linear.backward(&f.s, g.q, g.k, g.v, f.w, f.o, f.saved, f.q, f.k, f.v, f.valid, f.scratch);
    ref_linattn_recurrent_backward(&f.s, gr.q, gr.k, gr.v, f.w, f.q, f.k, f.v, f.valid);
    ref_linattn_quadratic_backward(&f.s, gq.q, gq.k, gq.v, f.w, f.q, f.k, f.v, f.valid);
    const char *part[3] = {"dq", "dk", "dv"};
    size_t ofs[3] = {0, f.nq, 2 * f.nq}, len[3] = {f.nq, f.nq, f.nv};
    for (int p = 0; p < 3; p++) {
        snprintf(what, sizeof what, "%s %s chunked vs recurrent", name, part[p]);
        CHECK_SCALED(what, d + ofs[p], d_rec + ofs[p], len[p], LIN_RTOL, LIN_ATOL_REL);
        snprintf(what, sizeof what, "%s %s chunked vs quadratic", name, part[p]);
        CHECK_SCALED(what, d + ofs[p], d_quad + ofs[p], len[p], LIN_RTOL, LIN_ATOL_REL);
        snprintf(what, sizeof what, "%s %s recurrent vs quadratic", name, part[p]);
        CHECK_SCALED(what, d_rec + ofs[p], d_quad + ofs[p], len[p], REFS_RTOL, REFS_ATOL_REL);
    }
    attn_linear.backward(&f.s, gf.q, gf.k, gf.v, f.w, f.o, f.saved, f.q, f.k, f.v, f.valid, f.scratch);
    snprintf(what, sizeof what, "%s backward accumulates", name);
    check_accum(what, d, pre, fresh, ng);

    if (gc) {
        float *x[3] = {f.q, f.k, f.v};
        int ld[3] = {f.s.ldq, f.s.ldk, f.s.ldv};
        for (int p = 0; p < 3; p++) {
            snprintf(what, sizeof what, "%s %s", name, part[p]);
            gradcheck_rows(what, lin_loss, &f, x[p], fresh + ofs[p], len[p], (size_t)ld[p], LIN_GC_EPS, LIN_GC_RTOL,
                    LIN_GC_ATOL, LIN_GC_MAX);
        }
    }
    free(o_rec), free(o_quad), free(pre), free(d), free(d_rec), free(d_quad), free(fresh), free(decay);
    lin_free(&f);
}

TEST(linattn_causal_vs_references) {
    reseed(1);
    lin_case("causal T=200", 2, 200, 2, 16, 8, 1, 0, MASK_NONE, 3, 0);
    lin_case("causal decay T=200", 2, 200, 4, 16, 8, 1, 1, MASK_NONE, 3, 0);
    lin_case("causal pad T=200", 4, 200, 2, 16, 8, 1, 0, MASK_PAD, 1, 0);
    lin_case("causal decay pad T=200", 4, 200, 4, 16, 8, 1, 1, MASK_PAD, 2, 0);
}

TEST(linattn_bidir_vs_references) {
    reseed(2);
    lin_case("bidir T=200", 2, 200, 2, 16, 8, 0, 0, MASK_NONE, 3, 0);
    lin_case("bidir pad T=200", 4, 200, 2, 16, 8, 0, 0, MASK_PAD, 1, 0);
    lin_case("bidir pad decay ignored T=131", 4, 131, 3, 12, 6, 0, 1, MASK_PAD, 0, 0);
}

/* chunk and segment edges: T = 1, one token short of, exactly and one past a chunk, two chunks, odd
 * widths, three segments of 256 (the last partial) and two whole ones */
TEST(linattn_chunk_edges) {
    reseed(3);
    lin_case("causal T=1", 2, 1, 2, 4, 2, 1, 1, MASK_NONE, 1, 0);
    lin_case("causal decay T=63", 1, 63, 2, 6, 3, 1, 1, MASK_NONE, 0, 0);
    lin_case("causal decay T=64", 1, 64, 2, 6, 3, 1, 1, MASK_NONE, 0, 0);
    lin_case("causal decay pad T=65", 4, 65, 2, 10, 5, 1, 1, MASK_PAD, 2, 0);
    lin_case("causal T=128 dqk=dv", 1, 128, 1, 7, 7, 1, 0, MASK_NONE, 1, 0);
    lin_case("causal decay pad T=600 (3 segments)", 4, 600, 2, 6, 3, 1, 1, MASK_PAD, 1, 0);
    lin_case("causal T=512 (2 whole segments)", 1, 512, 2, 5, 4, 1, 0, MASK_NONE, 0, 0);
    lin_case("bidir T=1", 2, 1, 1, 4, 2, 0, 0, MASK_NONE, 0, 0);
}

TEST(linattn_gradcheck) {
    reseed(4);
    lin_case("gc causal decay pad T=70", 4, 70, 2, 8, 4, 1, 1, MASK_PAD, 2, 1);
    lin_case("gc causal T=70", 1, 70, 2, 8, 4, 1, 0, MASK_NONE, 1, 1);
    lin_case("gc causal decay T=300 (2 segments)", 1, 300, 1, 3, 2, 1, 1, MASK_NONE, 0, 1);
    lin_case("gc bidir pad T=70", 4, 70, 2, 8, 4, 0, 0, MASK_PAD, 2, 1);
}

/* The decay is ignored when bidirectional: the same bits with and without it. */
TEST(linattn_bidir_ignores_decay) {
    reseed(5);
    float *decay = make_decay(2);
    lin_fx f = lin_setup(2, 90, 2, 8, 4, 0, decay, MASK_NONE, 0);
    float *o1 = tcalloc(f.nv);
    attn_linear.forward(&f.s, o1, f.saved, f.q, f.k, f.v, f.valid, f.scratch);
    f.s.decay = NULL;
    attn_linear.forward(&f.s, f.o, f.saved, f.q, f.k, f.v, f.valid, f.scratch);
    CHECK(memcmp(o1, f.o, f.nv * sizeof *o1) == 0, "bidirectional output depends on the decay");
    free(o1), free(decay);
    lin_free(&f);
}

/* T = 4096 with decay: finite, equal to the recurrent reference forward and backward. */
TEST(linattn_long_sequence_decay) {
    reseed(6);
    float *decay = make_decay(4);
    lin_fx f = lin_setup(1, 4096, 4, 8, 4, 1, decay, MASK_NONE, 0);
    float *o_rec = tcalloc(f.nv);
    lin_loss(&f);
    ref_linattn_recurrent_forward(&f.s, o_rec, f.q, f.k, f.v, f.valid);
    int finite = 1;
    for (size_t i = 0; i < f.nv; i++) finite &= isfinite(f.o[i]) != 0;
    CHECK(finite, "T=4096 output not finite");
    CHECK_SCALED("T=4096 forward", f.o, o_rec, f.nv, LIN_RTOL, LIN_ATOL_REL);
    size_t ng = 2 * f.nq + f.nv;
    float *d = tcalloc(ng), *d_rec = tcalloc(ng);
    grads g = grads_from(d, &f), gr = grads_from(d_rec, &f);
    attn_linear.backward(&f.s, g.q, g.k, g.v, f.w, f.o, f.saved, f.q, f.k, f.v, f.valid, f.scratch);
    ref_linattn_recurrent_backward(&f.s, gr.q, gr.k, gr.v, f.w, f.q, f.k, f.v, f.valid);
    for (size_t i = 0; i < ng; i++) finite &= isfinite(d[i]) != 0;
    CHECK(finite, "T=4096 gradients not finite");
    CHECK_SCALED("T=4096 dq", g.q, gr.q, f.nq, LIN_RTOL, LIN_ATOL_REL);
    CHECK_SCALED("T=4096 dk", g.k, gr.k, f.nq, LIN_RTOL, LIN_ATOL_REL);
    CHECK_SCALED("T=4096 dv", g.v, gr.v, f.nv, LIN_RTOL, LIN_ATOL_REL);
    free(o_rec), free(d), free(d_rec), free(decay);
    lin_free(&f);
}

/* forward + backward of the kernel at the current thread count into o and d (zeroed first) */
static void lin_run(lin_fx *f, float *o, float *d) {
    size_t ng = 2 * f->nq + f->nv;
    memset(d, 0, ng * sizeof *d);
    grads g = grads_from(d, f);
    attn_linear.forward(&f->s, o, f->saved, f->q, f->k, f->v, f->valid, f->scratch);
    attn_linear.backward(&f->s, g.q, g.k, g.v, f->w, o, f->saved, f->q, f->k, f->v, f->valid, f->scratch);
}

TEST(linattn_threads_bitwise) {
    reseed(7);
    int threads = omp_get_max_threads();
    float *decay = make_decay(3);
    for (int causal = 0; causal < 2; causal++) {
        lin_fx f = lin_setup(4, 150, 3, 16, 8, causal, decay, MASK_PAD, 1);
        free(f.scratch);
        f.scratch = tcalloc(attn_linear.scratch_floats(&f.s, 2 > threads ? 2 : threads));
        size_t ng = 2 * f.nq + f.nv;
        float *o1 = tcalloc(f.nv), *d1 = tcalloc(ng), *o2 = tcalloc(f.nv), *d2 = tcalloc(ng);
        threads_set(1);
        lin_run(&f, o1, d1);
        threads_set(2);
        long before = alloc_count();
        lin_run(&f, o2, d2);
        CHECK(alloc_count() == before, "causal=%d: %ld allocations in forward + backward", causal,
              alloc_count() - before);
        threads_set(threads);
        CHECK(memcmp(o1, o2, f.nv * sizeof *o1) == 0, "causal=%d: forward differs with 1 and 2 threads", causal);
        CHECK(memcmp(d1, d2, ng * sizeof *d1) == 0, "causal=%d: backward differs with 1 and 2 threads", causal);
        free(o1), free(d1), free(o2), free(d2);
        lin_free(&f);
    }
    free(decay);
}

/* A hand example: one head of width 1, q = (1, 2, 3), k = (1, 1, 2), v = (1, 10, 100), r = 0.5.
 * Causal: o_0 = 1*1*1 = 1; o_1 = 2*(0.5*1*1 + 1*10) = 21; o_2 = 3*(0.25*1 + 0.5*10 + 2*100) = 615.75.
 * With key 1 padded: o_1 = 2*0.5 = 1, o_2 = 3*(0.25 + 200) = 600.75. */
TEST(linattn_hand_example) {
    const float q[3] = {1, 2, 3}, k[3] = {1, 1, 2}, v[3] = {1, 10, 100}, r = 0.5f;
    const uint8_t pad[3] = {1, 0, 1};
    const float want[2][3] = {{1, 21, 615.75f}, {1, 1, 600.75f}};
    attn_shape s = {.B = 1, .T = 3, .H = 1, .dqk = 1, .dv = 1, .ldq = 1, .ldk = 1, .ldv = 1, .ldo = 1,
                    .causal = 1, .scale = 1.0f, .decay = &r};
    float *scratch = tcalloc(attn_linear.scratch_floats(&s, omp_get_max_threads()));
    for (int c = 0; c < 2; c++) {
        float o[3];
        attn_linear.forward(&s, o, NULL, q, k, v, c ? pad : NULL, scratch);
        CHECK_ARRAYS("hand linear attention", o, want[c], 3, 1e-6, 0);
    }
    free(scratch);
    CHECK(attn_lookup("linear") == &attn_linear, "linear kernel by name");
}

/* ---------------------------------------------------------------- feature maps */

typedef struct fm_fx { float *out, *inp, *w; size_t n; featuremap fm; } fm_fx;

/* sum(phi(inp) * w). */
static double fm_loss(void *ctx) {
    fm_fx *f = ctx;
    featuremap_forward(f->out, f->inp, f->n, f->fm);
    return dot_loss(f->out, f->w, f->n);
}

TEST(featuremap_names) {
    featuremap fm = FEATUREMAP_RELU;
    CHECK(featuremap_parse(&fm, "1+elu") == 0 && fm == FEATUREMAP_ELU1, "parse 1+elu");
    CHECK(featuremap_parse(&fm, "relu") == 0 && fm == FEATUREMAP_RELU, "parse relu");
    CHECK(featuremap_parse(&fm, "elu") == -1 && fm == FEATUREMAP_RELU, "unknown name rejected, out untouched");
    CHECK(featuremap_parse(&fm, NULL) == -1, "NULL name rejected");
    CHECK(strcmp(featuremap_name(FEATUREMAP_ELU1), "1+elu") == 0, "name of 1+elu");
    CHECK(strcmp(featuremap_name(FEATUREMAP_RELU), "relu") == 0, "name of relu");
    CHECK(strcmp(featuremap_name((featuremap)7), "?") == 0, "name of an invalid value");
}

TEST(featuremap_vs_reference) {
    reseed(8);
    const size_t n = 1000;
    for (int m = 0; m < 2; m++) {
        featuremap fm = m ? FEATUREMAP_RELU : FEATUREMAP_ELU1;
        const char *nm = featuremap_name(fm);
        float *inp = trandn(&R, n, 2.0f), *w = trandn(&R, n, 1.0f), *out = tcalloc(n), *out_ref = tcalloc(n);
        inp[0] = 0.0f, inp[1] = -80.0f, inp[2] = 30.0f, inp[3] = -0.0f; /* the edges */
        for (size_t i = 4; i < n; i++) /* away from the kink at 0, for the finite differences */
            if (fabsf(inp[i]) < 0.05f) inp[i] = inp[i] < 0 ? -0.05f : 0.05f;
        featuremap_forward(out, inp, n, fm);
        ref_featuremap_forward(out_ref, inp, n, fm);
        CHECK_ARRAYS(nm, out, out_ref, n, 1e-6, 0);
        CHECK(out[0] == (m ? 0.0f : 1.0f) && out[2] == (m ? 30.0f : 31.0f), "%s at 0 and 30", nm);
        float *inplace = tdup(inp, n); /* out may equal inp */
        featuremap_forward(inplace, inplace, n, fm);
        CHECK(memcmp(inplace, out, n * sizeof *out) == 0, "%s in place", nm);
        float *pre = trandn(&R, n, 1.0f), *d = tdup(pre, n), *d_ref = tdup(pre, n), *fresh = tcalloc(n);
        featuremap_backward(d, out, w, n, fm); /* phi' from the output, against the reference's from x */
        ref_featuremap_backward(d_ref, inp, w, n, fm);
        CHECK_ARRAYS(nm, d, d_ref, n, 1e-6, 1e-7);
        featuremap_backward(fresh, out, w, n, fm);
        int same = 1; /* the same bits as phi' computed from x, as before the output was used */
        for (size_t i = 0; i < n; i++) {
            float dphi = inp[i] > 0.0f ? 1.0f : (m ? 0.0f : lrpe_expf(inp[i]));
            float want = m ? (inp[i] > 0.0f ? w[i] : 0.0f) : (inp[i] > 0.0f ? w[i] : w[i] * dphi);
            same &= fresh[i] == want;
        }
        float tiny_x[2] = {1e-9f, -1e-9f}, tiny_y[2], tiny_d[2] = {0, 0}, one_g[2] = {0.75f, 0.75f};
        featuremap_forward(tiny_y, tiny_x, 2, fm); /* 1 + 1e-9 rounds to 1: phi' is 1 either way */
        featuremap_backward(tiny_d, tiny_y, one_g, 2, fm);
        CHECK(same && tiny_d[0] == 0.75f && tiny_d[1] == (m ? 0.0f : 0.75f * lrpe_expf(-1e-9f)),
              "%s: phi' from the output differs from phi' from the input", nm);
        check_accum(nm, d, pre, fresh, n);
        CHECK(fresh[0] == (m ? 0.0f : w[0]) && fresh[3] == (m ? 0.0f : w[3]), "%s'(0): 1+elu e^0 = 1, relu 0", nm);
        fm_fx f = {out + 4, inp + 4, w + 4, n - 4, fm};
        char what[64];
        snprintf(what, sizeof what, "%s dinp", nm);
        gradcheck_rows(what, fm_loss, &f, inp + 4, fresh + 4, n - 4, 1, FM_GC_EPS, FM_GC_RTOL, FM_GC_ATOL, 300);
        free(inp), free(w), free(out), free(out_ref), free(inplace), free(pre), free(d), free(d_ref), free(fresh);
    }
}

/* ---------------------------------------------------------------- denominator */

typedef struct den_fx {
    lin_denom_shape s;
    const uint8_t *valid;
    float *num, *fq, *fk, *out, *z, *w, *scratch;
    size_t nq, nk, nn, no, nz;
} den_fx;

/* sum(out * w) after the denominator's forward. */
static double den_loss(void *ctx) {
    den_fx *f = ctx;
    lin_denom_forward(&f->s, f->out, f->z, f->num, f->fq, f->fk, f->valid, f->scratch);
    return dot_loss(f->out, f->w, f->no);
}

/* Positive features phi(x) (1+elu of N(0,1)) with distinct strides for fq, fk, num and out; num
 * rows of a batch with no valid key are zero, as the kernel gives them. clamp: query 5 of batch 0,
 * head 0 gets fq = 0 (z clamped) with num kept nonzero when zero_num is 0. */
static den_fx den_setup(int B, int T, int H, int d, int dv, int causal, mask_kind mk, int clamp, int zero_num) {
    den_fx f = {0};
    f.s = (lin_denom_shape){.B = B, .T = T, .H = H, .d = d, .dv = dv, .causal = causal, .ldq = H * d + 1,
                            .ldk = H * d + 3, .ldn = H * dv + 2, .ldo = H * dv + 1};
    size_t N = (size_t)B * T;
    f.nq = N * f.s.ldq, f.nk = N * f.s.ldk, f.nn = N * f.s.ldn, f.no = N * f.s.ldo, f.nz = N * H;
    f.valid = make_mask(mk, B, T);
    f.fq = trandn(&R, f.nq, 1.0f), f.fk = trandn(&R, f.nk, 1.0f);
    featuremap_forward(f.fq, f.fq, f.nq, FEATUREMAP_ELU1);
    featuremap_forward(f.fk, f.fk, f.nk, FEATUREMAP_ELU1);
    f.num = trandn(&R, f.nn, 30.0f), f.w = trandn(&R, f.no, 1.0f), f.out = trandn(&R, f.no, 100.0f), f.z = trandn(&R, f.nz, 1.0f);
    for (size_t i = 0; i < f.no; i++)
        if ((int)(i % f.s.ldo) >= H * dv) f.out[i] = 777.0f, f.w[i] = 0.0f;
    if (mk == MASK_PAD && B > 2) memset(f.num + 2 * (size_t)T * f.s.ldn, 0, (size_t)T * f.s.ldn * sizeof *f.num);
    if (clamp) {
        memset(f.fq + 5 * (size_t)f.s.ldq, 0, (size_t)d * sizeof *f.fq);
        if (zero_num) memset(f.num + 5 * (size_t)f.s.ldn, 0, (size_t)dv * sizeof *f.num);
    }
    f.scratch = tcalloc(lin_denom_scratch_floats(&f.s, omp_get_max_threads()));
    return f;
}

/* Fast vs reference forward (out, z, gaps untouched) and backward (written over garbage), the
 * clamp's zero gradient, and (gc) finite differences of num, fq and fk. */
static void den_case(const char *name, int B, int T, int H, int d, int dv, int causal, mask_kind mk, int clamp,
                     int gc) {
    den_fx f = den_setup(B, T, H, d, dv, causal, mk, clamp, gc);
    char what[128];
    float *out_ref = tdup(f.out, f.no), *z_ref = tcalloc(f.nz);
    den_loss(&f);
    ref_lin_denom_forward(&f.s, out_ref, z_ref, f.num, f.fq, f.fk, f.valid);
    snprintf(what, sizeof what, "%s out", name); /* one division per element: relative */
    CHECK_ARRAYS(what, f.out, out_ref, f.no, LIN_RTOL, 0);
    snprintf(what, sizeof what, "%s z", name);
    CHECK_ARRAYS(what, f.z, z_ref, f.nz, LIN_RTOL, 0);
    if (clamp) CHECK(f.z[5 * (size_t)H] == LIN_DENOM_EPS, "%s: z of a zero feature row is clamped", name);

    size_t ng = f.nn + f.nq + f.nk;
    float *pre = trandn(&R, ng, 1.0f), *g = tdup(pre, ng), *g_ref = tdup(pre, ng), *fresh = tcalloc(ng);
    size_t ofs[3] = {0, f.nn, f.nn + f.nq}, len[3] = {f.nn, f.nq, f.nk};
    const int ldg[3] = {f.s.ldn, f.s.ldq, f.s.ldk}, width[3] = {H * dv, H * d, H * d};
    for (int p = 0; p < 3; p++) /* the reference adds: from 0 in the heads' columns, the gaps as they were */
        for (size_t i = 0; i < len[p]; i++)
            if ((int)(i % (size_t)ldg[p]) < width[p]) g_ref[ofs[p] + i] = 0.0f;
    lin_denom_backward(&f.s, g, g + ofs[1], g + ofs[2], f.w, f.out, f.z, f.fq, f.fk, f.valid, f.scratch);
    ref_lin_denom_backward(&f.s, g_ref, g_ref + ofs[1], g_ref + ofs[2], f.w, f.num, f.fq, f.fk, f.valid);
    lin_denom_backward(&f.s, fresh, fresh + ofs[1], fresh + ofs[2], f.w, f.out, f.z, f.fq, f.fk, f.valid, f.scratch);
    const char *part[3] = {"dnum", "dfq", "dfk"};
    for (int p = 0; p < 3; p++) { /* dnum = dout / z elementwise (1e6 dout where clamped): relative */
        snprintf(what, sizeof what, "%s %s vs reference", name, part[p]);
        if (p == 0) CHECK_ARRAYS(what, g, g_ref, len[0], LIN_RTOL, 0);
        else CHECK_SCALED(what, g + ofs[p], g_ref + ofs[p], len[p], LIN_RTOL, LIN_ATOL_REL);
        /* written: the heads' columns as from zero whatever was there, the gap columns untouched */
        size_t bad = 0;
        for (size_t i = 0; i < len[p]; i++)
            bad += (int)(i % (size_t)ldg[p]) < width[p] ? g[ofs[p] + i] != fresh[ofs[p] + i] : g[ofs[p] + i] != pre[ofs[p] + i];
        CHECK(!bad, "%s %s: %zu elements not written over (or gap columns written)", name, part[p], bad);
    }
    if (clamp) /* the clamped query: no gradient through z into its features */
        for (int i = 0; i < d; i++)
            CHECK(fresh[ofs[1] + 5 * (size_t)f.s.ldq + i] == 0.0f, "%s: dfq of a clamped z", name);

    if (gc) {
        float *x[3] = {f.num, f.fq, f.fk};
        int ld[3] = {f.s.ldn, f.s.ldq, f.s.ldk};
        for (int p = 0; p < 3; p++) {
            snprintf(what, sizeof what, "%s %s", name, part[p]);
            gradcheck_rows(what, den_loss, &f, x[p], fresh + ofs[p], len[p], (size_t)ld[p], DEN_GC_EPS, DEN_GC_RTOL,
                    DEN_GC_ATOL, DEN_GC_MAX);
        }
    }
    free(out_ref), free(z_ref), free(pre), free(g), free(g_ref), free(fresh);
    free((void *)f.valid), free(f.num), free(f.fq), free(f.fk), free(f.out), free(f.z), free(f.w), free(f.scratch);
}

TEST(denominator_vs_reference) {
    reseed(9);
    den_case("denom causal T=200", 2, 200, 2, 8, 6, 1, MASK_NONE, 0, 0);
    den_case("denom causal pad clamp T=200", 4, 200, 2, 8, 6, 1, MASK_PAD, 1, 0);
    den_case("denom bidir pad clamp T=200", 4, 200, 2, 8, 6, 0, MASK_PAD, 1, 0);
    den_case("denom causal T=1", 1, 1, 3, 4, 4, 1, MASK_NONE, 0, 0);
}

TEST(denominator_gradcheck) {
    reseed(10);
    den_case("gc denom causal pad clamp", 4, 20, 2, 6, 4, 1, MASK_PAD, 1, 1);
    den_case("gc denom bidir pad", 4, 20, 2, 6, 4, 0, MASK_PAD, 0, 1);
}

/* out may be num: the forward in place gives the same bits. */
TEST(denominator_in_place) {
    reseed(11);
    den_fx f = den_setup(2, 30, 2, 4, 4, 1, MASK_NONE, 0, 0);
    f.s.ldo = f.s.ldn;
    float *out = tcalloc(f.nn), *inplace = tdup(f.num, f.nn);
    lin_denom_forward(&f.s, out, f.z, f.num, f.fq, f.fk, NULL, f.scratch);
    lin_denom_forward(&f.s, inplace, f.z, inplace, f.fq, f.fk, NULL, f.scratch);
    for (size_t i = 0; i < f.nn; i++) /* gaps of out stay 0, of inplace keep num */
        if ((int)(i % f.s.ldn) >= f.s.H * f.s.dv) out[i] = inplace[i];
    CHECK(memcmp(out, inplace, f.nn * sizeof *out) == 0, "denominator in place");
    free(out), free(inplace);
    free(f.num), free(f.fq), free(f.fk), free(f.out), free(f.z), free(f.w), free(f.scratch);
}

/* The same bits with 1 and 2 threads, forward and backward. */
TEST(denominator_threads_bitwise) {
    reseed(12);
    int threads = omp_get_max_threads();
    den_fx f = den_setup(4, 90, 3, 6, 4, 1, MASK_PAD, 1, 0);
    free(f.scratch);
    f.scratch = tcalloc(lin_denom_scratch_floats(&f.s, 2 > threads ? 2 : threads));
    size_t ng = f.nn + f.nq + f.nk;
    float *out[2], *z[2], *g[2];
    for (int r = 0; r < 2; r++) {
        threads_set(r + 1);
        out[r] = tcalloc(f.no), z[r] = tcalloc(f.nz), g[r] = tcalloc(ng);
        lin_denom_forward(&f.s, out[r], z[r], f.num, f.fq, f.fk, f.valid, f.scratch);
        lin_denom_backward(&f.s, g[r], g[r] + f.nn, g[r] + f.nn + f.nq, f.w, out[r], z[r], f.fq, f.fk, f.valid,
                           f.scratch);
    }
    threads_set(threads);
    CHECK(memcmp(out[0], out[1], f.no * sizeof *out[0]) == 0, "denominator out differs with 1 and 2 threads");
    CHECK(memcmp(z[0], z[1], f.nz * sizeof *z[0]) == 0, "denominator z differs with 1 and 2 threads");
    CHECK(memcmp(g[0], g[1], ng * sizeof *g[0]) == 0, "denominator backward differs with 1 and 2 threads");
    for (int r = 0; r < 2; r++) free(out[r]), free(z[r]), free(g[r]);
    free((void *)f.valid), free(f.num), free(f.fq), free(f.fk), free(f.out), free(f.z), free(f.w), free(f.scratch);
}
