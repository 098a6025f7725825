/* Beyond one machine, against the real thing: `lrpe submit` on a running Slurm cluster (CI starts a
 * one-node one with scripts/slurm-local.sh) and `lrpe run` under Open MPI's mpirun (the MPI build,
 * build/release-mpi/lrpe, or $LRPE_MPI_BIN). Without them these tests skip, saying what is missing. */
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cmd_fixture.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

/* The MPI build of lrpe (absolute) into out; 0, or -1 after marking the test skipped. */
static int mpi_binary(char *out, size_t len) {
    const char *bin = getenv("LRPE_MPI_BIN") ? getenv("LRPE_MPI_BIN") : "build/release-mpi/lrpe";
    char full[PATH_MAX], buf[256];
    if (!realpath(bin, full) || strlen(full) >= len) {
        test_skip("no MPI build of lrpe at %s (make MPI=1 builds it; make test does when Open MPI's mpicc is installed)", bin);
        return -1;
    }
    if (test_capture("command -v mpirun", buf, sizeof buf) != 0) {
        test_skip("mpirun is not installed (Debian: openmpi-bin)");
        return -1;
    }
    snprintf(out, len, "%s", full);
    return 0;
}

/* Runs `[mpirun -np ranks] BIN run <args>` in the fixture's folder with one thread per rank (ranks
 * 0: no mpirun, one process); its exit code, the output in out. Never waits more than 120 s. */
static int mpi_run(const harness_fx *f, const char *bin, int ranks, const char *env, const char *args, char *out,
                   size_t cap) {
    char cmd[8192], launcher[128] = "";
    if (ranks) snprintf(launcher, sizeof launcher, "mpirun --allow-run-as-root --oversubscribe -np %d", ranks);
    snprintf(cmd, sizeof cmd, "cd %s && LRPE_THREADS=1 OMP_WAIT_POLICY=passive %s timeout 120 %s %s run %s", f->dir,
             env ? env : "", launcher, bin, args);
    return test_capture(cmd, out, cap);
}

/* ---------------------------------------------------------------- MPI */

/* The specs the MPI tests train: a byte LM, text classification with padding, image patches on a
 * 2-D grid; a batch of 7 rows, so two ranks take 3 and 4. */
static const struct {
    const char *name, *task, *needs;
} mpi_cases[] = {
    {"lm", "{kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}", NULL},
    {"wordnet", "{kind: textcls, dataset: wordnet, seq_len: 32}", "data/wordnet/data.noun"},
    {"patches", "{kind: imgcls, dataset: fashion-mnist, view: patches, patch: 7}",
     "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"},
};

