/* lrpe's float32 products (core/gemm.h) made by its own kernel (gemm_kernel.h: AVX-512 or AVX2,
 * chosen for the CPU): gemm_small for attention's tiles on the calling thread, and gemm_own, the
 * same kernel over panels of rows on every thread, for the linear layers, with the tasks the
 * shards of a step share (gemm_share_*). */
#include <immintrin.h>
#include <omp.h>
#include <stdatomic.h>
#include <time.h>

#include "gemm_kernel.h"

_Thread_local float gemm_bt[SMALL_KMAX * SMALL_W] __attribute__((aligned(64)));
_Thread_local float gemm_at[KC * (PANEL + 16)] __attribute__((aligned(64)));

/* The kernel in use: set once from the CPU (or by gemm_kernel_use), read on every product. */
static const gemm_kernel *_Atomic kernel_now;
static atomic_int kernel_chosen;

/* The CPU's kernel: AVX-512 before AVX2, else none. */
static const gemm_kernel *kernel_for_cpu(void) {
    if (gemm_kernel_avx512.supported()) return &gemm_kernel_avx512;
    if (gemm_kernel_avx2.supported()) return &gemm_kernel_avx2;
    return NULL;
}

const gemm_kernel *gemm_kernel_active(void) {
    /* threads that race here store the same value */
    if (!atomic_load_explicit(&kernel_chosen, memory_order_acquire)) {
        atomic_store_explicit(&kernel_now, kernel_for_cpu(), memory_order_relaxed);
        atomic_store_explicit(&kernel_chosen, 1, memory_order_release);
    }
    return atomic_load_explicit(&kernel_now, memory_order_relaxed);
}

int gemm_kernel_use(const gemm_kernel *k) {
    if (k && !k->supported()) return -1;
    atomic_store_explicit(&kernel_now, k ? k : kernel_for_cpu(), memory_order_relaxed);
    atomic_store_explicit(&kernel_chosen, 1, memory_order_release);
    return 0;
}

/* One product of gemm_own cut into tasks: panels of PANEL rows by `groups` blocks of gw columns,
 * K in chunks of kc. */
typedef struct own_job {
    const gemm_kernel *kern;
    gemm_op ta, tb;
    int M, N, K, kc, groups, gw, lda, ldb, ldc;
    c_store st; /* for the first chunk of k; the others add (beta 1, no bias) */
    const float *A, *B;
    float *C;
} own_job;

/* Task t of job j: its panel and columns, chunk by chunk of k, each chunk after the first adding
 * into C. */
static void own_task(const own_job *j, int t) {
    const long ar = j->ta == GEMM_T ? 1 : j->lda, ak = j->ta == GEMM_T ? j->lda : 1;
    const long bj = j->tb == GEMM_T ? j->ldb : 1, bk = j->tb == GEMM_T ? 1 : j->ldb; /* B's steps per j, per k */
    const int r0 = t / j->groups * PANEL, m = j->M - r0 < PANEL ? j->M - r0 : PANEL;
    const int j0 = t % j->groups * j->gw, n = j->N - j0 < j->gw ? j->N - j0 : j->gw;
    int k0 = 0;
    do {
        const int kn = j->K - k0 < j->kc ? j->K - k0 : j->kc;
        const float *a = j->A + r0 * ar + k0 * ak;
        int lda = j->lda;
        /* A^T's chunk, kn rows of m, copied side by side where its rows are a multiple of the
         * kernel's at_copy_stride apart; B's block likewise where its rows are longer than the block
         * (measured: both pay there, and cost 10-15 % on d=64's weight gradients where they are
         * not needed) */
        if (j->ta == GEMM_T && j->lda % j->kern->at_copy_stride == 0) {
            lda = (m + 15) / 16 * 16 + j->kern->at_pad;
            j->kern->pack_rows(gemm_at, lda, a, j->lda, m, kn);
            a = gemm_at;
        }
        const c_store st = k0 ? (c_store){j->st.alpha, 1.0f, NULL} : store_from(&j->st, j0);
        j->kern->small(j->ta, j->tb, GEMM_FULL, 0, m, n, kn, a, lda, j->B + j0 * bj + k0 * bk, j->ldb, st,
                       j->C + (long)r0 * j->ldc + j0, j->ldc, j->ldb > SMALL_W);
        k0 += kn;
    } while (k0 < j->K);
}

