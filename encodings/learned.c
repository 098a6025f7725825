/* learned (absolute): out = tok + table[pos], a trainable table "pe.table" [max_len, C]
 * initialised N(0, 0.02^2) (TK_POS), embed_scale 1. 2-D positions use the flattened index
 * row * grid_w + col. Positions must lie in [0, max_len); others are clamped into it (the model
 * checks lengths). The table gradient is reduced deterministically: channel blocks in parallel,
 * each walking the tokens in order. */
#include <stdlib.h>

#include "pe_internal.h"

typedef struct learned {
    struct pe pe;
    size_t off; /* offset of pe.table in the parameter array */
} learned;

#define CH_BLOCK 64

/* A bare instance; the table is registered by lrn_add_params. */
static int lrn_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    *out = pe_alloc(sizeof(learned), &pe_learned_vt, o, d, err, errlen);
    return *out ? 0 : -1;
}

/* Frees the instance. */
static void lrn_destroy(pe *e) { free(e); }

/* Registers "pe.table" [max_len, d_model], N(0, 0.02^2), trainable. */
static int lrn_add_params(pe *e, tensor_table *tt) {
    learned *l = (learned *)e;
    l->off = pe_add_tensor(tt, "pe.table", INIT_NORMAL, 0.02f, 0, e->dims.max_len, e->dims.d_model);
    return l->off == (size_t)-1 ? -1 : 0;
}

/* Nothing beyond tt_init_params; the token embeddings are not rescaled. */
static void lrn_init_params(const pe *e, const tensor_table *tt, float *params) {}
static float lrn_embed_scale(const pe *e) { return 1.0f; }

/* Table row of the token at p (clamped into [0, max_len)). */
static size_t lrn_row(const pe *e, const int32_t *p) {
    long i = e->dims.pos_rank == 1 ? p[0] : (long)p[0] * e->dims.grid_w + p[1];
    if (i < 0) i = 0;
    if (i >= e->dims.max_len) i = e->dims.max_len - 1;
    return (size_t)i;
}

/* out[N,C] = tok + table[row(pos)] (out may be tok). */
static void lrn_embed_forward(const pe *e, const float *params, float *out, const float *tok,
                              const int32_t *pos, int N) {
    const int C = e->dims.d_model;
    const float *tab = params + ((const learned *)e)->off;
#pragma omp parallel for schedule(static) if ((long)N * C >= PE_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *row = tab + lrn_row(e, pos + (size_t)n * e->dims.pos_rank) * C;
        for (int i = 0; i < C; i++) out[(size_t)n * C + i] = tok[(size_t)n * C + i] + row[i];
    }
}

/* dtok[N,C] += dout; dtable[row(pos)] += dout. */
static void lrn_embed_backward(const pe *e, const float *params, float *grads, float *dtok,
                               const float *dout, const int32_t *pos, int N) {
    const int C = e->dims.d_model, nb = (C + CH_BLOCK - 1) / CH_BLOCK;
    float *dtab = grads + ((const learned *)e)->off;
    for (size_t i = 0; i < (size_t)N * C; i++) dtok[i] += dout[i];
#pragma omp parallel for schedule(static) if ((long)N * C >= PE_PAR_MIN)
    for (int b = 0; b < nb; b++) {
        const int c0 = b * CH_BLOCK, c1 = c0 + CH_BLOCK < C ? c0 + CH_BLOCK : C;
        for (int n = 0; n < N; n++) {
            float *row = dtab + lrn_row(e, pos + (size_t)n * e->dims.pos_rank) * C;
            for (int i = c0; i < c1; i++) row[i] += dout[(size_t)n * C + i];
        }
    }
}

/* EMBED from the parameter pe.table at its offset (valid after add_params). */
static void lrn_describe(const pe *e, pe_data *out) {
    out->embed = PE_EMBED_PARAM;
    out->table_off = ((const learned *)e)->off;
}

const pe_vtable pe_learned_vt = {
    .name = "learned",
    .summary = "absolute trainable table [max_len, d_model], N(0, 0.02^2); 2-D: row*grid_w + col",
    .hooks = PE_HOOK_EMBED,
    .attn_ok = PE_ATTN_SOFTMAX | PE_ATTN_LINEAR,
    .keys = NULL,
    .create = lrn_create,
    .destroy = lrn_destroy,
    .add_params = lrn_add_params,
    .init_params = lrn_init_params,
    .embed_scale = lrn_embed_scale,
    .embed_forward = lrn_embed_forward,
    .embed_backward = lrn_embed_backward,
    .describe = lrn_describe,
};
