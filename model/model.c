#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "err.h"
#include "ops.h"

/* The one list of per-layer parameters: field, kind, init, std multiplier (of init_std; the
 * residual projections get 1/sqrt(2 layers)), rows, cols (0 = vector), present when.
 * C = d_model, F = ffn width; lin_ln: linear attention with the LayerNorm normaliser. */
#define LAYER_PARAMS(X)                                        \
    X(ln1_g, TK_NORM, INIT_ONE, 0, C, 0, 1)                    \
    X(ln1_b, TK_NORM, INIT_ZERO, 0, C, 0, 1)                   \
    X(qkv_w, TK_WEIGHT, INIT_NORMAL, 1, 3 * C, C, 1)           \
    X(qkv_b, TK_BIAS, INIT_ZERO, 0, 3 * C, 0, 1)               \
    X(attn_ln_g, TK_NORM, INIT_ONE, 0, C, 0, lin_ln)           \
    X(attn_ln_b, TK_NORM, INIT_ZERO, 0, C, 0, lin_ln)          \
    X(proj_w, TK_WEIGHT, INIT_NORMAL, resid, C, C, 1)          \
    X(proj_b, TK_BIAS, INIT_ZERO, 0, C, 0, 1)                  \
    X(ln2_g, TK_NORM, INIT_ONE, 0, C, 0, 1)                    \
    X(ln2_b, TK_NORM, INIT_ZERO, 0, C, 0, 1)                   \
    X(fc_w, TK_WEIGHT, INIT_NORMAL, 1, F, C, 1)                \
    X(fc_b, TK_BIAS, INIT_ZERO, 0, F, 0, 1)                    \
    X(fcproj_w, TK_WEIGHT, INIT_NORMAL, resid, C, F, 1)        \
    X(fcproj_b, TK_BIAS, INIT_ZERO, 0, C, 0, 1)

/* Model-level parameters; n_in = vocab, n_out = output width, P = input vector width (0: tokens).
 * Token ids go through the table wte; input vectors (image patches) through the linear patch_w. */
#define TOP_PARAMS(X)                                          \
    X(wte, TK_EMBED, INIT_NORMAL, 1, n_in, C, !P)              \
    X(patch_w, TK_WEIGHT, INIT_NORMAL, 1, C, P, P)             \
    X(patch_b, TK_BIAS, INIT_ZERO, 0, C, 0, P)                 \
    X(lnf_g, TK_NORM, INIT_ONE, 0, C, 0, 1)                    \
    X(lnf_b, TK_NORM, INIT_ZERO, 0, C, 0, 1)                   \
    X(head_w, TK_WEIGHT, INIT_NORMAL, 1, n_out, C, 1)          \
    X(head_b, TK_BIAS, INIT_ZERO, 0, n_out, 0, 1)

/* Activations saved per layer for the backward: field, floats (0 = not used by this model).
 * N = max tokens, S = the attention kernel's saved floats, Q = H * encoded q/k width.
 * q/k reach the kernel as: softmax: the qkv views, encoded into qe/ke if the encoding has a QK
 * hook; linear: fq/fk = phi(q/k), then encoded. att_num is the kernel output; linear attention
 * normalises it into att. res1 = x + attention branch, res2 = res1 + FFN branch. */
#define LAYER_ACTS(X)                                          \
    X(ln1, N * C) X(ln1_mean, N) X(ln1_rstd, N)                \
    X(qkv, N * 3 * C)                                          \
    X(fq, lin * N * C) X(fk, lin * N * C)                      \
    X(qe, qk * N * Q) X(ke, qk * N * Q)                        \
    X(att_num, N * C) X(att_saved, S)                          \
    X(att, lin * N * C) X(att_mean, lin_ln * N) X(att_rstd, lin_ln * N) X(z, lin_den * N * H) \
    X(res1, N * C)                                             \
    X(ln2, N * C) X(ln2_mean, N) X(ln2_rstd, N)                \
    X(gelu_slope, N * F) X(gelu, N * F) X(res2, N * C)

/* Model-level activations; R = rows of the head (N for lm, max batch for classification).
 * emb_tok: token embeddings; emb: plus the absolute encoding (when there is one). */
#define TOP_ACTS(X)                                            \
    X(emb_tok, N * C) X(emb, abs * N * C)                      \
    X(lnf, N * C) X(lnf_mean, N) X(lnf_rstd, N)                \
    X(pooled, Bm * C) X(logits, R * n_out) X(lse, R)           \
    X(scratch, scratch)

/* Gradient buffers: one layer's worth, reused by every layer in turn. dres is the gradient of the
 * residual stream, accumulated in place from the head down to the embedding. */
