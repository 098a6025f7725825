/* Provenance of a run: what produced its numbers (commit, compiler, BLAS, threads, machine, data). */
#ifndef LRPE_PROVENANCE_H
#define LRPE_PROVENANCE_H

#include <stddef.h>

#include "db.h"
#include "task.h"

/* Writes the provenance rows of run_id: git commit and dirty flag, lrpe version, compiler and
 * flags, BLAS library and core, thread counts, CPU model, host, and the task's data identity.
 * 0, or a db_error with err. */
int provenance_record(db *d, const char *run_id, int threads, const task *t, char *err, size_t errlen);

#endif
