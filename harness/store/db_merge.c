/* Merging another worker's results database into this one (lrpe merge): ATTACH it, pick the runs
 * whose row it improves on, and copy those runs (row, metrics, summary, provenance) in one
 * transaction. A run's data always comes whole from one database: the one whose row is kept. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "db_internal.h"

#define RUN_COLS                                                                                            \
    "run_id, experiment, variant, seed, status, config_json, created_at, started_at, ended_at, heartbeat_at," \
    " step, pid, host, attempts, error"

/* The steps of a merge, in order, inside one transaction; stat says which ones fill the
 * statistics. temp.lrpe_only holds the runs to consider (filled by merge_attached), temp.lrpe_win
 * those whose source row wins (is_new: absent here). */
static const struct {
    const char *sql;
    int stat; /* 0 none, 1 metrics, 2 summary, 3 provenance */
} steps[] = {
    {"CREATE TEMP TABLE lrpe_win(run_id TEXT PRIMARY KEY, is_new INTEGER)", 0},
    {"INSERT INTO temp.lrpe_win SELECT s.run_id, m.run_id IS NULL FROM lrpe_src.runs s"
     " LEFT JOIN main.runs m ON m.run_id = s.run_id"
     " WHERE s.run_id IN (SELECT run_id FROM temp.lrpe_only) AND " DB_WINS_SQL, 0},
    {"DELETE FROM main.metrics WHERE run_id IN (SELECT run_id FROM temp.lrpe_win WHERE NOT is_new)", 0},
    {"DELETE FROM main.summary WHERE run_id IN (SELECT run_id FROM temp.lrpe_win WHERE NOT is_new)", 0},
    {"DELETE FROM main.provenance WHERE run_id IN (SELECT run_id FROM temp.lrpe_win WHERE NOT is_new)", 0},
    /* an upsert keeps the row's rowid (and so the registration order) */
    {"INSERT INTO main.runs(" RUN_COLS ") SELECT " RUN_COLS " FROM lrpe_src.runs"
     " WHERE run_id IN (SELECT run_id FROM temp.lrpe_win) ON CONFLICT(run_id) DO UPDATE SET"
     " experiment = excluded.experiment, variant = excluded.variant, seed = excluded.seed,"
     " status = excluded.status, config_json = excluded.config_json, created_at = excluded.created_at,"
     " started_at = excluded.started_at, ended_at = excluded.ended_at, heartbeat_at = excluded.heartbeat_at,"
     " step = excluded.step, pid = excluded.pid, host = excluded.host, attempts = excluded.attempts,"
     " error = excluded.error", 0},
    {"INSERT OR REPLACE INTO main.metrics(run_id, step, key, value) SELECT run_id, step, key, value"
     " FROM lrpe_src.metrics WHERE run_id IN (SELECT run_id FROM temp.lrpe_win)", 1},
    {"INSERT OR REPLACE INTO main.summary(run_id, key, value) SELECT run_id, key, value FROM lrpe_src.summary"
     " WHERE run_id IN (SELECT run_id FROM temp.lrpe_win)", 2},
    {"INSERT OR REPLACE INTO main.provenance(run_id, key, value) SELECT run_id, key, value"
     " FROM lrpe_src.provenance WHERE run_id IN (SELECT run_id FROM temp.lrpe_win)", 3},
    /* memberships add up, whichever side's run row won */
    {"INSERT OR IGNORE INTO main.members(experiment, run_id, variant) SELECT experiment, run_id, variant"
     " FROM lrpe_src.members WHERE run_id IN (SELECT run_id FROM temp.lrpe_only) ORDER BY rowid", 0},
};

/* A single integer from a query on the attached source; *v. */
static int src_int(db *d, const char *sql, long long *v, const char *in_path, char *err, size_t errlen) {
    sqlite3_stmt *st;
    int rc = db_prepare(d, sql, &st, "merge", err, errlen);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) *v = sqlite3_column_int64(st, 0);
    else rc = db_sql_fail(d, s, err, errlen, "merge %s", in_path);
    sqlite3_finalize(st);
    return rc;
}

