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

/* n pairs of rope_fwd (sign 1) or rope_bwd (sign -1): (y0, y1) = (x0, x1) rotated by sign *
 * angle. The halves as separate restrict pointers and a constant n make them vectors of 8 doubles
 * with no overlap checks. */
static inline void rope_pairs(const double *restrict c, const double *restrict s, const float *restrict x0,
                              const float *restrict x1, float *restrict y0, float *restrict y1, int n, double sign) {
    for (int i = 0; i < n; i++) {
        double a = x0[i], b = x1[i], sn = sign * s[i];
        y0[i] = (float)(a * c[i] - b * sn);
        y1[i] = (float)(b * c[i] + a * sn);
    }
}

/* y = x rotated by sign * angle: y[i] = x[i] c - x[i+F] s, y[i+F] = x[i+F] c + x[i] s (s negated
 * when sign is -1), pairs in blocks of 8. */
static inline void rope_rotate(const lrpe *L, const lrpe_tok *t, const float *x, float *y, double sign) {
    const int d = L->pe.dims.head_dim, F = L->F;
    int i = 0;
    for (; i + 8 <= F; i += 8) rope_pairs(t->c + i, t->s + i, x + i, x + F + i, y + i, y + F + i, 8, sign);
    if (i < F) rope_pairs(t->c + i, t->s + i, x + i, x + F + i, y + i, y + F + i, F - i, sign);
    if (d & 1) y[d - 1] = x[d - 1];
}

/* out[i] = x[i] c - x[i+F] s; out[i+F] = x[i+F] c + x[i] s. */
LRPE_VEC static void rope_fwd(const lrpe *L, const lrpe_tok *t, const float *x, float *y) {
    rope_rotate(L, t, x, y, 1.0);
}

/* g = dy rotated back by -angle. */
LRPE_VEC static void rope_bwd(const lrpe *L, const lrpe_tok *t, const float *dy, float *g) {
    rope_rotate(L, t, dy, g, -1.0);
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
