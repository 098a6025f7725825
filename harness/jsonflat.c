/* Flattening of a JSON object into dotted keys (see jsonflat.h): a small recursive-descent reader
 * that keeps only what the report needs. */
#include "jsonflat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jreader {
    const char *s; /* the text */
    size_t i;      /* read position */
    jflat *out;
    char *err;
    size_t errlen;
    int failed;
} jreader;

/* Records the first error (with the offset) and returns -1. */
static int jfail(jreader *r, const char *what) {
    if (!r->failed) snprintf(r->err, r->errlen, "config JSON: %s at offset %zu", what, r->i);
    r->failed = 1;
    return -1;
}

/* Skips JSON white space. */
static void skip_ws(jreader *r) {
    while (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r') r->i++;
}

/* A growing byte buffer. */
typedef struct jbuf {
    char *p;
    size_t n, cap;
} jbuf;

/* Appends len bytes of s; -1 when out of memory. */
static int jbuf_add(jbuf *b, const char *s, size_t len) {
    if (b->n + len + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 64;
        while (c < b->n + len + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) return -1;
        b->p = q, b->cap = c;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
    return 0;
}

/* Appends code point cp as UTF-8. */
static int jbuf_utf8(jbuf *b, unsigned cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F)), u[2] = (char)(0x80 | (cp >> 6 & 0x3F)),
        u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    return jbuf_add(b, u, n);
}

/* Four hex digits at s into *cp; -1 when they are not hex. */
static int hex4(const char *s, unsigned *cp) {
    *cp = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) return -1;
        *cp = *cp << 4 | (unsigned)v;
    }
    return 0;
}

/* Reads a string (at its opening quote) into a new malloc'd text *out. */
static int read_string(jreader *r, char **out) {
    jbuf b = {0};
    r->i++; /* the quote */
    for (;;) {
        char c = r->s[r->i];
        if (!c) return free(b.p), jfail(r, "unterminated string");
        if (c == '"') break;
        int bad = 0;
        if (c != '\\') {
            size_t run = strcspn(r->s + r->i, "\"\\");
            bad = jbuf_add(&b, r->s + r->i, run);
            r->i += run;
        } else {
            char e = r->s[r->i + 1];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char repl[] = "\"\\/\b\f\n\r\t";
                bad = jbuf_add(&b, &repl[simple - "\"\\/bfnrt"], 1);
                r->i += 2;
            } else if (e == 'u') {
                unsigned cp;
                if (hex4(r->s + r->i + 2, &cp)) return free(b.p), jfail(r, "bad \\u escape");
                r->i += 6;
                unsigned lo;
                if (cp >= 0xD800 && cp < 0xDC00 && r->s[r->i] == '\\' && r->s[r->i + 1] == 'u' &&
                    !hex4(r->s + r->i + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    r->i += 6;
                }
                bad = jbuf_utf8(&b, cp);
            } else {
                return free(b.p), jfail(r, "bad escape");
            }
        }
        if (bad) return free(b.p), jfail(r, "out of memory");
    }
    r->i++;
    if (!b.p && jbuf_add(&b, "", 0)) return jfail(r, "out of memory");
    *out = b.p;
    return 0;
}

/* Adds (key, val) to the output, taking both. */
static int add_pair(jreader *r, char *key, char *val) {
    jflat *j = r->out;
    if (j->n == j->cap) {
        int c = j->cap ? j->cap * 2 : 32;
        char **k = realloc(j->key, (size_t)c * sizeof *k);
        if (k) j->key = k;
        char **v = k ? realloc(j->val, (size_t)c * sizeof *v) : NULL;
        if (v) j->val = v;
        if (!k || !v) return free(key), free(val), jfail(r, "out of memory");
        j->cap = c;
    }
    j->key[j->n] = key, j->val[j->n] = val, j->n++;
    return 0;
}

