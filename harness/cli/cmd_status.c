/* `lrpe status [--db FILE]`: runs per experiment and state, then the reason of every failed run.
 * A running run whose process is gone (stale heartbeat, or a dead pid on this host) counts as
 * interrupted. The database is opened read-only and never created. When `lrpe submit` sent runs
 * to Slurm, also the shards its tasks published (how many, in which state, which are not merged
 * yet, which failed and why) and each submission's jobs still in Slurm's queue. */
#include <dirent.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "paths.h"

/* The columns of the table, in the order shown. */
static const db_status shown[] = {DB_COMPLETED, DB_RUNNING, DB_FAILED, DB_INTERRUPTED, DB_PENDING};
#define NSHOWN (int)(sizeof shown / sizeof shown[0])

/* Prints one table row: name, the counts in `shown` order, their total. */
static void print_row(const char *name, int width, const int count[DB_NSTATUS]) {
    int total = 0;
    printf("%-*s", width, name);
    for (int k = 0; k < NSHOWN; k++) {
        printf("  %*d", (int)strlen(db_status_name(shown[k])), count[shown[k]]);
        total += count[shown[k]];
    }
    printf("  %5d\n", total);
}

/* The experiments x states table. */
static void print_table(const db_status_count *c, int n) {
    int width = (int)strlen("experiment"), all[DB_NSTATUS] = {0};
    for (int i = 0; i < n; i++) {
        int w = c[i].experiment ? (int)strlen(c[i].experiment) : 1;
        if (w > width) width = w;
    }
    printf("%-*s", width, "experiment");
    for (int k = 0; k < NSHOWN; k++) printf("  %s", db_status_name(shown[k]));
    printf("  total\n");
    for (int i = 0; i < n; i++) {
        print_row(c[i].experiment ? c[i].experiment : "?", width, c[i].count);
        for (int s = 0; s < DB_NSTATUS; s++) all[s] += c[i].count[s];
    }
    if (n > 1) print_row("(all)", width, all);
}

/* Lists failed runs with their one-line errors. */
static void print_failed(const db_run *r, int n) {
    int header = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].status != DB_FAILED) continue;
        if (!header) printf("\nfailed runs:\n");
        header = 1;
        printf("  %s  %s  seed %lld  %s: %s\n", r[i].experiment ? r[i].experiment : "?",
               r[i].variant ? r[i].variant : "-", r[i].seed, r[i].run_id, r[i].error ? r[i].error : "(no reason recorded)");
    }
}

/* The shards beside the database (d: the database, or NULL when it does not exist yet): their runs
 * per state, how many the database does not have yet (newer by db_merge's rule), and the failed
 * ones among those with their reasons. */
static void print_shards(db *d, const char *db_path) {
    char dir[PATH_MAX], path[PATH_MAX + 300], err[1024];
    DIR *dh = paths_beside_db(db_path, "-shards", NULL, dir, sizeof dir) ? NULL : opendir(dir);
    if (!dh) return;
    int count[DB_NSTATUS] = {0}, runs = 0, newer = 0, unreadable = 0;
    char *failed = NULL;
    size_t failed_len = 0;
    FILE *fl = open_memstream(&failed, &failed_len);
    for (struct dirent *e; (e = readdir(dh));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".db") || strstr(e->d_name, ".tmp.")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        db *shard;
        db_run *all = NULL, *fresh = NULL;
        int n = 0, k = 0;
        int rc = db_open(&shard, path, DB_OPEN_READONLY, err, sizeof err);
        if (!rc) rc = db_runs_list(shard, NULL, DB_STALE_S, &all, &n, err, sizeof err);
        db_close(shard);
        if (!rc && d) rc = db_runs_newer(d, path, &fresh, &k, err, sizeof err);
        if (rc) {
            fprintf(stderr, "lrpe status: %s\n", err);
            unreadable++;
        }
        for (int i = 0; !rc && i < n; i++) count[all[i].dead ? DB_INTERRUPTED : all[i].status]++, runs++;
        const db_run *nw = d ? fresh : all;
        for (int i = 0; !rc && i < (d ? k : n); i++) {
            newer++;
            if (nw[i].status == DB_FAILED && fl)
                fprintf(fl, "  %s  %s  seed %lld  %s: %s\n", nw[i].experiment, nw[i].variant ? nw[i].variant : "-",
                        nw[i].seed, nw[i].run_id, nw[i].error ? nw[i].error : "(no reason recorded)");
        }
        free(all);
        free(fresh);
    }
    closedir(dh);
    if (fl) fclose(fl);
    if (runs || unreadable) {
        printf("\nshards (%s, published by Slurm array tasks): %d run%s:", dir, runs, runs == 1 ? "" : "s");
        for (int k = 0; k < NSHOWN; k++)
            if (count[shown[k]]) printf(" %d %s", count[shown[k]], db_status_name(shown[k]));
        printf("; %d not merged into %s yet%s\n", newer, db_path,
               newer ? " (the merge job, or `lrpe merge DB SHARDS/*.db`, brings them in)" : "");
        if (unreadable) printf("  %d shard%s could not be read (above)\n", unreadable, unreadable == 1 ? "" : "s");
        if (failed && failed[0]) printf("failed runs in shards (not merged yet):\n%s", failed);
    }
    free(failed);
}

