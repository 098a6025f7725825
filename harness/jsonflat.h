/* A JSON object read as a flat list of dotted keys and text values, enough for the report to look
 * at a run's config_json (the canonical config, cfg.h): {"model":{"lrpe":{"p":"dct"}}} gives
 * "model.lrpe.p" = "dct". Strings are unescaped (\uXXXX as UTF-8); numbers, true, false and null
 * keep their text; arrays keep their JSON text. Keys stay in the order of the text. */
#ifndef LRPE_JSONFLAT_H
#define LRPE_JSONFLAT_H

#include <stddef.h>

typedef struct jflat {
    int n, cap;
    char **key, **val; /* n keys and values, each malloc'd */
} jflat;

/* Parses json (an object) into *out (zeroed first). 0, or -1 with a reason in err (out freed). */
int jflat_parse(jflat *out, const char *json, char *err, size_t errlen);
/* The value of dotted key, or NULL when absent. */
const char *jflat_get(const jflat *j, const char *key);
/* Releases what jflat_parse allocated (a zeroed jflat is fine). */
void jflat_free(jflat *j);

#endif
