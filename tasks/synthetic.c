/* Synthetic tasks generated from the run seed (no data files): `recall` (associative recall: key-value
 * pairs, then queries whose next token is the value bound to the key) and `copy` (a random string,
 * a separator, then the same string again). Both are next-token tasks with targets only where the
 * answer is determined, so chance level is known: ln(V/2) for recall values, ln(V-1) for copy.
 * Training examples come from one RNG stream (the data cursor is its state); evaluation example j
 * of a split is generated from its own stream, so evaluation never depends on training. */
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "task_internal.h"

enum { SYN_VAL_EXAMPLES = 256, SYN_TEST_EXAMPLES = 512 };

typedef struct synthetic {
    struct task base;
    int recall;     /* 1 recall, 0 copy */
    int V, T;
    uint64_t seed;
    rng train;      /* the data cursor */
} synthetic;

/* Writes one example of length T into x[T] / y[T] (y: -1 where nothing is to be predicted). */
static void make_example(const synthetic *s, rng *r, int32_t *x, int32_t *y) {
    const int V = s->V, T = s->T;
    for (int t = 0; t < T; t++) y[t] = -1;
    if (s->recall) {
        /* tokens: 0 separator, keys [1, 1 + V/2), values [1 + V/2, V) */
        const int nkeys = V / 2, nvals = V - 1 - nkeys, pairs = T / 4;
        int32_t value_of[512];
        for (int k = 0; k < nkeys; k++) value_of[k] = 1 + nkeys + (int)rng_below(r, (uint32_t)nvals);
        int32_t keys[1024];
        int t = 0;
        for (int p = 0; p < pairs; p++) {
            keys[p] = (int)rng_below(r, (uint32_t)nkeys);
            x[t++] = 1 + keys[p];
            x[t++] = value_of[keys[p]];
        }
        while (t < T - 1) { /* queries: a key seen above, followed by its value */
            int k = keys[rng_below(r, (uint32_t)pairs)];
            x[t] = 1 + k;
            y[t] = value_of[k];
            x[t + 1] = value_of[k];
            t += 2;
        }
        if (t < T) x[t] = 0;
    } else {
        const int L = (T - 1) / 2;
        for (int t = 0; t < L; t++) x[t] = 1 + (int)rng_below(r, (uint32_t)(V - 1));
        x[L] = 0;
        for (int t = L + 1; t < T; t++) x[t] = t - L - 1 < L ? x[t - L - 1] : 0;
        for (int t = L; t + 1 < T && t + 1 - L - 1 < L; t++) y[t] = x[t + 1];
    }
}

static int syn_open(task **out, const task_params *p, char *err, size_t errlen) {
    int recall = strcmp(p->dataset, "recall") == 0;
    if (p->vocab < 4 || p->vocab > 1024)
        return errf(err, errlen, "synthetic: task.vocab must be in [4, 1024] (got %d)", p->vocab);
    synthetic *s = calloc(1, sizeof *s);
    if (!s) return errf(err, errlen, "synthetic: out of memory");
    s->recall = recall;
    s->V = p->vocab, s->T = p->seq_len, s->seed = p->seed;
    rng_seed(&s->train, p->seed, rng_stream_id("synthetic.train"));
    s->base.info = (task_info){.vocab = s->V, .n_out = s->V, .seq_len = s->T, .causal = 1, .output = TASK_LM,
                               .pos_rank = 1, .bytes_per_token = 0.0,
                               .data_id = recall ? "synthetic recall (generated from the run seed)"
                                                 : "synthetic copy (generated from the run seed)"};
    *out = &s->base;
    return 0;
}

static void syn_close(task *t) { free(t); }

static void syn_train_batch(task *t, task_batch *b) {
    synthetic *s = (synthetic *)t;
    for (int i = 0; i < b->B; i++) make_example(s, &s->train, b->tokens + (size_t)i * s->T, b->targets + (size_t)i * s->T);
}

static int split_examples(task_split split) { return split == SPLIT_VAL ? SYN_VAL_EXAMPLES : SYN_TEST_EXAMPLES; }

static int syn_eval_count(const task *t, task_split split, int B) { return (split_examples(split) + B - 1) / B; }

static void syn_eval_batch(task *t, task_split split, int i, task_batch *b) {
    synthetic *s = (synthetic *)t;
    const char *stream = split == SPLIT_VAL ? "synthetic.val" : "synthetic.test";
    for (int row = 0; row < b->B; row++) {
        int j = i * b->B + row;
        int32_t *x = b->tokens + (size_t)row * s->T, *y = b->targets + (size_t)row * s->T;
        if (j >= split_examples(split)) { /* past the end: a dummy row that counts for nothing */
            for (int t2 = 0; t2 < s->T; t2++) x[t2] = 0, y[t2] = -1;
            continue;
        }
        rng r;
        rng_seed(&r, s->seed, rng_stream_id(stream) + (uint64_t)j);
        make_example(s, &r, x, y);
    }
}

static size_t syn_cursor_size(const task *t) { return sizeof(rng); }
static void syn_cursor_save(const task *t, void *buf) { memcpy(buf, &((const synthetic *)t)->train, sizeof(rng)); }
static int syn_cursor_load(task *t, const void *buf, size_t n) {
    if (n != sizeof(rng)) return -1;
    memcpy(&((synthetic *)t)->train, buf, sizeof(rng));
    return 0;
}

static const task_dataset DATASETS[] = {{"recall", 64}, {"copy", 64}, {NULL, 0}};
static const task_metric METRICS[] = {{"test/acc", "test accuracy", 0, 1}, {NULL, NULL, 0, 0}};

const task_vtable task_synthetic_vt = {
    .kind = "synthetic",
    .causal = 1,
    .datasets = DATASETS,
    .seq_min = 4,
    .seq_max = 4096,
    .metrics = METRICS,
    .curve = TASK_CLS_CURVE,
    .open = syn_open,
    .close = syn_close,
    .train_batch = syn_train_batch,
    .eval_count = syn_eval_count,
    .eval_batch = syn_eval_batch,
    .cursor_size = syn_cursor_size,
    .cursor_save = syn_cursor_save,
    .cursor_load = syn_cursor_load,
};
