/* The safetensors file format: an 8-byte little-endian header length N, N bytes of JSON header
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * (padded with spaces to a multiple of 8 bytes), then the raw little-endian tensor data; offsets
 * are relative to the start of the data. Python tools (safetensors, or ten lines of struct + json)
 * read what this writes. Only 4-byte dtypes are supported: F32 for weights and I32 for integer
 * arrays (token ids, counters).
 *
 * The reader loads the whole file, parses the header with a small strict JSON parser and validates
 * it (tensors tile the data section exactly: in bounds, contiguous, non-overlapping, sizes agree
 * with the shapes) before anything can be looked up. Every function that can fail returns nonzero
 * and writes a one-line reason, prefixed with the file's path, to err; nothing here prints or
 * exits. */
#ifndef LRPE_SAFETENSORS_H
#define LRPE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIM 8
/* headers larger than this are refused as corrupt (the reference implementation's limit) */
#define ST_HEADER_MAX (100u * 1000u * 1000u)
/* files larger than this are refused before they are read */
#define ST_FILE_MAX ((size_t)1 << 40)

typedef enum st_dtype { ST_F32 = 0, ST_I32 = 1 } st_dtype;

/* One tensor: what the writer takes and what the reader hands out. ndim 0 is a scalar (one
 * element); data holds product(shape) little-endian 4-byte elements. */
typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIM];
    const void *data;
} st_tensor;

/* One metadata entry (both strings, as the format requires). */
typedef struct st_meta {
    const char *key, *value;
} st_meta;

/* "F32" / "I32" (or "?" for an invalid value). */
const char *st_dtype_name(st_dtype dtype);

/* Number of elements of a tensor: the product of its shape (1 for a scalar). */
size_t st_numel(const st_tensor *t);

/* Writes tensors t[n] (in this order) and metadata meta[nmeta] (may be NULL / 0) to path,
 * flushed and fsync'ed; the caller renames a temporary path for atomicity. On failure the partial
 * file is removed. Returns 0, or -1 with the reason in err. */
int st_write(const char *path, const st_tensor *t, int n, const st_meta *meta, int nmeta, char *err,
             size_t errlen);

typedef struct st_file st_file;

/* Loads and validates a whole file. Returns 0 and *out, or -1 with the reason in err. */
int st_read(st_file **out, const char *path, char *err, size_t errlen);
/* The same from a buffer of len bytes (copied); label names it in error messages. */
int st_parse(st_file **out, const void *buf, size_t len, const char *label, char *err,
             size_t errlen);
/* Frees a file and everything handed out from it (NULL is fine). */
void st_close(st_file *f);

/* Number of tensors, and tensor i in header order (data 4-byte aligned, valid until st_close). */
int st_count(const st_file *f);
const st_tensor *st_at(const st_file *f, int i);
/* The tensor with this name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
/* The tensor with this name, checked to have this dtype and shape (ndim dims); returns 0 and *out,
 * or -1 with a reason naming what is missing or different. */
int st_expect(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
              const st_tensor **out, char *err, size_t errlen);

/* The metadata value of key, or NULL when absent. */
const char *st_meta_get(const st_file *f, const char *key);
/* Number of metadata entries, and entry i in header order. */
int st_meta_count(const st_file *f);
st_meta st_meta_at(const st_file *f, int i);

#endif
