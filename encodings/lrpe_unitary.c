/* lrpe-unitary (the paper's "Unitary", Solution 1): after P, diag(e^{i s theta_j}) over all d
 * coordinates, realised in real arithmetic as [x~ cos(s theta), x~ sin(s theta)]: per head the
 * first d outputs are the cos part, the next d the sin part (width 2d). Fixed theta_j =
 * 10000^(-2j/d); with axes split, coordinates j < ceil(d/2) follow the row and the rest the
 * column, each half its own ladder 10000^(-2i/m), m = the half's size. */
#include "lrpe_engine.h"
#include "vec.h"

/* One frequency per coordinate. */
static int uni_nfreq(int d) { return d; }

/* e = the number of coordinates in the set. */
static double uni_ladder_e(int nf, int d, int split) { return (double)nf; }

/* y[j] = x[j] c_j; y[d + j] = x[j] s_j (the halves as restrict pointers: no overlap checks). */
static inline void uni_fwd_halves(const double *restrict c, const double *restrict s, const float *restrict x,
                                  float *restrict yc, float *restrict ys, int d) {
    for (int j = 0; j < d; j++) {
        yc[j] = (float)(x[j] * c[j]);
        ys[j] = (float)(x[j] * s[j]);
    }
}

LRPE_VEC static void uni_fwd(const lrpe *L, const lrpe_tok *t, const float *x, float *y) {
    const int d = L->pe.dims.head_dim;
    uni_fwd_halves(t->c, t->s, x, y, y + d, d);
}

/* g[j] = dyc[j] c_j + dys[j] s_j. */
static inline void uni_bwd_halves(const double *restrict c, const double *restrict s, const float *restrict dyc,
                                  const float *restrict dys, float *restrict g, int d) {
    for (int j = 0; j < d; j++) g[j] = (float)(dyc[j] * c[j] + dys[j] * s[j]);
}

LRPE_VEC static void uni_bwd(const lrpe *L, const lrpe_tok *t, const float *dy, float *g) {
    const int d = L->pe.dims.head_dim;
    uni_bwd_halves(t->c, t->s, dy, dy + d, g, d);
}

/* d loss / d angle_j = x~_j (-dyc_j s + dys_j c). */
static double uni_dangle(const lrpe *L, const float *x, const float *dy, int j, double c, double s) {
    return x[j] * (-dy[j] * s + dy[L->pe.dims.head_dim + j] * c);
}

static const lrpe_core UNITARY = {
    .kind = PE_QK_UNITARY, .out_mult = 2, .nfreq = uni_nfreq, .ladder_e = uni_ladder_e,
    .fwd = uni_fwd, .bwd = uni_bwd, .dangle = uni_dangle,
};

/* The engine with the unitary core, P and theta from the options. */
static int unitary_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    static const lrpe_spec spec = {&UNITARY, 1, 1};
    return lrpe_create(out, &pe_lrpe_unitary_vt, &spec, o, d, err, errlen);
}

static const char *const KEYS[] = {"p", "theta", "householder", "axes", NULL};

const pe_vtable pe_lrpe_unitary_vt = {
    .name = "lrpe-unitary",
    .summary = "LRPE unitary: P then [x cos(s theta), x sin(s theta)] per coordinate (width 2d)",
    .hooks = PE_HOOK_QK,
    .attn_ok = PE_ATTN_SOFTMAX | PE_ATTN_LINEAR,
    .keys = KEYS,
    .create = unitary_create,
    LRPE_ENGINE_HOOKS,
};
