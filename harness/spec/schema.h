/* The experiment schema: ONE table of every config key (dotted name, type, default, valid range
 * or values, one-line description), the parsing of a key's text value into a typed value, the
 * defaults that depend on other keys, the cross-field checks, and "did you mean" suggestions.
 * Everything that reads, writes, lists or documents a config key goes through this table.
 *
 * Values are kept with their canonical text (integers as integers, floats in the shortest form
 * that reads back to the same double), which is what run identity hashes (cfg.h). */
#ifndef LRPE_SCHEMA_H
#define LRPE_SCHEMA_H

#include <stddef.h>

typedef enum schema_type {
    SK_INT,      /* integer in [lo, hi] (values, when given, lists the allowed ones) */
    SK_FLOAT,    /* finite number in [lo, hi] (open bounds per `open`) */
    SK_STR,      /* any text */
    SK_ENUM,     /* one of values ("a | b | c") */
    SK_ABSOLUTE, /* an encoding from the registry with only the EMBED hook, or none */
    SK_ENCODING, /* an encoding from the registry without the EMBED hook (none included) */
    SK_TASK,     /* a task kind from the task registry */
    SK_DATASET,  /* a dataset of some task of the registry (schema_resolve checks it fits the kind) */
    SK_PEOPT,    /* an encoding option: the key's last part is a pe_options_set key */
    SK_INTS      /* a list of up to SCHEMA_MAX_INTS distinct integers in [lo, hi], given as "a,b,c" or
                  * "[a, b, c]" (a YAML list in a spec); canonical text "a,b,c" ascending, "" empty */
} schema_type;

/* schema_key.flags: SK_LO_OPEN / SK_HI_OPEN, that bound is excluded; SK_OMIT_DEFAULT, the key is
 * left out of the canonical config (cfg.h) while at its default, so adding it kept the ids of
 * every config that does not set it. */
enum { SK_LO_OPEN = 1u, SK_HI_OPEN = 2u, SK_OMIT_DEFAULT = 4u };
#define SCHEMA_MAX_INTS 32

typedef struct schema_key {
    const char *key;    /* dotted path, e.g. "model.d_model" */
    schema_type type;
    const char *def;    /* default as text; NULL: derived from other keys (schema_derived) */
    double lo, hi;      /* SK_INT / SK_FLOAT range */
    unsigned flags;     /* SK_LO_OPEN, SK_HI_OPEN, SK_OMIT_DEFAULT */
    const char *values; /* SK_ENUM / SK_INT: the allowed values, "a | b"; NULL otherwise */
    const char *desc;   /* one line */
} schema_key;

/* A typed value: i (SK_INT), f (SK_INT and SK_FLOAT), s the canonical text (every type; owned). */
typedef struct cfg_value {
    long long i;
    double f;
    char *s;
} cfg_value;

/* The word --help shows for a type ("int", "float", "text", "enum", "encoding", "list"). */
const char *schema_type_word(schema_type t);

/* Number of keys, key i (table order: task, model, train, eval), and the index of a key or -1. */
int schema_count(void);
const schema_key *schema_at(int i);
int schema_find(const char *key);
/* 1 when some key starts with prefix + "." (a section such as "model" or "model.lrpe"). */
int schema_is_section(const char *prefix);

/* The valid values of key i as one line ("linear | softmax"; encodings from the registry), or the
 * range ("[1, 2048]", "(0, 10]") for numbers; "" for free text. Writes into buf. */
const char *schema_choices(int i, char *buf, size_t n);

/* Parses text as the value of key i (type, range, allowed values). 0 and *out filled (free with
 * cfg_value_free), or -1 with a one-line reason that starts with the key's name. */
int schema_parse(int i, const char *text, cfg_value *out, char *err, size_t errlen);
void cfg_value_free(cfg_value *v);
/* Deep copy; 0 or -1 (out of memory). */
int cfg_value_copy(cfg_value *dst, const cfg_value *src);

/* The closest known name to word: a key or section of the table, one of extra (NULL-terminated,
 * may be NULL), or a key that ends with "." word. Returns 1 and writes it into out, or 0 when
 * nothing is close. */
int schema_suggest(const char *word, const char *const *extra, char *out, size_t n);
/* The same over an explicit list of candidates (enum values); NULL when nothing is close. */
const char *schema_closest(const char *word, const char *const *cands, int ncands);

/* Resolves a config: v[schema_count()] holds the values set[k] != 0 says were given; fills every
 * other key with its default (derived ones from the task kind and dataset), then runs the
 * cross-field checks. 0, or -1 with a one-line reason and *blame = the key the reason is about
 * (to point at where it was set). Values filled before a failure must still be freed. */
int schema_resolve(cfg_value *v, const unsigned char *set, int *blame, char *err, size_t errlen);

/* How the default of key i follows from other keys ("train.steps / 10, at most 100"), for a key
 * whose table default is NULL (schema_resolve computes it); NULL for a key with a plain default. */
const char *schema_derived(int i);

/* The description of key i as --help and the dry run show it: the table's, completed from the
 * registries where it depends on them (task.dataset, task.seq_len). Writes into buf. */
const char *schema_describe(int i, char *buf, size_t n);

#endif
