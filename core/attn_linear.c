/* Linear attention, numerator only: o_s = sum_t (q_s . k_t) v_t over valid keys (t <= s when
 * causal, scaled by r_h^(s-t) with a per-head decay), no scale and no normalisation (the model
 * normalises after). Causal: chunks of LINATTN_CHUNK tokens per (batch, head), never T x T:
 *   O_i = Q~_i S + (tril(Q_i K_i^T) o M) V_i;  S = r^n S + K~_i^T V_i
 * with S the recurrent state at the chunk start, M[s,t] = r^(s-t), Q~ rows scaled r^(s-a+1) and
 * K~ rows r^(e-1-t) (chunk [a, e), n = e - a): every exponent stays <= n, nothing overflows for
 * any T. Bidirectional: KV = sum_t k_t v_t^T, o_s = q_s KV; the decay is IGNORED there (r = 1,
 * as the authors' bidirectional code). Padding keys are zeroed in per-chunk copies of K and V;
 * padded queries still get an output (from the valid keys). The forward saves the state S at the start of
 * every segment of LINATTN_SEGMENT tokens after the first (dqk x dv floats per segment, 1/16 of q
 * per token at head dim 64). The backward goes through the segments from the last to the first:
 * in each, a forward sweep from the saved S gives dQ, then a reverse sweep carrying
 * D = sum_{s >= e} r^(s-e+1) q_s do_s^T (across segments) gives dK and dV, so both sweeps read a
 * segment that is still in cache: the time per token stays flat in T.
 * Work units are a batch row and a group of heads (head_group); one thread owns each unit and the
 * products (gemm_small) run single-threaded inside the parallel loop: the same bits for any thread
 * count. */
#include "gemm.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#include "attention.h"
#include "threads.h"

/* Tokens per chunk: 32 rather than 64 halves the products inside chunks; forward + backward of a
 * shard's attention, timed in pairs against 64 on one thread, ran 1.04-1.13x as fast at head dims
 * 64 and 16 (chunks of 16: 0.98-1.09x); the GPU's chunks stay 64 (backend/cuda/linattn.cu). */
#define LINATTN_CHUNK 32
#define LINATTN_SEGMENT 256 /* a multiple of the chunk; 128 measured no better (bench/attn_scaling) */

/* One thread's working memory: for each head of its group (at most H), states S, D [dqk, dv] and
 * decay powers pw[c + 1] (head g at S + g dqk dv, pw + g (c + 1)); shared by the group: chunk
 * products A, P [c, c]; row copies Kc, Kd, Qd [c, dqk] and Vc, Vd, dOd [c, dv]. */
typedef struct lin_ws {
    float *S, *D, *pw, *A, *P, *Kc, *Kd, *Qd, *Vc, *Vd, *dOd;
} lin_ws;

/* Floats of one thread's lin_ws, rounded up to 16 (64 bytes) so every thread's block has the
 * same alignment as thread 0's. */
static size_t ws_floats(const attn_shape *s) {
    size_t c = LINATTN_CHUNK, dqk = (size_t)s->dqk, dv = (size_t)s->dv, H = (size_t)s->H;
    size_t n = H * (2 * dqk * dv + c + 1) + 2 * c * c + 3 * c * dqk + 3 * c * dv;
    return (n + 15) / 16 * 16;
}

/* Carves thread `tid`'s lin_ws out of scratch. */
static lin_ws ws_carve(const attn_shape *s, float *scratch, int tid) {
    size_t c = LINATTN_CHUNK, dqk = (size_t)s->dqk, dv = (size_t)s->dv, H = (size_t)s->H;
    float *p = scratch + (size_t)tid * ws_floats(s);
    lin_ws w;
    w.S = p, p += H * dqk * dv;
    w.D = p, p += H * dqk * dv;
    w.pw = p, p += H * (c + 1);
    w.A = p, p += c * c;
    w.P = p, p += c * c;
    w.Kc = p, p += c * dqk;
    w.Kd = p, p += c * dqk;
    w.Qd = p, p += c * dqk;
    w.Vc = p, p += c * dv;
    w.Vd = p, p += c * dv;
    w.dOd = p;
    return w;
}

