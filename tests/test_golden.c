/* Golden tests: the C model against an independent implementation in PyTorch 1.13
 * (tests/golden/make_golden.py, which writes tests/fixtures/golden_<variant>.safetensors).
 * Each fixture holds a tiny model's configuration, parameters, one batch, the logits and loss of
 * a forward pass, every gradient, and five AdamW steps (learning rate, loss, gradient norm per
 * step, final parameters). The C side builds the same model from the metadata (attention,
 * feature_map, normalizer, absolute, encoding, pe_opt through pe_options_set, seed), copies the
 * parameters in by name (fixed ones too, e.g. the Householder vector, so both sides use the same
 * values), and must reproduce all of it. Variants (2 layers, d 32, 2 heads, T 16, vocab 64, B 2):
 *   softmax                  causal softmax, no positional encoding
 *   linear_lrpe_unitary      causal linear attention, 1+elu, LayerNorm normaliser, sinusoidal
 *                            absolute, lrpe-unitary with a fixed Householder P and learned theta
 *   linear_rope_denominator  causal linear attention, 1+elu, denominator normaliser, rope
 *   softmax_rope             causal softmax, rope, learned absolute table
 * Fixed parameters: the fixture lists them (metadata "frozen"); the C table's frozen flags must
 * match, their gradient must be exactly zero and their final value exactly the initial one.
 *
 * Tolerances. An element passes when |c - torch| <= rtol * max(|c|, |torch|) + atol, with atol a
 * fraction of the largest |torch| value of that tensor (near-zero elements are judged on the
 * tensor's scale, not their own). Observed on x86-64 / OpenBLAS, 1 and 2 threads alike (the same
 * bits), worst case per quantity (|d| = |c - torch|), for softmax / linear_lrpe_unitary /
 * linear_rope_denominator / softmax_rope:
 *   logits        |d| / max|torch| 4.2e-7 / 3.1e-7 / 4.8e-7 / 4.3e-7
 *                 (PyTorch float32 vs float64: 3.9e-7 / 2.3e-7 / 3.6e-7 / 3.4e-7)
 *   loss          |d| / |torch|    1.9e-8 / 2.2e-8 / 2.7e-9 / 9.2e-8
 *   gradients     |d| / max|torch| 4.4e-7 / 9.4e-7 / 5.0e-7 / 8.4e-7
 *                 (float32 vs float64: 3.9e-7 / 8.6e-7 / 5.7e-7 / 5.2e-7); worst grad.layers.0.ln1_g,
 *                 grad.layers.0.pe.theta, grad.layers.1.ln2_g, grad.layers.1.ln2_g
 *   learning rate exact
 *   step losses   |d| / |torch|    1.2e-7 / 9.7e-8 / 6.7e-8 / 1.1e-7
 *   grad norms    |d| / |torch|    2.0e-7 / 1.1e-7 / 1.1e-6 / 2.3e-7 (later steps inherit the
 *                 parameter differences)
 *   final params  |d| / max|torch| 2.0e-6 / 9.9e-7 / 7.7e-6 / 1.5e-5 (worst final.layers.0.qkv_b
 *                 of softmax_rope; float32 vs float64 there: 1.7e-5)
 *   final, ill    |d| / max|torch| 9.6e-6 / 7.1e-6 / 1.2e-4 / 2.1e-4 (see below)
 * The bounds sit about 10x above those (at least 5x: theta's gradient, whose float32 PyTorch error
 * is itself 8.6e-7); an optimizer or schedule bug moves parameters by 1e-4 to 1e-2 (AdamW steps
 * are ~lr = 1e-2), outside them:
 *   logits    rtol 1e-5, atol 5e-6 * max         loss          rtol 2e-6
 *   gradients rtol 1e-5, atol 5e-6 * max         learning rate rtol 1e-6 (float vs double)
 *   losses    rtol 5e-6                          grad norms    rtol 2e-5
 *   final     atol 1e-4 * max (softmax_rope: 2e-4 * max)
 *   final ill atol 2e-3 * max
 * Ill-conditioned final parameters. AdamW's first update of an element is lr g / (|g| + eps) with
 * eps = 1e-8: where the clipped first gradient g is within a few eps of zero (a GELU unit that is
 * off for every token of the batch, a rope key-bias coordinate of a slow frequency, which is
 * nearly position-independent and so nearly invisible to softmax), its round-off decides a step of
 * up to lr/2, and PyTorch float32 itself departs from float64 by up to 1.0e-4 * max there
 * (softmax_rope final.layers.1.qkv_b, whose worst element's first gradient is 9e-9). Elements
 * whose clipped first gradient (the fixture's grad.<name> times the first step's clipping
 * coefficient) is nonzero but below 30 eps (3e-7; 5 to 15 of ~30000 elements per variant, 11 of
 * them in linear_lrpe_unitary the slow theta_j, whose gradient is proportional to theta_j) are
 * therefore compared as "<name>[ill]" with the looser bound; exact zeros (embedding rows of
 * tokens not in the batch) stay with the others.
 * One exclusion, for softmax without a q/k encoding only: the key bias (rows C..2C-1 of each
 * qkv_b). Adding a constant vector to every key shifts all scores of a query by the same amount,
 * which softmax ignores, so its gradient is zero analytically and pure round-off numerically
 * (~1e-9 in both implementations, and unrelated between them). AdamW divides by sqrt(v) and turns
 * that noise into steps of up to ~lr/10, so its final values are not comparable; the test checks
 * instead that its gradient is at round-off level in both (below 1e-6 of the largest qkv_b
 * gradient). Nothing else depends on it (same invariance). With rope (or any q/k encoding) the
 * key bias's contribution depends on the key's position, so it is compared like everything else.
 *
 * LRPE_GOLDEN_VERBOSE=1 prints the observed errors of every quantity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "model.h"
#include "optim.h"
#include "safetensors.h"
#include "test.h"

#define REGENERATE "regenerate with /usr/bin/python3 tests/golden/make_golden.py from the repository root"

/* Tolerances of one variant (see the top of the file): rtol relative to max(|c|, |torch|) per
 * element, atol a fraction of the tensor's largest |torch|. */
