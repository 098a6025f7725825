/* Nothing lost, nothing silently wrong (`lrpe run` through the binary): a run killed at exact
 * points keeps every metric row, checkpoints belong to their database and say which build wrote
 * them, limits a spec implies are refused before anything is written, a full disk stops a run
 * cleanly and the resumed run's curves are complete, and hostile specs cost little. */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cmd_fixture.h"
#include "safetensors.h"
#include "test.h"

#define SPEC_HEAD                                                                              \
    "name: t\n"                                                                                \
    "task: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 12}\n"                         \
    "model: {layers: 1, d_model: 16, heads: 2}\n"

/* 1200 steps (a kill after step 200 has time to land), validation every 50 (not aligned with the
 * checkpoints every 40) */
#define SPEC_LONG SPEC_HEAD "train: {steps: 1200, batch: 8, eval_every: 50, eval_batches: 2, checkpoint_every: 40}\n"

/* The metric rows (perf/ ones aside) of an uninterrupted run of spec, into buf; their number. */
static long straight_metrics(const char *spec, char *buf, size_t cap) {
    harness_fx f;
    char out[16384], path[640];
    if (fx_open(&f)) return -1;
    fx_write(&f, "s.yaml", spec);
    CHECK(fx_lrpe(&f, "run s.yaml", out, sizeof out) == 0, "uninterrupted run: %s", out);
    long n = fx_metrics_text(fx_path(&f, "results/results.db", path, sizeof path), buf, cap);
    fx_close(&f);
    return n;
}

/* kill -9 right after the checkpoints of steps 40 and 120 (before anything else is written), then
 * at a moment of the run's choosing after step 200: every metric row of the resumed run equals the
 * uninterrupted run's. Before metrics were flushed ahead of each checkpoint, rows up to the
 * checkpoint that were still buffered were lost for good. */
TEST(reliability_kill9_keeps_every_metric_row) {
    static char straight[1 << 20], resumed[1 << 20];
    long want = straight_metrics(SPEC_LONG, straight, sizeof straight);
    harness_fx f;
    if (want <= 0 || fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_LONG);
    char out[16384], path[640];
    for (int k = 0; k < 2; k++) {
        const char *fault = k == 0 ? "LRPE_FAULT=kill-after-checkpoint:40" : "LRPE_FAULT=kill-after-checkpoint:120";
        int rc = fx_lrpe_env(&f, fault, "run s.yaml", out, sizeof out);
        CHECK(rc == -1 || rc == 137, "%s: the run was not killed (exit %d): %s", fault, rc, out);
    }
    int status = fx_signal_after_checkpoint(&f, fx_start(&f, NULL, "s.yaml"), 200, SIGKILL);
    CHECK(status != -1 && WIFSIGNALED(status), "the run finished before it could be killed: make it longer");
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step"), "final rerun: exit %d: %s", rc, out);
    long got = fx_metrics_text(fx_path(&f, "results/results.db", path, sizeof path), resumed, sizeof resumed);
    CHECK(got == want, "%ld metric rows after three kills, %ld in an uninterrupted run", got, want);
    CHECK(strcmp(straight, resumed) == 0, "the metric rows differ from an uninterrupted run's");
    fx_close(&f);
}

/* Two databases used from one folder keep separate checkpoints (a fresh database used to resume
 * the other's run); a run is resumed from any working directory; `lrpe status` says where. */
TEST(reliability_checkpoints_belong_to_their_database) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_LONG);
    char out[16384], sub[640], args[2048];
    int rc = fx_lrpe_env(&f, "LRPE_FAULT=kill-after-checkpoint:40", "run s.yaml --db a.db", out, sizeof out);
    CHECK(rc == -1 || rc == 137, "the run was not killed (exit %d): %s", rc, out);
    rc = fx_lrpe(&f, "run s.yaml --db b.db", out, sizeof out);
    CHECK(rc == 0 && !strstr(out, "resuming"), "a fresh database resumed another's run: %s", out);
    struct stat st;
    CHECK(stat(fx_path(&f, "a-runs", sub, sizeof sub), &st) == 0 && stat(fx_path(&f, "b-runs", sub, sizeof sub), &st) == 0,
          "each database has its run folder beside it");
    /* from another working directory, naming the database by its path */
    CHECK(mkdir(fx_path(&f, "elsewhere", sub, sizeof sub), 0777) == 0, "mkdir");
    snprintf(args, sizeof args, "cd %s && LRPE_THREADS=1 %s run ../s.yaml --db ../a.db", sub, f.bin);
    rc = test_capture(args, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step 40"), "resumed from another folder: exit %d: %s", rc, out);
    rc = fx_lrpe(&f, "status --db a.db", out, sizeof out);
    snprintf(args, sizeof args, "checkpoints: %s/a-runs/<run id>/ (1 run)", f.dir);
    CHECK(rc == 0 && strstr(out, args), "status names the run folder: %s", out);
    /* --runs-dir puts them elsewhere, and a later run without it still finds them */
    rc = fx_lrpe_env(&f, "LRPE_FAULT=kill-after-checkpoint:80", "run s.yaml --db c.db --runs-dir scratch", out, sizeof out);
    CHECK((rc == -1 || rc == 137) && stat(fx_path(&f, "scratch", sub, sizeof sub), &st) == 0, "--runs-dir: %s", out);
    rc = fx_lrpe(&f, "run s.yaml --db c.db", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "where it started, not in") && strstr(out, "resuming from step 80"),
          "the recorded run folder is used: exit %d: %s", rc, out);
    fx_close(&f);
}

