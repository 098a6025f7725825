/* `lrpe submit SPEC.yaml [key=value ...] [options]` (submit_options below): hands the runs of a
 * spec to Slurm as one job array plus a dependent job that merges and reports. Nothing here
 * schedules anything itself.
 *
 * Runs are resolved exactly as `lrpe run` resolves them. Runs completed in the database or in a
 * shard are left out; a run running for a live process is left out too. The rest go in groups
 * of G (default 1) into the tasks of the array. Each task copies its run's shard (if any) to
 * node-local storage, trains there with `lrpe run --only ID --data-dir DATA` (the data folder
 * resolved here, absolute, so every node reads the same data), checkpoints in the shared runs
 * folder, and publishes the local database atomically to <db>-shards/<run id>.db after every
 * checkpoint and at the end (SQLite must not be shared between hosts). A run interrupted (or
 * failed) earlier whose record is only in the database gets a shard made from it first, so its
 * curves stay whole (and a failed run is retried from scratch, as lrpe run retries it). The merge
 * job (afterany) merges every shard into the database and runs `lrpe report`.
 * What is submitted is kept under <db>-slurm/<experiment>/<UTC time>/: the spec, tasks.txt (the
 * run ids of each task), runs.tsv, array.sbatch, merge.sbatch, logs/ and submitted.txt. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "fs.h"
#include "paths.h"
#include "spec.h"

typedef struct submit_args {
    const char *spec_path, *db_path, *runs_dir, *sbatch_args, *data_dir;
    char **overrides;
    int noverrides, max_parallel, per_task, dry_run;
} submit_args;

/* Where everything goes: absolute paths. */
typedef struct submit_paths {
    char db[PATH_MAX], runs[PATH_MAX], shards[PATH_MAX], slurm[PATH_MAX], sub[PATH_MAX], cwd[PATH_MAX],
        lrpe[PATH_MAX], spec[PATH_MAX], report[PATH_MAX], data[PATH_MAX];
} submit_paths;

static int cmd_submit(int argc, char **argv);

static const cli_option submit_options[] = {
    {"db", 0, 1, "FILE", "the results database the merge job merges into (default " DB_DEFAULT_PATH ")"},
    {"runs-dir", 0, 1, "DIR", "the checkpoints' folder, shared by the nodes (default: <database without .db>-runs/)"},
    {"max-parallel", 0, 1, "K", "at most K array tasks at once"},
    {"runs-per-task", 0, 1, "G", "runs per array task, trained one after the other (default 1)"},
    {"sbatch-args", 0, 1, "ARGS", "more sbatch options for both jobs, e.g. '--partition=cpu --time=2:00:00'"},
    {"data-dir", 0, 1, "DIR", "the prepared datasets, as the nodes see them (default: as lrpe run finds them here)"},
    {"dry-run", 0, 0, NULL, "print the job scripts, the tasks and the sbatch lines; write and submit nothing"},
    {NULL, 0, 0, NULL, NULL},
};

const cli_command cli_submit = {"submit", "SPEC.yaml [key=value ...]",
                                "train the runs of a spec on a Slurm cluster: a job array (shards on node-local disks) "
                                "and a job that merges and reports",
                                submit_options, cmd_submit, CLI_SPEC, NULL};

static int usage_error(const char *msg, const char *arg) { return cli_usage_error("submit", msg, arg); }

/* A whole number in lo..hi from text, or -1. */
static long number_in(const char *text, long lo, long hi) {
    char *end;
    long v = strtol(text, &end, 10);
    return *text && !*end && v >= lo && v <= hi ? v : -1;
}

