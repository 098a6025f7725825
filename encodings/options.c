/* Encoding options: one table of keys, each with its valid values in order (the value's index is
 * what the pe_options field holds), so parsing, printing and listings cannot drift apart. */
#include <stdio.h>
#include <string.h>

#include "pe_internal.h"

typedef struct opt_key {
    const char *key;
    const char *values[5]; /* NULL-terminated; index = field value */
    const char *choices;   /* the same, as one line */
    int (*get)(const pe_options *o);
    void (*set)(pe_options *o, int v);
} opt_key;

/* Getters and setters of the fields, by value index (one pair per key). */
static int get_p(const pe_options *o) { return (int)o->p; }
static void set_p(pe_options *o, int v) { o->p = (pe_pmat)v; }
static int get_theta(const pe_options *o) { return o->theta_learned; }
static void set_theta(pe_options *o, int v) { o->theta_learned = v; }
static int get_hh(const pe_options *o) { return o->householder_learned; }
static void set_hh(pe_options *o, int v) { o->householder_learned = v; }
static int get_axes(const pe_options *o) { return o->axes_split; }
static void set_axes(pe_options *o, int v) { o->axes_split = v; }

static const opt_key KEYS[] = {
    {"p", {"identity", "householder", "dct", "oddeven", NULL}, "identity, householder, dct, oddeven", get_p,
     set_p},
    {"theta", {"fixed", "learned", NULL}, "fixed, learned", get_theta, set_theta},
    {"householder", {"fixed", "learned", NULL}, "fixed, learned", get_hh, set_hh},
    {"axes", {"sum", "split", NULL}, "sum, split", get_axes, set_axes},
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* The table entry of `key`, or NULL. */
static const opt_key *find_key(const char *key) {
    for (int i = 0; key && i < NKEYS; i++)
        if (strcmp(KEYS[i].key, key) == 0) return &KEYS[i];
    return NULL;
}

/* p householder, theta fixed, householder fixed, axes sum (the paper's configuration). */
pe_options pe_options_default(void) {
    pe_options o = {.p = PE_P_HOUSEHOLDER, .theta_learned = 0, .householder_learned = 0, .axes_split = 0};
    return o;
}

/* o.key <- value; -1 with a one-line reason listing the valid keys or values. */
int pe_options_set(pe_options *o, const char *key, const char *value, char *err, size_t errlen) {
    const opt_key *k = find_key(key);
    if (!k) {
        char keys[128] = "";
        for (int i = 0; i < NKEYS; i++) {
            size_t len = strlen(keys);
            snprintf(keys + len, sizeof keys - len, "%s%s", i ? ", " : "", KEYS[i].key);
        }
        return errf(err, errlen, "unknown encoding option '%s' (valid: %s)", key ? key : "(null)", keys);
    }
    for (int v = 0; value && k->values[v]; v++) {
        if (strcmp(k->values[v], value) != 0) continue;
        k->set(o, v);
        return 0;
    }
    return errf(err, errlen, "encoding option '%s': invalid value '%s' (valid: %s)", k->key,
                  value ? value : "(null)", k->choices);
}

/* The name of key's current value in o, or NULL for an unknown key. */
const char *pe_option_value(const pe_options *o, const char *key) {
    const opt_key *k = find_key(key);
    if (!k) return NULL;
    int v = k->get(o);
    for (int i = 0; k->values[i]; i++)
        if (i == v) return k->values[i];
    return "?";
}

/* "a, b, c": the valid values of key, or NULL for an unknown key. */
const char *pe_option_choices(const char *key) {
    const opt_key *k = find_key(key);
    return k ? k->choices : NULL;
}
