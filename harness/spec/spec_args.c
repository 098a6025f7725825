/* Command-line overrides: `key=value` sets a key, `key=a,b,c` adds (or replaces) a sweep axis
 * (a list key such as eval.lengths takes the list itself),
 * `seed=1,2,3` / `seeds=...` sets the seeds, `name=X` the experiment name. Errors name the
 * argument. Later arguments win over earlier ones and over the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "spec_internal.h"

static const char *const ARG_KEYS[] = {"name", "seed", "seeds", NULL};

/* Splits value on commas into seeds. */
static int read_seeds(spec_raw *r, const char *value, const spec_loc *at, char *err, size_t errlen) {
    long n = 1;
    for (const char *p = value; *p; p++) n += *p == ',';
    if (n > SPEC_MAX_RUNS) return spec_fail(err, errlen, at, "%ld seeds, more than the %d runs a spec may have", n, SPEC_MAX_RUNS);
    long long *seeds = malloc((size_t)n * sizeof *seeds);
    if (!seeds) return spec_fail(err, errlen, at, "out of memory");
    int k = 0;
    for (const char *p = value;; p++) {
        char part[64], msg[256];
        size_t len = strcspn(p, ",");
        snprintf(part, sizeof part, "%.*s", (int)(len < 63 ? len : 63), p);
        if (spec_parse_seed(part, &seeds[k], msg, sizeof msg)) {
            free(seeds);
            return spec_fail(err, errlen, at, "%s", msg);
        }
        k++;
        p += len;
        if (!*p) break;
    }
    int second, rep = spec_seeds_repeat(seeds, k, &second);
    if (rep) {
        long long dup = rep > 0 ? seeds[second] : 0;
        free(seeds);
        return rep < 0 ? spec_fail(err, errlen, at, "out of memory") : spec_fail(err, errlen, at, "seed %lld is listed twice", dup);
    }
    free(r->seeds);
    r->seeds = seeds;
    r->nseeds = k;
    return 0;
}

/* key=a,b,c: the axis of key becomes these values. */
static int read_axis(spec_raw *r, int key, const char *value, const spec_loc *at, char *err, size_t errlen) {
    spec_axis *a = spec_axis_begin(r, key);
    if (!a) return spec_fail(err, errlen, at, "out of memory");
    for (const char *p = value;; p++) {
        size_t len = strcspn(p, ",");
        char *part = strndup(p, len), msg[512];
        cfg_value v;
        if (!part) return spec_fail(err, errlen, at, "out of memory");
        int bad = schema_parse(key, part, &v, msg, sizeof msg);
        free(part);
        if (bad) return spec_fail(err, errlen, at, "%s", msg);
        if (spec_axis_add(a, &v, at)) return spec_fail(err, errlen, at, "out of memory");
        p += len;
        if (!*p) break;
    }
    int i = spec_sets_find(&r->cli, key); /* an earlier single value of the key is overridden */
    if (i >= 0) {
        cfg_value_free(&r->cli.v[i].val);
        r->cli.v[i] = r->cli.v[--r->cli.n];
    }
    return 0;
}

/* Reads every override into r. */
int spec_read_args(spec_raw *r, char *const *args, int n, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        spec_loc at = {.file = r->file, .arg = args[i]};
        const char *eq = strchr(args[i], '=');
        if (!eq || eq == args[i]) return spec_fail(err, errlen, &at, "expected key=value");
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - args[i] < 127 ? eq - args[i] : 127), args[i]);
        const char *value = eq + 1;
        if (strcmp(key, "name") == 0) {
            char why[256];
            if (spec_check_experiment_name(value, why, sizeof why)) return spec_fail(err, errlen, &at, "%s", why);
            free(r->name);
            if (!(r->name = strdup(value))) return spec_fail(err, errlen, &at, "out of memory");
            continue;
        }
        if (strcmp(key, "seed") == 0 || strcmp(key, "seeds") == 0) {
            if (read_seeds(r, value, &at, err, errlen)) return -1;
            continue;
        }
        int k = schema_find(key);
        if (k < 0) {
            char near[128];
            if (schema_is_section(key))
                return spec_fail(err, errlen, &at, "'%s' is a section, not a key: name one of its keys (%s.*)", key, key);
            if (schema_suggest(key, ARG_KEYS, near, sizeof near))
                return spec_fail(err, errlen, &at, "unknown key '%s' (did you mean %s?)", key, near);
            return spec_fail(err, errlen, &at, "unknown key '%s'", key);
        }
        if (schema_at(k)->type != SK_STR && schema_at(k)->type != SK_INTS && strchr(value, ',')) {
            if (read_axis(r, k, value, &at, err, errlen)) return -1;
            continue;
        }
        char msg[512];
        cfg_value v;
        if (schema_parse(k, value, &v, msg, sizeof msg)) return spec_fail(err, errlen, &at, "%s", msg);
        spec_axis_remove(r, k); /* a single value replaces a sweep of the key */
        if (spec_sets_add(&r->cli, k, &v, &at, 1, err, errlen)) return -1;
    }
    return 0;
}
