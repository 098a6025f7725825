/* sinusoidal (absolute, Vaswani et al.): out = tok * sqrt(C) + pe[pos], C = d_model.
 * Layout (two halves, docs/encodings.md §3): for a table of width w, h = floor(w/2),
 * f_i = 10000^(-2i/w): channel i < h holds sin(pos f_i), channel h + i holds cos(pos f_i); an odd
 * w leaves its last channel 0. 1-D: one table of width C. 2-D: channels [0, C/2) hold the table of
 * the row (width C/2) and channels [C/2, C) that of the column (width C - C/2).
 * Scale: a unit-amplitude table swamps token embeddings initialised with std 0.02, so the token
 * embeddings are multiplied by sqrt(C) (embed_scale), as the original Transformer and fairseq.
 * The tables are precomputed up to max_len (1-D) or grid_h / grid_w (2-D) rows; positions beyond
 * are computed on the fly (no cap). No parameters. For pe_describe the instance also keeps the
 * whole table [max_len, C] (1-D: the axis table itself; 2-D: row p = row * grid_w + col holds the
 * row's half-table entry then the column's). */
#include <math.h>
#include <stdlib.h>

#include "pe_internal.h"

typedef struct sinus {
    struct pe pe;
    int axes;                     /* 1 or 2 */
    int off[2], width[2], rows[2]; /* channel offset, table width and rows of each axis */
    float *tab[2];                /* [rows, width] */
    float *full;                  /* 2-D: [max_len, C] the flattened table (pe_data.table) */
} sinus;

/* Channel i of the width-w table at position p, in double. */
static double sin_value(long p, int i, int w) {
    int h = w / 2;
    if (i >= 2 * h) return 0.0;
    int k = i < h ? i : i - h;
    double a = (double)p * pow(10000.0, -2.0 * k / w);
    return i < h ? sin(a) : cos(a);
}

/* Frees the tables and the instance. */
static void sin_destroy(pe *e) {
    sinus *s = (sinus *)e;
    free(s->tab[0]);
    free(s->tab[1]);
    free(s->full);
    free(s);
}

/* Lays out the axes (1-D: one of width C; 2-D: row then column) and tabulates them. */
static int sin_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    sinus *s = pe_alloc(sizeof *s, &pe_sinusoidal_vt, o, d, err, errlen);
    if (!s) return -1;
    const int C = d->d_model;
    s->axes = d->pos_rank;
    if (s->axes == 1) {
        s->width[0] = C, s->rows[0] = d->max_len;
    } else {
        s->width[0] = C / 2, s->rows[0] = d->grid_h;
        s->off[1] = C / 2, s->width[1] = C - C / 2, s->rows[1] = d->grid_w;
    }
    for (int a = 0; a < s->axes; a++) {
        s->tab[a] = malloc((size_t)s->rows[a] * (s->width[a] > 0 ? s->width[a] : 1) * sizeof(float));
        if (!s->tab[a]) {
            sin_destroy(&s->pe);
            return errf(err, errlen, "encoding 'sinusoidal': out of memory");
        }
        for (int p = 0; p < s->rows[a]; p++)
            for (int i = 0; i < s->width[a]; i++)
                s->tab[a][(size_t)p * s->width[a] + i] = (float)sin_value(p, i, s->width[a]);
    }
    if (s->axes == 2) { /* flattened index p = row * grid_w + col; values as the forward's */
        s->full = malloc((size_t)d->max_len * C * sizeof *s->full);
        if (!s->full) {
            sin_destroy(&s->pe);
            return errf(err, errlen, "encoding 'sinusoidal': out of memory");
        }
        for (int p = 0; p < d->max_len; p++) {
            const long at[2] = {p / d->grid_w, p % d->grid_w};
            for (int a = 0; a < 2; a++)
                for (int i = 0; i < s->width[a]; i++)
                    s->full[(size_t)p * C + s->off[a] + i] =
                        at[a] < s->rows[a] ? s->tab[a][(size_t)at[a] * s->width[a] + i]
                                           : (float)sin_value(at[a], i, s->width[a]);
        }
    }
    *out = &s->pe;
    return 0;
}

/* No parameters; the token embeddings are scaled by sqrt(d_model). */
static int sin_add_params(pe *e, tensor_table *tt) { return 0; }
static void sin_init_params(const pe *e, const tensor_table *tt, float *params) {}
static float sin_embed_scale(const pe *e) { return sqrtf((float)e->dims.d_model); }

/* out[N,C] = tok * sqrt(C) + table(pos) (out may be tok). */
static void sin_embed_forward(const pe *e, const float *params, float *out, const float *tok,
                              const int32_t *pos, int N) {
    const sinus *s = (const sinus *)e;
    const int C = e->dims.d_model, R = e->dims.pos_rank;
    const float scale = sin_embed_scale(e);
#pragma omp parallel for schedule(static) if ((long)N * C >= PE_PAR_MIN)
    for (int n = 0; n < N; n++) {
        for (int a = 0; a < s->axes; a++) {
            long p = pos[(size_t)n * R + a];
            const int w = s->width[a];
            const float *row = p >= 0 && p < s->rows[a] ? s->tab[a] + (size_t)p * w : NULL;
            for (int i = 0; i < w; i++) {
                size_t k = (size_t)n * C + s->off[a] + i;
                out[k] = tok[k] * scale + (row ? row[i] : (float)sin_value(p, i, w));
            }
        }
    }
}

/* dtok[N,C] += dout * sqrt(C). */
static void sin_embed_backward(const pe *e, const float *params, float *grads, float *dtok,
                               const float *dout, const int32_t *pos, int N) {
    const size_t n = (size_t)N * e->dims.d_model;
    const float scale = sin_embed_scale(e);
    for (size_t i = 0; i < n; i++) dtok[i] += dout[i] * scale;
}

/* EMBED from the instance's table [max_len, C] (see the top of the file). */
static void sin_describe(const pe *e, pe_data *out) {
    const sinus *s = (const sinus *)e;
    out->embed = PE_EMBED_TABLE;
    out->table = s->axes == 1 ? s->tab[0] : s->full;
}

const pe_vtable pe_sinusoidal_vt = {
    .name = "sinusoidal",
    .summary = "absolute sin/cos table (two halves) added to tok * sqrt(d_model); 2-D: half row, half col",
    .hooks = PE_HOOK_EMBED,
    .attn_ok = PE_ATTN_SOFTMAX | PE_ATTN_LINEAR,
    .keys = NULL,
    .create = sin_create,
    .destroy = sin_destroy,
    .add_params = sin_add_params,
    .init_params = sin_init_params,
    .embed_scale = sin_embed_scale,
    .embed_forward = sin_embed_forward,
    .embed_backward = sin_embed_backward,
    .describe = sin_describe,
};
