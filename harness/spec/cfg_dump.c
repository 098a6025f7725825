/* A resolved config as human-readable YAML, in table order, with the valid values as comments;
 * the text loads back as a spec with the same config id. */
#include <string.h>

#include "cfg.h"

/* 1 when text s can be written as a plain YAML scalar and reads back as the same text. */
static int plain_ok(const char *s) {
    static const char SAFE[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/";
    return s[0] && strchr(SAFE, s[0]) && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                   "0123456789_.+-/") == strlen(s);
}

/* Writes s as a double-quoted YAML scalar. */
static void quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Splits the sections of a dotted key ("model.lrpe.p" -> model, lrpe) into parts; returns the
 * number of sections (the leaf is not counted). */
static int sections(const char *key, const char *part[8], int len[8]) {
    int n = 0;
    for (const char *p = key; n < 8;) {
        int l = (int)strcspn(p, ".");
        if (!p[l]) break;
        part[n] = p, len[n] = l, n++;
        p += l + 1;
    }
    return n;
}

/* The config as nested YAML, one key a line. */
int cfg_dump(FILE *f, const cfg *c) {
    const char *prev[8] = {0};
    int prevlen[8] = {0}, nprev = 0;
    fprintf(f, "# config %s\n", cfg_id(c));
    for (int i = 0; i < schema_count(); i++) {
        const schema_key *k = schema_at(i);
        const char *part[8] = {0};
        int len[8] = {0}, np = sections(k->key, part, len), common = 0;
        while (common < np && common < nprev && len[common] == prevlen[common] &&
               strncmp(part[common], prev[common], (size_t)len[common]) == 0)
            common++;
        for (int p = common; p < np; p++) fprintf(f, "%*s%.*s:\n", 2 * p, "", len[p], part[p]);
        memcpy(prev, part, sizeof prev);
        memcpy(prevlen, len, sizeof prevlen);
        nprev = np;
        const char *leaf = np ? part[np - 1] + len[np - 1] + 1 : k->key, *val = cfg_str(c, k->key);
        int col = fprintf(f, "%*s%s: ", 2 * np, "", leaf);
        if (k->type == SK_INTS) col += fprintf(f, "[%s]", val);
        else if (k->type == SK_INT || k->type == SK_FLOAT || plain_ok(val)) col += fprintf(f, "%s", val);
        else quoted(f, val), col += (int)strlen(val) + 2;
        char choices[512], desc[512];
        schema_choices(i, choices, sizeof choices);
        fprintf(f, "%*s# %s%s%s\n", col < 34 ? 34 - col : 1, "", choices, choices[0] ? ": " : "",
                schema_describe(i, desc, sizeof desc));
    }
    return ferror(f) ? -1 : 0;
}
