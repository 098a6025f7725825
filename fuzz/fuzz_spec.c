/* Fuzz target: the YAML spec loader, the key=value overrides and the dry-run printer.
 * Input: YAML text, optionally followed by the separator line "#--args" and one override per line
 * (at most MAX_OVERRIDES). A spec that loads is checked (check_spec) and printed to /dev/null
 * (spec_print). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

#define SEPARATOR "\n#--args\n"
#define MAX_OVERRIDES 16

/* Splits the text after the separator into at most MAX_OVERRIDES NUL-terminated lines (in place). */
static int split_overrides(char *args, char *const end, char **out) {
    int n = 0;
    while (args < end && n < MAX_OVERRIDES) {
        char *nl = memchr(args, '\n', (size_t)(end - args));
        if (!nl) nl = end;
        *nl = 0;
        out[n++] = args;
        args = nl + 1;
    }
    return n;
}

/* qsort order of run ids. */
static int by_id(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Aborts unless a loaded spec keeps its promises: runs = configs x seeds (at most SPEC_MAX_RUNS),
 * each with a config, a variant and a distinct run id of 32 hex digits. */
static void check_spec(const spec *s) {
    if (s->nruns < 0 || s->nruns > SPEC_MAX_RUNS || s->nruns != s->nconfigs * s->nseeds) abort();
    const char **ids = malloc((size_t)s->nruns * sizeof *ids);
    if (!ids) abort();
    for (int i = 0; i < s->nruns; i++) {
        const spec_run *r = &s->runs[i];
        if (!r->cfg || !r->variant || !r->config_id || strlen(r->run_id) != CFG_ID_LEN ||
            strspn(r->run_id, "0123456789abcdef") != CFG_ID_LEN)
            abort();
        ids[i] = r->run_id;
    }
    qsort(ids, (size_t)s->nruns, sizeof *ids, by_id);
    for (int i = 1; i < s->nruns; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) abort();
    free(ids);
}

/* One input: load, check and print when loaded, free. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *devnull;
    if (!devnull && !(devnull = fopen("/dev/null", "w"))) abort();
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    char *overrides[MAX_OVERRIDES];
    size_t yaml_len = size;
    int n = 0;
    char *sep = memmem(text, size, SEPARATOR, strlen(SEPARATOR));
    if (sep) {
        yaml_len = (size_t)(sep - text);
        n = split_overrides(sep + strlen(SEPARATOR), text + size, overrides);
    }
    /* the YAML in a buffer of exactly its length, so reading past len is caught */
    char *yaml = malloc(yaml_len ? yaml_len : 1);
    if (!yaml) abort();
    memcpy(yaml, text, yaml_len);
    spec s;
    char err[1024];
    if (spec_load_text(&s, "fuzz.yaml", yaml, yaml_len, overrides, n, err, sizeof err) == 0) {
        check_spec(&s);
        spec_print(devnull, &s, NULL);
    }
    spec_free(&s);
    free(yaml);
    free(text);
    return 0;
}
