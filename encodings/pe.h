/* Positional encodings: one interface, one static registry (pe_lookup), one file per encoding.
 * The math is docs/encodings.md (cited as §N). An encoding has up to three hook points:
 *   EMBED  absolute: out = tok_emb * embed_scale + table[pos]       (none, sinusoidal, learned)
 *   QK     per-token transform of q and k, may widen them            (rope, lrpe-*, permuteformer,
 *          (unitary, cosformer: 2 x head_dim)                         cosformer)
 *   SCORE  a fixed bias added to softmax scores                      (alibi)
 * plus, for linear attention, a per-head decay of scores with distance (permuteformer).
 * Parameters live in the model's tensor table (kind TK_POS, names "pe.*" or "layers.L.pe.*"),
 * so the optimizer, checkpoints and gradient checks see them like any other.
 *
 * Tensor views: rows are tokens n = b*T + t; head h of row n of `in` is in[n*ldi + h*head_dim + i],
 * and of `out` is out[n*ldo + h*qk_dim + i]. Positions: pos[n*pos_rank + a] (a = 0 row / 1 col).
 * Backward functions ACCUMULATE into din and into the gradients of their parameters (the grads
 * array is parallel to params, indexed by the same table offsets). Parameter-gradient reductions
 * over tokens run in a fixed order (bitwise reproducible for any thread count).
 * Forward and backward allocate nothing, change no instance state (reentrant) and use OpenMP
 * inside; a QK backward with learned parameters keeps ~80 KB of partial sums on the caller's
 * stack.
 *
 * Parameters and their set-up: after add_params (which sets tensor_desc.frozen on fixed ones),
 * call tt_init_params(tt, params, seed) and then init_params (which fills INIT_CUSTOM theta).
 *   layers.L.pe.theta          [F]        lrpe-rotation (F = floor(d/2)), lrpe-unitary (F = d);
 *                                         frozen unless theta: learned
 *   layers.L.pe.householder_v  [head_dim] p: householder, N(0, 1) by name; frozen unless
 *                                         householder: learned
 *   pe.table                   [max_len, d_model]  learned, N(0, 0.02^2)
 * A frozen tensor's gradient is never written; the optimizer skips it.
 *
 * Layouts (details in each encoding's file):
 *   sinusoidal  [sin | cos] halves, freq_i = 10000^(-2i/w) over a table of width w = d_model;
 *               2-D: channels [0, C/2) the row's table (w = C/2), [C/2, C) the column's.
 *               embed_scale = sqrt(d_model).
 *   learned     2-D: row index row * grid_w + col.
 *   rope        half-split pairs (i, i + d/2); lrpe-rotation interleaved pairs (2j, 2j+1);
 *               lrpe-unitary / cosformer per head [d cos-or-sin part | d second part]:
 *               unitary [x cos | x sin], cosformer [x sin | x cos].
 *   axes split  (2-D, rope and lrpe-*): frequencies (permutation: coordinates) j < ceil(n/2)
 *               follow the row, the rest the column; the fixed theta is the ladder of each half
 *               on its own (axial), e.g. rope 10000^(-2i/(2m)), m = frequencies in the half.
 *               axes sum: every frequency uses row + col (the paper's vision code).
 *   cosformer   2-D: flattened index row * grid_w + col, M = max_len.
 *   alibi       2-D: distance |dr| + |dc|.
 * Positions: relative encodings accept any position >= 0 (no cap: s*theta in double, pi^s by
 * cycles); learned clamps into [0, max_len). pe_create refuses head_dim > 512.
 * An instance's opt holds the options in effect: values an encoding cannot use are reset (rope,
 * permuteformer: p identity; no theta parameter: theta fixed; P not householder: householder
 * fixed; 1-D positions: axes sum). */
#ifndef LRPE_PE_H
#define LRPE_PE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Largest head_dim (d_model / heads) an encoding accepts: per-thread vectors of this size live on
 * the stack. pe_create refuses larger head dims, and `lrpe run` refuses them when it reads a spec. */
#define PE_MAX_HEAD_DIM 512