/* Saves the checkpoint at path again, identical but for its lrpe_commit metadata: what a build of
 * another commit would have written. 0 or -1. */
static int rewrite_commit(const char *path, const char *commit) {
    char err[1024], dir[512];
    st_file *f;
    if (st_read(&f, path, err, sizeof err)) return test_fail(__FILE__, __LINE__, "%s", err), -1;
    tensor_table tt = {0};
    for (int i = 0; i < st_count(f); i++) { /* the parameters come first, in table order */
        const st_tensor *t = st_at(f, i);
        int shape[TENSOR_MAX_DIM] = {0};
        for (int k = 0; k < t->ndim; k++) shape[k] = (int)t->shape[k];
        if (strncmp(t->name, "optim.", 6) && strncmp(t->name, "state.", 6))
            tt_add(&tt, t->name, TK_WEIGHT, INIT_ZERO, 0.0f, t->ndim, shape);
    }
    float *arrays[3];
    for (int g = 0; g < 3; g++) arrays[g] = calloc(tt.total + 1, sizeof(float));
    for (int g = 0; g < 3 && arrays[g]; g++)
        for (int i = 0; i < tt.n; i++)
            memcpy(arrays[g] + tt.t[i].offset, st_at(f, g * tt.n + i)->data, tt.t[i].numel * sizeof(float));
    const st_tensor *cursor = st_find(f, "state.cursor");
    ckpt_state s = {.step = atol(st_meta_get(f, "step")), .cursor = (void *)cursor->data,
                    .cursor_len = (size_t)atol(st_meta_get(f, "cursor_bytes")), .commit = commit};
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    int rc = ckpt_save(dir, &tt, arrays[0], arrays[1], arrays[2], &s, st_meta_get(f, "run_id"), st_meta_get(f, "config_id"),
                       err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    for (int g = 0; g < 3; g++) free(arrays[g]);
    tt_free(&tt);
    st_close(f);
    return rc;
}

/* A checkpoint written by another commit is resumed with one line that says so, the run records
 * it, and --force trains it again from the start. */
TEST(reliability_checkpoint_of_another_build_is_named) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_LONG);
    char out[16384], path[640];
    int rc = fx_lrpe_env(&f, "LRPE_FAULT=kill-after-checkpoint:40", "run s.yaml", out, sizeof out);
    CHECK(rc == -1 || rc == 137, "the run was not killed (exit %d): %s", rc, out);
    rc = fx_lrpe(&f, "run s.yaml --dry-run", out, sizeof out);
    char run_id[65] = "";
    const char *row = strstr(out, "\n\nrun_id");
    if (row && (row = strchr(row + 2, '\n'))) sscanf(row + 1, "%64s", run_id);
    snprintf(path, sizeof path, "%s/results/results-runs/%s/ckpt-40.safetensors", f.dir, run_id);
    if (!run_id[0] || rewrite_commit(path, "0123456789ab")) return fx_close(&f);
    rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step 40") &&
              strstr(out, "its checkpoint was written by lrpe 0123456789ab, this is") && strstr(out, "--force"),
          "resuming across builds says so: exit %d: %s", rc, out);
    db *d = fx_db(&f, NULL);
    db_text *prov;
    int n;
    char err[512];
    const char *from = NULL;
    if (d && db_provenance_get(d, run_id, &prov, &n, err, sizeof err) == 0) {
        for (int i = 0; i < n; i++)
            if (strcmp(prov[i].key, "resumed_from_commit") == 0) from = prov[i].value;
        CHECK(from && strcmp(from, "0123456789ab at step 40") == 0, "provenance resumed_from_commit: %s", from ? from : "absent");
        free(prov);
    }
    db_close(d);
    rc = fx_lrpe(&f, "run s.yaml --force", out, sizeof out);
    CHECK(rc == 0 && !strstr(out, "resuming") && strstr(out, "1 trained now"), "--force trains again: %s", out);
    fx_close(&f);
}