/* One option or word of lrpe submit into a (cli_each); 0, or 2 after printing a one-line reason. */
static int submit_option(void *ctx, const cli_option *o, char *v) {
    submit_args *a = ctx;
    if (!o) return cli_spec_word("submit", v, &a->spec_path, a->overrides, &a->noverrides);
    if (cli_is(o, "dry-run")) a->dry_run = 1;
    else if (cli_is(o, "db")) a->db_path = v;
    else if (cli_is(o, "runs-dir")) a->runs_dir = v;
    else if (cli_is(o, "sbatch-args")) a->sbatch_args = v;
    else if (cli_is(o, "data-dir")) a->data_dir = v;
    else if (cli_is(o, "max-parallel") && (a->max_parallel = (int)number_in(v, 1, 100000)) < 0)
        return usage_error("--max-parallel needs a number of tasks in 1..100000, got", v);
    else if (cli_is(o, "runs-per-task") && (a->per_task = (int)number_in(v, 1, 100000)) < 0)
        return usage_error("--runs-per-task needs a number in 1..100000, got", v);
    return 0;
}

/* Parses argv into a; 0, or 2 after printing a one-line reason. */
static int parse_args(int argc, char **argv, submit_args *a) {
    memset(a, 0, sizeof *a);
    a->db_path = DB_DEFAULT_PATH;
    a->per_task = 1;
    a->overrides = calloc((size_t)argc, sizeof *a->overrides);
    if (!a->overrides) return usage_error("out of memory", NULL);
    int rc = cli_parse(&cli_submit, argc, argv, submit_option, a);
    if (rc) return rc;
    if (!a->spec_path) return usage_error("missing the spec file: lrpe submit SPEC.yaml [key=value ...]", NULL);
    return 0;
}

/* Writes s to f as one shell word (single-quoted). */
static void shell_word(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) *s == '\'' ? fputs("'\\''", f) : fputc(*s, f);
    fputc('\'', f);
}

/* What becomes of each run of the spec. */
typedef enum { RUN_TRAIN, RUN_SEED_AND_TRAIN, RUN_DONE, RUN_DONE_IN_SHARD, RUN_BUSY } run_plan;

static int by_id(const void *a, const void *b) {
    return strcmp(((const db_run *)a)->run_id, ((const db_run *)b)->run_id);
}

/* The stored status of run_id in its shard, or DB_NONE when it has none; -1 with err when the
 * shard cannot be read. */
static int shard_status(const submit_paths *p, const char *run_id, db_status *st, char *err, size_t errlen) {
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s.db", p->shards, run_id);
    *st = DB_NONE;
    if (access(path, F_OK) != 0) return 0;
    db *d;
    int rc = db_open(&d, path, DB_OPEN_READONLY, err, errlen);
    if (!rc) rc = db_run_status(d, run_id, st, err, errlen);
    db_close(d);
    return rc ? -1 : 0;
}

/* Decides each run's plan from the database (when it exists) and the shards; 0, or -1 after
 * saying why. */
static int plan_runs(const spec *s, const submit_paths *p, run_plan *plan) {
    char err[1024];
    db_run *runs = NULL;
    int n = 0;
    if (access(p->db, F_OK) == 0) {
        db *d;
        int rc = db_open(&d, p->db, DB_OPEN_READONLY, err, sizeof err);
        if (!rc) rc = db_runs_list(d, NULL, DB_STALE_S, &runs, &n, err, sizeof err);
        db_close(d);
        if (rc) {
            fprintf(stderr, "lrpe submit: %s\n", err);
            return -1;
        }
        qsort(runs, (size_t)n, sizeof *runs, by_id);
    }
    for (int i = 0; i < s->nruns; i++) {
        db_status in_shard;
        if (shard_status(p, s->runs[i].run_id, &in_shard, err, sizeof err)) {
            fprintf(stderr, "lrpe submit: the shard of run %s: %s\n", s->runs[i].run_id, err);
            free(runs);
            return -1;
        }
        db_run key = {.run_id = s->runs[i].run_id};
        const db_run *r = n ? bsearch(&key, runs, (size_t)n, sizeof *runs, by_id) : NULL;
        db_status here = r ? r->status : DB_NONE;
        if (here == DB_COMPLETED) plan[i] = RUN_DONE;
        else if (in_shard == DB_COMPLETED) plan[i] = RUN_DONE_IN_SHARD;
        else if (here == DB_RUNNING && !r->dead) plan[i] = RUN_BUSY;
        else if (in_shard == DB_NONE && (here == DB_INTERRUPTED || here == DB_RUNNING || here == DB_FAILED))
            plan[i] = RUN_SEED_AND_TRAIN; /* its history (or its failure: retried from scratch) goes with it */
        else plan[i] = RUN_TRAIN;
    }
    free(runs);
    return 0;
}

