/* lrpe's float32 products on AVX-512 (core/gemm.h): gemm_small for attention's tiles and
 * gemm_avx512, the same kernel over panels of rows on every thread, for the linear layers where
 * OpenBLAS runs a core without AVX-512, with the tasks the shards of a step share (gemm_share_*). A
 * block of C, up to 64 columns (4 vectors) by a few rows, is held in 16 registers while k runs; A's
 * entries are broadcast in place (from its rows, or for A^T its columns), B's rows are read in
 * place or, for B^T, transposed 16 x 16 at a time into a buffer of the thread's. Inside a training
 * step OpenBLAS ran A B^T at attention's shapes (64 x 64 x 16, 64 x 64 x 64) at 56-63 GFLOP/s, and
 * on its Haswell core A^T B (64 x 16 x 64, 16 x 16 x 64) at 43-69 GFLOP/s per core; on a Zen 5
 * core, whose FMAs are 512 bits wide, OpenBLAS's Haswell kernels reach about half of what this one
 * does (README, "Which matrix-multiply library"). */
#include <immintrin.h>
#include <omp.h>
#include <stdatomic.h>
#include <time.h>

#include "gemm.h"

#define SMALL_W 64     /* columns of C per block */
#define SMALL_KMAX 256 /* the most k of a packed block of B (small_bt) */
#define KC 128         /* gemm_avx512: its chunk of k (B's packed block, 32 KB, stays in L1) */
#define PANEL 256      /* gemm_avx512: rows of C per panel (A's chunk, up to 128 KB, stays in L2) */
#define GROUP_W 256    /* gemm_avx512: columns of C per task (a panel's block, 256 KB, stays in L2 over k) */
#define PACK_AHEAD 8   /* rows a copy fetches ahead (4 and 16 measured the same) */

/* B's or B^T's rows k < K for the block of columns being computed: row k at small_bt + k SMALL_W. */
static _Thread_local float small_bt[SMALL_KMAX * SMALL_W] __attribute__((aligned(64)));
/* gemm_avx512's chunk of A^T: KC rows of up to PANEL */
static _Thread_local float small_at[KC * PANEL] __attribute__((aligned(64)));

#define AVX512 __attribute__((target("avx512f")))
/* Loops over constant counts, unrolled before GCC decides where arrays live: the accumulators
 * stay in registers. */
#define UNROLL _Pragma("GCC unroll 16")

/* Mask of the first n (<= 16) lanes. */
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* How a block of C is stored: C = alpha X + beta C, plus bias[j] in column j where bias is not NULL
 * (bias indexed from the block's first column; beta is then 0). */
typedef struct c_store {
    float alpha, beta;
    const float *bias;
} c_store;

/* The c_store of the block of C starting j columns further on. */
static inline c_store store_from(const c_store *st, int j) {
    return (c_store){st->alpha, st->beta, st->bias ? st->bias + j : NULL};
}

/* C[ROWS, NV vectors] = sum_k a[r ar + k ak] b[k ldb + :], stored by st, the last vector `tail`
 * lanes wide: one chain of fused multiply-adds per element, k in order. One function per (ROWS,
 * NV), so that acc has a constant size and lives in registers. A's strides (ar, ak): (lda, 1) for
 * A, (1, lda) for A^T. */
#define BLOCK(ROWS, NV)                                                                                        \
    AVX512 static void block_##ROWS##x##NV(int tail, int K, const float *a, long ar, long ak, const float *b,   \
                                            long ldb, const c_store *st, float *c, long ldc) {                  \
        __m512 acc[ROWS][NV];                                                                                   \
        const __mmask16 last = lanes(tail);                                                                     \
        const c_store s = *st; /* a copy: C's stores cannot change it, so it stays in registers */              \
        UNROLL for (int r = 0; r < ROWS; r++) UNROLL for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps(); \
        _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {                                                   \
            const float *bk = b + k * ldb;                                                                      \
            __m512 bv[NV];                                                                                      \
            UNROLL for (int v = 0; v < NV; v++)                                                                 \
                bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, bk + 16 * v) : _mm512_loadu_ps(bk + 16 * v);  \
            UNROLL for (int r = 0; r < ROWS; r++) {                                                             \
                const __m512 x = _mm512_set1_ps(a[r * ar + k * ak]);                                            \
                UNROLL for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);           \
            }                                                                                                   \
        }                                                                                                       \
        UNROLL for (int r = 0; r < ROWS; r++) UNROLL for (int v = 0; v < NV; v++)                               \
            store_c(c + r * ldc + 16 * v, v == NV - 1 ? last : (__mmask16)0xffff, acc[r][v], &s, 16 * v);       \
    }

