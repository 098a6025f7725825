/* Positional encodings (encodings/), through the pe.h interface and the registry only:
 *  - registry, options parsing and pe_create's refusals (messages name both sides);
 *  - finite-difference gradient checks of the inputs and of every trainable parameter through
 *    qk_forward/qk_backward (loss = dot of the q and k outputs with random weights) for every
 *    QK encoding, each attention it supports (signed inputs for softmax, positive phi-like ones
 *    for linear), every P x theta x householder option of the LRPE family and both axes modes on
 *    2-D positions; frozen parameters must get no gradient; the same through embed_forward/
 *    embed_backward for the absolute encodings;
 *  - shift invariance of every relative encoding (1-D shifts up to 10^4, 2-D shifts), norm
 *    preservation, position 0, orthogonality of each P, axes split vs sum;
 *  - slow references: rotation / rope from explicit rotation matrices, unitary from the complex
 *    product, permutation from the spec's table recurrence, P from its matrix (Householder
 *    formed, DCT from its definition, odd-even from its definition), the sinusoidal table and the
 *    ALiBi slopes from their formulas;
 *  - bitwise determinism across thread counts, accumulation, and no heap allocation in forward or
 *    backward; pe_create's out-of-memory paths;
 *  - the transform as data (pe_describe): a slow reference that applies a pe_data using only that
 *    struct (and the public dims and options) equals every encoding's hooks for every option
 *    combination (see "the transform as data" below; tolerance DATA_TOL 1e-6).
 *
 * Tolerances (test_close: |a-b| <= atol + rtol*max(|a|,|b|)):
 *  - fast vs reference and norms: rtol 1e-5, atol 1e-5 (float outputs of O(1) values whose
 *    angles are computed in double; a wrong sign or a dropped term is off by O(1));
 *  - shift invariance: atol 1e-5 * ||x|| ||y|| per head (the score of two float vectors of norm
 *    ~3; computing s*theta in float instead of double misses by ~1e-3 at D = 10^4 and fails);
 *  - finite differences (central, on one thread): rtol 1e-2; inputs and Householder v: step
 *    1e-2, atol 3e-4; theta: step 1e-3, atol 2e-3 (theta gradients are sums of s * O(1) terms,
 *    O(1..100); the loss's float rounding noise is ~1e-6, i.e. ~5e-5 / 1e-3 of a derivative).
 *  Each tolerance was confirmed to catch a deliberately broken formula (see the report). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "gradcheck.h"
#include "pe.h"
#include "test.h"
#include "threads.h"

#define SEED 20240607u
#define REF_TOL 1e-5
#define SHIFT_TOL 1e-5
#define GC_RTOL 1e-2
#define GC_EPS_X 1e-2
#define GC_ATOL_X 3e-4
#define GC_EPS_TH 1e-3
#define GC_ATOL_TH 2e-3
#define MAXW 1024 /* floats of one token's q/k row in these tests */

static rng R;

/* R <- the test stream `stream`. */
static void reseed(uint64_t stream) { rng_seed(&R, SEED, stream); }

/* ================================================================ fixtures */

typedef struct fx {
    pe *e;
    tensor_table tt;
    float *params, *grads;
} fx;

/* 1-D dims: 2 layers, d_model = H * d. */
static pe_dims dims_1d(int H, int d, int max_len, unsigned attn, int causal) {
    pe_dims m = {.d_model = H * d, .heads = H, .head_dim = d, .layers = 2, .max_len = max_len,
                 .pos_rank = 1, .causal = causal, .attention = attn, .seed = 7};
    return m;
}

/* 2-D dims on a gh x gw grid (bidirectional). */
static pe_dims dims_2d(int H, int d, int gh, int gw, unsigned attn) {
    pe_dims m = dims_1d(H, d, gh * gw, attn, 0);
    m.pos_rank = 2, m.grid_h = gh, m.grid_w = gw;
    return m;
}

/* Creates `name`, registers and initialises its parameters (tt_init_params, then init_params). */
static int fx_open(fx *f, const char *name, const pe_options *o, const pe_dims *d) {
    char err[256] = "";
    memset(f, 0, sizeof *f);
    if (pe_create(&f->e, name, o, d, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "pe_create %s: %s", name, err);
        return -1;
    }
    if (f->e->vt->add_params(f->e, &f->tt)) {
        test_fail(__FILE__, __LINE__, "%s: add_params failed", name);
        pe_destroy(f->e);
        tt_free(&f->tt);
        return -1;
    }
    f->params = tcalloc(f->tt.total);
    f->grads = tcalloc(f->tt.total);
    tt_init_params(&f->tt, f->params, SEED);
    f->e->vt->init_params(f->e, &f->tt, f->params);
    return 0;
}

/* Frees everything fx_open made. */
static void fx_close(fx *f) {
    pe_destroy(f->e);
    tt_free(&f->tt);
    free(f->params);
    free(f->grads);
}

/* The parameter floats of tensor `name`, or NULL. */
static float *fx_param(fx *f, const char *name) {
    int i = tt_find(&f->tt, name);
    return i < 0 ? NULL : f->params + f->tt.t[i].offset;
}

/* Multiplies every theta by (1 + 0.3 z): properties must hold for any theta, not only the ladder. */
static void fx_perturb_theta(fx *f) {
    for (int i = 0; i < f->tt.n; i++) {
        const tensor_desc *t = &f->tt.t[i];
        if (!strstr(t->name, ".pe.theta")) continue;
        for (size_t j = 0; j < t->numel; j++) f->params[t->offset + j] *= (float)(1.0 + 0.3 * rng_normal(&R));
    }
}

/* 1 when vt reads option key. */
static int has_key(const pe_vtable *vt, const char *key) {
    for (const char *const *k = vt->keys; k && *k; k++)
        if (strcmp(*k, key) == 0) return 1;
    return 0;
}

/* Every combination of the options vt reads (axes only when two_d) into out[]; returns the count. */
static int option_combos(const pe_vtable *vt, int two_d, pe_options *out) {
    int np = has_key(vt, "p") ? 4 : 1, nt = has_key(vt, "theta") ? 2 : 1;
    int na = has_key(vt, "axes") && two_d ? 2 : 1, n = 0;
    for (int p = 0; p < np; p++)
        for (int t = 0; t < nt; t++)
            for (int hh = 0; hh < (has_key(vt, "householder") && np > 1 && p == PE_P_HOUSEHOLDER ? 2 : 1); hh++)
                for (int a = 0; a < na; a++) {
                    pe_options o = pe_options_default();
                    if (np > 1) o.p = (pe_pmat)p;
                    o.theta_learned = t, o.householder_learned = hh, o.axes_split = a;
                    out[n++] = o;
                }
    return n;
}

/* "name p=.. theta=.. householder=.. axes=.. linear 2-D": the options vt reads, for messages. */
static const char *describe(const pe_vtable *vt, const pe_options *o, const pe_dims *d, char *buf, size_t len) {
    static const char *const keys[] = {"p", "theta", "householder", "axes"};
    int at = snprintf(buf, len, "%s", vt->name);
    for (int i = 0; i < 4; i++)
        if (has_key(vt, keys[i]) && (i != 3 || d->pos_rank == 2) && at < (int)len)
            at += snprintf(buf + at, len - at, " %s=%s", keys[i], pe_option_value(o, keys[i]));
    if (at < (int)len)
        snprintf(buf + at, len - at, " %s %d-D", d->attention == PE_ATTN_LINEAR ? "linear" : "softmax", d->pos_rank);
    return buf;
}

/* Random positions of N tokens (token 0 at the origin). */
static int32_t *rand_pos(int N, const pe_dims *d, int max_1d) {
    int32_t *p = calloc((size_t)N * d->pos_rank, sizeof *p);
    for (int n = 1; n < N; n++) {
        if (d->pos_rank == 1) {
            p[n] = (int32_t)rng_below(&R, (uint32_t)max_1d);
        } else {
            p[2 * n] = (int32_t)rng_below(&R, (uint32_t)d->grid_h);
            p[2 * n + 1] = (int32_t)rng_below(&R, (uint32_t)d->grid_w);
        }
    }
    return p;
}

/* n inputs: N(0,1) for softmax, positive 1 + elu(z) (phi-like) for linear attention. */
static void fill_inputs(float *x, size_t n, unsigned attn) {
    for (size_t i = 0; i < n; i++) {
        double z = rng_normal(&R);
        x[i] = (float)(attn == PE_ATTN_LINEAR ? (z > 0 ? 1.0 + z : exp(z)) : z);
    }
}

/* Runs gradcheck on one thread (the many forward passes are then cheap on a busy machine). */
static void gc1(const char *what, loss_fn fn, void *ctx, float *x, const float *an, size_t n, double eps,
                double atol) {
    int threads = omp_get_max_threads();
    threads_set(1);
    gradcheck(what, fn, ctx, x, an, n, eps, GC_RTOL, atol, 400);
    threads_set(threads);
}

/* Gradient checks of every tensor of f's table: trainable ones against finite differences,
 * frozen ones must have received nothing. */
static void check_param_grads(fx *f, const char *desc, loss_fn fn, void *ctx) {
    char what[256];
    for (int i = 0; i < f->tt.n; i++) {
        const tensor_desc *t = &f->tt.t[i];
        float *g = f->grads + t->offset;
        if (t->frozen) {
            int bad = 0;
            for (size_t j = 0; j < t->numel; j++) bad += g[j] != 0.0f;
            CHECK(!bad, "%s: frozen %s received a gradient", desc, t->name);
            continue;
        }
        int th = strstr(t->name, ".pe.theta") != NULL;
        snprintf(what, sizeof what, "%s: d%s", desc, t->name);
        gc1(what, fn, ctx, f->params + t->offset, g, t->numel, th ? GC_EPS_TH : GC_EPS_X,
            th ? GC_ATOL_TH : GC_ATOL_X);
    }
}

/* ================================================================ registry and options */

