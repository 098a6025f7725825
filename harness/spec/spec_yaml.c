/* Reading a spec file with libyaml's document API into a spec_raw: the top-level keys name,
 * seeds, variants, sweep, and schema keys (nested maps or dotted keys, any style). Every unknown
 * key, wrong type or bad value is an error at its line and column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "spec.h"
#include "spec_internal.h"

typedef struct reader {
    spec_raw *r;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
} reader;

static const char *const TOP_KEYS[] = {"name", "seeds", "variants", "sweep", NULL};
static const char *const VARIANT_KEYS[] = {"name", NULL};

/* Where node starts. */
static spec_loc loc_of(const reader *x, const yaml_node_t *node) {
    spec_loc l = {.file = x->r->file, .line = (int)node->start_mark.line + 1, .col = (int)node->start_mark.column + 1};
    return l;
}

/* The text of a scalar node. */
static const char *text_of(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* "a map" / "a list" / "a value". */
static const char *node_word(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE ? "a map" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

/* "unknown key 'k' (did you mean x?)" at the key node. */
static int unknown_key(reader *x, const yaml_node_t *keynode, const char *full, const char *const *extra) {
    char near[128];
    spec_loc at = loc_of(x, keynode);
    if (schema_is_section(full))
        return spec_fail(x->err, x->errlen, &at, "'%s' is a section, not a key: name one of its keys (%s.*)", full, full);
    if (schema_suggest(full, extra, near, sizeof near))
        return spec_fail(x->err, x->errlen, &at, "unknown key '%s' (did you mean %s?)", full, near);
    return spec_fail(x->err, x->errlen, &at, "unknown key '%s'", full);
}

/* Parses scalar node as the value of key k into *out; errors at the node. */
static int parse_node(reader *x, int k, const yaml_node_t *node, cfg_value *out) {
    spec_loc at = loc_of(x, node);
    if (schema_at(k)->type == SK_INTS && node->type == YAML_SEQUENCE_NODE) { /* [a, b, c]: the items joined */
        char text[SCHEMA_MAX_INTS * 24 + 64] = "", msg[512];
        for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
            const yaml_node_t *en = yaml_document_get_node(x->doc, *it);
            spec_loc eat = loc_of(x, en);
            if (en->type != YAML_SCALAR_NODE)
                return spec_fail(x->err, x->errlen, &eat, "%s: expected integers, got %s", schema_at(k)->key, node_word(en));
            if (strlen(text) + strlen(text_of(en)) + 2 >= sizeof text)
                return spec_fail(x->err, x->errlen, &eat, "%s: at most %d values", schema_at(k)->key, SCHEMA_MAX_INTS);
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", text[0] ? "," : "", text_of(en));
        }
        if (schema_parse(k, text, out, msg, sizeof msg)) return spec_fail(x->err, x->errlen, &at, "%s", msg);
        return 0;
    }
    if (node->type != YAML_SCALAR_NODE)
        return spec_fail(x->err, x->errlen, &at, "%s: expected a single value, got %s", schema_at(k)->key,
                         node_word(node));
    char msg[512];
    if (schema_parse(k, text_of(node), out, msg, sizeof msg)) return spec_fail(x->err, x->errlen, &at, "%s", msg);
    return 0;
}

/* "prefix.key" into buf (or key alone); -1 when too long. */
static int join(char *buf, size_t n, const char *prefix, const char *key) {
    int len = prefix ? snprintf(buf, n, "%s.%s", prefix, key) : snprintf(buf, n, "%s", key);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* Schema keys of a map (nested or dotted) into sets; extra: other names valid at the top. */
static int read_keys(reader *x, yaml_node_t *map, const char *prefix, spec_sets *into, const char *const *extra) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(x->doc, p->key), *vn = yaml_document_get_node(x->doc, p->value);
        spec_loc at = loc_of(x, kn);
        char full[256];
        if (kn->type != YAML_SCALAR_NODE)
            return spec_fail(x->err, x->errlen, &at, "a key must be a single value, not %s", node_word(kn));
        if (join(full, sizeof full, prefix, text_of(kn))) return spec_fail(x->err, x->errlen, &at, "key too long");
        int k = schema_find(full);
        if (k >= 0) {
            cfg_value v;
            if (parse_node(x, k, vn, &v)) return -1;
            if (spec_sets_add(into, k, &v, &at, 0, x->err, x->errlen)) return -1;
        } else if (schema_is_section(full)) {
            if (vn->type == YAML_SCALAR_NODE && !text_of(vn)[0] && vn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                continue; /* an empty section ("model:" with everything commented out) */
            if (vn->type != YAML_MAPPING_NODE)
                return spec_fail(x->err, x->errlen, &at, "'%s' is a section: expected a map of its keys, got %s", full,
                                 node_word(vn));
            if (read_keys(x, vn, full, into, NULL)) return -1;
        } else {
            return unknown_key(x, kn, full, prefix ? NULL : extra);
        }
    }
    return 0;
}

/* name: a non-empty single value. */
static int read_name(reader *x, const yaml_node_t *vn, char **out, const char *what) {
    spec_loc at = loc_of(x, vn);
    if (vn->type != YAML_SCALAR_NODE || !text_of(vn)[0])
        return spec_fail(x->err, x->errlen, &at, "%s: expected a non-empty name, got %s", what,
                         vn->type == YAML_SCALAR_NODE ? "nothing" : node_word(vn));
    free(*out);
    if (!(*out = strdup(text_of(vn)))) return spec_fail(x->err, x->errlen, &at, "out of memory");
    return 0;
}

/* name: the experiment's name, checked as spec_check_experiment_name says. */
static int read_experiment_name(reader *x, const yaml_node_t *vn) {
    char why[256];
    spec_loc at = loc_of(x, vn);
    if (read_name(x, vn, &x->r->name, "name")) return -1;
    if (spec_check_experiment_name(x->r->name, why, sizeof why)) return spec_fail(x->err, x->errlen, &at, "%s", why);
    return 0;
}

/* Appends seed node en to r's seeds (room for it exists). */
static int add_seed(reader *x, yaml_node_t *en) {
    spec_loc at = loc_of(x, en);
    char msg[256];
    long long s;
    if (en->type != YAML_SCALAR_NODE)
        return spec_fail(x->err, x->errlen, &at, "seeds: expected integers, got %s", node_word(en));
    if (spec_parse_seed(text_of(en), &s, msg, sizeof msg)) return spec_fail(x->err, x->errlen, &at, "%s", msg);
    x->r->seeds[x->r->nseeds++] = s;
    return 0;
}

/* seeds: a list of distinct non-negative integers, or one. */
static int read_seeds(reader *x, yaml_node_t *vn) {
    spec_raw *r = x->r;
    spec_loc at = loc_of(x, vn);
    int list = vn->type == YAML_SEQUENCE_NODE;
    long n = list ? (long)(vn->data.sequence.items.top - vn->data.sequence.items.start) : 1;
    if (vn->type == YAML_MAPPING_NODE) return spec_fail(x->err, x->errlen, &at, "seeds: expected a list of integers, got a map");
    if (n == 0) return spec_fail(x->err, x->errlen, &at, "seeds: the list is empty");
    if (n > SPEC_MAX_RUNS) return spec_fail(x->err, x->errlen, &at, "seeds: %ld seeds, more than the %d runs a spec may have", n, SPEC_MAX_RUNS);
    free(r->seeds);
    r->nseeds = 0;
    if (!(r->seeds = malloc((size_t)n * sizeof *r->seeds))) return spec_fail(x->err, x->errlen, &at, "out of memory");
    if (!list) return add_seed(x, vn);
    for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++)
        if (add_seed(x, yaml_document_get_node(x->doc, *it))) return -1;
    int second, rep = spec_seeds_repeat(r->seeds, r->nseeds, &second);
    if (rep < 0) return spec_fail(x->err, x->errlen, &at, "out of memory");
    if (rep) {
        at = loc_of(x, yaml_document_get_node(x->doc, vn->data.sequence.items.start[second]));
        return spec_fail(x->err, x->errlen, &at, "seeds: %lld is listed twice", r->seeds[second]);
    }
    return 0;
}