TEST(mpi_two_ranks_match_one_process) {
    char bin[1024], out[16384], spec[1024], dbname[64];
    if (mpi_binary(bin, sizeof bin)) return;
    harness_fx f;
    if (fx_open(&f)) return;
    for (size_t c = 0; c < sizeof mpi_cases / sizeof mpi_cases[0]; c++) {
        if (mpi_cases[c].needs && access(mpi_cases[c].needs, R_OK) != 0) {
            printf("  (mpi case %s: no %s here (make data); not checked)\n", mpi_cases[c].name, mpi_cases[c].needs);
            continue;
        }
        snprintf(spec, sizeof spec,
                 "name: %s\ntask: %s\nmodel: {layers: 2, d_model: 16, heads: 2, attention: linear, encoding: lrpe-unitary}\n"
                 "train: {steps: 30, batch: 7, lr: 3.0e-3, warmup: 5, eval_every: 10, checkpoint_every: 10,"
                 " eval_batches: 2, test_batches: 3}\n",
                 mpi_cases[c].name, mpi_cases[c].task);
        char file[64];
        snprintf(file, sizeof file, "%s.yaml", mpi_cases[c].name);
        fx_write(&f, file, spec);
        if (access("data", F_OK) == 0) { /* the tasks read ./data */
            char cmd[PATH_MAX * 2], cwd[PATH_MAX];
            snprintf(cmd, sizeof cmd, "ln -sfn %s/data %s/data", getcwd(cwd, sizeof cwd) ? cwd : ".", f.dir);
            test_capture(cmd, out, sizeof out);
        }
        double loss[2];
        for (int ranks = 0; ranks < 2; ranks++) {
            char args[256];
            snprintf(dbname, sizeof dbname, "%s-%d.db", mpi_cases[c].name, ranks ? 2 : 1);
            snprintf(args, sizeof args, "%s --db %s", file, dbname);
            int rc = mpi_run(&f, bin, ranks ? 2 : 0, NULL, args, out, sizeof out);
            CHECK(rc == 0, "%s with %d process(es): exit %d:\n%s", mpi_cases[c].name, ranks ? 2 : 1, rc, out);
            loss[ranks] = fx_only_summary(&f, dbname, "test/loss", NULL, 0);
        }
        /* same global batches, gradients summed in another order: equal to float32 round-off */
        CHECK_CLOSE(loss[1], loss[0], 1e-5, 0, mpi_cases[c].name);
        db *d = fx_db(&f, dbname);
        db_run *runs = NULL;
        db_text *prov = NULL;
        int n = 0, k = 0, world = 0, lib = 0;
        char err[512];
        if (d && !db_runs_list(d, NULL, 0, &runs, &n, err, sizeof err) && n == 1 &&
            !db_provenance_get(d, runs[0].run_id, &prov, &k, err, sizeof err))
            for (int i = 0; i < k; i++) {
                world |= strcmp(prov[i].key, "world_size") == 0 && strcmp(prov[i].value, "2") == 0;
                lib |= strcmp(prov[i].key, "mpi_library") == 0 && strstr(prov[i].value, "MPI") != NULL;
            }
        CHECK(world && lib, "%s: provenance lacks world_size 2 or the MPI library", mpi_cases[c].name);
        free(prov);
        free(runs);
        db_close(d);
    }
    /* more ranks than rows of a batch: refused before anything is written */
    char path[700];
    int rc = mpi_run(&f, bin, 2, NULL, "lm.yaml train.batch=1 --db refused.db", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "give train.batch at least 2"), "2 ranks, batch 1: exit %d:\n%s", rc, out);
    CHECK(access(fx_path(&f, "refused.db", path, sizeof path), F_OK) != 0, "the refused run wrote %s", path);
    fx_close(&f);
}

/* Rank 1 dies (SIGKILL) after step 25: rank 0 notices within seconds, records the run as
 * interrupted with the reason, and a later single-process run resumes it from its checkpoint to
 * the same result as a run that was never interrupted (1e-5). */
TEST(mpi_dead_rank_is_recorded_and_resumable) {
    char bin[1024], out[16384];
    if (mpi_binary(bin, sizeof bin)) return;
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml",
             "name: dp\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
             "model: {layers: 2, d_model: 16, heads: 2, attention: softmax, encoding: rope}\n"
             "train: {steps: 60, batch: 8, lr: 3.0e-3, warmup: 5, eval_every: 20, checkpoint_every: 20}\n");
    int rc = mpi_run(&f, bin, 2, "LRPE_FAULT=kill-follower-after-step:25", "s.yaml", out, sizeof out);
    CHECK(rc != 0 && rc != 124, "the job with a dead rank: exit %d (want a failure, and no timeout):\n%s", rc, out);
    db *d = fx_db(&f, NULL);
    db_run *runs = NULL;
    int n = 0;
    char err[512];
    if (d && !db_runs_list(d, NULL, 0, &runs, &n, err, sizeof err) && n == 1) {
        CHECK(runs[0].status == DB_INTERRUPTED, "status %s, want interrupted", db_status_name(runs[0].status));
        CHECK(runs[0].error && strstr(runs[0].error, "rank 1 of 2") && strstr(runs[0].error, "resumes"),
              "reason: %s", runs[0].error ? runs[0].error : "(none)");
    } else {
        CHECK(0, "no run recorded: %s", err);
    }
    free(runs);
    db_close(d);
    rc = mpi_run(&f, bin, 0, NULL, "s.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step 20"), "resume with one process: exit %d:\n%s", rc, out);
    rc = mpi_run(&f, bin, 0, NULL, "s.yaml --db straight.db", out, sizeof out);
    CHECK(rc == 0, "straight run: exit %d", rc);
    CHECK_CLOSE(fx_only_summary(&f, NULL, "test/loss", NULL, 0), fx_only_summary(&f, "straight.db", "test/loss", NULL, 0),
                1e-5, 0,
                "resumed over a changed world size vs straight");
    fx_close(&f);
}

