/* What the fuzz targets share: a private temporary folder per process (for parsers that read
 * files) and writing an input into it. */
#ifndef LRPE_FUZZ_UTIL_H
#define LRPE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The process's temporary folder: created on first use under $TMPDIR (fuzz/run.sh points it at
 * its own scratch folder), else /dev/shm, else /tmp; removed with its files at exit. */
const char *fuzz_tmpdir(void);

/* The path of name inside fuzz_tmpdir(), in a static buffer per slot (0..3). */
const char *fuzz_tmp_path(int slot, const char *name);

/* Writes data[size] to path (replacing it); aborts when it cannot, since a target that cannot write
 * its input tests nothing. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);

#endif
