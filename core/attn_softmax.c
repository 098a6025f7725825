/* Softmax attention, flash-attention style in memory: per (batch, head), queries are processed in
 * tiles of ATTN_TILE rows; only the row log-sum-exp is kept for backward, which recomputes the
 * scores. Working memory per thread: two (ATTN_TILE x T) blocks and one head's rows (head_rows),
 * never T x T per layer. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "fastmath.h"
#include "gemm.h"
#include "threads.h"
#include "vec.h"

#define ATTN_TILE 64

static size_t softmax_saved(const attn_shape *s) { return (size_t)s->B * s->H * s->T; }

/* The row stride of a head's K^T and V^T: T rounded up to 16, plus 16, so that rows a multiple of
 * 4 KB apart do not share cache sets. */
static int kt_stride(int T) { return (T + 15) / 16 * 16 + 16; }

/* One thread's working memory: the tiles' two blocks, then the head's rows (head_rows); rounded
 * up to 16 floats, so that every thread's starts at thread 0's alignment. */
static size_t thread_scratch(const attn_shape *s) {
    const size_t n = (size_t)2 * ATTN_TILE * s->T + (size_t)(s->dqk + s->dv) * (kt_stride(s->T) + 3 * s->T);
    return (n + 15) / 16 * 16;
}

/* One (sequence, head)'s q, k, v and dout in the forms its products read in place, made once per
 * head rather than per tile: K^T and V^T (rows ldt apart), and K, V, Q and dO with their rows side
 * by side, where dK and dV are accumulated too (in the layer's buffers the rows lie 1-3 KB apart,
 * which the caches and the hardware's prefetcher serve badly). The forward uses kt and v. */
typedef struct head_rows {
    float *kt, *vt, *k, *v, *q, *dout, *dk, *dv;
    int ldt;
} head_rows;

/* The head_rows in a thread's working memory past its two tile blocks (tiles). */
static head_rows head_rows_at(const attn_shape *s, float *tiles) {
    head_rows w = {.ldt = kt_stride(s->T)};
    w.kt = tiles + (size_t)2 * ATTN_TILE * s->T;
    w.vt = w.kt + (size_t)s->dqk * w.ldt;
    w.k = w.vt + (size_t)s->dv * w.ldt;
    w.q = w.k + (size_t)s->T * s->dqk;
    w.v = w.q + (size_t)s->T * s->dqk;
    w.dout = w.v + (size_t)s->T * s->dv;
    w.dk = w.dout + (size_t)s->T * s->dv;
    w.dv = w.dk + (size_t)s->T * s->dqk;
    return w;
}

/* Rows r < rows of cols floats from src (rows lds apart) to dst (ldd apart); the source row 8
 * further on fetched meanwhile (rows kilobytes apart defeat the hardware's prefetcher). The same
 * job as gemm_small.c's pack_rows, whose masked vector loop made these copies slower (attention
 * 0.986-0.993x in pairs). */
static void copy_rows(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        if (r + 8 < rows)
            for (int c = 0; c < cols; c += 16) __builtin_prefetch(src + (size_t)(r + 8) * lds + c);
        memcpy(dst + (size_t)r * ldd, src + (size_t)r * lds, sizeof *dst * cols);
    }
}

/* The threads a call runs: its team, at most one per (sequence, head), so that working memory for
 * more is never needed (a long sequence on many cores). */
static int team_for(const attn_shape *s, int nthreads) {
    const long bh = (long)s->B * s->H;
    return bh < nthreads ? (int)(bh > 0 ? bh : 1) : nthreads;
}

static size_t softmax_scratch(const attn_shape *s, int nthreads) {
    return (size_t)team_for(s, nthreads) * thread_scratch(s);
}

/* The ALiBi distance between the tokens at positions a and b (pos_rank ints each): |a - b| in 1-D,
 * |dr| + |dc| (Manhattan) in 2-D; in long, as encodings/alibi.c computes it. */
static long alibi_dist(const int32_t *a, const int32_t *b, int pos_rank) {
    long d = labs((long)a[0] - b[0]);
    if (pos_rank == 2) d += labs((long)a[1] - b[1]);
    return d;
}

