/* What the spec files share: a spec as read (before expansion), with where each value came from
 * for error messages. Not included outside harness/spec*.c. */
#ifndef LRPE_SPEC_INTERNAL_H
#define LRPE_SPEC_INTERNAL_H

#include <stddef.h>

#include "schema.h"

/* Where a value was given: file:line:col (1-based) or a command-line argument. */
typedef struct spec_loc {
    const char *file;
    int line, col;   /* 0: the file as a whole */
    const char *arg; /* the argument, for overrides */
} spec_loc;

typedef struct spec_set {
    int key; /* schema index */
    cfg_value val;
    spec_loc at;
} spec_set;

typedef struct spec_sets {
    spec_set *v;
    int n, cap;
} spec_sets;

typedef struct spec_axis {
    int key;
    int n, cap;
    cfg_value *vals;
    spec_loc *at; /* per value */
} spec_axis;

typedef struct spec_variant {
    char *name;
    spec_loc at; /* its map (or its name) */
    spec_sets sets;
} spec_variant;

typedef struct spec_raw {
    const char *file; /* for messages */
    char *name;
    spec_sets base, cli;
    spec_variant *variants;
    int nvariants;
    spec_axis *axes;
    int naxes;
    long long *seeds;
    int nseeds;
} spec_raw;

/* Writes "<where>: <message>" into err; returns -1. */
int spec_fail(char *err, size_t errlen, const spec_loc *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends (key, *val, at) to sets, taking *val. replace: an earlier value of the key is replaced;
 * otherwise it is an error ("duplicate key"). 0 or -1. */
int spec_sets_add(spec_sets *s, int key, cfg_value *val, const spec_loc *at, int replace, char *err, size_t errlen);
void spec_sets_free(spec_sets *s);
/* Index of key in sets, or -1. */
int spec_sets_find(const spec_sets *s, int key);
/* Index of the axis of key, or -1. */
int spec_axis_find(const spec_raw *r, int key);
/* Adds an empty axis for key (or empties the existing one); returns it, NULL when out of memory. */
spec_axis *spec_axis_begin(spec_raw *r, int key);
/* Appends a value to an axis, taking *val; 0 or -1. */
int spec_axis_add(spec_axis *a, cfg_value *val, const spec_loc *at);
/* Removes the axis of key, if any. */
void spec_axis_remove(spec_raw *r, int key);
/* Parses a seed (a non-negative integer); 0 or -1 with a reason naming the text. */
int spec_parse_seed(const char *text, long long *out, char *err, size_t errlen);
/* 1 with *second = the index of the earliest seed that repeats an earlier one, 0 when the seeds are
 * distinct, -1 when out of memory. n log n. */
int spec_seeds_repeat(const long long *seeds, int n, int *second);
/* 1 with the index of the earliest of names[n] that repeats an earlier one (*second) and of that
 * earlier one (*first), 0 when they are distinct, -1 when out of memory. n log n. */
int spec_first_repeat(const char *const *names, int n, int *first, int *second);
/* 0 when name may name a variant (1..SPEC_MAX_NAME bytes, no control characters), else -1 with why. */
int spec_check_variant_name(const char *name, char *why, size_t len);
void spec_raw_free(spec_raw *r);

/* Reads the YAML text (len bytes; messages name r->file) into r (spec_yaml.c) and the overrides
 * (spec_args.c); 0 or -1. */
int spec_read_yaml(spec_raw *r, const char *text, size_t len, char *err, size_t errlen);
int spec_read_args(spec_raw *r, char *const *args, int n, char *err, size_t errlen);

#endif