/* Heads per work unit: all H when the batch alone keeps every thread busy, else the largest
 * divisor of H that still gives each thread a unit. A unit walks its rows once, chunk by chunk,
 * doing all its heads at each chunk, so the rows it reads are used whole while in cache (one head
 * at a time over a long sequence fetched every row once per head). The arithmetic of each head
 * is the same whatever the grouping: results do not depend on the thread count. */
static int head_group(const attn_shape *s) {
    const int threads = omp_get_max_threads();
    int G = s->H;
    while (G > 1 && (s->H % G != 0 || (long)s->B * (s->H / G) < threads)) G--;
    return G;
}

/* Segments after the first of a causal (batch, head): their start states are saved. */
static int later_segments(const attn_shape *s) { return s->causal ? (s->T - 1) / LINATTN_SEGMENT : 0; }

/* The state at the start of every segment but the first, per (batch, head). */
static size_t linear_saved(const attn_shape *s) {
    return (size_t)s->B * s->H * later_segments(s) * s->dqk * s->dv;
}

/* The saved start state of segment seg >= 1 of (b, h). */
static float *saved_state(const attn_shape *s, float *saved, int b, int h, int seg) {
    return saved + (((size_t)b * s->H + h) * later_segments(s) + (seg - 1)) * s->dqk * s->dv;
}

/* One lin_ws per thread: O(chunk^2 + chunk (dqk + dv) + H dqk dv) floats, independent of T. */
static size_t linear_scratch(const attn_shape *s, int nthreads) { return (size_t)nthreads * ws_floats(s); }

/* Rows j < n of src[n, w] (stride lds) as a view: row j zeroed where vmask[j] == 0 (vmask may be
 * NULL) and scaled by sc[dir * j] (sc may be NULL). Returns src itself when nothing changes,
 * else buf [n, w]; *ld receives the view's stride. */
static const float *rows_view(float *buf, int *ld, const float *src, int lds, int n, int w,
                              const uint8_t *vmask, const float *sc, int dir) {
    if (!vmask && !sc) {
        *ld = lds;
        return src;
    }
    for (int j = 0; j < n; j++) {
        float *dst = buf + (size_t)j * w;
        const float *row = src + (size_t)j * lds;
        if (vmask && !vmask[j]) {
            memset(dst, 0, sizeof *dst * (size_t)w);
            continue;
        }
        float f = sc ? sc[dir * j] : 1.0f;
        for (int i = 0; i < w; i++) dst[i] = row[i] * f;
    }
    *ld = w;
    return buf;
}

/* A[n, n] o= M: entries above the diagonal zeroed, A[s, t] *= pw[s - t] below (pw NULL: 1). */
static void causal_decay(float *A, int n, const float *pw) {
    for (int s = 0; s < n; s++) {
        float *row = A + (size_t)s * n;
        if (pw)
            for (int t = 0; t <= s; t++) row[t] *= pw[s - t];
        for (int t = s + 1; t < n; t++) row[t] = 0.0f;
    }
}

/* pw[j] = r^j, j <= LINATTN_CHUNK, for the head's decay; NULL when there is none. */
static const float *decay_powers(const attn_shape *sh, float *pw, int h) {
    if (!sh->decay) return NULL;
    for (int j = 0; j <= LINATTN_CHUNK; j++) pw[j] = (float)pow((double)sh->decay[h], j);
    return pw;
}

/* Per (batch, head) pointers: the chunk at token a of each view. */
typedef struct bh_ptrs {
    const float *q, *k, *v, *dout;
    float *o, *dq, *dk, *dv;
    const uint8_t *valid;
} bh_ptrs;

/* The views of (b, h) shifted to token 0 of batch row b (NULL stays NULL). */
static bh_ptrs bh_at(const attn_shape *sh, int b, int h, const float *q, const float *k, const float *v,
                     const float *dout, float *o, float *dq, float *dk, float *dv, const uint8_t *valid) {
    size_t row = (size_t)b * sh->T;
    size_t qo = row * sh->ldq + (size_t)h * sh->dqk, ko = row * sh->ldk + (size_t)h * sh->dqk;
    size_t vo = row * sh->ldv + (size_t)h * sh->dv, oo = row * sh->ldo + (size_t)h * sh->dv;
    bh_ptrs p = {q + qo, k + ko, v + vo, dout ? dout + oo : NULL, o ? o + oo : NULL,
                 dq ? dq + qo : NULL, dk ? dk + ko : NULL, dv ? dv + vo : NULL, valid ? valid + row : NULL};
    return p;
}

