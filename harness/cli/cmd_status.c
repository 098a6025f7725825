/* `lrpe status [--db FILE]`: runs per experiment and state, then the reason of every failed run.
 * A running run whose process is gone (stale heartbeat, or a dead pid on this host) counts as
 * interrupted. The database is opened read-only and never created. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"

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

/* Entry point of `lrpe status`. */
int cmd_status(int argc, char **argv) {
    const char *path = DB_DEFAULT_PATH;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lrpe status: --db needs a file name (usage: lrpe status [--db FILE])\n");
                return 2;
            }
            path = argv[++i];
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            path = argv[i] + 5;
        } else {
            fprintf(stderr, "lrpe status: unexpected argument '%s' (usage: lrpe status [--db FILE])\n", argv[i]);
            return 2;
        }
    }
    if (!*path) {
        fprintf(stderr, "lrpe status: --db needs a file name (usage: lrpe status [--db FILE])\n");
        return 2;
    }
    if (access(path, F_OK) != 0) {
        printf("no runs recorded yet (%s does not exist)\n", path);
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
    db_close(d);
    if (ncounts == 0) printf("no runs recorded yet in %s\n", path);
    else print_table(counts, ncounts);
    for (int i = 0; i < nfolders; i++) /* where each started run keeps its checkpoints */
        printf("%s %s/<run id>/ (%.0f run%s)\n", i ? "            " : "\ncheckpoints:", folders[i].key, folders[i].value,
               folders[i].value == 1 ? "" : "s");
    print_failed(runs, nruns);
    free(folders);
    free(counts);
    free(runs);
    return 0;
}
