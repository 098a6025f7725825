/* Resolving a config: the defaults that depend on other keys (task.dataset and task.seq_len by
 * task kind) and the cross-field checks that a run could not work without. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "pe.h"
#include "schema.h"

/* Each kind's datasets, its default first (the values of task.kind / task.dataset in the
 * table list the same names; a test keeps them in step). */
static const struct {
    const char *kind, *datasets;
} KINDS[] = {
    {"lm", "kjv | sotu | file"},
    {"textcls", "wordnet | spam"},
    {"imgcls", "fashion-mnist"},
    {"synthetic", "recall | copy"},
};
#define NKINDS ((int)(sizeof KINDS / sizeof KINDS[0]))

/* Default sequence length by kind and dataset (NULL: any); imgcls is set by the view. */
static const struct {
    const char *kind, *dataset;
    int seq_len;
} SEQ_LEN[] = {
    {"lm", NULL, 256}, {"textcls", "wordnet", 128}, {"textcls", "spam", 1024}, {"synthetic", NULL, 64},
};

/* Sequence lengths each kind's task can serve (tasks/lm.c, textcls.c, synthetic.c refuse others). */
static const struct {
    const char *kind;
    int lo, hi;
} SEQ_RANGE[] = {{"lm", 2, 1 << 20}, {"textcls", 1, 65536}, {"synthetic", 4, 4096}};

/* Number of task kinds. */
int schema_kind_count(void) { return NKINDS; }

/* Name of kind i, or NULL. */
const char *schema_kind_name(int i) { return i >= 0 && i < NKINDS ? KINDS[i].kind : NULL; }

/* Datasets of kind i ("a | b"), or NULL. */
const char *schema_kind_datasets(int i) { return i >= 0 && i < NKINDS ? KINDS[i].datasets : NULL; }

/* The kind's entry, or -1. */
static int kind_index(const char *kind) {
    for (int i = 0; i < NKINDS; i++)
        if (strcmp(KINDS[i].kind, kind) == 0) return i;
    return -1;
}

/* 1 when word is one of "a | b | c". */
static int in_list(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word)) {
        int starts = p == list || p[-1] == ' ';
        int ends = p[n] == 0 || p[n] == ' ';
        if (starts && ends) return 1;
    }
    return 0;
}

/* imgcls tokens per image: 784 pixels, or (28 / patch)^2 patches. */
static int imgcls_seq_len(const char *view, long long patch) {
    if (strcmp(view, "pixels") == 0) return 784;
    int side = 28 / (int)patch;
    return side * side;
}

/* v[k] = the parse of text (for defaults); -1 on failure. */
static int set_text(cfg_value *v, int k, const char *text, char *err, size_t errlen) {
    cfg_value_free(&v[k]);
    return schema_parse(k, text, &v[k], err, errlen);
}

/* Index of key `a` if it was set, else of `b`: the key a message points at. */
static int pick(const unsigned char *set, const char *a, const char *b) {
    int ia = schema_find(a), ib = schema_find(b);
    return set[ia] || !set[ib] ? ia : ib;
}

/* Fills unset keys: table defaults, then task.dataset and task.seq_len from the kind (after
 * checking that the dataset is one of the kind's). */
static int fill_defaults(cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen) {
    int n = schema_count();
    for (int k = 0; k < n; k++)
        if (!set[k] && schema_at(k)->def && set_text(v, k, schema_at(k)->def, err, errlen)) return -1;
    const int K = schema_find("task.kind"), D = schema_find("task.dataset"), L = schema_find("task.seq_len");
    int ki = kind_index(v[K].s);
    if (ki < 0) return errf(err, errlen, "task.kind: unknown kind '%s'", v[K].s);
    if (!set[D]) {
        char first[32];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(KINDS[ki].datasets, " |"), KINDS[ki].datasets);
        if (set_text(v, D, first, err, errlen)) return -1;
    }
    if (!in_list(KINDS[ki].datasets, v[D].s)) {
        *blame = pick(set, "task.dataset", "task.kind");
        return errf(err, errlen, "task.dataset '%s' is not a dataset of task.kind '%s' (%s: %s)", v[D].s, v[K].s,
                    v[K].s, KINDS[ki].datasets);
    }
    if (!set[L]) {
        char text[16];
        int len = 0;
        if (strcmp(v[K].s, "imgcls") == 0)
            len = imgcls_seq_len(v[schema_find("task.view")].s, v[schema_find("task.patch")].i);
        for (size_t r = 0; r < sizeof SEQ_LEN / sizeof SEQ_LEN[0] && !len; r++)
            if (strcmp(SEQ_LEN[r].kind, v[K].s) == 0 && (!SEQ_LEN[r].dataset || strcmp(SEQ_LEN[r].dataset, v[D].s) == 0))
                len = SEQ_LEN[r].seq_len;
        if (!len) return errf(err, errlen, "schema: no default task.seq_len for %s/%s", v[K].s, v[D].s);
        snprintf(text, sizeof text, "%d", len);
        if (set_text(v, L, text, err, errlen)) return -1;
    }
    return 0;
}

