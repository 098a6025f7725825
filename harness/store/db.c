/* The results store: opening (after db_check.c's checks of the file), error messages, the schema
 * and its upgrade, timestamps and the dead-owner test. The run lifecycle and the writers are in
 * db_write.c, the queries in db_query.c, merging in db_merge.c. */
#include "db.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db_internal.h"
#include "fs.h"

static const char *const status_names[DB_NSTATUS] = {"pending", "running", "completed", "failed", "interrupted"};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS runs("
    " run_id TEXT PRIMARY KEY NOT NULL,"
    " experiment TEXT NOT NULL,"
    " variant TEXT,"
    " seed INTEGER,"
    " status TEXT NOT NULL DEFAULT 'pending'"
    "  CHECK(status IN ('pending', 'running', 'completed', 'failed', 'interrupted')),"
    " config_json TEXT,"
    " created_at TEXT,"
    " started_at TEXT,"
    " ended_at TEXT,"
    " heartbeat_at TEXT,"
    " step INTEGER,"
    " pid INTEGER,"
    " host TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " error TEXT);"
    "CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, status);"
    /* the primary keys are the uniqueness constraints (a re-logged step replaces its row) and, in
     * this column order, the index the curve and summary queries read in order */
    "CREATE TABLE IF NOT EXISTS metrics(run_id TEXT NOT NULL, step INTEGER NOT NULL, key TEXT NOT NULL,"
    " value REAL, PRIMARY KEY(run_id, key, step)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS summary(run_id TEXT NOT NULL, key TEXT NOT NULL, value REAL,"
    " PRIMARY KEY(run_id, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS provenance(run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
    " PRIMARY KEY(run_id, key)) WITHOUT ROWID;"
    /* which experiments (and under which variant name) a run belongs to: a config shared by two
     * experiments is one run, trained once, listed in both; rowid = registration order */
    "CREATE TABLE IF NOT EXISTS members(experiment TEXT NOT NULL, run_id TEXT NOT NULL, variant TEXT,"
    " PRIMARY KEY(experiment, run_id));"
    /* upgrading a version-1 database: its runs belong to the experiment that registered them */
    "INSERT OR IGNORE INTO members(experiment, run_id, variant) SELECT experiment, run_id, variant FROM runs"
    " ORDER BY rowid;";

/* ---------------------------------------------------------------- helpers shared with db_*.c */

/* Name of the status (the column's values). */
const char *db_status_name(db_status s) {
    return s >= 0 && s < DB_NSTATUS ? status_names[s] : "?";
}

/* The status with this name, or DB_NONE. */
db_status db_status_parse(const char *name) {
    for (int i = 0; name && i < DB_NSTATUS; i++)
        if (strcmp(name, status_names[i]) == 0) return (db_status)i;
    return DB_NONE;
}

/* Formats "label: message" into err; returns code. */
static int vfail(const char *label, int code, char *err, size_t errlen, const char *fmt, va_list ap) {
    verrf_label(err, errlen, label ? label : "db", fmt, ap);
    return code;
}