/* c[lanes m] = alpha x + beta c, plus st->bias[j .. j + 16) where there is one (c is not read when
 * beta is 0): the bias added as filling C with it and adding (beta 1) would, to the same bits. */
AVX512 static inline void store_c(float *c, __mmask16 m, __m512 x, const c_store *st, int j) {
    const float alpha = st->alpha, beta = st->beta;
    if (alpha != 1.0f) x = _mm512_mul_ps(_mm512_set1_ps(alpha), x);
    if (st->bias)
        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, st->bias + j));
    else if (beta == 1.0f)
        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, c));
    else if (beta != 0.0f)
        x = _mm512_add_ps(x, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c)));
    _mm512_mask_storeu_ps(c, m, x);
}

BLOCK(16, 1)
BLOCK(8, 2)
BLOCK(5, 3)
BLOCK(4, 4)
BLOCK(1, 1)
BLOCK(1, 2)
BLOCK(1, 3)
BLOCK(1, 4)

/* The k of rows [r, r + rows) that op(A)'s shape (tri, its diagonal at k = i + diag) can make
 * nonzero: [*k0, *k0 + return). */
static inline int k_range(gemm_tri tri, int diag, int r, int rows, int K, int *k0) {
    *k0 = tri == GEMM_UPPER && r - diag > 0 ? r - diag : 0;
    if (tri == GEMM_LOWER) return r + rows + diag < K ? r + rows + diag : K;
    return K - *k0;
}

/* Rows [0, M) of C for one block of NV vectors: blocks of ROWS (16 accumulators), then the rest
 * one row at a time (the same arithmetic per element), each over the k its rows of op(A) can make
 * nonzero (tri). */
#define ROW_BLOCKS(ROWS, NV)                                                                                  \
    AVX512 static void rows_nv##NV(int M, int tail, int K, gemm_tri tri, int diag, const float *a, long ar,    \
                                   long ak, const float *b, long ldb, const c_store *st, float *c, long ldc) { \
        int r = 0, k0, kn;                                                                                    \
        for (; r + ROWS <= M; r += ROWS) {                                                                    \
            kn = k_range(tri, diag, r, ROWS, K, &k0);                                                         \
            block_##ROWS##x##NV(tail, kn, a + r * ar + k0 * ak, ar, ak, b + k0 * ldb, ldb, st, c + r * ldc,   \
                                ldc);                                                                         \
        }                                                                                                     \
        for (; r < M; r++) {                                                                                  \
            kn = k_range(tri, diag, r, 1, K, &k0);                                                            \
            block_1x##NV(tail, kn, a + r * ar + k0 * ak, ar, ak, b + k0 * ldb, ldb, st, c + r * ldc, ldc);    \
        }                                                                                                     \
    }
ROW_BLOCKS(16, 1)
ROW_BLOCKS(8, 2)
ROW_BLOCKS(5, 3)
ROW_BLOCKS(4, 4)

/* Transposes the 16 x 16 block in r[] in place (row i becomes column i). */
AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4g + c], lane L: rows 4g .. 4g+3 at column 4L + c */
    for (int g = 0; g < 16; g += 4) {
        __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
        __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    /* column 4L + c gathers lane L of u[c], u[4 + c], u[8 + c], u[12 + c] */
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

/* dst[j, i] = src[i, j] for i < rows, j < cols: blocks of 16 x 16 transposed in registers (also
 * B^T's block into small_bt, where it replaced a copy of this loop that wrote whole vectors: the
 * same speed in pairs, 0.990-1.008x). */
AVX512 static void transpose_avx512(float *dst, long ldd, const float *src, long lds, int rows, int cols) {
    for (int i0 = 0; i0 < rows; i0 += 16) {
        for (int i = i0 + 16; i < i0 + 32 && i < rows; i++) /* the next block's rows, fetched meanwhile */
            for (int j0 = 0; j0 < cols; j0 += 16) _mm_prefetch((const char *)(src + i * lds + j0), _MM_HINT_T0);
        for (int j0 = 0; j0 < cols; j0 += 16) {
            const int ni = rows - i0 < 16 ? rows - i0 : 16, nj = cols - j0 < 16 ? cols - j0 : 16;
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < ni ? _mm512_maskz_loadu_ps(lanes(nj), src + (i0 + i) * lds + j0) : _mm512_setzero_ps();
            transpose16(r);
            for (int j = 0; j < nj; j++) _mm512_mask_storeu_ps(dst + (j0 + j) * ldd + i0, lanes(ni), r[j]);
        }
    }
}

void gemm_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    if (gemm_small_own()) {
        transpose_avx512(dst, ldd, src, lds, rows, cols);
        return;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(long)j * ldd + i] = src[(long)i * lds + j];
}

