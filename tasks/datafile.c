/* Prepared data files: whole-file reads, checksums (tasks/md5.c) and the checksum table. */
#include "datafile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "md5.h"
#include "task_internal.h"

/* The checksums of scripts/data.md5 (test data_checksum_table_matches_md5_file keeps them equal). */
static const char *const EXPECTED[][2] = {
    {"kjv.txt", "0442864d38d37131885626cd0cfa2a12"},
    {"sotu.txt", "7401a606ef9953fa2bbb848d0fa714fd"},
    {"wordnet/data.noun", "5be921c6e8381ec85d52c715f43f1f11"},
    {"wordnet/data.verb", "c734f82f02f69d6f6310ef79ae3c19a6"},
    {"wordnet/data.adj", "82d3db8e0670d3e0fe210f3bbe2f94d2"},
    {"wordnet/data.adv", "1d4be0b69313b44a8d259a36a766047d"},
    {"spam/easy-ham-1/*.txt", "b67dd721d35ebf914af50071262a3b17"},
    {"spam/easy-ham-2/*.txt", "235988be20f9279ff4d1664495a04aa4"},
    {"spam/hard-ham-1/*.txt", "9a0b4b29f6bb68af8f2253f4670eb707"},
    {"spam/spam-1/*.txt", "8be54e4dab22a3e837575caf64c4cce2"},
    {"spam/spam-2/*.txt", "a20b64fc1ef043528f4a351a6afa97a8"},
};
#define NEXPECTED ((int)(sizeof EXPECTED / sizeof EXPECTED[0]))

const char *data_expected_md5(const char *name) {
    for (int i = 0; i < NEXPECTED; i++)
        if (strcmp(EXPECTED[i][0], name) == 0) return EXPECTED[i][1];
    return NULL;
}

int data_expected_entry(int i, const char **name, const char **md5) {
    if (i < 0 || i >= NEXPECTED) return 0;
    *name = EXPECTED[i][0], *md5 = EXPECTED[i][1];
    return 1;
}

int data_load_verified(const char *data_dir, const char *name, char **buf, size_t *n, char hex[33], char *err,
                       size_t errlen) {
    char path[1024], got[33];
    snprintf(path, sizeof path, "%s/%s", data_dir && *data_dir ? data_dir : "data", name);
    const char *want = data_expected_md5(name);
    char why[1200];
    if (fs_read_file(path, DATA_MAX_BYTES, buf, n, why, sizeof why))
        return errf(err, errlen, "%s: run `make data`", why);
    md5_hex(*buf, *n, got);
    if (!want || strcmp(got, want) != 0) {
        free(*buf);
        *buf = NULL, *n = 0;
        return errf(err, errlen, "%s is truncated or corrupt (md5 %s, want %s): run `make data`", path, got,
                        want ? want : "?");
    }
    if (hex) memcpy(hex, got, 33);
    return 0;
}
