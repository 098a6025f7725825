/* `lrpe run` end to end on the synthetic task: runs, skips what is done, resumes bitwise after
 * kill -9, shares one database between processes, records NaN runs as failed, refuses bad specs.
 * Runs the binary ./lrpe (or $LRPE_BIN) in a temporary folder. */
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd_fixture.h"
#include "db.h"
#include "test.h"

/* The value of summary key of run_id, NaN when absent. */
static double summary_value(db *d, const char *run_id, const char *key) {
    db_value *kv;
    int n;
    char err[512];
    double v = NAN;
    if (db_summary_get(d, run_id, &kv, &n, err, sizeof err)) return v;
    for (int i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0) v = kv[i].value;
    free(kv);
    return v;
}

#define SPEC_HEAD                                                                              \
    "name: t\n"                                                                                \
    "task: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 12}\n"                         \
    "model: {layers: 1, d_model: 16, heads: 2}\n"

TEST(harness_runs_sweep_and_skips_completed) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD
             "train: {steps: 30, batch: 8, warmup: 5, eval_every: 10, eval_batches: 2, checkpoint_every: 15}\n"
             "seeds: [1, 2]\n"
             "variants:\n  - {name: plain}\n  - {name: rope, model.encoding: rope, model.attention: linear}\n");
    char out[16384];
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0, "first run: exit %d: %s", rc, out);
    CHECK(strstr(out, "4 trained now") != NULL, "first run output: %s", out);
    db *d = fx_db(&f, NULL);
    if (!d) return fx_close(&f);
    db_run *runs;
    int n;
    char err[512];
    CHECK(db_runs_list(d, "t", DB_STALE_S, &runs, &n, err, sizeof err) == 0 && n == 4, "4 runs recorded: %s", err);
    long long rows_before = 0;
    for (int i = 0; i < n; i++) {
        CHECK(runs[i].status == DB_COMPLETED, "run %s is %s", runs[i].run_id, db_status_name(runs[i].status));
        double loss = summary_value(d, runs[i].run_id, "test/loss");
        CHECK(isfinite(loss) && loss > 0, "test/loss of %s: %g", runs[i].run_id, loss);
        db_point *pts;
        int np;
        CHECK(db_metric_curve(d, runs[i].run_id, "train/loss", &pts, &np, err, sizeof err) == 0 && np == 30,
              "train/loss curve has %d points", np);
        rows_before += np;
        free(pts);
        db_text *prov;
        int nprov;
        CHECK(db_provenance_get(d, runs[i].run_id, &prov, &nprov, err, sizeof err) == 0 && nprov >= 8,
              "provenance rows: %d", nprov);
        free(prov);
    }
    free(runs);
    db_close(d);
    rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "0 trained now, 4 already completed"), "second run: exit %d: %s", rc, out);
    fx_close(&f);
}

/* The summary of the single run of a folder's database, as text with every bit of each value. */
static void summary_text(const harness_fx *f, char *buf, size_t cap) {
    buf[0] = 0;
    db *d = fx_db(f, NULL);
    if (!d) return;
    db_run *runs;
    int n;
    char err[512];
    if (db_runs_list(d, NULL, DB_STALE_S, &runs, &n, err, sizeof err) == 0 && n == 1) {
        db_value *kv;
        int nk;
        if (db_summary_get(d, runs[0].run_id, &kv, &nk, err, sizeof err) == 0) {
            for (int i = 0; i < nk; i++)
                if (strncmp(kv[i].key, "perf/", 5)) /* timings differ; everything else must not */
                    snprintf(buf + strlen(buf), cap - strlen(buf), "%s=%a\n", kv[i].key, kv[i].value);
            free(kv);
        }
        free(runs);
    }
    db_close(d);
}

TEST(harness_kill9_resume_is_bitwise) {
    const char *spec = SPEC_HEAD "train: {steps: 400, batch: 8, eval_every: 100, eval_batches: 2, checkpoint_every: 40}\n";
    harness_fx a, b;
    if (fx_open(&a)) return;
    if (fx_open(&b)) return fx_close(&a);
    fx_write(&a, "s.yaml", spec);
    fx_write(&b, "s.yaml", spec);
    char out[16384], straight[4096], resumed[4096];
    CHECK(fx_lrpe(&a, "run s.yaml", out, sizeof out) == 0, "uninterrupted run: %s", out);
    summary_text(&a, straight, sizeof straight);
    /* start, kill -9 once a checkpoint exists, run the same command again */
    int status = fx_signal_after_checkpoint(&b, fx_start(&b, NULL, "s.yaml"), -1, SIGKILL);
    CHECK(status != -1 && WIFSIGNALED(status), "the run finished before it could be killed: make it longer");
    int rc = fx_lrpe(&b, "run s.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step"), "rerun after kill -9: exit %d: %s", rc, out);
    summary_text(&b, resumed, sizeof resumed);
    CHECK(straight[0] && strcmp(straight, resumed) == 0, "summaries differ:\n%s---\n%s", straight, resumed);
    fx_close(&a);
    fx_close(&b);
}

