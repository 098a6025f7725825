/* Permutation powers by cycle decomposition, and the LRPE permutation core (see perm.h). */
#include "perm.h"

#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

/* Cycle decomposition of pi: walks each unvisited element's cycle once. */
int perm_from(pe_perm *p, const int *pi, int n) {
    p->n = n;
    p->cyc = malloc((size_t)(4 * n > 0 ? 4 * n : 1) * sizeof *p->cyc);
    if (!p->cyc) return -1;
    p->start = p->cyc + n;
    p->len = p->cyc + 2 * n;
    p->k = p->cyc + 3 * n;
    for (int i = 0; i < n; i++) p->k[i] = -1;
    int at = 0;
    for (int i = 0; i < n; i++) {
        if (p->k[i] >= 0) continue;
        int begin = at;
        for (int x = i; p->k[x] < 0; x = pi[x]) {
            p->cyc[at] = x;
            p->start[x] = begin;
            p->k[x] = at - begin;
            at++;
        }
        for (int q = begin; q < at; q++) p->len[p->cyc[q]] = at - begin;
    }
    return 0;
}

/* Fisher-Yates shuffle from the named stream, then its cycles. */
int perm_random(pe_perm *p, int n, uint64_t seed, const char *stream) {
    int *pi = malloc((size_t)(n > 0 ? n : 1) * sizeof *pi);
    if (!pi) return -1;
    rng r;
    rng_seed(&r, seed, rng_stream_id(stream));
    for (int i = 0; i < n; i++) pi[i] = i;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)rng_below(&r, (uint32_t)i + 1), t = pi[i];
        pi[i] = pi[j];
        pi[j] = t;
    }
    int rc = perm_from(p, pi, n);
    free(pi);
    return rc;
}

/* Frees the one allocation behind the four arrays. */
void perm_free(pe_perm *p) {
    free(p->cyc);
    p->cyc = NULL;
}

/* ------------------------------------------------------------------ the core */

/* The core's data: the permutations of every layer and, for pe_describe, pointers to their arrays. */
typedef struct pcore_data {
    pe_perm *pp;        /* [2 * layers] layer l: pp[2l] row (or the only) one, pp[2l + 1] column */
    const int **arrays; /* [layers * sets * 4] cyc, start, len, k of each used one (pe_data.perm) */
} pcore_data;

/* Builds 2 permutations per layer (the second unused without axes split) and the array table. */
static int pcore_init(lrpe *L, char *err, size_t errlen) {
    const pe_dims *d = &L->pe.dims;
    const int split = L->pe.opt.axes_split, hd = d->head_dim, half = split ? (hd + 1) / 2 : hd;
    const int sets = split ? 2 : 1;
    pcore_data *cd = calloc(1, sizeof *cd);
    if (!cd) return errf(err, errlen, "encoding '%s': out of memory", L->pe.vt->name);
    L->core_data = cd;
    cd->pp = calloc((size_t)2 * d->layers, sizeof *cd->pp);
    cd->arrays = calloc((size_t)4 * sets * d->layers, sizeof *cd->arrays);
    if (!cd->pp || !cd->arrays) return errf(err, errlen, "encoding '%s': out of memory", L->pe.vt->name);
    char name[128];
    for (int l = 0; l < d->layers; l++) {
        snprintf(name, sizeof name, "%s.layers.%d.perm%s", L->pe.vt->name, l, split ? ".row" : "");
        int rc = perm_random(&cd->pp[2 * l], half, d->seed, name);
        snprintf(name, sizeof name, "%s.layers.%d.perm.col", L->pe.vt->name, l);
        if (!rc) rc = perm_random(&cd->pp[2 * l + 1], hd - half, d->seed, name);
        if (rc) return errf(err, errlen, "encoding '%s': out of memory", L->pe.vt->name);
        for (int s = 0; s < sets; s++) {
            const pe_perm *p = &cd->pp[2 * l + s];
            const int **a = cd->arrays + ((size_t)l * sets + s) * 4;
            a[0] = p->cyc, a[1] = p->start, a[2] = p->len, a[3] = p->k;
        }
    }
    return 0;
}

/* Frees the permutations of every layer and the array table. */
static void pcore_fini(lrpe *L) {
    pcore_data *cd = L->core_data;
    if (!cd) return;
    for (int l = 0; cd->pp && l < L->pe.dims.layers; l++) perm_free(&cd->pp[2 * l]), perm_free(&cd->pp[2 * l + 1]);
    free(cd->pp);
    free(cd->arrays);
    free(cd);
    L->core_data = NULL;
}

/* pe_data's permutation fields: half = the row set's coordinates (ceil(d/2) with axes split, else
 * d), one or two permutations per layer. */
static void pcore_describe(const lrpe *L, pe_data *out) {
    const int d = L->pe.dims.head_dim, split = L->pe.opt.axes_split;
    out->half = split ? (d + 1) / 2 : d;
    out->perm_sets = split ? 2 : 1;
    out->perm = ((const pcore_data *)L->core_data)->arrays;
}

/* No angles, hence no theta (the ladder is never used). */
static int pcore_nfreq(int d) { return 0; }
static double pcore_ladder_e(int nf, int d, int split) { return 1.0; }

/* t->map[j] = pi^s(j) for every coordinate j: the permutation of j's half applied s times, s the
 * position of that half (once per token, shared by the heads). */
static void pcore_prep(const lrpe *L, lrpe_tok *t) {
    const int d = L->pe.dims.head_dim, half = L->pe.opt.axes_split ? (d + 1) / 2 : d;
    const pe_perm *pp = ((const pcore_data *)L->core_data)->pp + 2 * t->layer;
    for (int j = 0; j < d; j++) {
        long s = pe_axis_pos(&L->pe, t->pos, j, half);
        t->map[j] = j < half ? perm_pow(&pp[0], j, s) : half + perm_pow(&pp[1], j - half, s);
    }
}

/* y[j] = x~[pi^s(j)]. */
static void pcore_fwd(const lrpe *L, const lrpe_tok *t, const float *x, float *y) {
    for (int j = 0; j < L->pe.dims.head_dim; j++) y[j] = x[t->map[j]];
}

/* g[pi^s(j)] = dy[j] (a permutation: every g entry written once). */
static void pcore_bwd(const lrpe *L, const lrpe_tok *t, const float *dy, float *g) {
    for (int j = 0; j < L->pe.dims.head_dim; j++) g[t->map[j]] = dy[j];
}

const lrpe_core pe_perm_core = {
    .kind = PE_QK_PERMUTE, .out_mult = 1, .nfreq = pcore_nfreq, .ladder_e = pcore_ladder_e,
    .fwd = pcore_fwd, .bwd = pcore_bwd,
    .prep = pcore_prep, .init = pcore_init, .fini = pcore_fini, .describe = pcore_describe,
};
