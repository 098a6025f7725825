/* What the task files share and the outside does not. */
#ifndef LRPE_TASK_INTERNAL_H
#define LRPE_TASK_INTERNAL_H

#include <stddef.h>

#include "err.h"
#include "task.h"

/* The registered tasks (registry.c). */
extern const task_vtable task_synthetic_vt;
extern const task_vtable task_lm_vt;
extern const task_vtable task_textcls_vt;
extern const task_vtable task_imgcls_vt;


#endif
