/* The registry of positional encodings: one static table (listing order), lookup by name, and
 * pe_create, which checks the model dims and the attention before the encoding builds itself. */
#include <stdio.h>
#include <string.h>

#include "pe_internal.h"

static const pe_vtable *const REGISTRY[] = {
    &pe_none_vt,          &pe_sinusoidal_vt,      &pe_learned_vt,
    &pe_rope_vt,          &pe_lrpe_rotation_vt,   &pe_lrpe_unitary_vt,
    &pe_lrpe_permutation_vt, &pe_permuteformer_vt, &pe_cosformer_vt,
    &pe_alibi_vt,
};
#define NREG ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

/* The vtable named `name`, or NULL. */
const pe_vtable *pe_lookup(const char *name) {
    for (int i = 0; name && i < NREG; i++)
        if (strcmp(REGISTRY[i]->name, name) == 0) return REGISTRY[i];
    return NULL;
}

/* Number of registered encodings. */
int pe_count(void) { return NREG; }

/* Encoding i in listing order, or NULL out of range. */
const pe_vtable *pe_at(int i) { return i >= 0 && i < NREG ? REGISTRY[i] : NULL; }

/* "softmax", "linear" or "softmax, linear" for a PE_ATTN_* mask (static strings). */
static const char *attn_names(unsigned mask) {
    switch (mask) {
    case PE_ATTN_SOFTMAX: return "softmax";
    case PE_ATTN_LINEAR: return "linear";
    case PE_ATTN_SOFTMAX | PE_ATTN_LINEAR: return "softmax, linear";
    default: return "none";
    }
}

/* Checks the dims every encoding relies on; 0 or -1 with a one-line reason. */
static int dims_check(const char *name, const pe_dims *d, char *err, size_t errlen) {
    if (d->d_model < 1 || d->heads < 1 || d->head_dim < 1 || d->layers < 1 || d->max_len < 1)
        return errf(err, errlen,
                      "encoding '%s': d_model, heads, head_dim, layers and max_len must be >= 1 "
                      "(got %d, %d, %d, %d, %d)",
                      name, d->d_model, d->heads, d->head_dim, d->layers, d->max_len);
    if (d->head_dim > PE_MAX_HEAD_DIM)
        return errf(err, errlen, "encoding '%s': head_dim %d exceeds the limit %d", name, d->head_dim,
                      PE_MAX_HEAD_DIM);
    if (d->pos_rank != 1 && d->pos_rank != 2)
        return errf(err, errlen, "encoding '%s': pos_rank must be 1 or 2 (got %d)", name, d->pos_rank);
    if (d->pos_rank == 2 && (d->grid_h < 1 || d->grid_w < 1 || (long)d->grid_h * d->grid_w > d->max_len))
        return errf(err, errlen, "encoding '%s': 2-D positions need grid_h, grid_w >= 1 and "
                      "grid_h*grid_w <= max_len (got %d x %d, max_len %d)",
                      name, d->grid_h, d->grid_w, d->max_len);
    if (d->attention != PE_ATTN_SOFTMAX && d->attention != PE_ATTN_LINEAR)
        return errf(err, errlen, "encoding '%s': attention must be exactly one of softmax, linear", name);
    return 0;
}

/* Looks `name` up, checks dims and attention support, and builds the instance. */
int pe_create(pe **out, const char *name, const pe_options *o, const pe_dims *d, char *err,
              size_t errlen) {
    *out = NULL;
    const pe_vtable *vt = pe_lookup(name);
    if (!vt) {
        char known[512] = "";
        for (int i = 0; i < NREG; i++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", REGISTRY[i]->name);
        }
        return errf(err, errlen, "unknown encoding '%s' (known: %s)", name ? name : "(null)", known);
    }
    if (dims_check(vt->name, d, err, errlen)) return -1;
    if (!(vt->attn_ok & d->attention))
        return errf(err, errlen, "encoding '%s' does not support %s attention (it supports: %s)", vt->name,
                      attn_names(d->attention), attn_names(vt->attn_ok));
    pe_options dflt = pe_options_default();
    return vt->create(out, o ? o : &dflt, d, err, errlen);
}

/* Frees an instance (NULL is fine). */
void pe_destroy(pe *e) {
    if (e) e->vt->destroy(e);
}

/* *out = e's transform as data: zeroed, then hooks, qk_dim (QK) and embed_scale (EMBED) from the
 * vtable, then the encoding's own fields by vt->describe; all zero for a NULL e. */
void pe_describe(const pe *e, pe_data *out) {
    memset(out, 0, sizeof *out);
    if (!e) return;
    const pe_vtable *vt = e->vt;
    out->hooks = vt->hooks;
    if (vt->hooks & PE_HOOK_QK) out->qk_dim = vt->qk_dim(e);
    if (vt->hooks & PE_HOOK_EMBED) out->embed_scale = vt->embed_scale(e);
    if (vt->describe) vt->describe(e, out);
}
