/* The optimizer (AdamW, gradient norm and clipping, learning-rate schedule), the random number
 * generator and the tensor table, against hand-written references and known values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "gradcheck.h"
#include "optim.h"
#include "rng.h"
#include "test.h"
#include "threads.h"

/* ---------------------------------------------------------------- AdamW */

/* A table with one tensor of every parameter kind, odd sizes so that alignment padding appears. */
static void adam_table(tensor_table *tt) {
    static const struct { const char *name; tensor_kind kind; int n; } specs[] = {
        {"w", TK_WEIGHT, 6}, {"e", TK_EMBED, 5}, {"b", TK_BIAS, 3}, {"ln", TK_NORM, 7}, {"pos", TK_POS, 2}};
    memset(tt, 0, sizeof *tt);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int shape[1] = {specs[i].n};
        tt_add(tt, specs[i].name, specs[i].kind, INIT_NORMAL, 1.0f, 1, shape);
    }
}

/* PyTorch's AdamW for one scalar, as in the torch.optim.AdamW documentation, in double:
 *   p <- p - lr * wd * p                  (decoupled decay, only when `decay`)
 *   m <- b1 m + (1 - b1) g ; v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
static void adamw_scalar(double *p, double *m, double *v, double g, double lr, double b1, double b2, double eps,
                         double wd, int decay, long t) {
    if (decay) *p -= lr * wd * *p;
    *m = b1 * *m + (1.0 - b1) * g;
    *v = b2 * *v + (1.0 - b2) * g * g;
    double mhat = *m / (1.0 - pow(b1, (double)t)), vhat = *v / (1.0 - pow(b2, (double)t));
    *p -= lr * mhat / (sqrt(vhat) + eps);
}

/* Runs `steps` AdamW steps with fresh random gradients each step on both implementations and
 * compares parameters and moments after every step. */
static void adamw_vs_scalar(const adamw_config *c, int steps) {
    tensor_table tt;
    adam_table(&tt);
    size_t n = tt.total;
    float *p = tcalloc(n), *g = tcalloc(n), *m = tcalloc(n), *v = tcalloc(n);
    double *pd = calloc(n, sizeof *pd), *md = calloc(n, sizeof *md), *vd = calloc(n, sizeof *vd);
    tt_init_params(&tt, p, 5);
    for (size_t i = 0; i < n; i++) pd[i] = p[i];
    rng r;
    rng_seed(&r, 11, 0);
    for (long t = 1; t <= steps; t++) {
        float lr = 1e-2f * (float)t; /* a changing rate, as under a schedule */
        fill_normal(g, n, 1.0f, &r);
        if (t == 2) g[0] = 0.0f; /* a zero gradient after a non-zero one */
        adamw_step(p, g, m, v, &tt, c, lr, t);
        for (int i = 0; i < tt.n; i++) {
            const tensor_desc *d = &tt.t[i];
            int decay = (c->decay_kinds >> d->kind) & 1u;
            for (size_t j = d->offset; j < d->offset + d->numel; j++)
                adamw_scalar(&pd[j], &md[j], &vd[j], g[j], lr, c->beta1, c->beta2, c->eps, c->weight_decay, decay, t);
        }
        for (int i = 0; i < tt.n; i++) {
            const tensor_desc *d = &tt.t[i];
            for (size_t j = d->offset; j < d->offset + d->numel; j++) {
                /* steps are ~lr and decay ~lr*wd*p ~1e-3: a float rounding error is ~1e-7 */
                CHECK_CLOSE(p[j], pd[j], 1e-6, 1e-6, "adamw param vs scalar reference");
                CHECK_CLOSE(m[j], md[j], 1e-5, 1e-7, "adamw first moment");
                CHECK_CLOSE(v[j], vd[j], 1e-5, 1e-7, "adamw second moment");
            }
        }
    }
    free(p), free(g), free(m), free(v), free(pd), free(md), free(vd);
    tt_free(&tt);
}

