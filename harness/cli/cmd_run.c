/* `lrpe run SPEC.yaml [key=value ...] [options]` (run_options below): expands the spec, skips runs
 * already completed, resumes interrupted ones from their checkpoints, trains the rest (in N worker
 * processes sharing the database with -j N), and exits 0 when every run completed, 1 when some
 * run failed, 2 on a bad spec or usage, 130 when stopped by Ctrl-C or SIGTERM. Checkpoints belong
 * to their database: they go to <db without .db>-runs/<run id>/ beside it (results/results-runs/
 * for the default database), or under --runs-dir. --only keeps the runs with those ids (a Slurm
 * array task trains its share this way); --publish copies the database to FILE atomically after
 * every checkpoint and at the end (a node-local shard reaching the shared folder: see cmd_submit.c). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "cli.h"
#include "db.h"
#include "dist.h"
#include "fs.h"
#include "paths.h"
#include "run.h"
#include "spec.h"
#include "threads.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* Ctrl-C and SIGTERM (scancel, a time limit, mpirun stopping its ranks) ask the training to stop:
 * a checkpoint, the run recorded as interrupted. */
static void catch_stop_signals(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

typedef struct run_args {
    const char *spec_path, *db_path, *runs_dir; /* runs_dir: NULL = beside the database */
    const char *only, *publish;                 /* NULL: every run; no publishing */
    char **overrides;
    int noverrides, jobs, dry_run, force;
    char device[80]; /* --device D as the override model.device=D */
    const char *data_opt; /* --data-dir, or NULL */
    char data_dir[PATH_MAX]; /* the data folder (paths_data_dir) */
} run_args;

static int cmd_run(int argc, char **argv);

static const cli_option run_options[] = {
    CLI_OPTION_DEVICE,
    {"jobs", 'j', 1, "N", "train N runs at once in separate processes, the cores divided among them (1..256)"},
    {"db", 0, 1, "FILE", "the results database (default " DB_DEFAULT_PATH ")"},
    {"runs-dir", 0, 1, "DIR", "the checkpoints' folder (default: <database without .db>-runs/ beside it)"},
    {"only", 0, 1, "RUN_ID,...", "train only the runs of the spec with these ids"},
    {"publish", 0, 1, "FILE", "copy the database to FILE atomically after every checkpoint and at the end"},
    CLI_OPTION_DATA_DIR,
    {"dry-run", 0, 0, NULL, "print the runs (and their status in the database) and the first run's resolved config; train nothing"},
    {"force", 0, 0, NULL, "train completed runs again"},
    {NULL, 0, 0, NULL, NULL},
};

const cli_command cli_run = {"run", "SPEC.yaml [key=value ...]",
                             "train the runs of an experiment spec (skips completed runs, resumes interrupted ones)",
                             run_options, cmd_run, CLI_SPEC | CLI_COMPUTES, NULL};

static int usage_error(const char *msg, const char *arg) { return cli_usage_error("run", msg, arg); }

/* One option or word of lrpe run into a (cli_each); 0, or 2 after printing a one-line reason. */
static int run_option(void *ctx, const cli_option *o, char *v) {
    run_args *a = ctx;
    if (!o) return cli_spec_word("run", v, &a->spec_path, a->overrides, &a->noverrides);
    if (cli_is(o, "device")) {
        if (a->device[0]) return usage_error("--device is given twice", NULL);
        snprintf(a->device, sizeof a->device, "model.device=%.60s", v);
        a->overrides[a->noverrides++] = a->device;
    } else if (cli_is(o, "jobs")) {
        char *end;
        long j = strtol(v, &end, 10);
        if (*end || j < 1 || j > 256) return usage_error("-j needs a number of processes in 1..256, got", v);
        a->jobs = (int)j;
    } else if (cli_is(o, "only")) {
        if (a->only) return usage_error("--only is given twice (give one comma-separated list)", NULL);
        a->only = v;
    } else if (cli_is(o, "db")) {
        a->db_path = v;
    } else if (cli_is(o, "runs-dir")) {
        a->runs_dir = v;
    } else if (cli_is(o, "publish")) {
        a->publish = v;
    } else if (cli_is(o, "data-dir")) {
        a->data_opt = v;
    } else if (cli_is(o, "dry-run")) {
        a->dry_run = 1;
    } else if (cli_is(o, "force")) {
        a->force = 1;
    }
    return 0;
}

/* Parses argv into a; 0, or 2 after printing a one-line reason. */
static int parse_args(int argc, char **argv, run_args *a) {
    memset(a, 0, sizeof *a);
    a->db_path = DB_DEFAULT_PATH;
    a->jobs = 1;
    a->overrides = calloc((size_t)argc, sizeof *a->overrides);
    if (!a->overrides) return usage_error("out of memory", NULL);
    int rc = cli_parse(&cli_run, argc, argv, run_option, a);
    if (rc) return rc;
    if (!a->spec_path) return usage_error("missing the spec file: lrpe run SPEC.yaml [key=value ...]", NULL);
    return 0;
}

/* 1 when the comma-separated list names id. */
static int listed(const char *list, const char *id) {
    size_t n = strlen(id);
    for (const char *p = list; *p; p += strcspn(p, ","), p += *p == ',')
        if (strcspn(p, ",") == n && strncmp(p, id, n) == 0) return 1;
    return 0;
}

/* Keeps the runs of s that the comma-separated list of run ids names, in the spec's order; 0, or
 * 2 after naming an id no run of the spec has. */
static int keep_only(spec *s, const char *list) {
    int kept = 0;
    for (int i = 0; i < s->nruns; i++)
        if (listed(list, s->runs[i].run_id)) s->runs[kept++] = s->runs[i];
    for (const char *p = list; *p; p += strcspn(p, ","), p += *p == ',') {
        int n = (int)strcspn(p, ","), found = 0;
        for (int i = 0; i < kept && !found; i++) found = (int)strlen(s->runs[i].run_id) == n && !strncmp(p, s->runs[i].run_id, (size_t)n);
        if (!found) {
            fprintf(stderr, "lrpe run: --only %.*s: no run of %s has this id (lrpe run SPEC --dry-run lists them)\n", n, p,
                    s->name);
            return 2;
        }
    }
    s->nruns = kept;
    return 0;
}

/* Deletes a run's checkpoint folders (for --force and for retrying a failed run): the one under
 * runs_dir and the one its provenance records (an earlier --runs-dir). 0, or -1 with err: a
 * checkpoint left behind would be resumed by the retrained run. */
static int remove_checkpoints(db *d, const char *runs_dir, const char *run_id, char *err, size_t errlen) {
    char dir[PATH_MAX + 80];
    snprintf(dir, sizeof dir, "%s/%s", runs_dir, run_id);
    if (fs_remove_tree(dir, err, errlen)) return -1;
    db_text *prov = NULL;
    int n = 0, rc = db_provenance_get(d, run_id, &prov, &n, err, errlen);
    for (int i = 0; !rc && i < n; i++)
        if (strcmp(prov[i].key, "runs_dir") == 0 && prov[i].value) {
            snprintf(dir, sizeof dir, "%s/%s", prov[i].value, run_id);
            rc = fs_remove_tree(dir, err, errlen);
        }
    free(prov);
    return rc;
}

/* Registers every run, resets the ones to train again (--force: all; failed runs always), and
 * returns how many are already completed; -1 with a message on a database error. */
static int prepare_runs(db *d, const spec *s, const char *runs_dir, int force) {
    char err[512];
    db_run_info *info = calloc((size_t)s->nruns, sizeof *info);
    if (!info) return -1;
    for (int i = 0; i < s->nruns; i++) {
        const spec_run *r = &s->runs[i];
        info[i] = (db_run_info){.run_id = r->run_id, .experiment = s->name, .variant = r->variant,
                                .seed = (long long)r->seed, .config_json = cfg_json(r->cfg)};
    }
    int rc = db_runs_register(d, info, s->nruns, err, sizeof err);
    free(info);
    int completed = 0;
    for (int i = 0; !rc && i < s->nruns; i++) {
        db_status st;
        if ((rc = db_run_status(d, s->runs[i].run_id, &st, err, sizeof err))) break;
        if (force || st == DB_FAILED) {
            rc = remove_checkpoints(d, runs_dir, s->runs[i].run_id, err, sizeof err);
            if (!rc) rc = db_run_reset(d, s->runs[i].run_id, err, sizeof err);
        } else if (st == DB_COMPLETED) {
            completed++;
        }
    }
    if (rc) {
        fprintf(stderr, "lrpe run: %s\n", err);
        return -1;
    }
    return completed;
}

typedef struct tally { int completed, failed, interrupted, errors; } tally;

/* Where a worker reads and writes: checkpoints, the shard it publishes (NULL: none), the data. */
typedef struct places {
    const char *runs_dir, *publish, *data_dir;
} places;

/* Claims and trains runs of s until none is left or a stop is requested; one process. */
static void worker(db *d, const spec *s, const places *pl, int threads, int tty, tally *t) {
    const char **ids = calloc((size_t)s->nruns, sizeof *ids);
    if (!ids) {
        t->errors++;
        return;
    }
    for (int i = 0; i < s->nruns; i++) ids[i] = s->runs[i].run_id;
    char err[1024], label[64];
    while (!stop_requested) {
        int index;
        int rc = db_run_claim(d, ids, s->nruns, DB_STALE_S, &index, NULL, err, sizeof err);
        if (rc == 0) break;
        if (rc < 0) {
            fprintf(stderr, "lrpe run: %s\n", err);
            t->errors++;
            break;
        }
        const spec_run *r = &s->runs[index];
        snprintf(label, sizeof label, "[%d/%d]", index + 1, s->nruns);
        run_env env = {.db = d, .experiment = s->name, .runs_dir = pl->runs_dir, .data_dir = pl->data_dir,
                       .threads = threads, .tty = tty, .out = stdout, .label = label, .stop = &stop_requested,
                       .publish = pl->publish};
        switch (run_train(&env, r, err, sizeof err)) {
        case RUN_COMPLETED: t->completed++; break;
        case RUN_FAILED:
            t->failed++;
            fprintf(stdout, "%s %s seed %llu: failed: %s\n", label, r->variant, r->seed, err);
            break;
        case RUN_INTERRUPTED:
            t->interrupted++;
            if (dist_why()[0]) fprintf(stdout, "%s %s seed %llu: interrupted: %s\n", label, r->variant, r->seed, err);
            else fprintf(stdout, "%s %s seed %llu: interrupted; checkpoint saved, `lrpe run` again resumes it\n", label,
                         r->variant, r->seed);
            break;
        case RUN_LOST: fprintf(stdout, "%s %s: taken over by another process\n", label, r->variant); break;
        case RUN_ERROR:
            t->errors++;
            fprintf(stderr, "lrpe run: %s %s seed %llu: %s\n", label, r->variant, r->seed, err);
            stop_requested = 1; /* the store or the disk is failing: stop, nothing recorded is lost */
            break;
        }
        fflush(stdout);
    }
    free(ids);
}

/* One worker process: its own database handle and `threads` threads; writes its tally to fd. */
static void worker_process(const char *db_path, const spec *s, const places *pl, int threads, int fd) {
    threads_set(threads);
    tally t = {0};
    db *d;
    char err[512];
    if (db_open(&d, db_path, 0, err, sizeof err)) {
        fprintf(stderr, "lrpe run: %s\n", err);
        t.errors = 1;
    } else {
        worker(d, s, pl, threads, 0, &t);
        db_close(d);
    }
    ssize_t w = write(fd, &t, sizeof t);
    _exit(w == (ssize_t)sizeof t ? 0 : 3);
}

/* Runs `jobs` worker processes sharing the database, threads / jobs threads each, and adds up
 * their tallies (a worker that died without reporting counts as an error). */
static void run_workers(const char *db_path, const spec *s, const places *pl, int jobs, int threads, tally *total) {
    pid_t pids[256];
    int fds[256];
    const int per = threads / jobs > 0 ? threads / jobs : 1;
    fflush(stdout);
    for (int j = 0; j < jobs; j++) {
        int fd[2];
        pids[j] = -1;
        if (pipe(fd)) continue;
        pids[j] = fork();
        if (pids[j] == 0) {
            close(fd[0]);
            worker_process(db_path, s, pl, per, fd[1]);
        }
        close(fd[1]);
        fds[j] = fd[0];
    }
    for (int j = 0; j < jobs; j++) {
        if (pids[j] < 0) {
            total->errors++;
            continue;
        }
        tally t = {0};
        ssize_t n;
        while ((n = read(fds[j], &t, sizeof t)) < 0 && errno == EINTR) {
        }
        close(fds[j]);
        while (waitpid(pids[j], NULL, 0) < 0 && errno == EINTR) {
        }
        if (n != (ssize_t)sizeof t) t.errors++;
        total->completed += t.completed, total->failed += t.failed;
        total->interrupted += t.interrupted, total->errors += t.errors;
    }
}

/* The last publication of the database (d, or a fresh handle on db_path when the workers had
 * their own), after every run ended; 0 or -1 after saying why. */
static int publish_final(db *d, const char *db_path, const char *dest) {
    char err[1024];
    db *own = NULL;
    int rc = d ? 0 : db_open(&own, db_path, 0, err, sizeof err);
    if (!rc) rc = db_publish(d ? d : own, dest, err, sizeof err);
    db_close(own);
    if (rc) fprintf(stderr, "lrpe run: %s\n", err);
    return rc ? -1 : 0;
}

/* Rank 0 (or the only process): the dry run, or the database, the claims and the training. */
static int run_spec(const run_args *a, spec *s) {
    char err[1024];
    if (a->dry_run) { /* statuses from the database when it exists ("?" when it cannot say); nothing is written */
        const char **status = calloc((size_t)s->nruns, sizeof *status);
        db *d = NULL;
        int unknown = status && access(a->db_path, F_OK) == 0 && db_open(&d, a->db_path, DB_OPEN_READONLY, err, sizeof err);
        for (int i = 0; status && d && !unknown && i < s->nruns; i++) {
            db_status st = DB_NONE;
            unknown = db_run_status(d, s->runs[i].run_id, &st, err, sizeof err) != 0;
            status[i] = st == DB_NONE ? "new" : db_status_name(st);
        }
        db_close(d);
        if (unknown) fprintf(stderr, "lrpe run: the runs' statuses are unknown (shown as ?): %s\n", err);
        for (int i = 0; status && i < s->nruns; i++)
            if (!status[i] || unknown) status[i] = unknown ? "?" : "new";
        spec_print(stdout, s, status);
        free(status);
        return 0;
    }
    db *d;
    if (db_open(&d, a->db_path, 0, err, sizeof err)) {
        fprintf(stderr, "lrpe run: %s\n", err);
        return 1;
    }
    char runs_dir[PATH_MAX];
    if (paths_beside_db(a->db_path, "-runs", a->runs_dir, runs_dir, sizeof runs_dir)) { /* after db_open made its folder */
        fprintf(stderr, "lrpe run: the folder for the checkpoints (%s) cannot be found: %s\n",
                a->runs_dir ? a->runs_dir : "beside the database", strerror(errno));
        db_close(d);
        return 2;
    }
    int done_before = prepare_runs(d, s, runs_dir, a->force);
    if (done_before < 0) {
        db_close(d);
        return 1;
    }
    int threads = threads_setup();
    const int procs = dist_size() > 1 ? dist_size() : a->jobs, per = threads / a->jobs > 0 ? threads / a->jobs : 1;
    printf("%s: %d runs (%d already completed), %d %s x %d thread%s, database %s, checkpoints in %s\n", s->name,
           s->nruns, done_before, procs, dist_size() > 1 ? "MPI ranks" : procs > 1 ? "processes" : "process", per,
           per > 1 ? "s" : "", a->db_path, runs_dir);
    catch_stop_signals();
    tally t = {0};
    const places pl = {.runs_dir = runs_dir, .publish = a->publish, .data_dir = a->data_dir};
    if (a->jobs == 1) {
        worker(d, s, &pl, threads, isatty(fileno(stdout)), &t);
    } else {
        db_close(d); /* children open their own handles */
        d = NULL;
        run_workers(a->db_path, s, &pl, a->jobs, threads, &t);
    }
    if (a->publish && publish_final(d, a->db_path, a->publish)) t.errors++;
    printf("%s: %d trained now, %d already completed, %d failed%s\n", s->name, t.completed, done_before, t.failed,
           t.interrupted ? ", interrupted (run the same command to resume)" : "");
    db_close(d);
    if (dist_why()[0]) return 1; /* the ranks lost each other: said and recorded */
    if (stop_requested && !t.errors) return 130;
    return t.errors || t.failed ? 1 : 0;
}

/* A follower rank of an MPI job: its share of every run rank 0 trains; 0, or 1 when the ranks lost
 * each other. */
static int follow(const spec *s, const char *data_dir) {
    catch_stop_signals();
    run_env env = {.experiment = s->name, .data_dir = data_dir, .threads = threads_setup(), .out = stdout, .label = "",
                   .stop = &stop_requested};
    if (run_follow(&env, s) == 0) return 0;
    fprintf(stderr, "lrpe run: rank %d of %d stops: %s\n", dist_rank(), dist_size(), dist_why());
    return 1;
}

static int cmd_run(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.overrides);
        return rc;
    }
    char err[1024];
    if (cli_data_dir("run", a.data_opt, a.data_dir, sizeof a.data_dir, NULL)) {
        free(a.overrides);
        return 2;
    }
    if (dist_init(&stop_requested, err, sizeof err)) {
        fprintf(stderr, "lrpe run: %s\n", err);
        free(a.overrides);
        return 2;
    }
    if (dist_size() > 1 && a.jobs > 1) {
        free(a.overrides);
        dist_finalize();
        return usage_error("-j N trains runs side by side in one machine's processes; under MPI the ranks train each run "
                           "together: leave -j out", NULL);
    }
    if (dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) return 1; /* rank 0 speaks for the job */
    spec s;
    rc = spec_load(&s, a.spec_path, a.overrides, a.noverrides, err, sizeof err) ? 2 : 0;
    if (rc) fprintf(stderr, "lrpe run: %s\n", err);
    free(a.overrides);
    if (!rc && a.only) rc = keep_only(&s, a.only);
    for (int i = 0; !rc && dist_size() > 1 && i < s.nruns; i++) /* every rank needs a row of each batch */
        if (cfg_int(s.runs[i].cfg, "train.batch") < dist_size()) {
            if (dist_rank() == 0) fprintf(stderr, "lrpe run: %d MPI ranks share a batch of %lld rows (variant %s): give train.batch at least %d, "
                    "or start fewer ranks\n", dist_size(), (long long)cfg_int(s.runs[i].cfg, "train.batch"), s.runs[i].variant,
                    dist_size());
            rc = 2;
        }
    const int listening = !rc && !a.dry_run; /* the followers wait for rank 0's word from here on */
    if (!rc && dist_rank() > 0) rc = a.dry_run ? 0 : follow(&s, a.data_dir);
    else if (!rc) rc = run_spec(&a, &s);
    if (listening && dist_rank() == 0 && dist_size() > 1 && !dist_why()[0]) run_followers_quit();
    dist_finalize();
    spec_free(&s);
    return rc;
}
