#include "lengths.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* The mean test loss of model m over windows of L tokens, rows at a time; NaN with why when the
 * model refuses a batch. */
static double test_loss(workload *w, model *m, int rows, int L, char *why, size_t len) {
    const task_vtable *vt = w->task->vt;
    const size_t cap = (size_t)rows * L;
    int32_t *tokens = malloc(cap * sizeof *tokens), *targets = malloc(cap * sizeof *targets);
    double sum = 0.0, loss = NAN;
    long count = 0;
    if (!tokens || !targets) snprintf(why, len, "out of memory for %d x %d tokens", rows, L);
    const int nb = tokens && targets ? vt->eval_windows(w->task, SPLIT_TEST, rows, L) : 0;
    for (int i = 0; i < nb; i++) {
        task_batch b = {.B = rows, .T = L, .tokens = tokens, .targets = targets};
        vt->eval_batch(w->task, SPLIT_TEST, i, &b);
        model_batch mb = {.B = rows, .T = L, .tokens = tokens, .targets = targets};
        double l;
        int k = xent_count(targets, (int)cap);
        if (model_forward(m, &mb, &l, why, len)) {
            count = 0;
            break;
        }
        sum += l * k, count += k;
    }
    if (count) loss = sum / count;
    free(tokens), free(targets);
    return loss;
}

void length_evaluate(workload *w, const cfg *c, unsigned long long seed, long long len, length_eval *e) {
    const int B = w->batch.B, T = w->batch.T, L = (int)len;
    const long tokens = (long)B * T / L;
    const int rows = tokens < 1 ? 1 : tokens > B ? B : (int)tokens;
    *e = (length_eval){.len = L, .loss = NAN};
    snprintf(e->keys[0], sizeof e->keys[0], "test/loss@%d", L);
    snprintf(e->keys[1], sizeof e->keys[1], "test/bpc@%d", L);
    snprintf(e->keys[2], sizeof e->keys[2], "test/ppl@%d", L);
    if (L > T && strcmp(cfg_str(c, "model.absolute"), "learned") == 0) {
        snprintf(e->why, sizeof e->why, "the learned absolute table ends at the training length %d", T);
        return;
    }
    model_config mc = workload_model_config(w, c, seed);
    mc.max_batch = rows, mc.max_seq = L > T ? L : T;
    model *m = NULL;
    if (model_create(&m, &mc, e->why, sizeof e->why)) return;
    const size_t total = model_param_table(w->model)->total;
    if (model_param_table(m)->total != total) {
        snprintf(e->why, sizeof e->why, "its parameters depend on the sequence length");
    } else {
        memcpy(model_params(m), model_params(w->model), total * sizeof(float));
        model_upload_params(m);
        e->loss = test_loss(w, m, rows, L, e->why, sizeof e->why);
    }
    model_destroy(m);
}
