/* The LRPE engine (see lrpe_engine.h): set-up and parameters, forward, and backward with
 * deterministic parameter gradients. The backward makes one pass over the tokens: din per token,
 * and, when theta or v is learned, the parameter-gradient terms summed in double per fixed chunk
 * of tokens (a row of partial sums on the caller's stack), then reduced over the chunks in order.
 * Each token's angles are computed once; no atomics, no allocation, one parallel region. (Giving
 * each thread a range of parameter elements instead would make every thread recompute every
 * token's angles, or need per-token scratch memory that the interface does not provide.) */
#include "lrpe_engine.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "vec.h"

/* ------------------------------------------------------------------ set-up */

/* Builds the instance: options normalised to what the encoding reads, F, the ladder, P, the core. */
int lrpe_create(pe **out, const pe_vtable *vt, const lrpe_spec *spec, const pe_options *o,
                const pe_dims *d, char *err, size_t errlen) {
    *out = NULL;
    lrpe *L = pe_alloc(sizeof *L, vt, o, d, err, errlen);
    if (!L) return -1;
    pe_options *opt = &L->pe.opt;
    if (!spec->use_p) opt->p = PE_P_IDENTITY;
    if (opt->p != PE_P_HOUSEHOLDER) opt->householder_learned = 0;
    if (d->pos_rank == 1) opt->axes_split = 0;
    L->core = spec->core;
    L->F = spec->core->nfreq(d->head_dim);
    L->half = opt->axes_split ? (L->F + 1) / 2 : L->F;
    L->theta_param = spec->theta_param && L->F > 0;
    if (!L->theta_param) opt->theta_learned = 0;
    L->theta0 = malloc((size_t)(L->F > 0 ? L->F : 1) * sizeof *L->theta0);
    L->theta_off = malloc((size_t)d->layers * sizeof *L->theta_off);
    L->v_off = malloc((size_t)d->layers * sizeof *L->v_off);
    /* every value a frequency's position takes: t < max_len, or row + col / row / col on a grid */
    L->tab_len = L->F > 0 ? (d->pos_rank == 2 ? d->grid_h + d->grid_w - 1 : d->max_len) : 0;
    L->tab_c = malloc(((size_t)L->tab_len * L->F + 1) * sizeof *L->tab_c);
    L->tab_s = malloc(((size_t)L->tab_len * L->F + 1) * sizeof *L->tab_s);
    L->tab_theta = malloc((size_t)(L->F > 0 ? L->F : 1) * sizeof *L->tab_theta);
    if (!L->theta0 || !L->theta_off || !L->v_off || !L->tab_c || !L->tab_s || !L->tab_theta ||
        pmat_init(&L->P, opt->p, d->head_dim)) {
        lrpe_destroy(&L->pe);
        return errf(err, errlen, "encoding '%s': out of memory", vt->name);
    }
    for (int l = 0; l < d->layers; l++) L->theta_off[l] = L->v_off[l] = (size_t)-1;
    for (int j = 0; j < L->F; j++) L->tab_theta[j] = NAN; /* equal to no theta: the first call fills */
    const lrpe_core *c = spec->core;
    if (opt->axes_split) { /* each axis its own ladder */
        pe_theta_ladder(L->theta0, L->half, c->ladder_e(L->half, d->head_dim, 1));
        pe_theta_ladder(L->theta0 + L->half, L->F - L->half, c->ladder_e(L->F - L->half, d->head_dim, 1));
    } else {
        pe_theta_ladder(L->theta0, L->F, c->ladder_e(L->F, d->head_dim, 0));
    }
    if (c->init && c->init(L, err, errlen)) {
        lrpe_destroy(&L->pe);
        return -1;
    }
    if (vt->decay) { /* kept as data for pe_describe */
        L->decay = malloc((size_t)d->heads * sizeof *L->decay);
        if (!L->decay) {
            lrpe_destroy(&L->pe);
            return errf(err, errlen, "encoding '%s': out of memory", vt->name);
        }
        for (int h = 0; h < d->heads; h++) L->decay[h] = vt->decay(&L->pe, h);
    }
    *out = &L->pe;
    return 0;
}

/* Frees the core data, P, the tables and the instance. */
void lrpe_destroy(pe *e) {
    lrpe *L = (lrpe *)e;
    if (L->core && L->core->fini) L->core->fini(L);
    pmat_free(&L->P);
    free(L->theta0);
    free(L->theta_off);
    free(L->v_off);
    free(L->tab_c);
    free(L->tab_s);
    free(L->tab_theta);
    free(L->decay);
    free(L);
}

