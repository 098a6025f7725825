/* One optimisation step of a model: the loop body shared by the trainer, the benchmarks and the
 * tests. Owns the AdamW moments (two allocations of the parameter count on the model's backend,
 * made once, with host views for checkpoints). */
#ifndef LRPE_TRAIN_H
#define LRPE_TRAIN_H

#include "model.h"
#include "optim.h"

typedef struct trainer {
    model *m;
    adamw_config adam;
    float *adam_m, *adam_v; /* HOST views of the first and second moments, parallel to the parameters:
                             * current after trainer_download; after writing them (and the parameters'
                             * host view), call trainer_upload. On the CPU they are the moments. */
    float *dev_m, *dev_v;   /* the moments on the model's backend */
    long step;              /* optimizer steps taken (AdamW's t is step after an update) */
    int shards;             /* threads a step's batch is split over: 1, or on the CPU min(threads, batch) */
    model **shard;          /* shard[1 .. shards-1] (model_create_shard of m); shard[0] is m itself */
    double *part;           /* [shards] each shard's share of the last step's loss */
} trainer;

/* Allocates the moments for model m, and on the CPU with several threads the shards that split a
 * step's batch over them: each thread runs forward and backward of its slice of the sequences with
 * OpenBLAS single-threaded inside, in one parallel region per step rather than one per op, and the
 * gradients are summed in a fixed order (the same bits for the same thread count). Returns 0 or -1
 * (out of memory). */
int trainer_init(trainer *tr, model *m, const adamw_config *adam);
void trainer_free(trainer *tr);

/* Brings the parameters' and moments' host views up to date (before a checkpoint), and back. */
void trainer_download(trainer *tr);
void trainer_upload(trainer *tr);

/* The two halves of a step, for data-parallel training (the gradients are summed over the processes
 * in between): zero grads -> forward -> backward (0, or -1 with err as trainer_step); then clip the
 * gradient norm to clip (<= 0: off) -> AdamW at lr, *gnorm (may be NULL) the pre-clip norm. */
int trainer_grads(trainer *tr, const model_batch *b, double *loss, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void trainer_apply(trainer *tr, float lr, float clip, double *gnorm);

/* zero grads -> forward -> backward -> clip the gradient norm to clip (<= 0: off) -> AdamW at lr.
 * Returns 0 with *loss the batch loss (before the update) and *gnorm (may be NULL) the pre-clip
 * norm, or -1 with err (may be NULL) when the batch does not fit the model: nothing is updated. */
int trainer_step(trainer *tr, const model_batch *b, float lr, float clip, double *loss, double *gnorm, char *err,
                 size_t errlen) __attribute__((warn_unused_result));

#endif