/* S[dqk, dv] = beta S + K^T V over the n rows of K (ldk) and V (ldv). */
static void state_add(const attn_shape *sh, float *S, float beta, const float *K, int ldk, const float *V,
                      int ldv, int n) {
    gemm_small(GEMM_T, GEMM_N, sh->dqk, sh->dv, n, 1.0f, K, ldk, V, ldv, beta, S, sh->dv);
}

/* The chunk [a, a + n) of one head's causal forward: O_i = (tril(Q_i K_i^T) o M) V_i + Q~_i S,
 * then S = r^n S + K~_i^T V_i unless it is the last chunk. */
static void forward_chunk(const attn_shape *sh, const lin_ws *w, float *S, const float *pw, const bh_ptrs *p, int a) {
    const int T = sh->T, dqk = sh->dqk, dv = sh->dv, n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK;
    int ldkc, ldq;
    const float *qi = p->q + (size_t)a * sh->ldq, *vi = p->v + (size_t)a * sh->ldv;
    float *oi = p->o + (size_t)a * sh->ldo;
    const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk,
                                p->valid ? p->valid + a : NULL, NULL, 0);
    gemm_small_tri(GEMM_N, GEMM_T, GEMM_C_LOWER, 0, n, n, dqk, 1.0f, qi, sh->ldq, Kc, ldkc, 0.0f, w->A, n);
    causal_decay(w->A, n, pw);
    gemm_small_tri(GEMM_N, GEMM_N, GEMM_LOWER, 0, n, dv, n, 1.0f, w->A, n, vi, sh->ldv, 0.0f, oi, sh->ldo);
    if (a > 0) {
        const float *Q = rows_view(w->Qd, &ldq, qi, sh->ldq, n, dqk, NULL, pw ? pw + 1 : NULL, 1);
        gemm_small(GEMM_N, GEMM_N, n, dv, dqk, 1.0f, Q, ldq, S, dv, 1.0f, oi, sh->ldo);
    }
    if (a + n < T) {
        int ldkd;
        const float *Kd = rows_view(w->Kd, &ldkd, Kc, ldkc, n, dqk, NULL, pw ? pw + n - 1 : NULL, -1);
        state_add(sh, S, pw ? pw[n] : 1.0f, Kd, ldkd, vi, sh->ldv, n);
    }
}

/* The chunk at a of one head's backward forward sweep: dQ_i += (tril(dO_i V_i^T) o M) K_i +
 * dO~_i S^T, then S advances unless the chunk ends the segment (at a1). */
static void dq_chunk(const attn_shape *sh, const lin_ws *w, float *S, const float *pw, const bh_ptrs *p, int a,
                     int a1) {
    const int T = sh->T, dqk = sh->dqk, dv = sh->dv, n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK;
    int ldkc, lddo;
    const float *vi = p->v + (size_t)a * sh->ldv, *doi = p->dout + (size_t)a * sh->ldo;
    float *dqi = p->dq + (size_t)a * sh->ldq;
    const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk,
                                p->valid ? p->valid + a : NULL, NULL, 0);
    gemm_small_tri(GEMM_N, GEMM_T, GEMM_C_LOWER, 0, n, n, dv, 1.0f, doi, sh->ldo, vi, sh->ldv, 0.0f, w->P, n);
    causal_decay(w->P, n, pw);
    gemm_small_tri(GEMM_N, GEMM_N, GEMM_LOWER, 0, n, dqk, n, 1.0f, w->P, n, Kc, ldkc, 1.0f, dqi, sh->ldq);
    if (a > 0) {
        const float *dO = rows_view(w->dOd, &lddo, doi, sh->ldo, n, dv, NULL, pw ? pw + 1 : NULL, 1);
        gemm_small(GEMM_N, GEMM_T, n, dqk, dv, 1.0f, dO, lddo, S, dv, 1.0f, dqi, sh->ldq);
    }
    if (a + n < a1) {
        int ldkd;
        const float *Kd = rows_view(w->Kd, &ldkd, Kc, ldkc, n, dqk, NULL, pw ? pw + n - 1 : NULL, -1);
        state_add(sh, S, pw ? pw[n] : 1.0f, Kd, ldkd, vi, sh->ldv, n);
    }
}