/* dst[k, j] = src[k, j] for j < w and k < K, dst's rows ldd apart: rows side by side, so that they
 * do not share cache sets (a row stride of 4 KB put every row of a block in one). The row
 * PACK_AHEAD further on is fetched meanwhile: rows a page apart defeat the hardware's prefetcher,
 * and the weight gradients, which copy their activations, waited on memory (1.01-1.09x as fast
 * with the fetch, timed in pairs). */
AVX512 static void pack_rows(float *dst, long ldd, const float *src, long lds, int w, int K) {
    for (int k = 0; k < K; k++) {
        if (k + PACK_AHEAD < K)
            for (int j0 = 0; j0 < w; j0 += 16)
                _mm_prefetch((const char *)(src + (k + PACK_AHEAD) * lds + j0), _MM_HINT_T0);
        for (int j0 = 0; j0 < w; j0 += 16) {
            const __mmask16 m = lanes(w - j0);
            _mm512_mask_storeu_ps(dst + k * ldd + j0, m, _mm512_maskz_loadu_ps(m, src + k * lds + j0));
        }
    }
}

/* Rows [0, M) of C's first w (<= SMALL_W) columns, over the k op(A)'s shape (tri, diag) leaves,
 * stored by st. */
AVX512 static void rows_w(int M, int w, int K, gemm_tri tri, int diag, const float *a, long ar, long ak,
                          const float *b, long ldb, const c_store *st, float *c, long ldc) {
    const int nv = (w + 15) / 16, tail = w - 16 * (nv - 1);
    switch (nv) {
    case 1: rows_nv1(M, tail, K, tri, diag, a, ar, ak, b, ldb, st, c, ldc); break;
    case 2: rows_nv2(M, tail, K, tri, diag, a, ar, ak, b, ldb, st, c, ldc); break;
    case 3: rows_nv3(M, tail, K, tri, diag, a, ar, ak, b, ldb, st, c, ldc); break;
    default: rows_nv4(M, tail, K, tri, diag, a, ar, ak, b, ldb, st, c, ldc); break;
    }
}

/* C = op(A) op(B) stored by st, by blocks of SMALL_W columns, over the k op(A)'s shape (tri, diag)
 * leaves (GEMM_C_LOWER: bands of 16 rows, each to the band's last diagonal column); B's block
 * packed first when B is transposed, or when pack (K <= SMALL_KMAX). */
AVX512 static void small_avx512(gemm_op ta, gemm_op tb, gemm_tri tri, int diag, int M, int N, int K, const float *A,
                                int lda, const float *B, int ldb, c_store st, float *C, int ldc, int pack) {
    const long ar = ta == GEMM_T ? 1 : lda, ak = ta == GEMM_T ? lda : 1;
    for (int j0 = 0; j0 < N; j0 += SMALL_W) {
        const int w = N - j0 < SMALL_W ? N - j0 : SMALL_W;
        const float *b = B + j0;
        long ldbk = ldb;
        if (tb == GEMM_T) {
            transpose_avx512(small_bt, SMALL_W, B + (long)j0 * ldb, ldb, w, K);
            b = small_bt, ldbk = SMALL_W;
        } else if (pack) {
            pack_rows(small_bt, SMALL_W, B + j0, ldb, w, K);
            b = small_bt, ldbk = SMALL_W;
        }
        float *c = C + j0;
        const c_store sj = store_from(&st, j0);
        if (tri != GEMM_C_LOWER) {
            rows_w(M, w, K, tri, diag, A, ar, ak, b, ldbk, &sj, c, ldc);
            continue;
        }
        for (int r0 = 0; r0 < M; r0 += 16) { /* band r0: the columns j < r0 + 16 + diag */
            const int rows = M - r0 < 16 ? M - r0 : 16, end = r0 + 16 + diag - j0, wb = end < w ? end : w;
            if (wb > 0)
                rows_w(rows, wb, K, GEMM_FULL, 0, A + r0 * ar, ar, ak, b, ldbk, &sj, c + (long)r0 * ldc, ldc);
        }
    }
}

/* One product of gemm_avx512 cut into tasks: panels of PANEL rows by `groups` blocks of gw columns,
 * K in chunks of kc. */
