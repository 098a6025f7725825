/* lrpe-permutation (the paper's "Permutation" solution): after P, a fixed random permutation pi
 * of the head coordinates applied s times, y_s[j] = x~[pi^s(j)] (one pi per layer, shared by the
 * heads, drawn from the run seed; two with axes split, see perm.h). No theta. Width d. */
#include "perm.h"

/* The engine with the permutation core, P from the options, no theta. */
static int permutation_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    static const lrpe_spec spec = {&pe_perm_core, 1, 0};
    return lrpe_create(out, &pe_lrpe_permutation_vt, &spec, o, d, err, errlen);
}

static const char *const KEYS[] = {"p", "householder", "axes", NULL};

const pe_vtable pe_lrpe_permutation_vt = {
    .name = "lrpe-permutation",
    .summary = "LRPE permutation: P then a fixed random permutation applied s times (width d)",
    .hooks = PE_HOOK_QK,
    .attn_ok = PE_ATTN_SOFTMAX | PE_ATTN_LINEAR,
    .keys = KEYS,
    .create = permutation_create,
    LRPE_ENGINE_HOOKS,
};
