/* Linear attention, numerator only: o_s = sum_t (q_s . k_t) v_t over valid keys (t <= s when
 * causal, scaled by r_h^(s-t) with a per-head decay), no scale and no normalisation (the model
 * normalises after). Causal: chunks of LINATTN_CHUNK tokens per (batch, head), never T x T:
 *   O_i = Q~_i S + (tril(Q_i K_i^T) o M) V_i;  S = r^n S + K~_i^T V_i
 * with S the recurrent state at the chunk start, M[s,t] = r^(s-t), Q~ rows scaled r^(s-a+1) and
 * K~ rows r^(e-1-t) (chunk [a, e), n = e - a): every exponent stays <= n, nothing overflows for
 * any T. Bidirectional: KV = sum_t k_t v_t^T, o_s = q_s KV; the decay is IGNORED there (r = 1,
 * as the authors' bidirectional code). Padding keys are zeroed in per-chunk copies of K and V;
 * padded queries still get an output (from the valid keys). Backward recomputes the states (nothing saved): a forward
 * sweep gives dQ, a reverse sweep carrying D = sum_{s >= e} r^(s-e+1) q_s do_s^T gives dK and dV.
 * One thread owns each (batch, head) and the sgemm calls run single-threaded inside the parallel
 * loop: the same bits for any thread count. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "attention.h"

#define LINATTN_CHUNK 64

/* One thread's working memory: states S, D [dqk, dv]; chunk products A, P [c, c]; row copies
 * Kc, Kd, Qd [c, dqk] and Vc, Vd, dOd [c, dv]; decay powers pw[c + 1]. */
typedef struct lin_ws {
    float *S, *D, *A, *P, *Kc, *Kd, *Qd, *Vc, *Vd, *dOd, *pw;
} lin_ws;

/* Floats of one thread's lin_ws, rounded up to 16 (64 bytes) so every thread's block has the
 * same alignment as thread 0's. */
static size_t ws_floats(const attn_shape *s) {
    size_t c = LINATTN_CHUNK, dqk = (size_t)s->dqk, dv = (size_t)s->dv;
    size_t n = 2 * dqk * dv + 2 * c * c + 3 * c * dqk + 3 * c * dv + c + 1;
    return (n + 15) / 16 * 16;
}

/* Carves thread `tid`'s lin_ws out of scratch. */
static lin_ws ws_carve(const attn_shape *s, float *scratch, int tid) {
    size_t c = LINATTN_CHUNK, dqk = (size_t)s->dqk, dv = (size_t)s->dv;
    float *p = scratch + (size_t)tid * ws_floats(s);
    lin_ws w;
    w.S = p, p += dqk * dv;
    w.D = p, p += dqk * dv;
    w.A = p, p += c * c;
    w.P = p, p += c * c;
    w.Kc = p, p += c * dqk;
    w.Kd = p, p += c * dqk;
    w.Qd = p, p += c * dqk;
    w.Vc = p, p += c * dv;
    w.Vd = p, p += c * dv;
    w.dOd = p, p += c * dv;
    w.pw = p;
    return w;
}

/* Nothing is kept between forward and backward: the backward recomputes the states. */
static size_t linear_saved(const attn_shape *s) {
    (void)s;
    return 0;
}

/* One lin_ws per thread: O(chunk^2 + chunk (dqk + dv) + dqk dv) floats, independent of T. */
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
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, sh->dqk, sh->dv, n, 1.0f, K, ldk, V, ldv, beta, S,
                sh->dv);
}

/* Causal forward of one (batch, head). */
static void causal_forward(const attn_shape *sh, const lin_ws *w, const bh_ptrs *p, int h) {
    const int T = sh->T, dqk = sh->dqk, dv = sh->dv;
    const float *pw = decay_powers(sh, w->pw, h);
    memset(w->S, 0, sizeof *w->S * (size_t)dqk * dv);
    for (int a = 0; a < T; a += LINATTN_CHUNK) {
        int n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK, ldkc, ldq;
        const float *qi = p->q + (size_t)a * sh->ldq, *vi = p->v + (size_t)a * sh->ldv;
        float *oi = p->o + (size_t)a * sh->ldo;
        const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk,
                                    p->valid ? p->valid + a : NULL, NULL, 0);
        /* intra-chunk: O_i = (tril(Q_i K_i^T) o M) V_i */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dqk, 1.0f, qi, sh->ldq, Kc, ldkc, 0.0f, w->A, n);
        causal_decay(w->A, n, pw);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dv, n, 1.0f, w->A, n, vi, sh->ldv, 0.0f, oi,
                    sh->ldo);
        /* earlier chunks: O_i += Q~_i S */
        if (a > 0) {
            const float *Q = rows_view(w->Qd, &ldq, qi, sh->ldq, n, dqk, NULL, pw ? pw + 1 : NULL, 1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dv, dqk, 1.0f, Q, ldq, w->S, dv, 1.0f, oi,
                        sh->ldo);
        }
        if (a + n < T) {
            int ldkd;
            const float *Kd = rows_view(w->Kd, &ldkd, Kc, ldkc, n, dqk, NULL, pw ? pw + n - 1 : NULL, -1);
            state_add(sh, w->S, pw ? pw[n] : 1.0f, Kd, ldkd, vi, sh->ldv, n);
        }
    }
}