/* Checks the attached source is an intact lrpe database of this schema version. */
static int check_source(db *d, const char *in_path, char *err, size_t errlen) {
    char op[1100];
    snprintf(op, sizeof op, "merge %s", in_path);
    int empty;
    int rc = db_check_file(d, "lrpe_src", in_path, op, &empty, err, errlen);
    if (rc) return rc;
    long long v = 0;
    if (!empty && (rc = src_int(d, "PRAGMA lrpe_src.user_version", &v, in_path, err, errlen))) return rc;
    if (v > DB_SCHEMA_VERSION)
        return db_fail(d, DB_ERR, err, errlen, "merge %s: its schema version %lld is newer than this lrpe understands (%d)",
                       in_path, v, DB_SCHEMA_VERSION);
    if (empty || v != DB_SCHEMA_VERSION)
        return db_fail(d, DB_ERR, err, errlen, "merge %s: not an lrpe results database of schema %d%s", in_path,
                       DB_SCHEMA_VERSION, empty ? " (it holds no tables)" : ": `lrpe run` or `lrpe merge` into it upgrades it");
    return 0;
}

/* The merge transaction itself (source attached). */
static int merge_attached(db *d, const char *in_path, const char *const *ids, int n, db_merge_stats *stats, char *err,
                          size_t errlen) {
    int rc = db_begin(d, "merge", err, errlen);
    if (rc) return rc;
    rc = db_exec(d, "CREATE TEMP TABLE lrpe_only(run_id TEXT PRIMARY KEY)", "merge", err, errlen);
    if (!rc && !ids)
        rc = db_exec(d, "INSERT INTO temp.lrpe_only SELECT run_id FROM lrpe_src.runs UNION SELECT run_id FROM lrpe_src.members",
                     "merge", err, errlen);
    for (int i = 0; !rc && ids && i < n; i++) {
        sqlite3_stmt *st;
        if ((rc = db_prepare(d, "INSERT OR IGNORE INTO temp.lrpe_only VALUES(?1)", &st, "merge", err, errlen))) break;
        sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE) rc = db_sql_fail(d, s, err, errlen, "merge %s", in_path);
    }
    for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++) {
        int s = sqlite3_exec(d->h, steps[i].sql, NULL, NULL, NULL);
        if (s != SQLITE_OK) {
            rc = db_sql_fail(d, s, err, errlen, "merge %s", in_path);
            break;
        }
        long long changed = sqlite3_changes64(d->h);
        if (steps[i].stat == 1) stats->metrics = changed;
        else if (steps[i].stat == 2) stats->summary = changed;
        else if (steps[i].stat == 3) stats->provenance = changed;
    }
    long long added = 0, all = 0;
    if (!rc) rc = src_int(d, "SELECT count(*) FROM temp.lrpe_win WHERE is_new", &added, in_path, err, errlen);
    if (!rc) rc = src_int(d, "SELECT count(*) FROM temp.lrpe_win", &all, in_path, err, errlen);
    if (!rc) rc = db_exec(d, "DROP TABLE temp.lrpe_win; DROP TABLE temp.lrpe_only", "merge", err, errlen);
    if (rc) {
        db_rollback(d);
        return rc;
    }
    stats->runs_added = (int)added;
    stats->runs_updated = (int)(all - added);
    return db_commit(d, "merge", err, errlen);
}

int db_merge(db *d, const char *in_path, db_merge_stats *stats, char *err, size_t errlen) {
    return db_merge_runs(d, in_path, NULL, 0, stats, err, errlen);
}

/* Merges the runs ids[n] (every run when ids is NULL) of the database at in_path into d. */
int db_merge_runs(db *d, const char *in_path, const char *const *ids, int n, db_merge_stats *stats, char *err,
                  size_t errlen) {
    db_merge_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    int rc = db_enter(d, "merge", err, errlen);
    if (rc) return rc;
    struct stat a, b;
    if (!in_path || stat(in_path, &a) != 0)
        return db_leave(d, db_fail(d, DB_ERR, err, errlen, "merge %s: %s", in_path ? in_path : "(null)", strerror(errno)));
    if (!S_ISREG(a.st_mode))
        return db_leave(d, db_fail(d, DB_ERR, err, errlen, "merge %s: not a regular file", in_path));
    if (stat(d->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return db_leave(d, db_fail(d, DB_ERR, err, errlen, "merge %s: that is this database itself", in_path));
    sqlite3_stmt *st;
    if ((rc = db_prepare(d, "ATTACH DATABASE ?1 AS lrpe_src", &st, "merge", err, errlen))) return db_leave(d, rc);
    sqlite3_bind_text(st, 1, in_path, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) return db_leave(d, db_sql_fail(d, s, err, errlen, "merge %s: cannot open it", in_path));
    rc = check_source(d, in_path, err, errlen);
    if (!rc) rc = merge_attached(d, in_path, ids, n, stats, err, errlen);
    sqlite3_exec(d->h, "DETACH DATABASE lrpe_src", NULL, NULL, NULL);
    return db_leave(d, rc);
}