/* ---------------------------------------------------------------- Slurm */

/* 0 when a Slurm controller answers, else -1 after marking the test skipped. */
static int slurm_up(void) {
    char out[512];
    if (test_capture("scontrol ping 2>&1", out, sizeof out) == 0 && strstr(out, "UP")) return 0;
    test_skip("no Slurm cluster answers `scontrol ping` (scripts/slurm-local.sh start runs one on this machine; CI does)");
    return -1;
}

/* The job ids `lrpe submit` printed ("submitted job array N", "submitted merge job M") as "N,M". */
static void submitted_jobs(const char *out, char *ids, size_t len) {
    long a = 0, m = 0;
    const char *p = strstr(out, "submitted job array ");
    if (p) a = atol(p + strlen("submitted job array "));
    p = strstr(out, "submitted merge job ");
    if (p) m = atol(p + strlen("submitted merge job "));
    snprintf(ids, len, "%ld,%ld", a, m);
}

/* Waits until none of the jobs ids is in Slurm's queue; 0, or -1 after timeout_s. */
static int wait_jobs(const char *ids, int timeout_s) {
    char cmd[256], out[4096];
    snprintf(cmd, sizeof cmd, "squeue -h -r -j %s 2>/dev/null", ids);
    for (int t = 0; t < timeout_s * 4; t++) {
        if (test_capture(cmd, out, sizeof out) == 0 && !out[0]) return 0;
        usleep(250 * 1000);
    }
    return -1;
}

/* Submits the spec of the fixture (with env before the command and extra arguments) and waits for
 * its jobs; the output of lrpe submit in out, the job ids in ids; 0, or -1 after a failure. */
static int submit_and_wait(const harness_fx *f, const char *env, const char *args, char *out, size_t cap, char *ids,
                           size_t idlen) {
    int rc = fx_lrpe_env(f, env, args, out, cap);
    CHECK(rc == 0 && strstr(out, "submitted merge job"), "lrpe %s: exit %d:\n%s", args, rc, out);
    submitted_jobs(out, ids, idlen);
    CHECK(wait_jobs(ids, 240) == 0, "jobs %s still queued after 240 s", ids);
    return rc == 0 ? 0 : -1;
}

/* The most runs of the database at db_name that were running at one moment. */
static int max_overlap(const harness_fx *f, const char *db_name) {
    db *d = fx_db(f, db_name);
    db_run *r = NULL;
    int n = 0, most = 0;
    char err[512];
    if (d && !db_runs_list(d, NULL, 0, &r, &n, err, sizeof err))
        for (int i = 0; i < n; i++) {
            int at = 0;
            for (int j = 0; j < n; j++)
                at += r[j].started_at && r[j].ended_at && r[i].started_at && strcmp(r[j].started_at, r[i].started_at) <= 0 &&
                      strcmp(r[i].started_at, r[j].ended_at) < 0;
            most = at > most ? at : most;
        }
    free(r);
    db_close(d);
    return most;
}

/* Runs per status in the database at db_name. */
static void count_status(const harness_fx *f, const char *db_name, int count[DB_NSTATUS]) {
    memset(count, 0, DB_NSTATUS * sizeof *count);
    db *d = fx_db(f, db_name);
    db_run *r = NULL;
    int n = 0;
    char err[512];
    if (d && !db_runs_list(d, NULL, 0, &r, &n, err, sizeof err))
        for (int i = 0; i < n; i++) count[r[i].status]++;
    free(r);
    db_close(d);
}

/* A 6-run sweep as a job array (at most 2 at a time) and the merge job: all 6 completed in the
 * merged database, at most 2 ran at once, a report; submitting again trains nothing. */
