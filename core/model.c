#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "ops.h"

/* The one list of per-layer parameters: field, kind, init, std multiplier (of init_std; the
 * residual projections get 1/sqrt(2 layers)), rows, cols (0 = vector). C = d_model, F = ffn. */
#define LAYER_PARAMS(X)                                \
    X(ln1_g, TK_NORM, INIT_ONE, 0, C, 0)               \
    X(ln1_b, TK_NORM, INIT_ZERO, 0, C, 0)              \
    X(qkv_w, TK_WEIGHT, INIT_NORMAL, 1, 3 * C, C)      \
    X(qkv_b, TK_BIAS, INIT_ZERO, 0, 3 * C, 0)          \
    X(proj_w, TK_WEIGHT, INIT_NORMAL, resid, C, C)     \
    X(proj_b, TK_BIAS, INIT_ZERO, 0, C, 0)             \
    X(ln2_g, TK_NORM, INIT_ONE, 0, C, 0)               \
    X(ln2_b, TK_NORM, INIT_ZERO, 0, C, 0)              \
    X(fc_w, TK_WEIGHT, INIT_NORMAL, 1, F, C)           \
    X(fc_b, TK_BIAS, INIT_ZERO, 0, F, 0)               \
    X(fcproj_w, TK_WEIGHT, INIT_NORMAL, resid, C, F)   \
    X(fcproj_b, TK_BIAS, INIT_ZERO, 0, C, 0)

/* Model-level parameters; n_in = vocab, n_out = output width. */
#define TOP_PARAMS(X)                                  \
    X(wte, TK_EMBED, INIT_NORMAL, 1, n_in, C)          \
    X(lnf_g, TK_NORM, INIT_ONE, 0, C, 0)               \
    X(lnf_b, TK_NORM, INIT_ZERO, 0, C, 0)              \
    X(head_w, TK_WEIGHT, INIT_NORMAL, 1, n_out, C)     \
    X(head_b, TK_BIAS, INIT_ZERO, 0, n_out, 0)

/* Activations saved per layer for the backward: field, floats. N = max tokens, S = the attention
 * kernel's saved floats. res1 = x + attention branch, res2 = res1 + FFN branch (the layer output). */
#define LAYER_ACTS(X)                                  \
    X(ln1, N * C) X(ln1_mean, N) X(ln1_rstd, N)        \
    X(qkv, N * 3 * C) X(att, N * C) X(att_saved, S)    \
    X(res1, N * C)                                     \
    X(ln2, N * C) X(ln2_mean, N) X(ln2_rstd, N)        \
    X(fc, N * F) X(gelu, N * F) X(res2, N * C)

/* Model-level activations; R = rows of the head (N for lm, max batch for classification). */
#define TOP_ACTS(X)                                    \
    X(emb, N * C) X(lnf, N * C) X(lnf_mean, N) X(lnf_rstd, N) \
    X(pooled, Bm * C) X(logits, R * n_out) X(lse, R)   \
    X(attn_scratch, scratch)

/* Gradient buffers: one layer's worth, reused by every layer in turn. dres is the gradient of the
 * residual stream, accumulated in place from the head down to the embedding. */
#define GRAD_ACTS(X)                                   \
    X(dres, N * C) X(dln, N * C) X(dqkv, N * 3 * C)    \
    X(datt, N * C) X(dfc, N * F) X(dgelu, N * F)       \
    X(dpooled, Bm * C) X(dlogits, R * n_out)

#define FIELD(name, ...) int name;
typedef struct layer_params { LAYER_PARAMS(FIELD) } layer_params;
typedef struct top_params { TOP_PARAMS(FIELD) } top_params;
#undef FIELD
#define FIELD(name, size) size_t name;
typedef struct layer_acts { LAYER_ACTS(FIELD) } layer_acts;
typedef struct top_acts { TOP_ACTS(FIELD) } top_acts;
typedef struct grad_acts { GRAD_ACTS(FIELD) } grad_acts;
#undef FIELD

struct model {
    model_config cfg;
    const attn_kernel *attn;
    tensor_table params;
    float *param, *grad;
    top_params top;
    layer_params *layer;
    /* activation offsets (floats) into act / gact */
    float *act, *gact;
    top_acts ta;
    layer_acts *la;
    grad_acts ga;
    /* the last forward's batch */
    model_batch batch;
};

