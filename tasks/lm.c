/* Byte-level language modelling (`lm`) on kjv (data/kjv.txt), sotu (data/sotu.txt) or any text file
 * (dataset `file`, task.path). Vocabulary 256, one token per byte. The file is split contiguously by
 * byte offset, 90% / 5% / 5% (train / val / test). Training examples are random windows of seq_len + 1
 * bytes of the train split drawn from one seeded RNG stream (the data cursor is its state). Evaluation
 * covers a split with fixed consecutive non-overlapping windows: window k feeds bytes [kT, kT + T) of
 * the split and predicts bytes [kT + 1, kT + T], so every byte but the first is predicted exactly once
 * (the last window is partial: the missing targets are ignored). No subset: at the defaults the whole
 * test split is 808 windows of 256 bytes for kjv and 2,102 for sotu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datafile.h"
#include "fs.h"
#include "rng.h"
#include "sha256.h"
#include "task_internal.h"

typedef struct lm_task {
    struct task base;
    char *text;          /* the whole file */
    size_t n;            /* its length */
    size_t lo[3], hi[3]; /* byte range of each split */
    int T;
    rng train;           /* the data cursor */
    char data_id[1200];
} lm_task;

/* Opens the corpus named by the dataset (or task.path) and checks it. */
static int lm_open(task **out, const task_params *p, char *err, size_t errlen) {
    const int T = p->seq_len;
    lm_task *s = calloc(1, sizeof *s);
    if (!s) return errf(err, errlen, "lm: out of memory");
    char hex[65];
    int rc;
    if (strcmp(p->dataset, "file") == 0) {
        if (!p->path || !*p->path) {
            free(s);
            return errf(err, errlen, "lm: dataset file needs task.path (the text file to model)");
        }
        rc = fs_read_file(p->path, DATA_MAX_BYTES, &s->text, &s->n, err, errlen);
        if (!rc) {
            sha256_hex(s->text, s->n, hex, 64);
            snprintf(s->data_id, sizeof s->data_id, "file %s sha256 %s", p->path, hex);
        }
    } else {
        char name[64];
        snprintf(name, sizeof name, "%s.txt", p->dataset);
        rc = data_load_verified(p->data_dir, name, &s->text, &s->n, hex, err, errlen);
        if (!rc) snprintf(s->data_id, sizeof s->data_id, "%s sha256 %s", name, hex);
    }
    if (rc) {
        free(s);
        return -1;
    }
    const size_t n = s->n, cut[4] = {0, n / 100 * 90 + n % 100 * 90 / 100, n / 100 * 95 + n % 100 * 95 / 100, n};
    for (int k = 0; k < 3; k++) s->lo[k] = cut[k], s->hi[k] = cut[k + 1];
    if (s->hi[0] - s->lo[0] < (size_t)T + 1 || s->hi[2] - s->lo[2] < 2 || s->hi[1] - s->lo[1] < 2) {
        free(s->text);
        free(s);
        return errf(err, errlen, "lm: %s has %zu bytes: too small for seq_len %d (90/5/5 split)",
                        p->path && *p->path ? p->path : p->dataset, n, T);
    }
    s->T = T;
    rng_seed(&s->train, p->seed, rng_stream_id("lm.train"));
    s->base.info = (task_info){.vocab = 256, .n_out = 256, .seq_len = T, .causal = 1, .output = TASK_LM,
                               .pos_rank = 1, .bytes_per_token = 1.0, .data_id = s->data_id};
    *out = &s->base;
    return 0;
}

/* Frees the task. */
static void lm_close(task *t) {
    lm_task *s = (lm_task *)t;
    free(s->text);
    free(s);
}

/* B random windows of the train split. */
static void lm_train_batch(task *t, task_batch *b) {
    lm_task *s = (lm_task *)t;
    const int T = s->T;
    const uint32_t starts = (uint32_t)(s->hi[0] - s->lo[0] - (size_t)T); /* start in [0, len - T - 1] */
    for (int i = 0; i < b->B; i++) {
        const unsigned char *w = (const unsigned char *)s->text + s->lo[0] + rng_below(&s->train, starts);
        int32_t *x = b->tokens + (size_t)i * T, *y = b->targets + (size_t)i * T;
        for (int k = 0; k < T; k++) x[k] = w[k], y[k] = w[k + 1];
        if (b->valid) memset(b->valid + (size_t)i * T, 1, (size_t)T);
    }
}

/* Windows of T bytes covering a split (each predicts T bytes; the last may be partial). */
static int lm_windows(const lm_task *s, task_split split, int T) {
    size_t pred = s->hi[split] - s->lo[split] - 1;
    return (int)((pred + (size_t)T - 1) / (size_t)T);
}

/* All windows of T bytes of the split, B at a time. */
static int lm_eval_windows(const task *t, task_split split, int B, int T) {
    return (lm_windows((const lm_task *)t, split, T) + B - 1) / B;
}

/* All windows of the split, B at a time. */
static int lm_eval_count(const task *t, task_split split, int B) { return lm_eval_windows(t, split, B, ((const lm_task *)t)->T); }

/* Evaluation batch i: windows iB .. iB + B - 1 of b->T bytes of the split (rows past the end
 * ignored). */
static void lm_eval_batch(task *t, task_split split, int i, task_batch *b) {
    lm_task *s = (lm_task *)t;
    const int T = b->T, nw = lm_windows(s, split, T);
    const unsigned char *text = (const unsigned char *)s->text;
    for (int row = 0; row < b->B; row++) {
        int w = i * b->B + row;
        int32_t *x = b->tokens + (size_t)row * T, *y = b->targets + (size_t)row * T;
        for (int k = 0; k < T; k++) {
            size_t at = s->lo[split] + (size_t)w * T + (size_t)k;
            int in = w < nw && at < s->hi[split], next = in && at + 1 < s->hi[split];
            x[k] = in ? text[at] : 0;
            y[k] = next ? text[at + 1] : -1;
        }
        if (b->valid) memset(b->valid + (size_t)row * T, 1, (size_t)T); /* causal: trailing filler cannot leak */
    }
}

/* The cursor is the training RNG state. */
static size_t lm_cursor_size(const task *t) { return sizeof(rng); }
static void lm_cursor_save(const task *t, void *buf) { memcpy(buf, &((const lm_task *)t)->train, sizeof(rng)); }
static int lm_cursor_load(task *t, const void *buf, size_t n) {
    if (n != sizeof(rng)) return -1;
    memcpy(&((lm_task *)t)->train, buf, sizeof(rng));
    return 0;
}

static const task_dataset DATASETS[] = {{"kjv", 256}, {"sotu", 256}, {"file", 256}, {NULL, 0}};
static const task_metric METRICS[] = {{"test/bpc", "test BPC", 1, 0}, {"test/ppl", "test PPL", 1, 0}, {NULL, NULL, 0, 0}};

const task_vtable task_lm_vt = {
    .kind = "lm",
    .causal = 1,
    .datasets = DATASETS,
    .seq_min = 2,
    .seq_max = 1 << 20,
    .metrics = METRICS,
    .curve = {"val/bpc", "validation BPC", 1, 0},
    .open = lm_open,
    .close = lm_close,
    .train_batch = lm_train_batch,
    .eval_count = lm_eval_count,
    .eval_windows = lm_eval_windows,
    .eval_batch = lm_eval_batch,
    .cursor_size = lm_cursor_size,
    .cursor_save = lm_cursor_save,
    .cursor_load = lm_cursor_load,
};