TEST(slurm_sweep_array_merges_and_resubmits_nothing) {
    if (slurm_up()) return;
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "sweep.yaml",
             "name: sweep\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
             "model: {layers: 1, d_model: 16, heads: 2, attention: linear}\n"
             "train: {steps: 40, batch: 8, lr: 3.0e-3, warmup: 5, eval_every: 20, checkpoint_every: 20}\n"
             "seeds: [1, 2]\nvariants:\n  - {name: none}\n  - {name: rope, model.encoding: rope}\n"
             "  - {name: lrpe, model.encoding: lrpe-unitary}\n");
    char out[16384], ids[64], path[700];
    if (submit_and_wait(&f, NULL, "submit sweep.yaml --max-parallel 2", out, sizeof out, ids, sizeof ids) == 0) {
        CHECK(strstr(out, "6 tasks, at most 2 at once"), "submit said:\n%s", out);
        int count[DB_NSTATUS];
        count_status(&f, NULL, count);
        CHECK(count[DB_COMPLETED] == 6, "%d of 6 runs completed in the merged database", count[DB_COMPLETED]);
        CHECK(max_overlap(&f, NULL) <= 2, "%d runs ran at once (at most 2 asked)", max_overlap(&f, NULL));
        CHECK(access(fx_path(&f, "results/report/sweep/table.md", path, sizeof path), R_OK) == 0, "no report at %s", path);
        int rc = fx_lrpe(&f, "submit sweep.yaml --max-parallel 2", out, sizeof out);
        CHECK(rc == 0 && strstr(out, "nothing to submit") && !strstr(out, "submitted"), "resubmit: exit %d:\n%s", rc, out);
        rc = fx_lrpe(&f, "status", out, sizeof out);
        CHECK(rc == 0 && strstr(out, "0 not merged"), "status: exit %d:\n%s", rc, out);
    }
    fx_close(&f);
}