/* Skips one value of any kind (for arrays: their text is kept by the caller). */
static int skip_value(jreader *r, int depth) {
    skip_ws(r);
    char c = r->s[r->i];
    if (depth > 64) return jfail(r, "nested too deeply");
    if (c == '"') {
        char *s;
        if (read_string(r, &s)) return -1;
        free(s);
        return 0;
    }
    if (c == '[' || c == '{') {
        char close = c == '[' ? ']' : '}';
        r->i++;
        skip_ws(r);
        if (r->s[r->i] == close) return r->i++, 0;
        for (;;) {
            if (c == '{') {
                if (r->s[r->i] != '"' || skip_value(r, depth + 1)) return jfail(r, "expected a key");
                skip_ws(r);
                if (r->s[r->i++] != ':') return jfail(r, "expected ':'");
            }
            if (skip_value(r, depth + 1)) return -1;
            skip_ws(r);
            if (r->s[r->i] == ',') {
                r->i++;
                skip_ws(r);
                continue;
            }
            if (r->s[r->i] == close) return r->i++, 0;
            return jfail(r, "expected ',' or a closing bracket");
        }
    }
    size_t run = strcspn(r->s + r->i, ",}] \t\r\n");
    if (!run) return jfail(r, "expected a value");
    r->i += run;
    return 0;
}

/* Reads the value at the position as key prefix (NULL at the top); objects recurse. */
static int read_value(jreader *r, const char *prefix, int depth) {
    skip_ws(r);
    char c = r->s[r->i];
    if (c == '{') {
        if (depth > 64) return jfail(r, "nested too deeply");
        r->i++;
        skip_ws(r);
        if (r->s[r->i] == '}') return r->i++, 0;
        for (;;) {
            char *k;
            if (r->s[r->i] != '"') return jfail(r, "expected a key");
            if (read_string(r, &k)) return -1;
            size_t plen = prefix ? strlen(prefix) + 1 : 0;
            char *full = malloc(plen + strlen(k) + 1);
            if (!full) return free(k), jfail(r, "out of memory");
            sprintf(full, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", k);
            free(k);
            skip_ws(r);
            int bad = r->s[r->i] != ':' ? jfail(r, "expected ':'") : (r->i++, read_value(r, full, depth + 1));
            free(full);
            if (bad) return -1;
            skip_ws(r);
            if (r->s[r->i] == ',') {
                r->i++;
                skip_ws(r);
                continue;
            }
            if (r->s[r->i] == '}') return r->i++, 0;
            return jfail(r, "expected ',' or '}'");
        }
    }
    if (!prefix) return jfail(r, "expected an object");
    char *val;
    if (c == '"') {
        if (read_string(r, &val)) return -1;
    } else {
        size_t start = r->i;
        if (skip_value(r, depth)) return -1;
        if (!(val = malloc(r->i - start + 1))) return jfail(r, "out of memory");
        memcpy(val, r->s + start, r->i - start);
        val[r->i - start] = 0;
    }
    char *key = strdup(prefix);
    if (!key) return free(val), jfail(r, "out of memory");
    return add_pair(r, key, val);
}

/* Parses a whole object. */
int jflat_parse(jflat *out, const char *json, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    jreader r = {.s = json ? json : "", .out = out, .err = err, .errlen = errlen};
    if (read_value(&r, NULL, 0) == 0) {
        skip_ws(&r);
        if (!r.s[r.i]) return 0;
        jfail(&r, "text after the object");
    }
    jflat_free(out);
    return -1;
}

/* Linear lookup (configs have ~40 keys). */
const char *jflat_get(const jflat *j, const char *key) {
    for (int i = 0; i < j->n; i++)
        if (strcmp(j->key[i], key) == 0) return j->val[i];
    return NULL;
}

/* Frees keys, values and the arrays. */
void jflat_free(jflat *j) {
    for (int i = 0; i < j->n; i++) free(j->key[i]), free(j->val[i]);
    free(j->key);
    free(j->val);
    memset(j, 0, sizeof *j);
}
