/* A temporary folder to run the lrpe binary in (the command tests of test_harness.c and
 * test_reliability.c): the folder, the binary's absolute path, files written into it, commands run
 * with one thread and their output captured, and the databases they leave, read back. */
#ifndef LRPE_CMD_FIXTURE_H
#define LRPE_CMD_FIXTURE_H

#include <stddef.h>

#include "db.h"

typedef struct harness_fx {
    char dir[256];
    char bin[1024];
} harness_fx;

/* Makes the folder and finds the binary ($LRPE_BIN or ./lrpe); 0, or -1 after recording a failure. */
int fx_open(harness_fx *f);
/* Removes the folder and everything in it. */
void fx_close(harness_fx *f);
/* <dir>/name into buf; returns buf. */
const char *fx_path(const harness_fx *f, const char *name, char *buf, size_t len);
/* Writes text to <dir>/name. */
void fx_write(const harness_fx *f, const char *name, const char *text);
/* Runs `lrpe <args>` in the folder with one thread and the environment assignments env (may be
 * NULL, e.g. "LRPE_FAULT=..."); both output streams into out; the exit code. */
int fx_lrpe_env(const harness_fx *f, const char *env, const char *args, char *out, size_t cap);
int fx_lrpe(const harness_fx *f, const char *args, char *out, size_t cap);
/* Starts `lrpe run <args>` in the folder, in the background, with one thread, the environment
 * assignments env (may be NULL) and its output in <dir>/log; returns its pid. */
int fx_start(const harness_fx *f, const char *env, const char *args);
/* Waits until a checkpoint of step > after exists under <dir>/results/results-runs, sends pid
 * `sig` and reaps it; its wait status (-1 when no checkpoint appeared). */
int fx_signal_after_checkpoint(const harness_fx *f, int pid, long after, int sig);
/* Opens <dir>/<db_name> read-only (db_name NULL: results/results.db); NULL after a recorded failure. */
db *fx_db(const harness_fx *f, const char *db_name);
/* The summary value of key of the only run of <dir>/<db_name> (NULL: results/results.db), NaN when
 * there is no such value or not exactly one run; that run's id into run_id[idlen] when run_id is
 * not NULL. */
double fx_only_summary(const harness_fx *f, const char *db_name, const char *key, char *run_id, size_t idlen);
/* Waits (up to ~60 s) until a checkpoint of step > after exists in some run folder under
 * <dir>/<runs>; 0, or -1 on timeout. */
int fx_wait_for_checkpoint(const harness_fx *f, const char *runs, long after);
/* Every metric row of the database at path but the perf/ ones (timings differ between runs), one line each
 * "run_id key step value" with the value's every bit, into buf (cut at cap); the number of rows,
 * -1 when the database cannot be read. */
long fx_metrics_text(const char *path, char *buf, size_t cap);

#endif