model_config model_config_default(void) {
    model_config c = {.vocab = 256, .n_out = 256, .max_batch = 16, .max_seq = 256, .layers = 2,
                      .d_model = 64, .heads = 4, .ffn_mult = 4, .causal = 1, .head = HEAD_LM,
                      .attention = "softmax", .ln_eps = 1e-5f, .init_std = 0.02f};
    return c;
}

static int fail(char *err, size_t errlen, const char *msg) {
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* Attention shape of a batch for this model (views into the fused qkv buffer). */
static attn_shape attn_shape_for(const model_config *c, int B, int T) {
    int hd = c->d_model / c->heads;
    attn_shape s = {.B = B, .T = T, .H = c->heads, .dqk = hd, .dv = hd, .ldq = 3 * c->d_model,
                    .ldk = 3 * c->d_model, .ldv = 3 * c->d_model, .ldo = c->d_model,
                    .causal = c->causal, .scale = 1.0f / sqrtf((float)hd)};
    return s;
}

static int add_params(model *m) {
    const model_config *c = &m->cfg;
    const int C = c->d_model, F = c->ffn_mult * c->d_model, n_in = c->vocab, n_out = c->n_out;
    const float resid = 1.0f / sqrtf(2.0f * (float)c->layers);
    char name[TENSOR_NAME_MAX];
    (void)resid;
#define ADD(field, kind, init, mult, rows, cols)                                            \
    {                                                                                       \
        int shape[2] = {(rows), (cols)};                                                    \
        snprintf(name, sizeof name, "%s" #field, prefix);                                   \
        if ((dst->field = tt_add(&m->params, name, kind, init, (float)(mult) * c->init_std, \
                                 shape[1] ? 2 : 1, shape)) < 0)                             \
            return -1;                                                                      \
    }
    {
        const char *prefix = "";
        top_params *dst = &m->top;
        TOP_PARAMS(ADD)
    }
    for (int l = 0; l < c->layers; l++) {
        char prefix[24];
        snprintf(prefix, sizeof prefix, "layers.%d.", l);
        layer_params *dst = &m->layer[l];
        LAYER_PARAMS(ADD)
    }
#undef ADD
    return 0;
}

/* Lays out activations: every offset aligned to 16 floats. Returns the total floats. */
static size_t layout_acts(model *m, size_t *gtotal) {
    const model_config *c = &m->cfg;
    const size_t C = (size_t)c->d_model, F = (size_t)c->ffn_mult * C, n_out = (size_t)c->n_out;
    const size_t Bm = (size_t)c->max_batch, N = Bm * (size_t)c->max_seq;
    const size_t R = c->head == HEAD_LM ? N : Bm;
    attn_shape sh = attn_shape_for(c, c->max_batch, c->max_seq);
    const size_t S = m->attn->saved_floats(&sh);
    const size_t scratch = m->attn->scratch_floats(&sh, omp_get_max_threads());
    size_t total = 0;
#define PLACE(field, size) dst->field = total, total += ((size) + 15) / 16 * 16;
    {
        top_acts *dst = &m->ta;
        TOP_ACTS(PLACE)
    }
    for (int l = 0; l < c->layers; l++) {
        layer_acts *dst = &m->la[l];
        LAYER_ACTS(PLACE)
    }
    size_t acts_total = total;
    total = 0;
    {
        grad_acts *dst = &m->ga;
        GRAD_ACTS(PLACE)
    }
#undef PLACE
    *gtotal = total;
    return acts_total;
}

int model_create(model **out, const model_config *cfg, char *err, size_t errlen) {
    *out = NULL;
    if (cfg->layers < 1 || cfg->d_model < 1 || cfg->heads < 1 || cfg->ffn_mult < 1 || cfg->vocab < 1 ||
        cfg->n_out < 1 || cfg->max_batch < 1 || cfg->max_seq < 1)
        return fail(err, errlen, "model: every size must be positive");
    if (cfg->d_model % cfg->heads)
        return fail(err, errlen, "model: heads must divide d_model");
    const attn_kernel *attn = attn_lookup(cfg->attention);
    if (!attn) return fail(err, errlen, "model: unknown attention kernel");
    model *m = calloc(1, sizeof *m);
    if (!m) return fail(err, errlen, "model: out of memory");
    m->cfg = *cfg;
    m->attn = attn;
    m->layer = calloc((size_t)cfg->layers, sizeof *m->layer);
    m->la = calloc((size_t)cfg->layers, sizeof *m->la);
    if (!m->layer || !m->la || add_params(m) < 0) {
        model_destroy(m);
        return fail(err, errlen, "model: could not build the parameter table");
    }
    size_t gtotal;
    size_t atotal = layout_acts(m, &gtotal);
    m->param = arena_alloc(m->params.total);
    m->grad = arena_alloc(m->params.total);
    m->act = arena_alloc(atotal);
    m->gact = arena_alloc(gtotal);
    if (!m->param || !m->grad || !m->act || !m->gact) {
        model_destroy(m);
        return fail(err, errlen, "model: out of memory for parameters or activations");
    }
    *out = m;
    return 0;
}

void model_destroy(model *m) {
    if (!m) return;
    free(m->param);
    free(m->grad);
    free(m->act);
    free(m->gact);
    free(m->layer);
    free(m->la);
    tt_free(&m->params);
    free(m);
}

const tensor_table *model_param_table(const model *m) { return &m->params; }
float *model_params(model *m) { return m->param; }
float *model_grads(model *m) { return m->grad; }
const model_config *model_cfg(const model *m) { return &m->cfg; }

void model_init(model *m, uint64_t seed) { tt_init_params(&m->params, m->param, seed); }

void model_zero_grad(model *m) { memset(m->grad, 0, m->params.total * sizeof *m->grad); }

/* pointer to parameter / gradient tensor i */
#define P(i) (m->param + m->params.t[i].offset)
#define G(i) (m->grad + m->params.t[i].offset)
/* pointer to an activation / gradient buffer by offset */
#define A(off) (m->act + (off))
#define GA(off) (m->gact + (off))

double model_forward(model *m, const model_batch *b) {
    const model_config *c = &m->cfg;
    if (b->B > c->max_batch || b->T > c->max_seq || b->B < 1 || b->T < 1) return -1.0;
    m->batch = *b;
    const int B = b->B, T = b->T, N = B * T, C = c->d_model, F = c->ffn_mult * C;
    attn_shape sh = attn_shape_for(c, B, T);

    embed_forward(A(m->ta.emb), b->tokens, P(m->top.wte), N, C);
    const float *x = A(m->ta.emb);
    for (int l = 0; l < c->layers; l++) {
        const layer_params *lp = &m->layer[l];
        const layer_acts *la = &m->la[l];
        layernorm_forward(A(la->ln1), A(la->ln1_mean), A(la->ln1_rstd), x, P(lp->ln1_g), P(lp->ln1_b), N, C, c->ln_eps);
        linear_forward(A(la->qkv), A(la->ln1), P(lp->qkv_w), P(lp->qkv_b), N, C, 3 * C);
        const float *qkv = A(la->qkv);
        m->attn->forward(&sh, A(la->att), A(la->att_saved), qkv, qkv + C, qkv + 2 * C, b->valid, A(m->ta.attn_scratch));
        linear_forward(A(la->res1), A(la->att), P(lp->proj_w), P(lp->proj_b), N, C, C);
        residual_forward(A(la->res1), A(la->res1), x, (size_t)N * C);
        layernorm_forward(A(la->ln2), A(la->ln2_mean), A(la->ln2_rstd), A(la->res1), P(lp->ln2_g), P(lp->ln2_b), N, C, c->ln_eps);
        linear_forward(A(la->fc), A(la->ln2), P(lp->fc_w), P(lp->fc_b), N, C, F);
        gelu_forward(A(la->gelu), A(la->fc), (size_t)N * F);
        linear_forward(A(la->res2), A(la->gelu), P(lp->fcproj_w), P(lp->fcproj_b), N, F, C);
        residual_forward(A(la->res2), A(la->res2), A(la->res1), (size_t)N * C);
        x = A(la->res2);
    }
    layernorm_forward(A(m->ta.lnf), A(m->ta.lnf_mean), A(m->ta.lnf_rstd), x, P(m->top.lnf_g), P(m->top.lnf_b), N, C, c->ln_eps);
    const float *feat = A(m->ta.lnf);
    int rows = N;
    if (c->head == HEAD_CLS) {
        meanpool_forward(A(m->ta.pooled), feat, b->valid, B, T, C);
        feat = A(m->ta.pooled);
        rows = B;
    }
    linear_forward(A(m->ta.logits), feat, P(m->top.head_w), P(m->top.head_b), rows, C, c->n_out);
    if (!b->targets) return 0.0;
    return xent_forward(A(m->ta.lse), A(m->ta.logits), b->targets, rows, c->n_out);
}

const float *model_logits(const model *m) { return m->act + m->ta.logits; }

/* zero a gradient buffer of n floats before a backward accumulates into it */
static float *zeroed(float *p, size_t n) { return memset(p, 0, n * sizeof *p); }

void model_backward(model *m) {
    const model_config *c = &m->cfg;
    const model_batch *b = &m->batch;
    const int B = b->B, T = b->T, N = B * T, C = c->d_model, F = c->ffn_mult * C;
    const size_t NC = (size_t)N * C;
    attn_shape sh = attn_shape_for(c, B, T);
    const float *x_last = c->layers ? A(m->la[c->layers - 1].res2) : A(m->ta.emb);

    /* head */
    int rows = c->head == HEAD_CLS ? B : N;
    float *dlogits = zeroed(GA(m->ga.dlogits), (size_t)rows * c->n_out);
    xent_backward(dlogits, A(m->ta.logits), A(m->ta.lse), b->targets, rows, c->n_out, 1.0f);
    float *dln = zeroed(GA(m->ga.dln), NC);
    if (c->head == HEAD_CLS) {
        float *dpooled = zeroed(GA(m->ga.dpooled), (size_t)B * C);
        linear_backward(dpooled, G(m->top.head_w), G(m->top.head_b), dlogits, A(m->ta.pooled), P(m->top.head_w), B, C, c->n_out);
        meanpool_backward(dln, dpooled, b->valid, B, T, C);
    } else {
        linear_backward(dln, G(m->top.head_w), G(m->top.head_b), dlogits, A(m->ta.lnf), P(m->top.head_w), N, C, c->n_out);
    }
    float *dres = zeroed(GA(m->ga.dres), NC);
    layernorm_backward(dres, G(m->top.lnf_g), G(m->top.lnf_b), dln, x_last, P(m->top.lnf_g), A(m->ta.lnf_mean), A(m->ta.lnf_rstd), N, C);

    /* blocks, last to first; dres holds the gradient of the current residual stream */
    for (int l = c->layers - 1; l >= 0; l--) {
        const layer_params *lp = &m->layer[l];
        const layer_acts *la = &m->la[l];
        const float *x = l ? A(m->la[l - 1].res2) : A(m->ta.emb);
        /* FFN branch: res2 = res1 + fcproj(gelu(fc(ln2(res1)))) */
        float *dgelu = zeroed(GA(m->ga.dgelu), (size_t)N * F);
        linear_backward(dgelu, G(lp->fcproj_w), G(lp->fcproj_b), dres, A(la->gelu), P(lp->fcproj_w), N, F, C);
        float *dfc = zeroed(GA(m->ga.dfc), (size_t)N * F);
        gelu_backward(dfc, A(la->fc), dgelu, (size_t)N * F);
        zeroed(dln, NC);
        linear_backward(dln, G(lp->fc_w), G(lp->fc_b), dfc, A(la->ln2), P(lp->fc_w), N, C, F);
        layernorm_backward(dres, G(lp->ln2_g), G(lp->ln2_b), dln, A(la->res1), P(lp->ln2_g), A(la->ln2_mean), A(la->ln2_rstd), N, C);
        /* attention branch: res1 = x + proj(attn(qkv(ln1(x)))) */
        float *datt = zeroed(GA(m->ga.datt), NC);
        linear_backward(datt, G(lp->proj_w), G(lp->proj_b), dres, A(la->att), P(lp->proj_w), N, C, C);
        float *dqkv = zeroed(GA(m->ga.dqkv), 3 * NC);
        const float *qkv = A(la->qkv);
        m->attn->backward(&sh, dqkv, dqkv + C, dqkv + 2 * C, datt, A(la->att), A(la->att_saved), qkv, qkv + C, qkv + 2 * C, b->valid, A(m->ta.attn_scratch));
        zeroed(dln, NC);
        linear_backward(dln, G(lp->qkv_w), G(lp->qkv_b), dqkv, A(la->ln1), P(lp->qkv_w), N, C, 3 * C);
        layernorm_backward(dres, G(lp->ln1_g), G(lp->ln1_b), dln, x, P(lp->ln1_g), A(la->ln1_mean), A(la->ln1_rstd), N, C);
    }
    embed_backward(G(m->top.wte), dres, b->tokens, N, C);
}
