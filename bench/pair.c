/* make bench-pair: this tree's kernels against the same files at another commit (BASE), on one
 * shard of a step, timed in pairs: lrpe's kernel for the linear layers (gemm_own,
 * core/gemm_small.c) on each product of a block, and causal linear and softmax attention
 * (core/attn_linear.c, core/attn_softmax.c: forward + backward, heads of 64, q/k/v strided as in the
 * qkv buffer). Each is called `pairs` times by the base and by this tree alternately (the order
 * swapped every pair), on the calling thread, the operands flushed from the caches before each call
 * (16 MB written) as the step's come from memory. Per row: the medians of both and the median of
 * the per-pair speed ratios (this tree over base) with its quartiles. A pair shares its moment of a shared machine, so
 * a ratio resolves about 2 % where whole steps resolve about 5 % (README, "Timed in pairs"). The
 * Makefile links the base's objects with every global of its core/gemm_small.c renamed *_base in
 * all three (so the base's attention calls the base's small products) and attn_linear and
 * attn_softmax renamed *_base, their other symbols made local. Operands start at 64-byte
 * boundaries, as in the model's arena (A/A of softmax attention read 0.974-0.984 with malloc's).
 * Usage: pair [d_model rows pairs]   (default 256 2048 21; the FFN 4 d_model wide; rows a
 * multiple of 256, the attention's sequence length) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "gemm.h"
#include "timing.h"

void gemm_own_base(gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                   int ldb, float beta, float *C, int ldc);
int gemm_small_own_base(void);
extern const attn_kernel attn_linear_base, attn_softmax_base;

#define FLUSH_FLOATS (4u << 20) /* 16 MB */
#define MAX_PAIRS 1001
#define ATTN_T 256 /* the attention's sequence length */

/* A float array of n elements at a 64-byte boundary with values in [-0.5, 0.5); exits when out of
 * memory. */