/* "label: message" into err; returns code. */
static int label_fail(const char *label, int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int label_fail(const char *label, int code, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(label, code, err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* "path: message" into err; returns code. */
int db_fail(const db *d, int code, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(d ? d->path : NULL, code, err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* The db_error of a SQLite result code, and what it means for the user (or NULL). */
static int classify(int rc, const char **hint) {
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
        *hint = "the disk is full or failing; nothing already committed is lost: free space and run the same "
                "command again to resume";
        return DB_EIO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        *hint = "another process has held the database for longer than the busy timeout (30 s)";
        return DB_EBUSY;
    case SQLITE_READONLY:
        *hint = "the database or its folder is not writable";
        return DB_EREADONLY;
    case SQLITE_CANTOPEN:
        *hint = "cannot open or create the file: check that its folder exists and is writable";
        return DB_EREADONLY;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        *hint = "the file is not an lrpe results database or is damaged";
        return DB_ERR;
    default:
        *hint = NULL;
        return DB_ERR;
    }
}

/* "path: op: SQLite's message[; hint]" into err; returns the db_error of rc. */
int db_sql_fail(const db *d, int rc, char *err, size_t errlen, const char *fmt, ...) {
    const char *hint;
    int code = classify(rc, &hint);
    char op[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    /* errmsg describes the last failed call; use the generic text when that was another code */
    const char *msg = d && d->h && (sqlite3_errcode(d->h) & 0xff) == (rc & 0xff) ? sqlite3_errmsg(d->h)
                                                                                  : sqlite3_errstr(rc);
    return db_fail(d, code, err, errlen, "%s: %s%s%s", op, msg, hint ? "; " : "", hint ? hint : "");
}

/* Fork check and lock. */
int db_enter(db *d, const char *op, char *err, size_t errlen) {
    if (!d) {
        if (err && errlen) snprintf(err, errlen, "db: %s: no database handle", op);
        return DB_ERR;
    }
    if (d->pid != getpid())
        return db_fail(d, DB_ERR, err, errlen, "%s: handle opened by process %ld used in process %ld (after fork, open the database again)",
                       op, (long)d->pid, (long)getpid());
    pthread_mutex_lock(&d->mu);
    return 0;
}

/* Unlock; passes rc through. */
int db_leave(db *d, int rc) {
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Prepare with an error message naming op. */
int db_prepare(db *d, const char *sql, sqlite3_stmt **st, const char *op, char *err, size_t errlen) {
    int rc = sqlite3_prepare_v2(d->h, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return db_sql_fail(d, rc, err, errlen, "%s", op);
    }
    return 0;
}

/* sqlite3_exec with an error message naming op. */
int db_exec(db *d, const char *sql, const char *op, char *err, size_t errlen) {
    int rc = sqlite3_exec(d->h, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_sql_fail(d, rc, err, errlen, "%s", op);
}

/* BEGIN IMMEDIATE. */
int db_begin(db *d, const char *op, char *err, size_t errlen) {
    return db_exec(d, "BEGIN IMMEDIATE", op, err, errlen);
}

/* COMMIT, rolling back on failure. */
int db_commit(db *d, const char *op, char *err, size_t errlen) {
    int rc = db_exec(d, "COMMIT", op, err, errlen);
    if (rc) db_rollback(d);
    return rc;
}

/* ROLLBACK when a transaction is open (SQLite may already have rolled back, e.g. on SQLITE_FULL). */
void db_rollback(db *d) {
    if (!sqlite3_get_autocommit(d->h)) sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
}

/* Now minus offset_s, ISO-8601 UTC with milliseconds. */
void db_time_iso(char out[32], double offset_s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 - offset_s;
    time_t sec = (time_t)floor(t);
    int ms = (int)((t - (double)sec) * 1000.0);
    if (ms > 999) ms = 999;
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t k = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, 32 - k, ".%03dZ", ms);
}

/* Cutoff time for stale heartbeats ("" when disabled). */
void db_stale_cutoff(char out[32], double stale_s) {
    if (stale_s > 0) db_time_iso(out, stale_s);
    else out[0] = 0;
}

/* ---------------------------------------------------------------- open / close */

/* SQL function lrpe_pid_dead(host, pid): 1 when host is this machine and no process pid exists. */
static void pid_dead_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    const db *d = sqlite3_user_data(ctx);
    const char *host = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_int64 pid = sqlite3_value_int64(argv[1]);
    int dead = host && pid > 0 && pid <= 0x7fffffff && strcmp(host, d->host) == 0 &&
               kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    sqlite3_result_int(ctx, dead);
}

/* Creates every missing folder above path (like mkdir -p of its dirname). */
static int make_parents(const char *path, char *err, size_t errlen) {
    char dir[4096], why[4400];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    if ((size_t)(slash - path) >= sizeof dir) return label_fail(path, DB_ERR, err, errlen, "the path is too long");
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (fs_mkdirs(dir, why, sizeof why) == 0) return 0;
    int e = errno;
    return label_fail(path, e == EACCES || e == EROFS || e == EPERM ? DB_EREADONLY : DB_ERR, err, errlen, "%s", why);
}

/* The single integer a pragma query returns into *v. */
static int pragma_int(db *d, const char *sql, int *v, char *err, size_t errlen) {
    sqlite3_stmt *st;
    int rc = db_prepare(d, sql, &st, "read schema version", err, errlen);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) *v = sqlite3_column_int(st, 0);
    else rc = db_sql_fail(d, s, err, errlen, "read schema version");
    sqlite3_finalize(st);
    return rc;
}

/* PRAGMA journal_mode=WAL, retried while another process holds the lock it needs. */
static int set_wal(db *d, char *err, size_t errlen) {
    for (int waited_ms = 0;; waited_ms += 20) {
        sqlite3_stmt *st;
        int rc = db_prepare(d, "PRAGMA journal_mode=WAL", &st, "set WAL mode", err, errlen);
        if (rc) return rc;
        int s = sqlite3_step(st);
        char mode[16] = "";
        if (s == SQLITE_ROW) snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (s == SQLITE_ROW)
            return strcmp(mode, "wal") == 0
                       ? 0
                       : db_fail(d, DB_ERR, err, errlen, "set WAL mode: the journal mode stays '%s' (WAL needs a local file system)", mode);
        if ((s & 0xff) != SQLITE_BUSY || waited_ms >= DB_BUSY_TIMEOUT_MS)
            return db_sql_fail(d, s, err, errlen, "set WAL mode");
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* Checks the schema version, creating the schema when it is missing (not when read-only). */
static int ensure_schema(db *d, int readonly, char *err, size_t errlen) {
    int v = 0, rc = pragma_int(d, "PRAGMA user_version", &v, err, errlen);
    if (rc) return rc;
    if (v > DB_SCHEMA_VERSION)
        return db_fail(d, DB_ERR, err, errlen, "schema version %d is newer than this lrpe understands (%d): use a newer lrpe",
                       v, DB_SCHEMA_VERSION);
    if (v == DB_SCHEMA_VERSION) return 0;
    if (readonly && v == 0) return db_fail(d, DB_ERR, err, errlen, "not an lrpe results database (no schema)");
    if (readonly)
        return db_fail(d, DB_ERR, err, errlen, "written by an older lrpe (schema %d): `lrpe run` or `lrpe merge` on it upgrades it", v);
    if ((rc = db_begin(d, "create schema", err, errlen))) return rc;
    /* another process may have created (or upgraded) it while we waited for the lock */
    if (!(rc = pragma_int(d, "PRAGMA user_version", &v, err, errlen)) && v < DB_SCHEMA_VERSION) {
        char sql[sizeof schema_sql + 64];
        snprintf(sql, sizeof sql, "%sPRAGMA user_version = %d;", schema_sql, DB_SCHEMA_VERSION);
        rc = db_exec(d, sql, "create schema", err, errlen);
    }
    if (rc) {
        db_rollback(d);
        return rc;
    }
    return db_commit(d, "create schema", err, errlen);
}

/* Opens or creates the database. */
int db_open(db **out, const char *path, int flags, char *err, size_t errlen) {
    *out = NULL;
    if (!path || !*path) return label_fail("db", DB_ERR, err, errlen, "no database path given");
    const int readonly = flags & DB_OPEN_READONLY;
    int rc;
    if (readonly) {
        if (access(path, F_OK) != 0) return label_fail(path, DB_ERR, err, errlen, "cannot open: %s", strerror(errno));
    } else if ((rc = make_parents(path, err, errlen))) {
        return rc;
    }
    db *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        return label_fail(path, DB_ERR, err, errlen, "out of memory");
    }
    d->pid = getpid();
    if (gethostname(d->host, sizeof d->host - 1) != 0) snprintf(d->host, sizeof d->host, "unknown");
    pthread_mutex_init(&d->mu, NULL);
    int s = sqlite3_open_v2(path, &d->h, readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            NULL);
    if (s != SQLITE_OK) {
        rc = db_sql_fail(d, s, err, errlen, "cannot open");
    } else {
        sqlite3_extended_result_codes(d->h, 1);
        sqlite3_busy_timeout(d->h, DB_BUSY_TIMEOUT_MS);
        s = sqlite3_create_function_v2(d->h, "lrpe_pid_dead", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, d, pid_dead_fn,
                                       NULL, NULL, NULL);
        rc = s != SQLITE_OK ? db_sql_fail(d, s, err, errlen, "open") : 0;
        int empty;
        if (!rc) rc = db_check_file(d, "main", path, NULL, &empty, err, errlen); /* before anything is changed */
        if (!rc && !readonly) rc = set_wal(d, err, errlen);
        if (!rc && !readonly) rc = db_exec(d, "PRAGMA synchronous=NORMAL", "set synchronous mode", err, errlen);
        if (!rc) rc = ensure_schema(d, readonly, err, errlen);
    }
    if (rc) {
        db_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* Closes the connection and frees the handle. */
void db_close(db *d) {
    if (!d) return;
    sqlite3_close(d->h);
    pthread_mutex_destroy(&d->mu);
    free(d->path);
    free(d);
}

/* The handle's path. */
const char *db_path(const db *d) { return d ? d->path : NULL; }
