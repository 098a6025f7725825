/* Fuzz target: merging a results database (db_merge) into a fresh empty lrpe database, made anew
 * for every input in the process's temporary folder so that a saved failing input reproduces on
 * its own. The input is written to a file there and merged; whatever SQLite left beside either
 * file (-wal, -shm, -journal) is removed first. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "db.h"
#include "fuzz_util.h"

/* Removes a database file and what SQLite keeps beside it. */
static void remove_db(const char *name) {
    static const char *const side[4] = {"", "-wal", "-shm", "-journal"};
    char file[256];
    for (int i = 0; i < 4; i++) {
        snprintf(file, sizeof file, "%s%s", name, side[i]);
        unlink(fuzz_tmp_path(1, file));
    }
}

/* One input: write it as in.db and merge it into a new dest.db. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    remove_db("in.db");
    remove_db("dest.db");
    const char *path = fuzz_tmp_path(0, "in.db");
    fuzz_write_file(path, data, size);
    db *dest;
    db_merge_stats stats;
    char err[2048];
    if (db_open(&dest, fuzz_tmp_path(1, "dest.db"), 0, err, sizeof err)) {
        fprintf(stderr, "fuzz_merge: %s\n", err);
        abort();
    }
    db_merge(dest, path, &stats, err, sizeof err);
    db_close(dest);
    return 0;
}
