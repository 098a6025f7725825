/* The registry of tasks: one static table in listing order, lookup by kind and dataset, the
 * sequence length a task is opened with. */
#include <stdio.h>
#include <string.h>

#include "task_internal.h"

static const task_vtable *const REGISTRY[] = {&task_lm_vt, &task_textcls_vt, &task_imgcls_vt, &task_synthetic_vt};
#define NREG ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

int task_count(void) { return NREG; }

const task_vtable *task_at(int i) { return i >= 0 && i < NREG ? REGISTRY[i] : NULL; }

const task_vtable *task_lookup(const char *kind, const char *dataset) {
    for (int i = 0; kind && i < NREG; i++) {
        if (strcmp(REGISTRY[i]->kind, kind) != 0) continue;
        if (!dataset) return REGISTRY[i];
        for (const task_dataset *d = REGISTRY[i]->datasets; d->name; d++)
            if (strcmp(d->name, dataset) == 0) return REGISTRY[i];
    }
    return NULL;
}

int task_seq_len(const task_vtable *vt, const task_params *p, char *err, size_t errlen) {
    const int forced = vt->forced_seq_len ? vt->forced_seq_len(p) : 0;
    if (forced && p->seq_len > 0 && p->seq_len != forced)
        return errf(err, errlen, "task.seq_len %d does not match %s with view %s, patch %d (%d tokens); leave it out",
                    p->seq_len, vt->kind, p->view ? p->view : "?", p->patch, forced);
    if (forced) return forced;
    if (p->seq_len <= 0)
        for (const task_dataset *d = vt->datasets; d->name; d++)
            if (p->dataset && strcmp(d->name, p->dataset) == 0) return d->seq_len;
    if (p->seq_len < vt->seq_min || p->seq_len > vt->seq_max)
        return errf(err, errlen, "task.seq_len %d is out of range [%d, %d] for %s tasks", p->seq_len, vt->seq_min,
                    vt->seq_max, vt->kind);
    return p->seq_len;
}

/* "lm/kjv, lm/sotu, ..." : every kind/dataset of the registry, into buf. */
static const char *all_tasks(char *buf, size_t len) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < NREG; i++)
        for (const task_dataset *d = REGISTRY[i]->datasets; d->name && k < len; d++)
            k += (size_t)snprintf(buf + k, len - k, "%s%s/%s", k ? ", " : "", REGISTRY[i]->kind, d->name);
    return buf;
}

int task_open(task **out, const task_params *p, char *err, size_t errlen) {
    *out = NULL;
    const task_vtable *vt = task_lookup(p->kind, p->dataset);
    char known[512];
    if (!vt)
        return errf(err, errlen, "unknown task %s/%s (this build has: %s)", p->kind ? p->kind : "?",
                    p->dataset ? p->dataset : "?", all_tasks(known, sizeof known));
    task_params q = *p;
    if ((q.seq_len = task_seq_len(vt, p, err, errlen)) < 0) return -1;
    if (vt->open(out, &q, err, errlen)) return -1;
    (*out)->vt = vt;
    return 0;
}

void task_close(task *t) {
    if (t) t->vt->close(t);
}