TEST(pe_registry) {
    static const char *const names[] = {"none", "sinusoidal", "learned", "rope", "lrpe-rotation", "lrpe-unitary",
                                        "lrpe-permutation", "permuteformer", "cosformer", "alibi"};
    CHECK(pe_count() == 10, "pe_count %d", pe_count());
    for (int i = 0; i < 10; i++) CHECK(pe_lookup(names[i]) != NULL, "%s not registered", names[i]);
    CHECK(pe_lookup("rotary") == NULL && pe_lookup(NULL) == NULL, "lookup of unknown names");
    CHECK(pe_at(-1) == NULL && pe_at(pe_count()) == NULL, "pe_at out of range");
    for (int i = 0; i < pe_count(); i++) {
        const pe_vtable *vt = pe_at(i);
        CHECK(pe_lookup(vt->name) == vt, "pe_at(%d) / pe_lookup disagree", i);
        CHECK(vt->summary && vt->create && vt->destroy && vt->add_params && vt->init_params && vt->attn_ok,
              "%s: incomplete vtable", vt->name);
        if (vt->hooks & PE_HOOK_EMBED)
            CHECK(vt->embed_scale && vt->embed_forward && vt->embed_backward, "%s: embed hook", vt->name);
        if (vt->hooks & PE_HOOK_QK) CHECK(vt->qk_dim && vt->qk_forward && vt->qk_backward, "%s: qk hook", vt->name);
        if (vt->hooks & PE_HOOK_SCORE)
            CHECK(vt->score_bias && vt->attn_ok == PE_ATTN_SOFTMAX, "%s: score hook", vt->name);
        if (vt->hooks & PE_HOOK_DECAY) CHECK(vt->decay && vt->attn_ok == PE_ATTN_LINEAR, "%s: decay hook", vt->name);
        for (const char *const *k = vt->keys; k && *k; k++)
            CHECK(pe_option_choices(*k) != NULL, "%s: key %s is not an option", vt->name, *k);
    }
}

TEST(pe_options_parse) {
    char err[256];
    pe_options o = pe_options_default();
    CHECK(o.p == PE_P_HOUSEHOLDER && !o.theta_learned && !o.householder_learned && !o.axes_split, "defaults");
    CHECK(!strcmp(pe_option_value(&o, "p"), "householder") && !strcmp(pe_option_value(&o, "axes"), "sum"),
          "default values by name");
    static const char *const sets[][2] = {{"p", "dct"}, {"theta", "learned"}, {"householder", "learned"},
                                          {"axes", "split"}, {"p", "oddeven"}, {"p", "identity"}};
    for (int i = 0; i < 6; i++) {
        CHECK(pe_options_set(&o, sets[i][0], sets[i][1], err, sizeof err) == 0, "set %s=%s: %s", sets[i][0],
              sets[i][1], err);
        CHECK(!strcmp(pe_option_value(&o, sets[i][0]), sets[i][1]), "%s reads back", sets[i][0]);
    }
    CHECK(o.p == PE_P_IDENTITY && o.theta_learned && o.householder_learned && o.axes_split, "fields set");
    pe_options before = o;
    CHECK(pe_options_set(&o, "p", "hadamard", err, sizeof err) == -1, "bad value accepted");
    CHECK(strstr(err, "hadamard") && strstr(err, "identity, householder, dct, oddeven") && !strchr(err, '\n'),
          "bad value message: %s", err);
    CHECK(pe_options_set(&o, "theta", "", err, sizeof err) == -1 && strstr(err, "fixed, learned"), "empty value: %s",
          err);
    CHECK(pe_options_set(&o, "axis", "sum", err, sizeof err) == -1, "bad key accepted");
    CHECK(strstr(err, "'axis'") && strstr(err, "p, theta, householder, axes"), "bad key message: %s", err);
    CHECK(!memcmp(&o, &before, sizeof o), "a refused option changed the options");
    CHECK(pe_option_value(&o, "nope") == NULL && pe_option_choices("nope") == NULL, "unknown key lookups");
    CHECK(!strcmp(pe_option_choices("axes"), "sum, split"), "choices of axes");
}

TEST(pe_create_refusals) {
    char err[256];
    pe *e = NULL;
    pe_options o = pe_options_default();
    pe_dims lin = dims_1d(2, 8, 16, PE_ATTN_LINEAR, 1), soft = dims_1d(2, 8, 16, PE_ATTN_SOFTMAX, 1);
    CHECK(pe_create(&e, "alibi", &o, &lin, err, sizeof err) == -1 && e == NULL, "alibi with linear accepted");
    CHECK(!strcmp(err, "encoding 'alibi' does not support linear attention (it supports: softmax)"), "message: %s",
          err);
    static const char *const lin_only[] = {"cosformer", "permuteformer"};
    for (int i = 0; i < 2; i++) {
        CHECK(pe_create(&e, lin_only[i], &o, &soft, err, sizeof err) == -1, "%s with softmax accepted", lin_only[i]);
        CHECK(strstr(err, lin_only[i]) && strstr(err, "does not support softmax attention") &&
                  strstr(err, "(it supports: linear)"),
              "message: %s", err);
    }
    CHECK(pe_create(&e, "rotary", &o, &soft, err, sizeof err) == -1 && strstr(err, "rotary") &&
              strstr(err, "lrpe-unitary"),
          "unknown encoding message: %s", err);
    pe_dims big = dims_1d(1, 4096, 16, PE_ATTN_SOFTMAX, 1);
    CHECK(pe_create(&e, "rope", &o, &big, err, sizeof err) == -1 && strstr(err, "head_dim"), "huge head_dim: %s",
          err);
    pe_dims bad2 = dims_2d(2, 8, 4, 4, PE_ATTN_SOFTMAX);
    bad2.max_len = 10;
    CHECK(pe_create(&e, "lrpe-rotation", &o, &bad2, err, sizeof err) == -1 && strstr(err, "grid"), "grid: %s", err);
    /* every encoding accepts every attention it declares */
    for (int i = 0; i < pe_count(); i++)
        for (unsigned a = PE_ATTN_SOFTMAX; a <= PE_ATTN_LINEAR; a <<= 1) {
            pe_dims d = dims_1d(2, 8, 16, a, 1);
            int rc = pe_create(&e, pe_at(i)->name, &o, &d, err, sizeof err);
            CHECK((rc == 0) == !!(pe_at(i)->attn_ok & a), "%s / attention %u: rc %d (%s)", pe_at(i)->name, a, rc, err);
            pe_destroy(e);
            e = NULL;
        }
}

/* Names, kinds, shapes, init and frozen flags of the registered parameters. */
TEST(pe_params_registered) {
    pe_dims d = dims_1d(2, 6, 16, PE_ATTN_SOFTMAX, 1);
    for (int learned = 0; learned <= 1; learned++) {
        pe_options o = pe_options_default();
        o.theta_learned = o.householder_learned = learned;
        fx f;
        if (fx_open(&f, "lrpe-rotation", &o, &d)) return;
        CHECK(f.tt.n == 4, "rotation: %d tensors", f.tt.n);
        for (int l = 0; l < 2; l++) {
            char n1[64], n2[64];
            snprintf(n1, sizeof n1, "layers.%d.pe.theta", l);
            snprintf(n2, sizeof n2, "layers.%d.pe.householder_v", l);
            int a = tt_find(&f.tt, n1), b = tt_find(&f.tt, n2);
            if (a < 0 || b < 0) {
                CHECK(0, "missing %s or %s", n1, n2);
                continue;
            }
            CHECK(f.tt.t[a].kind == TK_POS && f.tt.t[a].init == INIT_CUSTOM && f.tt.t[a].numel == 3, "theta desc");
            CHECK(f.tt.t[b].kind == TK_POS && f.tt.t[b].init == INIT_NORMAL && f.tt.t[b].init_std == 1.0f &&
                      f.tt.t[b].numel == 6,
                  "householder desc");
            CHECK(f.tt.t[a].frozen == !learned && f.tt.t[b].frozen == !learned, "frozen flags (learned %d)", learned);
        }
        /* v differs per layer (seeded by name) and is reproducible */
        float *v0 = fx_param(&f, "layers.0.pe.householder_v"), *v1 = fx_param(&f, "layers.1.pe.householder_v");
        CHECK(v0 && v1 && memcmp(v0, v1, 6 * sizeof *v0) != 0, "layers share a Householder vector");
        fx g;
        if (!fx_open(&g, "lrpe-rotation", &o, &d)) {
            CHECK(!memcmp(fx_param(&g, "layers.1.pe.householder_v"), v1, 6 * sizeof *v1), "v not reproducible");
            fx_close(&g);
        }
        fx_close(&f);
    }
    pe_options o = pe_options_default();
    o.p = PE_P_DCT;
    static const char *const none_params[] = {"rope", "lrpe-permutation"};
    for (int i = 0; i < 2; i++) {
        fx f;
        if (fx_open(&f, none_params[i], &o, &d)) return;
        CHECK(f.tt.n == 0, "%s with p=dct registers %d tensors", none_params[i], f.tt.n);
        fx_close(&f);
    }
    fx f;
    if (fx_open(&f, "learned", &o, &d)) return;
    int t = tt_find(&f.tt, "pe.table");
    CHECK(t >= 0 && f.tt.t[t].numel == 16 * 12 && f.tt.t[t].init == INIT_NORMAL && f.tt.t[t].init_std == 0.02f &&
              !f.tt.t[t].frozen && f.tt.t[t].kind == TK_POS,
          "learned table desc");
    fx_close(&f);
}

/* ================================================================ gradient checks: QK */

typedef struct qk_ctx {
    fx *f;
    int layer, N, ldi, ldo;
    const int32_t *pos;
    float *x[2], *w[2], *out[2];
} qk_ctx;

/* loss = sum over q (which 0) and k (which 1) of dot(qk_forward(x), w). */
static double qk_loss(void *ctx) {
    qk_ctx *q = ctx;
    const pe *e = q->f->e;
    double s = 0.0;
    for (int which = 0; which < 2; which++) {
        e->vt->qk_forward(e, &(pe_qk_rows){q->layer, which, q->N, q->pos, q->ldi, q->ldo}, q->f->params, q->x[which], q->out[which]);
        s += dot_loss(q->out[which], q->w[which], (size_t)q->N * q->ldo);
    }
    return s;
}

/* Gradient check of one configuration with N tokens (layer 1 of 2; strided rows); the inputs'
 * gradients too when check_x. */
