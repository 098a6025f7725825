/* Times full training steps (forward, backward, clip, AdamW) of one model configuration and prints
 * the median ms/step and tokens/s: the measurement behind the choice of OpenBLAS threading variant
 * (`make bench-blas-variant`). Usage: step_time [d_model layers seq batch steps]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "threads.h"
#include "timing.h"
#include "train.h"

int main(int argc, char **argv) {
    int d = argc > 1 ? atoi(argv[1]) : 256, layers = argc > 2 ? atoi(argv[2]) : 4;
    int T = argc > 3 ? atoi(argv[3]) : 256, B = argc > 4 ? atoi(argv[4]) : 16;
    int steps = argc > 5 ? atoi(argv[5]) : 10;
    if (steps < 1 || steps > 1000) steps = 10;
    int threads = threads_setup();
    model_config cfg = model_config_default();
    cfg.d_model = d, cfg.layers = layers, cfg.max_seq = T, cfg.max_batch = B, cfg.heads = 4;
    model *m;
    char err[128];
    if (model_create(&m, &cfg, err, sizeof err)) {
        fprintf(stderr, "step_time: %s\n", err);
        return 2;
    }
    model_init(m, 1);
    trainer tr;
    adamw_config adam = adamw_defaults();
    if (trainer_init(&tr, m, &adam)) return 2;
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) tok[i] = (i * 7) % 256, tgt[i] = (i * 11) % 256;
    model_batch batch = {.B = B, .T = T, .tokens = tok, .targets = tgt};
    double ms[1000];
    for (int s = -2; s < steps; s++) { /* two warm-up steps */
        double t0 = now_ms();
        trainer_step(&tr, &batch, 1e-4f, 1.0f, NULL);
        if (s >= 0) ms[s] = now_ms() - t0;
    }
    qsort(ms, (size_t)steps, sizeof ms[0], cmp_double);
    double med = ms[steps / 2];
    printf("%s threads=%d d=%d L=%d T=%d B=%d: median %.1f ms/step (min %.1f max %.1f) %.0f tokens/s\n",
           threads_blas_config(), threads, d, layers, T, B, med, ms[0], ms[steps - 1], B * T / med * 1e3);
    trainer_free(&tr);
    model_destroy(m);
    free(tok);
    free(tgt);
    return 0;
}
