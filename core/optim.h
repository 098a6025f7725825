/* AdamW (decoupled weight decay, bias correction; PyTorch's torch.optim.AdamW arithmetic),
 * global gradient-norm clipping, and the learning-rate schedule. */
#ifndef LRPE_OPTIM_H
#define LRPE_OPTIM_H

#include <stddef.h>

#include "arena.h"

typedef struct adamw_config {
    float beta1, beta2, eps, weight_decay;
    unsigned decay_kinds; /* bit (1 << kind) set: tensors of that kind get weight decay */
} adamw_config;

/* beta1 0.9, beta2 0.999, eps 1e-8, weight decay 0.01 on weights and embeddings only
 * (biases, norm gains and position parameters are not decayed). */
adamw_config adamw_defaults(void);

/* One AdamW update of every tensor in tt at learning rate lr; t is the 1-based step count.
 * params, grads, m, v: parallel arrays of tt->total floats. */
void adamw_step(float *params, const float *grads, float *m, float *v, const tensor_table *tt,
                const adamw_config *c, float lr, long t);

/* L2 norm of g[n], summed in double over fixed blocks: the same bits for any thread count. */
double grad_norm(const float *g, size_t n);
/* g[n] *= s (OpenMP over fixed blocks). */
void grad_scale(float *g, size_t n, float s);
/* The factor clipping multiplies gradients of this norm by: max_norm / (norm + 1e-6) when that is
 * below 1 and max_norm > 0, else 1. */
float grad_clip_coef(double norm, float max_norm);
/* Scales g so its norm is at most max_norm (coefficient max_norm / (norm + 1e-6), as PyTorch's
 * clip_grad_norm_); max_norm <= 0 disables. Returns the norm before clipping. */
double grad_clip(float *g, size_t n, float max_norm);

typedef enum lr_shape { LR_COSINE = 0, LR_LINEAR, LR_CONSTANT } lr_shape;

typedef struct lr_schedule {
    float lr, min_lr;  /* peak rate; the rate at the last step for cosine / linear */
    long warmup, total; /* linear warm-up steps; total steps */
    lr_shape shape;
} lr_schedule;

/* Learning rate at 0-based step: lr * (step+1)/warmup during warm-up, then decays from lr to
 * min_lr at step total-1 along the shape. */
float lr_at(const lr_schedule *s, long step);
/* Parses "cosine" | "linear" | "constant"; returns -1 when unknown. */
int lr_shape_parse(const char *name);

#endif
