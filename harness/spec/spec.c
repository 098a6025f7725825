/* spec_load: read the file and the overrides, expand variants x sweep combinations x seeds,
 * resolve and check every config (its device included: the backend is opened and closed), and
 * give each run its ids. Nothing is returned half-checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "err.h"
#include "fs.h"
#include "spec.h"
#include "spec_internal.h"

/* The experiment name from a path: the file's name without directories and extension. */
static char *stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return strndup(base, n ? n : strlen(base));
}

/* Fills what the file and the arguments left out: name, seeds [1], one variant "default". */
static int fill_top_defaults(spec_raw *r, const char *path) {
    if (!r->name && !(r->name = path ? stem(path) : strdup("default"))) return -1;
    if (!r->nseeds) {
        if (!(r->seeds = malloc(sizeof *r->seeds))) return -1;
        r->seeds[0] = 1, r->nseeds = 1;
    }
    if (!r->nvariants) {
        if (!(r->variants = calloc(1, sizeof *r->variants)) || !(r->variants[0].name = strdup("default"))) return -1;
        r->variants[0].at = (spec_loc){.file = r->file};
        r->nvariants = 1;
    }
    return 0;
}

/* One config of the expansion: its variant and, per axis, the index of its value. */
typedef struct combo {
    int variant;
    int *idx; /* [naxes] */
} combo;

/* "variant 'v', key=value, ..." describing combo c, into buf ("" when there is one plain run). */
static const char *describe(const spec_raw *r, const combo *c, int named, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    if (named) len += (size_t)snprintf(buf, n, "variant '%s'", r->variants[c->variant].name);
    for (int a = 0; a < r->naxes && len < n; a++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", len ? ", " : "", schema_at(r->axes[a].key)->key,
                                r->axes[a].vals[c->idx[a]].s);
    return buf;
}

/* Where a message about combo c should point: its variant's name, else the file. */
static spec_loc combo_loc(const spec_raw *r, const combo *c) { return r->variants[c->variant].at; }

/* Working state of one resolution: values, which were given, and where. */
typedef struct layer {
    cfg_value *v;
    unsigned char *set;
    const spec_loc **where;
} layer;

/* v[key] = a copy of val, given at `at`. */
static int apply(layer *L, int key, const cfg_value *val, const spec_loc *at) {
    cfg_value_free(&L->v[key]);
    if (cfg_value_copy(&L->v[key], val)) return -1;
    L->set[key] = 1;
    L->where[key] = at;
    return 0;
}

/* Applies a list of sets in order. */
static int apply_sets(layer *L, const spec_sets *s) {
    for (int i = 0; i < s->n; i++)
        if (apply(L, s->v[i].key, &s->v[i].val, &s->v[i].at)) return -1;
    return 0;
}

/* The (model.device, model.precision) pairs one load has opened a backend for. */
typedef struct devices_seen {
    int n;
    char pair[8][2][16];
} devices_seen;

/* Opens and closes the backend of device at precision; 0, or -1 with the backend's one line (which
 * and how to fix it). A device other than the CPU is opened in a child process: a CUDA runtime
 * started before fork could not be used by the workers `lrpe run -j N` forks later. */
