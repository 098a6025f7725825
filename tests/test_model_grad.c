/* The whole model's backward against central finite differences of model_forward's loss, for the
 * language-model head (causal) and the classification head (bidirectional, padding), every
 * parameter tensor; and the classification loss and gradients do not depend on what sits at
 * padded positions.
 *
 * Parameters are model_init values plus N(0, 0.3^2) noise so that no gradient is tiny and the
 * LayerNorm gains / biases are not at their trivial 1 / 0. Finite differences: step eps 1e-2,
 * rtol 1e-2, atol 1e-4: the loss is a float32 forward through ~20 ops, and the worst measured
 * disagreement is ~3.5e-5 (everything passes at rtol 5e-3, atol 5e-5), while gradients are
 * O(1e-3..1e-1) and a broken backward (tried on purpose) is off by far more. Every element of
 * tensors up to 100 floats is checked, otherwise 100 spread over the tensor with a stride coprime
 * to its row length. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "model.h"
#include "test.h"
#include "threads.h"

#define MG_EPS 1e-2
#define MG_RTOL 1e-2
#define MG_ATOL 1e-4
#define MG_MAX 100

typedef struct model_fx { model *m; model_batch batch; } model_fx;

static double model_loss(void *ctx) {
    model_fx *f = ctx;
    return test_forward(f->m, &f->batch);
}

/* the tiny model's configuration */
static model_config tiny_config(model_head head, int causal, int n_out) {
    model_config c = model_config_default();
    c.vocab = 11, c.n_out = n_out, c.max_batch = 2, c.max_seq = 8;
    c.layers = 2, c.d_model = 16, c.heads = 2, c.causal = causal, c.head = head;
    return c;
}

/* builds c, initialises it and adds N(0, 0.3^2) noise to every trainable parameter */
static model *noisy_model(const model_config *cfg) {
    model_config c = *cfg;
    model *m = NULL;
    char err[128];
    if (model_create(&m, &c, err, sizeof err) != 0) {
        test_fail(__FILE__, __LINE__, "model_create: %s", err);
        return NULL;
    }
    model_init(m, 1234);
    rng r;
    rng_seed(&r, 99, 0);
    const tensor_table *tt = model_param_table(m);
    float *p = model_params(m);
    for (int i = 0; i < tt->n; i++)
        for (size_t j = 0; j < tt->t[i].numel && !tt->t[i].frozen; j++) p[tt->t[i].offset + j] += (float)(0.3 * rng_normal(&r));
    return m;
}

static model *tiny_model(model_head head, int causal, int n_out) {
    model_config c = tiny_config(head, causal, n_out);
    return noisy_model(&c);
}

/* Runs forward + backward once, then checks every parameter tensor by finite differences with
 * step eps (the frequencies theta use eps / 5: angles s * theta are curved enough over 8
 * positions that a 1e-2 step leaves a 1% truncation error; a step of eps / 10 left one float ulp
 * of a 2-row classifier's loss worth 7.5e-5 of gradient, close to the tolerance, and a change in
 * exp's last bit failed a 2e-4 theta gradient on it). */
static void check_all_params_eps(model_fx *f, double eps) {
    model *m = f->m;
    const tensor_table *tt = model_param_table(m);
    double loss = test_forward(m, &f->batch);
    CHECK(isfinite(loss) && loss > 0.0, "model loss %g", loss);
    model_zero_grad(m);
    model_backward(m, 1.0f);
    float *analytic = tcalloc(tt->total);
    memcpy(analytic, model_grads(m), tt->total * sizeof *analytic);
    float *p = model_params(m);
    int nonzero = 0;
    /* the analytic gradient above ran at the runner's thread count; the finite differences' many
     * forward passes run on one thread (fast on a busy machine; same values up to rounding) */
    int threads = omp_get_max_threads();
    threads_set(1);
    for (int i = 0; i < tt->n; i++) {
        const tensor_desc *d = &tt->t[i];
        if (d->frozen) { /* fixed (not trained): the backward must leave its gradient at zero */
            int written = 0;
            for (size_t j = 0; j < d->numel; j++) written += analytic[d->offset + j] != 0.0f;
            CHECK(written == 0, "frozen tensor %s got %d gradient elements", d->name, written);
            continue;
        }
        size_t period = d->ndim == 2 ? (size_t)d->shape[1] : 1;
        gradcheck(d->name, model_loss, f, p + d->offset, analytic + d->offset, d->numel,
                  strstr(d->name, "theta") ? eps / 5 : eps, MG_RTOL, MG_ATOL,
                  gradcheck_spread(d->numel, period, MG_MAX));
        for (size_t j = 0; j < d->numel; j++) nonzero += fabsf(analytic[d->offset + j]) > 1e-3f;
    }
    threads_set(threads);
    CHECK(nonzero > (int)(tt->total / 4), "only %d gradient elements above 1e-3", nonzero);
    /* backward accumulates: a second backward doubles the gradient */
    test_forward(m, &f->batch);
    model_backward(m, 1.0f);
    float *twice = model_grads(m);
    int bad = 0;
    for (size_t j = 0; j < tt->total; j++) bad += !test_close(twice[j], 2.0 * analytic[j], 1e-5, 1e-8);
    CHECK(bad == 0, "model_backward does not accumulate: %d elements", bad);
    free(analytic);
}