static void qk_case(const char *name, const pe_options *o, const pe_dims *d, int N, int max_1d, int check_x) {
    char desc[200], what[256];
    describe(pe_lookup(name), o, d, desc, sizeof desc);
    fx f;
    if (fx_open(&f, name, o, d)) return;
    fx_perturb_theta(&f);
    const pe *e = f.e;
    const int H = d->heads, W = e->vt->qk_dim(e);
    qk_ctx q = {&f, 1, N, H * d->head_dim + 3, H * W + 2, NULL, {0}, {0}, {0}};
    int32_t *pos = rand_pos(N, d, max_1d);
    q.pos = pos;
    float *din[2];
    for (int which = 0; which < 2; which++) {
        size_t ni = (size_t)N * q.ldi, no = (size_t)N * q.ldo;
        q.x[which] = tcalloc(ni);
        q.w[which] = tcalloc(no);
        q.out[which] = tcalloc(no);
        din[which] = tcalloc(ni);
        for (int n = 0; n < N; n++) {
            fill_inputs(q.x[which] + (size_t)n * q.ldi, (size_t)H * d->head_dim, d->attention);
            fill_normal(q.w[which] + (size_t)n * q.ldo, (size_t)H * W, 1.0f, &R);
        }
    }
    for (int which = 0; which < 2; which++)
        e->vt->qk_backward(e, &(pe_qk_rows){1, which, N, pos, q.ldi, q.ldo}, f.params, f.grads, q.x[which], q.w[which], din[which]);
    for (int which = 0; check_x && which < 2; which++) {
        snprintf(what, sizeof what, "%s: d%s", desc, which ? "k" : "q");
        gc1(what, qk_loss, &q, q.x[which], din[which], (size_t)N * q.ldi, GC_EPS_X, GC_ATOL_X);
    }
    check_param_grads(&f, desc, qk_loss, &q);
    for (int which = 0; which < 2; which++) free(q.x[which]), free(q.w[which]), free(q.out[which]), free(din[which]);
    free(pos);
    fx_close(&f);
}

/* Every QK encoding x attention it supports x option combination, on 1-D or 2-D positions. */
static void qk_all(int two_d) {
    pe_options combos[64];
    for (int i = 0; i < pe_count(); i++) {
        const pe_vtable *vt = pe_at(i);
        if (!(vt->hooks & PE_HOOK_QK)) continue;
        int nc = option_combos(vt, two_d, combos);
        for (unsigned a = PE_ATTN_SOFTMAX; a <= PE_ATTN_LINEAR; a <<= 1) {
            if (!(vt->attn_ok & a)) continue;
            for (int c = 0; c < nc; c++) {
                /* head dims 6 and 7 (odd: the pass-through coordinate); with many combinations
                 * one of them, alternating so that each option value and axes mode meets both */
                int na = two_d && has_key(vt, "axes") ? 2 : 1, d0 = 6 + (c / na + c % na) % 2;
                for (int d = nc <= 2 ? 6 : d0; d <= (nc <= 2 ? 7 : d0); d++) {
                    pe_dims dm = two_d ? dims_2d(2, d, 3, 4, a) : dims_1d(2, d, 16, a, 1);
                    qk_case(vt->name, &combos[c], &dm, 7, 16, 1);
                }
            }
        }
    }
}

TEST(pe_qk_gradcheck_1d) {
    reseed(11);
    qk_all(0);
}

TEST(pe_qk_gradcheck_2d) {
    reseed(12);
    qk_all(1);
}

/* Many tokens: every one of the backward's fixed token chunks is non-trivial, and the parameter
 * gradients sum over all of them (the input gradients are checked above). */
TEST(pe_qk_gradcheck_many_tokens) {
    reseed(13);
    pe_options o = pe_options_default();
    o.theta_learned = o.householder_learned = 1;
    pe_dims d = dims_1d(2, 8, 64, PE_ATTN_SOFTMAX, 1);
    qk_case("lrpe-rotation", &o, &d, 1100, 16, 0);
    qk_case("lrpe-unitary", &o, &d, 1100, 16, 0);
    qk_case("lrpe-permutation", &o, &d, 1100, 16, 0);
}

/* ================================================================ gradient checks: EMBED */

typedef struct em_ctx {
    fx *f;
    int N;
    const int32_t *pos;
    float *tok, *w, *out;
} em_ctx;

/* loss = dot(embed_forward(tok), w). */
static double em_loss(void *ctx) {
    em_ctx *c = ctx;
    const pe *e = c->f->e;
    e->vt->embed_forward(e, c->f->params, c->out, c->tok, c->pos, c->N);
    return dot_loss(c->out, c->w, (size_t)c->N * e->dims.d_model);
}

TEST(pe_embed_gradcheck) {
    reseed(14);
    static const char *const names[] = {"none", "sinusoidal", "learned"};
    for (int i = 0; i < 3; i++)
        for (unsigned a = PE_ATTN_SOFTMAX; a <= PE_ATTN_LINEAR; a <<= 1)
            for (int two_d = 0; two_d <= 1; two_d++) {
                pe_options o = pe_options_default();
                pe_dims d = two_d ? dims_2d(2, 5, 3, 4, a) : dims_1d(2, 5, 16, a, 1);
                char desc[200], what[256];
                describe(pe_lookup(names[i]), &o, &d, desc, sizeof desc);
                fx f;
                if (fx_open(&f, names[i], &o, &d)) continue;
                const int N = 9, C = d.d_model;
                int32_t *pos = rand_pos(N, &d, 16);
                em_ctx c = {&f, N, pos, tcalloc((size_t)N * C), tcalloc((size_t)N * C), tcalloc((size_t)N * C)};
                fill_normal(c.tok, (size_t)N * C, 1.0f, &R);
                fill_normal(c.w, (size_t)N * C, 1.0f, &R);
                float *dtok = tcalloc((size_t)N * C);
                f.e->vt->embed_backward(f.e, f.params, f.grads, dtok, c.w, pos, N);
                snprintf(what, sizeof what, "%s: dtok", desc);
                gc1(what, em_loss, &c, c.tok, dtok, (size_t)N * C, GC_EPS_X, GC_ATOL_X);
                check_param_grads(&f, desc, em_loss, &c);
                free(c.tok), free(c.w), free(c.out), free(dtok), free(pos);
                fx_close(&f);
            }
}

/* ================================================================ shift invariance */

/* Per-head scores dot(enc_q(x, qp), enc_k(y, kp)) of single tokens into sc[H]; tol[h] the
 * tolerance scale SHIFT_TOL * ||x_h|| ||y_h||. */
static void head_scores(fx *f, const float *x, const float *y, const int32_t *qp, const int32_t *kp, double *sc,
                        double *tol) {
    const pe *e = f->e;
    const int H = e->dims.heads, d = e->dims.head_dim, W = e->vt->qk_dim(e);
    float eq[MAXW], ek[MAXW];
    e->vt->qk_forward(e, &(pe_qk_rows){1, 0, 1, qp, H * d, H * W}, f->params, x, eq);
    e->vt->qk_forward(e, &(pe_qk_rows){1, 1, 1, kp, H * d, H * W}, f->params, y, ek);
    for (int h = 0; h < H; h++) {
        sc[h] = 0.0;
        for (int i = 0; i < W; i++) sc[h] += (double)eq[h * W + i] * ek[h * W + i];
        if (tol) tol[h] = SHIFT_TOL * sqrt(dot_loss(x + h * d, x + h * d, d) * dot_loss(y + h * d, y + h * d, d));
    }
}

/* Checks score(q at qp + sq, k at kp + sk) == score(q at qp, k at kp) per head. */
static void check_shift(fx *f, const char *desc, const float *x, const float *y, const int32_t *qp,
                        const int32_t *kp, const int32_t *sq, const int32_t *sk) {
    const int rank = f->e->dims.pos_rank, H = f->e->dims.heads;
    int32_t q2[2], k2[2];
    for (int a = 0; a < rank; a++) q2[a] = qp[a] + sq[a], k2[a] = kp[a] + sk[a];
    double s0[16], s1[16], tol[16];
    head_scores(f, x, y, qp, kp, s0, tol);
    head_scores(f, x, y, q2, k2, s1, NULL);
    for (int h = 0; h < H; h++)
        if (fabs(s0[h] - s1[h]) > tol[h]) {
            test_fail(__FILE__, __LINE__, "%s: head %d score %.9g at q %d,%d k %d,%d but %.9g shifted by %d,%d / %d,%d",
                      desc, h, s0[h], qp[0], rank > 1 ? qp[1] : 0, kp[0], rank > 1 ? kp[1] : 0, s1[h], sq[0],
                      rank > 1 ? sq[1] : 0, sk[0], rank > 1 ? sk[1] : 0);
            return;
        }
}

/* Every relative (QK) encoding, attention, option combination: 1-D shifts D up to 10^4; 2-D
 * shifts (dr, dc) for axes split, and for axes sum shifts of q and k that move row + col alike. */
static void shift_all(int two_d) {
    static const int32_t pairs[][4] = {{0, 0, 0, 0}, {3, 1, 1, 2}, {1, 5, 2, 0}, {7, 7, 1, 1}, {2, 11, 0, 3}};
    static const int32_t shifts1[] = {1, 5, 100, 1000, 4097, 10000};
    static const int32_t shifts2[][2] = {{1, 0}, {0, 1}, {3, 5}, {1000, 37}, {20, 3000}};
    pe_options combos[64];
    for (int i = 0; i < pe_count(); i++) {
        const pe_vtable *vt = pe_at(i);
        if (!(vt->hooks & PE_HOOK_QK)) continue;
        int nc = option_combos(vt, two_d, combos);
        for (unsigned a = PE_ATTN_SOFTMAX; a <= PE_ATTN_LINEAR; a <<= 1) {
            if (!(vt->attn_ok & a)) continue;
            for (int c = 0; c < nc; c++) {
                pe_dims d = two_d ? dims_2d(2, 8, 8, 8, a) : dims_1d(2, 8, 64, a, 1);
                char desc[200];
                describe(vt, &combos[c], &d, desc, sizeof desc);
                fx f;
                if (fx_open(&f, vt->name, &combos[c], &d)) continue;
                fx_perturb_theta(&f);
                float x[16], y[16];
                fill_inputs(x, 16, a);
                fill_inputs(y, 16, a);
                for (int p = 0; p < 5; p++) {
                    const int32_t *qp = pairs[p], *kp = pairs[p] + (two_d ? 2 : 1);
                    if (!two_d) {
                        for (int s = 0; s < 6; s++) check_shift(&f, desc, x, y, qp, kp, &shifts1[s], &shifts1[s]);
                    } else if (combos[c].axes_split || !has_key(vt, "axes")) {
                        for (int s = 0; s < 5; s++) check_shift(&f, desc, x, y, qp, kp, shifts2[s], shifts2[s]);
                    } else {
                        for (int s = 0; s < 5; s++) {
                            int32_t swapped[2] = {shifts2[s][1], shifts2[s][0]};
                            check_shift(&f, desc, x, y, qp, kp, shifts2[s], swapped);
                        }
                    }
                }
                fx_close(&f);
            }
        }
    }
}