/* The chunk at a of one head's backward reverse sweep: dV_i += (tril(Q_i K_i^T) o M)^T dO_i +
 * K~_i D; dK_i += (tril(dO_i V_i^T) o M)^T Q_i + V~_i D^T; then D = r^n D + Q~_i^T dO_i. */
static void dkdv_chunk(const attn_shape *sh, const lin_ws *w, float *D, const float *pw, const bh_ptrs *p, int a) {
    const int T = sh->T, dqk = sh->dqk, dv = sh->dv, n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK;
    int ldkc, ldvc;
    const float *qi = p->q + (size_t)a * sh->ldq, *doi = p->dout + (size_t)a * sh->ldo;
    float *dki = p->dk + (size_t)a * sh->ldk, *dvi = p->dv + (size_t)a * sh->ldv;
    const uint8_t *vm = p->valid ? p->valid + a : NULL;
    const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk, vm, NULL, 0);
    const float *Vc = rows_view(w->Vc, &ldvc, p->v + (size_t)a * sh->ldv, sh->ldv, n, dv, vm, NULL, 0);
    gemm_small_tri(GEMM_N, GEMM_T, GEMM_C_LOWER, 0, n, n, dqk, 1.0f, qi, sh->ldq, Kc, ldkc, 0.0f, w->A, n);
    causal_decay(w->A, n, pw);
    gemm_small_tri(GEMM_T, GEMM_N, GEMM_UPPER, 0, n, dv, n, 1.0f, w->A, n, doi, sh->ldo, 1.0f, dvi, sh->ldv);
    gemm_small_tri(GEMM_N, GEMM_T, GEMM_C_LOWER, 0, n, n, dv, 1.0f, doi, sh->ldo, Vc, ldvc, 0.0f, w->P, n);
    causal_decay(w->P, n, pw);
    gemm_small_tri(GEMM_T, GEMM_N, GEMM_UPPER, 0, n, dqk, n, 1.0f, w->P, n, qi, sh->ldq, 1.0f, dki, sh->ldk);
    if (a + n < T) {
        int ldkd, ldvd;
        const float *Kd = rows_view(w->Kd, &ldkd, Kc, ldkc, n, dqk, NULL, pw ? pw + n - 1 : NULL, -1);
        const float *Vd = rows_view(w->Vd, &ldvd, Vc, ldvc, n, dv, NULL, pw ? pw + n - 1 : NULL, -1);
        gemm_small(GEMM_N, GEMM_T, n, dqk, dv, 1.0f, Vd, ldvd, D, dv, 1.0f, dki, sh->ldk);
        gemm_small(GEMM_N, GEMM_N, n, dv, dqk, 1.0f, Kd, ldkd, D, dv, 1.0f, dvi, sh->ldv);
    }
    if (a > 0) {
        int ldq;
        const float *Q = rows_view(w->Qd, &ldq, qi, sh->ldq, n, dqk, NULL, pw ? pw + 1 : NULL, 1);
        gemm_small(GEMM_T, GEMM_N, dqk, dv, n, 1.0f, Q, ldq, doi, sh->ldo, pw ? pw[n] : 1.0f, D, dv);
    }
}

/* What one work unit covers: batch row b, heads h0 .. h0 + G - 1, and the tensors. */
typedef struct unit {
    int b, h0, G;
    const float *q, *k, *v, *dout;
    float *o, *dq, *dk, *dv, *saved;
    const uint8_t *valid;
} unit;

/* The views of head g of the unit. */
static bh_ptrs unit_head(const attn_shape *sh, const unit *u, int g) {
    return bh_at(sh, u->b, u->h0 + g, u->q, u->k, u->v, u->dout, u->o, u->dq, u->dk, u->dv, u->valid);
}