static void check_all_params(model_fx *f) { check_all_params_eps(f, MG_EPS); }

TEST(model_grad_lm_causal) {
    model *m = tiny_model(HEAD_LM, 1, 11);
    if (!m) return;
    int32_t tok[16], tgt[16];
    for (int i = 0; i < 16; i++) tok[i] = (i * 7 + 3) % 11, tgt[i] = (i * 5 + 1) % 11;
    tgt[5] = -1; /* one ignored target */
    model_fx f = {m, {.B = 2, .T = 8, .tokens = tok, .targets = tgt, .valid = NULL}};
    check_all_params(&f);
    model_destroy(m);
}

/* sequence 1 has its last three positions padded */
static const uint8_t cls_valid[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};

TEST(model_grad_cls_padded) {
    model *m = tiny_model(HEAD_CLS, 0, 3);
    if (!m) return;
    int32_t tok[16], tgt[2] = {2, 0};
    for (int i = 0; i < 16; i++) tok[i] = (i * 7 + 3) % 11;
    model_fx f = {m, {.B = 2, .T = 8, .tokens = tok, .targets = tgt, .valid = cls_valid}};
    check_all_params(&f);
    model_destroy(m);
}

TEST(model_cls_ignores_padding_content) {
    model *m = tiny_model(HEAD_CLS, 0, 3);
    if (!m) return;
    const tensor_table *tt = model_param_table(m);
    int32_t tok[16], tok2[16], tgt[2] = {1, 2};
    for (int i = 0; i < 16; i++) tok[i] = tok2[i] = (i * 3 + 1) % 11;
    for (int i = 13; i < 16; i++) tok2[i] = (tok[i] + 5) % 11; /* other tokens at the padded positions */
    model_batch b1 = {.B = 2, .T = 8, .tokens = tok, .targets = tgt, .valid = cls_valid};
    model_batch b2 = b1;
    b2.tokens = tok2;

    double l1 = test_forward(m, &b1);
    model_zero_grad(m);
    model_backward(m, 1.0f);
    float *g1 = tcalloc(tt->total);
    memcpy(g1, model_grads(m), tt->total * sizeof *g1);
    float *logits1 = tcalloc(6);
    memcpy(logits1, model_logits(m), 6 * sizeof *logits1);

    double l2 = test_forward(m, &b2);
    model_zero_grad(m);
    model_backward(m, 1.0f);
    CHECK_CLOSE(l2, l1, 1e-7, 0, "classification loss depends on padded tokens");
    CHECK_ARRAYS("logits with other padded tokens", model_logits(m), logits1, 6, 1e-6, 1e-7);
    CHECK_ARRAYS("gradients with other padded tokens", model_grads(m), g1, tt->total, 1e-6, 1e-7);

    /* the check can fail: changing a real token changes the loss */
    tok2[12] = (tok[12] + 5) % 11;
    double l3 = test_forward(m, &b2);
    CHECK(fabs(l3 - l1) > 1e-5, "a real token change did not change the loss: %g vs %g", l3, l1);
    free(g1), free(logits1);
    model_destroy(m);
}

/* Every attention x normaliser x encoding family through the whole model: causal LM and padded
 * classifier, 1-D and 2-D positions. The feature map here is 1+elu: relu's kink at 0 (and the
 * denominator's jump where a whole phi(q) is 0) is crossed by finite-difference steps through a
 * whole model for some elements whatever the step (tried: 1e-2 and 1e-3 both flag a few elements,
 * while the same configurations with 1+elu pass); relu's backward is checked op by op in
 * test_linear_attn.c, and the model code path is the same for both maps. */
