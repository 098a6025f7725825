/* The results store: one SQLite database (default results/results.db) holding every run, its
 * metric curves, its final numbers and its provenance. Tables (names and columns are public
 * interface: the "Database" section of the harness spec):
 *
 *   runs(run_id TEXT PRIMARY KEY, experiment, variant, seed, status, config_json, created_at,
 *        started_at, ended_at, heartbeat_at, step, pid, host, attempts, error)
 *   metrics(run_id, step, key, value REAL)   one row per (run_id, key, step): re-logging replaces
 *   summary(run_id, key, value REAL)         one row per (run_id, key)
 *   provenance(run_id, key, value TEXT)      one row per (run_id, key)
 *   members(experiment, run_id, variant)     every experiment a run belongs to; runs.experiment and
 *                                            runs.variant name the first one that registered it
 *
 * Status is one of pending, running, completed, failed, interrupted. Timestamps are ISO-8601 UTC
 * with milliseconds ("2024-05-01T12:34:56.789Z"), so they sort as strings. NaN values are stored
 * as NULL and read back as NaN.
 *
 * Concurrency: several processes may share one database on one machine (WAL mode, a 30 s busy
 * timeout, short write transactions taken with BEGIN IMMEDIATE); db_run_claim hands each run to
 * exactly one of them. A run is owned by the (pid, host) that marked it running; it counts as dead
 * (claimable again, and shown as interrupted) when its heartbeat is older than stale_s seconds or
 * when its host is this host and its pid no longer exists. A handle may be shared by the threads
 * of one process (every call is serialized) but not across fork(): open one in the child.
 *
 * Every function that can fail returns 0 on success or a negative db_error with a one-line reason
 * in err naming the database path, the operation and SQLite's message; nothing here prints or
 * exits. Lists are returned as one malloc'd block (structs and their strings together) that the
 * caller releases with free(). */
#ifndef LRPE_DB_H
#define LRPE_DB_H

#include <stddef.h>

#define DB_SCHEMA_VERSION 2         /* PRAGMA user_version of the schema this code writes */
#define DB_BUSY_TIMEOUT_MS 30000    /* how long a call waits for another process's write lock */
#define DB_HEARTBEAT_S 10.0         /* the run loop heartbeats at least this often */
#define DB_STALE_S 300.0            /* a running run silent for longer than this is dead */
#define DB_DEFAULT_PATH "results/results.db"

/* Error codes (all negative; 0 is success). */
typedef enum db_error {
    DB_ERR = -1,      /* any other failure (bad argument, SQL error, corrupt file, no such run) */
    DB_EBUSY = -2,    /* another process held the database for longer than the busy timeout */
    DB_EIO = -3,      /* disk full or failing; what was already committed is kept */
    DB_ELOST = -4,    /* the run is no longer ours: another process claimed it, or it is completed */
    DB_EREADONLY = -5 /* the database or its folder cannot be written */
} db_error;

/* Run states; DB_NONE is "no such run" from db_run_status. */
typedef enum db_status {
    DB_NONE = -1,
    DB_PENDING = 0,
    DB_RUNNING,
    DB_COMPLETED,
    DB_FAILED,
    DB_INTERRUPTED,
    DB_NSTATUS
} db_status;

/* "pending", "running", ... (or "?" for an invalid value). */
const char *db_status_name(db_status s);
/* The status with this name, or DB_NONE. */
db_status db_status_parse(const char *name);

typedef struct db db;

enum { DB_OPEN_READONLY = 1 }; /* flags of db_open */

/* Opens (creating it, its parent folders and the schema when missing) the database at path, in
 * WAL mode with synchronous=NORMAL and the busy timeout. With DB_OPEN_READONLY nothing is created
 * and the file must hold an lrpe schema. Returns 0 and *out, or a db_error. */
int db_open(db **out, const char *path, int flags, char *err, size_t errlen);
/* Closes the handle (NULL is fine). */
void db_close(db *d);
/* The path the handle was opened with. */
const char *db_path(const db *d);

