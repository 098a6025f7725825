/* The processes of one data-parallel training (MPI, built with `make MPI=1`): rank, world size and
 * the few collectives a run needs. Under `mpirun -np N` or `srun` every rank runs `lrpe run`; rank
 * 0 drives (database, checkpoints, progress) and the others follow (run.c). Without MPI in the
 * build, or when lrpe was not started by an MPI launcher, there is one rank and every collective is
 * a no-op.
 *
 * No collective can hang on a dead peer: each one waits by polling, and gives up (returns -1, the
 * reason in dist_why) when a peer process on this host has died, or when this process was asked to
 * stop (SIGTERM, SIGINT: mpirun and Slurm send it when a rank dies) and the peers have not arrived
 * within DIST_STOP_GRACE_S. After a collective gave up, this process makes no other collective and
 * does not finalize MPI: it records what it can and exits. */
#ifndef LRPE_DIST_H
#define LRPE_DIST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Long enough for the other ranks to finish a step and meet rank 0, which then checkpoints; short
 * of Slurm's default KillWait (30 s), so rank 0 still records the run before SIGKILL. */
#define DIST_STOP_GRACE_S 20.0

/* Joins the MPI job when launched by mpirun or srun (else one rank); when neither LRPE_THREADS nor
 * OMP_NUM_THREADS is set, gives each rank an equal share of this host's cores (LRPE_THREADS), so
 * ranks on one host do not oversubscribe it. stop is the flag the signal handlers set. 0, or -1
 * with err. */
int dist_init(volatile sig_atomic_t *stop, char *err, size_t errlen);
/* Leaves the MPI job: MPI_Finalize, unless a collective gave up (then only the process ends). */
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
/* "Open MPI v4.1.4, ..." (the library's own line) in a build with MPI, else "none". */
const char *dist_library(void);
/* Why the last collective gave up ("" when none did). */
const char *dist_why(void);

/* bytes of buf from rank 0 to every rank. 0, or -1 when it gave up. */
int dist_bcast(void *buf, size_t bytes);
/* Element-wise sums over the ranks, in place on every rank. 0, or -1 when it gave up. */
int dist_sum_float(float *buf, size_t n);
int dist_sum_double(double *buf, size_t n);
/* *lo and *hi = the smallest and largest v over the ranks. 0, or -1 when it gave up. */
int dist_range_u64(uint64_t v, uint64_t *lo, uint64_t *hi);

#endif