typedef struct golden_tol {
    double logits_rtol, logits_atol, loss_rtol, grad_rtol, grad_atol, lr_rtol, losses_rtol, norm_rtol,
        final_rtol, final_atol, final_ill_atol;
} golden_tol;

/* A fixture: its variant name (metadata "variant"), file and tolerances. */
typedef struct golden_variant {
    const char *name, *path;
    golden_tol tol;
} golden_variant;

#define KBIAS_GRAD_MAX 1e-6
/* a final parameter is ill-conditioned when its first clipped gradient is below ILL_EPS AdamW eps */
#define ILL_EPS 30.0

/* the bounds every variant shares; final_atol differs (see the top) */
#define TOL_COMMON                                                                                    \
    .logits_rtol = 1e-5, .logits_atol = 5e-6, .loss_rtol = 2e-6, .grad_rtol = 1e-5, .grad_atol = 5e-6, \
    .lr_rtol = 1e-6, .losses_rtol = 5e-6, .norm_rtol = 2e-5, .final_rtol = 0.0, .final_ill_atol = 2e-3

static const golden_variant V_SOFTMAX = {
    "softmax", "tests/fixtures/golden_softmax.safetensors", {TOL_COMMON, .final_atol = 1e-4}};
static const golden_variant V_LINEAR_LRPE_UNITARY = {
    "linear_lrpe_unitary", "tests/fixtures/golden_linear_lrpe_unitary.safetensors", {TOL_COMMON, .final_atol = 1e-4}};
static const golden_variant V_LINEAR_ROPE_DENOMINATOR = {
    "linear_rope_denominator", "tests/fixtures/golden_linear_rope_denominator.safetensors",
    {TOL_COMMON, .final_atol = 1e-4}};
static const golden_variant V_SOFTMAX_ROPE = {
    "softmax_rope", "tests/fixtures/golden_softmax_rope.safetensors", {TOL_COMMON, .final_atol = 2e-4}};

/* A fixture loaded and a model built from it, with its parameters copied in. */
typedef struct golden {
    const char *path;
    const golden_tol *tol;
    int kbias_invariant; /* softmax without a q/k encoding: the key bias cannot change the output */
    st_file *f;
    model *m;
    model_batch batch;
    int steps;
    lr_schedule sched;
    adamw_config opt;
    float max_norm;
    int verbose;
} golden;