#define GRAD_ACTS(X)                                           \
    X(dres, N * C) X(dln, N * C) X(dqkv, N * 3 * C)            \
    X(dfq, lin * N * C) X(dfk, lin * N * C)                    \
    X(dqe, qk * N * Q) X(dke, qk * N * Q)                      \
    X(datt, N * C) X(datt_num, lin * N * C)                    \
    X(dgelu, N * F) X(demb_tok, abs * N * C)                   \
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
    const backend *be;    /* where every array below lives and every op runs */
    const model *owner;   /* a shard: the model whose parameters it computes with; NULL otherwise */
    be_attn attn;
    int linear;           /* linear attention (else softmax) */
    featuremap phi;       /* linear: the feature map */
    int norm_ln;          /* linear: LayerNorm normaliser (else the denominator) */
    pe *abs, *rel;        /* absolute and relative encodings; NULL for none */
    be_pe *abs_be, *rel_be; /* the same, opened on the backend */
    int rel_qk;           /* rel transforms q and k (QK hook) */
    int dqk;              /* per-head width of q and k as the kernel sees them */
    int threads;          /* the threads the attention's scratch is sized for (the count at creation) */
    float *decay;         /* device [heads] per-head decay of linear attention, or NULL */
    float *slopes;        /* device [heads] ALiBi slopes of softmax scores, or NULL */
    int32_t *default_pos; /* host [max_batch * max_seq]: t in every row, for 1-D batches without pos */
    tensor_table params;
    float *param, *grad;  /* device */
    float *param_host, *grad_host, *logits_host; /* host views (the device arrays on the CPU) */
    /* device copies of the batch (NULL on a backend with host memory: the batch is used as is) */
    int32_t *dev_tokens, *dev_targets, *dev_pos;
    float *dev_inputs;
    uint8_t *dev_valid;
    top_params top;
    layer_params *layer;
    /* activation offsets (floats) into act / gact */
    float *act, *gact;
    top_acts ta;
    layer_acts *la;
    grad_acts ga;
    /* the last forward's batch, with its positions, in device memory */
    model_batch batch;
};

model_config model_config_default(void) {
    model_config c = {.vocab = 256, .n_out = 256, .max_batch = 16, .max_seq = 256, .layers = 2,
                      .d_model = 64, .heads = 4, .ffn_mult = 4, .causal = 1, .head = HEAD_LM,
                      .attention = "softmax", .feature_map = "1+elu", .normalizer = "layernorm",
                      .absolute = "none", .encoding = "none", .pe_opt = pe_options_default(),
                      .pos_rank = 1, .ln_eps = 1e-5f, .init_std = 0.02f, .device = "cpu", .precision = "fp32"};
    return c;
}

/* Attention shape of a batch: q/k as the kernel sees them (qkv views, phi features or encoded),
 * v from the fused qkv buffer, output [N, C]. */
static attn_shape attn_shape_for(const model *m, int B, int T) {
    const model_config *c = &m->cfg;
    int C = c->d_model, hd = C / c->heads;
    int ldqk = m->rel_qk ? c->heads * m->dqk : m->linear ? C : 3 * C;
    attn_shape s = {.B = B, .T = T, .H = c->heads, .dqk = m->dqk, .dv = hd, .ldq = ldqk, .ldk = ldqk,
                    .ldv = 3 * C, .ldo = C, .causal = c->causal,
                    .scale = m->linear ? 1.0f : 1.0f / sqrtf((float)hd), .decay = m->decay,
                    .slopes = m->slopes, .pos = m->batch.pos, .pos_rank = c->pos_rank, .threads = m->threads};
    return s;
}

/* Shape of the denominator normaliser over the unencoded features fq, fk. */
static lin_denom_shape denom_shape_for(const model *m, int B, int T) {
    const model_config *c = &m->cfg;
    int C = c->d_model;
    lin_denom_shape s = {.B = B, .T = T, .H = c->heads, .d = C / c->heads, .dv = C / c->heads,
                         .ldq = C, .ldk = C, .ldn = C, .ldo = C, .causal = c->causal, .threads = m->threads};
    return s;
}

