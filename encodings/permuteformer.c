/* permuteformer (Chen 2021), linear attention only: one fixed random permutation per layer
 * applied s times after phi (the permutation core of perm.h with P = identity), and, for causal
 * attention, a per-head decay r_h = sigmoid(3h/H + 2) of scores with distance: the kernel scales
 * the score of (s, t) by r_h^(s - t), applied chunk-relative or in log space (r^-t overflows
 * float long before 784 positions). Bidirectional attention: r = 1 (no decay), as the authors'
 * vision code. */
#include <math.h>

#include "perm.h"

/* The engine with the permutation core, P = identity, no theta. */
static int permuteformer_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    static const lrpe_spec spec = {&pe_perm_core, 0, 0};
    return lrpe_create(out, &pe_permuteformer_vt, &spec, o, d, err, errlen);
}

float pe_recency_decay(int h, int heads) { return (float)(1.0 / (1.0 + exp(-(3.0 * h / heads + 2.0)))); }

/* r_h = sigmoid(3h/H + 2) for causal attention, 1 for bidirectional. */
static float permuteformer_decay(const pe *e, int h) {
    return e->dims.causal ? pe_recency_decay(h, e->dims.heads) : 1.0f;
}

static const char *const KEYS[] = {"axes", NULL};

const pe_vtable pe_permuteformer_vt = {
    .name = "permuteformer",
    .summary = "fixed random permutation applied s times + per-head decay sigmoid(3h/H+2) (linear only)",
    .hooks = PE_HOOK_QK | PE_HOOK_DECAY,
    .attn_ok = PE_ATTN_LINEAR,
    .keys = KEYS,
    .create = permuteformer_create,
    LRPE_ENGINE_HOOKS,
    .decay = permuteformer_decay,
};