/* Keys [0, row_keys) of the nk in a tile that query row s0 + r may see: all, or when causal those
 * up to the query. */
static inline int row_keys(int causal, int s0, int r, int nk) { return causal && s0 + r + 1 < nk ? s0 + r + 1 : nk; }

/* The keys the passes below compute for a row that sees n of nk: n rounded up to whole groups of
 * LSE_LANES (so the lanes' loops have no scalar tail), at most nk. */
static inline int row_span(int n, int nk) {
    const int up = (n + LSE_LANES - 1) / LSE_LANES * LSE_LANES;
    return up < nk ? up : nk;
}

/* What the products may skip (core/gemm.h): `tri` where attention is causal, since the mask makes
 * those terms 0; nothing otherwise. */
static inline gemm_tri masked(const attn_shape *sh, gemm_tri tri) { return sh->causal ? tri : GEMM_FULL; }

/* Scores of query rows [s0, s0+R) of batch row b, head h (q: theirs, rows ldq apart) against keys
 * [0, nk) (kt: K^T, rows ldt apart):
 * S[R, nk] = scale * Q K^T - slopes[h] * dist(pos of query, pos of key) (when slopes), with
 * padding keys at -inf; when causal, the keys after the query up to the row's span at -inf too, and
 * past the span nothing is computed (never read as scores: see tile_softmax; the row's span,
 * whole groups of LSE_LANES = 16 from the tile's start at a multiple of 16, is what
 * gemm_small_tri's GEMM_C_LOWER computes).
 * The bias is (float)(-(double)slope * dist), the arithmetic of encodings/alibi.c's score_bias. */
static void tile_scores(const attn_shape *sh, float *S, const float *q, int ldq, const float *kt, int ldt,
                        const uint8_t *valid_b, int b, int h, int s0, int R, int nk) {
    gemm_small_tri(GEMM_N, GEMM_N, masked(sh, GEMM_C_LOWER), s0, R, nk, sh->dqk, sh->scale, q, ldq, kt, ldt, 0.0f, S,
                   nk);
    const int pr = sh->pos_rank;
    const double slope = sh->slopes ? (double)sh->slopes[h] : 0.0;
    const int32_t *pos_b = sh->slopes ? sh->pos + (size_t)b * sh->T * pr : NULL;
    for (int r = 0; r < R; r++) {
        float *row = S + (size_t)r * nk;
        if (pos_b) {
            const int32_t *qp = pos_b + (size_t)(s0 + r) * pr;
            const int seen = row_keys(sh->causal, s0, r, nk);
            for (int t = 0; t < seen; t++) row[t] += (float)(-slope * alibi_dist(qp, pos_b + (size_t)t * pr, pr));
        }
        if (sh->causal) {
            const int span = row_span(row_keys(1, s0, r, nk), nk);
            for (int t = s0 + r + 1; t < span; t++) row[t] = -INFINITY;
        }
        if (valid_b)
            for (int t = 0; t < nk; t++)
                if (!valid_b[t]) row[t] = -INFINITY;
    }
}

/* Turns each score row of S[R, nk] (query rows from s0) into probabilities in place, lse[r] its
 * log-sum-exp (-inf, and zeros, for a row that sees no key). A causal row is computed up to its
 * span (tile_scores set the keys past the query in it to -inf), the rest written 0: the same bits
 * as over the whole row with -inf there, since e^-inf adds 0. (Writing the -inf here, just before
 * the row's vector loads read them, made the pass slower than computing the whole row.) */
LRPE_VEC static void tile_softmax(float *S, float *lse, int R, int nk, int causal, int s0) {
    for (int r = 0; r < R; r++) {
        float *row = S + (size_t)r * nk;
        const int span = row_span(row_keys(causal, s0, r, nk), nk);
        lse[r] = lrpe_softmax_row(row, span);
        for (int t = span; t < nk; t++) row[t] = 0.0f;
    }
}