static int add_params(model *m) {
    const model_config *c = &m->cfg;
    const int C = c->d_model, F = c->ffn_mult * c->d_model, n_in = c->vocab, n_out = c->n_out, P = c->input_dim;
    const int lin_ln = m->linear && m->norm_ln;
    const float resid = 1.0f / sqrtf(2.0f * (float)c->layers);
    char name[TENSOR_NAME_MAX];
#define ADD(field, kind, init, mult, rows, cols, when)                                      \
    dst->field = -1;                                                                        \
    if (when) {                                                                             \
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
    (void)resid;
    (void)lin_ln;
    (void)P;
    if (m->abs && m->abs->vt->add_params(m->abs, &m->params)) return -1;
    if (m->rel && m->rel->vt->add_params(m->rel, &m->params)) return -1;
    return 0;
}

/* Lays out activations and the backward's buffers: every offset aligned to 16 floats. Returns the
 * activation floats and sets *gtotal to the gradient-buffer floats. */
static size_t layout_acts(model *m, size_t *gtotal) {
    const model_config *c = &m->cfg;
    const size_t C = (size_t)c->d_model, F = (size_t)c->ffn_mult * C, n_out = (size_t)c->n_out;
    const size_t H = (size_t)c->heads, Q = H * (size_t)m->dqk;
    const size_t Bm = (size_t)c->max_batch, N = Bm * (size_t)c->max_seq;
    const size_t R = c->head == HEAD_LM ? N : Bm;
    const size_t lin = m->linear, lin_ln = lin && m->norm_ln, lin_den = lin && !m->norm_ln;
    const size_t qk = m->rel_qk, abs = m->abs != NULL;
    attn_shape sh = attn_shape_for(m, c->max_batch, c->max_seq);
    lin_denom_shape ds = denom_shape_for(m, c->max_batch, c->max_seq);
    const size_t S = m->be->attn_saved_floats(m->be, m->attn, &sh);
    const size_t scratch = m->be->scratch_floats(m->be, m->attn, &sh, lin_den ? &ds : NULL);
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

/* A new device array holding the bytes of host src; NULL when out of memory. */
static void *device_copy(const backend *be, const void *src, size_t bytes) {
    void *p = be->alloc(be, bytes);
    if (p) be->upload(be, p, src, bytes);
    return p;
}

/* Builds the absolute and relative encodings, checks that each is used in its slot, and uploads the
 * per-head numbers the attention kernels apply. */
static int create_encodings(model *m, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    pe_dims d = {.d_model = c->d_model, .heads = c->heads, .head_dim = c->d_model / c->heads,
                 .layers = c->layers, .max_len = c->pos_rank == 2 ? c->grid_h * c->grid_w : c->max_seq,
                 .pos_rank = c->pos_rank, .grid_h = c->grid_h, .grid_w = c->grid_w, .causal = c->causal,
                 .attention = m->linear ? PE_ATTN_LINEAR : PE_ATTN_SOFTMAX, .seed = c->seed};
    const char *names[2] = {c->absolute, c->encoding};
    pe **slots[2] = {&m->abs, &m->rel};
    for (int i = 0; i < 2; i++) {
        const pe_vtable *vt = pe_lookup(names[i]);
        if (!vt) return errf(err, errlen, "model: unknown encoding '%s' (see lrpe encodings)", names[i]);
        int is_abs = vt->hooks == PE_HOOK_EMBED;
        if (i == 0 && vt->hooks && !is_abs)
            return errf(err, errlen, "model: '%s' is a relative encoding: set it as model.encoding, not model.absolute", names[i]);
        if (i == 1 && (vt->hooks & PE_HOOK_EMBED))
            return errf(err, errlen, "model: '%s' is an absolute encoding: set it as model.absolute, not model.encoding", names[i]);
        if (pe_create(slots[i], names[i], &c->pe_opt, &d, err, errlen)) return -1;
        if (!vt->hooks) { /* none: nothing to call */
            pe_destroy(*slots[i]);
            *slots[i] = NULL;
        }
    }
    const int H = c->heads, hd = c->d_model / c->heads;
    m->rel_qk = m->rel && (m->rel->vt->hooks & PE_HOOK_QK);
    m->dqk = m->rel_qk ? m->rel->vt->qk_dim(m->rel) : hd;
    /* the per-head numbers the attention kernels apply: ALiBi slopes, linear attention's decay */
    pe_data data;
    pe_describe(m->rel, &data);
    if (data.alibi_slope && !(m->slopes = device_copy(m->be, data.alibi_slope, (size_t)H * sizeof(float))))
        return errf(err, errlen, "model: out of memory");
    const int per_head = c->decay && strcmp(c->decay, "per-head") == 0;
    float *rates = per_head ? malloc((size_t)H * sizeof *rates) : NULL;
    for (int h = 0; rates && h < H; h++) rates[h] = pe_recency_decay(h, H);
    const float *decay = per_head ? rates : c->decay && strcmp(c->decay, "none") == 0 ? NULL : data.decay;
    if ((per_head && !rates) ||
        (decay && m->linear && c->causal && !(m->decay = device_copy(m->be, decay, (size_t)H * sizeof(float))))) {
        free(rates);
        return errf(err, errlen, "model: out of memory");
    }
    free(rates);
    return 0;
}

/* Opens the encodings on the backend, once their parameters are registered (the backend reads
 * their offsets); 0 or -1 with the backend's reason. */
static int open_encodings(model *m, char *err, size_t errlen) {
    if (m->abs && !(m->abs_be = m->be->pe_open(m->be, m->abs, err, errlen))) return -1;
    if (m->rel && !(m->rel_be = m->be->pe_open(m->be, m->rel, err, errlen))) return -1;
    return 0;
}

/* Opens the backend of cfg's device and precision; 0 or -1 with its one-line reason. */
static int open_backend(model *m, char *err, size_t errlen) {
    const char *dev = m->cfg.device ? m->cfg.device : "cpu", *prec = m->cfg.precision ? m->cfg.precision : "fp32";
    int p = be_precision_parse(prec);
    if (p < 0) return errf(err, errlen, "model.precision: unknown precision '%s' (" BACKEND_PRECISIONS ")", prec);
    return backend_open(&m->be, dev, (be_precision)p, err, errlen);
}

/* Allocates the device arrays (parameters, gradients, activations, the batch's copies) and their
 * host views; 0 or -1. */
static int alloc_arrays(model *m) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    size_t gtotal, atotal = layout_acts(m, &gtotal), P = m->params.total * sizeof(float);
    size_t N = (size_t)c->max_batch * c->max_seq;
    size_t R = c->head == HEAD_LM ? N : (size_t)c->max_batch;
    m->param = m->owner ? m->owner->param : be->alloc(be, P);
    m->grad = be->alloc(be, P);
    m->act = be->alloc(be, atotal * sizeof(float));
    m->gact = be->alloc(be, gtotal * sizeof(float));
    m->default_pos = malloc(N * sizeof *m->default_pos);
    if (!m->param || !m->grad || !m->act || !m->gact || !m->default_pos) return -1;
    if (be->host_memory) {
        m->param_host = m->param, m->grad_host = m->grad, m->logits_host = m->act + m->ta.logits;
        return 0;
    }
    m->param_host = arena_alloc(m->params.total);
    m->grad_host = arena_alloc(m->params.total);
    m->logits_host = arena_alloc(R * (size_t)c->n_out);
    m->dev_targets = be->alloc(be, N * sizeof(int32_t));
    m->dev_pos = be->alloc(be, N * (size_t)c->pos_rank * sizeof(int32_t));
    m->dev_valid = be->alloc(be, N);
    if (c->input_dim)
        m->dev_inputs = be->alloc(be, N * (size_t)c->input_dim * sizeof(float));
    else
        m->dev_tokens = be->alloc(be, N * sizeof(int32_t));
    if (!m->param_host || !m->grad_host || !m->logits_host || !m->dev_targets || !m->dev_pos || !m->dev_valid ||
        !(c->input_dim ? (void *)m->dev_inputs : (void *)m->dev_tokens))
        return -1;
    return 0;
}

/* model_create, or with owner a shard of it (model_create_shard). */
static int create(model **out, const model_config *cfg, const model *owner, char *err, size_t errlen) {
    *out = NULL;
    if (cfg->layers < 1 || cfg->d_model < 1 || cfg->heads < 1 || cfg->ffn_mult < 1 || cfg->input_dim < 0 ||
        (cfg->input_dim == 0 && cfg->vocab < 1) || cfg->n_out < 1 || cfg->max_batch < 1 || cfg->max_seq < 1)
        return errf(err, errlen, "model: every size must be positive");
    if (cfg->d_model % cfg->heads)
        return errf(err, errlen, "model: heads (%d) must divide d_model (%d)", cfg->heads, cfg->d_model);
    if (cfg->pos_rank != 1 && (cfg->pos_rank != 2 || cfg->grid_h * cfg->grid_w != cfg->max_seq))
        return errf(err, errlen, "model: 2-D positions need grid_h * grid_w == max_seq (%d x %d vs %d)",
                    cfg->grid_h, cfg->grid_w, cfg->max_seq);
    int linear = strcmp(cfg->attention, "linear") == 0;
    if (!linear && strcmp(cfg->attention, "softmax") != 0)
        return errf(err, errlen, "model: unknown attention '%s' (softmax | linear)", cfg->attention);
    model *m = calloc(1, sizeof *m);
    if (!m) return errf(err, errlen, "model: out of memory");
    m->cfg = *cfg;
    m->owner = owner;
    m->threads = omp_get_max_threads();
    m->attn = linear ? BE_ATTN_LINEAR : BE_ATTN_SOFTMAX;
    m->linear = linear;
    if (m->linear && featuremap_parse(&m->phi, cfg->feature_map)) {
        model_destroy(m);
        return errf(err, errlen, "model: unknown feature_map '%s' (1+elu | relu)", cfg->feature_map);
    }
    m->norm_ln = strcmp(cfg->normalizer, "layernorm") == 0;
    if (m->linear && !m->norm_ln && strcmp(cfg->normalizer, "denominator") != 0) {
        model_destroy(m);
        return errf(err, errlen, "model: unknown normalizer '%s' (layernorm | denominator)", cfg->normalizer);
    }
    if (open_backend(m, err, errlen) || create_encodings(m, err, errlen)) {
        model_destroy(m);
        return -1;
    }
    m->layer = calloc((size_t)cfg->layers, sizeof *m->layer);
    m->la = calloc((size_t)cfg->layers, sizeof *m->la);
    if (!m->layer || !m->la || add_params(m) < 0) {
        model_destroy(m);
        return errf(err, errlen, "model: could not build the parameter table");
    }
    if (alloc_arrays(m)) {
        model_destroy(m);
        return errf(err, errlen, "model: out of %s memory for parameters or activations", m->be->name);
    }
    if (open_encodings(m, err, errlen)) {
        model_destroy(m);
        return -1;
    }
    *out = m;
    return 0;
}

int model_create(model **out, const model_config *cfg, char *err, size_t errlen) {
    return create(out, cfg, NULL, err, errlen);
}

int model_create_shard(model **out, const model *owner, int max_batch, char *err, size_t errlen) {
    if (!owner->be->host_memory) {
        *out = NULL;
        return errf(err, errlen, "model: shards share host memory; the %s backend has none", owner->be->name);
    }
    model_config c = owner->cfg;
    c.max_batch = max_batch;
    return create(out, &c, owner, err, errlen);
}

void model_destroy(model *m) {
    if (!m) return;
    const backend *be = m->be;
    if (be) {
        if (!be->host_memory) {
            free(m->param_host);
            free(m->grad_host);
            free(m->logits_host);
        }
        void *dev[] = {m->owner ? NULL : m->param, m->grad, m->act, m->gact, m->decay, m->slopes, m->dev_tokens,
                       m->dev_targets, m->dev_pos, m->dev_inputs, m->dev_valid};
        for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
            if (dev[i]) be->free(be, dev[i]);
        if (m->abs_be) be->pe_close(be, m->abs_be);
        if (m->rel_be) be->pe_close(be, m->rel_be);
        backend_close(be);
    }
    free(m->layer);
    free(m->la);
    free(m->default_pos);
    pe_destroy(m->abs);
    pe_destroy(m->rel);
    tt_free(&m->params);
    free(m);
}

const tensor_table *model_param_table(const model *m) { return &m->params; }
const model_config *model_cfg(const model *m) { return &m->cfg; }
const backend *model_backend(const model *m) { return m->be; }
float *model_device_params(model *m) { return m->param; }
float *model_device_grads(model *m) { return m->grad; }

float *model_params(model *m) {
    if (!m->be->host_memory)
        m->be->download(m->be, m->param_host, m->param, m->params.total * sizeof(float));
    return m->param_host;
}

void model_upload_params(model *m) {
    if (!m->be->host_memory) m->be->upload(m->be, m->param, m->param_host, m->params.total * sizeof(float));
}

float *model_grads(model *m) {
    if (!m->be->host_memory) m->be->download(m->be, m->grad_host, m->grad, m->params.total * sizeof(float));
    return m->grad_host;
}

int model_qk_dim(const model *m) { return m->dqk; }

void model_init(model *m, uint64_t seed) {
    tt_init_params(&m->params, m->param_host, seed);
    if (m->abs) m->abs->vt->init_params(m->abs, &m->params, m->param_host);
    if (m->rel) m->rel->vt->init_params(m->rel, &m->params, m->param_host);
    model_upload_params(m);
}

void model_zero_grad(model *m) { m->be->zero(m->be, m->grad, m->params.total * sizeof(float)); }

/* pointer to parameter / gradient tensor i */
#define P(i) (m->param + m->params.t[i].offset)
#define G(i) (m->grad + m->params.t[i].offset)
/* pointer to an activation / gradient buffer by offset */
#define A(off) (m->act + (off))
#define GA(off) (m->gact + (off))

/* The residual stream after layer l: res2 of layer l, or the embedding for l = -1. */
static const float *stream_after(const model *m, int l) {
    if (l >= 0) return A(m->la[l].res2);
    return m->abs ? A(m->ta.emb) : A(m->ta.emb_tok);
}

/* The LayerNorm that reads the stream after layer l: its output, saved statistics and parameters. */
typedef struct ln_site {
    float *out, *mean, *rstd;
    int g, b; /* parameter indices */
} ln_site;

/* The LayerNorm after layer l (l = -1: the embedding): the next layer's ln1, or lnf after the last. */
static ln_site ln_after(const model *m, int l) {
    if (l + 1 < m->cfg.layers) {
        const layer_acts *la = &m->la[l + 1];
        return (ln_site){A(la->ln1), A(la->ln1_mean), A(la->ln1_rstd), m->layer[l + 1].ln1_g, m->layer[l + 1].ln1_b};
    }
    return (ln_site){A(m->ta.lnf), A(m->ta.lnf_mean), A(m->ta.lnf_rstd), m->top.lnf_g, m->top.lnf_b};
}

/* The gradient of the bias added last into the stream after layer l: layer l's fcproj_b; for the
 * embedding, patch_b when the stream is the patch projection itself (no absolute encoding), else NULL. */
static float *stream_bias_grad(const model *m, int l) {
    if (l >= 0) return G(m->layer[l].fcproj_b);
    return m->cfg.input_dim && !m->abs ? G(m->top.patch_b) : NULL;
}

/* Backward of the LayerNorm after layer l given its output gradient dln: accumulates into dres,
 * which then holds the finished gradient of the stream after layer l, and in the same pass adds
 * that gradient's column sums into the bias that stream ends with (stream_bias_grad). */
static void ln_after_backward(model *m, int l, float *dres, const float *dln) {
    const int N = m->batch.B * m->batch.T, C = m->cfg.d_model;
    const ln_site s = ln_after(m, l);
    m->be->layernorm_backward_bias(m->be, dres, G(s.g), G(s.b), stream_bias_grad(m, l), dln, stream_after(m, l),
                                   P(s.g), s.mean, s.rstd, N, C);
}

/* zero a gradient buffer of n floats before a backward accumulates into it */
static float *zeroed(const model *m, float *p, size_t n) {
    m->be->zero(m->be, p, n * sizeof *p);
    return p;
}

/* The attention branch of layer l: ln1 -> qkv -> [phi] -> [encoding] -> kernel -> [normaliser].
 * Returns the branch output [N, C] (before the output projection). */
static const float *attention_forward(model *m, int l) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    const model_batch *b = &m->batch;
    const layer_params *lp = &m->layer[l];
    const layer_acts *la = &m->la[l];
    const int N = b->B * b->T, C = c->d_model;
    const float *qkv = A(la->qkv), *q = qkv, *k = qkv + C;
    int ld = 3 * C;
    if (m->linear) {
        be->featuremap_forward_rows(be, A(la->fq), C, qkv, 3 * C, N, C, m->phi);
        be->featuremap_forward_rows(be, A(la->fk), C, qkv + C, 3 * C, N, C, m->phi);
        q = A(la->fq), k = A(la->fk), ld = C;
    }
    if (m->rel_qk) {
        const int ldo = c->heads * m->dqk;
        pe_qk_rows rq = {.layer = l, .which = 0, .N = N, .pos = b->pos, .ld_in = ld, .ld_out = ldo}, rk = rq;
        rk.which = 1;
        be->pe_qk_forward(be, m->rel_be, &rq, m->param, q, A(la->qe));
        be->pe_qk_forward(be, m->rel_be, &rk, m->param, k, A(la->ke));
        q = A(la->qe), k = A(la->ke);
    }
    attn_shape sh = attn_shape_for(m, b->B, b->T);
    be->attn_forward(be, m->attn, &sh, A(la->att_num), A(la->att_saved), q, k, qkv + 2 * C, b->valid, A(m->ta.scratch));
    if (!m->linear) return A(la->att_num);
    if (m->norm_ln) {
        be->layernorm_forward(be, A(la->att), A(la->att_mean), A(la->att_rstd), A(la->att_num), P(lp->attn_ln_g),
                          P(lp->attn_ln_b), N, C, c->ln_eps);
    } else {
        lin_denom_shape ds = denom_shape_for(m, b->B, b->T);
        be->lin_denom_forward(be, &ds, A(la->att), A(la->z), A(la->att_num), A(la->fq), A(la->fk), b->valid, A(m->ta.scratch));
    }
    return A(la->att);
}

