/* The results store (harness/store/db.h) and the status / merge commands: schema and WAL mode, the run
 * lifecycle, batched metrics that replace instead of duplicating, two processes writing or claiming
 * at once, stale heartbeats, idempotent merges, and clear one-line errors. Every test works in its
 * own mkdtemp folder under /tmp (or $TMPDIR) and removes it. */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

/* A fresh temporary folder into dir. */
static void make_tmpdir(char *dir, size_t len) { test_tmpdir(dir, len, "db"); }

/* One integer from a query on the database at path through a separate raw connection (-1 when
 * the query fails). */
static long long raw_int(const char *path, const char *sql) {
    sqlite3 *h;
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 30000);
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(h);
    return v;
}

/* One text value from a query, copied into out ("" on failure or NULL). */
static const char *raw_text(const char *path, const char *sql, char *out, size_t len) {
    sqlite3 *h;
    sqlite3_stmt *st;
    out[0] = 0;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 30000);
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(h);
    return out;
}

/* Runs statements on the database at path through a raw connection; SQLite's result code. */
static int raw_exec(const char *path, const char *sql) {
    sqlite3 *h;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(h, 30000);
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    }
    sqlite3_close(h);
    return rc;
}

/* 1 when s looks like "2024-05-01T12:34:56.789Z". */
static int is_iso_utc(const char *s) {
    if (!s || strlen(s) != 24) return 0;
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++)
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return 0;
    return 1;
}

/* 1 when err is a single line that mentions want. */
static int one_line_with(const char *err, const char *want) {
    return err[0] && !strchr(err, '\n') && strstr(err, want) != NULL;
}

/* Exit code of a forked child (-1 when it did not exit normally). */
static int wait_child(pid_t pid) {
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Registers run ids ids[n] of experiment exp with variant "v" and seeds 1..n. */
static int register_ids(db *d, const char *exp, const char *const *ids, int n, char *err, size_t errlen) {
    db_run_info r[32];
    for (int i = 0; i < n && i < 32; i++)
        r[i] = (db_run_info){.run_id = ids[i], .experiment = exp, .variant = "v", .seed = i + 1, .config_json = "{}"};
    return db_runs_register(d, r, n, err, errlen);
}

/* ---------------------------------------------------------------- schema */

TEST(db_schema_and_wal) {
    char dir[256], path[512], err[512], buf[64];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a/b/results.db", dir);
    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open creates parents: %s", err);
    CHECK(strcmp(db_path(d), path) == 0, "db_path");
    CHECK(strcmp(raw_text(path, "PRAGMA journal_mode", buf, sizeof buf), "wal") == 0, "journal mode %s", buf);
    CHECK(raw_int(path, "PRAGMA user_version") == DB_SCHEMA_VERSION, "user_version");
    CHECK(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                        " ('runs', 'metrics', 'summary', 'provenance')") == 4, "four tables");
    static const char *const cols[] = {"run_id", "experiment", "variant", "seed", "status", "config_json",
                                       "started_at", "ended_at", "error", "heartbeat_at", "pid", "host", "step"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = '%s'", cols[i]);
        CHECK(raw_int(path, sql) == 1, "runs.%s", cols[i]);
    }
    CHECK(raw_int(path, "SELECT count(*) FROM pragma_table_info('metrics') WHERE name IN ('run_id', 'step', 'key', 'value')") == 4,
          "metrics columns");
    CHECK(raw_int(path, "SELECT count(*) FROM pragma_index_list('runs') WHERE name = 'runs_by_experiment'") == 1,
          "runs index");
    CHECK(raw_exec(path, "INSERT INTO runs(run_id, experiment, status) VALUES('x', 'e', 'bogus')") != SQLITE_OK,
          "status CHECK constraint");
    CHECK(raw_exec(path, "INSERT INTO metrics VALUES('x', 1, 'k', 1.0); INSERT INTO metrics VALUES('x', 1, 'k', 2.0)") != SQLITE_OK,
          "metrics (run_id, step, key) unique");
    db_close(d);
    /* reopening keeps everything; a read-only handle sees the schema */
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "reopen: %s", err);
    db_close(d);
    CHECK(db_open(&d, path, DB_OPEN_READONLY, err, sizeof err) == 0, "read-only open: %s", err);
    db_close(d);
    test_rmtree(dir);
}

/* ---------------------------------------------------------------- lifecycle */