typedef struct enc_case {
    const char *attention, *feature_map, *normalizer, *absolute, *encoding;
    const char *p, *theta, *householder, *axes;
    int cls, pos2d;
} enc_case;

static void model_grad_encoding_case(const enc_case *ec) {
    model_config c = tiny_config(ec->cls ? HEAD_CLS : HEAD_LM, !ec->cls, ec->cls ? 3 : 11);
    c.attention = ec->attention, c.absolute = ec->absolute, c.encoding = ec->encoding;
    if (ec->feature_map) c.feature_map = ec->feature_map;
    if (ec->normalizer) c.normalizer = ec->normalizer;
    const char *keys[4] = {"p", "theta", "householder", "axes"}, *vals[4] = {ec->p, ec->theta, ec->householder, ec->axes};
    char err[160];
    for (int i = 0; i < 4; i++)
        if (vals[i] && pe_options_set(&c.pe_opt, keys[i], vals[i], err, sizeof err)) test_fail(__FILE__, __LINE__, "%s", err);
    c.seed = 5;
    int32_t pos[32];
    if (ec->pos2d) { /* a 2 x 4 grid of patches */
        c.pos_rank = 2, c.grid_h = 2, c.grid_w = 4;
        for (int n = 0; n < 16; n++) pos[2 * n] = (n % 8) / 4, pos[2 * n + 1] = n % 4;
    }
    model *m = noisy_model(&c);
    if (!m) return;
    int32_t tok[16], tgt[16];
    for (int i = 0; i < 16; i++) tok[i] = (i * 7 + 3) % 11, tgt[i] = ec->cls ? i % 3 : (i * 5 + 1) % 11;
    model_fx f = {m, {.B = 2, .T = 8, .tokens = tok, .targets = tgt, .valid = ec->cls ? cls_valid : NULL,
                      .pos = ec->pos2d ? pos : NULL}};
    int before = test_failures();
    check_all_params(&f);
    if (test_failures() > before)
        printf("    in case: %s %s/%s abs=%s enc=%s p=%s theta=%s hh=%s axes=%s %s\n", ec->attention,
               ec->feature_map ? ec->feature_map : "-", ec->normalizer ? ec->normalizer : "-", ec->absolute,
               ec->encoding, ec->p ? ec->p : "-", ec->theta ? ec->theta : "-", ec->householder ? ec->householder : "-",
               ec->axes ? ec->axes : "-", ec->cls ? "cls" : "lm");
    model_destroy(m);
}