TEST(adamw_matches_pytorch_formula) {
    adamw_config c = adamw_defaults();
    CHECK(c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f && c.weight_decay == 0.01f, "adamw defaults");
    c.weight_decay = 0.1f; /* large enough that a wrong decay shows */
    adamw_vs_scalar(&c, 5);
    c.beta1 = 0.8f, c.beta2 = 0.95f, c.eps = 1e-6f, c.decay_kinds = ~0u;
    adamw_vs_scalar(&c, 4);
}

/* With zero gradients the moments stay zero and the only change is the decay, so which tensors
 * are decayed is visible exactly. */
static void decay_pattern(unsigned decay_kinds, const char *what) {
    tensor_table tt;
    adam_table(&tt);
    size_t n = tt.total;
    float *p = tcalloc(n), *p0 = tcalloc(n), *g = tcalloc(n), *m = tcalloc(n), *v = tcalloc(n);
    tt_init_params(&tt, p, 3);
    memcpy(p0, p, n * sizeof *p);
    adamw_config c = adamw_defaults();
    if (decay_kinds != ~0u) c.decay_kinds = decay_kinds;
    const float lr = 0.5f;
    adamw_step(p, g, m, v, &tt, &c, lr, 1);
    for (int i = 0; i < tt.n; i++) {
        const tensor_desc *d = &tt.t[i];
        int decayed = (c.decay_kinds >> d->kind) & 1u;
        for (size_t j = d->offset; j < d->offset + d->numel; j++) {
            float want = decayed ? p0[j] * (1.0f - lr * c.weight_decay) : p0[j];
            CHECK_CLOSE(p[j], want, 1e-6, 0, what);
            if (decayed) CHECK(p[j] != p0[j], "%s: %s should be decayed", what, d->name);
            else CHECK(p[j] == p0[j], "%s: %s should not be decayed", what, d->name);
        }
    }
    free(p), free(p0), free(g), free(m), free(v);
    tt_free(&tt);
}

TEST(adamw_decay_kinds) {
    adamw_config c = adamw_defaults();
    CHECK(c.decay_kinds == ((1u << TK_WEIGHT) | (1u << TK_EMBED)), "default decay: weights and embeddings only");
    decay_pattern(~0u, "default kinds"); /* weights, embeddings decayed; bias, norm, pos not */
    decay_pattern((1u << TK_BIAS) | (1u << TK_NORM) | (1u << TK_POS), "bias+norm+pos configured");
    decay_pattern(0u, "no decay");
}

/* ---------------------------------------------------------------- gradient norm and clipping */

static double norm_ref(const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

TEST(grad_norm_reference_and_threads) {
    rng r;
    rng_seed(&r, 4, 0);
    const size_t sizes[] = {0, 1, 3, 63, 64, 65, 1000, 100003};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *g = tcalloc(n);
        fill_normal(g, n, 0.5f, &r);
        double want = norm_ref(g, n);
        threads_set(1);
        double one = grad_norm(g, n);
        threads_set(2);
        double two = grad_norm(g, n);
        CHECK_CLOSE(one, want, 1e-12, 0, "grad_norm vs double reference");
        CHECK(memcmp(&one, &two, sizeof one) == 0, "grad_norm n=%zu: 1 thread %.17g, 2 threads %.17g", n, one, two);
        free(g);
    }
    threads_setup(); /* back to the runner's thread count */
}

TEST(grad_clip_scales_above_only) {
    rng r;
    rng_seed(&r, 5, 0);
    const size_t n = 1001;
    float *g = tcalloc(n), *g0 = tcalloc(n);
    fill_normal(g0, n, 1.0f, &r);
    double norm0 = norm_ref(g0, n); /* ~31.6 */

    /* above: scaled by max_norm / (norm + 1e-6), every element by the same factor */
    memcpy(g, g0, n * sizeof *g);
    double ret = grad_clip(g, n, 1.0f);
    CHECK_CLOSE(ret, norm0, 1e-9, 0, "grad_clip returns the norm before clipping");
    CHECK_CLOSE(norm_ref(g, n), 1.0 * norm0 / (norm0 + 1e-6), 1e-6, 0, "norm after clipping");
    float coef = (float)(1.0 / (norm0 + 1e-6));
    for (size_t i = 0; i < n; i++) CHECK_CLOSE(g[i], g0[i] * coef, 1e-6, 0, "clipped element");

    /* below, or disabled: untouched (bitwise) */
    memcpy(g, g0, n * sizeof *g);
    ret = grad_clip(g, n, 100.0f);
    CHECK_CLOSE(ret, norm0, 1e-9, 0, "grad_clip below returns the norm");
    CHECK(memcmp(g, g0, n * sizeof *g) == 0, "grad_clip below max_norm changed the gradient");
    ret = grad_clip(g, n, 0.0f);
    CHECK_CLOSE(ret, norm0, 1e-9, 0, "grad_clip disabled returns the norm");
    CHECK(memcmp(g, g0, n * sizeof *g) == 0, "grad_clip with max_norm 0 changed the gradient");
    free(g), free(g0);
}

