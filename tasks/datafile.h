/* Prepared data files (data/, made by `lrpe data` or `make data`): reading them whole, SHA-256 checksums, and the
 * table of the checksums they must have (the same as scripts/data.sha256). Loaders refuse a
 * missing, truncated or corrupt file with a one-line error naming it and DATA_FIX. */
#ifndef LRPE_DATAFILE_H
#define LRPE_DATAFILE_H

#include <stddef.h>

/* The SHA-256 (64 lowercase hex digits) a prepared entry must have ("kjv.txt", "wordnet/data.noun",
 * "spam/spam-1/ *.txt" without the space), or NULL for an unknown name. */
const char *data_expected_sha256(const char *name);
/* Entry i of the table (name and SHA-256); 0 past the end. */
int data_expected_entry(int i, const char **name, const char **sha256);

/* The fix a loader names for a missing, truncated or corrupt prepared file. */
#define DATA_FIX "run `lrpe data` (`make data` in the source tree)"

/* Largest file a loader reads: byte offsets and window counts are 32-bit in the tasks. */
#define DATA_MAX_BYTES ((size_t)0x7fffffff)

/* Reads data_dir/name (at most DATA_MAX_BYTES) and checks its SHA-256 against the table; 0 (and the
 * buffer, with the SHA-256 in hex[65] when hex is not NULL), or -1 with a one-line error naming the
 * file, what is wrong and DATA_FIX. */
int data_load_verified(const char *data_dir, const char *name, char **buf, size_t *n, char hex[65], char *err,
                       size_t errlen);

#endif
