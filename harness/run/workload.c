#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model config c asks for on the task ti (sized train.batch x seq_len); 0 or -1 with err. */
static int model_config_of(const task_info *ti, const cfg *c, unsigned long long seed, model_config *mc, char *err,
                           size_t errlen) {
    *mc = model_config_default();
    if (cfg_model_config(c, mc, err, errlen)) return -1;
    mc->vocab = ti->vocab, mc->input_dim = ti->input_dim, mc->n_out = ti->n_out, mc->causal = ti->causal;
    mc->head = ti->output == TASK_CLS ? HEAD_CLS : HEAD_LM;
    mc->max_batch = (int)cfg_int(c, "train.batch"), mc->max_seq = ti->seq_len;
    mc->pos_rank = ti->pos_rank, mc->grid_h = ti->grid_h, mc->grid_w = ti->grid_w;
    mc->seed = seed;
    return 0;
}

model_config workload_model_config(const workload *w, const cfg *c, unsigned long long seed) {
    model_config mc;
    char err[8];
    model_config_of(&w->task->info, c, seed, &mc, err, sizeof err); /* it built the workload's model: it cannot fail */
    return mc;
}

int workload_open(workload *w, const cfg *c, unsigned long long seed, const char *data_dir, int max_rows, char *err,
                  size_t errlen) {
    memset(w, 0, sizeof *w);
    task_params tp = {.kind = cfg_str(c, "task.kind"), .dataset = cfg_str(c, "task.dataset"),
                      .path = cfg_str(c, "task.path"), .view = cfg_str(c, "task.view"),
                      .seq_len = (int)cfg_int(c, "task.seq_len"), .vocab = (int)cfg_int(c, "task.vocab"),
                      .patch = (int)cfg_int(c, "task.patch"), .seed = seed, .data_dir = data_dir,
                      .listops = {.depth = (int)cfg_int(c, "task.listops.depth"),
                                  .arity = (int)cfg_int(c, "task.listops.arity"),
                                  .min_len = (int)cfg_int(c, "task.listops.min_len"),
                                  .n = {(int)cfg_int(c, "task.listops.train"), (int)cfg_int(c, "task.listops.val"),
                                        (int)cfg_int(c, "task.listops.test")},
                                  .seed = (uint64_t)cfg_int(c, "task.listops.data_seed")}};
    if (task_open(&w->task, &tp, err, errlen)) return -1;
    const task_info *ti = &w->task->info;
    model_config mc;
    if (model_config_of(ti, c, seed, &mc, err, errlen)) return -1;
    const int B = mc.max_batch, T = mc.max_seq;
    if (max_rows > 0 && max_rows < B) mc.max_batch = max_rows;
    if (model_create(&w->model, &mc, err, errlen)) return -1;
    model_init(w->model, seed);
    adamw_config adam = cfg_adamw_config(c);
    if (trainer_init(&w->tr, w->model, &adam)) {
        snprintf(err, errlen, "out of memory for the optimizer state");
        return -1;
    }
    size_t n = (size_t)B * T;
    w->tokens = calloc(n, sizeof *w->tokens);
    w->targets = calloc(n, sizeof *w->targets);
    w->valid = calloc(n, sizeof *w->valid);
    w->pos = calloc(n * (size_t)ti->pos_rank, sizeof *w->pos);
    if (ti->input_dim) w->inputs = calloc(n * (size_t)ti->input_dim, sizeof *w->inputs);
    if (!w->tokens || !w->targets || !w->valid || !w->pos || (ti->input_dim && !w->inputs)) {
        snprintf(err, errlen, "out of memory for batch buffers (%d x %d)", B, T);
        return -1;
    }
    w->batch = (task_batch){.B = B, .T = T, .tokens = w->tokens, .targets = w->targets,
                            .pos = ti->pos_rank == 2 ? w->pos : NULL, .inputs = w->inputs, .valid = w->valid};
    return 0;
}

void workload_close(workload *w) {
    trainer_free(&w->tr);
    model_destroy(w->model);
    task_close(w->task);
    free(w->tokens), free(w->targets), free(w->valid), free(w->pos), free(w->inputs);
    memset(w, 0, sizeof *w);
}

void workload_train_batch(workload *w) {
    memset(w->valid, 1, (size_t)w->batch.B * w->batch.T);
    w->task->vt->train_batch(w->task, &w->batch);
}

void workload_eval_batch(workload *w, task_split split, int i) {
    memset(w->valid, 1, (size_t)w->batch.B * w->batch.T);
    w->task->vt->eval_batch(w->task, split, i, &w->batch);
}

model_batch workload_model_rows(const workload *w, int lo, int hi) {
    const task_batch *b = &w->batch;
    int padded = 0;
    for (int i = 0; i < b->B * b->T && !padded; i++) padded = !b->valid[i];
    const model_batch all = {.B = b->B, .T = b->T, .tokens = b->inputs ? NULL : b->tokens, .inputs = b->inputs,
                             .targets = b->targets, .valid = padded ? b->valid : NULL, .pos = b->pos};
    return model_batch_rows(w->model, &all, lo, hi);
}

model_batch workload_model_batch(const workload *w) { return workload_model_rows(w, 0, w->batch.B); }