/* ---------------------------------------------------------------- run lifecycle */

/* What identifies a run when it is registered. */
typedef struct db_run_info {
    const char *run_id, *experiment, *variant; /* variant may be NULL */
    long long seed;
    const char *config_json;                   /* may be NULL */
} db_run_info;

/* Registers runs r[n] in one transaction: each is inserted as pending when absent; an existing
 * row (and its status) is kept as it is. */
int db_runs_register(db *d, const db_run_info *r, int n, char *err, size_t errlen);
/* *out = the stored status of run_id, or DB_NONE when there is no such run. */
int db_run_status(db *d, const char *run_id, db_status *out, char *err, size_t errlen);
/* Marks run_id running for this process (pid, host, heartbeat now, started_at if not yet set,
 * attempts + 1, ended_at and error cleared), whatever its state. For one process; several
 * processes sharing a database use db_run_claim. */
int db_run_start(db *d, const char *run_id, char *err, size_t errlen);
/* Atomically takes the first of run_ids[n] that is pending, interrupted, or running but dead (see
 * above, with stale_s; ids not registered are skipped) and marks it running for this process as
 * db_run_start does. Returns 1 with *index (and *prev, its status before, when prev is not NULL),
 * 0 when none is claimable, or a db_error. */
int db_run_claim(db *d, const char *const *run_ids, int n, double stale_s, int *index, db_status *prev,
                 char *err, size_t errlen);
/* Records that this process is alive and at `step` of run_id. DB_ELOST when the run is no longer
 * running for this process (another one claimed it after our heartbeat went stale): stop training
 * it. */
int db_run_heartbeat(db *d, const char *run_id, long long step, char *err, size_t errlen);
/* Ends run_id with status completed, failed or interrupted (ended_at now; error, cut to one line,
 * for failed, and for interrupted when given (what went wrong as it stopped); NULL otherwise). Allowed from pending, failed, interrupted, or running for this
 * process; DB_ELOST when it is running for another process or already completed. */
int db_run_finish(db *d, const char *run_id, db_status status, const char *error, char *err, size_t errlen);
/* Makes run_id pending again for a forced retrain: clears its timestamps, step, error, owner and
 * deletes its metrics, summary and provenance (the next start records it afresh). */
int db_run_reset(db *d, const char *run_id, char *err, size_t errlen);

/* ---------------------------------------------------------------- metrics, summary, provenance */

typedef struct db_metric {
    long long step;
    const char *key;
    double value;
} db_metric;

typedef struct db_value {
    const char *key;
    double value;
} db_value;

typedef struct db_text {
    const char *key, *value;
} db_text;

/* Writes rows[n] of run_id in one transaction; a row whose (step, key) is already there replaces
 * it, so a resumed run that logs a step again leaves one row. */
int db_metrics_add(db *d, const char *run_id, const db_metric *rows, int n, char *err, size_t errlen);
/* Sets summary values (final numbers) of run_id, replacing those with the same key. */
int db_summary_set(db *d, const char *run_id, const db_value *kv, int n, char *err, size_t errlen);
/* Sets provenance entries of run_id, replacing those with the same key. */
int db_provenance_set(db *d, const char *run_id, const db_text *kv, int n, char *err, size_t errlen);

/* ---------------------------------------------------------------- queries */

/* One row of runs; string fields are NULL where the column is NULL. */
typedef struct db_run {
    const char *run_id, *experiment, *variant, *config_json;
    const char *created_at, *started_at, *ended_at, *heartbeat_at, *host, *error;
    long long seed, step; /* step: -1 when no heartbeat recorded one */
    int pid, attempts;
    db_status status;     /* as stored */
    int dead;             /* status is running but its process is dead (shown as interrupted) */
} db_run;

/* Runs per experiment and state. count[s] is indexed by db_status; a running run that is dead
 * (stale_s, see above) is counted as interrupted. */
typedef struct db_status_count {
    const char *experiment;
    int count[DB_NSTATUS];
} db_status_count;

typedef struct db_point {
    long long step;
    double value;
} db_point;

