/* The parsers of the tasks' data files, exposed so they can run on any bytes: the loaders of
 * imgcls.c and textcls.c call them on the real files, the fuzz targets (fuzz/) on their inputs. */
#ifndef LRPE_TASK_PARSE_H
#define LRPE_TASK_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- imgcls: gzipped IDX files */

/* What one IDX file must hold: IDX magic (0x803 images of 28x28, 0x801 labels), item count and
 * the SHA-256 of its uncompressed bytes (64 lowercase hex digits; NULL: not checked). name is the
 * file's name in the data folder. */
typedef struct imgcls_idx {
    const char *name;
    uint32_t magic;
    int n;
    const char *sha256;
} imgcls_idx;

/* The four Fashion-MNIST files: train images, train labels, t10k images, t10k labels. */
extern const imgcls_idx IMGCLS_FILES[4];

/* Reads the file at path (gzip, or raw bytes: zlib reads both) and checks it against want: exact
 * uncompressed size, magic, dimensions, SHA-256 (skipped when want->sha256 is NULL; the real files
 * always have one) and labels < 10. Returns 0 and the uncompressed bytes, headers included, in *out
 * (malloc'd), or -1 with "imgcls: <path> <what is wrong>; <fix>" in err. */
int imgcls_read_idx(const char *path, const imgcls_idx *want, uint8_t **out, char *err, size_t errlen);

/* ---------------------------------------------------------------- textcls: WordNet, mail */

/* Receives one example (text[len] points into the parsed buffer); 0, or -1 when out of memory. */
typedef int (*textcls_add_fn)(void *ctx, const char *text, int len, int label);

/* Parses one WordNet data file held in buf[n] (path names it in messages): licence lines (two
 * leading spaces) and empty lines are skipped, every other line must be a synset line
 * "offset lex_filenum ... | gloss" and gives add(gloss without trailing blanks, lex_filenum).
 * Returns 0, or -1 with a one-line reason in err. */
int textcls_parse_wordnet(const char *path, const char *buf, size_t n, textcls_add_fn add, void *ctx, char *err,
                          size_t errlen);

/* The body of the mail message text[n]: what follows its first blank line ("\n\n" or "\r\n\r\n",
 * whichever comes first), or the empty tail when there is none. Returns the start, *len bytes. */
const char *textcls_mail_body(const char *text, size_t n, size_t *len);

#endif