/* Backward of the attention branch of layer l given datt (gradient of its output): accumulates
 * into dqkv (zeroed here) and the parameter gradients. */
static void attention_backward(model *m, int l, const float *datt, float *dqkv) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    const model_batch *b = &m->batch;
    const layer_params *lp = &m->layer[l];
    const layer_acts *la = &m->la[l];
    const int N = b->B * b->T, C = c->d_model;
    const size_t NC = (size_t)N * C;
    const float *qkv = A(la->qkv);
    const float *dnum = datt;
    /* where the gradients of the kernel's q and k inputs go: dqkv, dfq/dfk, or dqe/dke */
    float *dq = dqkv, *dk = dqkv + C, *dfq = GA(m->ga.dfq), *dfk = GA(m->ga.dfk);
    if (m->linear) {
        float *dn = GA(m->ga.datt_num);
        if (m->norm_ln) { /* the kernel below adds into dfq and dfk */
            zeroed(m, dfq, NC);
            zeroed(m, dfk, NC);
            be->layernorm_backward(be, zeroed(m, dn, NC), G(lp->attn_ln_g), G(lp->attn_ln_b), datt, A(la->att_num),
                                   P(lp->attn_ln_g), A(la->att_mean), A(la->att_rstd), N, C);
        } else { /* writes dn, dfq and dfk whole */
            lin_denom_shape ds = denom_shape_for(m, b->B, b->T);
            be->lin_denom_backward(be, &ds, dn, dfq, dfk, datt, A(la->att), A(la->z), A(la->fq), A(la->fk), b->valid,
                                   A(m->ta.scratch));
        }
        dnum = dn;
        dq = dfq, dk = dfk;
    }
    if (m->rel_qk) {
        size_t nq = (size_t)N * c->heads * m->dqk;
        dq = zeroed(m, GA(m->ga.dqe), nq);
        dk = zeroed(m, GA(m->ga.dke), nq);
    }
    const float *q = m->rel_qk ? A(la->qe) : m->linear ? A(la->fq) : qkv;
    const float *k = m->rel_qk ? A(la->ke) : m->linear ? A(la->fk) : qkv + C;
    attn_shape sh = attn_shape_for(m, b->B, b->T);
    be->attn_backward(be, m->attn, &sh, dq, dk, dqkv + 2 * C, dnum, A(la->att_num), A(la->att_saved), q, k, qkv + 2 * C,
                      b->valid, A(m->ta.scratch));
    if (m->rel_qk) {
        /* back through the encoding, into the phi features (linear) or the qkv views (softmax) */
        const float *qin = m->linear ? A(la->fq) : qkv, *kin = m->linear ? A(la->fk) : qkv + C;
        float *dqin = m->linear ? dfq : dqkv, *dkin = m->linear ? dfk : dqkv + C;
        const int ld = m->linear ? C : 3 * C, ldo = c->heads * m->dqk;
        pe_qk_rows rq = {.layer = l, .which = 0, .N = N, .pos = b->pos, .ld_in = ld, .ld_out = ldo}, rk = rq;
        rk.which = 1;
        be->pe_qk_backward(be, m->rel_be, &rq, m->param, m->grad, qin, dq, dqin);
        be->pe_qk_backward(be, m->rel_be, &rk, m->param, m->grad, kin, dk, dkin);
    }
    if (m->linear) {
        be->featuremap_backward_rows(be, dqkv, 3 * C, A(la->fq), C, dfq, C, N, C, m->phi);
        be->featuremap_backward_rows(be, dqkv + C, 3 * C, A(la->fk), C, dfk, C, N, C, m->phi);
    }
}

