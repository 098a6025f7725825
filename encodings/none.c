/* none (NoPE): no positional information. Hooks 0, so a model calls nothing; the functions are
 * the identity anyway (embed: out = tok, scale 1; qk: out = in, width head_dim), so `none` is
 * valid in both the absolute and the relative slot. */
#include <stdlib.h>
#include <string.h>

#include "pe_internal.h"

/* A bare instance. */
static int none_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    *out = pe_alloc(sizeof(pe), &pe_none_vt, o, d, err, errlen);
    return *out ? 0 : -1;
}

/* Frees the instance; no parameters; scale 1. */
static void none_destroy(pe *e) { free(e); }
static int none_add_params(pe *e, tensor_table *tt) { return 0; }
static void none_init_params(const pe *e, const tensor_table *tt, float *params) {}
static float none_embed_scale(const pe *e) { return 1.0f; }

/* out[N,C] = tok (out may be tok). */
static void none_embed_forward(const pe *e, const float *params, float *out, const float *tok,
                               const int32_t *pos, int N) {
    if (out != tok) memmove(out, tok, (size_t)N * e->dims.d_model * sizeof *out);
}

/* dtok[N,C] += dout. */
static void none_embed_backward(const pe *e, const float *params, float *grads, float *dtok,
                                const float *dout, const int32_t *pos, int N) {
    size_t n = (size_t)N * e->dims.d_model;
    for (size_t i = 0; i < n; i++) dtok[i] += dout[i];
}

/* Width head_dim. */
static int none_qk_dim(const pe *e) { return e->dims.head_dim; }

/* out = in, per head of each row. */
static void none_qk_forward(const pe *e, const pe_qk_rows *r, const float *params, const float *in, float *out) {
    const size_t w = (size_t)e->dims.heads * e->dims.head_dim;
    for (int n = 0; n < r->N; n++) memmove(out + (size_t)n * r->ld_out, in + (size_t)n * r->ld_in, w * sizeof *out);
}

/* din += dout. */
static void none_qk_backward(const pe *e, const pe_qk_rows *r, const float *params, float *grads, const float *in,
                             const float *dout, float *din) {
    const int w = e->dims.heads * e->dims.head_dim;
    for (int n = 0; n < r->N; n++)
        for (int i = 0; i < w; i++) din[(size_t)n * r->ld_in + i] += dout[(size_t)n * r->ld_out + i];
}

/* No hooks: pe_describe's zeroed description is the whole of it. */
static void none_describe(const pe *e, pe_data *out) {}

const pe_vtable pe_none_vt = {
    .name = "none",
    .summary = "no positional information (identity; valid as absolute or relative)",
    .hooks = 0,
    .attn_ok = PE_ATTN_SOFTMAX | PE_ATTN_LINEAR,
    .keys = NULL,
    .create = none_create,
    .destroy = none_destroy,
    .add_params = none_add_params,
    .init_params = none_init_params,
    .embed_scale = none_embed_scale,
    .embed_forward = none_embed_forward,
    .embed_backward = none_embed_backward,
    .qk_dim = none_qk_dim,
    .qk_forward = none_qk_forward,
    .qk_backward = none_qk_backward,
    .describe = none_describe,
};
