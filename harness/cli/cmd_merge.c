/* `lrpe merge OUT.db IN.db ...`: merges the results databases written by separate workers into
 * OUT.db (created when missing). Idempotent: merging the same file again changes nothing. Every
 * input is tried; exit 1 when any of them failed. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "db.h"

static int cmd_merge(int argc, char **argv);

/* Merges files[1..n-1] into files[0]; 0, or 1 when some input failed. */
static int merge(char **files, int n) {
    char err[1024];
    db *d;
    if (db_open(&d, files[0], 0, err, sizeof err)) {
        fprintf(stderr, "lrpe merge: %s\n", err);
        return 1;
    }
    int failed = 0;
    for (int i = 1; i < n; i++) {
        db_merge_stats s;
        if (db_merge(d, files[i], &s, err, sizeof err)) {
            fprintf(stderr, "lrpe merge: %s\n", err);
            failed = 1;
            continue;
        }
        printf("merged %s: %d new runs, %d runs updated, %lld metric rows, %lld summary rows, %lld provenance rows\n",
               files[i], s.runs_added, s.runs_updated, s.metrics, s.summary, s.provenance);
    }
    db_close(d);
    return failed;
}

const cli_command cli_merge = {"merge", "OUT.db IN.db ...", "merge databases written by separate workers (idempotent)",
                               cli_no_options, cmd_merge, 0, NULL};

/* The file names, in order. */
typedef struct merge_files {
    char **name;
    int n;
} merge_files;

/* A word (the command has no options but --help) into the merge_files ctx (cli_each). */
static int merge_word(void *ctx, const cli_option *o, char *v) {
    merge_files *m = ctx;
    if (!v[0]) return cli_usage_error("merge", "an empty word is not a database file name", NULL);
    m->name[m->n++] = v;
    return 0;
}

/* Entry point of `lrpe merge`. */
static int cmd_merge(int argc, char **argv) {
    merge_files m = {calloc((size_t)argc + 1, sizeof *m.name), 0};
    if (!m.name) return cli_usage_error("merge", "out of memory", NULL);
    int rc = cli_parse(&cli_merge, argc, argv, merge_word, &m);
    if (!rc && m.n < 2) {
        fprintf(stderr, "lrpe merge: needs an output database and at least one input (usage: lrpe merge OUT.db IN.db ...)\n");
        rc = 2;
    }
    if (!rc) rc = merge(m.name, m.n);
    free(m.name);
    return rc;
}
