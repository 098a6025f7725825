/* The spec as read, before expansion: lists of (key, value, where) and the sweep axes, and the
 * error message prefix that names where a value came from. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "spec.h"
#include "spec_internal.h"

/* "<file>:<line>:<col>: message", "argument '<arg>': message" or "<file>: message". */
int spec_fail(char *err, size_t errlen, const spec_loc *at, const char *fmt, ...) {
    char where[4200];
    if (at && at->arg) snprintf(where, sizeof where, "argument '%s'", at->arg);
    else if (at && at->line > 0) snprintf(where, sizeof where, "%s:%d:%d", at->file, at->line, at->col);
    else snprintf(where, sizeof where, "%s", at && at->file ? at->file : "spec");
    va_list ap;
    va_start(ap, fmt);
    verrf_label(err, errlen, where, fmt, ap);
    va_end(ap);
    return -1;
}

/* Grows an array to hold at least need elements of size sz; 0 or -1. */
static int grow(void **p, int *cap, int need, size_t sz) {
    if (need <= *cap) return 0;
    int cap2 = *cap ? *cap * 2 : 8;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, (size_t)cap2 * sz);
    if (!q) return -1;
    *p = q, *cap = cap2;
    return 0;
}

/* Index of key in sets, or -1. */
int spec_sets_find(const spec_sets *s, int key) {
    for (int i = 0; i < s->n; i++)
        if (s->v[i].key == key) return i;
    return -1;
}

/* Appends or replaces (key, *val); a repeated key is an error unless replace. */
int spec_sets_add(spec_sets *s, int key, cfg_value *val, const spec_loc *at, int replace, char *err, size_t errlen) {
    int i = spec_sets_find(s, key);
    if (i >= 0 && !replace) {
        cfg_value_free(val);
        return spec_fail(err, errlen, at, "duplicate key '%s' (first set at line %d, column %d)", schema_at(key)->key,
                         s->v[i].at.line, s->v[i].at.col);
    }
    if (i >= 0) {
        cfg_value_free(&s->v[i].val);
    } else {
        if (grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
            cfg_value_free(val);
            return spec_fail(err, errlen, at, "out of memory");
        }
        i = s->n++;
    }
    s->v[i] = (spec_set){.key = key, .val = *val, .at = *at};
    memset(val, 0, sizeof *val);
    return 0;
}