/* ---------------------------------------------------------------- learning-rate schedule */

TEST(lr_schedule_shapes) {
    /* warm-up 10 steps, then 100 steps of decay: step 10 is the peak, step 110 = total-1 the end */
    lr_schedule s = {.lr = 1e-3f, .min_lr = 1e-4f, .warmup = 10, .total = 111, .shape = LR_COSINE};
    for (int shape = LR_COSINE; shape <= LR_CONSTANT; shape++) {
        s.shape = (lr_shape)shape;
        CHECK_CLOSE(lr_at(&s, 0), 1e-4, 1e-6, 0, "warm-up step 0 = lr/warmup");
        CHECK_CLOSE(lr_at(&s, 4), 5e-4, 1e-6, 0, "warm-up step 4 = lr*5/warmup");
        CHECK_CLOSE(lr_at(&s, 9), 1e-3, 1e-6, 0, "last warm-up step = peak");
        CHECK_CLOSE(lr_at(&s, 10), 1e-3, 1e-6, 0, "first step after warm-up = peak");
        for (long t = 1; t < 10; t++) CHECK(lr_at(&s, t) > lr_at(&s, t - 1), "warm-up rises");
    }
    s.shape = LR_COSINE;
    CHECK_CLOSE(lr_at(&s, 60), 5.5e-4, 1e-6, 0, "cosine midpoint = (lr + min_lr)/2");
    CHECK_CLOSE(lr_at(&s, 35), 1e-4 + 9e-4 * 0.5 * (1 + cos(M_PI * 0.25)), 1e-6, 0, "cosine at a quarter");
    CHECK_CLOSE(lr_at(&s, 110), 1e-4, 1e-6, 0, "cosine ends at min_lr");
    CHECK_CLOSE(lr_at(&s, 500), 1e-4, 1e-6, 0, "cosine stays at min_lr");
    for (long t = 11; t <= 110; t++) CHECK(lr_at(&s, t) < lr_at(&s, t - 1), "cosine decreases at %ld", t);
    s.shape = LR_LINEAR;
    CHECK_CLOSE(lr_at(&s, 60), 5.5e-4, 1e-6, 0, "linear midpoint");
    CHECK_CLOSE(lr_at(&s, 35), 1e-4 + 9e-4 * 0.75, 1e-6, 0, "linear at a quarter");
    CHECK_CLOSE(lr_at(&s, 110), 1e-4, 1e-6, 0, "linear ends at min_lr");
    CHECK_CLOSE(lr_at(&s, 500), 1e-4, 1e-6, 0, "linear stays at min_lr");
    s.shape = LR_CONSTANT;
    CHECK_CLOSE(lr_at(&s, 60), 1e-3, 1e-6, 0, "constant after warm-up");
    CHECK_CLOSE(lr_at(&s, 110), 1e-3, 1e-6, 0, "constant at the end");
    /* no warm-up: the peak at step 0 */
    lr_schedule s0 = {.lr = 2e-3f, .min_lr = 0.0f, .warmup = 0, .total = 11, .shape = LR_COSINE};
    CHECK_CLOSE(lr_at(&s0, 0), 2e-3, 1e-6, 0, "no warm-up: step 0 is the peak");
    CHECK_CLOSE(lr_at(&s0, 5), 1e-3, 1e-6, 0, "no warm-up: cosine midpoint");
    CHECK_CLOSE(lr_at(&s0, 10), 0.0, 0, 1e-9, "no warm-up: end");
}