/* Makes the shard of run_id from the database (a run interrupted earlier, so the task that resumes
 * it keeps its history): the run copied into a fresh database, published into the shards folder.
 * 0, or -1 with err. */
static int seed_shard(const submit_paths *p, const char *run_id, char *err, size_t errlen) {
    char tmpdir[] = "/tmp/lrpe-seed.XXXXXX", tmp[64], dest[PATH_MAX + 80];
    if (!mkdtemp(tmpdir)) return snprintf(err, errlen, "cannot make a temporary folder: %s", strerror(errno)), -1;
    snprintf(tmp, sizeof tmp, "%s/seed.db", tmpdir);
    snprintf(dest, sizeof dest, "%s/%s.db", p->shards, run_id);
    db *d;
    int rc = db_open(&d, tmp, 0, err, errlen);
    if (!rc) rc = db_merge_runs(d, p->db, &run_id, 1, NULL, err, errlen);
    if (!rc) rc = db_publish(d, dest, err, errlen);
    db_close(d);
    char why[256];
    fs_remove_tree(tmpdir, why, sizeof why);
    return rc ? -1 : 0;
}

/* The array job's script: task i trains the runs of line i+1 of tasks.txt in node-local shards. */
static void write_array_script(FILE *f, const spec *s, const submit_paths *p, const submit_args *a, int ntasks) {
    fprintf(f, "#!/bin/bash\n# lrpe submit: task i of this array trains the runs on line i+1 of tasks.txt\n");
    fprintf(f, "#SBATCH --job-name=lrpe-%s\n#SBATCH --array=0-%d", s->name, ntasks - 1);
    if (a->max_parallel) fprintf(f, "%%%d", a->max_parallel);
    fprintf(f, "\n#SBATCH --output=%s/logs/%%A_%%a.out\n#SBATCH --open-mode=append\n#SBATCH --chdir=%s\n", p->sub, p->cwd);
    fputs("set -u\nLRPE=", f), shell_word(f, p->lrpe);
    fputs("\nSUB=", f), shell_word(f, p->sub);
    fputs("\nSHARDS=", f), shell_word(f, p->shards);
    fputs("\nRUNS=", f), shell_word(f, p->runs);
    fputs("\nDATA=", f), shell_word(f, p->data);
    fputs("\nSPEC=", f), shell_word(f, p->spec);
    fputs("\nOVERRIDES=(", f);
    for (int i = 0; i < a->noverrides; i++) fputs(i ? " " : "", f), shell_word(f, a->overrides[i]);
    fputs(")\n", f);
    fputs("# threads: the CPUs Slurm gave the task; passive OpenMP waiting on shared nodes\n"
          "export LRPE_THREADS=${LRPE_THREADS:-${SLURM_CPUS_PER_TASK:-1}} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}\n"
          "ids=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$SUB/tasks.txt\")\n"
          "work=$(mktemp -d \"${TMPDIR:-/tmp}/lrpe-$SLURM_JOB_ID.XXXXXX\") || exit 1\n"
          "trap 'rm -rf \"$work\"' EXIT\n"
          "# SIGTERM (scancel, time limit, preemption) reaches lrpe too: it checkpoints, records the run\n"
          "# as interrupted and publishes its shard; this script then stops before the next run\n"
          "stop=0\ntrap 'stop=1' TERM INT\n"
          "launch=()\n[ \"${SLURM_NTASKS:-1}\" -gt 1 ] && launch=(srun --kill-on-bad-exit=1)  # MPI: one run over the task's ranks\n"
          "rc=0\n"
          "for id in $ids; do\n"
          "    [ \"$stop\" = 1 ] && break\n"
          "    [ -f \"$SHARDS/$id.db\" ] && { cp \"$SHARDS/$id.db\" \"$work/$id.db\" || { rc=1; continue; }; }\n"
          "    \"${launch[@]}\" \"$LRPE\" run \"$SPEC\" \"${OVERRIDES[@]}\" --only \"$id\" --db \"$work/$id.db\" \\\n"
          "        --runs-dir \"$RUNS\" --publish \"$SHARDS/$id.db\" --data-dir \"$DATA\"\n"
          "    r=$?\n    [ $r -ne 0 ] && rc=$r\n"
          "done\nexit $rc\n", f);
}