/* The newest checkpoint step under <fixture>/results/results-runs/<any run>/, -1 when none. */
static long newest_step(const harness_fx *f) {
    char pattern[700];
    glob_t g;
    long best = -1;
    fx_path(f, "results/results-runs/*/ckpt-*.safetensors", pattern, sizeof pattern);
    if (glob(pattern, 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) {
            long s = atol(strrchr(g.gl_pathv[i], '-') + 1);
            best = s > best ? s : best;
        }
    globfree(&g);
    return best;
}

/* The last step whose train/loss the merged database holds, -1 when none. */
static long last_step(const harness_fx *f) {
    char path[700];
    sqlite3 *h;
    sqlite3_stmt *st;
    long step = -1;
    fx_path(f, "results/results.db", path, sizeof path);
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT MAX(step) FROM metrics WHERE key = 'train/loss'", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) step = (long)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return step;
}

/* A task cancelled (scancel: SIGTERM) while it trains checkpoints where it is and records the run
 * as interrupted; submitted again it resumes from that checkpoint, and every metric row and the
 * summary equal bitwise those of a run never interrupted. */
TEST(slurm_cancelled_task_resumes_bitwise) {
    if (slurm_up()) return;
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "one.yaml",
             "name: one\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
             "model: {layers: 1, d_model: 16, heads: 2, attention: linear, encoding: rope}\n"
             "train: {steps: 8000, batch: 8, lr: 3.0e-3, warmup: 5, eval_every: 1000, checkpoint_every: 1000}\n");
    char out[16384], ids[64], cmd[256];
    int rc = fx_lrpe(&f, "submit one.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "submitted job array"), "submit: exit %d:\n%s", rc, out);
    submitted_jobs(out, ids, sizeof ids);
    CHECK(fx_wait_for_checkpoint(&f, "results/results-runs", 999) == 0, "no checkpoint at step 1000");
    usleep(100 * 1000); /* some steps past checkpoint 1000: SIGTERM right after it often stopped the run there */
    snprintf(cmd, sizeof cmd, "scancel %ld", atol(ids));
    CHECK(test_capture(cmd, out, sizeof out) == 0, "%s: %s", cmd, out);
    CHECK(wait_jobs(ids, 240) == 0, "jobs %s still queued", ids);
    /* a checkpoint where SIGTERM stopped it (at step 1000 itself when SIGTERM still came between
     * checkpoint 1000 and step 1001, as it did under the sanitizers) */
    long at = newest_step(&f), stopped = last_step(&f);
    CHECK(at >= 1000 && at == stopped, "stopped after step %ld, newest checkpoint at step %ld", stopped, at);
    int count[DB_NSTATUS];
    count_status(&f, NULL, count);
    CHECK(count[DB_INTERRUPTED] == 1, "after scancel: %d interrupted in the merged database", count[DB_INTERRUPTED]);
    if (submit_and_wait(&f, NULL, "submit one.yaml", out, sizeof out, ids, sizeof ids) == 0) {
        count_status(&f, NULL, count);
        CHECK(count[DB_COMPLETED] == 1, "resubmitted: not completed");
        rc = fx_lrpe(&f, "run one.yaml --db straight.db", out, sizeof out);
        CHECK(rc == 0, "straight run: exit %d:\n%s", rc, out);
        static char a[1 << 21], b[1 << 21];
        char p1[700], p2[700];
        long na = fx_metrics_text(fx_path(&f, "results/results.db", p1, sizeof p1), a, sizeof a);
        long nb = fx_metrics_text(fx_path(&f, "straight.db", p2, sizeof p2), b, sizeof b);
        CHECK(na > 8000 && na == nb && strcmp(a, b) == 0, "metric rows differ: %ld vs %ld rows", na, nb);
        double got = fx_only_summary(&f, NULL, "test/loss", NULL, 0),
               want = fx_only_summary(&f, "straight.db", "test/loss", NULL, 0);
        CHECK(got == want, "test/loss %.9g vs %.9g", got, want);
    }
    fx_close(&f);
}

/* One run of the array fails (its loss becomes NaN): it is recorded as failed with its reason, the
 * others complete, and the merge job still merges and reports. */
TEST(slurm_failing_run_is_recorded_others_complete) {
    if (slurm_up()) return;
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "mixed.yaml",
             "name: mixed\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
             "model: {layers: 1, d_model: 16, heads: 2, attention: linear}\n"
             "train: {steps: 40, batch: 8, lr: 3.0e-3, warmup: 5, eval_every: 20, checkpoint_every: 20}\n"
             "variants:\n  - {name: ok}\n  - {name: diverges, train.lr: 1.0e+30, train.grad_clip: 0}\n"
             "  - {name: rope, model.encoding: rope}\n");
    char out[16384], ids[64], path[700];
    if (submit_and_wait(&f, NULL, "submit mixed.yaml", out, sizeof out, ids, sizeof ids) == 0) {
        int count[DB_NSTATUS];
        count_status(&f, NULL, count);
        CHECK(count[DB_COMPLETED] == 2 && count[DB_FAILED] == 1, "completed %d failed %d (want 2 and 1)",
              count[DB_COMPLETED], count[DB_FAILED]);
        int rc = fx_lrpe(&f, "status", out, sizeof out);
        CHECK(rc == 0 && strstr(out, "failed runs:") && strstr(out, "diverges") && strstr(out, "loss became"), "status:\n%s", out);
        CHECK(access(fx_path(&f, "results/report/mixed/table.md", path, sizeof path), R_OK) == 0, "no report");
    }
    fx_close(&f);
}

/* A run inside an array task over 2 MPI ranks (--sbatch-args --ntasks=2: the task starts lrpe with
 * srun): completed, with world size 2 in its provenance. */