TEST(lr_shape_names) {
    CHECK(lr_shape_parse("cosine") == LR_COSINE, "cosine");
    CHECK(lr_shape_parse("linear") == LR_LINEAR, "linear");
    CHECK(lr_shape_parse("constant") == LR_CONSTANT, "constant");
    CHECK(lr_shape_parse("Cosine") == -1, "names are case-sensitive");
    CHECK(lr_shape_parse("") == -1, "empty name");
    CHECK(lr_shape_parse("cos") == -1, "prefix is not a name");
}

/* ---------------------------------------------------------------- random numbers */

TEST(rng_streams_reproducible_and_distinct) {
    rng a, b, c, d;
    rng_seed(&a, 42, 7);
    rng_seed(&b, 42, 7);
    rng_seed(&c, 42, 8);
    rng_seed(&d, 43, 7);
    int same_ab = 1, same_ac = 0, same_ad = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a), y = rng_next(&b), z = rng_next(&c), w = rng_next(&d);
        same_ab &= x == y;
        same_ac += x == z;
        same_ad += x == w;
    }
    CHECK(same_ab, "same seed and stream: same sequence");
    CHECK(same_ac == 0, "different streams: %d equal draws of 1000", same_ac);
    CHECK(same_ad == 0, "different seeds: %d equal draws of 1000", same_ad);
    CHECK(rng_stream_id("data") == rng_stream_id("data"), "stream id is a function of the name");
    CHECK(rng_stream_id("init.a") != rng_stream_id("init.b"), "stream ids of different names differ");
    /* the whole state is the four words: a copy continues identically */
    rng e = a;
    CHECK(rng_next(&e) == rng_next(&a), "copied state continues the same");
}

TEST(rng_distributions) {
    rng r;
    rng_seed(&r, 1, 2);
    const int n = 100000;
    /* normal: mean 0 (sd of the estimate 1/sqrt(n) = 0.0032), variance 1 (sd sqrt(2/n) = 0.0045);
     * 5 sigma bounds; and the tails: P(|x| > 1.96) = 0.05 (sd 0.0007) */
    double s = 0.0, s2 = 0.0;
    int tails = 0;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        s += x, s2 += x * x;
        tails += fabs(x) > 1.959964;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    CHECK(fabs(mean) < 5 / sqrt(n), "normal mean %g", mean);
    CHECK(fabs(var - 1.0) < 5 * sqrt(2.0 / n), "normal variance %g", var);
    CHECK(fabs(tails / (double)n - 0.05) < 5 * sqrt(0.05 * 0.95 / n), "normal tail fraction %g", tails / (double)n);

    /* uniform in [0, 1): range and mean (sd sqrt(1/12/n) = 0.0009) */
    double lo = 1.0, hi = 0.0;
    s = 0.0;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        lo = u < lo ? u : lo, hi = u > hi ? u : hi;
        s += u;
        if (!(u >= 0.0 && u < 1.0)) {
            CHECK(0, "rng_uniform out of [0,1): %.17g", u);
            break;
        }
    }
    CHECK(lo < 1e-3 && hi > 1 - 1e-3, "uniform spans [0,1): %g..%g", lo, hi);
    CHECK(fabs(s / n - 0.5) < 5 * sqrt(1.0 / 12 / n), "uniform mean %g", s / n);

    /* below(7): range, and each count within 5 sd of n/7 */
    int count[7] = {0};
    for (int i = 0; i < n; i++) {
        uint32_t k = rng_below(&r, 7);
        if (k >= 7) {
            CHECK(0, "rng_below(7) gave %u", k);
            break;
        }
        count[k]++;
    }
    double p = 1.0 / 7, sd = sqrt(n * p * (1 - p));
    for (int k = 0; k < 7; k++) CHECK(fabs(count[k] - n * p) < 5 * sd, "rng_below(7): %d draws of %d", count[k], k);
    /* n = 1 gives 0; a large n stays in range and reaches its upper half */
    int upper = 0;
    for (int i = 0; i < 1000; i++) {
        CHECK(rng_below(&r, 1) == 0, "rng_below(1)");
        uint32_t k = rng_below(&r, 3000000000u);
        CHECK(k < 3000000000u, "rng_below(3e9) gave %u", k);
        upper += k >= 1500000000u;
    }
    CHECK(upper > 400 && upper < 600, "rng_below(3e9) upper half %d of 1000", upper);
}