TEST(pe_shift_invariance_1d) {
    reseed(21);
    shift_all(0);
}

TEST(pe_shift_invariance_2d) {
    reseed(22);
    shift_all(1);
}

/* axes split tells the offsets (1,2) and (2,1) apart; axes sum scores them the same. */
TEST(pe_axes_split_vs_sum) {
    reseed(23);
    static const char *const names[] = {"rope", "lrpe-rotation", "lrpe-unitary", "lrpe-permutation",
                                        "permuteformer"};
    for (int i = 0; i < 5; i++)
        for (int split = 0; split <= 1; split++) {
            pe_options o = pe_options_default();
            o.axes_split = split;
            pe_dims d = dims_2d(2, 12, 4, 4, PE_ATTN_LINEAR);
            fx f;
            if (fx_open(&f, names[i], &o, &d)) continue;
            float x[24], y[24];
            fill_inputs(x, 24, PE_ATTN_SOFTMAX);
            fill_inputs(y, 24, PE_ATTN_SOFTMAX);
            const int32_t q[2] = {0, 0}, k12[2] = {1, 2}, k21[2] = {2, 1};
            double a[2], b[2], tol[2];
            head_scores(&f, x, y, q, k12, a, tol);
            head_scores(&f, x, y, q, k21, b, NULL);
            for (int h = 0; h < 2; h++) {
                if (split)
                    CHECK(fabs(a[h] - b[h]) > 1e-3, "%s split: (1,2) and (2,1) score alike: %g %g", names[i], a[h],
                          b[h]);
                else
                    CHECK(fabs(a[h] - b[h]) <= tol[h], "%s sum: (1,2) and (2,1) differ: %g %g", names[i], a[h], b[h]);
            }
            fx_close(&f);
        }
}

/* ALiBi's bias depends on s - t only (|dr| + |dc| in 2-D), with the reference slopes. */
TEST(pe_alibi_bias) {
    static const double slopes8[] = {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625};
    static const double slopes6[] = {0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125};
    for (int H = 6; H <= 8; H += 2) {
        const double *m = H == 8 ? slopes8 : slopes6;
        pe_dims d = dims_1d(H, 4, 64, PE_ATTN_SOFTMAX, 0);
        pe_options o = pe_options_default();
        fx f;
        if (fx_open(&f, "alibi", &o, &d)) return;
        int32_t kpos[40];
        for (int t = 0; t < 40; t++) kpos[t] = t;
        for (int h = 0; h < H; h++)
            for (int s = 0; s < 40; s += 13) {
                float row[40], row2[40];
                int32_t kpos2[40], qp = s, qp2 = s + 1000;
                for (int t = 0; t < 40; t++) row[t] = row2[t] = (float)t, kpos2[t] = kpos[t] + 1000; /* bias adds */
                f.e->vt->score_bias(f.e, row, h, &qp, kpos, 40);
                f.e->vt->score_bias(f.e, row2, h, &qp2, kpos2, 40);
                for (int t = 0; t < 40; t++) {
                    CHECK_CLOSE(row[t], t - m[h] * abs(s - t), 1e-6, 1e-6, "alibi bias");
                    CHECK(row[t] == row2[t], "alibi not shift invariant (H %d h %d s %d t %d)", H, h, s, t);
                }
            }
        fx_close(&f);
    }
    pe_dims d = dims_2d(4, 4, 5, 5, PE_ATTN_SOFTMAX);
    pe_options o = pe_options_default();
    fx f;
    if (fx_open(&f, "alibi", &o, &d)) return;
    int32_t k[2 * 25], k2[2 * 25];
    for (int t = 0; t < 25; t++) k[2 * t] = t / 5, k[2 * t + 1] = t % 5, k2[2 * t] = t / 5 + 7, k2[2 * t + 1] = t % 5 + 9;
    const int32_t q[2] = {2, 1}, q2[2] = {9, 10};
    float row[25] = {0}, row2[25] = {0};
    f.e->vt->score_bias(f.e, row, 1, q, k, 25);
    f.e->vt->score_bias(f.e, row2, 1, q2, k2, 25);
    for (int t = 0; t < 25; t++) {
        CHECK_CLOSE(row[t], -0.0625 * (abs(t / 5 - 2) + abs(t % 5 - 1)), 1e-6, 1e-7, "alibi 2-D bias");
        CHECK(row[t] == row2[t], "alibi 2-D not shift invariant");
    }
    fx_close(&f);
}

/* permuteformer: r_h = sigmoid(3h/H + 2) when causal, 1 when bidirectional; the decayed score
 * r^(s-t) q'_s.k'_t depends on s - t only. */
TEST(pe_permuteformer_decay) {
    reseed(24);
    pe_options o = pe_options_default();
    for (int causal = 0; causal <= 1; causal++) {
        pe_dims d = dims_1d(4, 8, 64, PE_ATTN_LINEAR, causal);
        fx f;
        if (fx_open(&f, "permuteformer", &o, &d)) return;
        double r[4];
        for (int h = 0; h < 4; h++) {
            r[h] = f.e->vt->decay(f.e, h);
            double want = causal ? 1.0 / (1.0 + exp(-(3.0 * h / 4 + 2.0))) : 1.0;
            CHECK_CLOSE(r[h], want, 1e-6, 0, "permuteformer decay");
        }
        float x[32], y[32];
        fill_inputs(x, 32, PE_ATTN_LINEAR);
        fill_inputs(y, 32, PE_ATTN_LINEAR);
        static const int32_t st[][2] = {{5, 2}, {9, 9}, {40, 3}};
        for (int p = 0; p < 3; p++)
            for (int32_t D = 1; D <= 3000; D *= 7) {
                int32_t s = st[p][0], t = st[p][1], s2 = s + D, t2 = t + D;
                double a[4], b[4], tol[4];
                head_scores(&f, x, y, &s, &t, a, tol);
                head_scores(&f, x, y, &s2, &t2, b, NULL);
                for (int h = 0; h < 4; h++) {
                    double w = pow(r[h], s - t); /* the kernel's factor for (s, t) and (s+D, t+D) */
                    CHECK(fabs(w * a[h] - w * b[h]) <= tol[h], "permuteformer decayed score moves with D=%d", D);
                }
            }
        fx_close(&f);
    }
}

/* ================================================================ references */

/* The Householder unit vector of v, as the spec: u = v / (||v|| + 1e-6). */
static void ref_unit(const float *v, double *u, int d) {
    double n = 0.0;
    for (int i = 0; i < d; i++) n += (double)v[i] * v[i];
    n = sqrt(n);
    for (int i = 0; i < d; i++) u[i] = v[i] / (n + 1e-6);
}

/* out = P x by the definitions: Householder as the formed matrix I - 2 u u^T, the DCT-II
 * X_k = s_k sum_n x_n cos(pi (n + 1/2) k / d), the odd-even interleave out[2k] = x[k],
 * out[2k+1] = x[ceil(d/2) + k]. */
static void ref_P(pe_pmat kind, const float *v, const float *x, double *out, int d) {
    const double pi = 3.14159265358979323846;
    if (kind == PE_P_IDENTITY) {
        for (int i = 0; i < d; i++) out[i] = x[i];
    } else if (kind == PE_P_HOUSEHOLDER) {
        double u[64], M[64][64];
        ref_unit(v, u, d);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) M[i][j] = (i == j) - 2.0 * u[i] * u[j];
        for (int i = 0; i < d; i++) {
            out[i] = 0.0;
            for (int j = 0; j < d; j++) out[i] += M[i][j] * x[j];
        }
    } else if (kind == PE_P_DCT) {
        for (int k = 0; k < d; k++) {
            double s = 0.0;
            for (int n = 0; n < d; n++) s += x[n] * cos(pi * (n + 0.5) * k / d);
            out[k] = s * (k == 0 ? sqrt(1.0 / d) : sqrt(2.0 / d));
        }
    } else {
        int h = (d + 1) / 2;
        for (int k = 0; k < h; k++) out[2 * k] = x[k];
        for (int k = 0; k < d / 2; k++) out[2 * k + 1] = x[h + k];
    }
}

/* Position of frequency j of F for a token at p (1-D; 2-D sum: row + col; split: row for
 * j < ceil(F/2), else col). */
static long ref_fpos(const int32_t *p, int rank, int split, int F, int j) {
    if (rank == 1) return p[0];
    if (!split) return (long)p[0] + p[1];
    return j < (F + 1) / 2 ? p[0] : p[1];
}

/* y = M x with M an explicit d x d matrix of 2x2 rotations by angle[j] on the planes (a_j, b_j). */
static void ref_rotate(const double *x, double *y, int d, int F, const double *angle, int half_split) {
    double M[64][64] = {{0}};
    for (int i = 0; i < d; i++) M[i][i] = 1.0;
    for (int j = 0; j < F; j++) {
        int a = half_split ? j : 2 * j, b = half_split ? j + F : 2 * j + 1;
        double c = cos(angle[j]), s = sin(angle[j]);
        M[a][a] = c, M[a][b] = -s, M[b][a] = s, M[b][b] = c;
    }
    for (int i = 0; i < d; i++) {
        y[i] = 0.0;
        for (int k = 0; k < d; k++) y[i] += M[i][k] * x[k];
    }
}

/* The encoding of one head vector x at position p by the slow references (rope, lrpe-rotation,
 * lrpe-unitary, cosformer) into y (width qk_dim). */
