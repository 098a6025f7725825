/* Data parallelism over threads (trainer.shards): a step split over the threads gives the gradient,
 * loss and update of the same step on one thread, up to rounding, whatever the batch's shape:
 * uneven slices, ignored targets, padding, input vectors with 2-D positions, a batch smaller than
 * the thread count; and the same bits when run again. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "rng.h"
#include "test.h"
#include "threads.h"
#include "train.h"

enum { SH_B = 5, SH_T = 20, SH_P = 6 }; /* 5 sequences: slices of 2 and 3 over 2 threads */

/* A batch with random tokens (or input vectors), targets of which about a third are ignored
 * (classification: none), padding in rows 1 and 3, and 2-D positions when cfg has them. */
typedef struct sh_batch {
    int32_t tok[SH_B * SH_T], tgt[SH_B * SH_T], pos[SH_B * SH_T * 2];
    float in[SH_B * SH_T * SH_P];
    uint8_t valid[SH_B * SH_T];
    model_batch b;
} sh_batch;

/* Fills s with B sequences of SH_T tokens for a model of cfg; s->b views them. */
static void fill_batch(sh_batch *s, const model_config *cfg, int B, rng *r) {
    const int cls = cfg->head == HEAD_CLS;
    for (int i = 0; i < B * SH_T; i++) {
        s->tok[i] = (int32_t)rng_below(r, (uint32_t)(cfg->vocab ? cfg->vocab : 1));
        s->tgt[i] = cls ? (int32_t)rng_below(r, (uint32_t)cfg->n_out)
                        : rng_uniform(r) < 0.35 ? -1 : (int32_t)rng_below(r, (uint32_t)cfg->n_out);
        s->valid[i] = (i / SH_T) % 2 == 0 || i % SH_T < SH_T - 4 - i / SH_T;
        if (cfg->pos_rank == 2) s->pos[2 * i] = (i % SH_T) / cfg->grid_w, s->pos[2 * i + 1] = (i % SH_T) % cfg->grid_w;
    }
    for (int i = 0; i < B * SH_T * SH_P; i++) s->in[i] = rng_uniform(r) - 0.5f;
    s->b = (model_batch){.B = B, .T = SH_T, .tokens = cfg->input_dim ? NULL : s->tok,
                         .inputs = cfg->input_dim ? s->in : NULL, .targets = s->tgt,
                         .valid = cls ? s->valid : NULL, .pos = cfg->pos_rank == 2 ? s->pos : NULL};
}

