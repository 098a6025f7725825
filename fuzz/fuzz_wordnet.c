/* Fuzz target: the WordNet data-file parser of textcls (textcls_parse_wordnet) on the input as
 * one file; every example it hands out must lie inside the input and have a class in [0, 45). */
#include <stdlib.h>
#include <string.h>

#include "task_parse.h"

typedef struct bounds {
    const char *lo, *hi;
    long examples;
} bounds;

/* textcls_add_fn: checks the example and counts it. */
static int check_example(void *ctx, const char *text, int len, int label) {
    bounds *b = ctx;
    if (len < 0 || text < b->lo || text + len > b->hi || label < 0 || label >= 45) abort();
    if (len && memchr(text, '\n', (size_t)len)) abort(); /* a gloss never spans lines */
    b->examples++;
    return 0;
}

/* One input: parse it (from a copy of exactly its size, so over-reads are caught). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    bounds b = {buf, buf + size, 0};
    char err[1200];
    textcls_parse_wordnet("fuzz/data.noun", buf, size, check_example, &b, err, sizeof err);
    free(buf);
    return 0;
}
