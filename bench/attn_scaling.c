/* Times forward + backward of causal linear and causal softmax attention at growing T with the
 * tokens per call held constant (B*T = tokens), and prints the median time per token and its ratio
 * to the shortest T: linear attention should stay flat, softmax grow ~linearly in T
 * (`make bench-attn`). Usage: attn_scaling [reps tokens only], `only` naming one kernel to time
 * (the other column shows 0); head dim 64, 4 heads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "attention.h"
#include "rng.h"
#include "threads.h"
#include "timing.h"

#define HEADS 4
#define HEAD_DIM 64

/* A float array of n elements ~ N(0, std^2) (zeros when std is 0); exits on failure. */
static float *alloc_fill(size_t n, float std, rng *r) {
    float *x = calloc(n ? n : 1, sizeof *x);
    if (!x) {
        fprintf(stderr, "attn_scaling: out of memory\n");
        exit(2);
    }
    if (std > 0.0f)
        for (size_t i = 0; i < n; i++) x[i] = (float)(std * rng_normal(r));
    return x;
}

/* Median ms of `reps` forward + backward calls of kernel k on shape s (after one warm-up call). */
static double time_kernel(const attn_kernel *k, const attn_shape *s, int reps) {
    rng r;
    rng_seed(&r, 1, 2);
    size_t n = (size_t)s->B * s->T * s->ldq;
    float *q = alloc_fill(n, 0.5f, &r), *kk = alloc_fill(n, 0.5f, &r), *v = alloc_fill(n, 1.0f, &r);
    float *dout = alloc_fill(n, 1.0f, &r), *o = alloc_fill(n, 0, &r), *dq = alloc_fill(n, 0, &r);
    float *dk = alloc_fill(n, 0, &r), *dv = alloc_fill(n, 0, &r);
    float *saved = alloc_fill(k->saved_floats(s), 0, &r);
    float *scratch = alloc_fill(k->scratch_floats(s, omp_get_max_threads()), 0, &r);
    double *ms = malloc(sizeof *ms * (size_t)reps);
    for (int i = -1; i < reps; i++) {
        double t0 = now_ms();
        k->forward(s, o, saved, q, kk, v, NULL, scratch);
        k->backward(s, dq, dk, dv, dout, o, saved, q, kk, v, NULL, scratch);
        if (i >= 0) ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)reps, sizeof ms[0], cmp_double);
    double med = ms[reps / 2];
    free(q), free(kk), free(v), free(dout), free(o), free(dq), free(dk), free(dv), free(saved), free(scratch);
    free(ms);
    return med;
}

/* Prints the table: one row per T, one column pair per kernel. */
int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5, tokens = argc > 2 ? atoi(argv[2]) : 16384;
    if (reps < 1 || reps > 100) reps = 5;
    const char *only = argc > 3 ? argv[3] : NULL;
    static const int Ts[] = {256, 1024, 4096, 16384};
    if (tokens < 16384) tokens = 16384; /* at least one sequence of the longest T */
    const int nT = (int)(sizeof Ts / sizeof Ts[0]);
    const attn_kernel *kernels[2] = {&attn_linear, &attn_softmax};
    int threads = threads_setup();
    printf("%s threads=%d heads=%d head_dim=%d tokens/call=%d reps=%d (median of forward+backward)\n",
           threads_blas_config(), threads, HEADS, HEAD_DIM, tokens, reps);
    printf("%6s %4s | %14s %6s | %14s %6s\n", "T", "B", "linear us/tok", "ratio", "softmax us/tok", "ratio");
    double base[2] = {0, 0};
    for (int i = 0; i < nT; i++) {
        int T = Ts[i], B = tokens / T;
        attn_shape s = {.B = B, .T = T, .H = HEADS, .dqk = HEAD_DIM, .dv = HEAD_DIM, .causal = 1,
                        .ldq = HEADS * HEAD_DIM, .ldk = HEADS * HEAD_DIM, .ldv = HEADS * HEAD_DIM,
                        .ldo = HEADS * HEAD_DIM, .scale = 1.0f / sqrtf((float)HEAD_DIM)};
        double us[2];
        for (int kk = 0; kk < 2; kk++) {
            us[kk] = 0.0;
            if (only && strcmp(only, kernels[kk]->name) != 0) continue;
            us[kk] = time_kernel(kernels[kk], &s, reps) * 1e3 / ((double)B * T);
            if (i == 0) base[kk] = us[kk];
        }
        printf("%6d %4d | %14.3f %6.2f | %14.3f %6.2f\n", T, B, us[0], base[0] > 0 ? us[0] / base[0] : 0.0, us[1],
               base[1] > 0 ? us[1] / base[1] : 0.0);
        fflush(stdout);
    }
    return 0;
}