/* Causal backward of one (batch, head): dq, dk, dv += gradients given dout. */
static void causal_backward(const attn_shape *sh, const lin_ws *w, const bh_ptrs *p, int h) {
    const int T = sh->T, dqk = sh->dqk, dv = sh->dv;
    const float *pw = decay_powers(sh, w->pw, h);
    /* forward sweep: dQ_i += (tril(dO_i V_i^T) o M) K_i + dO~_i S^T */
    memset(w->S, 0, sizeof *w->S * (size_t)dqk * dv);
    for (int a = 0; a < T; a += LINATTN_CHUNK) {
        int n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK, ldkc, lddo;
        const float *vi = p->v + (size_t)a * sh->ldv, *doi = p->dout + (size_t)a * sh->ldo;
        float *dqi = p->dq + (size_t)a * sh->ldq;
        const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk,
                                    p->valid ? p->valid + a : NULL, NULL, 0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dv, 1.0f, doi, sh->ldo, vi, sh->ldv, 0.0f,
                    w->P, n);
        causal_decay(w->P, n, pw);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dqk, n, 1.0f, w->P, n, Kc, ldkc, 1.0f, dqi,
                    sh->ldq);
        if (a > 0) {
            const float *dO = rows_view(w->dOd, &lddo, doi, sh->ldo, n, dv, NULL, pw ? pw + 1 : NULL, 1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, dqk, dv, 1.0f, dO, lddo, w->S, dv, 1.0f, dqi,
                        sh->ldq);
        }
        if (a + n < T) {
            int ldkd;
            const float *Kd = rows_view(w->Kd, &ldkd, Kc, ldkc, n, dqk, NULL, pw ? pw + n - 1 : NULL, -1);
            state_add(sh, w->S, pw ? pw[n] : 1.0f, Kd, ldkd, vi, sh->ldv, n);
        }
    }
    /* reverse sweep: dV_i += (tril(Q_i K_i^T) o M)^T dO_i + K~_i D; dK_i += (...)^T Q_i + V~_i D^T;
     * then D = r^n D + Q~_i^T dO_i */
    memset(w->D, 0, sizeof *w->D * (size_t)dqk * dv);
    for (int a = (T - 1) / LINATTN_CHUNK * LINATTN_CHUNK; a >= 0; a -= LINATTN_CHUNK) {
        int n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK, ldkc, ldvc;
        const float *qi = p->q + (size_t)a * sh->ldq, *doi = p->dout + (size_t)a * sh->ldo;
        float *dki = p->dk + (size_t)a * sh->ldk, *dvi = p->dv + (size_t)a * sh->ldv;
        const uint8_t *vm = p->valid ? p->valid + a : NULL;
        const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk, vm, NULL, 0);
        const float *Vc = rows_view(w->Vc, &ldvc, p->v + (size_t)a * sh->ldv, sh->ldv, n, dv, vm, NULL, 0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dqk, 1.0f, qi, sh->ldq, Kc, ldkc, 0.0f, w->A, n);
        causal_decay(w->A, n, pw);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, dv, n, 1.0f, w->A, n, doi, sh->ldo, 1.0f, dvi,
                    sh->ldv);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dv, 1.0f, doi, sh->ldo, Vc, ldvc, 0.0f, w->P, n);
        causal_decay(w->P, n, pw);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, dqk, n, 1.0f, w->P, n, qi, sh->ldq, 1.0f, dki,
                    sh->ldk);
        if (a + n < T) {
            int ldkd, ldvd;
            const float *Kd = rows_view(w->Kd, &ldkd, Kc, ldkc, n, dqk, NULL, pw ? pw + n - 1 : NULL, -1);
            const float *Vd = rows_view(w->Vd, &ldvd, Vc, ldvc, n, dv, NULL, pw ? pw + n - 1 : NULL, -1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, dqk, dv, 1.0f, Vd, ldvd, w->D, dv, 1.0f, dki,
                        sh->ldk);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dv, dqk, 1.0f, Kd, ldkd, w->D, dv, 1.0f, dvi,
                        sh->ldv);
        }
        if (a > 0) {
            int ldq;
            const float *Q = rows_view(w->Qd, &ldq, qi, sh->ldq, n, dqk, NULL, pw ? pw + 1 : NULL, 1);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dqk, dv, n, 1.0f, Q, ldq, doi, sh->ldo,
                        pw ? pw[n] : 1.0f, w->D, dv);
        }
    }
}