static void ref_encode(fx *f, const float *x, const int32_t *p, double *y) {
    const pe *e = f->e;
    const int d = e->dims.head_dim, rank = e->dims.pos_rank, split = e->opt.axes_split;
    const char *name = e->vt->name;
    double xt[64], angle[64];
    const float *v = fx_param(f, "layers.1.pe.householder_v"), *th = fx_param(f, "layers.1.pe.theta");
    if (!strcmp(name, "cosformer")) {
        double a = 3.14159265358979323846 * (rank == 1 ? p[0] : p[0] * e->dims.grid_w + p[1]) / (2.0 * e->dims.max_len);
        for (int j = 0; j < d; j++) y[j] = x[j] * sin(a), y[d + j] = x[j] * cos(a);
    } else if (!strcmp(name, "lrpe-unitary")) { /* Re and Im of x~_j e^{i s theta_j} */
        ref_P(e->opt.p, v, x, xt, d);
        for (int j = 0; j < d; j++) {
            double a = ref_fpos(p, rank, split, d, j) * (double)th[j];
            y[j] = xt[j] * cos(a), y[d + j] = xt[j] * sin(a);
        }
    } else {
        const int F = d / 2, rope = !strcmp(name, "rope");
        ref_P(rope ? PE_P_IDENTITY : e->opt.p, v, x, xt, d);
        for (int j = 0; j < F; j++) {
            double theta = th ? th[j] : pow(10000.0, -2.0 * j / d);
            if (rope && split) { /* axial: each half of the frequencies its own ladder */
                int h = (F + 1) / 2;
                theta = j < h ? pow(10000.0, -2.0 * j / (2.0 * h)) : pow(10000.0, -2.0 * (j - h) / (2.0 * (F - h)));
            }
            angle[j] = ref_fpos(p, rank, split, F, j) * theta;
        }
        ref_rotate(xt, y, d, F, angle, rope);
    }
}

/* Fast qk_forward of one head-0 vector (H = 1) vs ref_encode at several positions, for every P. */
TEST(pe_reference_rotations) {
    reseed(31);
    static const char *const names[] = {"rope", "lrpe-rotation", "lrpe-unitary", "cosformer"};
    static const int32_t pos1[] = {0, 1, 2, 7, 33, 1000, 123456};
    static const int32_t pos2[][2] = {{0, 0}, {1, 0}, {0, 1}, {2, 3}, {5, 4}, {300, 7}};
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < (has_key(pe_lookup(names[i]), "p") ? 4 : 1); p++)
            for (int two_d = 0; two_d <= 1; two_d++)
                for (int split = 0; split <= two_d; split++)
                    for (int d = 7; d <= 8; d++) {
                        pe_options o = pe_options_default();
                        o.p = (pe_pmat)p, o.theta_learned = 1, o.axes_split = split;
                        unsigned a = !strcmp(names[i], "cosformer") ? PE_ATTN_LINEAR : PE_ATTN_SOFTMAX;
                        pe_dims dm = two_d ? dims_2d(1, d, 6, 8, a) : dims_1d(1, d, 64, a, 1);
                        char desc[200];
                        describe(pe_lookup(names[i]), &o, &dm, desc, sizeof desc);
                        fx f;
                        if (fx_open(&f, names[i], &o, &dm)) continue;
                        fx_perturb_theta(&f);
                        float x[8], y[16];
                        double want[16];
                        float wantf[16];
                        fill_normal(x, 8, 1.0f, &R);
                        const int W = f.e->vt->qk_dim(f.e);
                        for (int k = 0; k < (two_d ? 6 : 7); k++) {
                            const int32_t *pp = two_d ? pos2[k] : &pos1[k];
                            f.e->vt->qk_forward(f.e, &(pe_qk_rows){1, k % 2, 1, pp, d, W}, f.params, x, y);
                            ref_encode(&f, x, pp, want);
                            for (int j = 0; j < W; j++) wantf[j] = (float)want[j];
                            if (!CHECK_ARRAYS(desc, y, wantf, (size_t)W, REF_TOL, REF_TOL)) break;
                        }
                        fx_close(&f);
                    }
}

/* The angle table an instance keeps follows theta: a forward after theta changed (a step of a
 * learned theta, another layer's theta) gives what a fresh instance gives for the new theta, and
 * going back to the old theta gives the old output again, bit for bit. */
TEST(pe_angle_table_follows_theta) {
    reseed(33);
    static const char *const names[] = {"lrpe-rotation", "lrpe-unitary"}; /* the ones with a theta parameter */
    const int N = 40, H = 2, hd = 8;
    for (int i = 0; i < 2; i++) {
        pe_options o = pe_options_default();
        o.theta_learned = 1;
        pe_dims d = dims_1d(H, hd, 64, PE_ATTN_SOFTMAX, 1);
        fx f, g;
        if (fx_open(&f, names[i], &o, &d)) continue;
        if (fx_open(&g, names[i], &o, &d)) {
            fx_close(&f);
            continue;
        }
        const int W = f.e->vt->qk_dim(f.e);
        const size_t ni = (size_t)N * H * hd, no = (size_t)N * H * W;
        int32_t *pos = rand_pos(N, &d, 64);
        float *x = tcalloc(ni), *y0 = tcalloc(no), *y1 = tcalloc(no), *fresh = tcalloc(no), *again = tcalloc(no);
        fill_normal(x, ni, 1.0f, &R);
        const pe_qk_rows r = {1, 0, N, pos, H * hd, H * W};
        f.e->vt->qk_forward(f.e, &r, f.params, x, y0);
        memcpy(g.params, f.params, f.tt.total * sizeof(float));
        fx_perturb_theta(&g); /* g: the new theta, on an instance that never saw the old one */
        float *saved = tcalloc(f.tt.total);
        memcpy(saved, f.params, f.tt.total * sizeof(float));
        memcpy(f.params, g.params, f.tt.total * sizeof(float));
        f.e->vt->qk_forward(f.e, &r, f.params, x, y1);
        g.e->vt->qk_forward(g.e, &r, g.params, x, fresh);
        CHECK(!memcmp(y1, fresh, no * sizeof(float)), "%s: forward after theta changed differs from a fresh instance",
              names[i]);
        CHECK(memcmp(y0, y1, no * sizeof(float)), "%s: changing theta changed nothing", names[i]);
        memcpy(f.params, saved, f.tt.total * sizeof(float));
        f.e->vt->qk_forward(f.e, &r, f.params, x, again);
        CHECK(!memcmp(y0, again, no * sizeof(float)), "%s: back to the old theta, the forward differs", names[i]);
        free(x), free(y0), free(y1), free(fresh), free(again), free(saved), free(pos);
        fx_close(&f);
        fx_close(&g);
    }
}

/* The initial theta is the spec's ladder: rotation 10000^(-2j/e), e = d rounded down to even;
 * unitary e = d; with axes split each half of the frequencies its own ladder. */
TEST(pe_theta_ladder) {
    for (int split = 0; split <= 1; split++)
        for (int d = 7; d <= 8; d++)
            for (int u = 0; u <= 1; u++) {
                pe_options o = pe_options_default();
                o.axes_split = split;
                pe_dims dm = split ? dims_2d(2, d, 4, 4, PE_ATTN_SOFTMAX) : dims_1d(2, d, 16, PE_ATTN_SOFTMAX, 1);
                fx f;
                if (fx_open(&f, u ? "lrpe-unitary" : "lrpe-rotation", &o, &dm)) continue;
                const int F = u ? d : d / 2, h = split ? (F + 1) / 2 : F;
                for (int l = 0; l < 2; l++) {
                    char name[64];
                    snprintf(name, sizeof name, "layers.%d.pe.theta", l);
                    const float *th = fx_param(&f, name);
                    for (int j = 0; th && j < F; j++) {
                        int i = j < h ? j : j - h, m = j < h ? h : F - h;
                        double e = u ? m : 2.0 * m; /* 1-D: m = F; rotation e = 2F = d rounded down */
                        CHECK_CLOSE(th[j], pow(10000.0, -2.0 * i / e), 1e-6, 0, name);
                    }
                }
                fx_close(&f);
            }
}

/* lrpe-permutation against the spec's table recurrence idx[s][j] = idx[s-1][pi[j]], with pi read
 * off position 1; 2-D split: pi_row on the first ceil(d/2) coordinates, pi_col on the rest. */
TEST(pe_reference_permutation) {
    reseed(32);
    for (int two_d = 0; two_d <= 1; two_d++)
        for (int p = 0; p < 4; p++) {
            const int d = 9, half = two_d ? 5 : 9, S = 1200;
            pe_options o = pe_options_default();
            o.p = (pe_pmat)p, o.axes_split = two_d;
            pe_dims dm = two_d ? dims_2d(1, d, 40, 40, PE_ATTN_SOFTMAX) : dims_1d(1, d, 2000, PE_ATTN_SOFTMAX, 1);
            fx f;
            if (fx_open(&f, "lrpe-permutation", &o, &dm)) continue;
            const float *v = fx_param(&f, "layers.1.pe.householder_v");
            /* pi from position 1 (P = identity: recover it from 0..d-1 run through P^-1 = P^T) */
            float id[16], xt[16], y[16];
            double pxd[16];
            for (int j = 0; j < d; j++) id[j] = (float)j;
            int pi[2][16], ax, nax = two_d ? 2 : 1;
            for (ax = 0; ax < nax; ax++) {
                int32_t pp[2] = {ax == 0, ax == 1};
                pe_options oi = o;
                oi.p = PE_P_IDENTITY;
                fx g;
                if (fx_open(&g, "lrpe-permutation", &oi, &dm)) break;
                g.e->vt->qk_forward(g.e, &(pe_qk_rows){1, 0, 1, pp, d, d}, g.params, id, y);
                for (int j = 0; j < d; j++) pi[ax][j] = (int)y[j];
                fx_close(&g);
            }
            /* the table, from the recurrence, per axis (2-D: axis 0 rows over [0, half), axis 1 cols) */
            static int idx[2][1201][16];
            for (ax = 0; ax < nax; ax++) {
                for (int j = 0; j < d; j++) idx[ax][0][j] = j;
                for (int s = 1; s <= S; s++)
                    for (int j = 0; j < d; j++) idx[ax][s][j] = idx[ax][s - 1][pi[ax][j]];
            }
            float x[16];
            fill_normal(x, 16, 1.0f, &R);
            ref_P(o.p, v, x, pxd, d);
            for (int j = 0; j < d; j++) xt[j] = (float)pxd[j];
            for (int s = 0; s <= S; s += (s < 40 ? 1 : 97)) {
                int32_t pp[2] = {s, two_d ? (s * 7 + 3) % (S + 1) : 0};
                f.e->vt->qk_forward(f.e, &(pe_qk_rows){1, 0, 1, pp, d, d}, f.params, x, y);
                float want[16];
                for (int j = 0; j < d; j++) {
                    int src = !two_d || j < half ? idx[0][pp[0]][j] : idx[1][pp[1]][j];
                    want[j] = xt[src];
                }
                if (!CHECK_ARRAYS("permutation vs table recurrence", y, want, (size_t)d, REF_TOL, REF_TOL)) break;
            }
            if (two_d) { /* each half stays on its own coordinates */
                for (int j = 0; j < d; j++)
                    CHECK((j < half) == (pi[0][j] < half) && (j < half) == (pi[1][j] < half), "halves mix");
            }
            fx_close(&f);
        }
}