/* The probabilities of S[R, nk] again from each row's saved log-sum-exp, in place (backward). */
LRPE_VEC static void tile_probs(float *S, const float *lse, int R, int nk, int causal, int s0) {
    for (int r = 0; r < R; r++) {
        float *row = S + (size_t)r * nk;
        const int n = isinf(lse[r]) ? 0 : row_keys(causal, s0, r, nk), span = row_span(n, nk); /* n 0: no key */
        const float l = lse[r];
        for (int t = 0; t < span; t++) row[t] = lrpe_exp_or_zero(row[t] - l); /* -inf past n: 0 */
        for (int t = span; t < nk; t++) row[t] = 0.0f;
    }
}

/* dS = P * (dP - rowsum(dO * O)) * scale over a tile (query rows from s0), written over dP[R, nk];
 * dO's rows lddo apart, O's ldo. A causal row is computed up to its span (dP is computed that far)
 * and written 0 past it, where P is 0. */
LRPE_VEC static void tile_dscores(float *dP, const float *P, const float *dout, int lddo, const float *o, int ldo,
                                  int dv, int R, int nk, float scale, int causal, int s0) {
    for (int r = 0; r < R; r++) {
        const float *dor = dout + (size_t)r * lddo, *orow = o + (size_t)r * ldo;
        float D = 0.0f;
        for (int i = 0; i < dv; i++) D += dor[i] * orow[i];
        const float *prow = P + (size_t)r * nk;
        float *drow = dP + (size_t)r * nk;
        const int span = row_span(row_keys(causal, s0, r, nk), nk);
        for (int t = 0; t < span; t++) drow[t] = prow[t] * (drow[t] - D) * scale;
        for (int t = span; t < nk; t++) drow[t] = 0.0f;
    }
}

static void softmax_forward(const attn_shape *sh, float *o, float *saved, const float *q,
                            const float *k, const float *v, const uint8_t *valid, float *scratch) {
    const int B = sh->B, T = sh->T, H = sh->H;
#pragma omp parallel for num_threads(team_for(sh, threads_team(sh->threads))) schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *S = scratch + (size_t)omp_get_thread_num() * thread_scratch(sh);
        const head_rows w = head_rows_at(sh, S);
        const uint8_t *valid_b = valid ? valid + (size_t)b * T : NULL;
        float *lse_bh = saved + (size_t)bh * T;
        gemm_transpose(w.kt, w.ldt, k + (size_t)b * T * sh->ldk + (size_t)h * sh->dqk, sh->ldk, T, sh->dqk);
        copy_rows(w.v, sh->dv, v + (size_t)b * T * sh->ldv + (size_t)h * sh->dv, sh->ldv, T, sh->dv);
        for (int s0 = 0; s0 < T; s0 += ATTN_TILE) {
            int R = s0 + ATTN_TILE < T ? ATTN_TILE : T - s0;
            int nk = sh->causal ? s0 + R : T;
            const float *qt = q + ((size_t)b * T + s0) * sh->ldq + (size_t)h * sh->dqk;
            tile_scores(sh, S, qt, sh->ldq, w.kt, w.ldt, valid_b, b, h, s0, R, nk);
            tile_softmax(S, lse_bh + s0, R, nk, sh->causal, s0);
            float *ot = o + ((size_t)b * T + s0) * sh->ldo + (size_t)h * sh->dv;
            /* causal: a row's probabilities are 0 past its query, so P V skips those keys */
            gemm_small_tri(GEMM_N, GEMM_N, masked(sh, GEMM_LOWER), s0, R, sh->dv, nk, 1.0f, S, nk, w.v, sh->dv, 0.0f,
                           ot, sh->ldo);
        }
    }
}