/* Reads metadata key as a long; records a failure and returns -1 when absent or malformed. */
static int meta_long(const golden *g, const char *key, long *out) {
    const char *s = st_meta_get(g->f, key);
    char *end;
    if (s) *out = strtol(s, &end, 10);
    if (!s || !*s || *end) {
        CHECK(0, "%s: metadata '%s' missing or not an integer (%s)", g->path, key, s ? s : "absent");
        return -1;
    }
    return 0;
}

/* Reads metadata key as a double; records a failure and returns -1 when absent or malformed. */
static int meta_double(const golden *g, const char *key, double *out) {
    const char *s = st_meta_get(g->f, key);
    char *end;
    if (s) *out = strtod(s, &end);
    if (!s || !*s || *end) {
        CHECK(0, "%s: metadata '%s' missing or not a number (%s)", g->path, key, s ? s : "absent");
        return -1;
    }
    return 0;
}

/* The fixture tensor name with this dtype and shape, or NULL after recording a failure. */
static const st_tensor *fixture_tensor(const golden *g, const char *name, st_dtype dtype, int ndim,
                                       const int64_t *shape) {
    const st_tensor *t;
    char err[512];
    if (st_expect(g->f, name, dtype, ndim, shape, &t, err, sizeof err)) {
        CHECK(0, "%s (%s)", err, REGENERATE);
        return NULL;
    }
    return t;
}

/* A fixture float tensor of n elements (shape [n]) or NULL after recording a failure. */
static const float *fixture_vector(const golden *g, const char *name, long n) {
    const int64_t shape[1] = {n};
    const st_tensor *t = fixture_tensor(g, name, ST_F32, 1, shape);
    return t ? t->data : NULL;
}

/* 1 when a fixture tensor name is one the test knows: a parameter of the model's table, or one of
 * its grad./final. copies, or a recorded output. */
static int known_tensor(const tensor_table *tt, const char *name) {
    static const char *const outputs[] = {"tokens", "targets", "logits", "loss", "lrs", "losses", "grad_norms"};
    for (size_t i = 0; i < sizeof outputs / sizeof *outputs; i++)
        if (strcmp(name, outputs[i]) == 0) return 1;
    if (strncmp(name, "grad.", 5) == 0) name += 5;
    else if (strncmp(name, "final.", 6) == 0) name += 6;
    return tt_find(tt, name) >= 0;
}

/* Metadata key as a string, or dflt when the fixture does not have it. */
static const char *meta_str(const golden *g, const char *key, const char *dflt) {
    const char *s = st_meta_get(g->f, key);
    return s ? s : dflt;
}