/* Copies the batch (host) into the model's device buffers and points m->batch at them. */
static void upload_batch(model *m, const model_batch *b, const int32_t *pos) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    const size_t N = (size_t)b->B * b->T, R = c->head == HEAD_LM ? N : (size_t)b->B;
    model_batch *d = &m->batch;
    if (b->tokens) be->upload(be, m->dev_tokens, b->tokens, N * sizeof(int32_t)), d->tokens = m->dev_tokens;
    if (b->inputs) be->upload(be, m->dev_inputs, b->inputs, N * c->input_dim * sizeof(float)), d->inputs = m->dev_inputs;
    if (b->targets) be->upload(be, m->dev_targets, b->targets, R * sizeof(int32_t)), d->targets = m->dev_targets;
    if (b->valid) be->upload(be, m->dev_valid, b->valid, N), d->valid = m->dev_valid;
    be->upload(be, m->dev_pos, pos, N * c->pos_rank * sizeof(int32_t));
    d->pos = m->dev_pos;
}

int model_check_batch(const model *m, const model_batch *b, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    if (b->B > c->max_batch || b->T > c->max_seq || b->B < 1 || b->T < 1)
        return errf(err, errlen, "model: a batch of %d x %d tokens does not fit the model's %d x %d", b->B, b->T,
                    c->max_batch, c->max_seq);
    if (!b->pos && c->pos_rank != 1) return errf(err, errlen, "model: 2-D positions are needed and the batch has none");
    if (c->input_dim ? !b->inputs : !b->tokens)
        return errf(err, errlen, "model: the batch has no %s", c->input_dim ? "input vectors" : "tokens");
    return 0;
}

