/* lrpe-rotation (the paper's "Orthogonal" solution): after P, block-diagonal 2x2 rotations
 * R(s theta_j) on interleaved pairs (2j, 2j+1), j < F = floor(d/2); an odd last coordinate
 * passes through. Fixed theta_j = 10000^(-2j/e), e = 2F (d rounded down to even); with axes
 * split, each half of the pairs its own ladder with e = 2 * (its pair count). Width d. */
#include "lrpe_engine.h"
#include "vec.h"

/* F = floor(d/2) pairs. */
static int rot_nfreq(int d) { return d / 2; }

/* e = 2 * number of pairs in the set. */
static double rot_ladder_e(int nf, int d, int split) { return 2.0 * nf; }

/* y[2j] = x[2j] c - x[2j+1] s; y[2j+1] = x[2j+1] c + x[2j] s. */
LRPE_VEC static void rot_fwd(const lrpe *L, const lrpe_tok *t, const float *x, float *y) {
    const int d = L->pe.dims.head_dim;
    for (int j = 0; j < L->F; j++) {
        double c = t->c[j], s = t->s[j], a = x[2 * j], b = x[2 * j + 1];
        y[2 * j] = (float)(a * c - b * s);
        y[2 * j + 1] = (float)(b * c + a * s);
    }
    if (d & 1) y[d - 1] = x[d - 1];
}

/* g = R^T dy: dy rotated by -angle. */
LRPE_VEC static void rot_bwd(const lrpe *L, const lrpe_tok *t, const float *dy, float *g) {
    const int d = L->pe.dims.head_dim;
    for (int j = 0; j < L->F; j++) {
        double c = t->c[j], s = t->s[j], a = dy[2 * j], b = dy[2 * j + 1];
        g[2 * j] = (float)(a * c + b * s);
        g[2 * j + 1] = (float)(b * c - a * s);
    }
    if (d & 1) g[d - 1] = dy[d - 1];
}

/* d loss / d angle_j = dy[2j+1] y[2j] - dy[2j] y[2j+1]. */
static double rot_dangle(const lrpe *L, const float *x, const float *dy, int j, double c, double s) {
    double a = x[2 * j], b = x[2 * j + 1];
    double y0 = a * c - b * s, y1 = b * c + a * s;
    return dy[2 * j + 1] * y0 - dy[2 * j] * y1;
}

static const lrpe_core ROTATION = {
    .kind = PE_QK_ROTATION, .out_mult = 1, .nfreq = rot_nfreq, .ladder_e = rot_ladder_e,
    .fwd = rot_fwd, .bwd = rot_bwd, .dangle = rot_dangle,
};

/* The engine with the rotation core, P and theta from the options. */
static int rotation_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    static const lrpe_spec spec = {&ROTATION, 1, 1};
    return lrpe_create(out, &pe_lrpe_rotation_vt, &spec, o, d, err, errlen);
}

static const char *const KEYS[] = {"p", "theta", "householder", "axes", NULL};

const pe_vtable pe_lrpe_rotation_vt = {
    .name = "lrpe-rotation",
    .summary = "LRPE orthogonal: P then 2x2 rotations by s*theta on interleaved pairs (width d)",
    .hooks = PE_HOOK_QK,
    .attn_ok = PE_ATTN_SOFTMAX | PE_ATTN_LINEAR,
    .keys = KEYS,
    .create = rotation_create,
    LRPE_ENGINE_HOOKS,
};