TEST(model_grad_linear_and_encodings) {
    static const enc_case cases[] = {
        {"linear", "1+elu", "layernorm", "sinusoidal", "rope", 0, 0, 0, 0, 0, 0},
        {"linear", "1+elu", "denominator", "none", "lrpe-unitary", "householder", "learned", "learned", 0, 1, 0},
        {"linear", "1+elu", "denominator", "learned", "lrpe-rotation", "dct", "learned", 0, 0, 0, 0},
        {"linear", "1+elu", "layernorm", "none", "lrpe-permutation", "oddeven", 0, 0, 0, 0, 0},
        {"linear", "1+elu", "denominator", "none", "permuteformer", 0, 0, 0, 0, 0, 0},
        {"linear", "1+elu", "layernorm", "none", "cosformer", 0, 0, 0, 0, 1, 0},
        {"linear", "1+elu", "layernorm", "learned", "lrpe-unitary", "householder", "fixed", "fixed", "split", 1, 1},
        {"softmax", 0, 0, "none", "alibi", 0, 0, 0, 0, 0, 0},
        {"softmax", 0, 0, "learned", "lrpe-rotation", "identity", "learned", 0, 0, 0, 0},
        {"softmax", 0, 0, "sinusoidal", "lrpe-unitary", "householder", "learned", "learned", 0, 1, 0},
        {"softmax", 0, 0, "sinusoidal", "lrpe-permutation", "householder", 0, 0, "split", 1, 1},
        {"softmax", 0, 0, "none", "rope", 0, 0, 0, "sum", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) model_grad_encoding_case(&cases[i]);
}

/* A noisy patch model: float vectors (patches) through the linear patch embedding, 2-D positions,
 * the absolute encoding `absolute` and a split-axes relative encoding, classification; NULL after
 * a recorded failure. */
static model *patch_model(const char *absolute) {
    model_config c = tiny_config(HEAD_CLS, 0, 3);
    c.input_dim = 6, c.vocab = 0;
    c.pos_rank = 2, c.grid_h = 2, c.grid_w = 4;
    c.absolute = absolute, c.encoding = "lrpe-rotation";
    char err[160];
    if (pe_options_set(&c.pe_opt, "axes", "split", err, sizeof err)) test_fail(__FILE__, __LINE__, "%s", err);
    return noisy_model(&c);
}

/* A batch of 2 x 8 patches for patch_model in inputs[16 * 6], pos[32], tgt[2]. */
static model_batch patch_batch(float *inputs, int32_t *pos, int32_t *tgt) {
    rng r;
    rng_seed(&r, 8, 0);
    fill_normal(inputs, 16 * 6, 1.0f, &r);
    for (int n = 0; n < 16; n++) pos[2 * n] = (n % 8) / 4, pos[2 * n + 1] = n % 4;
    tgt[0] = 1, tgt[1] = 2;
    return (model_batch){.B = 2, .T = 8, .inputs = inputs, .targets = tgt, .valid = NULL, .pos = pos};
}

/* Image-style inputs (patch_model) with a learned absolute table. */
TEST(model_grad_patch_inputs) {
    model *m = patch_model("learned");
    if (!m) return;
    CHECK(tt_find(model_param_table(m), "wte") < 0 && tt_find(model_param_table(m), "patch_w") >= 0,
          "a patch model has patch_w and no token table");
    char err[160];
    float inputs[16 * 6];
    int32_t pos[32], tgt[2];
    model_fx f = {m, patch_batch(inputs, pos, tgt)};
    check_all_params(&f);
    model_batch no_inputs = f.batch, too_long = f.batch;
    no_inputs.inputs = NULL;
    double loss = 123.0;
    CHECK(model_forward(m, &no_inputs, &loss, err, sizeof err) == -1 && strstr(err, "no input vectors") && loss == 123.0,
          "a patch model without inputs is refused: %s", err);
    /* a refused batch is an error the trainer returns, and nothing is updated (it used to take the
     * -1.0 "loss" and run AdamW anyway) */
    too_long.T = 16;
    trainer tr;
    adamw_config adam = adamw_defaults();
    CHECK(trainer_init(&tr, m, &adam) == 0, "trainer_init");
    size_t n = model_param_table(m)->total;
    float *before = tdup(model_params(m), n);
    double gnorm = -1.0;
    CHECK(trainer_step(&tr, &too_long, 1e-2f, 1.0f, &loss, &gnorm, err, sizeof err) == -1 &&
              strstr(err, "does not fit the model") && tr.step == 0 && gnorm == -1.0,
          "an oversized batch is refused: %s", err);
    CHECK(memcmp(before, model_params(m), n * sizeof(float)) == 0, "the refused step changed the parameters");
    free(before);
    trainer_free(&tr);
    model_destroy(m);
}

/* Without an absolute encoding the residual stream starts as the patch projection itself, whose
 * bias gradient model_backward takes from layer 0's ln1 backward (the fused column sums). */
TEST(model_grad_patch_inputs_no_absolute) {
    model *m = patch_model("none");
    if (!m) return;
    float inputs[16 * 6];
    int32_t pos[32], tgt[2];
    model_fx f = {m, patch_batch(inputs, pos, tgt)};
    check_all_params(&f);
    model_destroy(m);
}

/* model.decay: "per-head" gives any encoding PermuteFormer's rates (permuteformer with per-head
 * computes exactly what it does by default), "none" removes permuteformer's own decay, and a decayed
 * rope model's gradients check out by finite differences. */
TEST(model_decay_option) {
    int32_t tok[16], tgt[16];
    for (int i = 0; i < 16; i++) tok[i] = (i * 7 + 3) % 11, tgt[i] = (i * 5 + 1) % 11;
    model_batch b = {.B = 2, .T = 8, .tokens = tok, .targets = tgt};
    static const struct { const char *encoding, *decay; } cases[] = {
        {"permuteformer", "encoding"}, {"permuteformer", "per-head"}, {"permuteformer", "none"},
        {"rope", "encoding"}, {"rope", "per-head"}};
    double loss[5];
    for (int i = 0; i < 5; i++) {
        model_config c = tiny_config(HEAD_LM, 1, 11);
        c.attention = "linear", c.encoding = cases[i].encoding, c.decay = cases[i].decay, c.seed = 5;
        model *m = noisy_model(&c);
        if (!m) return;
        loss[i] = test_forward(m, &b);
        if (i == 4) {
            model_fx f = {m, b};
            check_all_params(&f);
        }
        model_destroy(m);
    }
    CHECK(loss[1] == loss[0], "permuteformer: per-head %.9g vs its own decay %.9g", loss[1], loss[0]);
    CHECK(fabs(loss[2] - loss[0]) > 1e-4, "permuteformer without decay did not change: %.9g", loss[2]);
    CHECK(fabs(loss[4] - loss[3]) > 1e-4, "rope with per-head decay did not change: %.9g", loss[4]);
}

/* Which encodings tell left from right in a bidirectional encoder. LRPE-unitary's score is the real
 * part of phi(q)^T P L^(t-s) P^T phi(k) with real P and L = diag(e^(i theta)): sum_k a_k b_k
 * cos((t - s) theta_k), an even function of the offset (with linear or softmax attention);
 * cosFormer's cos(pi (t - s) / 2M) is even too. With mean pooling such a model gives a reversed
 * input the same logits (round-off apart),
 * while any other order changes them; RoPE, LRPE-rotation and the permutations see direction. */
TEST(model_even_encodings_cannot_tell_a_reversed_input) {
    static const struct {
        const char *encoding, *attention;
        int even;
    } CASES[] = {{"none", "linear", 1},          {"lrpe-unitary", "linear", 1}, {"lrpe-unitary", "softmax", 1},
                 {"cosformer", "linear", 1},     {"rope", "linear", 0},         {"rope", "softmax", 0},
                 {"lrpe-rotation", "linear", 0}, {"lrpe-permutation", "linear", 0}, {"permuteformer", "linear", 0}};
    enum { T = 16, K = 10 };
    int32_t x[T], reversed[T], shuffled[T], target = 3;
    for (int t = 0; t < T; t++) x[t] = 1 + (t * 7) % 15;
    for (int t = 0; t < T; t++) reversed[t] = x[T - 1 - t], shuffled[t] = x[(t * 5 + 3) % T];
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        model_config cfg = model_config_default();
        cfg.attention = CASES[i].attention, cfg.encoding = CASES[i].encoding, cfg.causal = 0, cfg.head = HEAD_CLS;
        cfg.n_out = K, cfg.vocab = 16, cfg.max_batch = 1, cfg.max_seq = T;
        model *m;
        char err[256];
        if (model_create(&m, &cfg, err, sizeof err)) {
            test_fail(__FILE__, __LINE__, "%s/%s: %s", CASES[i].encoding, CASES[i].attention, err);
            continue;
        }
        model_init(m, 1);
        float z[3][K];
        const int32_t *inputs[3] = {x, reversed, shuffled};
        for (int k = 0; k < 3; k++) {
            model_batch b = {.B = 1, .T = T, .tokens = (int32_t *)inputs[k], .targets = &target};
            test_forward(m, &b);
            memcpy(z[k], model_logits(m), sizeof z[k]);
        }
        double d_rev = 0, d_shuf = 0;
        for (int c = 0; c < K; c++)
            d_rev = fmax(d_rev, fabs(z[0][c] - z[1][c])), d_shuf = fmax(d_shuf, fabs(z[0][c] - z[2][c]));
        /* measured: even encodings 3e-8 to 1.2e-7 reversed; the others 3e-4 to 1.6e-2 */
        if (CASES[i].even) CHECK(d_rev < 1e-6, "%s/%s: a reversed input moved the logits by %.3g", CASES[i].encoding, CASES[i].attention, d_rev);
        else CHECK(d_rev > 1e-5, "%s/%s: a reversed input left the logits (%.3g)", CASES[i].encoding, CASES[i].attention, d_rev);
        if (strcmp(CASES[i].encoding, "none") != 0)
            CHECK(d_shuf > 1e-5, "%s/%s: a shuffled input left the logits (%.3g)", CASES[i].encoding, CASES[i].attention, d_shuf);
        model_destroy(m);
    }
}