model_batch model_batch_rows(const model *m, const model_batch *b, int lo, int hi) {
    const model_config *c = &m->cfg;
    const size_t at = (size_t)lo * b->T;
    return (model_batch){.B = hi - lo, .T = b->T, .tokens = b->tokens ? b->tokens + at : NULL,
                         .inputs = b->inputs ? b->inputs + at * (size_t)c->input_dim : NULL,
                         .targets = b->targets ? b->targets + (c->head == HEAD_CLS ? (size_t)lo : at) : NULL,
                         .valid = b->valid ? b->valid + at : NULL,
                         .pos = b->pos ? b->pos + at * (size_t)c->pos_rank : NULL};
}

int model_target_count(const model *m, const model_batch *b) {
    if (!b->targets) return 0;
    return xent_count(b->targets, m->cfg.head == HEAD_CLS ? b->B : b->B * b->T);
}

int model_forward(model *m, const model_batch *b, double *loss, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    if (model_check_batch(m, b, err, errlen)) return -1;
    const backend *be = m->be;
    const int32_t *pos = b->pos;
    if (!pos) { /* 1-D positions 0..T-1 in every row */
        for (int n = 0; n < b->B * b->T; n++) m->default_pos[n] = n % b->T;
        pos = m->default_pos;
    }
    m->batch = *b;
    m->batch.pos = pos;
    if (!be->host_memory) upload_batch(m, b, pos);
    b = &m->batch; /* from here on, the batch in device memory */
    const int B = b->B, T = b->T, N = B * T, C = c->d_model, F = c->ffn_mult * C;

    if (c->input_dim)
        be->linear_forward(be, A(m->ta.emb_tok), b->inputs, P(m->top.patch_w), P(m->top.patch_b), N, c->input_dim, C);
    else
        be->embed_forward(be, A(m->ta.emb_tok), b->tokens, P(m->top.wte), N, C);
    const float *x = A(m->ta.emb_tok);
    if (m->abs) {
        be->pe_embed_forward(be, m->abs_be, m->param, A(m->ta.emb), x, m->batch.pos, N);
        x = A(m->ta.emb);
    }
    /* layer 0's ln1 reads the embedding; every later LayerNorm comes with the residual sum before it */
    ln_site s = ln_after(m, -1);
    be->layernorm_forward(be, s.out, s.mean, s.rstd, x, P(s.g), P(s.b), N, C, c->ln_eps);
    for (int l = 0; l < c->layers; l++) {
        const layer_params *lp = &m->layer[l];
        const layer_acts *la = &m->la[l];
        be->linear_forward(be, A(la->qkv), A(la->ln1), P(lp->qkv_w), P(lp->qkv_b), N, C, 3 * C);
        const float *att = attention_forward(m, l);
        /* res1 = x + proj(att) with its bias, normalised into ln2 in the same pass */
        be->linear_forward(be, A(la->res1), att, P(lp->proj_w), NULL, N, C, C);
        be->residual_layernorm_forward(be, A(la->res1), A(la->ln2), A(la->ln2_mean), A(la->ln2_rstd), x, P(lp->proj_b),
                                       P(lp->ln2_g), P(lp->ln2_b), N, C, c->ln_eps);
        /* fc's product, then in place GELU's slope there (the backward's), gelu = GELU(fc) */
        be->linear_forward(be, A(la->gelu_slope), A(la->ln2), P(lp->fc_w), NULL, N, C, F);
        be->bias_gelu_forward(be, A(la->gelu_slope), A(la->gelu), P(lp->fc_b), N, F);
        /* res2 = res1 + fcproj(gelu) with its bias, normalised into the next ln1, or lnf */
        be->linear_forward(be, A(la->res2), A(la->gelu), P(lp->fcproj_w), NULL, N, F, C);
        s = ln_after(m, l);
        be->residual_layernorm_forward(be, A(la->res2), s.out, s.mean, s.rstd, A(la->res1), P(lp->fcproj_b), P(s.g),
                                       P(s.b), N, C, c->ln_eps);
        x = A(la->res2);
    }
    const float *feat = A(m->ta.lnf);
    int rows = N;
    if (c->head == HEAD_CLS) {
        be->meanpool_forward(be, A(m->ta.pooled), feat, b->valid, B, T, C);
        feat = A(m->ta.pooled);
        rows = B;
    }
    be->linear_forward(be, A(m->ta.logits), feat, P(m->top.head_w), P(m->top.head_b), rows, C, c->n_out);
    *loss = b->targets ? be->xent_forward(be, A(m->ta.lse), A(m->ta.logits), b->targets, rows, c->n_out) : 0.0;
    return 0;
}