/* Norms: rotation, unitary (2d output, norm of P x), permutation and rope preserve ||x||; at
 * position 0 rotation gives P x and unitary [P x, 0] (P from ref_P); every P keeps dot products. */
TEST(pe_norms_and_position_zero) {
    reseed(33);
    static const char *const names[] = {"rope", "lrpe-rotation", "lrpe-unitary", "lrpe-permutation"};
    static const int32_t pos[] = {0, 1, 9, 1000, 99999};
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < 4; p++)
            for (int d = 7; d <= 8; d++) {
                pe_options o = pe_options_default();
                o.p = (pe_pmat)p;
                pe_dims dm = dims_1d(1, d, 64, PE_ATTN_SOFTMAX, 1);
                char desc[200];
                describe(pe_lookup(names[i]), &o, &dm, desc, sizeof desc);
                fx f;
                if (fx_open(&f, names[i], &o, &dm)) continue;
                fx_perturb_theta(&f);
                const int W = f.e->vt->qk_dim(f.e);
                float x[8], z[8], y[16], yz[16];
                fill_normal(x, 8, 1.0f, &R);
                fill_normal(z, 8, 1.0f, &R);
                for (int k = 0; k < 5; k++) {
                    f.e->vt->qk_forward(f.e, &(pe_qk_rows){1, 0, 1, &pos[k], d, W}, f.params, x, y);
                    CHECK_CLOSE(sqrt(dot_loss(y, y, W)), sqrt(dot_loss(x, x, d)), REF_TOL, REF_TOL, desc);
                }
                if (i == 1 || i == 2) {
                    double px[8], pz[8];
                    const float *v = fx_param(&f, "layers.1.pe.householder_v");
                    ref_P(o.p, v, x, px, d);
                    ref_P(o.p, v, z, pz, d);
                    float want[16] = {0};
                    for (int j = 0; j < d; j++) want[j] = (float)px[j];
                    f.e->vt->qk_forward(f.e, &(pe_qk_rows){1, 0, 1, &pos[0], d, W}, f.params, x, y);
                    CHECK_ARRAYS(i == 1 ? "rotation at 0 == P x" : "unitary at 0 == [P x, 0]", y, want, (size_t)W,
                                 REF_TOL, REF_TOL);
                    f.e->vt->qk_forward(f.e, &(pe_qk_rows){1, 1, 1, &pos[0], d, W}, f.params, z, yz);
                    CHECK_CLOSE(dot_loss(y, yz, W), dot_loss(x, z, d), REF_TOL, REF_TOL, "P keeps dot products");
                    double pxz = 0.0;
                    for (int j = 0; j < d; j++) pxz += px[j] * pz[j];
                    CHECK_CLOSE(pxz, dot_loss(x, z, d), REF_TOL, REF_TOL, "reference P is orthogonal");
                }
                fx_close(&f);
            }
}

/* The sinusoidal table from the spec's formula (two halves; 2-D: row half then column half),
 * embed_scale sqrt(C), positions beyond the precomputed rows, in place; learned reads its row. */
TEST(pe_absolute_tables) {
    reseed(34);
    for (int two_d = 0; two_d <= 1; two_d++)
        for (int C = 9; C <= 12; C += 3) {
            pe_dims d = two_d ? dims_2d(1, C, 3, 5, PE_ATTN_SOFTMAX) : dims_1d(1, C, 20, PE_ATTN_SOFTMAX, 1);
            pe_options o = pe_options_default();
            fx f;
            if (fx_open(&f, "sinusoidal", &o, &d)) continue;
            CHECK_CLOSE(f.e->vt->embed_scale(f.e), sqrt((double)C), 1e-7, 0, "sinusoidal embed_scale");
            enum { N = 6 };
            /* the last two beyond the precomputed rows (and the learned table) */
            static const int32_t pos1[N] = {0, 1, 19, 5, 250, 700};
            static const int32_t pos2[2 * N] = {0, 0, 1, 2, 2, 4, 2, 1, 250, 3, 7, 700};
            const int32_t *pos = two_d ? pos2 : pos1;
            float tok[N * 12], out[N * 12], want[N * 12];
            fill_normal(tok, (size_t)N * C, 1.0f, &R);
            for (int n = 0; n < N; n++)
                for (int a = 0; a < (two_d ? 2 : 1); a++) {
                    int w = two_d ? (a ? C - C / 2 : C / 2) : C, off = a ? C / 2 : 0, h = w / 2;
                    long p = pos[n * d.pos_rank + a];
                    for (int i = 0; i < w; i++) {
                        double val = i < h ? sin(p * pow(10000.0, -2.0 * i / w))
                                   : i < 2 * h ? cos(p * pow(10000.0, -2.0 * (i - h) / w)) : 0.0;
                        want[n * C + off + i] = (float)(tok[n * C + off + i] * sqrt((double)C) + val);
                    }
                }
            f.e->vt->embed_forward(f.e, f.params, out, tok, pos, N);
            CHECK_ARRAYS("sinusoidal table", out, want, (size_t)N * C, REF_TOL, REF_TOL);
            f.e->vt->embed_forward(f.e, f.params, tok, tok, pos, N); /* in place */
            CHECK_ARRAYS("sinusoidal in place", tok, out, (size_t)N * C, 0, 0);
            fx_close(&f);
            if (fx_open(&f, "learned", &o, &d)) continue;
            fill_normal(tok, (size_t)N * C, 1.0f, &R);
            const float *tab = fx_param(&f, "pe.table");
            for (int n = 0; n < N - 2; n++) {
                int row = two_d ? pos[2 * n] * 5 + pos[2 * n + 1] : pos[n];
                for (int i = 0; i < C; i++) want[n * C + i] = tok[n * C + i] + tab[row * C + i];
            }
            f.e->vt->embed_forward(f.e, f.params, out, tok, pos, N - 2);
            CHECK_ARRAYS("learned table", out, want, (size_t)(N - 2) * C, 0, 0);
            fx_close(&f);
        }
}

/* none is the identity in both slots. */
TEST(pe_none_identity) {
    reseed(35);
    pe_options o = pe_options_default();
    pe_dims d = dims_1d(3, 4, 16, PE_ATTN_LINEAR, 1);
    fx f;
    if (fx_open(&f, "none", &o, &d)) return;
    CHECK(f.e->vt->hooks == 0 && f.tt.n == 0 && f.e->vt->qk_dim(f.e) == 4 && f.e->vt->embed_scale(f.e) == 1.0f,
          "none: hooks, params, width, scale");
    enum { N = 5 };
    int32_t pos[N] = {0, 1, 2, 3, 4};
    float x[N * 14], y[N * 12] = {0}, g[N * 14] = {0}, e[N * 12], want[N * 14] = {0};
    fill_normal(x, N * 14, 1.0f, &R);
    f.e->vt->qk_forward(f.e, &(pe_qk_rows){0, 0, N, pos, 14, 12}, f.params, x, y);
    for (int n = 0; n < N; n++) CHECK_ARRAYS("none qk", y + n * 12, x + n * 14, 12, 0, 0);
    f.e->vt->qk_backward(f.e, &(pe_qk_rows){0, 1, N, pos, 14, 12}, f.params, f.grads, x, y, g);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 12; i++) want[n * 14 + i] = x[n * 14 + i];
    CHECK_ARRAYS("none qk backward", g, want, N * 14, 0, 0);
    f.e->vt->embed_forward(f.e, f.params, e, x, pos, N);
    CHECK_ARRAYS("none embed", e, x, N * 12, 0, 0);
    fx_close(&f);
}

/* ================================================================ engineering properties */

/* Forward outputs and all gradients are bitwise the same on 1 and 2 threads (many tokens, so the
 * parallel paths and several backward blocks run); backward accumulates into pre-filled buffers;
 * forward and backward allocate nothing. */
TEST(pe_threads_accumulate_no_alloc) {
    reseed(41);
    static const char *const names[] = {"lrpe-rotation", "lrpe-unitary", "lrpe-permutation", "rope", "cosformer",
                                        "learned", "sinusoidal"};
    const int N = 1500, H = 2, hd = 16;
    for (int i = 0; i < 7; i++) {
        pe_options o = pe_options_default();
        o.theta_learned = o.householder_learned = 1;
        pe_dims d = dims_1d(H, hd, 1024, !strcmp(names[i], "cosformer") ? PE_ATTN_LINEAR : PE_ATTN_SOFTMAX, 1);
        fx f;
        if (fx_open(&f, names[i], &o, &d)) continue;
        const pe *e = f.e;
        const int emb = !!(e->vt->hooks & PE_HOOK_EMBED), W = emb ? hd : e->vt->qk_dim(e);
        const size_t ni = (size_t)N * H * hd, no = (size_t)N * H * W, np = f.tt.total;
        int32_t *pos = rand_pos(N, &d, 1024);
        float *x = tcalloc(ni), *w = tcalloc(no), *out[2] = {tcalloc(no), tcalloc(no)};
        float *din[2] = {tcalloc(ni), tcalloc(ni)}, *gr[2] = {tcalloc(np), tcalloc(np)};
        fill_normal(x, ni, 1.0f, &R);
        fill_normal(w, no, 1.0f, &R);
        int threads = omp_get_max_threads();
        for (int t = 0; t < 2; t++) {
            threads_set(t + 1);
            long before = alloc_count();
            if (emb) {
                e->vt->embed_forward(e, f.params, out[t], x, pos, N);
                e->vt->embed_backward(e, f.params, gr[t], din[t], w, pos, N);
            } else {
                e->vt->qk_forward(e, &(pe_qk_rows){1, 1, N, pos, H * hd, H * W}, f.params, x, out[t]);
                e->vt->qk_backward(e, &(pe_qk_rows){1, 1, N, pos, H * hd, H * W}, f.params, gr[t], x, w, din[t]);
            }
            CHECK(alloc_count() == before, "%s: %ld allocations in forward + backward", names[i],
                  alloc_count() - before);
        }
        threads_set(threads);
        CHECK(!memcmp(out[0], out[1], no * sizeof(float)), "%s: forward differs across thread counts", names[i]);
        CHECK(!memcmp(din[0], din[1], ni * sizeof(float)), "%s: din differs across thread counts", names[i]);
        CHECK(!memcmp(gr[0], gr[1], np * sizeof(float)), "%s: parameter grads differ across thread counts", names[i]);
        /* accumulation: a second backward on the filled buffers doubles them */
        float *din2 = tcalloc(ni), *gr2 = tcalloc(np);
        memcpy(din2, din[0], ni * sizeof(float));
        memcpy(gr2, gr[0], np * sizeof(float));
        if (emb)
            e->vt->embed_backward(e, f.params, gr2, din2, w, pos, N);
        else
            e->vt->qk_backward(e, &(pe_qk_rows){1, 1, N, pos, H * hd, H * W}, f.params, gr2, x, w, din2);
        for (size_t k = 0; k < ni; k++) din[0][k] *= 2.0f;
        for (size_t k = 0; k < np; k++) gr[0][k] *= 2.0f;
        CHECK_ARRAYS("backward accumulates into din", din2, din[0], ni, 1e-6, 1e-6);
        CHECK_ARRAYS("backward accumulates into param grads", gr2, gr[0], np, 1e-6, 1e-6);
        free(x), free(w), free(out[0]), free(out[1]), free(din[0]), free(din[1]), free(gr[0]), free(gr[1]);
        free(din2), free(gr2), free(pos);
        fx_close(&f);
    }
}

