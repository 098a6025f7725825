/* The resolved config object: values by key, the canonical JSON and the ids. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "sha256.h"

struct cfg {
    cfg_value *v; /* [schema_count()] */
    unsigned char *given; /* [schema_count()]: which values were given (cfg_note_given); NULL: not known */
    char *json;
    char id[CFG_ID_LEN + 1];
};

/* A growing string; on allocation failure it stays failed (ok = 0). */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int ok;
} strbuf;

/* Appends n bytes. */
static void sb_add(strbuf *b, const char *p, size_t n) {
    if (!b->ok) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->ok = 0;
            return;
        }
        b->s = s, b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

/* Appends a C string. */
static void sb_str(strbuf *b, const char *p) { sb_add(b, p, strlen(p)); }

/* Appends s as a JSON string (quotes, backslash and control characters escaped). */
static void sb_json_string(strbuf *b, const char *s, size_t n) {
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            sb_add(b, e, 2);
        } else if (ch < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", ch);
            sb_str(b, e);
        } else {
            sb_add(b, (const char *)&s[i], 1);
        }
    }
    sb_add(b, "\"", 1);
}

/* Compares dotted keys part by part ("a.b" < "a.b.c" < "a.bc"). */
static int cmp_dotted(const char *a, const char *b) {
    for (;;) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int c = strncmp(a, b, la < lb ? la : lb);
        if (c) return c;
        if (la != lb) return la < lb ? -1 : 1;
        a += la, b += lb;
        if (!*a || !*b) return (*a != 0) - (*b != 0);
        a++, b++;
    }
}

/* qsort comparator of key indices by dotted name. */
static int by_key(const void *x, const void *y) {
    return cmp_dotted(schema_at(*(const int *)x)->key, schema_at(*(const int *)y)->key);
}

/* Splits a dotted key into up to 8 parts (start, length); returns the count. */
static int split_key(const char *key, const char *part[8], size_t len[8]) {
    int n = 0;
    for (const char *p = key; n < 8; p += len[n - 1] + 1) {
        part[n] = p;
        len[n] = strcspn(p, ".");
        n++;
        if (!p[len[n - 1]]) break;
    }
    return n;
}

/* The canonical JSON of values v (see cfg.h); NULL when out of memory. */
static char *canonical_json(const cfg_value *v) {
    int n = schema_count();
    int *order = malloc((size_t)n * sizeof *order);
    if (!order) return NULL;
    for (int i = 0; i < n; i++) order[i] = i;
    qsort(order, (size_t)n, sizeof *order, by_key);
    strbuf b = {.ok = 1};
    sb_str(&b, "{");
    const char *prev[8] = {0};
    size_t prevlen[8] = {0};
    int depth = 0, written = 0; /* objects open below the root, = parts of the previous key - 1 */
    for (int o = 0; o < n; o++) {
        const schema_key *k = schema_at(order[o]);
        if ((k->flags & SK_OMIT_DEFAULT) && k->def && strcmp(v[order[o]].s, k->def) == 0) continue;
        const char *part[8] = {0};
        size_t len[8] = {0};
        int np = split_key(k->key, part, len);
        int common = 0;
        while (common < depth && common < np - 1 && len[common] == prevlen[common] &&
               strncmp(part[common], prev[common], len[common]) == 0)
            common++;
        for (; depth > common; depth--) sb_str(&b, "}");
        if (written++) sb_str(&b, ",");
        for (int p = common; p < np - 1; p++) {
            sb_json_string(&b, part[p], len[p]);
            sb_str(&b, ":{");
        }
        sb_json_string(&b, part[np - 1], len[np - 1]);
        sb_str(&b, ":");
        if (k->type == SK_INT || k->type == SK_FLOAT) sb_str(&b, v[order[o]].s);
        else if (k->type == SK_INTS) sb_str(&b, "["), sb_str(&b, v[order[o]].s), sb_str(&b, "]");
        else sb_json_string(&b, v[order[o]].s, strlen(v[order[o]].s));
        memcpy(prev, part, sizeof prev);
        memcpy(prevlen, len, sizeof prevlen);
        depth = np - 1;
    }
    for (; depth > 0; depth--) sb_str(&b, "}");
    sb_str(&b, "}");
    free(order);
    if (!b.ok) free(b.s);
    return b.ok ? b.s : NULL;
}

