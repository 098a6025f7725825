/* The shared engine of the per-token q/k encodings of the LRPE family and their relatives (rope,
 * lrpe-rotation, lrpe-unitary, lrpe-permutation, permuteformer): x -> P x -> core(position) ->
 * out, per head, with the parameters (per-layer theta, per-layer Householder v), the threading
 * and the deterministic parameter-gradient reductions in one place. Each encoding file supplies
 * only its core (the positional map Lambda^s and its transpose) as an lrpe_core.
 *
 * Frequencies: a core with angles has F frequencies; the angle of frequency j for a token is
 * pos_j * theta_j in double, where pos_j = pe_axis_pos(e, pos, j, half), half = ceil(F/2) (axes
 * split: frequencies j < half follow the row, the others the column). The fixed theta is the
 * ladder 10000^(-2i/e) over each set of frequencies that shares an axis (all F for 1-D or axes
 * sum; the row and the column halves separately with axes split), e given by the core. */
#ifndef LRPE_LRPE_ENGINE_H
#define LRPE_LRPE_ENGINE_H

#include "pe_internal.h"
#include "pmat.h"

typedef struct lrpe lrpe;

/* What a core sees of one token: its position(s), its layer, the cos/sin of the angle of every
 * frequency (NULL when the core has none) and head_dim ints of scratch that the core's prep may
 * fill once per token for all heads (e.g. a permutation's index map). */
typedef struct lrpe_tok {
    const int32_t *pos;
    const double *c, *s;
    int layer;
    int *map;
} lrpe_tok;

typedef struct lrpe_core {
    pe_qk_kind kind;                              /* what pe_describe reports (pe_data.qk) */
    int out_mult;                                 /* output width per head = out_mult * head_dim */
    int (*nfreq)(int d);                          /* F for head dim d (0: no angles, no theta) */
    double (*ladder_e)(int nf, int d, int split); /* e of the fixed ladder for a set of nf freqs */
    /* y[out_mult*d] = core(xt[d]) for one head */
    void (*fwd)(const lrpe *L, const lrpe_tok *t, const float *xt, float *y);
    /* g[d] = core^T dy[out_mult*d] for one head (overwrites g) */
    void (*bwd)(const lrpe *L, const lrpe_tok *t, const float *dy, float *g);
    /* d loss / d angle_j for one head, given the whole xt, dy and cos/sin of angle_j (NULL for
     * cores without angles) */
    double (*dangle)(const lrpe *L, const float *xt, const float *dy, int j, double c, double s);
    /* optional: per-token preparation shared by the heads (fills t->map) */
    void (*prep)(const lrpe *L, lrpe_tok *t);
    /* optional: builds / frees core data (L->core_data), e.g. permutations */
    int (*init)(lrpe *L, char *err, size_t errlen);
    void (*fini)(lrpe *L);
    /* optional: the core's own fields of pe_data (e.g. the permutations), after the engine's */
    void (*describe)(const lrpe *L, pe_data *out);
} lrpe_core;

/* How an encoding uses the engine. */
typedef struct lrpe_spec {
    const lrpe_core *core;
    int use_p;       /* honour option p (else P = identity) */
    int theta_param; /* theta is a per-layer parameter "layers.L.pe.theta" (else the fixed ladder) */
} lrpe_spec;

struct lrpe {
    struct pe pe;
    const lrpe_core *core;
    int F, half;      /* frequencies; with axes split, j < half follow the row */
    int theta_param;  /* theta registered as a parameter */
    double *theta0;   /* [F] the fixed ladder */
    pmat P;
    size_t *theta_off, *v_off; /* [layers] parameter offsets ((size_t)-1: none) */
    float *decay;     /* [heads] vt->decay of every head, for pe_describe; NULL without the hook */
    void *core_data;
    /* cos / sin of v * theta_j for position values v < tab_len, [tab_len, F], and the theta they
     * were computed for (NaN before the first call): a qk call refills them when its theta differs
     * (a learned theta after a step, another layer's), so each angle is computed once per position
     * and theta rather than once per token (writing them is the only change a call makes to the
     * instance) */
    double *tab_c, *tab_s, *tab_theta;
    int tab_len;
};

/* Builds an engine instance for vt with this spec; 0 or -1 with a one-line reason. */
int lrpe_create(pe **out, const pe_vtable *vt, const lrpe_spec *spec, const pe_options *o,
                const pe_dims *d, char *err, size_t errlen);
/* The pe_vtable entries every engine encoding uses. */
void lrpe_destroy(pe *e);
int lrpe_add_params(pe *e, tensor_table *tt);
void lrpe_init_params(const pe *e, const tensor_table *tt, float *params);
int lrpe_qk_dim(const pe *e);
void lrpe_qk_forward(const pe *e, const pe_qk_rows *r, const float *params, const float *in, float *out);
void lrpe_qk_backward(const pe *e, const pe_qk_rows *r, const float *params, float *grads, const float *in,
                      const float *dout, float *din);
void lrpe_describe(const pe *e, pe_data *out);

/* The vtable fields every engine-based encoding shares (designated initializers, for use inside a
 * pe_vtable definition next to its name, summary, hooks, attentions, keys and create). */
#define LRPE_ENGINE_HOOKS                                                                  \
    .destroy = lrpe_destroy, .add_params = lrpe_add_params, .init_params = lrpe_init_params, \
    .qk_dim = lrpe_qk_dim, .qk_forward = lrpe_qk_forward, .qk_backward = lrpe_qk_backward,      \
    .describe = lrpe_describe

#endif