/* A limit the spec implies (head dim above 512) is refused when the spec is read: exit 2, the
 * argument named, nothing written (it used to be a failed run recorded at start-up). */
TEST(reliability_spec_limits_refused_before_anything_is_written) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_LONG);
    char out[4096], path[640];
    int rc = fx_lrpe(&f, "run s.yaml model.d_model=1024 model.heads=1", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "argument 'model.heads=1'") && strstr(out, "above the limit of 512"), "exit %d: %s", rc, out);
    rc = fx_lrpe(&f, "run s.yaml task.kind=lm task.dataset=kjv task.seq_len=1", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "task.seq_len 1 is out of range [2, 1048576] for lm tasks"), "exit %d: %s", rc, out);
    struct stat st;
    CHECK(stat(fx_path(&f, "results", path, sizeof path), &st) != 0, "a refused spec created %s", path);
    fx_close(&f);
}

/* A 20,000-seed sweep prints its dry run (the table once sized its columns per row: 28 s) and a
 * 120,000-seed list is refused at the run cap (its duplicate check was quadratic), each within a
 * CPU-time limit far above the linear cost; a 2 MB spec and one nested 200 deep are refused before
 * they are parsed. */
TEST(reliability_hostile_specs_cost_little) {
    harness_fx f;
    if (fx_open(&f)) return;
    size_t cap = 4u << 20, k;
    char *text = malloc(cap), out[4096];
    if (!text) return fx_close(&f);
    k = (size_t)snprintf(text, cap, SPEC_HEAD "seeds: [0");
    for (int i = 1; i < 20000; i++) k += (size_t)snprintf(text + k, cap - k, ",%d", i);
    snprintf(text + k, cap - k, "]\n");
    fx_write(&f, "s20k.yaml", text);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && ulimit -t 20 && LRPE_THREADS=1 %s run s20k.yaml --dry-run | wc -l", f.dir, f.bin);
    int rc = test_capture(cmd, out, sizeof out);
    CHECK(rc == 0 && atol(out) > 20000, "20,000-seed dry run within 20 s of CPU: exit %d, %s lines", rc, out);
    k = (size_t)snprintf(text, cap, SPEC_HEAD "seeds: [0");
    for (int i = 1; i < 120000; i++) k += (size_t)snprintf(text + k, cap - k, ",%d", i);
    snprintf(text + k, cap - k, "]\n");
    fx_write(&f, "s120k.yaml", text);
    snprintf(cmd, sizeof cmd, "cd %s && ulimit -t 20 && %s run s120k.yaml --dry-run", f.dir, f.bin);
    rc = test_capture(cmd, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "120000 seeds, more than the 100000 runs"), "120,000 seeds: exit %d: %s", rc, out);
    memset(text, '#', 2u << 20);
    text[2u << 20] = 0;
    fx_write(&f, "big.yaml", text);
    rc = fx_lrpe(&f, "run big.yaml", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "at most 1.0 MiB"), "2 MB spec: exit %d: %s", rc, out);
    k = (size_t)snprintf(text, cap, "name: t\nx: ");
    for (int i = 0; i < 200; i++) text[k++] = '[';
    for (int i = 0; i < 200; i++) text[k++] = ']';
    snprintf(text + k, cap - k, "\n");
    fx_write(&f, "deep.yaml", text);
    rc = fx_lrpe(&f, "run deep.yaml", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "deep.yaml:2:") && strstr(out, "nested deeper than 16 levels"), "deep: exit %d: %s", rc, out);
    free(text);
    fx_close(&f);
}

/* The result of PRAGMA integrity_check on the database at path ("ok" when intact) into buf. */
static const char *integrity(const char *path, char *buf, size_t len) {
    sqlite3 *h;
    sqlite3_stmt *st;
    snprintf(buf, len, "cannot open");
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
        snprintf(buf, len, "%s", sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "no answer");
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return buf;
}

/* Fills the file system of path with one file until it is full; 0 or -1. */
static int fill_disk(const char *path) {
    FILE *fp = fopen(path, "w");
    static char block[4096];
    if (!fp) return -1;
    while (fwrite(block, 1, sizeof block, fp) == sizeof block) {
    }
    fclose(fp); /* the last, partial block fails too: the disk is full */
    return 0;
}

/* The database and checkpoints on a 16 MB tmpfs: the run stops after its checkpoint at step 80,
 * the disk is filled, the run goes on and must stop with the clear "full" error; the database
 * passes integrity_check, and once space is freed the resumed run's metrics equal an
 * uninterrupted run's. Needs root (mount); skipped otherwise. */