/* variants: a list of maps, each with a unique name and schema keys. */
static int read_variants(reader *x, yaml_node_t *vn) {
    spec_raw *r = x->r;
    spec_loc at = loc_of(x, vn);
    if (vn->type != YAML_SEQUENCE_NODE || vn->data.sequence.items.top == vn->data.sequence.items.start)
        return spec_fail(x->err, x->errlen, &at, "variants: expected a non-empty list of maps (each with a name)");
    long n = (long)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    if (n > SPEC_MAX_RUNS)
        return spec_fail(x->err, x->errlen, &at, "variants: %ld variants, more than the %d runs a spec may have", n, SPEC_MAX_RUNS);
    if (!(r->variants = calloc((size_t)n, sizeof *r->variants))) return spec_fail(x->err, x->errlen, &at, "out of memory");
    for (int i = 0; i < n; i++) {
        yaml_node_t *mn = yaml_document_get_node(x->doc, vn->data.sequence.items.start[i]);
        spec_variant *v = &r->variants[r->nvariants++];
        v->at = loc_of(x, mn);
        if (mn->type != YAML_MAPPING_NODE)
            return spec_fail(x->err, x->errlen, &v->at, "variants: each entry must be a map with a name, got %s",
                             node_word(mn));
        yaml_node_t only = *mn; /* the map without its name pair */
        yaml_node_pair_t *pairs = mn->data.mapping.pairs.start, *name_pair = NULL;
        for (yaml_node_pair_t *p = pairs; p < mn->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = yaml_document_get_node(x->doc, p->key);
            if (kn->type != YAML_SCALAR_NODE || strcmp(text_of(kn), "name") != 0) continue;
            if (name_pair) {
                spec_loc kat = loc_of(x, kn);
                return spec_fail(x->err, x->errlen, &kat, "duplicate key 'name'");
            }
            name_pair = p;
        }
        if (!name_pair) return spec_fail(x->err, x->errlen, &v->at, "variants: this variant has no name");
        yaml_node_t *name_node = yaml_document_get_node(x->doc, name_pair->value);
        if (read_name(x, name_node, &v->name, "variant name")) return -1;
        v->at = loc_of(x, name_node);
        char why[256];
        if (spec_check_variant_name(v->name, why, sizeof why)) return spec_fail(x->err, x->errlen, &v->at, "%s", why);
        /* the pairs before and after the name pair */
        only.data.mapping.pairs.top = name_pair;
        if (read_keys(x, &only, NULL, &v->sets, VARIANT_KEYS)) return -1;
        only.data.mapping.pairs.start = name_pair + 1;
        only.data.mapping.pairs.top = mn->data.mapping.pairs.top;
        if (read_keys(x, &only, NULL, &v->sets, VARIANT_KEYS)) return -1;
    }
    const char **names = malloc((size_t)n * sizeof *names);
    int first, second, rep = -1;
    if (names) {
        for (int i = 0; i < n; i++) names[i] = r->variants[i].name;
        rep = spec_first_repeat(names, (int)n, &first, &second);
        free(names);
    }
    if (rep < 0) return spec_fail(x->err, x->errlen, &at, "out of memory");
    if (rep)
        return spec_fail(x->err, x->errlen, &r->variants[second].at, "duplicate variant name '%s' (first at line %d, column %d)",
                         r->variants[second].name, r->variants[first].at.line, r->variants[first].at.col);
    return 0;
}