static int open_device(const char *device, const char *precision, char *err, size_t errlen) {
    const backend *be;
    int p = be_precision_parse(precision);
    if (p < 0) return errf(err, errlen, "model.precision: unknown precision '%s'", precision);
    if (strcmp(device, "cpu") == 0) {
        if (backend_open(&be, device, (be_precision)p, err, errlen)) return -1;
        backend_close(be);
        return 0;
    }
    int fd[2], status = 0;
    if (pipe(fd)) return errf(err, errlen, "model.device=%s: cannot check the device: %s", device, strerror(errno));
    pid_t pid = fork();
    if (pid == 0) { /* the child: the reason, if any, down the pipe */
        char why[512] = "";
        int rc = backend_open(&be, device, (be_precision)p, why, sizeof why);
        if (!rc) backend_close(be);
        ssize_t w = rc ? write(fd[1], why, strlen(why)) : 0;
        _exit(rc || w < 0 ? 1 : 0);
    }
    int fork_errno = errno;
    close(fd[1]);
    if (pid < 0) {
        close(fd[0]);
        return errf(err, errlen, "model.device=%s: cannot check the device: %s", device, strerror(fork_errno));
    }
    char why[512];
    size_t len = 0;
    while (len + 1 < sizeof why) {
        ssize_t k = read(fd[0], why + len, sizeof why - 1 - len);
        if (k > 0) len += (size_t)k;
        else if (k == 0 || errno != EINTR) break;
    }
    why[len] = 0;
    close(fd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (len) return errf(err, errlen, "%s", why);
    return errf(err, errlen, "model.device=%s: opening the device failed without a reason (%s %d)", device,
                WIFSIGNALED(status) ? "signal" : "exit status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* Opens the backend of a resolved config's device and precision once per pair and load; 0, or -1
 * with the reason and *blame = the key to point at (the precision when the device is the CPU). */
static int check_device(const cfg_value *v, devices_seen *seen, int *blame, char *err, size_t errlen) {
    const int D = schema_find("model.device"), P = schema_find("model.precision");
    for (int i = 0; i < seen->n; i++)
        if (!strcmp(seen->pair[i][0], v[D].s) && !strcmp(seen->pair[i][1], v[P].s)) return 0;
    *blame = strcmp(v[D].s, "cpu") == 0 ? P : D;
    if (open_device(v[D].s, v[P].s, err, errlen)) return -1;
    if (seen->n < 8) {
        snprintf(seen->pair[seen->n][0], sizeof seen->pair[0][0], "%s", v[D].s);
        snprintf(seen->pair[seen->n++][1], sizeof seen->pair[0][1], "%s", v[P].s);
    }
    return 0;
}

/* Resolves and checks combo c into *out. */
static int build_config(const spec_raw *r, const combo *c, int named, devices_seen *seen, cfg **out, char *err,
                        size_t errlen) {
    int n = schema_count(), rc = -1;
    layer L = {calloc((size_t)n, sizeof *L.v), calloc((size_t)n, 1), calloc((size_t)n, sizeof *L.where)};
    spec_loc file_at = {.file = r->file};
    char msg[512], ctx[512];
    if (!L.v || !L.set || !L.where) {
        spec_fail(err, errlen, &file_at, "out of memory");
        goto done;
    }
    int bad = apply_sets(&L, &r->base) || apply_sets(&L, &r->variants[c->variant].sets);
    for (int a = 0; a < r->naxes && !bad; a++)
        bad = apply(&L, r->axes[a].key, &r->axes[a].vals[c->idx[a]], &r->axes[a].at[c->idx[a]]);
    if (bad || apply_sets(&L, &r->cli)) {
        spec_fail(err, errlen, &file_at, "out of memory");
        goto done;
    }
    int blame;
    if (schema_resolve(L.v, L.set, &blame, msg, sizeof msg) || check_device(L.v, seen, &blame, msg, sizeof msg)) {
        spec_loc at = combo_loc(r, c);
        describe(r, c, named, ctx, sizeof ctx);
        spec_fail(err, errlen, blame >= 0 && L.where[blame] ? L.where[blame] : &at, "%s%s%s%s", msg,
                  ctx[0] ? " (in " : "", ctx, ctx[0] ? ")" : "");
        goto done;
    }
    rc = cfg_create(out, L.v, msg, sizeof msg) ? spec_fail(err, errlen, &file_at, "%s", msg) : 0;
    if (!rc && cfg_note_given(*out, L.set)) { /* for the dry run: which values were derived */
        cfg_free(*out);
        *out = NULL;
        rc = spec_fail(err, errlen, &file_at, "out of memory");
    }
done:
    for (int k = 0; L.v && k < n; k++) cfg_value_free(&L.v[k]);
    free(L.v);
    free(L.set);
    free(L.where);
    return rc;
}

/* Error when two combos resolve to the same config (their runs would share ids). */
static int check_distinct(const spec_raw *r, cfg **configs, const combo *combos, int n, int named, char *err,
                          size_t errlen) {
    const char **ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    spec_loc file_at = {.file = r->file};
    int a, b, rep = -1;
    if (ids) {
        for (int i = 0; i < n; i++) ids[i] = cfg_id(configs[i]);
        rep = spec_first_repeat(ids, n, &a, &b);
        free(ids);
    }
    if (rep < 0) return spec_fail(err, errlen, &file_at, "out of memory");
    if (!rep) return 0;
    char da[512], db[512];
    spec_loc at = combo_loc(r, &combos[b]); /* point at the first sweep value that differs, if any */
    for (int x = r->naxes - 1; x >= 0; x--)
        if (combos[a].idx[x] != combos[b].idx[x]) at = r->axes[x].at[combos[b].idx[x]];
    describe(r, &combos[a], named, da, sizeof da);
    describe(r, &combos[b], named, db, sizeof db);
    return spec_fail(err, errlen, &at, "%s gives the same config as %s (config %s): drop one", db, da, cfg_id(configs[a]));
}

/* Copies the expansion into s: configs, names, seeds, axes and the runs. */
static int fill_spec(spec *s, spec_raw *r, cfg **configs, const combo *combos, int nconfigs) {
    s->name = r->name, r->name = NULL;
    s->configs = configs, s->nconfigs = nconfigs;
    s->nvariants = r->nvariants;
    s->nseeds = r->nseeds;
    s->naxes = r->naxes;
    s->variants = calloc((size_t)r->nvariants, sizeof *s->variants);
    s->seeds = malloc((size_t)r->nseeds * sizeof *s->seeds);
    s->axes = calloc((size_t)r->naxes + 1, sizeof *s->axes);
    s->axis_len = calloc((size_t)r->naxes + 1, sizeof *s->axis_len);
    s->nruns = nconfigs * r->nseeds;
    s->runs = calloc((size_t)s->nruns, sizeof *s->runs);
    if (!s->variants || !s->seeds || !s->axes || !s->axis_len || !s->runs) return -1;
    for (int v = 0; v < r->nvariants; v++) s->variants[v] = r->variants[v].name, r->variants[v].name = NULL;
    for (int i = 0; i < r->nseeds; i++) s->seeds[i] = (unsigned long long)r->seeds[i];
    for (int a = 0; a < r->naxes; a++) {
        if (!(s->axes[a] = strdup(schema_at(r->axes[a].key)->key))) return -1;
        s->axis_len[a] = r->axes[a].n;
    }
    for (int c = 0; c < nconfigs; c++)
        for (int i = 0; i < r->nseeds; i++) {
            spec_run *run = &s->runs[c * r->nseeds + i];
            run->cfg = configs[c];
            run->config_id = cfg_id(configs[c]);
            run->variant = s->variants[combos[c].variant];
            run->seed = s->seeds[i];
            cfg_run_id(run->config_id, run->seed, run->run_id);
        }
    return 0;
}

/* Reads (text NULL: no file), expands and checks; see spec.h. */
static int load(spec *s, const char *path, const char *text, size_t len, char *const *overrides, int n, char *err,
                size_t errlen) {
    memset(s, 0, sizeof *s);
    spec_raw r = {0};
    cfg **configs = NULL;
    combo *combos = NULL;
    int *idx = NULL, nconfigs = 0, rc = -1;
    devices_seen seen = {0};
    if (path && !(s->path = strdup(path))) return spec_fail(err, errlen, NULL, "out of memory");
    r.file = path ? s->path : "command line";
    spec_loc file_at = {.file = r.file};
    if ((text && spec_read_yaml(&r, text, len, err, errlen)) || spec_read_args(&r, overrides, n, err, errlen)) goto done;
    int named = r.nvariants > 0, name_given = r.name != NULL;
    if (fill_top_defaults(&r, path)) {
        spec_fail(err, errlen, &file_at, "out of memory");
        goto done;
    }
    char why[256];
    if (!name_given && spec_check_experiment_name(r.name, why, sizeof why)) { /* the file's stem */
        spec_fail(err, errlen, &file_at, "%s (the name comes from the file name: set name: in the spec)", why);
        goto done;
    }
    long long total = r.nvariants;
    for (int a = 0; a < r.naxes; a++) total *= r.axes[a].n, total = total > SPEC_MAX_RUNS ? SPEC_MAX_RUNS + 1 : total;
    if (total * r.nseeds > SPEC_MAX_RUNS) {
        spec_fail(err, errlen, &file_at, "the spec expands into more than %d runs", SPEC_MAX_RUNS);
        goto done;
    }
    nconfigs = (int)total;
    configs = calloc((size_t)nconfigs, sizeof *configs);
    combos = calloc((size_t)nconfigs, sizeof *combos);
    idx = calloc((size_t)nconfigs * (size_t)(r.naxes + 1), sizeof *idx);
    if (!configs || !combos || !idx) {
        spec_fail(err, errlen, &file_at, "out of memory");
        goto done;
    }
    for (int c = 0; c < nconfigs; c++) { /* mixed radix: variant slowest, then axes in order */
        combos[c].idx = idx + (size_t)c * (size_t)(r.naxes + 1);
        int rest = c;
        for (int a = r.naxes - 1; a >= 0; a--) combos[c].idx[a] = rest % r.axes[a].n, rest /= r.axes[a].n;
        combos[c].variant = rest;
        if (build_config(&r, &combos[c], named, &seen, &configs[c], err, errlen)) goto done;
    }
    if (check_distinct(&r, configs, combos, nconfigs, named, err, errlen)) goto done;
    int filled = fill_spec(s, &r, configs, combos, nconfigs);
    configs = NULL; /* now the spec's */
    if (filled) {
        spec_fail(err, errlen, &file_at, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        for (int c = 0; configs && c < nconfigs; c++) cfg_free(configs[c]);
        free(configs);
        spec_free(s);
    }
    free(combos);
    free(idx);
    spec_raw_free(&r);
    return rc;
}

int spec_load(spec *s, const char *path, char *const *overrides, int n, char *err, size_t errlen) {
    if (!path) return load(s, NULL, NULL, 0, overrides, n, err, errlen);
    memset(s, 0, sizeof *s);
    char *text, why[1200];
    size_t len;
    if (fs_read_file(path, SPEC_MAX_BYTES, &text, &len, why, sizeof why)) {
        spec_loc at = {.file = path};
        const char *reason = strlen(why) > strlen(path) + 2 ? why + strlen(path) + 2 : why; /* why: "<path>: <reason>" */
        if (strncmp(reason, "cannot open: ", 13) == 0) reason += 13;
        return spec_fail(err, errlen, &at, "cannot open the spec: %s", reason);
    }
    int rc = load(s, path, text, len, overrides, n, err, errlen);
    free(text);
    return rc;
}

int spec_load_text(spec *s, const char *label, const char *text, size_t len, char *const *overrides, int n,
                   char *err, size_t errlen) {
    return load(s, label ? label : "spec", text ? text : "", text ? len : 0, overrides, n, err, errlen);
}

int spec_check_experiment_name(const char *name, char *why, size_t len) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SPEC_MAX_NAME) {
        snprintf(why, len, "the experiment name must have 1 to %d characters (it has %zu)", SPEC_MAX_NAME, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '+' || ((c == '.' || c == '-') && i > 0);
        if (!ok) {
            char shown[8];
            if ((unsigned char)c < 0x20 || c == 0x7f) snprintf(shown, sizeof shown, "\\x%02x", (unsigned char)c);
            else snprintf(shown, sizeof shown, "%c", c);
            snprintf(why, len, "experiment name: character %zu ('%s') is not allowed: use letters, digits and . _ + - "
                     "(not . or - first)", i + 1, shown);
            return -1;
        }
    }
    return 0;
}

/* Frees everything the spec holds and empties it. */
void spec_free(spec *s) {
    if (!s) return;
    for (int c = 0; s->configs && c < s->nconfigs; c++) cfg_free(s->configs[c]);
    free(s->configs);
    for (int v = 0; s->variants && v < s->nvariants; v++) free(s->variants[v]);
    free(s->variants);
    for (int a = 0; s->axes && a < s->naxes; a++) free(s->axes[a]);
    free(s->axes);
    free(s->axis_len);
    free(s->seeds);
    free(s->runs);
    free(s->name);
    free(s->path);
    memset(s, 0, sizeof *s);
}