/* The merge job: every shard into the database, then the report and the status. */
static void write_merge_script(FILE *f, const spec *s, const submit_paths *p) {
    fprintf(f, "#!/bin/bash\n# lrpe submit: after the array (whatever its tasks' outcome) merges every shard and reports\n");
    fprintf(f, "#SBATCH --job-name=lrpe-%s-merge\n#SBATCH --output=%s/logs/merge_%%j.out\n#SBATCH --chdir=%s\n", s->name,
            p->sub, p->cwd);
    fputs("set -u\nshopt -s nullglob\nLRPE=", f), shell_word(f, p->lrpe);
    fputs("\nDB=", f), shell_word(f, p->db);
    fputs("\nshards=(", f), shell_word(f, p->shards), fputs("/*.db)\nrc=0\n", f);
    fputs("[ ${#shards[@]} -gt 0 ] && { \"$LRPE\" merge \"$DB\" \"${shards[@]}\" || rc=1; }\n", f);
    fputs("\"$LRPE\" report --db \"$DB\" --experiment ", f), shell_word(f, s->name);
    fputs(" --out ", f), shell_word(f, p->report), fputs(" || rc=1\n\"$LRPE\" status --db \"$DB\"\nexit $rc\n", f);
}

/* Writes text to path; 0, or -1 after saying why. */
static int write_file(const char *path, void (*fill)(FILE *, const void *), const void *ctx) {
    FILE *f = fopen(path, "w");
    if (f) fill(f, ctx);
    if (!f || ferror(f) | fclose(f)) {
        fprintf(stderr, "lrpe submit: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Everything write_* needs. */
typedef struct submit_ctx {
    const spec *s;
    const submit_paths *p;
    const submit_args *a;
    const run_plan *plan;
    int ntasks;
    const char *spec_text;
    size_t spec_len;
} submit_ctx;

static void fill_array(FILE *f, const void *c) {
    const submit_ctx *x = c;
    write_array_script(f, x->s, x->p, x->a, x->ntasks);
}
static void fill_merge(FILE *f, const void *c) {
    const submit_ctx *x = c;
    write_merge_script(f, x->s, x->p);
}
static void fill_spec(FILE *f, const void *c) {
    const submit_ctx *x = c;
    fwrite(x->spec_text, 1, x->spec_len, f);
}
/* tasks.txt (with_names 0): the run ids of each task, one line per task; runs.tsv (1): task, run
 * id, variant, seed. */
static void fill_tasks(FILE *f, const submit_ctx *x, int with_names) {
    int k = 0;
    if (with_names) fputs("task\trun_id\tvariant\tseed\n", f);
    for (int i = 0; i < x->s->nruns; i++) {
        if (x->plan[i] != RUN_TRAIN && x->plan[i] != RUN_SEED_AND_TRAIN) continue;
        const spec_run *r = &x->s->runs[i];
        if (with_names) fprintf(f, "%d\t%s\t%s\t%llu\n", k / x->a->per_task, r->run_id, r->variant, r->seed);
        else fprintf(f, "%s%s", k % x->a->per_task ? " " : (k ? "\n" : ""), r->run_id);
        k++;
    }
    if (!with_names && k) fputc('\n', f);
}
static void fill_task_list(FILE *f, const void *c) { fill_tasks(f, c, 0); }
static void fill_run_table(FILE *f, const void *c) { fill_tasks(f, c, 1); }

/* Runs cmd (a shell command line) and reads the job id `sbatch --parsable` prints; -1 after saying
 * why when it fails. */
static long run_sbatch(const char *cmd) {
    FILE *f = popen(cmd, "r");
    if (!f) return fprintf(stderr, "lrpe submit: cannot run sbatch: %s\n", strerror(errno)), -1;
    char out[256] = "";
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    int st = pclose(f);
    long id = strtol(out, NULL, 10);
    if (st == 0 && id > 0) return id;
    fprintf(stderr, "lrpe submit: sbatch failed (exit status %d; its message is above): %s\n",
            WIFEXITED(st) ? WEXITSTATUS(st) : -1, cmd);
    return -1;
}

/* The sbatch command line of a script (array job, or the merge job after job `after`). */
static void sbatch_line(char *out, size_t len, const submit_args *a, const char *script, long after) {
    FILE *f = fmemopen(out, len, "w");
    if (!f) {
        out[0] = 0;
        return;
    }
    fputs("sbatch --parsable", f);
    if (after > 0) fprintf(f, " --dependency=afterany:%ld", after);
    else if (after < 0) fputs(" --dependency=afterany:<array job id>", f);
    if (a->sbatch_args) fprintf(f, " %s", a->sbatch_args);
    fputc(' ', f), shell_word(f, script);
    fclose(f);
}

/* Refuses (2) when an earlier submission of this experiment into this database still has jobs in
 * the queue (its runs would be trained twice); 0 otherwise. */
static int earlier_jobs_queued(const submit_paths *p, const char *experiment) {
    char cmd[PATH_MAX * 2], line[256];
    snprintf(cmd, sizeof cmd, "cat '%s/%s'/*/submitted.txt 2>/dev/null", p->slurm, experiment);
    FILE *f = popen(cmd, "r");
    char ids[4096] = "";
    size_t k = 0;
    while (f && fgets(line, sizeof line, f)) {
        long id = strtol(line, NULL, 10);
        if (id > 0 && k + 24 < sizeof ids) k += (size_t)snprintf(ids + k, sizeof ids - k, "%s%ld", k ? "," : "", id);
    }
    if (f) pclose(f);
    if (!k) return 0;
    snprintf(cmd, sizeof cmd, "squeue -h -o %%i -j %s 2>/dev/null", ids);
    f = popen(cmd, "r");
    int queued = f && fgets(line, sizeof line, f) != NULL;
    if (f) pclose(f);
    if (!queued) return 0;
    line[strcspn(line, "\n")] = 0;
    fprintf(stderr, "lrpe submit: job %s of an earlier submission of %s into %s is still queued or running (squeue -j %s): "
            "wait for it or scancel it, then submit again\n", line, experiment, p->db, ids);
    return 2;
}

/* Fills the absolute paths; 0, or 2 after saying which does not resolve. */
static int resolve_paths(const spec *s, const submit_args *a, submit_paths *p) {
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    const char *base = strrchr(a->spec_path, '/') ? strrchr(a->spec_path, '/') + 1 : a->spec_path, *how;
    if (paths_absolute(a->db_path, p->db, sizeof p->db) ||
        paths_beside_db(a->db_path, "-runs", a->runs_dir, p->runs, sizeof p->runs) ||
        paths_beside_db(a->db_path, "-shards", NULL, p->shards, sizeof p->shards) ||
        paths_beside_db(a->db_path, "-slurm", NULL, p->slurm, sizeof p->slurm) || !getcwd(p->cwd, sizeof p->cwd) ||
        paths_absolute("/proc/self/exe", p->lrpe, sizeof p->lrpe) || paths_data_dir(a->data_dir, p->data, sizeof p->data, &how)) {
        fprintf(stderr, "lrpe submit: the database's folder (%s), the data folder or the working folder cannot be resolved: "
                "%s\n", a->db_path, strerror(errno));
        return 2;
    }
    snprintf(p->report, sizeof p->report, "%.*s/report", (int)(strrchr(p->db, '/') - p->db), p->db);
    for (int k = 1;; k++) { /* a fresh folder per submission */
        int n = k == 1 ? snprintf(p->sub, sizeof p->sub, "%s/%s/%s", p->slurm, s->name, stamp)
                       : snprintf(p->sub, sizeof p->sub, "%s/%s/%s-%d", p->slurm, s->name, stamp, k);
        if (n >= (int)sizeof p->sub) return usage_error("the results folder's path is too long:", p->slurm);
        if (access(p->sub, F_OK) != 0) break;
    }
    if (snprintf(p->spec, sizeof p->spec, "%s/%s", p->sub, base) >= (int)sizeof p->spec)
        return usage_error("the results folder's path is too long:", p->slurm);
    return 0;
}

/* Writes the submission folder (and the seed shards); 0 or -1 after saying why. */
static int write_submission(const submit_ctx *x) {
    const submit_paths *p = x->p;
    char err[1024], path[PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/logs", p->sub);
    if (fs_mkdirs(path, err, sizeof err) || fs_mkdirs(p->shards, err, sizeof err)) {
        fprintf(stderr, "lrpe submit: %s\n", err);
        return -1;
    }
    for (int i = 0; i < x->s->nruns; i++)
        if (x->plan[i] == RUN_SEED_AND_TRAIN && seed_shard(p, x->s->runs[i].run_id, err, sizeof err)) {
            fprintf(stderr, "lrpe submit: the shard of interrupted run %s: %s\n", x->s->runs[i].run_id, err);
            return -1;
        }
    static const struct {
        const char *name;
        void (*fill)(FILE *, const void *);
    } files[] = {{"tasks.txt", fill_task_list}, {"runs.tsv", fill_run_table}, {"array.sbatch", fill_array},
                 {"merge.sbatch", fill_merge}};
    if (write_file(p->spec, fill_spec, x)) return -1;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", p->sub, files[i].name);
        if (write_file(path, files[i].fill, x)) return -1;
    }
    return 0;
}

/* Submits the array and the merge job (or only the merge job when no run needs training, but
 * shards do need merging); prints what it did. 0, 1 when sbatch failed. */
static int submit(const submit_ctx *x, int to_merge) {
    const submit_paths *p = x->p;
    char script[PATH_MAX + 40], cmd[2 * PATH_MAX + 512], path[PATH_MAX + 40];
    long array = 0;
    if (x->ntasks) {
        snprintf(script, sizeof script, "%s/array.sbatch", p->sub);
        sbatch_line(cmd, sizeof cmd, x->a, script, 0);
        if ((array = run_sbatch(cmd)) < 0) return 1;
    } else if (!to_merge) {
        return 0;
    }
    snprintf(script, sizeof script, "%s/merge.sbatch", p->sub);
    sbatch_line(cmd, sizeof cmd, x->a, script, array);
    long merge = run_sbatch(cmd);
    snprintf(path, sizeof path, "%s/submitted.txt", p->sub);
    FILE *f = fopen(path, "w");
    if (f) {
        if (array) fprintf(f, "%ld array\n", array);
        if (merge > 0) fprintf(f, "%ld merge\n", merge);
        fclose(f);
    }
    if (array) printf("submitted job array %ld: %d task%s%s", array, x->ntasks, x->ntasks == 1 ? "" : "s", x->a->max_parallel ? "" : "\n");
    if (array && x->a->max_parallel) printf(", at most %d at once\n", x->a->max_parallel);
    if (merge > 0) printf("submitted merge job %ld%s: merges %s/*.db into %s, reports into %s\n", merge,
                          array ? " (after the array)" : "", p->shards, p->db, p->report);
    printf("files: %s; follow with `lrpe status --db %s` or squeue\n", p->sub, p->db);
    return merge > 0 ? 0 : 1;
}

static int cmd_submit(int argc, char **argv) {
    submit_args a;
    int rc = parse_args(argc, argv, &a);
    spec s = {0};
    char err[1024];
    submit_paths *p = calloc(1, sizeof *p);
    run_plan *plan = NULL;
    char *text = NULL;
    size_t len = 0;
    if (!rc && !p) rc = usage_error("out of memory", NULL);
    if (!rc && (spec_load(&s, a.spec_path, a.overrides, a.noverrides, err, sizeof err) ||
                fs_read_file(a.spec_path, SPEC_MAX_BYTES, &text, &len, err, sizeof err))) {
        fprintf(stderr, "lrpe submit: %s\n", err);
        rc = 2;
    }
    if (!rc) rc = resolve_paths(&s, &a, p);
    if (!rc && !(plan = calloc((size_t)s.nruns, sizeof *plan))) rc = usage_error("out of memory", NULL);
    if (!rc && plan_runs(&s, p, plan)) rc = 1;
    if (!rc && !a.dry_run && system("command -v sbatch >/dev/null 2>&1") != 0)
        rc = usage_error("sbatch is not on PATH: lrpe submit hands runs to Slurm (Debian: slurm-client); "
                         "--dry-run shows what it would submit", NULL);
    if (!rc && !a.dry_run) rc = earlier_jobs_queued(p, s.name);
    if (rc) goto out;
    int count[5] = {0};
    for (int i = 0; i < s.nruns; i++) count[plan[i]]++;
    const int train = count[RUN_TRAIN] + count[RUN_SEED_AND_TRAIN];
    submit_ctx x = {.s = &s, .p = p, .a = &a, .plan = plan, .ntasks = (train + a.per_task - 1) / a.per_task,
                    .spec_text = text, .spec_len = len};
    printf("%s: %d runs: %d to train (%d carried over from the database: interrupted ones resume, failed ones start "
           "again), %d completed (%d of them in shards, not merged yet), %d running elsewhere (left alone)\n",
           s.name, s.nruns, train, count[RUN_SEED_AND_TRAIN], count[RUN_DONE] + count[RUN_DONE_IN_SHARD],
           count[RUN_DONE_IN_SHARD], count[RUN_BUSY]);
    if (a.dry_run) {
        char cmd[2 * PATH_MAX + 512], script[PATH_MAX + 40];
        printf("\n# %s/array.sbatch (%d task%s)\n", p->sub, x.ntasks, x.ntasks == 1 ? "" : "s");
        write_array_script(stdout, &s, p, &a, x.ntasks > 0 ? x.ntasks : 1);
        printf("\n# %s/merge.sbatch\n", p->sub);
        write_merge_script(stdout, &s, p);
        printf("\n# %s/tasks.txt\n", p->sub);
        fill_task_list(stdout, &x);
        snprintf(script, sizeof script, "%s/array.sbatch", p->sub);
        sbatch_line(cmd, sizeof cmd, &a, script, 0);
        printf("\n# the submission (dry run: nothing was written or submitted)\n%s\n", x.ntasks ? cmd : "# (no run to train)");
        snprintf(script, sizeof script, "%s/merge.sbatch", p->sub);
        sbatch_line(cmd, sizeof cmd, &a, script, -1);
        printf("%s\n", cmd);
        goto out;
    }
    if (!train && !count[RUN_DONE_IN_SHARD]) {
        printf("nothing to submit: every run is completed in %s\n", p->db);
        goto out;
    }
    rc = write_submission(&x) ? 1 : submit(&x, count[RUN_DONE_IN_SHARD] > 0);
out:
    free(text);
    free(plan);
    free(p);
    spec_free(&s);
    free(a.overrides);
    return rc;
}
