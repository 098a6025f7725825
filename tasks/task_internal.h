/* What the task files share and the outside does not. */
#ifndef LRPE_TASK_INTERNAL_H
#define LRPE_TASK_INTERNAL_H

#include <stddef.h>

#include "err.h"
#include "task.h"

/* The report's metrics of the classification tasks (textcls, imgcls). */
#define TASK_CLS_METRICS {{"test/acc", "test accuracy", 0, 1}, {"test/macro_f1", "test macro-F1", 0, 1}, {NULL, NULL, 0, 0}}
#define TASK_CLS_CURVE {"val/acc", "validation accuracy", 0, 1}

/* The registered tasks (registry.c). */
extern const task_vtable task_synthetic_vt;
extern const task_vtable task_lm_vt;
extern const task_vtable task_textcls_vt;
extern const task_vtable task_imgcls_vt;


#endif