/* Per layer: "layers.L.pe.theta" [F] (INIT_CUSTOM, frozen unless theta learned) and, for a
 * Householder P, "layers.L.pe.householder_v" [head_dim] (N(0, 1) by name, frozen unless learned). */
int lrpe_add_params(pe *e, tensor_table *tt) {
    lrpe *L = (lrpe *)e;
    char name[TENSOR_NAME_MAX];
    for (int l = 0; l < e->dims.layers; l++) {
        if (L->theta_param) {
            snprintf(name, sizeof name, "layers.%d.pe.theta", l);
            L->theta_off[l] = pe_add_tensor(tt, name, INIT_CUSTOM, 0.0f, !e->opt.theta_learned, L->F, 0);
            if (L->theta_off[l] == (size_t)-1) return -1;
        }
        if (L->P.kind == PE_P_HOUSEHOLDER) {
            snprintf(name, sizeof name, "layers.%d.pe.householder_v", l);
            L->v_off[l] = pe_add_tensor(tt, name, INIT_NORMAL, 1.0f, !e->opt.householder_learned,
                                        e->dims.head_dim, 0);
            if (L->v_off[l] == (size_t)-1) return -1;
        }
    }
    return 0;
}

/* theta of every layer <- the fixed ladder (v was drawn by tt_init_params). */
void lrpe_init_params(const pe *e, const tensor_table *tt, float *params) {
    const lrpe *L = (const lrpe *)e;
    if (!L->theta_param) return;
    for (int l = 0; l < e->dims.layers; l++)
        for (int j = 0; j < L->F; j++) params[L->theta_off[l] + j] = (float)L->theta0[j];
}

/* Per-head output width: out_mult * head_dim. */
int lrpe_qk_dim(const pe *e) { return ((const lrpe *)e)->core->out_mult * e->dims.head_dim; }

/* The engine's transform as data (pe_data, QK and DECAY): the core's kind, F and half, the fixed
 * ladder, the theta and Householder offsets that add_params recorded, P and its DCT table, the
 * decay, then the core's own fields (the permutations). All arrays are the instance's own. */
void lrpe_describe(const pe *e, pe_data *out) {
    const lrpe *L = (const lrpe *)e;
    out->qk = L->core->kind;
    out->nfreq = L->F;
    out->half = L->half;
    out->theta0 = L->F > 0 ? L->theta0 : NULL;
    out->theta_off = L->theta_off;
    out->p = L->P.kind;
    out->dct = L->P.dct;
    out->v_off = L->v_off;
    out->decay = L->decay;
    if (L->core->describe) L->core->describe(L, out);
}

/* ------------------------------------------------------------------ helpers */

/* The float theta of this layer in params, or NULL (then the fixed ladder is used). */
static const float *theta_of(const lrpe *L, int layer, const float *params) {
    return L->theta_param ? params + L->theta_off[layer] : NULL;
}

/* Position of frequency j for a token (see pe_axis_pos). */
static int freq_pos(const lrpe *L, const int32_t *pos, int j) { return pe_axis_pos(&L->pe, pos, j, L->half); }

/* theta_j: of the layer's parameter th, or the fixed ladder when th is NULL. */
static double theta_j(const lrpe *L, const float *th, int j) { return th ? (double)th[j] : L->theta0[j]; }

/* cos and sin of the angle v * theta_j, computed in double. */
static void angle(const lrpe *L, const float *th, int v, int j, double *c, double *s) {
    double a = (double)v * theta_j(L, th, j);
    *c = cos(a);
    *s = sin(a);
}

/* Fills the instance's angle table for theta th (see lrpe.tab_c) unless it holds that theta
 * already; before a call's parallel loop. */
static void angles_fill(const lrpe *L, const float *th) {
    lrpe *M = (lrpe *)L; /* the table is a cache: the one thing a call writes */
    const int F = L->F;
    int same = 1;
    for (int j = 0; j < F && same; j++) same = theta_j(L, th, j) == L->tab_theta[j];
    if (same) return;
    for (int j = 0; j < F; j++) M->tab_theta[j] = theta_j(L, th, j);
#pragma omp parallel for schedule(static) if ((long)L->tab_len * F >= PE_PAR_MIN)
    for (int v = 0; v < L->tab_len; v++)
        for (int j = 0; j < F; j++) angle(L, th, v, j, &M->tab_c[(size_t)v * F + j], &M->tab_s[(size_t)v * F + j]);
}

/* The Householder unit vector of this layer into u (zeros for other P); returns ||v||. */
static double unit_of(const lrpe *L, int layer, const float *params, float *u) {
    if (L->P.kind != PE_P_HOUSEHOLDER) {
        for (int i = 0; i < L->pe.dims.head_dim; i++) u[i] = 0.0f;
        return 0.0;
    }
    return pmat_unit(u, params + L->v_off[layer], L->pe.dims.head_dim);
}