/* A model of cfg from seed 3 and its trainer, made at `threads` threads (which fixes its shards). */
static int open_at(model **m, trainer *tr, const model_config *cfg, int threads) {
    char err[256];
    threads_set(threads);
    int rc = model_create(m, cfg, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return -1;
    model_init(*m, 3);
    adamw_config adam = adamw_defaults();
    CHECK(trainer_init(tr, *m, &adam) == 0, "trainer_init");
    return 0;
}

/* The configurations: lm softmax + rope; a classifier with linear attention, lrpe-unitary and
 * padding; input vectors on a 4 x 5 grid with 2-D positions and a learned absolute encoding. */
static model_config sh_config(int which) {
    model_config c = model_config_default();
    c.vocab = c.n_out = 24, c.max_batch = SH_B, c.max_seq = SH_T;
    c.layers = 2, c.d_model = 16, c.heads = 2;
    if (which == 0) c.encoding = "rope";
    if (which == 1) c.head = HEAD_CLS, c.n_out = 3, c.causal = 0, c.attention = "linear", c.encoding = "lrpe-unitary";
    if (which == 2) {
        c.vocab = 0, c.input_dim = SH_P, c.head = HEAD_CLS, c.n_out = 4, c.causal = 0, c.absolute = "learned";
        c.pos_rank = 2, c.grid_h = 4, c.grid_w = 5;
    }
    return c;
}

/* Four steps on one thread and over 2 threads: losses, gradients and parameters agree to
 * rounding; the last step's batch of one sequence (fewer than the threads) runs unsplit. */
TEST(shards_match_one_thread) {
    const int threads = omp_get_max_threads();
    for (int which = 0; which < 3 && !test_failures(); which++) {
        const model_config cfg = sh_config(which);
        model *m1, *m2;
        trainer t1, t2;
        if (open_at(&m1, &t1, &cfg, 1) || open_at(&m2, &t2, &cfg, 2)) break;
        CHECK(t1.shards == 1 && t2.shards == 2, "config %d: shards %d and %d, want 1 and 2", which, t1.shards,
              t2.shards);
        const size_t n = model_param_table(m1)->total;
        rng r;
        rng_seed(&r, 17, rng_stream_id("shards"));
        sh_batch s;
        for (int step = 0; step < 4; step++) {
            fill_batch(&s, &cfg, step == 3 ? 1 : SH_B, &r);
            double l1, l2, g1, g2;
            char err[256];
            threads_set(1); /* each model at the thread count it was made for (its scratch) */
            CHECK(trainer_grads(&t1, &s.b, &l1, err, sizeof err) == 0, "%s", err);
            threads_set(2);
            CHECK(trainer_grads(&t2, &s.b, &l2, err, sizeof err) == 0, "%s", err);
            CHECK_CLOSE(l2, l1, 1e-5, 1e-7, "loss over 2 shards vs 1 thread");
            CHECK_ARRAYS("gradients over 2 shards vs 1 thread", model_grads(m2), model_grads(m1), n, 2e-4, 2e-6);
            trainer_apply(&t1, 1e-2f, 1.0f, &g1);
            trainer_apply(&t2, 1e-2f, 1.0f, &g2);
            CHECK_CLOSE(g2, g1, 1e-4, 1e-7, "gradient norm");
        }
        CHECK_ARRAYS("parameters after 4 steps", model_params(m2), model_params(m1), n, 1e-3, 1e-5);
        trainer_free(&t1), trainer_free(&t2);
        model_destroy(m1), model_destroy(m2);
    }
    threads_set(threads);
}

/* The same sharded step twice gives the same bits (the slices and the order of the sum are fixed). */
TEST(shards_are_bitwise_deterministic) {
    const int threads = omp_get_max_threads();
    const model_config cfg = sh_config(1);
    float *grads[2] = {NULL, NULL};
    double loss[2] = {0, 0};
    size_t n = 0;
    for (int run = 0; run < 2; run++) {
        model *m;
        trainer t;
        if (open_at(&m, &t, &cfg, 2)) break;
        n = model_param_table(m)->total;
        rng r;
        rng_seed(&r, 5, rng_stream_id("shards"));
        sh_batch s;
        fill_batch(&s, &cfg, SH_B, &r);
        char err[256];
        CHECK(trainer_grads(&t, &s.b, &loss[run], err, sizeof err) == 0, "%s", err);
        grads[run] = tcalloc(n);
        memcpy(grads[run], model_grads(m), n * sizeof(float));
        trainer_free(&t);
        model_destroy(m);
    }
    threads_set(threads);
    CHECK(grads[1] && loss[0] == loss[1] && !memcmp(grads[0], grads[1], n * sizeof(float)),
          "two sharded steps gave other bits");
    free(grads[0]), free(grads[1]);
}

/* A batch that does not fit is refused before any shard computes, with the model's reason. */
TEST(shards_refuse_a_batch_that_does_not_fit) {
    const int threads = omp_get_max_threads();
    model_config cfg = sh_config(0);
    cfg.max_batch = 4;
    model *m;
    trainer t;
    if (open_at(&m, &t, &cfg, 2)) return;
    threads_set(threads);
    rng r;
    rng_seed(&r, 5, rng_stream_id("shards"));
    sh_batch s;
    fill_batch(&s, &cfg, SH_B, &r);
    char err[256] = "";
    double loss = 123.0;
    CHECK(trainer_grads(&t, &s.b, &loss, err, sizeof err) == -1 && strstr(err, "does not fit") && loss == 123.0,
          "an oversized batch: '%s', loss %g", err, loss);
    trainer_free(&t);
    model_destroy(m);
}

/* A model made at one thread and run at two: the attention kernels' teams stay within the threads
 * their working memory was sized for, so the step matches the one at one thread. With softmax
 * attention a second thread's tile would have been written past that memory, over the activations
 * after it (this test failed so); linear attention with the denominator normaliser runs too. */
TEST(model_made_at_one_thread_runs_at_two) {
    const int threads = omp_get_max_threads();
    for (int which = 0; which < 2 && !test_failures(); which++) {
        model_config cfg = sh_config(0);
        if (which) cfg.attention = "linear", cfg.normalizer = "denominator";
        model *m;
        char err[256];
        threads_set(1);
        CHECK(model_create(&m, &cfg, err, sizeof err) == 0, "%s", err);
        if (test_failures()) break;
        model_init(m, 3);
        const size_t n = model_param_table(m)->total;
        rng r;
        rng_seed(&r, 9, rng_stream_id("shards"));
        sh_batch s;
        fill_batch(&s, &cfg, SH_B, &r);
        double loss[2];
        float *grads[2];
        for (int t = 0; t < 2; t++) {
            threads_set(t + 1);
            model_zero_grad(m);
            CHECK(model_forward(m, &s.b, &loss[t], err, sizeof err) == 0, "%s", err);
            model_backward(m, 1.0f);
            grads[t] = tdup(model_grads(m), n);
        }
        CHECK_CLOSE(loss[1], loss[0], 1e-6, 1e-7, "loss at 2 threads vs 1");
        CHECK_ARRAYS("gradients at 2 threads vs 1", grads[1], grads[0], n, 1e-5, 1e-7);
        free(grads[0]), free(grads[1]);
        model_destroy(m);
    }
    threads_set(threads);
}