/* sweep: dotted keys (or nested maps) -> non-empty lists of values. */
static int read_sweep(reader *x, yaml_node_t *map, const char *prefix) {
    spec_loc at = loc_of(x, map);
    if (map->type != YAML_MAPPING_NODE)
        return spec_fail(x->err, x->errlen, &at, "sweep: expected a map of key -> list of values, got %s", node_word(map));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(x->doc, p->key), *vn = yaml_document_get_node(x->doc, p->value);
        spec_loc kat = loc_of(x, kn);
        char full[256];
        if (kn->type != YAML_SCALAR_NODE || join(full, sizeof full, prefix, text_of(kn)))
            return spec_fail(x->err, x->errlen, &kat, "sweep: a key must be a short single value");
        int k = schema_find(full);
        if (k < 0 && vn->type == YAML_MAPPING_NODE && schema_is_section(full)) {
            if (read_sweep(x, vn, full)) return -1;
            continue;
        }
        if (k < 0) return unknown_key(x, kn, full, NULL);
        if (spec_axis_find(x->r, k) >= 0) return spec_fail(x->err, x->errlen, &kat, "sweep: duplicate axis '%s'", full);
        spec_loc vat = loc_of(x, vn);
        if (vn->type != YAML_SEQUENCE_NODE || vn->data.sequence.items.top == vn->data.sequence.items.start)
            return spec_fail(x->err, x->errlen, &vat, "sweep: '%s' needs a non-empty list of values", full);
        spec_axis *a = spec_axis_begin(x->r, k);
        if (!a) return spec_fail(x->err, x->errlen, &kat, "out of memory");
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
            yaml_node_t *en = yaml_document_get_node(x->doc, *it);
            spec_loc eat = loc_of(x, en);
            cfg_value v;
            if (parse_node(x, k, en, &v)) return -1;
            if (spec_axis_add(a, &v, &eat)) return spec_fail(x->err, x->errlen, &eat, "out of memory");
        }
    }
    return 0;
}