/* Frees every value of the list. */
void spec_sets_free(spec_sets *s) {
    for (int i = 0; i < s->n; i++) cfg_value_free(&s->v[i].val);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Index of the axis of key, or -1. */
int spec_axis_find(const spec_raw *r, int key) {
    for (int i = 0; i < r->naxes; i++)
        if (r->axes[i].key == key) return i;
    return -1;
}

/* Frees an axis's values. */
static void axis_clear(spec_axis *a) {
    for (int i = 0; i < a->n; i++) cfg_value_free(&a->vals[i]);
    free(a->vals);
    free(a->at);
    a->vals = NULL, a->at = NULL, a->n = a->cap = 0;
}

/* An empty axis for key: the existing one emptied in place, or a new last one. */
spec_axis *spec_axis_begin(spec_raw *r, int key) {
    int i = spec_axis_find(r, key);
    if (i >= 0) {
        axis_clear(&r->axes[i]);
        return &r->axes[i];
    }
    spec_axis *a = realloc(r->axes, (size_t)(r->naxes + 1) * sizeof *a);
    if (!a) return NULL;
    r->axes = a;
    a = &r->axes[r->naxes++];
    memset(a, 0, sizeof *a);
    a->key = key;
    return a;
}

/* Appends a value (taken) and where it was given. */
int spec_axis_add(spec_axis *a, cfg_value *val, const spec_loc *at) {
    if (a->n == a->cap) { /* both arrays grow together, geometrically */
        int cap = a->cap ? 2 * a->cap : 8;
        cfg_value *v = realloc(a->vals, (size_t)cap * sizeof *v);
        if (v) a->vals = v;
        spec_loc *l = v ? realloc(a->at, (size_t)cap * sizeof *l) : NULL;
        if (l) a->at = l;
        if (!v || !l) {
            cfg_value_free(val);
            return -1;
        }
        a->cap = cap;
    }
    a->vals[a->n] = *val;
    a->at[a->n++] = *at;
    memset(val, 0, sizeof *val);
    return 0;
}

/* Drops the axis of key (later axes keep their order). */
void spec_axis_remove(spec_raw *r, int key) {
    int i = spec_axis_find(r, key);
    if (i < 0) return;
    axis_clear(&r->axes[i]);
    memmove(&r->axes[i], &r->axes[i + 1], (size_t)(r->naxes - i - 1) * sizeof *r->axes);
    r->naxes--;
}

/* A seed: decimal digits, at most 2^63 - 1. */
int spec_parse_seed(const char *text, long long *out, char *err, size_t errlen) {
    char *end;
    errno = 0;
    long long v = text[0] >= '0' && text[0] <= '9' ? strtoll(text, &end, 10) : -1;
    if (v < 0 || *end || errno) {
        snprintf(err, errlen, "seeds: expected a non-negative integer, got '%.60s'", text);
        return -1;
    }
    *out = v;
    return 0;
}

/* A seed and where it was listed, sorted to find repeats. */
typedef struct seed_at {
    long long seed;
    int i;
} seed_at;

/* qsort order: by seed, then by position. */
static int by_seed(const void *a, const void *b) {
    const seed_at *x = a, *y = b;
    return x->seed != y->seed ? (x->seed < y->seed ? -1 : 1) : x->i - y->i;
}

/* The earliest repeat in seeds[n] (sorting, so n log n). */
int spec_seeds_repeat(const long long *seeds, int n, int *second) {
    seed_at *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return -1;
    for (int i = 0; i < n; i++) v[i] = (seed_at){seeds[i], i};
    qsort(v, (size_t)n, sizeof *v, by_seed);
    int found = 0;
    for (int i = 1; i < n; i++)
        if (v[i].seed == v[i - 1].seed && (!found || v[i].i < *second)) *second = v[i].i, found = 1;
    free(v);
    return found;
}

/* A string and its index, sorted to find repeats. */
typedef struct name_at {
    const char *name;
    int i;
} name_at;

/* qsort order: by name, then by position. */
static int by_name(const void *a, const void *b) {
    const name_at *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->i - y->i;
}

/* The earliest string that repeats an earlier one (sorting, so n log n). */
int spec_first_repeat(const char *const *names, int n, int *first, int *second) {
    name_at *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return -1;
    for (int i = 0; i < n; i++) v[i] = (name_at){names[i], i};
    qsort(v, (size_t)n, sizeof *v, by_name);
    int found = 0;
    for (int i = 1, run = 0; i < n; i++) { /* run: where the current run of equal strings starts */
        if (strcmp(v[i].name, v[run].name) != 0) {
            run = i;
            continue;
        }
        if (!found || v[i].i < *second) *first = v[run].i, *second = v[i].i, found = 1;
    }
    free(v);
    return found;
}

/* 0 when name may name a variant: 1..SPEC_MAX_NAME bytes, no control characters. */
int spec_check_variant_name(const char *name, char *why, size_t len) {
    size_t n = strlen(name);
    if (n > SPEC_MAX_NAME) return snprintf(why, len, "variant name longer than %d bytes (%zu)", SPEC_MAX_NAME, n), -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return snprintf(why, len, "variant name: character %zu is a control character", i + 1), -1;
    return 0;
}

/* Frees everything read. */
void spec_raw_free(spec_raw *r) {
    free(r->name);
    spec_sets_free(&r->base);
    spec_sets_free(&r->cli);
    for (int i = 0; i < r->nvariants; i++) {
        free(r->variants[i].name);
        spec_sets_free(&r->variants[i].sets);
    }
    free(r->variants);
    for (int i = 0; i < r->naxes; i++) axis_clear(&r->axes[i]);
    free(r->axes);
    free(r->seeds);
    memset(r, 0, sizeof *r);
}
