#include "train.h"

#include <omp.h>
#include <stdlib.h>

#include "gemm.h"
#include "vec.h"

/* The shards of a step (trainer.shards): one per thread on a host-memory backend with several
 * threads, at most one per sequence; each of shard[1..] sized for its share of the largest batch.
 * 0 or -1 (out of memory). */
static int create_shards(trainer *tr) {
    model *m = tr->m;
    const int max_batch = model_cfg(m)->max_batch;
    int n = omp_get_max_threads();
    if (n > max_batch) n = max_batch;
    tr->shards = 1;
    if (!model_backend(m)->host_memory || n < 2) return 0;
    tr->shard = calloc((size_t)n, sizeof *tr->shard);
    tr->part = calloc((size_t)n, sizeof *tr->part);
    if (!tr->shard || !tr->part) return -1;
    tr->shards = n;
    tr->shard[0] = m;
    for (int r = 1; r < n; r++)
        if (model_create_shard(&tr->shard[r], m, (max_batch + n - 1) / n, NULL, 0)) return -1;
    return 0;
}

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
    if (!tr->dev_m || !tr->dev_v || !tr->adam_m || !tr->adam_v || create_shards(tr)) {
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
    for (int r = 1; tr->shard && r < tr->shards; r++) model_destroy(tr->shard[r]);
    free(tr->shard);
    free(tr->part);
    tr->adam_m = tr->adam_v = tr->dev_m = tr->dev_v = NULL;
    tr->shard = NULL, tr->part = NULL, tr->shards = 1;
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

/* trainer_grads over s shards, the batch fitting: shard r takes sequences [r B/s, (r+1) B/s) and
 * computes the gradient of its share of the batch's mean loss (its targets over the batch's) on its
 * own thread; then the model's gradients (shard 0's) receive the others', added in shard order. */
static void sharded_grads(trainer *tr, const model_batch *b, int s, double *loss) {
    model *m = tr->m;
    const int total = model_target_count(m, b);
    const size_t n = model_param_table(m)->total;
    float *g = model_grads(m);
#pragma omp parallel num_threads(s)
    {
        omp_set_num_threads(1); /* every op inside runs on this thread, OpenBLAS included */
#pragma omp single
        gemm_share_begin(omp_get_num_threads());
        gemm_share_join(omp_get_thread_num());
        for (int r = omp_get_thread_num(); r < s; r += omp_get_num_threads()) {
            model_batch rows = model_batch_rows(m, b, (int)((long)r * b->B / s), (int)((long)(r + 1) * b->B / s));
            const double share = total ? (double)model_target_count(m, &rows) / total : 0.0;
            double part;
            model_zero_grad(tr->shard[r]);
            if (model_forward(tr->shard[r], &rows, &part, NULL, 0)) abort(); /* checked by the caller */
            model_backward(tr->shard[r], (float)share);
            tr->part[r] = share * part;
        }
        gemm_share_help(); /* the first shard done takes product tasks of the others (one core can
                            * run slower than the other: on a shared VM both ways, by up to 20 %) */
#pragma omp barrier
#pragma omp for schedule(static)
        for (size_t i0 = 0; i0 < n; i0 += VEC_SPAN)
            for (int r = 1; r < s; r++) {
                const float *gr = model_grads(tr->shard[r]);
                for (size_t i = i0; i < span_end(i0, n); i++) g[i] += gr[i];
            }
    }
    *loss = 0.0;
    for (int r = 0; r < s; r++) *loss += tr->part[r];
}

int trainer_grads(trainer *tr, const model_batch *b, double *loss, char *err, size_t errlen) {
    if (model_check_batch(tr->m, b, err, errlen)) return -1;
    const int s = b->B < tr->shards ? b->B : tr->shards;
    if (s > 1) {
        sharded_grads(tr, b, s, loss);
        return 0;
    }
    model_zero_grad(tr->m);
    if (model_forward(tr->m, b, loss, err, errlen)) return -1;
    model_backward(tr->m, 1.0f);
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
