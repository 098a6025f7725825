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

#include "backend.h"
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
        /* the validation curve: 3 points on the same eval_batches sample; the whole splits only in the summary */
        CHECK(db_metric_curve(d, runs[i].run_id, "val/loss", &pts, &np, err, sizeof err) == 0 && np == 3 &&
                  pts[2].step == 30 && pts[2].value != summary_value(d, runs[i].run_id, "val/loss"),
              "val/loss curve: %d points, the last one the whole split's", np);
        free(pts);
        CHECK(db_metric_curve(d, runs[i].run_id, "test/loss", &pts, &np, err, sizeof err) == 0 && np == 0,
              "test/loss in the metric rows (%d)", np);
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

/* Number of entries in folder dir (. and .. aside); -1 when it cannot be read. */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* `lrpe run` and `lrpe bench` refuse a device this build or machine cannot use, or a precision the
 * device lacks, before anything is written: exit 2, one line naming the cause and the fix, and the
 * folder holds only the spec files (no database, no run folders). */
TEST(harness_unusable_device_refused_up_front) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {steps: 20, batch: 8, warmup: 5, eval_every: 10, eval_batches: 1}\n");
    fx_write(&f, "c.yaml", "name: t\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 12}\n"
                           "model: {layers: 1, d_model: 16, heads: 2, device: cuda}\n");
    backend_gpu g;
    char why[512] = "";
    const int gpus = backend_gpus(&g, 1, why, sizeof why);
    const char *no_cuda = strstr(why, "built without CUDA") ? "model.device=cuda: this lrpe was built without CUDA; rebuild "
                                                              "with `make CUDA=1`" : "model.device=cuda: ";
    static const struct {
        const char *args, *cmd, *want;
        int cuda; /* refused only where no GPU can be used */
    } cases[] = {
        {"run s.yaml model.precision=tf32", "lrpe run: ", "model.precision=tf32: tf32 is a mode of the GPU's tensor cores; on the CPU set model.precision=fp32 or bf16", 0},
        {"bench s.yaml model.precision=tf32 --steps 1", "lrpe bench: ", "model.precision=tf32: tf32 is a mode of the GPU's", 0},
        {"run s.yaml --device tpu", "lrpe run: ", "argument 'model.device=tpu': model.device: invalid value 'tpu'", 0},
        {"run c.yaml", "lrpe run: c.yaml:3:43: ", NULL, 1},
        {"run s.yaml --device cuda", "lrpe run: argument 'model.device=cuda': ", NULL, 1},
        {"run s.yaml --device cuda -j 2 --db other/x.db", "lrpe run: ", NULL, 1},
        {"bench s.yaml --device cuda --steps 1", "lrpe bench: ", NULL, 1},
        {"bench c.yaml --steps 1", "lrpe bench: c.yaml:3:43: ", NULL, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].cuda && gpus > 0) continue; /* a GPU is here: nothing to refuse */
        char out[4096];
        int rc = fx_lrpe(&f, cases[i].args, out, sizeof out);
        const char *want = cases[i].want ? cases[i].want : no_cuda;
        CHECK(rc == 2, "%s: exit %d: %s", cases[i].args, rc, out);
        CHECK(strncmp(out, cases[i].cmd, strlen(cases[i].cmd)) == 0 && strstr(out, want), "%s: want '%s%s' in: %s",
              cases[i].args, cases[i].cmd, want, out);
        CHECK(strchr(out, '\n') == out + strlen(out) - 1, "%s: one line: %s", cases[i].args, out);
        CHECK(count_entries(f.dir) == 2, "%s: wrote %d entries beside the two specs", cases[i].args, count_entries(f.dir) - 2);
    }
    if (gpus > 0) test_skip("a GPU is visible (%s): only the precision and name checks ran", g.name);
    fx_close(&f);
}

/* The provenance of a run and of a benchmark says which device ran it; `lrpe report` keeps a cuda
 * run of an otherwise identical config in its own row (labelled by device, not averaged with the
 * cpu one), says what the row changes and lists the devices and GPU under the provenance. */