/* The task keys: file has a path, the sequence length fits. */
static int check_task(const cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen) {
    const char *kind = v[schema_find("task.kind")].s, *dataset = v[schema_find("task.dataset")].s;
    const int L = schema_find("task.seq_len");
    if (strcmp(dataset, "file") == 0 && !v[schema_find("task.path")].s[0]) {
        *blame = pick(set, "task.path", "task.dataset");
        return errf(err, errlen, "task.dataset file needs task.path (the text file to model)");
    }
    if (strcmp(kind, "imgcls") == 0) {
        int want = imgcls_seq_len(v[schema_find("task.view")].s, v[schema_find("task.patch")].i);
        if (v[L].i != want) {
            *blame = L;
            return errf(err, errlen, "task.seq_len %lld does not match imgcls with view %s, patch %lld (%d tokens); "
                        "leave it out", v[L].i, v[schema_find("task.view")].s, v[schema_find("task.patch")].i, want);
        }
    }
    for (size_t r = 0; r < sizeof SEQ_RANGE / sizeof SEQ_RANGE[0]; r++)
        if (strcmp(SEQ_RANGE[r].kind, kind) == 0 && (v[L].i < SEQ_RANGE[r].lo || v[L].i > SEQ_RANGE[r].hi)) {
            *blame = L;
            return errf(err, errlen, "task.seq_len %lld is out of range [%d, %d] for %s tasks", v[L].i, SEQ_RANGE[r].lo,
                        SEQ_RANGE[r].hi, kind);
        }
    const int B = schema_find("train.batch");
    if (v[B].i * v[L].i > INT_MAX) {
        *blame = pick(set, "train.batch", "task.seq_len");
        return errf(err, errlen, "train.batch x task.seq_len = %lld tokens per step, more than the %d a step can hold",
                    v[B].i * v[L].i, INT_MAX);
    }
    return 0;
}

/* The model keys: heads divide d_model, the encodings support the attention. */
static int check_model(const cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen) {
    long long d = v[schema_find("model.d_model")].i, h = v[schema_find("model.heads")].i;
    if (d % h) {
        *blame = pick(set, "model.heads", "model.d_model");
        return errf(err, errlen, "model.heads (%lld) must divide model.d_model (%lld)", h, d);
    }
    if (d / h > PE_MAX_HEAD_DIM) {
        *blame = pick(set, "model.heads", "model.d_model");
        return errf(err, errlen, "model.d_model / model.heads = %lld per head, above the limit of %d: use more heads",
                    d / h, PE_MAX_HEAD_DIM);
    }
    const char *attn = v[schema_find("model.attention")].s;
    unsigned bit = strcmp(attn, "linear") == 0 ? PE_ATTN_LINEAR : PE_ATTN_SOFTMAX;
    const char *slots[2] = {"model.encoding", "model.absolute"};
    for (int s = 0; s < 2; s++) {
        const pe_vtable *vt = pe_lookup(v[schema_find(slots[s])].s);
        if (!vt || (vt->attn_ok & bit)) continue;
        *blame = pick(set, slots[s], "model.attention");
        return errf(err, errlen, "%s '%s' does not support model.attention '%s' (%s works with %s attention only)",
                    slots[s], vt->name, attn, vt->name, bit == PE_ATTN_LINEAR ? "softmax" : "linear");
    }
    return 0;
}

/* The training keys: warm-up shorter than the run, min_lr at most lr. */
static int check_train(const cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen) {
    long long steps = v[schema_find("train.steps")].i, warmup = v[schema_find("train.warmup")].i;
    if (warmup >= steps) {
        *blame = pick(set, "train.warmup", "train.steps");
        return errf(err, errlen, "train.warmup (%lld) must be less than train.steps (%lld)", warmup, steps);
    }
    const cfg_value *lr = &v[schema_find("train.lr")], *min_lr = &v[schema_find("train.min_lr")];
    if (min_lr->f > lr->f) {
        *blame = pick(set, "train.min_lr", "train.lr");
        return errf(err, errlen, "train.min_lr (%s) must not exceed train.lr (%s)", min_lr->s, lr->s);
    }
    return 0;
}

/* Defaults for unset keys, then every cross-field check. */
int schema_resolve(cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen) {
    *blame = -1;
    if (fill_defaults(v, set, blame, err, errlen)) return -1;
    if (check_task(v, set, blame, err, errlen)) return -1;
    if (check_model(v, set, blame, err, errlen)) return -1;
    return check_train(v, set, blame, err, errlen);
}