TEST(reliability_disk_full_then_resume_is_complete) {
    if (geteuid() != 0) return test_skip("mounting a small tmpfs needs root");
    static char straight[1 << 20], resumed[1 << 20];
    harness_fx f;
    char mnt[640], path[700], out[16384], why[256];
    if (fx_open(&f)) return;
    if (mkdir(fx_path(&f, "mnt", mnt, sizeof mnt), 0777) || mount("tmpfs", mnt, "tmpfs", 0, "size=16m")) {
        int e = errno;
        fx_close(&f);
        return test_skip("cannot mount a tmpfs here: %s", strerror(e));
    }
    long want = straight_metrics(SPEC_LONG, straight, sizeof straight);
    fx_write(&f, "s.yaml", SPEC_LONG);
    pid_t pid = fx_start(&f, "LRPE_FAULT=stop-after-checkpoint:80", "s.yaml --db mnt/r.db");
    int status;
    waitpid(pid, &status, WUNTRACED);
    CHECK(WIFSTOPPED(status), "the run did not stop after its checkpoint at step 80 (status %d)", status);
    snprintf(path, sizeof path, "%s/filler", mnt);
    CHECK(fill_disk(path) == 0, "cannot fill %s", mnt);
    kill(pid, SIGCONT);
    waitpid(pid, &status, 0);
    FILE *log = fopen(fx_path(&f, "log", path, sizeof path), "r");
    size_t n = log ? fread(out, 1, sizeof out - 1, log) : 0;
    out[n] = 0;
    if (log) fclose(log);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && (strstr(out, "disk is full") || strstr(out, "No space left")),
          "a full disk stops the run with a clear error: status %d: %s", status, out);
    snprintf(path, sizeof path, "%s/r.db", mnt);
    CHECK(strcmp(integrity(path, why, sizeof why), "ok") == 0, "integrity_check after the full disk: %s", why);
    snprintf(path, sizeof path, "%s/filler", mnt);
    unlink(path);
    int rc = fx_lrpe(&f, "run s.yaml --db mnt/r.db", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step"), "after space is freed: exit %d: %s", rc, out);
    snprintf(path, sizeof path, "%s/r.db", mnt);
    long got = fx_metrics_text(path, resumed, sizeof resumed);
    CHECK(got == want && strcmp(straight, resumed) == 0, "%ld metric rows after the full disk, %ld uninterrupted%s", got, want,
          got == want ? " (values differ)" : "");
    CHECK(umount(mnt) == 0, "umount %s: %s", mnt, strerror(errno));
    fx_close(&f);
}

/* --force retrains only when the old checkpoints are gone: a run folder that cannot be removed (a
 * busy mount point inside it; root only, skipped otherwise) stops the command with the reason,
 * the run untouched (--force used to ignore the failure and could resume the stale checkpoint). */
TEST(reliability_force_stops_when_old_checkpoints_stay) {
    if (geteuid() != 0) return test_skip("mounting a tmpfs inside a run folder needs root");
    harness_fx f;
    char out[16384], busy[640];
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", SPEC_HEAD "train: {steps: 20, batch: 8, warmup: 2, eval_every: 10, eval_batches: 1}\n");
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0, "first run: %s", out);
    rc = fx_lrpe(&f, "run s.yaml --dry-run", out, sizeof out);
    char run_id[65] = "";
    const char *row = strstr(out, "\n\nrun_id");
    if (row && (row = strchr(row + 2, '\n'))) sscanf(row + 1, "%64s", run_id);
    snprintf(busy, sizeof busy, "%s/results/results-runs/%s/busy", f.dir, run_id);
    if (!run_id[0] || mkdir(busy, 0777) || mount("tmpfs", busy, "tmpfs", 0, "size=1m")) {
        int e = errno;
        fx_close(&f);
        return test_skip("cannot mount a tmpfs here: %s", strerror(e));
    }
    rc = fx_lrpe(&f, "run s.yaml --force", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "cannot remove") && strstr(out, run_id) && !strstr(out, "trained now"),
          "--force with a folder that stays: exit %d: %s", rc, out);
    db *d = fx_db(&f, NULL);
    db_status st = DB_NONE;
    char err[512];
    if (d) db_run_status(d, run_id, &st, err, sizeof err);
    db_close(d);
    CHECK(st == DB_COMPLETED, "the run is still completed: %s", db_status_name(st));
    CHECK(umount(busy) == 0, "umount: %s", strerror(errno));
    rc = fx_lrpe(&f, "run s.yaml --force", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "1 trained now"), "--force once the folder can go: exit %d: %s", rc, out);
    fx_close(&f);
}