TEST(harness_two_processes_share_a_database) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {steps: 40, batch: 8, warmup: 5, eval_every: 20, eval_batches: 2, checkpoint_every: 20}\n"
                                     "seeds: [1, 2, 3]\nsweep: {model.encoding: [none, rope]}\n");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && (LRPE_THREADS=1 %s run s.yaml > a.log 2>&1 & LRPE_THREADS=1 %s run s.yaml > b.log 2>&1; wait)",
             f.dir, f.bin, f.bin);
    CHECK(system(cmd) == 0, "two concurrent runs failed");
    db *d = fx_db(&f, NULL);
    if (!d) return fx_close(&f);
    db_run *runs;
    int n;
    char err[512];
    CHECK(db_runs_list(d, "t", DB_STALE_S, &runs, &n, err, sizeof err) == 0 && n == 6, "6 runs: %d %s", n, err);
    for (int i = 0; i < n; i++) {
        CHECK(runs[i].status == DB_COMPLETED && runs[i].attempts == 1, "run %s: %s after %d attempts", runs[i].run_id,
              db_status_name(runs[i].status), runs[i].attempts);
        db_point *pts;
        int np;
        CHECK(db_metric_curve(d, runs[i].run_id, "train/loss", &pts, &np, err, sizeof err) == 0 && np == 40,
              "train/loss rows of %s: %d", runs[i].run_id, np);
        for (int k = 0; k < np; k++) CHECK(pts[k].step == k + 1, "step %lld at row %d", pts[k].step, k);
        free(pts);
    }
    free(runs);
    db_close(d);
    fx_close(&f);
}

TEST(harness_nan_run_fails_and_the_sweep_goes_on) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {steps: 20, batch: 8, warmup: 5, eval_every: 10, eval_batches: 1, grad_clip: 0}\n"
                                     "variants:\n  - {name: huge, train.lr: 1.0e+30, train.warmup: 0}\n  - {name: ok}\n");
    char out[16384];
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 1, "exit %d, want 1: %s", rc, out);
    db *d = fx_db(&f, NULL);
    if (!d) return fx_close(&f);
    db_run *runs;
    int n;
    char err[512];
    CHECK(db_runs_list(d, "t", DB_STALE_S, &runs, &n, err, sizeof err) == 0 && n == 2, "2 runs");
    for (int i = 0; i < n; i++) {
        if (strcmp(runs[i].variant, "huge") == 0) {
            CHECK(runs[i].status == DB_FAILED, "huge lr: %s", db_status_name(runs[i].status));
            CHECK(runs[i].error && strstr(runs[i].error, "at step") && strstr(runs[i].error, "train.lr"),
                  "failure reason: %s", runs[i].error ? runs[i].error : "(none)");
        } else {
            CHECK(runs[i].status == DB_COMPLETED, "ok run: %s", db_status_name(runs[i].status));
        }
    }
    free(runs);
    db_close(d);
    fx_close(&f);
}

TEST(harness_bad_spec_exits_2_and_writes_nothing) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {stpes: 20}\n");
    char out[4096], path[512];
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 2, "exit %d: %s", rc, out);
    CHECK(strstr(out, "s.yaml:4:") && strstr(out, "train.steps"), "message names file:line and the closest key: %s", out);
    snprintf(path, sizeof path, "%s/results", f.dir);
    struct stat st;
    CHECK(stat(path, &st) != 0, "a bad spec created %s", path);
    rc = fx_lrpe(&f, "run s.yaml --frobnicate", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "--frobnicate"), "unknown option: exit %d: %s", rc, out);
    fx_close(&f);
}

TEST(harness_parallel_jobs) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {steps: 20, batch: 8, warmup: 5, eval_every: 10, eval_batches: 1}\nseeds: [1, 2, 3, 4]\n");
    char out[16384];
    int rc = fx_lrpe(&f, "run s.yaml -j 2", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "4 trained now"), "-j 2: exit %d: %s", rc, out);
    fx_close(&f);
}

TEST(harness_ctrl_c_checkpoints_and_resumes) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {steps: 600, batch: 8, eval_every: 300, eval_batches: 1, checkpoint_every: 20}\n");
    int status = fx_signal_after_checkpoint(&f, fx_start(&f, NULL, "s.yaml"), -1, SIGINT);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 130, "Ctrl-C: exit status %d", status);
    db *d = fx_db(&f, NULL);
    if (!d) return fx_close(&f);
    db_run *runs;
    int n;
    char err[512];
    CHECK(db_runs_list(d, "t", DB_STALE_S, &runs, &n, err, sizeof err) == 0 && n == 1, "1 run");
    if (n == 1) CHECK(runs[0].status == DB_INTERRUPTED, "after Ctrl-C the run is %s", db_status_name(runs[0].status));
    free(runs);
    db_close(d);
    char out[16384];
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step"), "rerun: exit %d: %s", rc, out);
    fx_close(&f);
}
