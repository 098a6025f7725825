#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "gemm.h"
#include "model.h"
#include "timing.h"
#include "workload.h"

/* Resets the process's resident-memory high-water mark (Linux: 5 > /proc/self/clear_refs). */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) fputs("5", f), fclose(f);
}

/* The resident-memory high-water mark in MB (VmHWM of /proc/self/status; 0 when unknown). */
static double peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb / 1024.0;
}

/* Best GFLOP/s of C[M,N] = A[M,K] B[N,K]^T (the forward of a linear layer) and of the weight
 * gradient dW[N,K] = dY[M,N]^T X[M,K] over 3 timed calls each, through gemm_f32 (the product the
 * linear layers run: OpenBLAS's sgemm or lrpe's kernel, core/gemm.h); 0 when out of memory. */
static double sgemm_rate(int M, int N, int K) {
    /* the memory the step's products see (arena_alloc: large blocks on huge pages) */
    float *a = arena_alloc((size_t)M * K), *b = arena_alloc((size_t)N * K), *c = arena_alloc((size_t)M * N);
    double best = 0;
    if (a && b && c) {
        for (long i = 0; i < (long)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
        for (long i = 0; i < (long)N * K; i++) b[i] = (float)(i % 5) * 0.1f;
        for (long i = 0; i < (long)M * N; i++) c[i] = (float)(i % 3) * 0.1f;
        for (int rep = 0; rep < 4; rep++) { /* the first call of each is a warm-up */
            double t0 = now_ms();
            gemm_f32(GEMM_N, GEMM_T, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
            double t1 = now_ms();
            gemm_f32(GEMM_T, GEMM_N, N, K, M, 1.0f, c, N, a, K, 1.0f, b, K);
            double t2 = now_ms(), gf = 2.0 * M * N * K / 1e6;
            if (rep && gf / (t1 - t0) > best) best = gf / (t1 - t0);
            if (rep && gf / (t2 - t1) > best) best = gf / (t2 - t1);
        }
    }
    free(a), free(b), free(c);
    return best;
}

/* The float32 product rate this machine reaches at the model's shapes with the product lrpe runs
 * (gemm_f32): the best over its linear layers (qkv, output, FFN in and out, the LM head) with
 * M = batch x seq_len rows. */
static double sgemm_peak(const model *m, int rows) {
    const model_config *c = model_cfg(m);
    const int C = c->d_model, F = c->ffn_mult * C;
    const int shapes[][2] = {{3 * C, C}, {C, C}, {F, C}, {C, F}, {c->head == HEAD_LM ? c->n_out : C, C}};
    double best = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double r = sgemm_rate(rows, shapes[i][0], shapes[i][1]);
        if (r > best) best = r;
    }
    return best;
}

int bench_measure(const cfg *c, unsigned long long seed, const char *data_dir, int warmup, int steps,
                  bench_result *out, int (*done)(const task *t, void *arg), void *arg, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    double *ms = calloc((size_t)steps, sizeof *ms);
    if (!ms) return errf(err, errlen, "out of memory");
    reset_peak_rss();
    workload w;
    if (workload_open(&w, c, seed, data_dir, 0, err, errlen)) {
        workload_close(&w);
        free(ms);
        return -1;
    }
    const float lr = (float)cfg_float(c, "train.lr"), clip = (float)cfg_float(c, "train.grad_clip");
    const backend *be = model_backend(w.model);
    for (int s = -warmup; s < steps; s++) {
        double t0 = now_ms();
        workload_train_batch(&w);
        model_batch mb = workload_model_batch(&w);
        double loss;
        if (trainer_step(&w.tr, &mb, lr, clip, &loss, NULL, err, errlen)) {
            workload_close(&w);
            free(ms);
            return -1;
        }
        be->synchronize(be); /* a step ends when the device has finished it */
        if (s >= 0) ms[s] = now_ms() - t0;
    }
    out->peak_rss_mb = peak_rss_mb();
    out->peak_dev_mb = (double)be->memory_peak(be) / (1 << 20);
    qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
    const int B = w.batch.B, T = w.batch.T;
    out->seq_len = T, out->batch = B;
    out->step_ms = ms[steps / 2];
    out->tokens_per_s = B * T / out->step_ms * 1e3;
    out->tokens_per_s_min = B * T / ms[steps - 1] * 1e3;
    out->tokens_per_s_max = B * T / ms[0] * 1e3;
    out->flops_per_token = model_train_flops_per_token(w.model, T);
    out->gflops = out->flops_per_token * out->tokens_per_s / 1e9;
    out->peak_gflops = be->host_memory ? sgemm_peak(w.model, B * T) : 0; /* the CPU's rate says nothing of a GPU */
    out->peak_pct = out->peak_gflops > 0 ? 100.0 * out->gflops / out->peak_gflops : 0;
    out->params = (long long)model_param_table(w.model)->total;
    int rc = done ? done(w.task, arg) : 0;
    workload_close(&w);
    free(ms);
    return rc;
}
