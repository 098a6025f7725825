/* The results store's writers: the run lifecycle (register, start, claim, heartbeat, finish,
 * reset) and the batched metrics / summary / provenance setters. Each is one short statement or
 * one BEGIN IMMEDIATE transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "db_internal.h"

#define MAX_ERROR_LEN 1000 /* a failed run's error is cut to this many bytes */

/* Binds text (NULL binds NULL); SQLite copies it. */
static void bind_text(sqlite3_stmt *st, int i, const char *s) {
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

/* Steps a statement that returns no rows; the SQLite code on failure. */
static int step_done(sqlite3_stmt *st) {
    int s = sqlite3_step(st);
    return s == SQLITE_DONE ? SQLITE_OK : s;
}

/* Registers runs (insert if absent) and their membership of the experiment. */
int db_runs_register(db *d, const db_run_info *r, int n, char *err, size_t errlen) {
    const char *op = "register runs";
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    for (int i = 0; i < n; i++)
        if (!r[i].run_id || !*r[i].run_id || !r[i].experiment)
            return db_leave(d, db_fail(d, DB_ERR, err, errlen, "%s: run %d has no run id or experiment", op, i));
    if (n <= 0 || (rc = db_begin(d, op, err, errlen))) return db_leave(d, rc);
    sqlite3_stmt *st = NULL;
    char now[32];
    db_time_iso(now, 0);
    rc = db_prepare(d,
                    "INSERT INTO runs(run_id, experiment, variant, seed, config_json, created_at, status)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'pending') ON CONFLICT(run_id) DO NOTHING",
                    &st, op, err, errlen);
    for (int i = 0; !rc && i < n; i++) {
        sqlite3_reset(st);
        bind_text(st, 1, r[i].run_id);
        bind_text(st, 2, r[i].experiment);
        bind_text(st, 3, r[i].variant);
        sqlite3_bind_int64(st, 4, r[i].seed);
        bind_text(st, 5, r[i].config_json);
        bind_text(st, 6, now);
        int s = step_done(st);
        if (s) rc = db_sql_fail(d, s, err, errlen, "register run %s", r[i].run_id);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!rc)
        rc = db_prepare(d,
                        "INSERT INTO members(experiment, run_id, variant) VALUES(?1, ?2, ?3)"
                        " ON CONFLICT(experiment, run_id) DO UPDATE SET variant = excluded.variant",
                        &st, op, err, errlen);
    for (int i = 0; !rc && i < n; i++) {
        sqlite3_reset(st);
        bind_text(st, 1, r[i].experiment);
        bind_text(st, 2, r[i].run_id);
        bind_text(st, 3, r[i].variant);
        int s = step_done(st);
        if (s) rc = db_sql_fail(d, s, err, errlen, "register run %s in %s", r[i].run_id, r[i].experiment);
    }
    sqlite3_finalize(st);
    if (rc) db_rollback(d);
    else rc = db_commit(d, op, err, errlen);
    return db_leave(d, rc);
}

/* The stored status of one run, DB_NONE when absent (lock held). */
static int read_status(db *d, const char *run_id, db_status *out, char *err, size_t errlen) {
    sqlite3_stmt *st;
    int rc = db_prepare(d, "SELECT status FROM runs WHERE run_id = ?1", &st, "read run status", err, errlen);
    if (rc) return rc;
    bind_text(st, 1, run_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) *out = db_status_parse((const char *)sqlite3_column_text(st, 0));
    else if (s == SQLITE_DONE) *out = DB_NONE;
    else rc = db_sql_fail(d, s, err, errlen, "read status of run %s", run_id);
    sqlite3_finalize(st);
    return rc;
}

/* Public status read. */
int db_run_status(db *d, const char *run_id, db_status *out, char *err, size_t errlen) {
    int rc = db_enter(d, "read run status", err, errlen);
    if (rc) return rc;
    return db_leave(d, read_status(d, run_id, out, err, errlen));
}

/* Marks run_id running for this process (lock held). */
static int mark_running(db *d, const char *run_id, char *err, size_t errlen) {
    sqlite3_stmt *st;
    int rc = db_prepare(d,
                        "UPDATE runs SET status = 'running', pid = ?2, host = ?3, heartbeat_at = ?4,"
                        " started_at = coalesce(started_at, ?4), ended_at = NULL, error = NULL,"
                        " attempts = attempts + 1 WHERE run_id = ?1",
                        &st, "start run", err, errlen);
    if (rc) return rc;
    char now[32];
    db_time_iso(now, 0);
    bind_text(st, 1, run_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)getpid());
    bind_text(st, 3, d->host);
    bind_text(st, 4, now);
    int s = step_done(st);
    sqlite3_finalize(st);
    if (s) return db_sql_fail(d, s, err, errlen, "start run %s", run_id);
    if (sqlite3_changes(d->h) == 0) return db_fail(d, DB_ERR, err, errlen, "start run %s: no such run (register it first)", run_id);
    return 0;
}