/* 1 when name is one of the items of the comma-separated list (NULL = empty). */
static int in_list(const char *list, const char *name) {
    const size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Applies "key=value,key=value" (metadata pe_opt) to o with pe_options_set; 0, or -1 after
 * recording a failure. */
static int parse_pe_opt(const golden *g, const char *list, pe_options *o) {
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64], err[256];
        const char *eq = memchr(p, '=', len);
        if (len >= sizeof item || !eq) {
            CHECK(0, "%s: malformed pe_opt '%s'", g->path, list);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = 0;
        item[eq - p] = 0;
        if (pe_options_set(o, item, item + (eq - p) + 1, err, sizeof err)) {
            CHECK(0, "%s: pe_opt: %s", g->path, err);
            return -1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Loads the fixture of variant v and builds its model; returns 0, or -1 after recording a
 * failure. Model options absent from the metadata are "none" (absolute, encoding); linear
 * attention needs feature_map and normalizer; pe_opt starts from pe_options_default(). */
static int golden_open(golden *g, const golden_variant *var) {
    const char *path = var->path;
    memset(g, 0, sizeof *g);
    g->path = path;
    g->tol = &var->tol;
    const char *v = getenv("LRPE_GOLDEN_VERBOSE");
    g->verbose = v && *v && strcmp(v, "0") != 0;
    char err[512];
    if (st_read(&g->f, path, err, sizeof err)) {
        CHECK(0, "%s (run the tests from the repository root; %s)", err, REGENERATE);
        return -1;
    }
    long vocab, n_out, batch, seq, layers, d_model, heads, ffn_mult, causal, steps, warmup, total, seed;
    double ln_eps, lr, min_lr, beta1, beta2, eps, wd, max_norm;
    if (meta_long(g, "vocab", &vocab) || meta_long(g, "n_out", &n_out) || meta_long(g, "batch", &batch) ||
        meta_long(g, "seq", &seq) || meta_long(g, "layers", &layers) || meta_long(g, "d_model", &d_model) ||
        meta_long(g, "heads", &heads) || meta_long(g, "ffn_mult", &ffn_mult) || meta_long(g, "causal", &causal) ||
        meta_double(g, "ln_eps", &ln_eps) || meta_long(g, "steps", &steps) || meta_double(g, "lr", &lr) ||
        meta_double(g, "min_lr", &min_lr) || meta_long(g, "warmup", &warmup) ||
        meta_long(g, "total_steps", &total) || meta_double(g, "beta1", &beta1) || meta_double(g, "beta2", &beta2) ||
        meta_double(g, "eps", &eps) || meta_double(g, "weight_decay", &wd) ||
        meta_double(g, "max_grad_norm", &max_norm) || meta_long(g, "seed", &seed))
        return -1;
    const char *attention = st_meta_get(g->f, "attention"), *decay = st_meta_get(g->f, "decay");
    CHECK(attention != NULL, "%s: metadata 'attention' missing", path);
    CHECK(decay && strcmp(decay, "weights,embeddings") == 0, "%s: decay '%s' (the test applies weight decay to "
          "weights and embeddings)", path, decay ? decay : "absent");
    if (!attention || !decay) return -1;
    const char *variant = st_meta_get(g->f, "variant");
    CHECK(variant && strcmp(variant, var->name) == 0, "%s: variant '%s', expected '%s'", path,
          variant ? variant : "absent", var->name);
    const int linear = strcmp(attention, "linear") == 0;
    const char *feature_map = meta_str(g, "feature_map", NULL), *normalizer = meta_str(g, "normalizer", NULL);
    CHECK(!linear || (feature_map && normalizer), "%s: linear attention without metadata feature_map / normalizer",
          path);
    if (linear && (!feature_map || !normalizer)) return -1;

    model_config cfg = model_config_default();
    cfg.vocab = (int)vocab, cfg.n_out = (int)n_out, cfg.max_batch = (int)batch, cfg.max_seq = (int)seq;
    cfg.layers = (int)layers, cfg.d_model = (int)d_model, cfg.heads = (int)heads, cfg.ffn_mult = (int)ffn_mult;
    cfg.causal = (int)causal, cfg.head = HEAD_LM, cfg.attention = attention, cfg.ln_eps = (float)ln_eps;
    if (linear) cfg.feature_map = feature_map, cfg.normalizer = normalizer;
    cfg.absolute = meta_str(g, "absolute", "none");
    cfg.encoding = meta_str(g, "encoding", "none");
    cfg.seed = (uint64_t)seed;
    cfg.pe_opt = pe_options_default();
    if (parse_pe_opt(g, st_meta_get(g->f, "pe_opt"), &cfg.pe_opt)) return -1;
    if (model_create(&g->m, &cfg, err, sizeof err)) {
        CHECK(0, "%s: %s", path, err);
        return -1;
    }
    /* softmax ignores a shift of every score of a query by the same amount, so the key bias is
     * invisible unless a q/k encoding makes its contribution depend on the key's position */
    const pe_vtable *rel = pe_lookup(cfg.encoding);
    g->kbias_invariant = !linear && !(rel && (rel->hooks & PE_HOOK_QK));

    /* the batch */
    const int64_t bt[2] = {batch, seq};
    const st_tensor *tok = fixture_tensor(g, "tokens", ST_I32, 2, bt);
    const st_tensor *tgt = fixture_tensor(g, "targets", ST_I32, 2, bt);
    if (!tok || !tgt) return -1;
    g->batch = (model_batch){.B = (int)batch, .T = (int)seq, .tokens = tok->data, .targets = tgt->data, .valid = NULL};

    /* every parameter of the table, by name and shape; and nothing in the fixture the table lacks */
    const tensor_table *tt = model_param_table(g->m);
    float *P = model_params(g->m);
    int missing = 0;
    const char *frozen = st_meta_get(g->f, "frozen");
    for (int i = 0; i < tt->n; i++) {
        const tensor_desc *d = &tt->t[i];
        int64_t shape[TENSOR_MAX_DIM];
        for (int k = 0; k < d->ndim; k++) shape[k] = d->shape[k];
        const st_tensor *t = fixture_tensor(g, d->name, ST_F32, d->ndim, shape);
        if (t) memcpy(P + d->offset, t->data, d->numel * sizeof *P);
        else missing++;
        /* fixed parameters (PyTorch: no gradient, not optimised) are exactly the frozen ones */
        CHECK(d->frozen == in_list(frozen, d->name), "%s: parameter '%s' is %s in C but %s in the fixture", path,
              d->name, d->frozen ? "frozen" : "trained", in_list(frozen, d->name) ? "frozen" : "trained");
    }
    for (int i = 0; i < st_count(g->f); i++)
        if (!known_tensor(tt, st_at(g->f, i)->name)) {
            CHECK(0, "%s: tensor '%s' is not a parameter of the model built from its metadata", path, st_at(g->f, i)->name);
            missing++;
        }
    if (missing) return -1;

    g->steps = (int)steps;
    g->sched = (lr_schedule){.lr = (float)lr, .min_lr = (float)min_lr, .warmup = warmup, .total = total, .shape = LR_COSINE};
    g->opt = adamw_defaults();
    g->opt.beta1 = (float)beta1, g->opt.beta2 = (float)beta2, g->opt.eps = (float)eps, g->opt.weight_decay = (float)wd;
    g->opt.decay_kinds = (1u << TK_WEIGHT) | (1u << TK_EMBED);
    g->max_norm = (float)max_norm;
    return 0;
}

/* Frees what golden_open made. */
static void golden_close(golden *g) {
    model_destroy(g->m);
    st_close(g->f);
}

/* Compares got[n] with want[n] (|d| <= rtol * max(|got|,|want|) + atol_frac * scale, scale the
 * tensor's max|want|); with verbose, prints the worst |d|, |d| / scale, and |d| / |want| over
 * elements of at least 1% of scale. */
static void compare_scaled(const golden *g, const char *what, const float *got, const float *want, size_t n,
                           double rtol, double atol_frac, double scale) {
    double worst = 0.0, worst_rel = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        worst = fmax(worst, d);
        if (fabs(want[i]) >= 0.01 * scale) worst_rel = fmax(worst_rel, d / fabs(want[i]));
    }
    CHECK_ARRAYS(what, got, want, n, rtol, atol_frac * scale);
    if (g->verbose)
        printf("    %-24s max|d| %.2e  max|d|/max|torch| %.2e  max|d|/|torch| %.2e  (max|torch| %.2e, %zu values)\n",
               what, worst, scale > 0 ? worst / scale : 0.0, worst_rel, scale, n);
}

/* compare_scaled on the scale max|want[i]|. */
static void compare(const golden *g, const char *what, const float *got, const float *want, size_t n,
                    double rtol, double atol_frac) {
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    compare_scaled(g, what, got, want, n, rtol, atol_frac, scale);
}

/* Final parameters of one tensor (or part): elements whose first clipped gradient clip0 * grad0
 * is nonzero but below ILL_EPS * eps are ill-conditioned for AdamW (see the top) and compared as
 * "<what>[ill]" with the variant's final_ill_atol; the others with rtol / atol_frac. Both on the
 * scale of the whole part. */
static void compare_final(const golden *g, const char *what, const float *got, const float *want,
                          const float *grad0, size_t n, double clip0, double rtol, double atol_frac) {
    const double small = ILL_EPS * g->opt.eps;
    double scale = 0.0;
    size_t nill = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    float *buf = calloc(4 * n + 1, sizeof *buf);
    if (!buf) {
        CHECK(0, "out of memory");
        return;
    }
    float *gw = buf, *ww = buf + n, *gi = buf + 2 * n, *wi = buf + 3 * n;
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        double g0 = fabs(clip0 * grad0[i]);
        if (g0 > 0.0 && g0 < small) gi[nill] = got[i], wi[nill++] = want[i];
        else gw[nw] = got[i], ww[nw++] = want[i];
    }
    compare_scaled(g, what, gw, ww, nw, rtol, atol_frac, scale);
    if (nill) {
        char part[128];
        snprintf(part, sizeof part, "%s[ill]", what);
        compare_scaled(g, part, gi, wi, nill, 0.0, g->tol->final_ill_atol, scale);
    }
    free(buf);
}

/* Compares the model's current parameters (prefix "final.") or gradients (prefix "grad.") with
 * the fixture's tensors prefix<name>. Final parameters skip the key bias when it is invisible to
 * the model, and split off the elements AdamW's first step cannot resolve (compare_final; clip0 is
 * the clipping coefficient of the first step). A frozen tensor's fixture gradient is zero and its
 * final value the initial one; both must match exactly (the scale, hence atol, is 0). */
static void compare_table(const golden *g, const float *base, const char *prefix, double rtol, double atol_frac,
                          double clip0) {
    const tensor_table *tt = model_param_table(g->m);
    const int C = model_cfg(g->m)->d_model;
    const int final = strcmp(prefix, "final.") == 0;
    for (int i = 0; i < tt->n; i++) {
        const tensor_desc *d = &tt->t[i];
        char name[96], gname[96];
        snprintf(name, sizeof name, "%s%s", prefix, d->name);
        snprintf(gname, sizeof gname, "grad.%s", d->name);
        int64_t shape[TENSOR_MAX_DIM];
        for (int k = 0; k < d->ndim; k++) shape[k] = d->shape[k];
        const st_tensor *t = fixture_tensor(g, name, ST_F32, d->ndim, shape);
        const st_tensor *g0 = final ? fixture_tensor(g, gname, ST_F32, d->ndim, shape) : NULL;
        if (!t || (final && !g0)) continue;
        const float *want = t->data;
        const float *got = base + d->offset;
        size_t len = strlen(d->name);
        if (!final) {
            compare(g, name, got, want, d->numel, rtol, atol_frac);
        } else if (g->kbias_invariant && len >= 6 && strcmp(d->name + len - 6, ".qkv_b") == 0) {
            const float *grad0 = g0->data;
            char part[112];
            snprintf(part, sizeof part, "%s[q]", name);
            compare_final(g, part, got, want, grad0, (size_t)C, clip0, rtol, atol_frac);
            snprintf(part, sizeof part, "%s[v]", name);
            compare_final(g, part, got + 2 * C, want + 2 * C, grad0 + 2 * C, (size_t)C, clip0, rtol, atol_frac);
        } else {
            compare_final(g, name, got, want, g0->data, d->numel, clip0, rtol, atol_frac);
        }
    }
}

/* Forward on the fixture's batch: logits and mean cross-entropy. */
static void golden_forward_check(const golden_variant *var) {
    golden g;
    if (golden_open(&g, var) == 0) {
        const golden_tol *tol = g.tol;
        double loss = test_forward(g.m, &g.batch);
        const size_t n = (size_t)g.batch.B * g.batch.T * model_cfg(g.m)->n_out;
        const int64_t ls[2] = {(int64_t)g.batch.B * g.batch.T, model_cfg(g.m)->n_out};
        const st_tensor *logits = fixture_tensor(&g, "logits", ST_F32, 2, ls);
        const float *want_loss = fixture_vector(&g, "loss", 1);
        if (logits) compare(&g, "logits", model_logits(g.m), logits->data, n, tol->logits_rtol, tol->logits_atol);
        if (want_loss) {
            CHECK_CLOSE(loss, want_loss[0], tol->loss_rtol, 0.0, "loss");
            if (g.verbose) printf("    %-26s |c - torch| / torch %.3e\n", "loss", fabs(loss - want_loss[0]) / want_loss[0]);
        }
    }
    golden_close(&g);
}

/* Backward of the mean loss: every gradient tensor; where the key bias is invisible, its gradient
 * is round-off. */
static void golden_backward_check(const golden_variant *var) {
    golden g;
    if (golden_open(&g, var) == 0) {
        test_forward(g.m, &g.batch);
        model_zero_grad(g.m);
        model_backward(g.m);
        compare_table(&g, model_grads(g.m), "grad.", g.tol->grad_rtol, g.tol->grad_atol, 0.0);
        /* the justification of the final-parameter exclusion: both key-bias gradients are noise */
        const tensor_table *tt = model_param_table(g.m);
        const int C = model_cfg(g.m)->d_model;
        for (int l = 0; g.kbias_invariant && l < model_cfg(g.m)->layers; l++) {
            char name[64], gname[64];
            snprintf(name, sizeof name, "layers.%d.qkv_b", l);
            snprintf(gname, sizeof gname, "grad.layers.%d.qkv_b", l);
            int i = tt_find(tt, name);
            const float *want = fixture_vector(&g, gname, 3 * C);
            if (i < 0 || !want) continue;
            const float *got = model_grads(g.m) + tt->t[i].offset;
            double scale = 0.0, kc = 0.0, kt = 0.0;
            for (int j = 0; j < 3 * C; j++) scale = fmax(scale, fabs(want[j]));
            for (int j = C; j < 2 * C; j++) kc = fmax(kc, fabs(got[j])), kt = fmax(kt, fabs(want[j]));
            CHECK(kc <= KBIAS_GRAD_MAX * scale && kt <= KBIAS_GRAD_MAX * scale,
                  "%s: key-bias gradient %.3g (C) / %.3g (torch) is not at round-off level (max %.3g)", name, kc, kt, scale);
            if (g.verbose) printf("    %-26s key-bias |grad| C %.3e torch %.3e (max %.3e)\n", name, kc, kt, scale);
        }
    }
    golden_close(&g);
}

/* The training steps: learning rate, loss and gradient norm of each, then the final parameters. */
static void golden_training_check(const golden_variant *var) {
    golden g;
    if (golden_open(&g, var) == 0) {
        const golden_tol *tol = g.tol;
        const tensor_table *tt = model_param_table(g.m);
        float *P = model_params(g.m), *G = model_grads(g.m);
        float *m = arena_alloc(tt->total), *v = arena_alloc(tt->total);
        float *lrs = calloc((size_t)g.steps, sizeof *lrs), *losses = calloc((size_t)g.steps, sizeof *losses);
        float *norms = calloc((size_t)g.steps, sizeof *norms);
        const float *want_lrs = fixture_vector(&g, "lrs", g.steps);
        const float *want_losses = fixture_vector(&g, "losses", g.steps);
        const float *want_norms = fixture_vector(&g, "grad_norms", g.steps);
        if (m && v && lrs && losses && norms) {
            for (int s = 0; s < g.steps; s++) {
                model_zero_grad(g.m);
                losses[s] = (float)test_forward(g.m, &g.batch);
                model_backward(g.m);
                norms[s] = (float)grad_clip(G, tt->total, g.max_norm);
                lrs[s] = lr_at(&g.sched, s);
                adamw_step(P, G, m, v, tt, &g.opt, lrs[s], s + 1);
            }
            if (want_lrs) compare(&g, "lrs", lrs, want_lrs, (size_t)g.steps, tol->lr_rtol, 0.0);
            if (want_losses) compare(&g, "losses", losses, want_losses, (size_t)g.steps, tol->losses_rtol, 0.0);
            if (want_norms) compare(&g, "grad_norms", norms, want_norms, (size_t)g.steps, tol->norm_rtol, 0.0);
            /* PyTorch's clip_grad_norm_ coefficient of the first step, from the fixture's norm */
            double clip0 = want_norms ? fmin(1.0, g.max_norm / (want_norms[0] + 1e-6)) : 1.0;
            compare_table(&g, P, "final.", tol->final_rtol, tol->final_atol, clip0);
        } else {
            CHECK(0, "out of memory");
        }
        free(m), free(v), free(lrs), free(losses), free(norms);
    }
    golden_close(&g);
}

TEST(golden_softmax_forward) { golden_forward_check(&V_SOFTMAX); }
TEST(golden_softmax_backward) { golden_backward_check(&V_SOFTMAX); }
TEST(golden_softmax_training) { golden_training_check(&V_SOFTMAX); }
TEST(golden_linear_lrpe_unitary_forward) { golden_forward_check(&V_LINEAR_LRPE_UNITARY); }
TEST(golden_linear_lrpe_unitary_backward) { golden_backward_check(&V_LINEAR_LRPE_UNITARY); }
TEST(golden_linear_lrpe_unitary_training) { golden_training_check(&V_LINEAR_LRPE_UNITARY); }
TEST(golden_linear_rope_denominator_forward) { golden_forward_check(&V_LINEAR_ROPE_DENOMINATOR); }
TEST(golden_linear_rope_denominator_backward) { golden_backward_check(&V_LINEAR_ROPE_DENOMINATOR); }
TEST(golden_linear_rope_denominator_training) { golden_training_check(&V_LINEAR_ROPE_DENOMINATOR); }
TEST(golden_softmax_rope_forward) { golden_forward_check(&V_SOFTMAX_ROPE); }
TEST(golden_softmax_rope_backward) { golden_backward_check(&V_SOFTMAX_ROPE); }
TEST(golden_softmax_rope_training) { golden_training_check(&V_SOFTMAX_ROPE); }
