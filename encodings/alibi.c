/* alibi (Press et al. 2022), softmax only: a fixed bias -m_h |s - t| added to the scaled scores,
 * with the standard geometric slopes (H a power of two: m_h = 2^(-8(h+1)/H); otherwise those of
 * the largest power of two c < H followed by every other slope of 2c, as the reference code).
 * With 2-D positions the distance is |dr| + |dc| (Manhattan distance on the grid). */
#include <math.h>
#include <stdlib.h>

#include "pe_internal.h"

typedef struct alibi {
    struct pe pe;
    double *slope;  /* [heads] */
    float *slope_f; /* [heads] the same, rounded to float (pe_data.alibi_slope) */
} alibi;

/* out[i] = 2^(-8(i+1)/n), i < n (n a power of two). */
static void slopes_pow2(double *out, int n) {
    for (int i = 0; i < n; i++) out[i] = pow(2.0, -8.0 * (i + 1) / n);
}

/* The ALiBi slopes of n heads into out[n]; tmp holds 2n doubles. */
static void alibi_slopes(double *out, int n, double *tmp) {
    int c = 1;
    while (2 * c <= n) c *= 2;
    slopes_pow2(out, c);
    if (c == n) return;
    slopes_pow2(tmp, 2 * c);
    for (int i = 0; i < n - c; i++) out[c + i] = tmp[2 * i];
}

/* Frees the slopes and the instance. */
static void alibi_destroy(pe *e) {
    free(((alibi *)e)->slope);
    free(((alibi *)e)->slope_f);
    free(e);
}

/* An instance with the slopes of d->heads heads (double, and float for pe_describe). */
static int alibi_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    alibi *a = pe_alloc(sizeof *a, &pe_alibi_vt, o, d, err, errlen);
    if (!a) return -1;
    a->slope = malloc((size_t)d->heads * sizeof *a->slope);
    a->slope_f = malloc((size_t)d->heads * sizeof *a->slope_f);
    double *tmp = malloc((size_t)4 * d->heads * sizeof *tmp);
    if (!a->slope || !a->slope_f || !tmp) {
        free(tmp);
        alibi_destroy(&a->pe);
        return errf(err, errlen, "encoding 'alibi': out of memory");
    }
    alibi_slopes(a->slope, d->heads, tmp);
    free(tmp);
    for (int h = 0; h < d->heads; h++) a->slope_f[h] = (float)a->slope[h];
    *out = &a->pe;
    return 0;
}

/* No parameters: nothing to register or fill. */
static int alibi_add_params(pe *e, tensor_table *tt) { return 0; }
static void alibi_init_params(const pe *e, const tensor_table *tt, float *params) {}

/* row[t] += -m_h * dist(qpos, kpos[t]) for t < nk (positions strided by pos_rank). */
static void alibi_score_bias(const pe *e, float *row, int h, const int32_t *qpos, const int32_t *kpos, int nk) {
    const double m = ((const alibi *)e)->slope[h];
    if (e->dims.pos_rank == 1) {
        for (int t = 0; t < nk; t++) row[t] += (float)(-m * labs((long)qpos[0] - kpos[t]));
    } else {
        for (int t = 0; t < nk; t++)
            row[t] += (float)(-m * (labs((long)qpos[0] - kpos[2 * t]) + labs((long)qpos[1] - kpos[2 * t + 1])));
    }
}

/* SCORE: the float slopes [heads]. */
static void alibi_describe(const pe *e, pe_data *out) { out->alibi_slope = ((const alibi *)e)->slope_f; }

const pe_vtable pe_alibi_vt = {
    .name = "alibi",
    .summary = "ALiBi: per-head linear bias -m_h |s - t| on softmax scores (softmax only)",
    .hooks = PE_HOOK_SCORE,
    .attn_ok = PE_ATTN_SOFTMAX,
    .keys = NULL,
    .create = alibi_create,
    .destroy = alibi_destroy,
    .add_params = alibi_add_params,
    .init_params = alibi_init_params,
    .score_bias = alibi_score_bias,
    .describe = alibi_describe,
};