enum { PE_HOOK_EMBED = 1u, PE_HOOK_QK = 2u, PE_HOOK_SCORE = 4u, PE_HOOK_DECAY = 8u };
enum { PE_ATTN_SOFTMAX = 1u, PE_ATTN_LINEAR = 2u };

/* The unitary / orthogonal P applied before the positional core (lrpe-*). */
typedef enum pe_pmat { PE_P_IDENTITY = 0, PE_P_HOUSEHOLDER, PE_P_DCT, PE_P_ODDEVEN } pe_pmat;

/* Options of all encodings; each encoding reads only the keys it lists (pe_vtable.keys). */
typedef struct pe_options {
    pe_pmat p;               /* key "p": identity | householder | dct | oddeven (default householder) */
    int theta_learned;       /* key "theta": fixed | learned (default fixed) */
    int householder_learned; /* key "householder": fixed | learned (default fixed) */
    int axes_split;          /* key "axes": sum | split (2-D positions; default sum) */
} pe_options;

/* The model facts an encoding is built for. */
typedef struct pe_dims {
    int d_model, heads, head_dim, layers;
    int max_len;        /* 1-D: positions are in [0, max_len) */
    int pos_rank;       /* 1: pos is t; 2: pos is (row, col) */
    int grid_h, grid_w; /* 2-D: row in [0, grid_h), col in [0, grid_w); max_len = grid_h*grid_w */
    int causal;
    unsigned attention; /* PE_ATTN_SOFTMAX or PE_ATTN_LINEAR (one bit) */
    uint64_t seed;      /* run seed: fixed random choices (permutations) derive from it */
} pe_dims;

typedef struct pe pe; /* an instance: vtable, dims, options, and its parameter indices */

/* The rows a QK transform (q or k of one layer) works on: N rows of H heads, row n at positions
 * pos[n * pos_rank ...]; which = 0 for q, 1 for k (informational: every encoding encodes q and k
 * with the same function). The input side (in, din) has rows ld_in floats apart, head h at
 * h * head_dim; the output side (out, dout) rows ld_out apart, head h at h * qk_dim. */
typedef struct pe_qk_rows {
    int layer, which, N;
    const int32_t *pos;
    int ld_in, ld_out;
} pe_qk_rows;

/* An encoding's transform as data, for a backend that cannot call the encoding's C code (a GPU):
 * every number the transform uses, in host memory owned by the instance (valid until pe_destroy;
 * parameter offsets are those add_params recorded, so describe after add_params). pe_describe
 * fills it; applying it must give what the hooks compute (tests/test_encodings.c holds a slow
 * reference that uses only this struct and the instance's public dims and opt). Per-token inputs:
 * pos as in pe_qk_rows; with 2-D positions row = pos[0], col = pos[1].
 *   EMBED  out = tok * embed_scale + table[p] (d_model floats per token); p = t in 1-D, row *
 *          grid_w + col in 2-D. sinusoidal: `table` [max_len, d_model] here (2-D: entry p holds the
 *          row's half-table then the column's, see the layouts above); p must lie in [0, max_len)
 *          (the hook computes positions beyond on the fly; the model never sends them).
 *          learned: the parameter at table_off, p clamped into [0, max_len).
 *   QK     per head of head_dim d: x~ = P x (p: identity; householder x~ = x - 2 (x.u) u with u =
 *          householder_v of the layer / (|v| + 1e-6); dct x~[k] = sum_n dct[k d + n] x[n]; oddeven
 *          x~[2k] = x[k], x~[2k+1] = x[ceil(d/2) + k]), then the core (qk):
 *            ROPE      half-split pairs (i, i+F), F = nfreq = floor(d/2)   (width d)
 *                      y[i] = x~[i] cos a_i - x~[i+F] sin a_i, y[i+F] = x~[i+F] cos a_i + x~[i] sin a_i
 *            ROTATION  interleaved pairs (2j, 2j+1), F = floor(d/2)        (width d)
 *                      y[2j] = x~[2j] cos a_j - x~[2j+1] sin a_j, y[2j+1] = x~[2j+1] cos + x~[2j] sin
 *                      (ROPE and ROTATION: an odd last coordinate passes through)
 *            UNITARY   [x~ cos a_j | x~ sin a_j], F = d                    (width 2d)
 *            PERMUTE   y[j] = x~[pi^s(j)] by the cycles below             (width d)
 *            COSFORMER [x sin a | x cos a], a = pi i / (2 max_len), i = t or row*grid_w+col (2d)
 *          with angles a_j = pos_j * theta_j (double), pos_j = pe_axis_pos(e, pos, j, half) (1-D:
 *          t; 2-D axes sum: row + col; axes split: row for j < half, col for the rest);
 *          theta_j = the layer's parameter at theta_off[layer] when that is not (size_t)-1, else
 *          theta0[j]. PERMUTE has no angles (nfreq 0): half counts coordinates (ceil(d/2) with
 *          axes split, else d) and s = pe_axis_pos(e, pos, j, half) for coordinate j.
 *   SCORE  softmax scores += -alibi_slope[h] * distance (|s - t|; 2-D |dr| + |dc|), computed as
 *          (float)(-(double)slope * distance) like attention.h's slopes.
 *   DECAY  linear attention scores (s, t) scaled by decay[h]^(s - t) (the values of vt->decay: 1
 *          when not causal; NULL: none).
 * pe_describe takes hooks, qk_dim (QK) and embed_scale (EMBED) from the vtable; a field of a hook
 * the encoding lacks is zero / NULL (none and a NULL instance: all zero). */