/* ================================================================ the transform as data (pe_data)
 *
 * A slow reference that applies a pe_data (pe.h) using only that struct, the instance's public
 * dims and options (pos_rank, grid_w, max_len, head_dim, heads, axes_split) and the parameter
 * array: nothing of an encoding's own code or layout. It is what a GPU backend's kernels are held
 * to, so it follows pe.h's contract line by line, in double, one token and one head at a time.
 * The tests hold it against every encoding's hooks for every option combination it supports
 * (rtol/atol DATA_TOL: the hooks round to float at a few steps (P x, u, the output), ~1e-7 each,
 * and sum in another order; a wrong index, sign, angle or table is off by O(1)). */

#define DATA_TOL 1e-6

/* The position frequency (PERMUTE: coordinate) j of a token at p uses: 1-D t; 2-D with axes sum
 * row + col; with axes split row for j < half, col for the rest. */
static long dat_axis_pos(const pe_dims *dm, const pe_options *o, const int32_t *p, int j, int half) {
    if (dm->pos_rank == 1) return p[0];
    if (!o->axes_split) return (long)p[0] + p[1];
    return j < half ? p[0] : p[1];
}

/* xt[d] = P x[d] for layer `layer`: identity; Householder x - 2 (x.u) u, u = v / (|v| + 1e-6) with
 * v the layer's parameter at v_off; DCT sum_n dct[k d + n] x[n]; odd-even xt[2k] = x[k],
 * xt[2k+1] = x[ceil(d/2) + k]. */
static void dat_P(const pe_data *pd, const float *params, int layer, int d, const float *x, double *xt) {
    switch (pd->p) {
    case PE_P_IDENTITY:
        for (int i = 0; i < d; i++) xt[i] = x[i];
        break;
    case PE_P_HOUSEHOLDER: {
        const float *v = params + pd->v_off[layer];
        double n = 0.0, xu = 0.0;
        for (int i = 0; i < d; i++) n += (double)v[i] * v[i];
        n = sqrt(n) + 1e-6;
        for (int i = 0; i < d; i++) xu += x[i] * (v[i] / n);
        for (int i = 0; i < d; i++) xt[i] = x[i] - 2.0 * xu * (v[i] / n);
        break;
    }
    case PE_P_DCT:
        for (int k = 0; k < d; k++) {
            xt[k] = 0.0;
            for (int n = 0; n < d; n++) xt[k] += (double)pd->dct[(size_t)k * d + n] * x[n];
        }
        break;
    case PE_P_ODDEVEN:
        for (int k = 0; 2 * k < d; k++) xt[2 * k] = x[k];
        for (int k = 0; 2 * k + 1 < d; k++) xt[2 * k + 1] = x[(d + 1) / 2 + k];
        break;
    }
}

/* Angle of frequency j for a token at p in layer `layer`: pos_j * theta_j (double), theta_j the
 * layer's parameter when theta_off[layer] is set, else theta0[j]. */
static double dat_angle(const pe_data *pd, const pe_dims *dm, const pe_options *o, const float *params, int layer,
                        const int32_t *p, int j) {
    const int learned = pd->theta_off && pd->theta_off[layer] != (size_t)-1;
    const double th = learned ? (double)params[pd->theta_off[layer] + j] : pd->theta0[j];
    return (double)dat_axis_pos(dm, o, p, j, pd->half) * th;
}

/* pi^s(i) of permutation `set` of layer `layer` by pe_data.perm's cycle arrays (s >= 0). */
static int dat_perm_pow(const pe_data *pd, int layer, int set, int i, long s) {
    const int *const *a = pd->perm + ((size_t)layer * pd->perm_sets + set) * 4;
    const int *cyc = a[0], *start = a[1], *len = a[2], *k = a[3];
    return cyc[start[i] + (int)(((long)k[i] + s) % len[i])];
}

/* y[qk_dim] = the QK transform of one head x[d] of the token at p in layer `layer`. */
static void dat_qk_head(const pe_data *pd, const pe_dims *dm, const pe_options *o, const float *params, int layer,
                        const int32_t *p, const float *x, double *y) {
    const int d = dm->head_dim, F = pd->nfreq;
    double xt[PE_MAX_HEAD_DIM];
    dat_P(pd, params, layer, d, x, xt);
    switch (pd->qk) {
    case PE_QK_NONE:
        break;
    case PE_QK_ROPE: /* pairs (i, i + F) */
    case PE_QK_ROTATION: /* pairs (2j, 2j + 1) */
        for (int j = 0; j < F; j++) {
            const int a = pd->qk == PE_QK_ROPE ? j : 2 * j, b = pd->qk == PE_QK_ROPE ? j + F : 2 * j + 1;
            const double ang = dat_angle(pd, dm, o, params, layer, p, j), c = cos(ang), s = sin(ang);
            y[a] = xt[a] * c - xt[b] * s;
            y[b] = xt[b] * c + xt[a] * s;
        }
        if (d % 2) y[d - 1] = xt[d - 1];
        break;
    case PE_QK_UNITARY: /* [x~ cos | x~ sin], one frequency per coordinate */
        for (int j = 0; j < d; j++) {
            const double ang = dat_angle(pd, dm, o, params, layer, p, j);
            y[j] = xt[j] * cos(ang);
            y[d + j] = xt[j] * sin(ang);
        }
        break;
    case PE_QK_PERMUTE: /* y[j] = x~[pi^s(j)], set 1 (axes split, j >= half) indexed from half */
        for (int j = 0; j < d; j++) {
            const long s = dat_axis_pos(dm, o, p, j, pd->half);
            const int set = pd->perm_sets == 2 && j >= pd->half, base = set ? pd->half : 0;
            y[j] = xt[base + dat_perm_pow(pd, layer, set, j - base, s)];
        }
        break;
    case PE_QK_COSFORMER: { /* [x sin a | x cos a], a = pi i / (2 max_len) */
        const long i = dm->pos_rank == 1 ? p[0] : (long)p[0] * dm->grid_w + p[1];
        const double a = 3.14159265358979323846 * (double)i / (2.0 * dm->max_len);
        for (int j = 0; j < d; j++) {
            y[j] = xt[j] * sin(a);
            y[d + j] = xt[j] * cos(a);
        }
        break;
    }
    }
}

/* out[C] = tok[C] * embed_scale + the table row of the token at p (TABLE: pe_data.table; PARAM:
 * the parameter at table_off, the row clamped into [0, max_len)). */
static void dat_embed(const pe_data *pd, const pe_dims *dm, const float *params, const float *tok, const int32_t *p,
                      double *out) {
    const int C = dm->d_model;
    long row = dm->pos_rank == 1 ? p[0] : (long)p[0] * dm->grid_w + p[1];
    if (row < 0) row = 0;
    if (row >= dm->max_len) row = dm->max_len - 1;
    const float *tab = pd->embed == PE_EMBED_TABLE ? pd->table : params + pd->table_off;
    for (int i = 0; i < C; i++) out[i] = (double)tok[i] * pd->embed_scale + tab[(size_t)row * C + i];
}

/* The ALiBi bias of head h between tokens at qp and kp: (float)(-(double)slope * distance),
 * distance |s - t| or |dr| + |dc|. */
static float dat_alibi(const pe_data *pd, const pe_dims *dm, int h, const int32_t *qp, const int32_t *kp) {
    long dist = labs((long)qp[0] - kp[0]);
    if (dm->pos_rank == 2) dist += labs((long)qp[1] - kp[1]);
    return (float)(-(double)pd->alibi_slope[h] * dist);
}

/* Positions of N tokens for a data test: random in range (1-D [0, max_len), 2-D on the grid),
 * and, when far, tokens 1 and 2 far beyond it (relative encodings take any position >= 0). */
static int32_t *dat_positions(int N, const pe_dims *d, int far) {
    int32_t *p = rand_pos(N, d, d->max_len);
    if (far && d->pos_rank == 1) p[1] = 5000, p[2] = 123457;
    if (far && d->pos_rank == 2) p[2] = 1000, p[3] = 37, p[4] = 3, p[5] = 3000;
    return p;
}

