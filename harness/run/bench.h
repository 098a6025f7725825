/* Training-throughput measurement behind `lrpe bench`: full training steps (batch draw, forward,
 * backward, clip, AdamW) of one config after a warm-up, the model's FLOP rate, the machine's sgemm
 * rate at the model's own matrix shapes, and the peak resident memory of the measurement. */
#ifndef LRPE_BENCH_H
#define LRPE_BENCH_H

#include "cfg.h"
#include "task.h"

typedef struct bench_result {
    int seq_len, batch;
    double tokens_per_s, tokens_per_s_min, tokens_per_s_max; /* median, slowest and fastest step */
    double step_ms;                                         /* median */
    double flops_per_token;                                 /* model_train_flops_per_token */
    double gflops;                                          /* at the median step */
    double peak_gflops;                                     /* best sgemm rate at the model's shapes (cpu; 0 otherwise) */
    double peak_pct;                                        /* gflops / peak_gflops x 100 */
    double peak_rss_mb;                                     /* high-water mark while training */
    double peak_dev_mb;                                     /* the backend's peak device memory (0: cpu) */
    long long params;
} bench_result;

/* Measures config c (data from data_dir, seed for init and data): warmup untimed steps, then
 * `steps` timed ones, then the sgemm peak. Calls done(task, arg) before closing the workload (for
 * provenance). 0, or -1 with a one-line reason in err. */
int bench_measure(const cfg *c, unsigned long long seed, const char *data_dir, int warmup, int steps,
                  bench_result *out, int (*done)(const task *t, void *arg), void *arg, char *err, size_t errlen);

#endif