typedef enum pe_qk_kind {
    PE_QK_NONE = 0, PE_QK_ROPE, PE_QK_ROTATION, PE_QK_UNITARY, PE_QK_PERMUTE, PE_QK_COSFORMER
} pe_qk_kind;

typedef enum pe_embed_kind { PE_EMBED_NONE = 0, PE_EMBED_TABLE, PE_EMBED_PARAM } pe_embed_kind;

typedef struct pe_data {
    unsigned hooks;           /* PE_HOOK_* */
    int qk_dim;               /* per-head output width of QK (head_dim or 2 head_dim); 0 without QK */
    /* EMBED */
    pe_embed_kind embed;
    float embed_scale;
    const float *table;       /* PE_EMBED_TABLE: [max_len, d_model] */
    size_t table_off;         /* PE_EMBED_PARAM: offset of pe.table in the parameters */
    /* QK */
    pe_qk_kind qk;
    int nfreq, half;          /* F; with axes split, frequencies (PERMUTE: coordinates) j < half
                               * follow the row */
    const double *theta0;     /* [nfreq] the fixed ladder */
    const size_t *theta_off;  /* [layers] offset of layers.L.pe.theta, or (size_t)-1 (fixed) */
    pe_pmat p;
    const float *dct;         /* [head_dim, head_dim] (p dct): row k = k-th DCT-II basis vector */
    const size_t *v_off;      /* [layers] offset of layers.L.pe.householder_v, or (size_t)-1 */
    /* PERMUTE: per layer, `perm_sets` permutations (1, or 2 with axes split: row over coordinates
     * j < half, col over the rest, each indexed from 0 within its set), each as 4 int arrays of
     * its size n: cyc, start, len, k (perm.h), so pi^s(i) = cyc[start[i] + (k[i] + s) mod len[i]].
     * perm[(layer * perm_sets + set) * 4 + a] is array a of that permutation. */
    int perm_sets;
    const int *const *perm;
    /* SCORE, DECAY */
    const float *alibi_slope; /* [heads] or NULL */
    const float *decay;       /* [heads] or NULL */
} pe_data;