typedef struct avx512_job {
    gemm_op ta, tb;
    int M, N, K, kc, groups, gw, lda, ldb, ldc;
    c_store st; /* for the first chunk of k; the others add (beta 1, no bias) */
    const float *A, *B;
    float *C;
} avx512_job;

/* Task t of job j: its panel and columns, chunk by chunk of k, each chunk after the first adding
 * into C. */
AVX512 static void avx512_task(const avx512_job *j, int t) {
    const long ar = j->ta == GEMM_T ? 1 : j->lda, ak = j->ta == GEMM_T ? j->lda : 1;
    const long bj = j->tb == GEMM_T ? j->ldb : 1, bk = j->tb == GEMM_T ? 1 : j->ldb; /* B's steps per j, per k */
    const int r0 = t / j->groups * PANEL, m = j->M - r0 < PANEL ? j->M - r0 : PANEL;
    const int j0 = t % j->groups * j->gw, n = j->N - j0 < j->gw ? j->N - j0 : j->gw;
    int k0 = 0;
    do {
        const int kn = j->K - k0 < j->kc ? j->K - k0 : j->kc;
        const float *a = j->A + r0 * ar + k0 * ak;
        int lda = j->lda;
        /* A^T's chunk, kn rows of m, copied side by side where its rows are a multiple of 2 KB apart;
         * B's block likewise where its rows are longer than the block (measured: both pay there, and
         * cost 10-15 % on d=64's weight gradients where they are not needed) */
        if (j->ta == GEMM_T && (j->lda & 511) == 0) {
            lda = (m + 15) / 16 * 16;
            pack_rows(small_at, lda, a, j->lda, m, kn);
            a = small_at;
        }
        const c_store st = k0 ? (c_store){j->st.alpha, 1.0f, NULL} : store_from(&j->st, j0);
        small_avx512(j->ta, j->tb, GEMM_FULL, 0, m, n, kn, a, lda, j->B + j0 * bj + k0 * bk, j->ldb, st,
                     j->C + (long)r0 * j->ldc + j0, j->ldc, j->ldb > SMALL_W);
        k0 += kn;
    } while (k0 < j->K);
}

/* ---- tasks shared between threads that make their own products side by side (gemm_share_*) */

#define SHARE_MAX 256 /* threads */

/* A thread's product that others may take tasks of: next, tasks and job under the lock. */
typedef struct share_slot {
    atomic_flag lock;
    avx512_job job;
    int next, tasks;  /* the next unclaimed task; how many */
    atomic_int done;  /* tasks finished, by whichever thread */
    atomic_int products; /* products its thread has started in this share */
} __attribute__((aligned(64))) share_slot; /* a slot's cache lines are its own */

static share_slot share_slots[SHARE_MAX];
static int share_members;
static atomic_int share_working; /* members not yet done with their own work */
static atomic_long share_taken;  /* tasks run by a thread other than their product's */
static _Thread_local int share_me = -1;

static void slot_lock(share_slot *s) {
    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) _mm_pause();
}
static void slot_unlock(share_slot *s) { atomic_flag_clear_explicit(&s->lock, memory_order_release); }

/* Claims the next task of slot s while more than `keep` are unclaimed: 1 with *t set (and the
 * product's job copied into *job, unless NULL), else 0. */
static int slot_claim(share_slot *s, avx512_job *job, int *t, int keep) {
    slot_lock(s);
    const int ok = s->next < s->tasks - keep;
    if (ok) *t = s->next++;
    if (ok && job) *job = s->job;
    slot_unlock(s);
    return ok;
}

/* Runs tasks of slot i (another thread's) while more than `keep` are unclaimed; 1 when it ran any. */
static int take_tasks(int i, int keep) {
    avx512_job j;
    int t, ran = 0;
    while (slot_claim(&share_slots[i], &j, &t, keep)) {
        avx512_task(&j, t);
        atomic_fetch_add_explicit(&share_slots[i].done, 1, memory_order_release);
        atomic_fetch_add_explicit(&share_taken, 1, memory_order_relaxed);
        ran = 1;
    }
    return ran;
}

/* Before each product of this thread's: the tasks of every thread that has started fewer products.
 * The shards make the same products in the same order, so that one is behind (a slower core, on a
 * shared VM); its last task is left to it, which would otherwise wait for the one another runs. */