static float *filled(size_t n) {
    float *x = aligned_alloc(64, (n * sizeof *x + 63) / 64 * 64); /* as the model's arena aligns them */
    if (!x) {
        fprintf(stderr, "pair: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    return x;
}

/* Writes the flush buffer, evicting what the last call left in the caches. */
static void flush(float *buf) {
    for (size_t i = 0; i < FLUSH_FLOATS; i += 16) buf[i] += 1.0f;
}

/* The median of v[0..n), sorting v. */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* ms[v][p]: milliseconds of call(v, ctx), v = 0 the base and 1 this tree, in pair p < pairs; the
 * base first in even pairs, this tree first in odd ones, the caches flushed before each call. */
static void time_pairs(void (*call)(int v, const void *ctx), const void *ctx, int pairs, float *buf,
                       double ms[2][MAX_PAIRS]) {
    for (int p = 0; p < pairs; p++)
        for (int i = 0; i < 2; i++) {
            const int v = (p + i) & 1;
            flush(buf);
            double t0 = now_ms();
            call(v, ctx);
            ms[v][p] = now_ms() - t0;
        }
}

/* Prints the end of a row: the base's and this tree's median times (ms, sorting ms) as GFLOP/s of
 * `gflop` each, or as milliseconds when gflop is 0, then the median and quartiles of the per-pair
 * speed ratios ms[0][p] / ms[1][p] (this tree over base). */
static void print_medians_ratios(double ms[2][MAX_PAIRS], int pairs, double gflop) {
    static double ratio[MAX_PAIRS];
    for (int p = 0; p < pairs; p++) ratio[p] = ms[0][p] / ms[1][p];
    qsort(ratio, (size_t)pairs, sizeof *ratio, cmp_double);
    const double base = median(ms[0], pairs), tree = median(ms[1], pairs);
    if (gflop > 0)
        printf("  %7.1f  %7.1f", gflop * 1e3 / base, gflop * 1e3 / tree);
    else
        printf("  %7.3f  %7.3f", base, tree);
    printf("  %6.3f  %.3f..%.3f\n", ratio[pairs / 2], ratio[pairs / 4], ratio[3 * pairs / 4]);
}

/* A product's operands, for product_call. */
typedef struct product {
    gemm_op ta, tb;
    int M, N, K, lda, ldb;
    float beta;
    const float *A, *B;
    float *C;
} product;

/* Makes the product with the base's kernel (v 0) or this tree's (v 1). */
static void product_call(int v, const void *ctx) {
    const product *q = ctx;
    const gemm_fn gemm = v ? gemm_own : gemm_own_base;
    gemm(q->ta, q->tb, q->M, q->N, q->K, 1.0f, q->A, q->lda, q->B, q->ldb, q->beta, q->C, q->N);
}

/* An attention call's operands (q, k, v strided in one qkv buffer), for attention_call. */
typedef struct attention_run {
    const attn_shape *s;
    const attn_kernel *k[2];
    float *qkv, *dqkv, *o, *dout, *saved[2], *scratch[2];
} attention_run;

/* Forward + backward of the base's kernel (v 0) or this tree's (v 1). */
static void attention_call(int v, const void *ctx) {
    const attention_run *a = ctx;
    const int C = a->s->ldo;
    const float *q = a->qkv, *k = a->qkv + C, *val = a->qkv + 2 * C;
    a->k[v]->forward(a->s, a->o, a->saved[v], q, k, val, NULL, a->scratch[v]);
    a->k[v]->backward(a->s, a->dqkv, a->dqkv + C, a->dqkv + 2 * C, a->dout, a->o, a->saved[v], q, k, val, NULL,
                      a->scratch[v]);
}

/* One product of the linear layers, C[M,N] = op(A)[M,K] op(B)[K,N] + beta C, as core/linear.c
 * calls it, timed in pairs; prints its row. */
static void pair(const char *name, gemm_op ta, gemm_op tb, int M, int N, int K, float beta, int pairs, float *buf) {
    float *A = filled((size_t)M * K), *B = filled((size_t)K * N), *C = filled((size_t)M * N);
    const product q = {ta, tb, M, N, K, ta == GEMM_T ? M : K, tb == GEMM_T ? K : N, beta, A, B, C};
    static double ms[2][MAX_PAIRS];
    time_pairs(product_call, &q, pairs, buf, ms);
    printf("%-14s %c%c %5d x %5d x %5d", name, ta == GEMM_T ? 'T' : 'N', tb == GEMM_T ? 'T' : 'N', M, N, K);
    print_medians_ratios(ms, pairs, 2e-9 * M * N * K);
    free(A), free(B), free(C);
}

/* A causal attention kernel (base, and this tree's), forward + backward, over `rows` tokens in
 * sequences of T, heads of 64 (d_model / 64 of them), timed in pairs; prints its row. */
static void attention_pair(const attn_kernel *base, const attn_kernel *tree, int C, int rows, int T, int pairs,
                           float *buf) {
    const attn_shape s = {.B = rows / T, .T = T, .H = C / 64, .dqk = 64, .dv = 64, .causal = 1, .ldq = 3 * C,
                          .ldk = 3 * C, .ldv = 3 * C, .ldo = C, .scale = tree == &attn_softmax ? 0.125f : 1.0f,
                          .threads = 1};
    const size_t n = (size_t)rows * 3 * C, no = (size_t)rows * C;
    attention_run a = {&s, {base, tree}, filled(n), filled(n), filled(no), filled(no), {NULL}, {NULL}};
    for (int i = 0; i < 2; i++)
        a.saved[i] = filled(a.k[i]->saved_floats(&s) + 1), a.scratch[i] = filled(a.k[i]->scratch_floats(&s, 1) + 1);
    for (size_t i = 0; i < n; i++) a.qkv[i] += 0.6f; /* positive features, as after 1+elu */
    static double ms[2][MAX_PAIRS];
    time_pairs(attention_call, &a, pairs, buf, ms);
    printf("%-14s %3d x %4d x %d heads", tree->name, s.B, T, s.H);
    print_medians_ratios(ms, pairs, 0.0);
    free(a.qkv), free(a.dqkv), free(a.o), free(a.dout);
    for (int i = 0; i < 2; i++) free(a.saved[i]), free(a.scratch[i]);
}

int main(int argc, char **argv) {
    const int C = argc > 1 ? atoi(argv[1]) : 256, M = argc > 2 ? atoi(argv[2]) : 2048;
    const int pairs = argc > 3 ? atoi(argv[3]) : 21;
    if (C < 64 || C % 64 || M < ATTN_T || M % ATTN_T || pairs < 1 || pairs > MAX_PAIRS) {
        fprintf(stderr, "pair: usage: pair [d_model rows pairs]: d_model a multiple of 64, rows of %d, pairs <= %d\n",
                ATTN_T, MAX_PAIRS);
        return 2;
    }
    if (!gemm_small_own() || !gemm_small_own_base()) {
        printf("pair: lrpe's kernel %s does not run on this CPU (a base from before its AVX2 kernel needs AVX-512F)\n",
               gemm_small_own() ? "at the base" : "of this tree");
        return 0;
    }
    float *buf = filled(FLUSH_FLOATS);
    /* the linear layers of a block: {name, outputs, inputs} */
    const struct { const char *name; int out, in; } layers[] = {
        {"qkv", 3 * C, C}, {"proj", C, C}, {"fc", 4 * C, C}, {"fcproj", C, 4 * C}};
    printf("d_model %d, %d rows, %d pairs, one thread; GFLOP/s are medians, ratio = this tree over base\n", C, M,
           pairs);
    printf("%-14s op %-21s %7s  %7s  %6s  %s\n", "product", "M x N x K", "base", "tree", "ratio", "quartiles");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int out = layers[l].out, in = layers[l].in;
        char name[32];
        snprintf(name, sizeof name, "%s fwd", layers[l].name);
        pair(name, GEMM_N, GEMM_T, M, out, in, 0.0f, pairs, buf);
        snprintf(name, sizeof name, "%s dinp", layers[l].name);
        pair(name, GEMM_N, GEMM_N, M, in, out, 0.0f, pairs, buf);
        snprintf(name, sizeof name, "%s dW", layers[l].name);
        pair(name, GEMM_T, GEMM_N, out, in, M, 1.0f, pairs, buf);
    }
    printf("\n%-14s %-25s %7s  %7s  %6s  %s\n", "attention", "batch x T x heads", "base ms", "tree ms", "ratio",
           "quartiles");
    attention_pair(&attn_linear_base, &attn_linear, C, M, ATTN_T, pairs, buf);
    attention_pair(&attn_softmax_base, &attn_softmax, C, M, ATTN_T, pairs, buf);
    free(buf);
    return 0;
}
