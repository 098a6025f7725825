/* One run from start (or its last checkpoint) to its final evaluation: the training loop, periodic
 * evaluation, metrics into the database in batches, heartbeats, checkpoints, NaN detection,
 * progress output, and a clean stop on Ctrl-C. */
#ifndef LRPE_RUN_H
#define LRPE_RUN_H

#include <signal.h>
#include <stdio.h>

#include "db.h"
#include "spec.h"

/* How one process trains runs. */
typedef struct run_env {
    db *db;
    const char *experiment;
    const char *runs_dir;   /* checkpoints go to <runs_dir>/<run_id>/ */
    const char *data_dir;   /* prepared data files */
    int threads;            /* OpenMP + OpenBLAS threads of this process */
    int tty;                /* 1: progress line updated in place; 0: plain periodic lines */
    FILE *out;              /* progress output */
    const char *label;      /* e.g. "[3/12]": printed before the run's name */
    volatile sig_atomic_t *stop; /* set by the SIGINT / SIGTERM handler: checkpoint and stop */
    const char *publish;    /* NULL, or where db_publish copies the database after each checkpoint */
} run_env;

typedef enum run_result {
    RUN_COMPLETED = 0,
    RUN_FAILED,      /* recorded as failed with its reason (NaN loss, bad data, ...) */
    RUN_INTERRUPTED, /* stopped by a signal after a final checkpoint */
    RUN_LOST,        /* another process took the run over */
    RUN_ERROR        /* the harness itself failed (database, disk): reason in err */
} run_result;

/* Trains run r (already marked running in the database), resuming from its newest good
 * checkpoint, and records its end. Returns the outcome; err holds a one-line reason for
 * RUN_FAILED and RUN_ERROR. */
run_result run_train(const run_env *env, const spec_run *r, char *err, size_t errlen);

/* Data-parallel training over MPI ranks (dist.h): rank 0 claims runs and calls run_train as usual,
 * which also drives the other ranks; after its last run it calls run_followers_quit. Every other
 * rank calls run_follow with the same spec: it computes its share of each step and evaluation of
 * the runs rank 0 trains, and writes nothing. run_follow returns 0 when rank 0 said quit, -1 when
 * the ranks lost each other (dist_why). */
int run_follow(const run_env *env, const spec *sp);
void run_followers_quit(void);

#endif