/* The fields pe_describe fills from the vtable, and the zeros of the hooks an encoding lacks. */
static void dat_check_fields(const fx *f, const pe_data *pd, const char *desc) {
    const pe *e = f->e;
    const pe_vtable *vt = e->vt;
    CHECK(pd->hooks == vt->hooks, "%s: hooks %u", desc, pd->hooks);
    if (vt->hooks & PE_HOOK_QK)
        CHECK(pd->qk != PE_QK_NONE && pd->qk_dim == vt->qk_dim(e), "%s: qk %d, width %d", desc, pd->qk, pd->qk_dim);
    else
        CHECK(pd->qk == PE_QK_NONE && pd->qk_dim == 0 && !pd->theta0 && !pd->perm, "%s: QK fields without QK", desc);
    if (vt->hooks & PE_HOOK_EMBED)
        CHECK(pd->embed != PE_EMBED_NONE && pd->embed_scale == vt->embed_scale(e), "%s: embed %d scale %g", desc,
              pd->embed, pd->embed_scale);
    else
        CHECK(pd->embed == PE_EMBED_NONE && !pd->table && pd->embed_scale == 0.0f, "%s: EMBED fields", desc);
    CHECK(!!pd->alibi_slope == !!(vt->hooks & PE_HOOK_SCORE), "%s: alibi_slope", desc);
    CHECK(!!pd->decay == !!(vt->hooks & PE_HOOK_DECAY), "%s: decay", desc);
    for (int h = 0; pd->decay && h < e->dims.heads; h++)
        CHECK(pd->decay[h] == vt->decay(e, h), "%s: decay[%d] %g vs %g", desc, h, pd->decay[h], vt->decay(e, h));
    if (pd->qk == PE_QK_PERMUTE)
        CHECK(pd->perm && pd->perm_sets == (e->opt.axes_split ? 2 : 1), "%s: %d permutation sets", desc,
              pd->perm_sets);
}

/* qk_forward (q and k, both layers, N tokens, strided rows) against dat_qk_head. */
static void dat_check_qk(fx *f, const pe_data *pd, const char *desc) {
    const pe *e = f->e;
    const pe_dims *dm = &e->dims;
    const int N = 12, H = dm->heads, d = dm->head_dim, W = pd->qk_dim, ldi = H * d + 3, ldo = H * W + 2;
    int32_t *pos = dat_positions(N, dm, 1);
    float *x = tcalloc((size_t)N * ldi), *y = tcalloc((size_t)N * ldo), *want = tcalloc((size_t)N * ldo);
    fill_inputs(x, (size_t)N * ldi, dm->attention);
    double yh[2 * PE_MAX_HEAD_DIM];
    char what[256];
    for (int layer = 0; layer < dm->layers; layer++)
        for (int which = 0; which < 2; which++) {
            e->vt->qk_forward(e, &(pe_qk_rows){layer, which, N, pos, ldi, ldo}, f->params, x, y);
            for (int n = 0; n < N; n++)
                for (int h = 0; h < H; h++) {
                    dat_qk_head(pd, dm, &e->opt, f->params, layer, pos + (size_t)n * dm->pos_rank,
                                x + (size_t)n * ldi + (size_t)h * d, yh);
                    for (int i = 0; i < W; i++) want[(size_t)n * ldo + (size_t)h * W + i] = (float)yh[i];
                }
            for (int n = 0; n < N; n++) /* the row gaps are not the transform's */
                for (int i = H * W; i < ldo; i++) want[(size_t)n * ldo + i] = y[(size_t)n * ldo + i];
            snprintf(what, sizeof what, "%s: qk_forward vs pe_data (layer %d)", desc, layer);
            if (!CHECK_ARRAYS(what, y, want, (size_t)N * ldo, DATA_TOL, DATA_TOL)) goto out;
        }
out:
    free(pos), free(x), free(y), free(want);
}

/* embed_forward against dat_embed (positions in the table; learned also beyond it, clamped). */
static void dat_check_embed(fx *f, const pe_data *pd, const char *desc) {
    const pe *e = f->e;
    const pe_dims *dm = &e->dims;
    const int N = 12, C = dm->d_model;
    int32_t *pos = dat_positions(N, dm, 0);
    if (pd->embed == PE_EMBED_PARAM) { /* clamping */
        if (dm->pos_rank == 1) pos[2] = dm->max_len + 7;
        else pos[4] = dm->grid_h + 3;
    }
    float *tok = tcalloc((size_t)N * C), *out = tcalloc((size_t)N * C), *want = tcalloc((size_t)N * C);
    fill_normal(tok, (size_t)N * C, 1.0f, &R);
    double row[4 * PE_MAX_HEAD_DIM];
    e->vt->embed_forward(e, f->params, out, tok, pos, N);
    for (int n = 0; n < N; n++) {
        dat_embed(pd, dm, f->params, tok + (size_t)n * C, pos + (size_t)n * dm->pos_rank, row);
        for (int i = 0; i < C; i++) want[(size_t)n * C + i] = (float)row[i];
    }
    char what[256];
    snprintf(what, sizeof what, "%s: embed_forward vs pe_data", desc);
    CHECK_ARRAYS(what, out, want, (size_t)N * C, DATA_TOL, DATA_TOL);
    free(pos), free(tok), free(out), free(want);
}

/* score_bias against dat_alibi for every head and query of N tokens (far positions too). */
static void dat_check_score(fx *f, const pe_data *pd, const char *desc) {
    const pe *e = f->e;
    const pe_dims *dm = &e->dims;
    const int N = 12, rk = dm->pos_rank;
    int32_t *pos = dat_positions(N, dm, 1);
    float row[12], want[12];
    char what[256];
    snprintf(what, sizeof what, "%s: score_bias vs pe_data slopes", desc);
    for (int h = 0; h < dm->heads; h++)
        for (int s = 0; s < N; s++) {
            for (int t = 0; t < N; t++) row[t] = 0.0f, want[t] = dat_alibi(pd, dm, h, pos + s * rk, pos + t * rk);
            e->vt->score_bias(e, row, h, pos + s * rk, pos, N);
            if (!CHECK_ARRAYS(what, row, want, (size_t)N, DATA_TOL, 0)) goto out;
        }
out:
    free(pos);
}

/* Every encoding x attention it supports x 1-D (causal and not) / 2-D x option combination x head
 * dims 6 and 7 (theta perturbed off the ladder): the description matches the hooks. */
TEST(pe_describe_reference) {
    reseed(51);
    pe_options combos[64];
    int cases = 0;
    for (int i = 0; i < pe_count(); i++) {
        const pe_vtable *vt = pe_at(i);
        for (int two_d = 0; two_d <= 1; two_d++) {
            const int nc = option_combos(vt, two_d, combos);
            for (unsigned a = PE_ATTN_SOFTMAX; a <= PE_ATTN_LINEAR; a <<= 1)
                for (int causal = 0; causal <= !two_d; causal++)
                    for (int c = 0; (vt->attn_ok & a) && c < nc; c++)
                        for (int hd = 6; hd <= 7; hd++) {
                            pe_dims dm = two_d ? dims_2d(3, hd, 5, 6, a) : dims_1d(3, hd, 40, a, causal);
                            char desc[200];
                            describe(vt, &combos[c], &dm, desc, sizeof desc);
                            fx f;
                            if (fx_open(&f, vt->name, &combos[c], &dm)) continue;
                            fx_perturb_theta(&f);
                            pe_data pd;
                            pe_describe(f.e, &pd);
                            dat_check_fields(&f, &pd, desc);
                            if (vt->hooks & PE_HOOK_QK) dat_check_qk(&f, &pd, desc);
                            if (vt->hooks & PE_HOOK_EMBED) dat_check_embed(&f, &pd, desc);
                            if (vt->hooks & PE_HOOK_SCORE) dat_check_score(&f, &pd, desc);
                            fx_close(&f);
                            cases++;
                        }
        }
    }
    printf("    %d configurations\n", cases);
}

/* none and a NULL instance describe nothing (all zero); ALiBi's float slopes are its reference
 * slopes for head counts that are and are not powers of two. */
TEST(pe_describe_none_and_slopes) {
    pe_data pd, zero;
    memset(&zero, 0, sizeof zero);
    pe_describe(NULL, &pd);
    CHECK(!memcmp(&pd, &zero, sizeof pd), "pe_describe(NULL) is not all zero");
    pe_options o = pe_options_default();
    pe_dims d = dims_1d(2, 4, 16, PE_ATTN_SOFTMAX, 1);
    fx f;
    if (fx_open(&f, "none", &o, &d)) return;
    pe_describe(f.e, &pd);
    CHECK(!memcmp(&pd, &zero, sizeof pd), "none's description is not all zero");
    fx_close(&f);
    for (int H = 1; H <= 12; H++) {
        d = dims_1d(H, 4, 16, PE_ATTN_SOFTMAX, 1);
        if (fx_open(&f, "alibi", &o, &d)) return;
        pe_describe(f.e, &pd);
        /* the geometric slopes of the largest power of two c <= H, then every other one of 2c */
        int c = 1;
        while (2 * c <= H) c *= 2;
        for (int h = 0; h < H; h++) {
            double want = h < c ? pow(2.0, -8.0 * (h + 1) / c) : pow(2.0, -8.0 * (2 * (h - c) + 1) / (2 * c));
            CHECK(pd.alibi_slope[h] == (float)want, "alibi H %d slope %d: %g vs %g", H, h, pd.alibi_slope[h], want);
        }
        fx_close(&f);
    }
}

/* pe_create of every encoding (1-D, and 2-D with axes split) with each of its allocations failing
 * in turn: -1 with a reason, nothing leaked (the sanitizer build checks), then success. */
TEST(pe_create_out_of_memory) {
    for (int i = 0; i < pe_count(); i++)
        for (int two_d = 0; two_d <= 1; two_d++) {
            const pe_vtable *vt = pe_at(i);
            const unsigned a = vt->attn_ok & PE_ATTN_SOFTMAX ? PE_ATTN_SOFTMAX : PE_ATTN_LINEAR;
            pe_dims d = two_d ? dims_2d(3, 6, 3, 4, a) : dims_1d(3, 6, 16, a, 1);
            pe_options o = pe_options_default();
            o.p = PE_P_DCT, o.axes_split = two_d;
            int rc = -1;
            for (long k = 0; rc && k < 100; k++) {
                char err[256] = "";
                pe *e = NULL;
                alloc_fail_after(k);
                rc = pe_create(&e, vt->name, &o, &d, err, sizeof err);
                alloc_fail_after(-1);
                CHECK(rc == 0 ? e != NULL : e == NULL && strstr(err, "out of memory") != NULL,
                      "%s: allocation %ld failing: rc %d, '%s'", vt->name, k, rc, err);
                pe_destroy(e);
            }
            CHECK(rc == 0, "%s: still failing after 100 allocations", vt->name);
        }
}