/* Unconditional start. */
int db_run_start(db *d, const char *run_id, char *err, size_t errlen) {
    int rc = db_enter(d, "start run", err, errlen);
    if (rc) return rc;
    return db_leave(d, mark_running(d, run_id, err, errlen));
}

/* Takes the first claimable run of run_ids in one write transaction. */
int db_run_claim(db *d, const char *const *run_ids, int n, double stale_s, int *index, db_status *prev,
                 char *err, size_t errlen) {
    const char *op = "claim a run";
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    if (n <= 0) return db_leave(d, 0);
    if ((rc = db_begin(d, op, err, errlen))) return db_leave(d, rc);
    sqlite3_stmt *st = NULL;
    char cutoff[32];
    db_stale_cutoff(cutoff, stale_s);
    rc = db_prepare(d, "SELECT status, " DB_DEAD_SQL("?2") " FROM runs WHERE run_id = ?1", &st, op, err, errlen);
    int found = -1;
    db_status was = DB_NONE;
    for (int i = 0; !rc && found < 0 && i < n; i++) {
        sqlite3_reset(st);
        bind_text(st, 1, run_ids[i]);
        bind_text(st, 2, cutoff);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            db_status cur = db_status_parse((const char *)sqlite3_column_text(st, 0));
            if (cur == DB_PENDING || cur == DB_INTERRUPTED || (cur == DB_RUNNING && sqlite3_column_int(st, 1)))
                found = i, was = cur;
        } else if (s != SQLITE_DONE) {
            rc = db_sql_fail(d, s, err, errlen, "%s (reading run %s)", op, run_ids[i]);
        }
    }
    sqlite3_finalize(st);
    if (!rc && found >= 0) rc = mark_running(d, run_ids[found], err, errlen);
    if (rc) {
        db_rollback(d);
        return db_leave(d, rc);
    }
    if ((rc = db_commit(d, op, err, errlen))) return db_leave(d, rc);
    if (found < 0) return db_leave(d, 0);
    if (index) *index = found;
    if (prev) *prev = was;
    return db_leave(d, 1);
}

/* Explains why an ownership-checked update changed nothing: no such run (DB_ERR) or someone else's
 * (DB_ELOST). Lock held. */
