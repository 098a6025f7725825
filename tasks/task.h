/* Tasks: where batches come from. One interface, one static registry (task_lookup), one file per
 * task family. A task opens its data (or generates it from the seed), reports the model shape it
 * needs, hands out training batches in a reproducible order, hands out the fixed evaluation
 * batches of its validation and test splits, and saves / restores its data cursor so a resumed
 * run sees exactly the batches an uninterrupted one would. Tasks never include encodings headers.
 *
 * Batches are written into buffers the caller owns (sized for batch x seq_len), so nothing is
 * allocated per step. */
#ifndef LRPE_TASK_H
#define LRPE_TASK_H

#include <stddef.h>
#include <stdint.h>

typedef enum task_split { SPLIT_TRAIN = 0, SPLIT_VAL, SPLIT_TEST } task_split;
typedef enum task_output { TASK_LM = 0, TASK_CLS } task_output;

/* What the model must look like for this task. */
typedef struct task_info {
    int vocab;          /* input token ids are in [0, vocab) (when input_dim is 0) */
    int input_dim;      /* 0: token ids; > 0: each token is a float vector of this width (patches) */
    int n_out;          /* outputs: vocab for lm, classes for classification */
    int seq_len;        /* tokens per example (T) */
    int causal;         /* 1: causal (lm), 0: bidirectional encoder */
    task_output output; /* per-token next-token targets, or one class per example */
    int pos_rank;       /* 1 or 2 */
    int grid_h, grid_w; /* 2-D positions */
    double bytes_per_token; /* lm: bytes a token stands for (bits per byte = loss / ln 2 / this) */
    const char *data_id;    /* what the data is, with its checksum (provenance) */
} task_info;

/* One batch, in caller-owned buffers of capacity B x T (targets: B x T for lm, B for cls). */
typedef struct task_batch {
    int B, T;
    int32_t *tokens, *targets, *pos; /* pos: B x T x pos_rank, may be left unfilled for 1-D (NULL) */
    float *inputs;                   /* B x T x input_dim when input_dim > 0 (tokens unused), else NULL */
    uint8_t *valid;                  /* 1 = real token; NULL-able when there is never padding */
} task_batch;

/* Parameters a task is opened with (from the resolved config). */
typedef struct task_params {
    const char *kind, *dataset, *path, *view;
    int seq_len, vocab, patch;
    uint64_t seed;
    const char *data_dir; /* prepared data files (data/) */
    struct {                /* textcls listops: the generator (task.listops.*; min_len 0: seq_len / 4) */
        int depth, arity, min_len, n[3];
        uint64_t seed;
    } listops;
} task_params;

typedef struct task task;

/* A dataset a task serves: its name and default tokens per example (0: set by other keys). */
typedef struct task_dataset {
    const char *name;
    int seq_len;
} task_dataset;

/* A metric the report shows for a task kind: a summary (or metrics) key, its label, which way is
 * better, and whether it is a fraction shown in percent. */
typedef struct task_metric {
    const char *key;   /* e.g. "test/bpc" */
    const char *label; /* e.g. "test BPC" */
    int lower_better;  /* 1 for loss, bpc, ppl; 0 for accuracy, F1 */
    int percent;       /* a fraction in [0, 1] shown as percent */
} task_metric;

/* Everything the rest of lrpe knows about a task kind comes from here: the spec's valid kinds and
 * datasets, the default and the range of task.seq_len, the report's metrics. */
typedef struct task_vtable {
    const char *kind;               /* "lm", "textcls", "imgcls", "synthetic" */
    int causal;                     /* 1: causal attention (language models), 0: bidirectional encoders */
    const task_dataset *datasets;   /* the datasets it serves, the default first; ends with {NULL} */
    int seq_min, seq_max;           /* the task.seq_len it serves */
    /* The tokens per example its other keys force (imgcls: view and patch), or 0 when task.seq_len
     * is free; NULL: always free. */
    int (*forced_seq_len)(const task_params *p);
    const task_metric *metrics;     /* primary test metrics, best first; ends with {NULL} */
    task_metric curve;              /* the validation metric plotted against step */
    /* Opens the task with p->seq_len already resolved (task_seq_len); 0, or -1 with a one-line
     * reason (naming the missing file and the fix). */
    int (*open)(task **out, const task_params *p, char *err, size_t errlen);
    void (*close)(task *t);
    /* The next training batch of B examples (B <= the buffers' capacity). */
    void (*train_batch)(task *t, task_batch *b);
    /* Number of evaluation batches of size B in a split (all of it, or a documented subset). */
    int (*eval_count)(const task *t, task_split split, int B);
    /* Tasks that evaluate at any length (lm): the number of evaluation batches of B windows of T
     * tokens (the split cut into consecutive windows); eval_batch then serves them for a batch of
     * that T. NULL for tasks whose examples have one length. */
    int (*eval_windows)(const task *t, task_split split, int B, int T);
    /* Evaluation batch i of a split: fixed, whatever the training has done. Rows past the end of
     * the split are filled with ignored targets. */
    void (*eval_batch)(task *t, task_split split, int i, task_batch *b);
    /* The data cursor: its size in bytes, save into buf, restore (0, or -1 on a size mismatch). */
    size_t (*cursor_size)(const task *t);
    void (*cursor_save)(const task *t, void *buf);
    int (*cursor_load)(task *t, const void *buf, size_t n);
} task_vtable;

/* Common head of every task instance. */
struct task {
    const task_vtable *vt;
    task_info info;
};

/* The registry: the number of task kinds and kind i (in listing order), or NULL. */
int task_count(void);
const task_vtable *task_at(int i);
/* The task of kind (any dataset: NULL), serving dataset when it is not NULL; NULL when none does. */
const task_vtable *task_lookup(const char *kind, const char *dataset);
/* The tokens per example p gives its task: p->seq_len, or when it is 0 the default (what the other
 * keys force, else the dataset's). Returns it, or -1 with a one-line reason naming task.seq_len
 * when it is outside the task's range or differs from what the other keys force. */
int task_seq_len(const task_vtable *vt, const task_params *p, char *err, size_t errlen);
/* Opens kind/dataset; 0 or -1 with a one-line reason (unknown kind or dataset, bad seq_len
 * included). */
int task_open(task **out, const task_params *p, char *err, size_t errlen);
void task_close(task *t);

#endif