/* Head g's state block (S or D base) and decay powers in the thread's workspace. */
#define STATE(w, base, g, sh) ((w)->base + (size_t)(g) * (sh)->dqk * (sh)->dv)
#define POWERS(w, g) ((w)->pw + (size_t)(g) * (LINATTN_CHUNK + 1))
#define HEAD_POWERS(w, g, sh) ((sh)->decay ? POWERS(w, g) : NULL) /* after decay_powers filled them */

/* Causal forward of a unit, chunk by chunk, all its heads at each chunk; the state at each later
 * segment's start into saved. */
static void causal_forward(const attn_shape *sh, const lin_ws *w, const unit *u) {
    const size_t st = (size_t)sh->dqk * sh->dv;
    for (int g = 0; g < u->G; g++) {
        decay_powers(sh, POWERS(w, g), u->h0 + g);
        memset(STATE(w, S, g, sh), 0, sizeof(float) * st);
    }
    for (int a = 0; a < sh->T; a += LINATTN_CHUNK)
        for (int g = 0; g < u->G; g++) {
            bh_ptrs p = unit_head(sh, u, g);
            if (a > 0 && a % LINATTN_SEGMENT == 0)
                memcpy(saved_state(sh, u->saved, u->b, u->h0 + g, a / LINATTN_SEGMENT), STATE(w, S, g, sh),
                       sizeof(float) * st);
            forward_chunk(sh, w, STATE(w, S, g, sh), HEAD_POWERS(w, g, sh), &p, a);
        }
}

/* Causal backward of a unit: the segments from the last to the first; in each, the dQ sweep from
 * the saved start state, then the dK / dV sweep carrying D from the later segments. */
static void causal_backward(const attn_shape *sh, const lin_ws *w, const unit *u) {
    const size_t st = (size_t)sh->dqk * sh->dv;
    for (int g = 0; g < u->G; g++) {
        decay_powers(sh, POWERS(w, g), u->h0 + g);
        memset(STATE(w, D, g, sh), 0, sizeof(float) * st);
    }
    for (int seg = (sh->T - 1) / LINATTN_SEGMENT; seg >= 0; seg--) {
        const int a0 = seg * LINATTN_SEGMENT, a1 = a0 + LINATTN_SEGMENT < sh->T ? a0 + LINATTN_SEGMENT : sh->T;
        for (int g = 0; g < u->G; g++) {
            if (seg) memcpy(STATE(w, S, g, sh), saved_state(sh, u->saved, u->b, u->h0 + g, seg), sizeof(float) * st);
            else memset(STATE(w, S, g, sh), 0, sizeof(float) * st);
        }
        for (int a = a0; a < a1; a += LINATTN_CHUNK)
            for (int g = 0; g < u->G; g++) {
                bh_ptrs p = unit_head(sh, u, g);
                dq_chunk(sh, w, STATE(w, S, g, sh), HEAD_POWERS(w, g, sh), &p, a, a1);
            }
        for (int a = (a1 - 1) / LINATTN_CHUNK * LINATTN_CHUNK; a >= a0; a -= LINATTN_CHUNK)
            for (int g = 0; g < u->G; g++) {
                bh_ptrs p = unit_head(sh, u, g);
                dkdv_chunk(sh, w, STATE(w, D, g, sh), HEAD_POWERS(w, g, sh), &p, a);
            }
    }
}

/* S = KV = sum over the valid keys of k_t v_t^T, for one (batch, head). */
static void bidir_state(const attn_shape *sh, const lin_ws *w, float *S, const bh_ptrs *p) {
    memset(S, 0, sizeof *S * (size_t)sh->dqk * sh->dv);
    for (int a = 0; a < sh->T; a += LINATTN_CHUNK) {
        int n = sh->T - a < LINATTN_CHUNK ? sh->T - a : LINATTN_CHUNK, ldkc;
        const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, sh->dqk,
                                    p->valid ? p->valid + a : NULL, NULL, 0);
        state_add(sh, S, 1.0f, Kc, ldkc, p->v + (size_t)a * sh->ldv, sh->ldv, n);
    }
}