static int not_ours(db *d, const char *op, const char *run_id, char *err, size_t errlen) {
    sqlite3_stmt *st;
    int rc = db_prepare(d, "SELECT status, pid, host FROM runs WHERE run_id = ?1", &st, op, err, errlen);
    if (rc) return rc;
    bind_text(st, 1, run_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0), *host = (const char *)sqlite3_column_text(st, 2);
        if (strcmp(status, "running") == 0)
            rc = db_fail(d, DB_ELOST, err, errlen, "%s %s: the run now belongs to process %lld on %s (its heartbeat went stale and it was claimed)",
                         op, run_id, (long long)sqlite3_column_int64(st, 1), host ? host : "?");
        else
            rc = db_fail(d, DB_ELOST, err, errlen, "%s %s: the run is %s, no longer running for this process", op, run_id, status);
    } else if (s == SQLITE_DONE) {
        rc = db_fail(d, DB_ERR, err, errlen, "%s %s: no such run", op, run_id);
    } else {
        rc = db_sql_fail(d, s, err, errlen, "%s %s", op, run_id);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Heartbeat of a run this process owns. */
int db_run_heartbeat(db *d, const char *run_id, long long step, char *err, size_t errlen) {
    const char *op = "heartbeat of run";
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(d,
                         "UPDATE runs SET heartbeat_at = ?2, step = ?3 WHERE run_id = ?1 AND status = 'running'"
                         " AND pid = ?4 AND host = ?5",
                         &st, op, err, errlen)))
        return db_leave(d, rc);
    char now[32];
    db_time_iso(now, 0);
    bind_text(st, 1, run_id);
    bind_text(st, 2, now);
    sqlite3_bind_int64(st, 3, step);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)getpid());
    bind_text(st, 5, d->host);
    int s = step_done(st);
    sqlite3_finalize(st);
    if (s) rc = db_sql_fail(d, s, err, errlen, "%s %s", op, run_id);
    else if (sqlite3_changes(d->h) == 0) rc = not_ours(d, op, run_id, err, errlen);
    return db_leave(d, rc);
}

/* Ends a run with completed / failed / interrupted. */
int db_run_finish(db *d, const char *run_id, db_status status, const char *error, char *err, size_t errlen) {
    const char *op = "finish run";
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    if (status != DB_COMPLETED && status != DB_FAILED && status != DB_INTERRUPTED)
        return db_leave(d, db_fail(d, DB_ERR, err, errlen, "%s %s: cannot finish with status '%s'", op, run_id,
                                   db_status_name(status)));
    char msg[MAX_ERROR_LEN + 1] = "";
    if (status == DB_FAILED || (status == DB_INTERRUPTED && error && *error)) {
        snprintf(msg, sizeof msg, "%s", error && *error ? error : "failed (no reason given)");
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20) *p = ' ';
    }
    sqlite3_stmt *st;
    if ((rc = db_prepare(d,
                         "UPDATE runs SET status = ?2, ended_at = ?3, error = ?4 WHERE run_id = ?1 AND"
                         " (status IN ('pending', 'failed', 'interrupted') OR"
                         "  (status = 'running' AND pid = ?5 AND host = ?6))",
                         &st, op, err, errlen)))
        return db_leave(d, rc);
    char now[32];
    db_time_iso(now, 0);
    bind_text(st, 1, run_id);
    bind_text(st, 2, db_status_name(status));
    bind_text(st, 3, now);
    bind_text(st, 4, msg[0] ? msg : NULL);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)getpid());
    bind_text(st, 6, d->host);
    int s = step_done(st);
    sqlite3_finalize(st);
    if (s) rc = db_sql_fail(d, s, err, errlen, "%s %s", op, run_id);
    else if (sqlite3_changes(d->h) == 0) rc = not_ours(d, op, run_id, err, errlen);
    return db_leave(d, rc);
}

/* Back to pending, with the run's metrics and summary deleted. */
int db_run_reset(db *d, const char *run_id, char *err, size_t errlen) {
    char op[256];
    snprintf(op, sizeof op, "reset run %s", run_id ? run_id : "(null)");
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    if ((rc = db_begin(d, op, err, errlen))) return db_leave(d, rc);
    static const char *const sql[] = {
        ("UPDATE runs SET status = 'pending', started_at = NULL, ended_at = NULL, heartbeat_at = NULL,"
         " step = NULL, pid = NULL, host = NULL, error = NULL WHERE run_id = ?1"),
        "DELETE FROM metrics WHERE run_id = ?1",
        "DELETE FROM summary WHERE run_id = ?1",
        "DELETE FROM provenance WHERE run_id = ?1",
    };
    for (int i = 0; !rc && i < (int)(sizeof sql / sizeof sql[0]); i++) {
        sqlite3_stmt *st;
        if ((rc = db_prepare(d, sql[i], &st, op, err, errlen))) break;
        bind_text(st, 1, run_id);
        int s = step_done(st);
        sqlite3_finalize(st);
        if (s) rc = db_sql_fail(d, s, err, errlen, "%s", op);
        else if (i == 0 && sqlite3_changes(d->h) == 0) rc = db_fail(d, DB_ERR, err, errlen, "%s: no such run", op);
    }
    if (rc) db_rollback(d);
    else rc = db_commit(d, op, err, errlen);
    return db_leave(d, rc);
}

