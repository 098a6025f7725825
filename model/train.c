#include "train.h"

#include <stdlib.h>

int trainer_init(trainer *tr, model *m, const adamw_config *adam) {
    size_t n = model_param_table(m)->total;
    tr->m = m;
    tr->adam = *adam;
    tr->step = 0;
    tr->adam_m = arena_alloc(n);
    tr->adam_v = arena_alloc(n);
    if (!tr->adam_m || !tr->adam_v) {
        trainer_free(tr);
        return -1;
    }
    return 0;
}

void trainer_free(trainer *tr) {
    free(tr->adam_m);
    free(tr->adam_v);
    tr->adam_m = tr->adam_v = NULL;
}

int trainer_step(trainer *tr, const model_batch *b, float lr, float clip, double *loss, double *gnorm, char *err,
                 size_t errlen) {
    model *m = tr->m;
    const tensor_table *tt = model_param_table(m);
    model_zero_grad(m);
    if (model_forward(m, b, loss, err, errlen)) return -1;
    model_backward(m);
    double norm = grad_clip(model_grads(m), tt->total, clip);
    if (gnorm) *gnorm = norm;
    tr->step++;
    adamw_step(model_params(m), model_grads(m), tr->adam_m, tr->adam_v, tt, &tr->adam, lr, tr->step);
    return 0;
}