/* Counts per experiment (sorted by name) into *out[*n]; free(*out). */
int db_status_counts(db *d, double stale_s, db_status_count **out, int *n, char *err, size_t errlen);
/* Runs of experiment (every run when NULL), in registration order, into *out[*n]; `dead` is judged
 * with stale_s; with an experiment, experiment and variant are the names it registered the run
 * under (a run shared by several experiments is listed in each); free(*out). */
int db_runs_list(db *d, const char *experiment, double stale_s, db_run **out, int *n, char *err,
                 size_t errlen);
/* The runs of the database at in_path (a shard) that db_merge would take into d: absent from d, or
 * newer by db_merge's rule; as in_path's rows, in its registration order, into *out[*n]; free(*out). */
int db_runs_newer(db *d, const char *in_path, db_run **out, int *n, char *err, size_t errlen);
/* The curve of metric key of run_id, ordered by step, into *out[*n]; free(*out). */
int db_metric_curve(db *d, const char *run_id, const char *key, db_point **out, int *n, char *err,
                    size_t errlen);
/* The summary of run_id, ordered by key, into *out[*n]; free(*out). */
int db_summary_get(db *d, const char *run_id, db_value **out, int *n, char *err, size_t errlen);
/* The provenance of run_id, ordered by key, into *out[*n]; free(*out). */
int db_provenance_get(db *d, const char *run_id, db_text **out, int *n, char *err, size_t errlen);

/* The leaves of run_id's config_json (read with SQLite's json_tree), in the order of the text, into
 * *out[*n] as (dotted key, text) pairs: {"model":{"lrpe":{"p":"dct"}}} gives ("model.lrpe.p",
 * "dct"). Objects are descended (an empty one gives nothing); strings are decoded; numbers keep the
 * text they were written with ("1e-08", "3.0"); true, false and null are those words; arrays are
 * leaves holding their compact JSON text. When config_json is NULL, not valid JSON or not a JSON
 * object, *problem is a static sentence saying which and *out is NULL with *n 0 (a successful
 * read); else *problem is NULL. DB_ERR when there is no such run. free(*out). */
int db_config_leaves(db *d, const char *run_id, db_text **out, int *n, const char **problem, char *err,
                     size_t errlen);

/* The distinct values of provenance key over all runs (kv[i].key) with how many runs have each
 * (kv[i].value), ordered by value, into *out[*n]; free(*out). */
int db_provenance_tally(db *d, const char *key, db_value **out, int *n, char *err, size_t errlen);

/* ---------------------------------------------------------------- merge */

typedef struct db_merge_stats {
    int runs_added, runs_updated;           /* new runs; runs whose row (and data) in_path replaced */
    long long metrics, summary, provenance; /* rows added */
} db_merge_stats;

/* Copies runs, metrics, summary and provenance of the database at in_path into d, in one
 * transaction. A run in both keeps the row with the more advanced status (completed > failed >
 * interrupted > running > pending; on a tie the row that changed last (ended_at, else heartbeat_at,
 * else started_at), and on a tie of both d's row), and its metrics, summary and provenance come whole from the same database as that
 * row (rows of runs absent from in_path's runs table are not copied). So merging the same file
 * twice changes nothing. stats may be NULL. */
int db_merge(db *d, const char *in_path, db_merge_stats *stats, char *err, size_t errlen);
/* db_merge of the runs ids[n] only (their memberships included); the others are left alone. */
int db_merge_runs(db *d, const char *in_path, const char *const *ids, int n, db_merge_stats *stats, char *err,
                  size_t errlen);

/* ---------------------------------------------------------------- publish */

/* Publishes a consistent copy of d at dest atomically (dest.tmp.<pid>, fsynced, renamed over dest,
 * folder synced): readers of dest see the old copy or the new one, never a partial file. In the
 * copy, runs still running are marked interrupted ("still running when this copy was published"), since
 * whoever reads the copy reads it as a snapshot. 0, or a db_error with a one-line reason. */
int db_publish(db *d, const char *dest, char *err, size_t errlen);

#endif