TEST(slurm_task_trains_one_run_over_mpi_ranks) {
    char bin[1024], out[16384], ids[64], cmd[2048];
    if (slurm_up() || mpi_binary(bin, sizeof bin)) return;
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "dp.yaml",
             "name: dp\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
             "model: {layers: 1, d_model: 16, heads: 2, attention: linear, encoding: rope}\n"
             "train: {steps: 60, batch: 8, lr: 3.0e-3, warmup: 5, eval_every: 20, checkpoint_every: 20}\n");
    snprintf(cmd, sizeof cmd, "cd %s && LRPE_THREADS=1 %s submit dp.yaml --sbatch-args '--ntasks=2'", f.dir, bin);
    int rc = test_capture(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "submitted merge job"), "submit: exit %d:\n%s", rc, out);
    submitted_jobs(out, ids, sizeof ids);
    CHECK(wait_jobs(ids, 240) == 0, "jobs %s still queued", ids);
    int count[DB_NSTATUS];
    count_status(&f, NULL, count);
    CHECK(count[DB_COMPLETED] == 1, "not completed");
    db *d = fx_db(&f, NULL);
    db_run *runs = NULL;
    db_text *prov = NULL;
    int n = 0, k = 0, world = 0;
    char err[512];
    if (d && !db_runs_list(d, NULL, 0, &runs, &n, err, sizeof err) && n == 1 &&
        !db_provenance_get(d, runs[0].run_id, &prov, &k, err, sizeof err))
        for (int i = 0; i < k; i++) world |= strcmp(prov[i].key, "world_size") == 0 && strcmp(prov[i].value, "2") == 0;
    CHECK(world, "world_size 2 not recorded");
    free(prov);
    free(runs);
    db_close(d);
    fx_close(&f);
}

/* Without a cluster: --dry-run prints the array script, the run list and both sbatch lines and
 * writes nothing; without sbatch, bad options and a second spec: one line and exit 2. */
TEST(submit_dry_run_and_refusals) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml",
             "name: dry\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
             "model: {layers: 1, d_model: 16, heads: 2}\ntrain: {steps: 10, batch: 4, warmup: 2}\nseeds: [1, 2, 3]\n");
    char out[32768], path[700];
    int rc = fx_lrpe(&f, "submit s.yaml --dry-run --max-parallel 2 --runs-per-task 2 --sbatch-args '--time=10' model.d_model=32",
                     out, sizeof out);
    CHECK(rc == 0, "dry run: exit %d:\n%s", rc, out);
    CHECK(strstr(out, "3 runs: 3 to train") && strstr(out, "#SBATCH --array=0-1%2") && strstr(out, "--only \"$id\"") &&
              strstr(out, "'model.d_model=32'") && strstr(out, "--publish \"$SHARDS/$id.db\"") &&
              strstr(out, "sbatch --parsable --time=10 ") &&
              strstr(out, "sbatch --parsable --dependency=afterany:<array job id> --time=10 ") &&
              strstr(out, "\"$LRPE\" merge \"$DB\""),
          "dry run output:\n%s", out);
    CHECK(access(fx_path(&f, "results", path, sizeof path), F_OK) != 0, "a dry run wrote %s", path);
    rc = fx_lrpe_env(&f, "PATH=/nonexistent", "submit s.yaml", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "sbatch is not on PATH") && !strchr(strchr(out, '\n') ? strchr(out, '\n') + 1 : "", '\n'),
          "no sbatch: exit %d:\n%s", rc, out);
    CHECK(access(fx_path(&f, "results", path, sizeof path), F_OK) != 0, "a refused submit wrote %s", path);
    rc = fx_lrpe(&f, "submit s.yaml --max-parallel 0", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "--max-parallel needs"), "--max-parallel 0: exit %d:\n%s", rc, out);
    rc = fx_lrpe(&f, "submit s.yaml --frobnicate", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "unknown option --frobnicate"), "unknown option: exit %d:\n%s", rc, out);
    rc = fx_lrpe(&f, "submit s.yaml model.widht=3 --dry-run", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "unknown key 'model.widht'"), "bad key: exit %d:\n%s", rc, out);
    /* a run that failed in the database goes with its record (a shard made from it: lrpe run then
     * retries it from scratch, its checkpoints removed, as it does on one machine) */
    rc = fx_lrpe(&f, "run s.yaml seed=1 train.lr=1e30 train.grad_clip=0", out, sizeof out);
    CHECK(rc == 1, "the diverging run: exit %d:\n%s", rc, out);
    rc = fx_lrpe(&f, "submit s.yaml seed=1 train.lr=1e30 train.grad_clip=0 --dry-run", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "1 runs: 1 to train (1 carried over from the database"), "failed run: exit %d:\n%s", rc, out);
    rc = fx_lrpe(&f, "run s.yaml --only 0123abcd", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "--only 0123abcd: no run of dry has this id"), "run --only: exit %d:\n%s", rc, out);
    fx_close(&f);
}