/* The top-level map: name, seeds, variants, sweep, or schema keys / sections. */
static int read_top(reader *x, yaml_node_t *root) {
    int seen[4] = {0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(x->doc, p->key), *vn = yaml_document_get_node(x->doc, p->value);
        int top = -1;
        for (int i = 0; kn->type == YAML_SCALAR_NODE && TOP_KEYS[i]; i++)
            if (strcmp(text_of(kn), TOP_KEYS[i]) == 0) top = i;
        if (top < 0) {
            yaml_node_t one = *root; /* this pair alone, read as schema keys */
            one.data.mapping.pairs.start = p;
            one.data.mapping.pairs.top = p + 1;
            if (read_keys(x, &one, NULL, &x->r->base, TOP_KEYS)) return -1;
            continue;
        }
        spec_loc at = loc_of(x, kn);
        if (seen[top]++) return spec_fail(x->err, x->errlen, &at, "duplicate key '%s'", TOP_KEYS[top]);
        int rc = top == 0 ? read_experiment_name(x, vn)
               : top == 1 ? read_seeds(x, vn)
               : top == 2 ? read_variants(x, vn)
                          : read_sweep(x, vn, NULL);
        if (rc) return -1;
    }
    return 0;
}

/* The message for a libyaml error at mark: a tab in the line's indentation is named as such
 * (libyaml only says "found character that cannot start any token"). */
static int yaml_fail(const spec_raw *r, const char *text, size_t len, const yaml_mark_t *mark, const char *problem,
                     const char *context, char *err, size_t errlen) {
    size_t line_start = mark->index < len ? mark->index : len;
    while (line_start > 0 && text[line_start - 1] != '\n') line_start--;
    for (size_t i = line_start; i < len && (text[i] == ' ' || text[i] == '\t'); i++)
        if (text[i] == '\t') {
            spec_loc at = {.file = r->file, .line = (int)mark->line + 1, .col = (int)(i - line_start) + 1};
            return spec_fail(err, errlen, &at, "a tab in the indentation: YAML indents with spaces only (replace the tab)");
        }
    spec_loc at = {.file = r->file, .line = (int)mark->line + 1, .col = (int)mark->column + 1};
    return spec_fail(err, errlen, &at, "malformed YAML: %s%s%s%s", problem ? problem : "parse error", context ? " (" : "",
                     context ? context : "", context ? ")" : "");
}

/* A first pass over the events: the text is well-formed YAML, one document, nested at most
 * SPEC_MAX_DEPTH deep (so a hostile file costs one linear scan). 0 or -1 with err. */
static int check_shape(const spec_raw *r, const char *text, size_t len, char *err, size_t errlen) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return spec_fail(err, errlen, &(spec_loc){.file = r->file}, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, docs = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = yaml_fail(r, text, len, &parser.problem_mark, parser.problem, parser.context, err, errlen);
            break;
        }
        yaml_event_type_t type = ev.type;
        spec_loc at = {.file = r->file, .line = (int)ev.start_mark.line + 1, .col = (int)ev.start_mark.column + 1};
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) break;
        if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            rc = spec_fail(err, errlen, &at, "a second YAML document: a spec file holds one");
            break;
        }
        if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) {
            if (++depth > SPEC_MAX_DEPTH) {
                rc = spec_fail(err, errlen, &at, "nested deeper than %d levels (a spec needs 5 at most)", SPEC_MAX_DEPTH);
                break;
            }
        } else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT) {
            depth--;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Parses the spec text (checked by check_shape first) into r. */
int spec_read_yaml(spec_raw *r, const char *text, size_t len, char *err, size_t errlen) {
    if (memchr(text, 0, len)) {
        spec_loc at = {.file = r->file};
        return spec_fail(err, errlen, &at, "holds a NUL byte: a spec is a text file");
    }
    if (check_shape(r, text, len, err, errlen)) return -1;
    yaml_parser_t parser;
    yaml_document_t doc;
    spec_loc file_at = {.file = r->file};
    if (!yaml_parser_initialize(&parser)) return spec_fail(err, errlen, &file_at, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_fail(r, text, len, &parser.problem_mark, parser.problem, parser.context, err, errlen);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    reader x = {.r = r, .doc = &doc, .err = err, .errlen = errlen};
    if (root && root->type != YAML_MAPPING_NODE) {
        spec_loc at = loc_of(&x, root);
        rc = spec_fail(err, errlen, &at, "a spec is a map (name, task, model, train, seeds, variants, sweep), not %s",
                       node_word(root));
    } else if (root) {
        rc = read_top(&x, root);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}