static void softmax_backward(const attn_shape *sh, float *dq, float *dk, float *dv,
                             const float *dout, const float *o, const float *saved, const float *q,
                             const float *k, const float *v, const uint8_t *valid, float *scratch) {
    const int B = sh->B, T = sh->T, H = sh->H;
#pragma omp parallel for num_threads(team_for(sh, threads_team(sh->threads))) schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *P = scratch + (size_t)omp_get_thread_num() * thread_scratch(sh);
        float *dP = P + (size_t)ATTN_TILE * T;
        const head_rows w = head_rows_at(sh, P);
        const uint8_t *valid_b = valid ? valid + (size_t)b * T : NULL;
        const size_t qofs = (size_t)b * T * sh->ldq + (size_t)h * sh->dqk;
        const size_t kofs = (size_t)b * T * sh->ldk + (size_t)h * sh->dqk;
        const size_t vofs = (size_t)b * T * sh->ldv + (size_t)h * sh->dv;
        const size_t oofs = (size_t)b * T * sh->ldo + (size_t)h * sh->dv;
        const float *lse_bh = saved + (size_t)bh * T;
        gemm_transpose(w.kt, w.ldt, k + kofs, sh->ldk, T, sh->dqk);
        gemm_transpose(w.vt, w.ldt, v + vofs, sh->ldv, T, sh->dv);
        copy_rows(w.k, sh->dqk, k + kofs, sh->ldk, T, sh->dqk);
        copy_rows(w.q, sh->dqk, q + qofs, sh->ldq, T, sh->dqk);
        copy_rows(w.dout, sh->dv, dout + oofs, sh->ldo, T, sh->dv);
        copy_rows(w.dk, sh->dqk, dk + kofs, sh->ldk, T, sh->dqk);
        copy_rows(w.dv, sh->dv, dv + vofs, sh->ldv, T, sh->dv);
        /* causal: P and dS are 0 past a row's query, so their products skip those terms, and dP is
         * computed only up to the row's span (all tile_dscores reads) */
        const gemm_tri lower = masked(sh, GEMM_LOWER), upper = masked(sh, GEMM_UPPER);
        const gemm_tri c_lower = masked(sh, GEMM_C_LOWER);
        for (int s0 = 0; s0 < T; s0 += ATTN_TILE) {
            int R = s0 + ATTN_TILE < T ? ATTN_TILE : T - s0;
            int nk = sh->causal ? s0 + R : T;
            const size_t qt = qofs + (size_t)s0 * sh->ldq, ot = oofs + (size_t)s0 * sh->ldo;
            const float *qc = w.q + (size_t)s0 * sh->dqk, *doc = w.dout + (size_t)s0 * sh->dv;
            tile_scores(sh, P, qc, sh->dqk, w.kt, w.ldt, valid_b, b, h, s0, R, nk);
            tile_probs(P, lse_bh + s0, R, nk, sh->causal, s0);
            /* dV += P^T dO */
            gemm_small_tri(GEMM_T, GEMM_N, upper, s0, nk, sh->dv, R, 1.0f, P, nk, doc, sh->dv, 1.0f, w.dv, sh->dv);
            /* dP = dO V^T */
            gemm_small_tri(GEMM_N, GEMM_N, c_lower, s0, R, nk, sh->dv, 1.0f, doc, sh->dv, w.vt, w.ldt, 0.0f, dP, nk);
            tile_dscores(dP, P, doc, sh->dv, o + ot, sh->ldo, sh->dv, R, nk, sh->scale, sh->causal, s0);
            /* dQ += dS K; dK += dS^T Q */
            gemm_small_tri(GEMM_N, GEMM_N, lower, s0, R, sh->dqk, nk, 1.0f, dP, nk, w.k, sh->dqk, 1.0f, dq + qt,
                           sh->ldq);
            gemm_small_tri(GEMM_T, GEMM_N, upper, s0, nk, sh->dqk, R, 1.0f, dP, nk, qc, sh->dqk, 1.0f, w.dk, sh->dqk);
        }
        copy_rows(dk + kofs, sh->ldk, w.dk, sh->dqk, T, sh->dqk);
        copy_rows(dv + vofs, sh->ldv, w.dv, sh->dv, T, sh->dv);
    }
}

const attn_kernel attn_softmax = {
    .name = "softmax",
    .saved_floats = softmax_saved,
    .scratch_floats = softmax_scratch,
    .forward = softmax_forward,
    .backward = softmax_backward,
};
