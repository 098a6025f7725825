/* Provenance of a run: what produced its numbers (commit, compiler, BLAS, threads, machine, device,
 * data). */
#ifndef LRPE_PROVENANCE_H
#define LRPE_PROVENANCE_H

#include <stddef.h>

#include "backend.h"
#include "db.h"
#include "task.h"

/* Writes the provenance rows of run_id: git commit and dirty flag, lrpe version, compiler and
 * flags, BLAS library and core, OpenMP wait policy, thread counts, CPU model, host, the device the model ran on
 * ("cpu" | "cuda"; for cuda also GPU 0's name, compute capability, memory, driver, CUDA runtime
 * and cuBLAS versions) and the task's data identity. 0, or a db_error with err. */
int provenance_record(db *d, const char *run_id, int threads, const task *t, const char *device, char *err,
                      size_t errlen);

/* One GPU on one line, as `lrpe version` lists it: "NVIDIA H100 80GB HBM3, compute capability 9.0,
 * 79.1 GiB, driver 12.8, CUDA runtime 12.8, cuBLAS 120804". Writes into buf; returns it. */
const char *provenance_gpu_line(const backend_gpu *g, char *buf, size_t len);

#endif