/* Takes the values, builds the canonical JSON and the config id. */
int cfg_create(cfg **out, cfg_value *v, char *err, size_t errlen) {
    int n = schema_count();
    *out = NULL;
    cfg *c = calloc(1, sizeof *c);
    if (c) c->v = malloc((size_t)n * sizeof *c->v);
    if (!c || !c->v) {
        for (int k = 0; k < n; k++) cfg_value_free(&v[k]);
        if (c) free(c);
        snprintf(err, errlen, "config: out of memory");
        return -1;
    }
    memcpy(c->v, v, (size_t)n * sizeof *v);
    memset(v, 0, (size_t)n * sizeof *v);
    if (!(c->json = canonical_json(c->v))) {
        cfg_free(c);
        snprintf(err, errlen, "config: out of memory");
        return -1;
    }
    sha256_hex(c->json, strlen(c->json), c->id, CFG_ID_LEN);
    *out = c;
    return 0;
}

/* Frees the config and its values (NULL is fine). */
void cfg_free(cfg *c) {
    if (!c) return;
    for (int k = 0; c->v && k < schema_count(); k++) cfg_value_free(&c->v[k]);
    free(c->v);
    free(c->given);
    free(c->json);
    free(c);
}

int cfg_note_given(cfg *c, const unsigned char *set) {
    size_t n = (size_t)schema_count();
    unsigned char *given = malloc(n);
    if (!given) return -1;
    memcpy(given, set, n);
    free(c->given);
    c->given = given;
    return 0;
}

int cfg_given(const cfg *c, const char *key) {
    int k = schema_find(key);
    return !c || !c->given || k < 0 ? -1 : c->given[k] != 0;
}

/* The value of key, or NULL when unknown. */
static const cfg_value *value(const cfg *c, const char *key, int *type) {
    int k = schema_find(key);
    if (!c || k < 0) return NULL;
    *type = schema_at(k)->type;
    return &c->v[k];
}

/* Integer value of an SK_INT key (0 otherwise). */
long long cfg_int(const cfg *c, const char *key) {
    int t;
    const cfg_value *v = value(c, key, &t);
    return v && t == SK_INT ? v->i : 0;
}

/* Numeric value of an SK_INT or SK_FLOAT key (0 otherwise). */
double cfg_float(const cfg *c, const char *key) {
    int t;
    const cfg_value *v = value(c, key, &t);
    return v && (t == SK_INT || t == SK_FLOAT) ? v->f : 0.0;
}

/* Canonical text of any key (NULL when unknown). */
const char *cfg_str(const cfg *c, const char *key) {
    int t;
    const cfg_value *v = value(c, key, &t);
    return v ? v->s : NULL;
}

int cfg_ints(const cfg *c, const char *key, long long *out, int max) {
    const char *s = cfg_str(c, key);
    int n = 0;
    for (const char *p = s; p && *p && n < max; p += strcspn(p, ","), p += *p == ',') out[n++] = atoll(p);
    return n;
}

/* The canonical JSON. */
const char *cfg_json(const cfg *c) { return c->json; }

/* The config id. */
const char *cfg_id(const cfg *c) { return c->id; }

/* run id = sha256("<config id>:<seed>"), first CFG_ID_LEN hex digits. */
void cfg_run_id(const char *config_id, unsigned long long seed, char *out) {
    char text[CFG_ID_LEN + 32];
    int n = snprintf(text, sizeof text, "%.*s:%llu", CFG_ID_LEN, config_id, seed);
    sha256_hex(text, n > 0 && (size_t)n < sizeof text ? (size_t)n : 0, out, CFG_ID_LEN);
}