/* ---------------------------------------------------------------- tensor table */

TEST(tensor_table_layout) {
    tensor_table tt = {0};
    const int dims[][2] = {{3, 5}, {1, 0}, {16, 16}, {7, 0}, {2, 9}, {33, 0}};
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "t%d", i);
        int idx = tt_add(&tt, name, TK_WEIGHT, INIT_ZERO, 0.0f, dims[i][1] ? 2 : 1, dims[i]);
        CHECK(idx == i, "tt_add index %d, want %d", idx, i);
    }
    CHECK(tt.n == 6, "6 tensors, got %d", tt.n);
    for (int i = 0; i < tt.n; i++) {
        const tensor_desc *d = &tt.t[i];
        size_t want = (size_t)dims[i][0] * (dims[i][1] ? dims[i][1] : 1);
        CHECK(d->numel == want, "%s numel %zu, want %zu", d->name, d->numel, want);
        CHECK(d->offset % 16 == 0, "%s offset %zu not 16-float aligned", d->name, d->offset);
        CHECK(d->offset + d->numel <= tt.total, "%s ends past the total", d->name);
        for (int j = 0; j < i; j++) {
            const tensor_desc *e = &tt.t[j];
            CHECK(d->offset >= e->offset + e->numel || e->offset >= d->offset + d->numel, "%s overlaps %s", d->name,
                  e->name);
        }
        CHECK(tt_find(&tt, d->name) == i, "tt_find %s", d->name);
    }
    CHECK(tt_find(&tt, "nope") == -1, "tt_find of a missing name");
    /* refusals leave the table as it was */
    size_t total = tt.total;
    int one[1] = {4};
    CHECK(tt_add(&tt, "t2", TK_BIAS, INIT_ZERO, 0.0f, 1, one) == -1, "duplicate name refused");
    char longname[TENSOR_NAME_MAX + 8];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(tt_add(&tt, longname, TK_BIAS, INIT_ZERO, 0.0f, 1, one) == -1, "too long a name refused");
    CHECK(tt.n == 6 && tt.total == total, "refusals changed the table");
    /* many tensors: the table grows past its first capacity and stays consistent */
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "many%d", i);
        CHECK(tt_add(&tt, name, TK_BIAS, INIT_ZERO, 0.0f, 1, one) == 6 + i, "tt_add %s", name);
    }
    CHECK(tt_find(&tt, "t3") == 3 && tt_find(&tt, "many99") == 105, "tt_find after growth");
    tt_free(&tt);
    CHECK(tt.n == 0 && tt.t == NULL && tt.total == 0, "tt_free resets the table");

    float *p = arena_alloc(37);
    CHECK(p && ((uintptr_t)p % 64) == 0, "arena_alloc 64-byte aligned");
    int zero = 1;
    for (int i = 0; p && i < 37; i++) zero &= p[i] == 0.0f;
    CHECK(zero, "arena_alloc zeroes");
    free(p);
}

/* The THPeligible flag of the mapping holding p in /proc/self/smaps: 1 or 0, -1 when unknown. */
static int thp_eligible(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int in = 0, flag = -1;
    while (flag < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in) sscanf(line, "THPeligible: %d", &flag);
    }
    fclose(f);
    return flag;
}

/* Blocks of 2 MB and more start on a 2 MB boundary, zeroed, and the kernel is asked to back them
 * with huge pages (a step walks hundreds of MB of activations: with 4 KB pages it missed the TLB). */