/* Bidirectional forward of one (batch, head): o = Q KV. */
static void bidir_forward(const attn_shape *sh, const lin_ws *w, const bh_ptrs *p) {
    bidir_state(sh, w, w->S, p);
    gemm_small(GEMM_N, GEMM_N, sh->T, sh->dv, sh->dqk, 1.0f, p->q, sh->ldq, w->S, sh->dv, 0.0f, p->o, sh->ldo);
}

/* Bidirectional backward of one (batch, head): dQ += dO KV^T; with D = Q^T dO, dK += V D^T and
 * dV += K D on the valid keys. */
static void bidir_backward(const attn_shape *sh, const lin_ws *w, const bh_ptrs *p) {
    const int T = sh->T, dqk = sh->dqk, dv = sh->dv;
    bidir_state(sh, w, w->S, p);
    gemm_small(GEMM_N, GEMM_T, T, dqk, dv, 1.0f, p->dout, sh->ldo, w->S, dv, 1.0f, p->dq, sh->ldq);
    gemm_small(GEMM_T, GEMM_N, dqk, dv, T, 1.0f, p->q, sh->ldq, p->dout, sh->ldo, 0.0f, w->D, dv);
    for (int a = 0; a < T; a += LINATTN_CHUNK) {
        int n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK, ldkc, ldvc;
        const uint8_t *vm = p->valid ? p->valid + a : NULL;
        const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk, vm, NULL, 0);
        const float *Vc = rows_view(w->Vc, &ldvc, p->v + (size_t)a * sh->ldv, sh->ldv, n, dv, vm, NULL, 0);
        gemm_small(GEMM_N, GEMM_T, n, dqk, dv, 1.0f, Vc, ldvc, w->D, dv, 1.0f, p->dk + (size_t)a * sh->ldk, sh->ldk);
        gemm_small(GEMM_N, GEMM_N, n, dv, dqk, 1.0f, Kc, ldkc, w->D, dv, 1.0f, p->dv + (size_t)a * sh->ldv, sh->ldv);
    }
}

/* Runs forward (dout NULL) or backward of every unit: B x H / G of them, G heads each, one per
 * loop iteration (the bidirectional path does its heads one after the other). */
static void run_units(const attn_shape *sh, unit proto, float *scratch) {
    const int G = head_group(sh), per_row = sh->H / G;
#pragma omp parallel for num_threads(threads_team(sh->threads)) schedule(static)
    for (int i = 0; i < sh->B * per_row; i++) {
        lin_ws w = ws_carve(sh, scratch, omp_get_thread_num());
        unit u = proto;
        u.b = i / per_row, u.h0 = (i % per_row) * G, u.G = G;
        if (sh->causal) {
            if (u.dout) causal_backward(sh, &w, &u);
            else causal_forward(sh, &w, &u);
            continue;
        }
        for (int g = 0; g < G; g++) {
            bh_ptrs p = unit_head(sh, &u, g);
            if (u.dout) bidir_backward(sh, &w, &p);
            else bidir_forward(sh, &w, &p);
        }
    }
}

/* o[B,T,H,dv] = numerator of linear attention. */
static void linear_forward(const attn_shape *sh, float *o, float *saved, const float *q, const float *k,
                           const float *v, const uint8_t *valid, float *scratch) {
    if (sh->T <= 0) return;
    run_units(sh, (unit){.q = q, .k = k, .v = v, .o = o, .saved = saved, .valid = valid}, scratch);
}

/* dq, dk, dv += gradients given dout (states from saved and recomputed per segment). */
static void linear_backward(const attn_shape *sh, float *dq, float *dk, float *dv, const float *dout,
                            const float *o, const float *saved, const float *q, const float *k, const float *v,
                            const uint8_t *valid, float *scratch) {
    if (sh->T <= 0) return;
    run_units(sh, (unit){.q = q, .k = k, .v = v, .dout = dout, .dq = dq, .dk = dk, .dv = dv, .saved = (float *)saved,
                         .valid = valid},
              scratch);
}

const attn_kernel attn_linear = {
    .name = "linear",
    .saved_floats = linear_saved,
    .scratch_floats = linear_scratch,
    .forward = linear_forward,
    .backward = linear_backward,
};
