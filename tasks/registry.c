/* The registry of tasks: one static table, lookup by kind and dataset. */
#include <stdio.h>
#include <string.h>

#include "task_internal.h"

static const task_vtable *const REGISTRY[] = {&task_synthetic_vt, &task_imgcls_vt, &task_lm_vt, &task_textcls_vt};
#define NREG ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

const task_vtable *task_lookup(const char *kind, const char *dataset) {
    for (int i = 0; i < NREG; i++) {
        if (strcmp(REGISTRY[i]->kind, kind) != 0) continue;
        for (int d = 0; REGISTRY[i]->datasets[d]; d++)
            if (strcmp(REGISTRY[i]->datasets[d], dataset) == 0) return REGISTRY[i];
    }
    return NULL;
}

int task_open(task **out, const task_params *p, char *err, size_t errlen) {
    *out = NULL;
    const task_vtable *vt = task_lookup(p->kind, p->dataset);
    if (!vt) return errf(err, errlen, "unknown task %s/%s (this build has: synthetic/recall, synthetic/copy, lm/kjv, lm/sotu, lm/file, textcls/wordnet, textcls/spam, imgcls/fashion-mnist)", p->kind, p->dataset);
    if (vt->open(out, p, err, errlen)) return -1;
    (*out)->vt = vt;
    return 0;
}

void task_close(task *t) {
    if (t) t->vt->close(t);
}