/* Each submission of `lrpe submit` into this database whose jobs Slurm still holds: the jobs and
 * the states of their tasks, as squeue shows them. */
static void print_submissions(const char *db_path) {
    char dir[PATH_MAX], pattern[PATH_MAX + 40], line[256], cmd[1024];
    glob_t g;
    if (paths_beside_db(db_path, "-slurm", NULL, dir, sizeof dir)) return;
    snprintf(pattern, sizeof pattern, "%s/*/*/submitted.txt", dir);
    if (glob(pattern, 0, NULL, &g) != 0) return;
    int header = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        char ids[200] = "";
        size_t k = 0;
        const long self = getenv("SLURM_JOB_ID") ? atol(getenv("SLURM_JOB_ID")) : 0; /* the merge job's own status */
        while (f && fgets(line, sizeof line, f)) {
            long id = strtol(line, NULL, 10);
            if (id > 0 && id != self && k + 24 < sizeof ids)
                k += (size_t)snprintf(ids + k, sizeof ids - k, "%s%ld", k ? "," : "", id);
        }
        if (f) fclose(f);
        if (!k) continue;
        snprintf(cmd, sizeof cmd, "squeue -h -r -o %%T -j %s 2>/dev/null | sort | uniq -c", ids);
        FILE *q = popen(cmd, "r");
        char states[512] = "";
        size_t m = 0;
        int count;
        char state[64];
        while (q && fgets(line, sizeof line, q) && sscanf(line, "%d %63s", &count, state) == 2)
            m += (size_t)snprintf(states + m, m < sizeof states ? sizeof states - m : 0, "%s%d %s", m ? ", " : "", count, state);
        if (q) pclose(q);
        if (!states[0]) continue; /* finished: its results are in the shards and the database */
        *strrchr(g.gl_pathv[i], '/') = 0;
        if (!header) printf("\nsubmissions still in Slurm's queue:\n");
        header = 1;
        printf("  %s: jobs %s: %s\n", g.gl_pathv[i] + strlen(dir) + 1, ids, states);
    }
    globfree(&g);
}

static int cmd_status(int argc, char **argv);

static const cli_option status_options[] = {
    {"db", 0, 1, "FILE", "the results database (default " DB_DEFAULT_PATH "); read-only, never created"},
    {NULL, 0, 0, NULL, NULL},
};

const cli_command cli_status = {"status", "", "runs per experiment and state, and why failed runs failed",
                                status_options, cmd_status, 0, NULL};

/* --db FILE into *(const char **)ctx (cli_each: the command's only option, and it takes no words). */
static int status_option(void *ctx, const cli_option *o, char *v) {
    if (cli_is(o, "db")) *(const char **)ctx = v;
    return 0;
}

/* Entry point of `lrpe status`. */
static int cmd_status(int argc, char **argv) {
    const char *path = DB_DEFAULT_PATH;
    int rc = cli_parse(&cli_status, argc, argv, status_option, &path);
    if (rc) return rc;
    if (access(path, F_OK) != 0) {
        printf("no runs recorded yet (%s does not exist)\n", path);
        print_shards(NULL, path);
        print_submissions(path);
        return 0;
    }
    char err[1024];
    db *d;
    db_status_count *counts = NULL;
    db_run *runs = NULL;
    int ncounts = 0, nruns = 0;
    db_value *folders = NULL;
    int nfolders = 0;
    if (db_open(&d, path, DB_OPEN_READONLY, err, sizeof err) ||
        db_status_counts(d, DB_STALE_S, &counts, &ncounts, err, sizeof err) ||
        db_runs_list(d, NULL, DB_STALE_S, &runs, &nruns, err, sizeof err) ||
        db_provenance_tally(d, "runs_dir", &folders, &nfolders, err, sizeof err)) {
        fprintf(stderr, "lrpe status: %s\n", err);
        free(counts);
        free(runs);
        db_close(d);
        return 1;
    }
    if (ncounts == 0) printf("no runs recorded yet in %s\n", path);
    else print_table(counts, ncounts);
    for (int i = 0; i < nfolders; i++) /* where each started run keeps its checkpoints */
        printf("%s %s/<run id>/ (%.0f run%s)\n", i ? "            " : "\ncheckpoints:", folders[i].key, folders[i].value,
               folders[i].value == 1 ? "" : "s");
    print_failed(runs, nruns);
    print_shards(d, path);
    print_submissions(path);
    db_close(d);
    free(folders);
    free(counts);
    free(runs);
    return 0;
}