/* t <- the view of the token at p: angles of all F frequencies into c, s, then the core's prep. */
static void tok_init(const lrpe *L, const float *th, const int32_t *p, int layer, double *c, double *s, int *map,
                     lrpe_tok *t) {
    const int F = L->F, v0 = F ? freq_pos(L, p, 0) : 0;
    *t = (lrpe_tok){p, F ? c : NULL, F ? s : NULL, layer, map};
    if (F && !L->pe.opt.axes_split && v0 >= 0 && v0 < L->tab_len) { /* one position: a row of the table */
        t->c = L->tab_c + (size_t)v0 * F, t->s = L->tab_s + (size_t)v0 * F;
    } else {
        for (int j = 0; j < F; j++) {
            int v = freq_pos(L, p, j);
            if (v >= 0 && v < L->tab_len) c[j] = L->tab_c[(size_t)v * F + j], s[j] = L->tab_s[(size_t)v * F + j];
            else angle(L, th, v, j, &c[j], &s[j]); /* a position beyond the table (not expected) */
        }
    }
    if (L->core->prep) L->core->prep(L, t);
}

/* ------------------------------------------------------------------ forward */

/* The forward of tokens [n0, n1) (see lrpe_qk_forward). */
LRPE_VEC static void fwd_rows(const lrpe *L, const pe_qk_rows *r, const float *th, const float *u, const float *in,
                              float *out, int n0, int n1) {
    const int d = L->pe.dims.head_dim, H = L->pe.dims.heads, R = L->pe.dims.pos_rank;
    const int W = L->core->out_mult * d;
    double c[PE_MAX_HEAD_DIM], s[PE_MAX_HEAD_DIM];
    float xt[PE_MAX_HEAD_DIM];
    int map[PE_MAX_HEAD_DIM];
    for (int n = n0; n < n1; n++) {
        lrpe_tok t;
        tok_init(L, th, r->pos + (size_t)n * R, r->layer, c, s, map, &t);
        for (int h = 0; h < H; h++) {
            const float *x = pmat_view(&L->P, u, in + (size_t)n * r->ld_in + (size_t)h * d, xt);
            L->core->fwd(L, &t, x, out + (size_t)n * r->ld_out + (size_t)h * W);
        }
    }
}

/* out[n, h*W:(h+1)*W] = core(P in[n, h*d:(h+1)*d]) at pos[n], W = qk_dim. */
void lrpe_qk_forward(const pe *e, const pe_qk_rows *r, const float *params, const float *in, float *out) {
    const int N = r->N;
    const lrpe *L = (const lrpe *)e;
    const int H = e->dims.heads, W = lrpe_qk_dim(e);
    const float *th = theta_of(L, r->layer, params);
    float u[PE_MAX_HEAD_DIM];
    unit_of(L, r->layer, params, u);
    angles_fill(L, th);
#pragma omp parallel for schedule(static) if ((long)N * H * W >= PE_PAR_MIN)
    for (int n0 = 0; n0 < N; n0 += VEC_ROWS) fwd_rows(L, r, th, u, in, out, n0, rows_end(n0, N));
}

/* ------------------------------------------------------------------ backward */

/* din += P^T core^T dout for tokens [n0, n1) (no parameter gradients). */
LRPE_VEC static void din_range(const lrpe *L, int layer, const float *th, const float *u, float *din, int lddin,
                               const float *dout, int lddout, const int32_t *pos, int n0, int n1) {
    const int d = L->pe.dims.head_dim, H = L->pe.dims.heads, R = L->pe.dims.pos_rank;
    const int W = L->core->out_mult * d;
    double c[PE_MAX_HEAD_DIM], s[PE_MAX_HEAD_DIM];
    float g[PE_MAX_HEAD_DIM];
    int map[PE_MAX_HEAD_DIM];
    for (int n = n0; n < n1; n++) {
        lrpe_tok t;
        tok_init(L, th, pos + (size_t)n * R, layer, c, s, map, &t);
        for (int h = 0; h < H; h++) {
            L->core->bwd(L, &t, dout + (size_t)n * lddout + (size_t)h * W, g);
            pmat_apply_t(&L->P, u, g, din + (size_t)n * lddin + (size_t)h * d);
        }
    }
}

/* din as din_range, plus the parameter-gradient sums of tokens [n0, n1), in token order:
 * pt[j] += pos_j * sum_h dL/dangle_j (j < F; when pt) and
 * pu[i] += -2 sum_h ((x.u) g_i + (g.u) x_i) (i < d, g = core^T dy; when pu). */
