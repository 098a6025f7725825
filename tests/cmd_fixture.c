/* The command-test fixture: see cmd_fixture.h. */
#include "cmd_fixture.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

int fx_open(harness_fx *f) {
    const char *bin = getenv("LRPE_BIN") ? getenv("LRPE_BIN") : "./lrpe";
    char full[PATH_MAX];
    if (!realpath(bin, full) || strlen(full) >= sizeof f->bin) {
        test_fail(__FILE__, __LINE__, "no lrpe binary at %s (build it first)", bin);
        return -1;
    }
    memcpy(f->bin, full, strlen(full) + 1);
    return test_tmpdir(f->dir, sizeof f->dir, "harness");
}

void fx_close(harness_fx *f) { test_rmtree(f->dir); }

const char *fx_path(const harness_fx *f, const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", f->dir, name);
    return buf;
}

void fx_write(const harness_fx *f, const char *name, const char *text) {
    char path[640];
    FILE *fp = fopen(fx_path(f, name, path, sizeof path), "w");
    if (!fp || fputs(text, fp) < 0 || fclose(fp)) test_fail(__FILE__, __LINE__, "cannot write %s", path);
}

int fx_lrpe_env(const harness_fx *f, const char *env, const char *args, char *out, size_t cap) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && LRPE_THREADS=1 %s %s %s", f->dir, env ? env : "", f->bin, args);
    return test_capture(cmd, out, cap);
}

int fx_lrpe(const harness_fx *f, const char *args, char *out, size_t cap) { return fx_lrpe_env(f, NULL, args, out, cap); }

int fx_start(const harness_fx *f, const char *env, const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && exec env LRPE_THREADS=1 %s %s run %s > log 2>&1", f->dir, env ? env : "", f->bin,
             args);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int fx_signal_after_checkpoint(const harness_fx *f, int pid, long after, int sig) {
    int found = fx_wait_for_checkpoint(f, "results/results-runs", after) == 0, status = -1;
    if (!found) test_fail(__FILE__, __LINE__, "no checkpoint after step %ld appeared", after);
    kill(pid, found ? sig : SIGKILL);
    waitpid(pid, &status, 0);
    return found ? status : -1;
}

db *fx_db(const harness_fx *f, const char *db_name) {
    char path[700], err[512];
    fx_path(f, db_name ? db_name : "results/results.db", path, sizeof path);
    db *d = NULL;
    if (db_open(&d, path, DB_OPEN_READONLY, err, sizeof err)) test_fail(__FILE__, __LINE__, "%s", err);
    return d;
}

/* The newest checkpoint step in folder dir, -1 when none. */
static long newest_checkpoint(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    long best = -1, step;
    while (d && (e = readdir(d)))
        if (sscanf(e->d_name, "ckpt-%ld.safetensors", &step) == 1 && !strstr(e->d_name, ".tmp") && step > best)
            best = step;
    if (d) closedir(d);
    return best;
}

int fx_wait_for_checkpoint(const harness_fx *f, const char *runs, long after) {
    char top[512];
    snprintf(top, sizeof top, "%s/%s", f->dir, runs);
    for (int i = 0; i < 6000; i++) {
        DIR *dr = opendir(top);
        struct dirent *e;
        long found = -1;
        while (dr && (e = readdir(dr))) {
            char sub[1024];
            if (e->d_name[0] == '.') continue;
            snprintf(sub, sizeof sub, "%s/%s", top, e->d_name);
            long s = newest_checkpoint(sub);
            if (s > found) found = s;
        }
        if (dr) closedir(dr);
        if (found > after) return 0;
        usleep(10000);
    }
    return -1;
}

long fx_metrics_text(const char *path, char *buf, size_t cap) {
    sqlite3 *h;
    sqlite3_stmt *st;
    long rows = 0;
    size_t k = 0;
    buf[0] = 0;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "SELECT run_id, key, step, value FROM metrics WHERE key NOT LIKE 'perf/%' ORDER BY run_id, key, step",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        char value[64] = "NULL"; /* NaN is stored as NULL */
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) snprintf(value, sizeof value, "%a", sqlite3_column_double(st, 3));
        if (k < cap)
            k += (size_t)snprintf(buf + k, cap - k, "%s %s %lld %s\n", (const char *)sqlite3_column_text(st, 0),
                                  (const char *)sqlite3_column_text(st, 1), (long long)sqlite3_column_int64(st, 2), value);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rows;
}

double fx_only_summary(const harness_fx *f, const char *db_name, const char *key, char *run_id, size_t idlen) {
    db *d = fx_db(f, db_name);
    db_run *runs = NULL;
    db_value *kv = NULL;
    int n = 0, k = 0;
    char err[512];
    double v = NAN;
    if (d && !db_runs_list(d, NULL, 0, &runs, &n, err, sizeof err) && n == 1) {
        if (run_id) snprintf(run_id, idlen, "%s", runs[0].run_id);
        if (!db_summary_get(d, runs[0].run_id, &kv, &k, err, sizeof err))
            for (int i = 0; i < k; i++)
                if (strcmp(kv[i].key, key) == 0) v = kv[i].value;
    }
    free(kv);
    free(runs);
    db_close(d);
    return v;
}