TEST(arena_large_blocks_on_huge_pages) {
    const size_t n = (3u << 20) / sizeof(float) + 5; /* 3 MB and a little */
    float *p = arena_alloc(n);
    CHECK(p && ((uintptr_t)p % (2u << 20)) == 0, "a 3 MB block is not 2 MB aligned");
    int zero = 1;
    for (size_t i = 0; p && i < n; i++) zero &= p[i] == 0.0f;
    CHECK(zero, "arena_alloc did not zero the large block");
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (f) {
        if (!fgets(mode, sizeof mode, f)) mode[0] = 0;
        fclose(f);
    }
    const int eligible = p ? thp_eligible(p) : -1;
    if (!strstr(mode, "[madvise]") && !strstr(mode, "[always]"))
        test_skip("this kernel offers no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    else if (eligible < 0)
        test_skip("/proc/self/smaps has no THPeligible field here");
    else
        CHECK(eligible == 1, "the large block is not eligible for huge pages (madvise missing)");
    free(p);
}

TEST(tensor_table_init) {
    tensor_table tt = {0};
    int big[2] = {100, 100}, small[1] = {10};
    tt_add(&tt, "zero", TK_BIAS, INIT_ZERO, 0.0f, 1, small);
    tt_add(&tt, "one", TK_NORM, INIT_ONE, 0.0f, 1, small);
    tt_add(&tt, "normal", TK_WEIGHT, INIT_NORMAL, 0.02f, 2, big);
    tt_add(&tt, "custom", TK_POS, INIT_CUSTOM, 0.0f, 1, small);
    float *p = tcalloc(tt.total);
    for (size_t i = 0; i < tt.total; i++) p[i] = 99.0f; /* garbage to be overwritten */
    tt_init_params(&tt, p, 7);
    const tensor_desc *z = &tt.t[0], *o = &tt.t[1], *nd = &tt.t[2], *cu = &tt.t[3];
    for (size_t j = 0; j < z->numel; j++) CHECK(p[z->offset + j] == 0.0f, "INIT_ZERO");
    for (size_t j = 0; j < o->numel; j++) CHECK(p[o->offset + j] == 1.0f, "INIT_ONE");
    for (size_t j = 0; j < cu->numel; j++) CHECK(p[cu->offset + j] == 99.0f, "INIT_CUSTOM is left to its owner");
    /* 10000 draws of N(0, 0.02^2): mean within 5 sd (0.0002 * 5), std within 5% */
    double s = 0.0, s2 = 0.0;
    for (size_t j = 0; j < nd->numel; j++) s += p[nd->offset + j], s2 += (double)p[nd->offset + j] * p[nd->offset + j];
    double mean = s / nd->numel, sd = sqrt(s2 / nd->numel - mean * mean);
    CHECK(fabs(mean) < 5 * 0.02 / 100, "INIT_NORMAL mean %g", mean);
    CHECK(fabs(sd - 0.02) < 0.001, "INIT_NORMAL std %g, want 0.02", sd);

    /* the same table and seed: the same values; another seed: different values */
    float *p2 = tcalloc(tt.total), *p3 = tcalloc(tt.total);
    tt_init_params(&tt, p2, 7);
    tt_init_params(&tt, p3, 8);
    CHECK(memcmp(p + nd->offset, p2 + nd->offset, nd->numel * sizeof *p) == 0, "init is reproducible");
    CHECK(p[nd->offset] != p3[nd->offset] && p[nd->offset + 1] != p3[nd->offset + 1], "another seed, other values");

    /* adding tensors (before and after) does not change the values of the others */
    tensor_table t2 = {0};
    tt_add(&t2, "new_first", TK_WEIGHT, INIT_NORMAL, 0.5f, 2, big);
    tt_add(&t2, "normal", TK_WEIGHT, INIT_NORMAL, 0.02f, 2, big);
    tt_add(&t2, "new_last", TK_EMBED, INIT_NORMAL, 1.0f, 1, small);
    float *q = tcalloc(t2.total);
    tt_init_params(&t2, q, 7);
    const tensor_desc *nd2 = &t2.t[tt_find(&t2, "normal")];
    CHECK(nd2->offset != nd->offset, "the tensor moved in the arena");
    CHECK(memcmp(p + nd->offset, q + nd2->offset, nd->numel * sizeof *p) == 0,
          "a tensor's initial values changed when another tensor was added");
    free(p), free(p2), free(p3), free(q);
    tt_free(&tt);
    tt_free(&t2);
}