TEST(harness_device_recorded_and_reported) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {steps: 10, batch: 8, warmup: 2, eval_every: 5, eval_batches: 1}\n");
    char out[16384], err[512], path[512];
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0, "run: exit %d: %s", rc, out);
    rc = fx_lrpe(&f, "bench s.yaml --steps 1 --warmup 0", out, sizeof out);
    CHECK(rc == 0, "bench: exit %d: %s", rc, out);
    db *d;
    if (db_open(&d, fx_path(&f, "results/results.db", path, sizeof path), 0, err, sizeof err)) {
        CHECK(0, "open: %s", err);
        return fx_close(&f);
    }
    db_run *runs;
    int n = 0;
    CHECK(db_runs_list(d, NULL, DB_STALE_S, &runs, &n, err, sizeof err) == 0 && n == 2, "a run and a bench: %d %s", n, err);
    char cfg[4096] = "", cpu_id[64] = "";
    for (int i = 0; i < n; i++) {
        db_text *prov;
        int np = 0, device = 0;
        CHECK(db_provenance_get(d, runs[i].run_id, &prov, &np, err, sizeof err) == 0, "%s", err);
        for (int k = 0; k < np; k++) device |= !strcmp(prov[k].key, "device") && prov[k].value && !strcmp(prov[k].value, "cpu");
        CHECK(device, "%s: provenance device = cpu", runs[i].experiment);
        free(prov);
        CHECK(runs[i].config_json && !strstr(runs[i].config_json, "device"), "config at the default: %s", runs[i].config_json);
        if (!strcmp(runs[i].experiment, "t") && runs[i].config_json && strstr(runs[i].config_json, "\"encoding\":")) {
            const char *enc = strstr(runs[i].config_json, "\"encoding\":"); /* the same config on cuda */
            snprintf(cfg, sizeof cfg, "%.*s\"device\":\"cuda\",%s", (int)(enc - runs[i].config_json), runs[i].config_json, enc);
            snprintf(cpu_id, sizeof cpu_id, "%s", runs[i].run_id);
        }
    }
    CHECK(cfg[0], "the run's config");
    db_run_info twin = {"0123456789abcdef0123456789abcdef", "t", "default", 1, cfg};
    db_value *sum;
    int ns = 0;
    db_text prov[] = {{"device", "cuda"}, {"gpu", "Test GPU"}};
    CHECK(cfg[0] && db_runs_register(d, &twin, 1, err, sizeof err) == 0 && db_run_start(d, twin.run_id, err, sizeof err) == 0 &&
              db_summary_get(d, cpu_id, &sum, &ns, err, sizeof err) == 0 && db_summary_set(d, twin.run_id, sum, ns, err, sizeof err) == 0 &&
              db_provenance_set(d, twin.run_id, prov, 2, err, sizeof err) == 0 &&
              db_run_finish(d, twin.run_id, DB_COMPLETED, NULL, err, sizeof err) == 0, "the cuda twin: %s", err);
    if (ns) free(sum);
    free(runs);
    db_close(d);
    rc = fx_lrpe(&f, "report --experiment t --out rep", out, sizeof out);
    CHECK(rc == 0 || (rc == 1 && strstr(out, "gnuplot")), "report: exit %d: %s", rc, out);
    char *table = test_slurp(fx_path(&f, "rep/t/table.md", path, sizeof path), NULL);
    char *md = test_slurp(fx_path(&f, "rep/report.md", path, sizeof path), NULL);
    CHECK(table && strstr(table, "| default (device=cpu) |") && strstr(table, "| default (device=cuda) |") &&
              !strstr(table, "(n=2)"), "one row per device, none averaged over both: %s", table ? table : "(none)");
    CHECK(md && strstr(md, "- `default (device=cuda)`: `model.device` = `cuda`"), "what the cuda row changes: %s", md ? md : "");
    CHECK(md && strstr(md, "| device | `cpu` (1 run); `cuda` (1 run) |") && strstr(md, "| GPU | `Test GPU` (1 run) |"),
          "device and GPU in the provenance: %s", md ? md : "");
    free(table);
    free(md);
    fx_close(&f);
}