const float *model_logits(model *m) {
    const model_config *c = &m->cfg;
    if (!m->be->host_memory) {
        size_t rows = c->head == HEAD_LM ? (size_t)m->batch.B * m->batch.T : (size_t)m->batch.B;
        m->be->download(m->be, m->logits_host, m->act + m->ta.logits, rows * c->n_out * sizeof(float));
    }
    return m->logits_host;
}

void model_backward(model *m, float scale) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    const model_batch *b = &m->batch;
    const int B = b->B, T = b->T, N = B * T, C = c->d_model, F = c->ffn_mult * C;
    const size_t NC = (size_t)N * C;

    /* head */
    int rows = c->head == HEAD_CLS ? B : N;
    float *dlogits = GA(m->ga.dlogits); /* written whole by xent_backward */
    be->xent_backward(be, dlogits, A(m->ta.logits), A(m->ta.lse), b->targets, rows, c->n_out, scale);
    float *dln = GA(m->ga.dln); /* linear_backward writes its input gradient whole */
    if (c->head == HEAD_CLS) {
        float *dpooled = GA(m->ga.dpooled);
        be->linear_backward(be, dpooled, G(m->top.head_w), G(m->top.head_b), dlogits, A(m->ta.pooled), P(m->top.head_w), B, C, c->n_out);
        be->meanpool_backward(be, zeroed(m, dln, NC), dpooled, b->valid, B, T, C); /* adds, valid rows only */
    } else {
        be->linear_backward(be, dln, G(m->top.head_w), G(m->top.head_b), dlogits, A(m->ta.lnf), P(m->top.head_w), N, C, c->n_out);
    }
    float *dres = zeroed(m, GA(m->ga.dres), NC);
    ln_after_backward(m, c->layers - 1, dres, dln); /* lnf, with the last fcproj_b */

    /* blocks, last to first; dres holds the gradient of the current residual stream */
    for (int l = c->layers - 1; l >= 0; l--) {
        const layer_params *lp = &m->layer[l];
        const layer_acts *la = &m->la[l];
        /* FFN branch: res2 = res1 + fcproj(gelu(fc(ln2(res1)))); fcproj_b's gradient came with the
         * LayerNorm backward after this layer, fc_b's comes with the GELU backward */
        float *dgelu = GA(m->ga.dgelu);
        be->linear_backward(be, dgelu, G(lp->fcproj_w), NULL, dres, A(la->gelu), P(lp->fcproj_w), N, F, C);
        be->gelu_backward_bias(be, dgelu, G(lp->fc_b), A(la->gelu_slope), N, F); /* now the gradient of fc */
        be->linear_backward(be, dln, G(lp->fc_w), NULL, dgelu, A(la->ln2), P(lp->fc_w), N, C, F);
        be->layernorm_backward_bias(be, dres, G(lp->ln2_g), G(lp->ln2_b), G(lp->proj_b), dln, A(la->res1), P(lp->ln2_g),
                                    A(la->ln2_mean), A(la->ln2_rstd), N, C);
        /* attention branch: res1 = x + proj(attention(ln1(x))); proj_b's gradient came with ln2's backward */
        const float *att = m->linear ? A(la->att) : A(la->att_num);
        float *datt = GA(m->ga.datt);
        be->linear_backward(be, datt, G(lp->proj_w), NULL, dres, att, P(lp->proj_w), N, C, C);
        float *dqkv = zeroed(m, GA(m->ga.dqkv), 3 * NC);
        attention_backward(m, l, datt, dqkv);
        be->linear_backward(be, dln, G(lp->qkv_w), G(lp->qkv_b), dqkv, A(la->ln1), P(lp->qkv_w), N, C, 3 * C);
        ln_after_backward(m, l - 1, dres, dln); /* ln1, with the previous layer's fcproj_b */
    }
    const float *dtok = dres;
    if (m->abs) {
        float *d = zeroed(m, GA(m->ga.demb_tok), NC);
        be->pe_embed_backward(be, m->abs_be, m->param, m->grad, d, dres, m->batch.pos, N);
        dtok = d;
    }
    if (c->input_dim) /* without an absolute encoding, patch_b's gradient came with layer 0's ln1 */
        be->linear_backward(be, NULL, G(m->top.patch_w), m->abs ? G(m->top.patch_b) : NULL, dtok, b->inputs,
                            P(m->top.patch_w), N, c->input_dim, C);
    else
        be->embed_backward(be, G(m->top.wte), dtok, b->tokens, N, C);
}
