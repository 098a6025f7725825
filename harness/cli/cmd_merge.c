/* `lrpe merge OUT.db IN.db ...`: merges the results databases written by separate workers into
 * OUT.db (created when missing). Idempotent: merging the same file again changes nothing. Every
 * input is tried; exit 1 when any of them failed. */
#include <stdio.h>

#include "cli.h"
#include "db.h"

/* Entry point of `lrpe merge`. */
int cmd_merge(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "lrpe merge: needs an output database and at least one input (usage: lrpe merge OUT.db IN.db ...)\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' || !argv[i][0]) {
            fprintf(stderr, "lrpe merge: unexpected argument '%s' (usage: lrpe merge OUT.db IN.db ...)\n", argv[i]);
            return 2;
        }
    char err[1024];
    db *d;
    if (db_open(&d, argv[1], 0, err, sizeof err)) {
        fprintf(stderr, "lrpe merge: %s\n", err);
        return 1;
    }
    int failed = 0;
    for (int i = 2; i < argc; i++) {
        db_merge_stats s;
        if (db_merge(d, argv[i], &s, err, sizeof err)) {
            fprintf(stderr, "lrpe merge: %s\n", err);
            failed = 1;
            continue;
        }
        printf("merged %s: %d new runs, %d runs updated, %lld metric rows, %lld summary rows, %lld provenance rows\n",
               argv[i], s.runs_added, s.runs_updated, s.metrics, s.summary, s.provenance);
    }
    db_close(d);
    return failed;
}