static void help_behind(void) {
    const int mine = atomic_fetch_add_explicit(&share_slots[share_me].products, 1, memory_order_relaxed);
    for (int i = 0; i < share_members; i++)
        if (i != share_me && atomic_load_explicit(&share_slots[i].products, memory_order_relaxed) < mine)
            take_tasks(i, 1);
}

/* The tasks of job on this thread's slot, other members taking some; returns when all are done. */
static void run_shared(const avx512_job *job, int tasks) {
    share_slot *s = &share_slots[share_me];
    slot_lock(s);
    s->job = *job, s->next = 0, s->tasks = tasks;
    atomic_store_explicit(&s->done, 0, memory_order_relaxed);
    slot_unlock(s);
    int t, mine = 0;
    while (slot_claim(s, NULL, &t, 0)) avx512_task(job, t), mine++;
    atomic_fetch_add_explicit(&s->done, mine, memory_order_release);
    while (atomic_load_explicit(&s->done, memory_order_acquire) < tasks) _mm_pause(); /* a task another took */
}

void gemm_share_begin(int members) {
    share_members = members < SHARE_MAX ? members : SHARE_MAX;
    for (int i = 0; i < share_members; i++) {
        atomic_flag_clear(&share_slots[i].lock);
        share_slots[i].next = share_slots[i].tasks = 0;
        atomic_store(&share_slots[i].products, 0);
    }
    atomic_store(&share_working, share_members);
    atomic_store(&share_taken, 0);
}

void gemm_share_join(int member) { share_me = member >= 0 && member < share_members ? member : -1; }

void gemm_share_help(void) {
    const int me = share_me;
    if (me < 0) return;
    atomic_fetch_sub(&share_working, 1);
    while (atomic_load(&share_working) > 0) {
        int ran = 0;
        for (int i = 0; i < share_members; i++)
            if (i != me && take_tasks(i, 0)) ran = 1;
        if (!ran) nanosleep(&(struct timespec){.tv_nsec = 10000}, NULL); /* 10 us: poll, do not spin */
    }
    share_me = -1;
}

long gemm_share_taken(void) { return atomic_load(&share_taken); }

/* gemm_avx512 with C stored by st (its bias, if any, indexed from C's first column). */
static void avx512_run(gemm_op ta, gemm_op tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       c_store st, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    const int kc = K > KC ? KC : K, panels = (M + PANEL - 1) / PANEL;
    const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
    /* a task takes GROUP_W columns of a panel (its block of C is read and written once per chunk of
     * k: 2,048 x 1,024 products ran 1.15x faster in the step than with whole rows of C), or one
     * block of SMALL_W columns when there are fewer panels than threads */
    const int gw = panels >= team ? GROUP_W : SMALL_W, groups = (N + gw - 1) / gw, tasks = panels * groups;
    const avx512_job job = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .kc = kc, .groups = groups, .gw = gw,
                            .lda = lda, .ldb = ldb, .ldc = ldc, .st = st, .A = A, .B = B, .C = C};
    if (team > 1 && tasks > 1) { /* tasks handed out as threads come free: a slower core takes fewer */
#pragma omp parallel for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) avx512_task(&job, t);
    } else if (share_me >= 0) {
        help_behind();
        if (tasks > 1) run_shared(&job, tasks);
        else avx512_task(&job, 0);
    } else {
        for (int t = 0; t < tasks; t++) avx512_task(&job, t);
    }
}

void gemm_avx512(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc) {
    avx512_run(ta, tb, M, N, K, A, lda, B, ldb, (c_store){alpha, beta, NULL}, C, ldc);
}

void gemm_avx512_bias(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                      float *C, int ldc) {
    avx512_run(GEMM_N, GEMM_T, M, N, K, A, lda, B, ldb, (c_store){1.0f, 0.0f, bias}, C, ldc);
}

void gemm_small_tri(gemm_op ta, gemm_op tb, gemm_tri tri, int diag, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    /* A^T B stays with OpenBLAS where the linear layers do, Intel's AVX-512 cores (its small-matrix
     * kernel was 1.15-1.28x faster than an earlier form of this one on SkylakeX) */
    if (!gemm_small_own() || (ta == GEMM_T && !gemm_f32_own())) {
        gemm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (tb == GEMM_T && K > SMALL_KMAX) {
        gemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M > 0 && N > 0) small_avx512(ta, tb, tri, diag, M, N, K, A, lda, B, ldb, (c_store){alpha, beta, NULL}, C, ldc, 0);
}

void gemm_small(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc) {
    gemm_small_tri(ta, tb, GEMM_FULL, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int gemm_small_own(void) { return __builtin_cpu_supports("avx512f") != 0; }