/* ---- tasks shared between threads that make their own products side by side (gemm_share_*) */

#define SHARE_MAX 256 /* threads */

/* A thread's product that others may take tasks of: next, tasks and job under the lock. */
typedef struct share_slot {
    atomic_flag lock;
    own_job job;
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
static int slot_claim(share_slot *s, own_job *job, int *t, int keep) {
    slot_lock(s);
    const int ok = s->next < s->tasks - keep;
    if (ok) *t = s->next++;
    if (ok && job) *job = s->job;
    slot_unlock(s);
    return ok;
}

/* Runs tasks of slot i (another thread's) while more than `keep` are unclaimed; 1 when it ran any. */
static int take_tasks(int i, int keep) {
    own_job j;
    int t, ran = 0;
    while (slot_claim(&share_slots[i], &j, &t, keep)) {
        own_task(&j, t);
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
static void run_shared(const own_job *job, int tasks) {
    share_slot *s = &share_slots[share_me];
    slot_lock(s);
    s->job = *job, s->next = 0, s->tasks = tasks;
    atomic_store_explicit(&s->done, 0, memory_order_relaxed);
    slot_unlock(s);
    int t, mine = 0;
    while (slot_claim(s, NULL, &t, 0)) own_task(job, t), mine++;
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

/* gemm_own with C stored by st (its bias, if any, indexed from C's first column). */
static void own_run(gemm_op ta, gemm_op tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    c_store st, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    const gemm_kernel *kern = gemm_kernel_active();
    const int kmax = ta == GEMM_T ? KC : kern->kc_a, kc = K > kmax ? kmax : K, panels = (M + PANEL - 1) / PANEL;
    const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
    /* a task takes GROUP_W columns of a panel (its block of C is read and written once per chunk of
     * k: 2,048 x 1,024 products ran 1.15x faster in the step than with whole rows of C), or one
     * block of SMALL_W columns when there are fewer panels than threads */
    const int gw = panels >= team ? GROUP_W : SMALL_W, groups = (N + gw - 1) / gw, tasks = panels * groups;
    const own_job job = {.kern = kern, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .kc = kc,
                         .groups = groups, .gw = gw, .lda = lda, .ldb = ldb, .ldc = ldc, .st = st, .A = A,
                         .B = B, .C = C};
    if (team > 1 && tasks > 1) { /* tasks handed out as threads come free: a slower core takes fewer */
#pragma omp parallel for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) own_task(&job, t);
    } else if (share_me >= 0) {
        help_behind();
        if (tasks > 1) run_shared(&job, tasks);
        else own_task(&job, 0);
    } else {
        for (int t = 0; t < tasks; t++) own_task(&job, t);
    }
}

void gemm_own(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    own_run(ta, tb, M, N, K, A, lda, B, ldb, (c_store){alpha, beta, NULL}, C, ldc);
}

void gemm_own_bias(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                   float *C, int ldc) {
    own_run(GEMM_N, GEMM_T, M, N, K, A, lda, B, ldb, (c_store){1.0f, 0.0f, bias}, C, ldc);
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
        gemm_own(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M > 0 && N > 0)
        gemm_kernel_active()->small(ta, tb, tri, diag, M, N, K, A, lda, B, ldb, (c_store){alpha, beta, NULL}, C, ldc, 0);
}

void gemm_small(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc) {
    gemm_small_tri(ta, tb, GEMM_FULL, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int gemm_small_own(void) { return gemm_kernel_active() != NULL; }

void gemm_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    const gemm_kernel *k = gemm_kernel_active();
    if (k) {
        k->transpose(dst, ldd, src, lds, rows, cols);
        return;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(long)j * ldd + i] = src[(long)i * lds + j];
}