static void grad_range(const lrpe *L, int layer, const float *th, const float *u, float *din, int lddin,
                       const float *dout, int lddout, const float *in, int ldi, const int32_t *pos, int n0,
                       int n1, double *pt, double *pu) {
    const int d = L->pe.dims.head_dim, H = L->pe.dims.heads, R = L->pe.dims.pos_rank, F = L->F;
    const int W = L->core->out_mult * d;
    double c[PE_MAX_HEAD_DIM], s[PE_MAX_HEAD_DIM], ph[PE_MAX_HEAD_DIM];
    float g[PE_MAX_HEAD_DIM], xt[PE_MAX_HEAD_DIM];
    int map[PE_MAX_HEAD_DIM];
    for (int n = n0; n < n1; n++) {
        const int32_t *p = pos + (size_t)n * R;
        lrpe_tok t;
        tok_init(L, th, p, layer, c, s, map, &t);
        for (int j = 0; j < F; j++) ph[j] = 0.0;
        for (int h = 0; h < H; h++) {
            const float *x = in + (size_t)n * ldi + (size_t)h * d, *dy = dout + (size_t)n * lddout + (size_t)h * W;
            L->core->bwd(L, &t, dy, g);
            pmat_apply_t(&L->P, u, g, din + (size_t)n * lddin + (size_t)h * d);
            if (pu) {
                double a = pmat_dot(x, u, d), b = pmat_dot(g, u, d);
                for (int i = 0; i < d; i++) pu[i] += -2.0 * (a * g[i] + b * x[i]);
            }
            if (pt) {
                const float *px = pmat_view(&L->P, u, x, xt);
                for (int j = 0; j < F; j++) ph[j] += L->core->dangle(L, px, dy, j, t.c[j], t.s[j]);
            }
        }
        for (int j = 0; pt && j < F; j++) pt[j] += (double)freq_pos(L, p, j) * ph[j];
    }
}

/* din += d out / d in . dout; theta and v gradients += theirs (only when learned). The parameter
 * gradients are summed per fixed chunk of tokens (the chunks depend on N and the dims, never on
 * the thread count), then over the chunks in order: bitwise the same for any thread count. */
void lrpe_qk_backward(const pe *e, const pe_qk_rows *r, const float *params, float *grads, const float *in,
                      const float *dout, float *din) {
    const int layer = r->layer, N = r->N, ldi = r->ld_in, lddin = r->ld_in, lddout = r->ld_out;
    const int32_t *pos = r->pos;
    const lrpe *L = (const lrpe *)e;
    const int d = e->dims.head_dim, H = e->dims.heads, F = L->F, W = L->core->out_mult * d;
    const float *th = theta_of(L, layer, params);
    const int learn_th = L->theta_param && e->opt.theta_learned;
    const int learn_v = L->P.kind == PE_P_HOUSEHOLDER && e->opt.householder_learned;
    const int par = (long)N * H * W >= PE_PAR_MIN;
    float u[PE_MAX_HEAD_DIM];
    double vn = unit_of(L, layer, params, u);
    angles_fill(L, th);
    if (!learn_th && !learn_v) {
#pragma omp parallel for schedule(static) if (par)
        for (int n0 = 0; n0 < N; n0 += VEC_ROWS)
            din_range(L, layer, th, u, din, lddin, dout, lddout, pos, n0, rows_end(n0, N));
        return;
    }
    const int np = (learn_th ? F : 0) + (learn_v ? d : 0), cap = PE_PART / np;
    const int nch = cap < PE_MAX_CHUNKS ? cap : PE_MAX_CHUNKS;
    double part[PE_PART];
    for (int k = 0; k < nch * np; k++) part[k] = 0.0;
#pragma omp parallel for schedule(static) if (par)
    for (int ch = 0; ch < nch; ch++) {
        double *row = part + (size_t)ch * np;
        grad_range(L, layer, th, u, din, lddin, dout, lddout, in, ldi, pos, (int)((long)N * ch / nch),
                   (int)((long)N * (ch + 1) / nch), learn_th ? row : NULL, learn_v ? row + (learn_th ? F : 0) : NULL);
    }
    double acc[2 * PE_MAX_HEAD_DIM];
    for (int k = 0; k < np; k++) {
        acc[k] = 0.0;
        for (int ch = 0; ch < nch; ch++) acc[k] += part[(size_t)ch * np + k];
    }
    if (learn_th)
        for (int j = 0; j < F; j++) grads[L->theta_off[layer] + j] += (float)acc[j];
    if (learn_v) pmat_unit_backward(grads + L->v_off[layer], acc + (learn_th ? F : 0), params + L->v_off[layer], vn, d);
}