/* w->S = KV = sum over the valid keys of k_t v_t^T, for one (batch, head). */
static void bidir_state(const attn_shape *sh, const lin_ws *w, const bh_ptrs *p) {
    memset(w->S, 0, sizeof *w->S * (size_t)sh->dqk * sh->dv);
    for (int a = 0; a < sh->T; a += LINATTN_CHUNK) {
        int n = sh->T - a < LINATTN_CHUNK ? sh->T - a : LINATTN_CHUNK, ldkc;
        const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, sh->dqk,
                                    p->valid ? p->valid + a : NULL, NULL, 0);
        state_add(sh, w->S, 1.0f, Kc, ldkc, p->v + (size_t)a * sh->ldv, sh->ldv, n);
    }
}

/* Bidirectional forward of one (batch, head): o = Q KV. */
static void bidir_forward(const attn_shape *sh, const lin_ws *w, const bh_ptrs *p) {
    bidir_state(sh, w, p);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sh->T, sh->dv, sh->dqk, 1.0f, p->q, sh->ldq, w->S,
                sh->dv, 0.0f, p->o, sh->ldo);
}

/* Bidirectional backward of one (batch, head): dQ += dO KV^T; with D = Q^T dO, dK += V D^T and
 * dV += K D on the valid keys. */
static void bidir_backward(const attn_shape *sh, const lin_ws *w, const bh_ptrs *p) {
    const int T = sh->T, dqk = sh->dqk, dv = sh->dv;
    bidir_state(sh, w, p);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, dqk, dv, 1.0f, p->dout, sh->ldo, w->S, dv, 1.0f,
                p->dq, sh->ldq);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dqk, dv, T, 1.0f, p->q, sh->ldq, p->dout, sh->ldo, 0.0f,
                w->D, dv);
    for (int a = 0; a < T; a += LINATTN_CHUNK) {
        int n = T - a < LINATTN_CHUNK ? T - a : LINATTN_CHUNK, ldkc, ldvc;
        const uint8_t *vm = p->valid ? p->valid + a : NULL;
        const float *Kc = rows_view(w->Kc, &ldkc, p->k + (size_t)a * sh->ldk, sh->ldk, n, dqk, vm, NULL, 0);
        const float *Vc = rows_view(w->Vc, &ldvc, p->v + (size_t)a * sh->ldv, sh->ldv, n, dv, vm, NULL, 0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, dqk, dv, 1.0f, Vc, ldvc, w->D, dv, 1.0f,
                    p->dk + (size_t)a * sh->ldk, sh->ldk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dv, dqk, 1.0f, Kc, ldkc, w->D, dv, 1.0f,
                    p->dv + (size_t)a * sh->ldv, sh->ldv);
    }
}

/* o[B,T,H,dv] = numerator of linear attention, one (batch, head) per loop iteration. */
static void linear_forward(const attn_shape *sh, float *o, float *saved, const float *q, const float *k,
                           const float *v, const uint8_t *valid, float *scratch) {
    const int B = sh->B, H = sh->H;
    if (sh->T <= 0) return;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        lin_ws w = ws_carve(sh, scratch, omp_get_thread_num());
        bh_ptrs p = bh_at(sh, b, h, q, k, v, NULL, o, NULL, NULL, NULL, valid);
        if (sh->causal) causal_forward(sh, &w, &p, h);
        else bidir_forward(sh, &w, &p);
    }
}

/* dq, dk, dv += gradients given dout, one (batch, head) per loop iteration (states recomputed). */
static void linear_backward(const attn_shape *sh, float *dq, float *dk, float *dv, const float *dout,
                            const float *o, const float *saved, const float *q, const float *k, const float *v,
                            const uint8_t *valid, float *scratch) {
    const int B = sh->B, H = sh->H;
    if (sh->T <= 0) return;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        lin_ws w = ws_carve(sh, scratch, omp_get_thread_num());
        bh_ptrs p = bh_at(sh, b, h, q, k, v, dout, NULL, dq, dk, dv, valid);
        if (sh->causal) causal_backward(sh, &w, &p, h);
        else bidir_backward(sh, &w, &p);
    }
}

const attn_kernel attn_linear = {
    .name = "linear",
    .saved_floats = linear_saved,
    .scratch_floats = linear_scratch,
    .forward = linear_forward,
    .backward = linear_backward,
};
