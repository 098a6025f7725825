#include "train.h"

#include <stdlib.h>

int trainer_init(trainer *tr, model *m, const adamw_config *adam) {
    const backend *be = model_backend(m);
    size_t n = model_param_table(m)->total;
    *tr = (trainer){.m = m, .adam = *adam};
    tr->dev_m = be->alloc(be, n * sizeof(float));
    tr->dev_v = be->alloc(be, n * sizeof(float));
    if (be->host_memory) {
        tr->adam_m = tr->dev_m, tr->adam_v = tr->dev_v;
    } else {
        tr->adam_m = arena_alloc(n);
        tr->adam_v = arena_alloc(n);
    }
    if (!tr->dev_m || !tr->dev_v || !tr->adam_m || !tr->adam_v) {
        trainer_free(tr);
        return -1;
    }
    return 0;
}

void trainer_free(trainer *tr) {
    if (!tr->m) return;
    const backend *be = model_backend(tr->m);
    if (!be->host_memory) {
        free(tr->adam_m);
        free(tr->adam_v);
    }
    if (tr->dev_m) be->free(be, tr->dev_m);
    if (tr->dev_v) be->free(be, tr->dev_v);
    tr->adam_m = tr->adam_v = tr->dev_m = tr->dev_v = NULL;
}

void trainer_download(trainer *tr) {
    const backend *be = model_backend(tr->m);
    model_params(tr->m);
    if (be->host_memory) return;
    size_t bytes = model_param_table(tr->m)->total * sizeof(float);
    be->download(be, tr->adam_m, tr->dev_m, bytes);
    be->download(be, tr->adam_v, tr->dev_v, bytes);
}

void trainer_upload(trainer *tr) {
    const backend *be = model_backend(tr->m);
    model_upload_params(tr->m);
    if (be->host_memory) return;
    size_t bytes = model_param_table(tr->m)->total * sizeof(float);
    be->upload(be, tr->dev_m, tr->adam_m, bytes);
    be->upload(be, tr->dev_v, tr->adam_v, bytes);
}

int trainer_grads(trainer *tr, const model_batch *b, double *loss, char *err, size_t errlen) {
    model_zero_grad(tr->m);
    if (model_forward(tr->m, b, loss, err, errlen)) return -1;
    model_backward(tr->m);
    return 0;
}

void trainer_apply(trainer *tr, float lr, float clip, double *gnorm) {
    model *m = tr->m;
    const backend *be = model_backend(m);
    const tensor_table *tt = model_param_table(m);
    float *grads = model_device_grads(m);
    double norm = be->grad_norm(be, grads, tt->total);
    float coef = grad_clip_coef(norm, clip);
    if (coef != 1.0f) be->scale(be, grads, tt->total, coef);
    if (gnorm) *gnorm = norm;
    tr->step++;
    be->adamw_step(be, model_device_params(m), grads, tr->dev_m, tr->dev_v, tt, &tr->adam, lr, tr->step);
}

int trainer_step(trainer *tr, const model_batch *b, float lr, float clip, double *loss, double *gnorm, char *err,
                 size_t errlen) {
    if (trainer_grads(tr, b, loss, err, errlen)) return -1;
    trainer_apply(tr, lr, clip, gnorm);
    return 0;
}
