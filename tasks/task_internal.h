/* What the task files share and the outside does not. */
#ifndef LRPE_TASK_INTERNAL_H
#define LRPE_TASK_INTERNAL_H

#include <stddef.h>

#include "task.h"

/* The registered tasks (registry.c). */
extern const task_vtable task_synthetic_vt;
extern const task_vtable task_lm_vt;
extern const task_vtable task_textcls_vt;
extern const task_vtable task_imgcls_vt;

/* Writes a one-line message to err; returns -1 for `return task_err(...)`. */
int task_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