/* The three key/value writers share this: table, and how row i binds to (?2 key, ?3 value). */
typedef enum kv_kind { KV_METRIC, KV_SUMMARY, KV_PROVENANCE } kv_kind;

/* Writes n rows of one kind for run_id in one transaction (INSERT OR REPLACE). */
static int write_rows(db *d, kv_kind kind, const char *run_id, const void *rows, int n, char *err, size_t errlen) {
    static const char *const ops[] = {"add metrics of run", "set summary of run", "set provenance of run"};
    static const char *const sql[] = {
        "INSERT OR REPLACE INTO metrics(run_id, key, value, step) VALUES(?1, ?2, ?3, ?4)",
        "INSERT OR REPLACE INTO summary(run_id, key, value) VALUES(?1, ?2, ?3)",
        "INSERT OR REPLACE INTO provenance(run_id, key, value) VALUES(?1, ?2, ?3)",
    };
    char op[256];
    snprintf(op, sizeof op, "%s %s", ops[kind], run_id ? run_id : "(null)");
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    if (!run_id || !*run_id) return db_leave(d, db_fail(d, DB_ERR, err, errlen, "%s: no run id", op));
    if (n <= 0) return db_leave(d, 0);
    if (!rows) return db_leave(d, db_fail(d, DB_ERR, err, errlen, "%s: no rows", op));
    if ((rc = db_begin(d, op, err, errlen))) return db_leave(d, rc);
    sqlite3_stmt *st;
    rc = db_prepare(d, sql[kind], &st, op, err, errlen);
    for (int i = 0; !rc && i < n; i++) {
        const char *key = kind == KV_METRIC    ? ((const db_metric *)rows)[i].key
                          : kind == KV_SUMMARY ? ((const db_value *)rows)[i].key
                                               : ((const db_text *)rows)[i].key;
        if (!key || !*key) {
            rc = db_fail(d, DB_ERR, err, errlen, "%s: row %d has no key", op, i);
            break;
        }
        sqlite3_reset(st);
        bind_text(st, 1, run_id);
        bind_text(st, 2, key);
        if (kind == KV_METRIC) {
            sqlite3_bind_double(st, 3, ((const db_metric *)rows)[i].value); /* NaN binds as NULL */
            sqlite3_bind_int64(st, 4, ((const db_metric *)rows)[i].step);
        } else if (kind == KV_SUMMARY) {
            sqlite3_bind_double(st, 3, ((const db_value *)rows)[i].value);
        } else {
            bind_text(st, 3, ((const db_text *)rows)[i].value);
        }
        int s = step_done(st);
        if (s) rc = db_sql_fail(d, s, err, errlen, "%s", op);
    }
    sqlite3_finalize(st);
    if (rc) db_rollback(d);
    else rc = db_commit(d, op, err, errlen);
    return db_leave(d, rc);
}

/* Batch of metric rows. */
int db_metrics_add(db *d, const char *run_id, const db_metric *rows, int n, char *err, size_t errlen) {
    return write_rows(d, KV_METRIC, run_id, rows, n, err, errlen);
}

/* Batch of summary values. */
int db_summary_set(db *d, const char *run_id, const db_value *kv, int n, char *err, size_t errlen) {
    return write_rows(d, KV_SUMMARY, run_id, kv, n, err, errlen);
}

/* Batch of provenance entries. */
int db_provenance_set(db *d, const char *run_id, const db_text *kv, int n, char *err, size_t errlen) {
    return write_rows(d, KV_PROVENANCE, run_id, kv, n, err, errlen);
}