TEST(db_lifecycle_transitions_and_timestamps) {
    char dir[256], path[512], err[512], buf[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.db", dir);
    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    const char *ids[] = {"run-a", "run-b"};
    CHECK(register_ids(d, "exp", ids, 2, err, sizeof err) == 0, "register: %s", err);
    db_status s = DB_NSTATUS;
    CHECK(db_run_status(d, "run-a", &s, err, sizeof err) == 0 && s == DB_PENDING, "pending after register");
    CHECK(db_run_status(d, "nope", &s, err, sizeof err) == 0 && s == DB_NONE, "absent run");
    CHECK(is_iso_utc(raw_text(path, "SELECT created_at FROM runs WHERE run_id = 'run-a'", buf, sizeof buf)), "created_at %s", buf);

    CHECK(db_run_start(d, "run-a", err, sizeof err) == 0, "start: %s", err);
    CHECK(db_run_status(d, "run-a", &s, err, sizeof err) == 0 && s == DB_RUNNING, "running");
    char started[64];
    raw_text(path, "SELECT started_at FROM runs WHERE run_id = 'run-a'", started, sizeof started);
    CHECK(is_iso_utc(started), "started_at %s", started);
    CHECK(raw_int(path, "SELECT pid FROM runs WHERE run_id = 'run-a'") == getpid(), "pid");
    CHECK(raw_int(path, "SELECT attempts FROM runs WHERE run_id = 'run-a'") == 1, "attempts");
    CHECK(raw_text(path, "SELECT host FROM runs WHERE run_id = 'run-a'", buf, sizeof buf)[0], "host");
    CHECK(db_run_heartbeat(d, "run-a", 50, err, sizeof err) == 0, "heartbeat: %s", err);
    CHECK(raw_int(path, "SELECT step FROM runs WHERE run_id = 'run-a'") == 50, "step reached");
    CHECK(is_iso_utc(raw_text(path, "SELECT heartbeat_at FROM runs WHERE run_id = 'run-a'", buf, sizeof buf)), "heartbeat_at");

    /* interrupted, then resumed: started_at kept, ended_at cleared, attempts counted */
    CHECK(db_run_finish(d, "run-a", DB_INTERRUPTED, NULL, err, sizeof err) == 0, "interrupt: %s", err);
    CHECK(db_run_status(d, "run-a", &s, err, sizeof err) == 0 && s == DB_INTERRUPTED, "interrupted");
    CHECK(is_iso_utc(raw_text(path, "SELECT ended_at FROM runs WHERE run_id = 'run-a'", buf, sizeof buf)), "ended_at");
    CHECK(db_run_start(d, "run-a", err, sizeof err) == 0, "restart: %s", err);
    CHECK(strcmp(raw_text(path, "SELECT started_at FROM runs WHERE run_id = 'run-a'", buf, sizeof buf), started) == 0,
          "started_at kept on resume");
    CHECK(raw_int(path, "SELECT ended_at IS NULL FROM runs WHERE run_id = 'run-a'") == 1, "ended_at cleared");
    CHECK(raw_int(path, "SELECT attempts FROM runs WHERE run_id = 'run-a'") == 2, "attempts 2");

    CHECK(db_run_finish(d, "run-a", DB_COMPLETED, NULL, err, sizeof err) == 0, "complete: %s", err);
    char ended[64];
    raw_text(path, "SELECT ended_at FROM runs WHERE run_id = 'run-a'", ended, sizeof ended);
    CHECK(is_iso_utc(ended) && strcmp(ended, started) >= 0, "ended_at %s after started_at %s", ended, started);
    /* registering again keeps the status; finishing a completed run is refused */
    CHECK(register_ids(d, "exp", ids, 2, err, sizeof err) == 0, "re-register: %s", err);
    CHECK(db_run_status(d, "run-a", &s, err, sizeof err) == 0 && s == DB_COMPLETED, "status kept on re-register");
    err[0] = 0;
    CHECK(db_run_finish(d, "run-a", DB_INTERRUPTED, NULL, err, sizeof err) == DB_ELOST && one_line_with(err, "completed"),
          "completed is final: %s", err);
    CHECK(db_run_heartbeat(d, "run-a", 1, err, sizeof err) == DB_ELOST, "heartbeat of a finished run");
    CHECK(db_run_finish(d, "run-b", DB_RUNNING, NULL, err, sizeof err) == DB_ERR, "finish with running refused");
    CHECK(db_run_start(d, "nope", err, sizeof err) == DB_ERR && one_line_with(err, "no such run"), "start absent: %s", err);

    /* failed: the error is stored on one line */
    CHECK(db_run_start(d, "run-b", err, sizeof err) == 0, "start b: %s", err);
    CHECK(db_run_finish(d, "run-b", DB_FAILED, "loss is NaN\nat step 7", err, sizeof err) == 0, "fail: %s", err);
    CHECK(strcmp(raw_text(path, "SELECT error FROM runs WHERE run_id = 'run-b'", buf, sizeof buf), "loss is NaN at step 7") == 0,
          "one-line error: %s", buf);
    CHECK(raw_text(path, "SELECT status FROM runs WHERE run_id = 'run-b'", buf, sizeof buf)[0] == 'f', "failed");

    /* reset for --force: pending, metrics and summary gone */
    db_metric m = {1, "train/loss", 2.5};
    db_value v = {"test/loss", 1.0};
    CHECK(db_metrics_add(d, "run-a", &m, 1, err, sizeof err) == 0 && db_summary_set(d, "run-a", &v, 1, err, sizeof err) == 0,
          "writes: %s", err);
    CHECK(db_run_reset(d, "run-a", err, sizeof err) == 0, "reset: %s", err);
    CHECK(db_run_status(d, "run-a", &s, err, sizeof err) == 0 && s == DB_PENDING, "pending after reset");
    CHECK(raw_int(path, "SELECT count(*) FROM metrics WHERE run_id = 'run-a'") == 0, "metrics cleared");
    CHECK(raw_int(path, "SELECT count(*) FROM summary WHERE run_id = 'run-a'") == 0, "summary cleared");
    CHECK(raw_int(path, "SELECT started_at IS NULL AND ended_at IS NULL FROM runs WHERE run_id = 'run-a'") == 1,
          "timestamps cleared");
    db_close(d);
    test_rmtree(dir);
}

/* ---------------------------------------------------------------- metrics */

TEST(db_metrics_batch_and_replace) {
    char dir[256], path[512], err[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.db", dir);
    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    const char *ids[] = {"r1"};
    CHECK(register_ids(d, "exp", ids, 1, err, sizeof err) == 0, "register: %s", err);
    db_metric rows[200];
    for (int i = 0; i < 100; i++) {
        rows[2 * i] = (db_metric){i * 10, "train/loss", 5.0 - i * 0.01};
        rows[2 * i + 1] = (db_metric){i * 10, "val/loss", 6.0 - i * 0.01};
    }
    CHECK(db_metrics_add(d, "r1", rows, 200, err, sizeof err) == 0, "batch: %s", err);
    CHECK(raw_int(path, "SELECT count(*) FROM metrics") == 200, "200 rows");
    /* a resumed run logs steps 500.. again with other values: replaced, not duplicated */
    for (int i = 0; i < 100; i++) rows[i] = (db_metric){500 + (i / 2) * 10, i % 2 ? "val/loss" : "train/loss", -1.0};
    CHECK(db_metrics_add(d, "r1", rows, 100, err, sizeof err) == 0, "re-log: %s", err);
    CHECK(raw_int(path, "SELECT count(*) FROM metrics") == 200, "still 200 rows");
    CHECK(raw_int(path, "SELECT count(*) FROM metrics WHERE value = -1.0") == 100, "re-logged values replaced");
    db_point *c;
    int n;
    CHECK(db_metric_curve(d, "r1", "train/loss", &c, &n, err, sizeof err) == 0 && n == 100, "curve: %s", err);
    int sorted = 1;
    for (int i = 1; i < n; i++) sorted &= c[i].step > c[i - 1].step;
    CHECK(sorted && c[0].step == 0 && c[99].step == 990, "curve ordered by step");
    CHECK_CLOSE(c[1].value, 4.99, 0, 1e-12, "curve value");
    CHECK_CLOSE(c[60].value, -1.0, 0, 0, "replaced value");
    free(c);
    CHECK(db_metric_curve(d, "r1", "no/key", &c, &n, err, sizeof err) == 0 && n == 0 && c == NULL, "empty curve");
    /* NaN is stored as NULL and read back as NaN; infinities survive */
    db_metric odd[2] = {{2000, "train/loss", NAN}, {2010, "train/loss", INFINITY}};
    CHECK(db_metrics_add(d, "r1", odd, 2, err, sizeof err) == 0, "nan: %s", err);
    CHECK(db_metric_curve(d, "r1", "train/loss", &c, &n, err, sizeof err) == 0 && n == 102, "curve");
    CHECK(n == 102 && isnan(c[100].value) && isinf(c[101].value), "NaN and inf round trip");
    free(c);
    /* a row without a key fails the whole batch */
    db_metric bad[2] = {{3000, "train/loss", 1}, {3000, NULL, 1}};
    CHECK(db_metrics_add(d, "r1", bad, 2, err, sizeof err) == DB_ERR && one_line_with(err, "no key"), "no key: %s", err);
    CHECK(raw_int(path, "SELECT count(*) FROM metrics WHERE step = 3000") == 0, "failed batch rolled back");

    db_value sv[3] = {{"test/loss", 1.5}, {"test/acc", 0.75}, {"test/loss", 1.25}};
    CHECK(db_summary_set(d, "r1", sv, 3, err, sizeof err) == 0, "summary: %s", err);
    db_value *got;
    CHECK(db_summary_get(d, "r1", &got, &n, err, sizeof err) == 0 && n == 2, "summary read: %s", err);
    if (n == 2) {
        CHECK(strcmp(got[0].key, "test/acc") == 0 && got[0].value == 0.75, "summary[0]");
        CHECK(strcmp(got[1].key, "test/loss") == 0 && got[1].value == 1.25, "summary replaced");
    }
    free(got);
    db_text pv[2] = {{"git_commit", "abc123"}, {"cpu", "Xeon"}};
    CHECK(db_provenance_set(d, "r1", pv, 2, err, sizeof err) == 0, "provenance: %s", err);
    pv[0].value = "def456";
    CHECK(db_provenance_set(d, "r1", pv, 1, err, sizeof err) == 0, "provenance replace: %s", err);
    db_text *pt;
    CHECK(db_provenance_get(d, "r1", &pt, &n, err, sizeof err) == 0 && n == 2, "provenance read: %s", err);
    if (n == 2) CHECK(strcmp(pt[0].key, "cpu") == 0 && strcmp(pt[1].value, "def456") == 0, "provenance values");
    free(pt);
    db_close(d);
    test_rmtree(dir);
}

/* ---------------------------------------------------------------- two processes */

/* Child body: writes 2000 metric rows of run_id in batches of 50; exit code 0 when all went in. */
static int write_2000(const char *path, const char *run_id) {
    char err[512];
    db *d;
    if (db_open(&d, path, 0, err, sizeof err)) return fprintf(stderr, "child open: %s\n", err), 1;
    db_metric rows[50];
    int rc = 0;
    for (int b = 0; !rc && b < 40; b++) {
        for (int i = 0; i < 50; i++) rows[i] = (db_metric){b * 50 + i, "train/loss", (double)(b * 50 + i)};
        rc = db_metrics_add(d, run_id, rows, 50, err, sizeof err);
        if (rc) fprintf(stderr, "child write: %s\n", err);
    }
    db_close(d);
    return rc ? 1 : 0;
}

TEST(db_two_processes_write_metrics) {
    char dir[256], path[512], err[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.db", dir);
    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    const char *ids[] = {"ra", "rb"};
    CHECK(register_ids(d, "exp", ids, 2, err, sizeof err) == 0, "register: %s", err);
    db_close(d);
    fflush(NULL);
    pid_t kids[2];
    for (int k = 0; k < 2; k++)
        if ((kids[k] = fork()) == 0) _exit(write_2000(path, ids[k]));
    for (int k = 0; k < 2; k++) CHECK(wait_child(kids[k]) == 0, "writer %d exit code", k);
    CHECK(raw_int(path, "SELECT count(*) FROM metrics WHERE run_id = 'ra'") == 2000, "ra: 2000 rows");
    CHECK(raw_int(path, "SELECT count(*) FROM metrics WHERE run_id = 'rb'") == 2000, "rb: 2000 rows");
    CHECK(raw_int(path, "SELECT count(DISTINCT step) FROM metrics WHERE run_id = 'ra' AND step = value") == 2000,
          "ra: each step once, with its value");
    CHECK(raw_int(path, "SELECT count(DISTINCT step) FROM metrics WHERE run_id = 'rb' AND step = value") == 2000,
          "rb: each step once, with its value");
    test_rmtree(dir);
}

/* Child body: claims runs ids[n] until none is left, writing each claimed index as one byte to fd
 * out; then waits for the parent (EOF on fd go) so its runs are not seen as dead meanwhile. */
static int claim_all(const char *path, const char *const *ids, int n, int out, int go) {
    char err[512];
    db *d;
    if (db_open(&d, path, 0, err, sizeof err)) return fprintf(stderr, "child open: %s\n", err), 1;
    int rc = 0, idx;
    for (;;) {
        int r = db_run_claim(d, ids, n, DB_STALE_S, &idx, NULL, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "child claim: %s\n", err);
            rc = 1;
        }
        if (r != 1) break;
        unsigned char b = (unsigned char)idx;
        if (write(out, &b, 1) != 1) rc = 1;
        struct timespec pause = {0, 1000 * 1000}; /* let the other process in */
        nanosleep(&pause, NULL);
    }
    close(out);
    char c;
    while (read(go, &c, 1) > 0) {
    }
    db_close(d);
    return rc;
}

TEST(db_claim_two_processes_disjoint) {
    char dir[256], path[512], err[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.db", dir);
    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    const char *ids[10] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"};
    CHECK(register_ids(d, "exp", ids, 10, err, sizeof err) == 0, "register: %s", err);
    int go[2], res[2][2];
    if (pipe(go) || pipe(res[0]) || pipe(res[1])) test_fail(__FILE__, __LINE__, "pipe");
    fflush(NULL);
    pid_t kids[2];
    for (int k = 0; k < 2; k++)
        if ((kids[k] = fork()) == 0) {
            close(go[1]);
            close(res[k][0]);
            close(res[1 - k][0]);
            close(res[1 - k][1]);
            _exit(claim_all(path, ids, 10, res[k][1], go[0]));
        }
    close(go[0]);
    close(res[0][1]);
    close(res[1][1]);
    int owner[10], got[2] = {0, 0}, dup = 0;
    for (int i = 0; i < 10; i++) owner[i] = -1;
    for (int k = 0; k < 2; k++) {
        unsigned char b;
        while (read(res[k][0], &b, 1) == 1) {
            if (b < 10 && owner[b] >= 0) dup++;
            if (b < 10) owner[b] = k;
            got[k]++;
        }
        close(res[k][0]);
    }
    /* both children still alive and holding their runs: check the database before letting go */
    int covered = 0;
    for (int i = 0; i < 10; i++) covered += owner[i] >= 0;
    CHECK(dup == 0, "%d runs claimed twice", dup);
    CHECK(covered == 10 && got[0] + got[1] == 10, "claims cover all 10 (%d + %d)", got[0], got[1]);
    CHECK(raw_int(path, "SELECT count(*) FROM runs WHERE status = 'running'") == 10, "all running");
    for (int i = 0; i < 10; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT pid FROM runs WHERE run_id = '%s'", ids[i]);
        CHECK(owner[i] < 0 || raw_int(path, sql) == kids[owner[i]], "%s owned by its claimer", ids[i]);
    }
    int idx;
    CHECK(db_run_claim(d, ids, 10, DB_STALE_S, &idx, NULL, err, sizeof err) == 0, "nothing left for a third process");
    close(go[1]);
    for (int k = 0; k < 2; k++) CHECK(wait_child(kids[k]) == 0, "claimer %d exit code", k);
    db_close(d);
    test_rmtree(dir);
}

/* ---------------------------------------------------------------- stale heartbeats */

TEST(db_stale_heartbeat_detection) {
    char dir[256], path[512], err[512], sql[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.db", dir);
    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    const char *ids[] = {"live", "silent", "gone", "fresh"};
    CHECK(register_ids(d, "exp", ids, 4, err, sizeof err) == 0, "register: %s", err);
    for (int i = 0; i < 3; i++) CHECK(db_run_start(d, ids[i], err, sizeof err) == 0, "start %s: %s", ids[i], err);
    /* "silent": its heartbeat is old; "gone": its process on this host has exited */
    CHECK(raw_exec(path, "UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE run_id = 'silent'") == SQLITE_OK,
          "backdate");
    fflush(NULL);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    wait_child(dead);
    snprintf(sql, sizeof sql, "UPDATE runs SET pid = %ld WHERE run_id = 'gone'", (long)dead);
    CHECK(raw_exec(path, sql) == SQLITE_OK, "dead pid");

    db_status_count *c;
    int n;
    CHECK(db_status_counts(d, DB_STALE_S, &c, &n, err, sizeof err) == 0 && n == 1, "counts: %s", err);
    if (n == 1) {
        CHECK(strcmp(c[0].experiment, "exp") == 0, "experiment name");
        CHECK(c[0].count[DB_RUNNING] == 1 && c[0].count[DB_INTERRUPTED] == 2 && c[0].count[DB_PENDING] == 1,
              "running %d interrupted %d pending %d", c[0].count[DB_RUNNING], c[0].count[DB_INTERRUPTED],
              c[0].count[DB_PENDING]);
    }
    free(c);
    db_run *r;
    CHECK(db_runs_list(d, "exp", DB_STALE_S, &r, &n, err, sizeof err) == 0 && n == 4, "list: %s", err);
    if (n == 4) {
        CHECK(strcmp(r[0].run_id, "live") == 0 && strcmp(r[3].run_id, "fresh") == 0, "registration order");
        CHECK(!r[0].dead && r[1].dead && r[2].dead && !r[3].dead, "dead flags %d %d %d %d", r[0].dead, r[1].dead,
              r[2].dead, r[3].dead);
        CHECK(r[1].status == DB_RUNNING && r[0].pid == getpid() && r[3].step == -1 && r[3].host == NULL,
              "stored fields");
        CHECK(strcmp(r[0].variant, "v") == 0 && r[2].seed == 3 && strcmp(r[2].config_json, "{}") == 0, "info fields");
    }
    free(r);
    CHECK(db_runs_list(d, "other", DB_STALE_S, &r, &n, err, sizeof err) == 0 && n == 0, "other experiment: none");

    /* claiming takes the dead runs first in list order, then the pending one, never the live one */
    int idx = -1;
    db_status prev = DB_NONE;
    CHECK(db_run_claim(d, ids, 4, DB_STALE_S, &idx, &prev, err, sizeof err) == 1 && idx == 1 && prev == DB_RUNNING,
          "claims the silent run (idx %d): %s", idx, err);
    CHECK(db_run_claim(d, ids, 4, DB_STALE_S, &idx, &prev, err, sizeof err) == 1 && idx == 2, "claims the gone run");
    CHECK(db_run_claim(d, ids, 4, DB_STALE_S, &idx, &prev, err, sizeof err) == 1 && idx == 3 && prev == DB_PENDING,
          "claims the pending run");
    CHECK(db_run_claim(d, ids, 4, DB_STALE_S, &idx, &prev, err, sizeof err) == 0, "the live run is not claimable");
    CHECK(raw_int(path, "SELECT attempts FROM runs WHERE run_id = 'silent'") == 2, "claim counts an attempt");
    /* with a zero-second threshold nothing is stale by age alone (only dead pids count) */
    CHECK(db_run_claim(d, ids, 4, 0, &idx, &prev, err, sizeof err) == 0, "stale_s 0");

    /* the old owner of a claimed run learns it lost it */
    CHECK(raw_exec(path, "UPDATE runs SET pid = 1, host = 'elsewhere' WHERE run_id = 'silent'") == SQLITE_OK, "hand over");
    err[0] = 0;
    CHECK(db_run_heartbeat(d, "silent", 9, err, sizeof err) == DB_ELOST && one_line_with(err, "process 1 on elsewhere"),
          "heartbeat after losing the run: %s", err);
    CHECK(db_run_finish(d, "silent", DB_INTERRUPTED, NULL, err, sizeof err) == DB_ELOST, "finish after losing the run");
    CHECK(db_run_heartbeat(d, "nope", 9, err, sizeof err) == DB_ERR && one_line_with(err, "no such run"), "heartbeat absent");
    db_close(d);
    test_rmtree(dir);
}

/* ---------------------------------------------------------------- merge */

/* A fingerprint of every table's contents (a sum of hashes of each row's text). */
static long long fingerprint(const char *path) {
    return raw_int(path,
                   "SELECT (SELECT count(*) FROM runs) * 1000003 + (SELECT count(*) FROM metrics) * 1009"
                   " + (SELECT count(*) FROM summary) * 101 + (SELECT count(*) FROM provenance)"
                   " + (SELECT total(length(run_id || status || coalesce(error, '') || coalesce(ended_at, '')"
                   "    || coalesce(pid, '') || attempts) * rowid) FROM runs)"
                   " + (SELECT total(step * value) FROM metrics)"
                   " + (SELECT total(value) FROM summary) * 7"
                   " + (SELECT total(length(value)) FROM provenance) * 13");
}

TEST(db_merge_idempotent) {
    char dir[256], pa[512], pb[512], pc[512], err[512], buf[64];
    make_tmpdir(dir, sizeof dir);
    snprintf(pa, sizeof pa, "%s/a.db", dir);
    snprintf(pb, sizeof pb, "%s/b.db", dir);
    snprintf(pc, sizeof pc, "%s/c.db", dir);
    db *a, *b;
    CHECK(db_open(&a, pa, 0, err, sizeof err) == 0 && db_open(&b, pb, 0, err, sizeof err) == 0, "open: %s", err);
    /* a: r1 completed, r2 pending. b: r1 running (a partial copy), r2 completed, r3 failed */
    const char *ida[] = {"r1", "r2"}, *idb[] = {"r1", "r2", "r3"};
    CHECK(register_ids(a, "exp", ida, 2, err, sizeof err) == 0 && register_ids(b, "exp", idb, 3, err, sizeof err) == 0,
          "register: %s", err);
    db_metric ma[3] = {{0, "train/loss", 3}, {10, "train/loss", 2}, {20, "train/loss", 1}};
    db_metric mb[2] = {{0, "train/loss", 30}, {5, "train/loss", 25}};
    db_value sa = {"test/loss", 1}, sb = {"test/loss", 0.5};
    db_text pa1 = {"git", "aaa"}, pb1 = {"git", "bbb"};
    CHECK(db_run_start(a, "r1", err, sizeof err) == 0 && db_metrics_add(a, "r1", ma, 3, err, sizeof err) == 0 &&
              db_summary_set(a, "r1", &sa, 1, err, sizeof err) == 0 && db_provenance_set(a, "r1", &pa1, 1, err, sizeof err) == 0 &&
              db_run_finish(a, "r1", DB_COMPLETED, NULL, err, sizeof err) == 0,
          "a: %s", err);
    CHECK(db_run_start(b, "r1", err, sizeof err) == 0 && db_metrics_add(b, "r1", mb, 2, err, sizeof err) == 0 &&
              db_run_start(b, "r2", err, sizeof err) == 0 && db_metrics_add(b, "r2", mb, 2, err, sizeof err) == 0 &&
              db_summary_set(b, "r2", &sb, 1, err, sizeof err) == 0 && db_provenance_set(b, "r2", &pb1, 1, err, sizeof err) == 0 &&
              db_run_finish(b, "r2", DB_COMPLETED, NULL, err, sizeof err) == 0 &&
              db_run_finish(b, "r3", DB_FAILED, "out of memory", err, sizeof err) == 0,
          "b: %s", err);
    db_close(b);

    db_merge_stats s;
    CHECK(db_merge(a, pb, &s, err, sizeof err) == 0, "merge: %s", err);
    CHECK(s.runs_added == 1 && s.runs_updated == 1, "runs added %d updated %d", s.runs_added, s.runs_updated);
    CHECK(s.metrics == 2 && s.summary == 1 && s.provenance == 1, "rows %lld %lld %lld", s.metrics, s.summary, s.provenance);
    CHECK(strcmp(raw_text(pa, "SELECT status FROM runs WHERE run_id = 'r1'", buf, sizeof buf), "completed") == 0,
          "r1 keeps the completed row");
    CHECK(raw_int(pa, "SELECT count(*) FROM metrics WHERE run_id = 'r1'") == 3, "r1 keeps its own curve");
    CHECK(strcmp(raw_text(pa, "SELECT status FROM runs WHERE run_id = 'r2'", buf, sizeof buf), "completed") == 0,
          "r2 takes the completed row");
    CHECK(raw_int(pa, "SELECT count(*) FROM metrics WHERE run_id = 'r2'") == 2, "r2 takes its curve");
    CHECK(strcmp(raw_text(pa, "SELECT error FROM runs WHERE run_id = 'r3'", buf, sizeof buf), "out of memory") == 0,
          "r3 added with its error");
    CHECK(strcmp(raw_text(pa, "SELECT run_id FROM runs ORDER BY rowid LIMIT 1 OFFSET 1", buf, sizeof buf), "r2") == 0,
          "an updated run keeps its place");

    long long before = fingerprint(pa);
    CHECK(db_merge(a, pb, &s, err, sizeof err) == 0, "merge again: %s", err);
    CHECK(s.runs_added == 0 && s.runs_updated == 0 && s.metrics == 0 && s.summary == 0 && s.provenance == 0,
          "second merge adds nothing");
    CHECK(fingerprint(pa) == before, "second merge changes nothing");

    /* into an empty database, twice: the same contents as the source */
    db *c;
    CHECK(db_open(&c, pc, 0, err, sizeof err) == 0, "open c: %s", err);
    CHECK(db_merge(c, pa, &s, err, sizeof err) == 0 && s.runs_added == 3, "merge into empty: %s", err);
    CHECK(db_merge(c, pa, &s, err, sizeof err) == 0 && s.runs_added + s.runs_updated == 0, "again");
    CHECK(fingerprint(pc) == fingerprint(pa), "copy equals source");

    /* refusals: itself, a missing file, a file that is not a database, a database without our schema */
    err[0] = 0;
    CHECK(db_merge(a, pa, &s, err, sizeof err) == DB_ERR && one_line_with(err, "itself"), "self merge: %s", err);
    CHECK(db_merge(a, "/nonexistent/x.db", &s, err, sizeof err) == DB_ERR && one_line_with(err, "/nonexistent/x.db"),
          "missing input: %s", err);
    char junk[512], other[512];
    snprintf(junk, sizeof junk, "%s/junk.db", dir);
    snprintf(other, sizeof other, "%s/other.db", dir);
    FILE *f = fopen(junk, "w");
    if (f) fputs("this is not a database, just some text that is long enough to have a header......\n", f), fclose(f);
    CHECK(db_merge(a, junk, &s, err, sizeof err) == DB_ERR && one_line_with(err, "junk.db"), "junk input: %s", err);
    db_status st = DB_NONE;
    CHECK(db_run_status(a, "r3", &st, err, sizeof err) == 0 && st == DB_FAILED, "handle usable after a failed merge: %s", err);
    sqlite3 *h;
    sqlite3_open(other, &h);
    sqlite3_exec(h, "CREATE TABLE t(x)", NULL, NULL, NULL);
    sqlite3_close(h);
    CHECK(db_merge(a, other, &s, err, sizeof err) == DB_ERR && one_line_with(err, "not an lrpe results database"),
          "foreign database: %s", err);
    CHECK(fingerprint(pa) == before, "failed merges change nothing");
    db_close(c);
    db_close(a);
    test_rmtree(dir);
}

/* ---------------------------------------------------------------- errors */

TEST(db_unwritable_paths_give_clear_errors) {
    char dir[256], path[512], err[512];
    make_tmpdir(dir, sizeof dir);
    db *d = (db *)1;
    err[0] = 0;
    CHECK(db_open(&d, "/proc/lrpe-no-such/results.db", 0, err, sizeof err) != 0 && d == NULL, "open under /proc");
    CHECK(one_line_with(err, "/proc/lrpe-no-such/results.db") && strstr(err, "cannot create folder"), "message: %s", err);
    /* a parent that is a regular file */
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/file/results.db", dir);
    err[0] = 0;
    CHECK(db_open(&d, path, 0, err, sizeof err) == DB_ERR && one_line_with(err, "is not a folder"), "file as folder: %s", err);
    /* read-only: a missing file is not created; writes are refused with a clear reason */
    snprintf(path, sizeof path, "%s/r.db", dir);
    CHECK(db_open(&d, path, DB_OPEN_READONLY, err, sizeof err) == DB_ERR && one_line_with(err, path), "read-only missing: %s",
          err);
    CHECK(access(path, F_OK) != 0, "read-only open created nothing");
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "create: %s", err);
    db_close(d);
    CHECK(db_open(&d, path, DB_OPEN_READONLY, err, sizeof err) == 0, "read-only open: %s", err);
    const char *ids[] = {"x"};
    err[0] = 0;
    CHECK(register_ids(d, "exp", ids, 1, err, sizeof err) == DB_EREADONLY && one_line_with(err, path) &&
              strstr(err, "not writable"),
          "write through a read-only handle: %s", err);
    db_close(d);
    /* a text file is not a database */
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    f = fopen(path, "w");
    if (f) fputs("some notes, not a database at all; long enough to fill a header block..........\n", f), fclose(f);
    err[0] = 0;
    CHECK(db_open(&d, path, 0, err, sizeof err) == DB_ERR && one_line_with(err, "not an SQLite database"),
          "text file: %s", err);
    test_rmtree(dir);
}

/* Child body: writes batches of metrics under a small file-size limit until the disk is "full";
 * exit code 0 when the failure was DB_EIO with the expected message, then the number of
 * committed batches is written to fd out. */
static int fill_disk(const char *path, int out) {
    signal(SIGXFSZ, SIG_IGN);
    char err[512];
    db *d;
    if (db_open(&d, path, 0, err, sizeof err)) return fprintf(stderr, "child open: %s\n", err), 1;
    struct rlimit rl = {256 * 1024, 256 * 1024};
    setrlimit(RLIMIT_FSIZE, &rl);
    db_metric rows[100];
    char keys[100][32];
    int batches = 0, rc = 0;
    for (; batches < 100000; batches++) {
        for (int i = 0; i < 100; i++) {
            snprintf(keys[i], sizeof keys[i], "key/%d/%d", batches, i);
            rows[i] = (db_metric){batches, keys[i], i};
        }
        err[0] = 0;
        if ((rc = db_metrics_add(d, "r", rows, 100, err, sizeof err))) break;
    }
    int ok = rc == DB_EIO && one_line_with(err, path) && strstr(err, "disk is full or failing") &&
             strstr(err, "nothing already committed is lost");
    if (!ok) fprintf(stderr, "child: rc %d after %d batches: %s\n", rc, batches, err);
    if (write(out, &batches, sizeof batches) != (ssize_t)sizeof batches) ok = 0;
    db_close(d);
    return ok ? 0 : 1;
}

TEST(db_disk_full_keeps_committed) {
    char dir[256], path[512], err[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.db", dir);
    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    db_close(d);
    int fd[2];
    if (pipe(fd)) test_fail(__FILE__, __LINE__, "pipe");
    fflush(NULL);
    pid_t kid = fork();
    if (kid == 0) {
        close(fd[0]);
        _exit(fill_disk(path, fd[1]));
    }
    close(fd[1]);
    int batches = -1;
    if (read(fd[0], &batches, sizeof batches) != (ssize_t)sizeof batches) batches = -1;
    close(fd[0]);
    CHECK(wait_child(kid) == 0, "writer saw a disk-full error with the expected message");
    CHECK(batches > 0, "some batches committed before the limit (%d)", batches);
    CHECK(raw_int(path, "SELECT count(*) FROM metrics") == 100LL * batches, "every committed batch is intact (%d)", batches);
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "reopen after the failure: %s", err);
    db_metric m = {1, "after", 1};
    CHECK(db_metrics_add(d, "r", &m, 1, err, sizeof err) == 0, "writes work again: %s", err);
    db_close(d);
    test_rmtree(dir);
}

/* ---------------------------------------------------------------- commands */

TEST(db_status_and_merge_commands) {
    char dir[256], path[512], cmd[1536], out[8192], err[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/results.db", dir);
    snprintf(cmd, sizeof cmd, "%s status --db '%s'", test_lrpe_bin(), path);
    CHECK(test_capture(cmd, out, sizeof out) == 0, "missing database exit code: %s", out);
    CHECK(strstr(out, "no runs recorded yet") && strstr(out, path) && strchr(out, '\n') == strrchr(out, '\n'),
          "missing database message: %s", out);
    CHECK(access(path, F_OK) != 0, "status created nothing");

    db *d;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    const char *lm[] = {"l1", "l2", "l3", "l4"}, *cls[] = {"k1", "k2"};
    CHECK(register_ids(d, "lm-kjv", lm, 4, err, sizeof err) == 0 && register_ids(d, "textcls", cls, 2, err, sizeof err) == 0,
          "register: %s", err);
    CHECK(db_run_start(d, "l1", err, sizeof err) == 0 && db_run_finish(d, "l1", DB_COMPLETED, NULL, err, sizeof err) == 0 &&
              db_run_start(d, "l2", err, sizeof err) == 0 && db_run_finish(d, "l2", DB_FAILED, "loss became NaN at step 120", err, sizeof err) == 0 &&
              db_run_start(d, "l3", err, sizeof err) == 0 && db_run_start(d, "k1", err, sizeof err) == 0,
          "lifecycle: %s", err);
    db_close(d);
    /* k1 has stopped heartbeating long ago: shown as interrupted */
    raw_exec(path, "UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE run_id = 'k1'");

    snprintf(cmd, sizeof cmd, "%s status --db '%s'", test_lrpe_bin(), path);
    CHECK(test_capture(cmd, out, sizeof out) == 0, "status exit code: %s", out);
    CHECK(strstr(out, "experiment") && strstr(out, "completed  running  failed  interrupted  pending  total"),
          "header: %s", out);
    /* lm-kjv: completed 1, running 1 (this test process is alive), failed 1, interrupted 0, pending 1 */
    CHECK(strstr(out, "lm-kjv              1        1       1            0        1      4") != NULL, "lm-kjv row: %s", out);
    CHECK(strstr(out, "textcls             0        0       0            1        1      2") != NULL, "textcls row: %s", out);
    CHECK(strstr(out, "failed runs:") && strstr(out, "lm-kjv  v  seed 2  l2: loss became NaN at step 120"),
          "failed run listed with its error: %s", out);

    snprintf(cmd, sizeof cmd, "%s status --db", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strchr(out, '\n') == strrchr(out, '\n'), "--db without file: %s", out);
    snprintf(cmd, sizeof cmd, "%s status --bogus", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "'--bogus'"), "unknown option: %s", out);

    /* merge: into a new file, twice (nothing new the second time); bad usage; a missing input */
    char merged[512];
    snprintf(merged, sizeof merged, "%s/out/merged.db", dir);
    snprintf(cmd, sizeof cmd, "%s merge '%s' '%s'", test_lrpe_bin(), merged, path);
    CHECK(test_capture(cmd, out, sizeof out) == 0 && strstr(out, "6 new runs"), "merge: %s", out);
    CHECK(test_capture(cmd, out, sizeof out) == 0 && strstr(out, "0 new runs, 0 runs updated, 0 metric rows"),
          "merge again: %s", out);
    CHECK(raw_int(merged, "SELECT count(*) FROM runs") == 6, "merged runs");
    snprintf(cmd, sizeof cmd, "%s merge '%s'", test_lrpe_bin(), merged);
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strchr(out, '\n') == strrchr(out, '\n'), "merge usage: %s", out);
    snprintf(cmd, sizeof cmd, "%s merge '%s' '%s/missing.db' '%s'", test_lrpe_bin(), merged, dir, path);
    CHECK(test_capture(cmd, out, sizeof out) == 1 && strstr(out, "missing.db") && strstr(out, "merged "),
          "missing input: exit 1, the others merged: %s", out);
    test_rmtree(dir);
}

/* A config shared by two experiments is one run (trained once) listed in both, under each
 * experiment's own variant name; status counts and merges follow the memberships. */
TEST(db_run_shared_by_two_experiments) {
    char dir[256], pa[512], pb[512], err[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(pa, sizeof pa, "%s/a.db", dir);
    snprintf(pb, sizeof pb, "%s/b.db", dir);
    db *a, *b;
    CHECK(db_open(&a, pa, 0, err, sizeof err) == 0 && db_open(&b, pb, 0, err, sizeof err) == 0, "open: %s", err);
    db_run_info main_rows[] = {{.run_id = "r1", .experiment = "main", .variant = "rope", .seed = 1},
                               {.run_id = "r2", .experiment = "main", .variant = "lrpe", .seed = 1}};
    db_run_info abl_rows[] = {{.run_id = "r3", .experiment = "ablation", .variant = "identity", .seed = 1},
                              {.run_id = "r2", .experiment = "ablation", .variant = "householder", .seed = 1}};
    CHECK(db_runs_register(a, main_rows, 2, err, sizeof err) == 0 && db_runs_register(a, abl_rows, 2, err, sizeof err) == 0,
          "register: %s", err);
    CHECK(raw_int(pa, "SELECT count(*) FROM runs") == 3, "three runs, r2 once");
    db_run *runs;
    int n;
    CHECK(db_runs_list(a, "ablation", DB_STALE_S, &runs, &n, err, sizeof err) == 0, "list: %s", err);
    CHECK(n == 2 && !strcmp(runs[0].run_id, "r3") && !strcmp(runs[1].run_id, "r2") &&
              !strcmp(runs[1].variant, "householder") && !strcmp(runs[1].experiment, "ablation"),
          "ablation lists r3 then r2 as householder (n %d)", n);
    free(runs);
    CHECK(db_runs_list(a, "main", DB_STALE_S, &runs, &n, err, sizeof err) == 0 && n == 2 && !strcmp(runs[1].variant, "lrpe"),
          "main lists r2 as lrpe");
    free(runs);
    CHECK(db_run_start(a, "r2", err, sizeof err) == 0 && db_run_finish(a, "r2", DB_COMPLETED, NULL, err, sizeof err) == 0,
          "finish r2: %s", err);
    db_status_count *counts;
    CHECK(db_status_counts(a, DB_STALE_S, &counts, &n, err, sizeof err) == 0, "counts: %s", err);
    int completed_in = 0;
    for (int i = 0; i < n; i++) completed_in += counts[i].count[DB_COMPLETED] == 1;
    CHECK(completed_in == 2, "the completed r2 counts in both experiments");
    free(counts);
    /* merging a into an empty b carries both memberships */
    CHECK(db_merge(b, pa, &(db_merge_stats){0}, err, sizeof err) == 0, "merge: %s", err);
    CHECK(raw_int(pb, "SELECT count(*) FROM members WHERE run_id = 'r2'") == 2, "merged memberships of r2");
    db_close(a);
    db_close(b);
    test_rmtree(dir);
}

/* Overwrites the header of page `page` (1-based) of a rollback-journal database with garbage. */
static void damage_page(const char *path, int page, int page_size) {
    FILE *f = fopen(path, "r+b");
    static const unsigned char junk[8] = {0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (!f || fseek(f, (long)(page - 1) * page_size, SEEK_SET) || fwrite(junk, 1, sizeof junk, f) != sizeof junk)
        test_fail(__FILE__, __LINE__, "cannot damage %s", path);
    if (f) fclose(f);
}

/* A foreign SQLite file is refused before anything in it changes (it used to be switched to WAL
 * mode, then refused with "no such column"), a file that is not SQLite is refused untouched, and a
 * database with a damaged page is refused when opened (it used to fail at the first write, after
 * training began); merging either in is refused too. */
TEST(db_refuses_foreign_and_damaged_files_untouched) {
    char dir[256], path[512], lrpe_db[512], err[1024];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/other-app.db", dir);
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK &&
              sqlite3_exec(h, "CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO runs(name) VALUES('x');",
                           NULL, NULL, NULL) == SQLITE_OK,
          "make a foreign database");
    sqlite3_close(h);
    size_t n0, n1;
    char *before = test_slurp(path, &n0);
    db *d = NULL;
    CHECK(db_open(&d, path, 0, err, sizeof err) == DB_ERR && one_line_with(err, "not an lrpe results database") &&
              strstr(err, "holds tables runs") && strstr(err, "name another file"),
          "foreign: %s", err);
    char *after = test_slurp(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "the foreign file changed");
    char mode[32];
    CHECK(strcmp(raw_text(path, "PRAGMA journal_mode", mode, sizeof mode), "delete") == 0, "journal mode now %s", mode);
    free(before), free(after);
    snprintf(lrpe_db, sizeof lrpe_db, "%s/results.db", dir);
    CHECK(db_open(&d, lrpe_db, 0, err, sizeof err) == 0, "open: %s", err);
    db_merge_stats s;
    CHECK(db_merge(d, path, &s, err, sizeof err) == DB_ERR && one_line_with(err, "merge") &&
              strstr(err, "not an lrpe results database"),
          "merge foreign: %s", err);
    /* an lrpe database with many rows, one page damaged */
    const char *ids[] = {"r1"};
    db_metric m[200];
    for (int i = 0; i < 200; i++) m[i] = (db_metric){i, "train/loss", 1.0 / (i + 1)};
    CHECK(register_ids(d, "exp", ids, 1, err, sizeof err) == 0 && db_metrics_add(d, "r1", m, 200, err, sizeof err) == 0,
          "fill: %s", err);
    db_close(d);
    CHECK(raw_exec(lrpe_db, "PRAGMA journal_mode = DELETE") == 0, "leave WAL mode");
    long long pages = raw_int(lrpe_db, "PRAGMA page_count"), page_size = raw_int(lrpe_db, "PRAGMA page_size");
    CHECK(pages >= 4, "%lld pages", pages);
    damage_page(lrpe_db, (int)pages - 1, (int)page_size);
    before = test_slurp(lrpe_db, &n0);
    CHECK(db_open(&d, lrpe_db, 0, err, sizeof err) == DB_ERR && one_line_with(err, "damaged (SQLite's quick_check:") &&
              strstr(err, ".recover"),
          "damaged: %s", err);
    CHECK(db_open(&d, lrpe_db, DB_OPEN_READONLY, err, sizeof err) == DB_ERR && strstr(err, "damaged"), "read-only: %s", err);
    after = test_slurp(lrpe_db, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "the damaged file changed");
    free(before), free(after);
    snprintf(path, sizeof path, "%s/fresh.db", dir);
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "open: %s", err);
    CHECK(db_merge(d, lrpe_db, &s, err, sizeof err) == DB_ERR && strstr(err, "damaged"), "merge damaged: %s", err);
    db_close(d);
    test_rmtree(dir);
}

/* db_publish: a one-file copy (no -wal beside it) whose running runs read as interrupted, the
 * source untouched; publishing again replaces it whole. db_runs_newer and db_merge_runs: what a
 * merge would take (new runs, more advanced ones, and on a tie of status the row that changed
 * last), and a merge of chosen runs only. */
TEST(db_publish_snapshot_and_shard_merges) {
    char dir[256], src[512], dst[512], main_path[512], err[512], buf[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(src, sizeof src, "%s/local.db", dir);
    snprintf(dst, sizeof dst, "%s/shards/r1.db", dir);
    snprintf(main_path, sizeof main_path, "%s/main.db", dir);
    db *d, *m;
    const char *ids[] = {"r1", "r2"};
    db_metric rows[2] = {{1, "train/loss", 2.5}, {2, "train/loss", 2.0}};
    CHECK(db_open(&d, src, 0, err, sizeof err) == 0 && register_ids(d, "exp", ids, 2, err, sizeof err) == 0 &&
              db_run_start(d, "r1", err, sizeof err) == 0 && db_metrics_add(d, "r1", rows, 1, err, sizeof err) == 0,
          "set up: %s", err);
    CHECK(db_publish(d, dst, err, sizeof err) == 0, "publish: %s", err);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", dst);
    CHECK(access(wal, F_OK) != 0, "the published copy has a -wal file beside it");
    CHECK(strcmp(raw_text(dst, "SELECT status FROM runs WHERE run_id = 'r1'", buf, sizeof buf), "interrupted") == 0 &&
              strstr(raw_text(dst, "SELECT error FROM runs WHERE run_id = 'r1'", buf, sizeof buf), "still running"),
          "a running run reads as interrupted in the copy");
    CHECK(strcmp(raw_text(src, "SELECT status FROM runs WHERE run_id = 'r1'", buf, sizeof buf), "running") == 0,
          "the source keeps its state");
    CHECK(db_metrics_add(d, "r1", rows + 1, 1, err, sizeof err) == 0 &&
              db_run_finish(d, "r1", DB_INTERRUPTED, NULL, err, sizeof err) == 0 && db_publish(d, dst, err, sizeof err) == 0,
          "publish again: %s", err);
    CHECK(raw_int(dst, "SELECT count(*) FROM metrics") == 2, "the second copy replaced the first");

    /* main holds r1 interrupted earlier (one row): the shard's later interrupted row wins the tie */
    CHECK(db_open(&m, main_path, 0, err, sizeof err) == 0 && register_ids(m, "exp", ids, 1, err, sizeof err) == 0 &&
              raw_exec(main_path, "UPDATE runs SET status = 'interrupted', ended_at = '2000-01-01T00:00:00.000Z'") == 0,
          "main: %s", err);
    db_run *newer = NULL;
    int n = 0;
    CHECK(db_runs_newer(m, dst, &newer, &n, err, sizeof err) == 0 && n == 2, "newer: %d runs (%s)", n, err);
    free(newer);
    db_merge_stats s;
    CHECK(db_merge_runs(m, dst, (const char *const[]){"r1"}, 1, &s, err, sizeof err) == 0 && s.runs_updated == 1 &&
              s.runs_added == 0 && s.metrics == 2,
          "merge of r1 only: updated %d added %d metrics %lld (%s)", s.runs_updated, s.runs_added, s.metrics, err);
    CHECK(raw_int(main_path, "SELECT count(*) FROM runs") == 1, "r2 was left out");
    CHECK(db_runs_newer(m, dst, &newer, &n, err, sizeof err) == 0 && n == 1 && strcmp(newer[0].run_id, "r2") == 0,
          "after the merge only r2 is newer (%d)", n);
    free(newer);
    CHECK(db_merge(m, dst, &s, err, sizeof err) == 0 && s.runs_added == 1 && s.runs_updated == 0, "merge all: %s", err);
    CHECK(db_merge(m, dst, &s, err, sizeof err) == 0 && s.runs_added + s.runs_updated == 0, "idempotent");
    db_close(m);
    db_close(d);
    test_rmtree(dir);
}
