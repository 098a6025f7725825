/* What a run or a benchmark trains, built from a resolved config: the task, the model, its
 * trainer and the batch buffers (B x T tokens, targets, validity, 2-D positions, input vectors). */
#ifndef LRPE_WORKLOAD_H
#define LRPE_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "model.h"
#include "task.h"
#include "train.h"

typedef struct workload {
    task *task;
    model *model;
    trainer tr;
    task_batch batch;      /* buffers sized train.batch x seq_len */
    int32_t *tokens, *targets, *pos;
    float *inputs;         /* input vectors (patch and pixel tasks), else NULL */
    uint8_t *valid;
} workload;

/* Opens the task of config c (data from data_dir, data order from seed) and builds the model
 * (initialised from seed) for at most max_rows rows of a batch (0: the whole train.batch; a rank of
 * a data-parallel run computes its share of each batch), its AdamW trainer and batch buffers of
 * the whole batch; 0, or -1 with a one-line reason in err (missing data, impossible combination,
 * out of memory). w is zeroed first. */
int workload_open(workload *w, const cfg *c, unsigned long long seed, const char *data_dir, int max_rows, char *err,
                  size_t errlen);
/* The model config the workload's model was built from (before max_rows), for another model of
 * the same run (the length evaluation's). */
model_config workload_model_config(const workload *w, const cfg *c, unsigned long long seed);
/* Frees everything (a partly opened or zeroed workload is fine). */
void workload_close(workload *w);
/* Draws the next training batch into the buffers. */
void workload_train_batch(workload *w);
/* Puts evaluation batch i of split into the buffers. */
void workload_eval_batch(workload *w, task_split split, int i);
/* The model's view of the current batch (the padding mask only when some token is padding). */
model_batch workload_model_batch(const workload *w);
/* The same for rows lo..hi-1 of the batch only (the padding mask when some token of the whole
 * batch is padding). */
model_batch workload_model_rows(const workload *w, int lo, int hi);

#endif
