/* Resolving a config: the defaults that depend on other keys (task.dataset and task.seq_len, from
 * the task registry; train.warmup, from train.steps) and the cross-field checks that a run could
 * not work without. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "listops.h"
#include "pe.h"
#include "schema.h"
#include "task.h"

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

/* The task parameters the config's task keys give (seq_len 0 when unset). */
static task_params task_keys(const cfg_value *v, const unsigned char *set) {
    const int L = schema_find("task.seq_len");
    return (task_params){.kind = v[schema_find("task.kind")].s, .dataset = v[schema_find("task.dataset")].s,
                         .path = v[schema_find("task.path")].s, .view = v[schema_find("task.view")].s,
                         .patch = (int)v[schema_find("task.patch")].i, .seq_len = set[L] ? (int)v[L].i : 0,
                         .listops = {.depth = (int)v[schema_find("task.listops.depth")].i,
                                     .arity = (int)v[schema_find("task.listops.arity")].i,
                                     .min_len = (int)v[schema_find("task.listops.min_len")].i,
                                     .n = {(int)v[schema_find("task.listops.train")].i,
                                           (int)v[schema_find("task.listops.val")].i,
                                           (int)v[schema_find("task.listops.test")].i},
                                     .seed = (uint64_t)v[schema_find("task.listops.data_seed")].i}};
}

/* "kjv | sotu | file": the datasets of a task, into buf. */
static const char *datasets_of(const task_vtable *vt, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = 0;
    for (const task_dataset *d = vt->datasets; d->name && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? " | " : "", d->name);
    return buf;
}

/* The keys whose default follows from other keys (their table default is NULL), and how:
 * fill_defaults computes them in this order. */
static const struct {
    const char *key, *how;
} DERIVED[] = {
    {"task.dataset", "the first dataset of task.kind"},
    {"task.seq_len", "what task.dataset serves"},
    {"train.warmup", "train.steps / 10, at most 100"},
};

const char *schema_derived(int i) {
    const schema_key *k = schema_at(i);
    for (size_t d = 0; k && d < sizeof DERIVED / sizeof DERIVED[0]; d++)
        if (strcmp(DERIVED[d].key, k->key) == 0) return DERIVED[d].how;
    return NULL;
}

/* Fills unset keys: table defaults, then the derived ones: task.dataset (the kind's first) and
 * task.seq_len (what the task gives), after checking that the dataset is one of the kind's, and
 * train.warmup (a tenth of the steps, at most 100: so a short run is never refused for a default,
 * and every run of 1000 steps or more keeps the 100 it always had, and its id). */
static int fill_defaults(cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen) {
    int n = schema_count();
    for (int k = 0; k < n; k++)
        if (!set[k] && schema_at(k)->def && set_text(v, k, schema_at(k)->def, err, errlen)) return -1;
    const int K = schema_find("task.kind"), D = schema_find("task.dataset"), L = schema_find("task.seq_len");
    const task_vtable *vt = task_lookup(v[K].s, NULL);
    if (!vt) return errf(err, errlen, "task.kind: unknown kind '%s'", v[K].s);
    if (!set[D] && set_text(v, D, vt->datasets[0].name, err, errlen)) return -1;
    if (!task_lookup(v[K].s, v[D].s)) {
        char list[256];
        *blame = pick(set, "task.dataset", "task.kind");
        return errf(err, errlen, "task.dataset '%s' is not a dataset of task.kind '%s' (%s: %s)", v[D].s, v[K].s,
                    v[K].s, datasets_of(vt, list, sizeof list));
    }
    char text[32];
    if (!set[L]) {
        task_params p = task_keys(v, set);
        int T = task_seq_len(vt, &p, err, errlen);
        if (T < 0) return -1;
        snprintf(text, sizeof text, "%d", T);
        if (set_text(v, L, text, err, errlen)) return -1;
    }
    const int W = schema_find("train.warmup");
    if (!set[W]) {
        long long tenth = v[schema_find("train.steps")].i / 10;
        snprintf(text, sizeof text, "%lld", tenth < 100 ? tenth : 100);
        if (set_text(v, W, text, err, errlen)) return -1;
    }
    return 0;
}

/* The task.listops keys: away from their defaults only for dataset listops (a dump of another
 * config spells them out), and then a generator that can run. */
static int check_listops(const cfg_value *v, const unsigned char *set, const task_params *p, int *blame, char *err,
                         size_t errlen) {
    const int first = schema_find("task.listops.depth"), last = schema_find("task.listops.data_seed");
    int given = -1;
    for (int k = first; k <= last && given < 0; k++)
        if (set[k] && strcmp(v[k].s, schema_at(k)->def) != 0) given = k;
    if (strcmp(p->dataset, "listops") != 0) {
        if (given < 0) return 0;
        *blame = given;
        return errf(err, errlen, "%s applies to task.dataset listops only (here: %s): remove it", schema_at(given)->key,
                    p->dataset);
    }
    const listops_params lp = listops_params_of(p);
    if (!listops_check(&lp, err, errlen)) return 0;
    *blame = given >= 0 ? given : schema_find("task.seq_len");
    return -1;
}

/* The task keys: file has a path, the sequence length is one the task serves. */
static int check_task(const cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen) {
    const int L = schema_find("task.seq_len");
    task_params p = task_keys(v, set);
    if (strcmp(p.dataset, "file") == 0 && !p.path[0]) {
        *blame = pick(set, "task.path", "task.dataset");
        return errf(err, errlen, "task.dataset file needs task.path (the text file to model)");
    }
    p.seq_len = (int)v[L].i;
    if (check_listops(v, set, &p, blame, err, errlen)) return -1;
    if (task_seq_len(task_lookup(p.kind, p.dataset), &p, err, errlen) < 0) {
        *blame = L;
        return -1;
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
    const task_vtable *kind = task_lookup(v[schema_find("task.kind")].s, NULL);
    if (strcmp(v[schema_find("model.decay")].s, "per-head") == 0 && (bit != PE_ATTN_LINEAR || (kind && !kind->causal))) {
        *blame = pick(set, "model.decay", bit != PE_ATTN_LINEAR ? "model.attention" : "task.kind");
        return errf(err, errlen, "model.decay 'per-head' needs causal linear attention (model.attention linear, a task kind "
                    "lm or synthetic); here: %s attention, task kind %s", attn, v[schema_find("task.kind")].s);
    }
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
