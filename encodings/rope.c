/* rope: rotary position embedding (Su et al.), half-split layout: with F = floor(d/2),
 * x1 = x[0:F], x2 = x[F:2F], out = [x1 cos - x2 sin, x2 cos + x1 sin] by angles s*theta_i,
 * theta_i = 10000^(-2i/d); an odd last coordinate passes through. No P, theta fixed (not a
 * parameter). With axes split, frequencies i < ceil(F/2) follow the row and the rest the column,
 * each half its own ladder 10000^(-2i/(2m)), m = the half's size (axial 2-D RoPE). */
#include "lrpe_engine.h"
#include "vec.h"

/* F = floor(d/2) frequencies. */
static int rope_nfreq(int d) { return d / 2; }

/* 1-D / axes sum: e = d; axes split: e = 2 * (frequencies of the axis). */
static double rope_ladder_e(int nf, int d, int split) { return split ? 2.0 * nf : (double)d; }

/* out[i] = x[i] c - x[i+F] s; out[i+F] = x[i+F] c + x[i] s. */
LRPE_VEC static void rope_fwd(const lrpe *L, const lrpe_tok *t, const float *x, float *y) {
    const int d = L->pe.dims.head_dim, F = L->F;
    for (int i = 0; i < F; i++) {
        double c = t->c[i], s = t->s[i], a = x[i], b = x[i + F];
        y[i] = (float)(a * c - b * s);
        y[i + F] = (float)(b * c + a * s);
    }
    if (d & 1) y[d - 1] = x[d - 1];
}

/* g = dy rotated back by -angle. */
LRPE_VEC static void rope_bwd(const lrpe *L, const lrpe_tok *t, const float *dy, float *g) {
    const int d = L->pe.dims.head_dim, F = L->F;
    for (int i = 0; i < F; i++) {
        double c = t->c[i], s = t->s[i], a = dy[i], b = dy[i + F];
        g[i] = (float)(a * c + b * s);
        g[i + F] = (float)(b * c - a * s);
    }
    if (d & 1) g[d - 1] = dy[d - 1];
}

static const lrpe_core ROPE = {
    .kind = PE_QK_ROPE, .out_mult = 1, .nfreq = rope_nfreq, .ladder_e = rope_ladder_e,
    .fwd = rope_fwd, .bwd = rope_bwd,
    /* no dangle: rope's theta is fixed, never a parameter */
};

/* The engine with the rope core, P = identity, theta fixed (not a parameter). */
static int rope_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    static const lrpe_spec spec = {&ROPE, 0, 0};
    return lrpe_create(out, &pe_rope_vt, &spec, o, d, err, errlen);
}

static const char *const KEYS[] = {"axes", NULL};

const pe_vtable pe_rope_vt = {
    .name = "rope",
    .summary = "rotary embedding, half-split layout, theta_i = 10000^(-2i/d) (fixed)",
    .hooks = PE_HOOK_QK,
    .attn_ok = PE_ATTN_SOFTMAX | PE_ATTN_LINEAR,
    .keys = KEYS,
    .create = rope_create,
    LRPE_ENGINE_HOOKS,
};
