/* Prepared data files: whole-file reads, SHA-256 checksums (util/sha256.c) and the checksum table. */
#include "datafile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "sha256.h"
#include "task_internal.h"

/* The SHA-256 checksums of scripts/data.sha256 (test data_checksum_table_matches_sha256_file keeps them
 * equal). */
static const char *const EXPECTED[][2] = {
    {"kjv.txt", "b5c4940bcfeee072c0935b5200d0f9d88a00a0199cb0961d16133458fcdfae5d"},
    {"sotu.txt", "805ccd2b2645318eb01caa3d4a0d374bee2544c1d5e48d2c66f8feaf7ae25790"},
    {"wordnet/data.noun", "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2"},
    {"wordnet/data.verb", "adcf43e35b581e8036d8b5a52d63d9cd3d3b4870b2720d3c03c799df44777bc2"},
    {"wordnet/data.adj", "c89120dfc1f046ddff4a631bf9b7e9fa1a36b5e86565a23bf82dbe14f30b88a7"},
    {"wordnet/data.adv", "444a63bf3955080ab7524f5079cfc07ff9bc682cb98bdb1db73b0fb9829f1139"},
    {"spam/easy-ham-1/*.txt", "8fc479d5467a031dae12c964010e9b8e25a878f158d2e53877e2bc6ebeca0629"},
    {"spam/easy-ham-2/*.txt", "ede199d7a1e513730177ad609a6021564b77122192e0c2c0d9cdacdf78737318"},
    {"spam/hard-ham-1/*.txt", "9beb9f4f1ddf087aadfcbae503d64e892b12dc348da00e6f229020fbbbd0c9da"},
    {"spam/spam-1/*.txt", "d856f7e5d50f5a24a56a28c8aff4717c0345c5fd2b9dd23c8724a5e2080a9a3f"},
    {"spam/spam-2/*.txt", "9081604510204fe802f1050d66020cf0de7ef7333829abb90ad55a5402f9ef4b"},
};
#define NEXPECTED ((int)(sizeof EXPECTED / sizeof EXPECTED[0]))

const char *data_expected_sha256(const char *name) {
    for (int i = 0; i < NEXPECTED; i++)
        if (strcmp(EXPECTED[i][0], name) == 0) return EXPECTED[i][1];
    return NULL;
}

int data_expected_entry(int i, const char **name, const char **sha256) {
    if (i < 0 || i >= NEXPECTED) return 0;
    *name = EXPECTED[i][0], *sha256 = EXPECTED[i][1];
    return 1;
}

int data_load_verified(const char *data_dir, const char *name, char **buf, size_t *n, char hex[65], char *err,
                       size_t errlen) {
    char path[1024], got[65];
    snprintf(path, sizeof path, "%s/%s", data_dir && *data_dir ? data_dir : "data", name);
    const char *want = data_expected_sha256(name);
    char why[1200];
    if (fs_read_file(path, DATA_MAX_BYTES, buf, n, why, sizeof why))
        return errf(err, errlen, "%s: " DATA_FIX, why);
    sha256_hex(*buf, *n, got, 64);
    if (!want || strcmp(got, want) != 0) {
        free(*buf);
        *buf = NULL, *n = 0;
        return errf(err, errlen, "%s is truncated or corrupt (sha256 %s, want %s): " DATA_FIX, path, got,
                        want ? want : "?");
    }
    if (hex) memcpy(hex, got, 65);
    return 0;
}