typedef struct pe_vtable {
    const char *name, *summary;
    unsigned hooks;          /* PE_HOOK_* bits */
    unsigned attn_ok;        /* PE_ATTN_* bits it supports */
    const char *const *keys; /* option keys it reads, NULL-terminated (may be NULL) */

    /* Builds an instance (no parameters yet). Returns 0, or -1 with a one-line reason. */
    int (*create)(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen);
    void (*destroy)(pe *e);
    /* Registers its parameters in tt (remembering their offsets) with frozen set on fixed
     * ones; returns 0 or -1. */
    int (*add_params)(pe *e, tensor_table *tt);
    /* Fills the parameters the table cannot (INIT_CUSTOM, e.g. theta); after tt_init_params. */
    void (*init_params)(const pe *e, const tensor_table *tt, float *params);

    /* EMBED: out[N,C] = tok[N,C] * embed_scale + table(pos); out may be tok (in place). */
    float (*embed_scale)(const pe *e);
    void (*embed_forward)(const pe *e, const float *params, float *out, const float *tok,
                          const int32_t *pos, int N);
    /* dtok[N,C] += dout * embed_scale; table grads += dout. */
    void (*embed_backward)(const pe *e, const float *params, float *grads, float *dtok,
                           const float *dout, const int32_t *pos, int N);

    /* QK: per-head output width for input width head_dim (head_dim or 2*head_dim). */
    int (*qk_dim)(const pe *e);
    /* out = encode(in) over the rows r describes; out must not overlap in. */
    void (*qk_forward)(const pe *e, const pe_qk_rows *r, const float *params, const float *in, float *out);
    /* din += d encode / d in . dout; parameter grads += d / d params. */
    void (*qk_backward)(const pe *e, const pe_qk_rows *r, const float *params, float *grads, const float *in,
                        const float *dout, float *din);

    /* SCORE (softmax only, fixed, no gradient): row[t] += bias(h, qpos, kpos[t]) for t < nk,
     * kpos strided by pos_rank; added to the already scaled scores; thread-safe. */
    void (*score_bias)(const pe *e, float *row, int h, const int32_t *qpos, const int32_t *kpos,
                       int nk);

    /* DECAY (linear attention): r_h in (0, 1]; the kernel scales the score of (s, t) by
     * r_h^(s - t) (causal, s >= t; apply it chunk-relative or in log space: r^-t overflows
     * float). Returns 1 (no decay) when dims.causal is 0. */
    float (*decay)(const pe *e, int h);

    /* The transform as data (see pe_data): the encoding's own fields, into a description that
     * pe_describe has zeroed and given hooks, qk_dim and embed_scale; others stay zero. */
    void (*describe)(const pe *e, pe_data *out);
} pe_vtable;

/* Common head of every instance; each encoding's struct starts with it. */
struct pe {
    const pe_vtable *vt;
    pe_options opt;
    pe_dims dims;
};

/* The encoding with this name, or NULL. */
const pe_vtable *pe_lookup(const char *name);
/* Number of registered encodings and encoding i (registry order), for listings. */
int pe_count(void);
const pe_vtable *pe_at(int i);

/* Default options: p householder, theta fixed, householder fixed, axes sum. */
pe_options pe_options_default(void);
/* Sets option key to value ("p" = "dct", ...); returns 0, or -1 with a one-line reason naming the
 * valid values. */
int pe_options_set(pe_options *o, const char *key, const char *value, char *err, size_t errlen);
/* The text of an option's current value and the list of valid values, for listings. */
const char *pe_option_value(const pe_options *o, const char *key);
const char *pe_option_choices(const char *key);

/* Builds encoding `name` for the model described by d, after checking that it supports the
 * attention (a one-line reason naming both otherwise). Returns 0 or -1. */
int pe_create(pe **out, const char *name, const pe_options *o, const pe_dims *d, char *err,
              size_t errlen);
void pe_destroy(pe *e);
/* *out = e's transform as data (pe_data); NULL e gives an all-zero description (no encoding). */
void pe_describe(const pe *e, pe_data *out);

/* The position a coordinate pair/index uses, for 1-D or 2-D positions (docs/encodings.md §5):
 * 1-D: pos[0]; 2-D with axes sum: row + col; with axes split: row for the first half of the
 * frequencies (j < half), col for the second half. */
static inline int pe_axis_pos(const pe *e, const int32_t *pos, int j, int half) {
    if (e->dims.pos_rank == 1) return pos[0];
    if (!e->opt.axes_split) return pos[0] + pos[1];
    return j < half ? pos[0] : pos[1];
}

/* PermuteFormer's per-head recency decay r_h = sigmoid(3h/H + 2) of head h of `heads` (0.88 ..
 * 0.99): what permuteformer applies, and what model.decay = per-head gives any encoding. */
float pe_recency_decay(int h, int heads);

#endif
