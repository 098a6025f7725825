#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"
#include "safetensors.h"
#include "sha256.h"
#include "text.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c stores uint64 RNG words and the step as raw host bytes and so needs a little-endian host"
#endif

#define FORMAT_NAME "lrpe-checkpoint"
#define NAME_LEN (TENSOR_NAME_MAX + 16) /* "optim.m." + a table name, "state.rng." + an rng name */
#define PATH_LEN 4096
#define CHECKSUM_PREFIX "sha256:"

/* One tensor of the file layout: its name storage and its safetensors description. */
typedef struct item {
    char name[NAME_LEN];
    st_tensor t;
} item;

/* ---------------------------------------------------------------- small helpers */

/* The reason of a safetensors message: msg without its "<path>: " prefix. */
static const char *st_reason(const char *msg, const char *path) {
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* Hashes a string followed by its terminating 0 byte. */
static void hash_str(sha256_ctx *c, const char *s) { sha256_update(c, s, strlen(s) + 1); }

/* Hashes one metadata entry: key 0x00 value 0x00. */
static void hash_meta(sha256_ctx *c, const char *key, const char *value) {
    hash_str(c, key);
    hash_str(c, value);
}

/* Hashes one tensor: name, dtype, dims (decimal, comma-joined), each with its 0 byte, then data. */
static void hash_tensor(sha256_ctx *c, const st_tensor *t) {
    char dims[ST_MAX_DIM * 24 + 1];
    size_t k = 0;
    dims[0] = 0;
    for (int i = 0; i < t->ndim; i++)
        k += (size_t)snprintf(dims + k, sizeof dims - k, "%s%" PRId64, i ? "," : "", t->shape[i]);
    hash_str(c, t->name);
    hash_str(c, st_dtype_name(t->dtype));
    hash_str(c, dims);
    sha256_update(c, t->data, st_numel(t) * 4);
}

/* Finishes the hash into "sha256:<64 hex digits>" in out[CKPT_CHECKSUM_LEN]. */
static void checksum_text(sha256_ctx *c, char out[CKPT_CHECKSUM_LEN]) {
    memcpy(out, CHECKSUM_PREFIX, sizeof CHECKSUM_PREFIX - 1);
    sha256_final_hex(c, out + sizeof CHECKSUM_PREFIX - 1);
}

/* 1 when name is a valid RNG name: 1..CKPT_RNG_NAME_MAX-1 characters of [A-Za-z0-9_.-]. */
static int valid_rng_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (!n || n >= CKPT_RNG_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* Parses a canonical non-negative decimal (no sign, no leading zeros) into *out; 0 or -1. */
static int parse_count(const char *s, size_t len, long *out) {
    if (!len || (len > 1 && s[0] == '0')) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (LONG_MAX - (s[i] - '0')) / 10) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* The step of a file named "ckpt-<step>.safetensors" + suffix ("" or ".tmp"),
 * or -1 when name is something else. */
static long name_step(const char *name, const char *suffix) {
    static const char pre[] = "ckpt-", ext[] = ".safetensors";
    size_t n = strlen(name), ns = strlen(suffix), ne = sizeof ext - 1, np = sizeof pre - 1;
    if (n <= np + ne + ns || strncmp(name, pre, np) != 0 || strcmp(name + n - ns, suffix) != 0 ||
        strncmp(name + n - ns - ne, ext, ne) != 0)
        return -1;
    long step;
    return parse_count(name + np, n - np - ne - ns, &step) ? -1 : step;
}

/* Appends line to the '\n'-separated list in buf[len] (cut when full). */
static void append_line(char *buf, size_t len, const char *line) {
    if (!buf || !len) return;
    size_t k = strnlen(buf, len - 1);
    if (k && k + 1 < len) buf[k++] = '\n';
    snprintf(buf + k, len - k, "%s", line);
}

/* ---------------------------------------------------------------- folders */


/* Descending order of longs, for qsort. */
static int cmp_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Steps of dir's checkpoints, newest first, into a malloc'd *out (*n of them; *out NULL when none);
 * with remove_tmp, stale "ckpt-<step>.safetensors.tmp" files are deleted on the way. A missing
 * folder has none. Returns 0, or -1 with the reason in err. */
static int scan_dir(const char *dir, long **out, int *n, int remove_tmp, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : errf(err, errlen, "checkpoint folder %s: cannot read: %s", dir, strerror(errno));
    long *v = NULL;
    int cnt = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long step = name_step(e->d_name, "");
        if (step < 0) {
            char p[PATH_LEN];
            if (remove_tmp && name_step(e->d_name, ".tmp") >= 0 &&
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
                remove(p);
            continue;
        }
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            long *w = realloc(v, (size_t)cap * sizeof *v);
            if (!w) {
                rc = errf(err, errlen, "checkpoint folder %s: out of memory", dir);
                break;
            }
            v = w;
        }
        v[cnt++] = step;
    }
    closedir(d);
    if (rc) {
        free(v);
        return -1;
    }
    if (cnt) qsort(v, (size_t)cnt, sizeof *v, cmp_desc);
    *out = v;
    *n = cnt;
    return 0;
}

/* Fills steps[0..max) with the newest checkpoint steps; returns their total count. */
int ckpt_list(const char *dir, long *steps, int max, char *err, size_t errlen) {
    long *v;
    int n;
    if (scan_dir(dir, &v, &n, 0, err, errlen)) return -1;
    for (int i = 0; i < n && i < max; i++) steps[i] = v[i];
    free(v);
    return n;
}

/* Removes the checkpoints that saving `step` made obsolete: later steps (an abandoned trajectory),
 * all but the CKPT_KEEP newest up to step, and stale .tmp files. Failures are ignored: the new
 * checkpoint is already safe. */
static void prune(const char *dir, long step) {
    long *v;
    int n;
    char scratch[8], p[PATH_LEN];
    if (scan_dir(dir, &v, &n, 1, scratch, sizeof scratch)) return;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int keep = v[i] <= step && kept < CKPT_KEEP;
        kept += keep;
        if (!keep && ckpt_path(p, sizeof p, dir, v[i]) == 0) remove(p);
    }
    free(v);
}

/* ---------------------------------------------------------------- layout */

/* Formats the path of a step's checkpoint. */
int ckpt_path(char *buf, size_t len, const char *dir, long step) {
    int k = snprintf(buf, len, "%s/ckpt-%ld.safetensors", dir, step);
    return k < 0 || (size_t)k >= len ? -1 : 0;
}

/* Number of tensors in the file of a table and a state. */
static int layout_count(const tensor_table *tt, const ckpt_state *st) { return 3 * tt->n + 2 + st->n_rng; }

/* Describes every tensor of the file (names, dtypes, shapes; data NULL) into it[layout_count].
 * cursor_words is the length of state.cursor. Returns 0, or -1 with the reason in err. */
static int layout(item *it, const tensor_table *tt, const ckpt_state *st, size_t cursor_words, char *err,
                  size_t errlen) {
    static const char *const pre[3] = {"", "optim.m.", "optim.v."};
    int k = 0;
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < tt->n; i++, k++) {
            const tensor_desc *d = &tt->t[i];
            item *x = &it[k];
            size_t numel = 1;
            snprintf(x->name, sizeof x->name, "%s%s", pre[g], d->name);
            x->t = (st_tensor){.name = x->name, .dtype = ST_F32, .ndim = d->ndim};
            for (int j = 0; j < d->ndim; j++) x->t.shape[j] = d->shape[j], numel *= (size_t)d->shape[j];
            if (numel != d->numel || d->ndim < 1 || d->ndim > TENSOR_MAX_DIM)
                return errf(err, errlen, "tensor '%s': its shape does not match its size in the table", d->name);
        }
    snprintf(it[k].name, sizeof it[k].name, "state.step");
    it[k].t = (st_tensor){.name = it[k].name, .dtype = ST_I32, .ndim = 1, .shape = {2}};
    k++;
    for (int r = 0; r < st->n_rng; r++, k++) { /* names checked by check_state */
        snprintf(it[k].name, sizeof it[k].name, "state.rng.%s", st->rngs[r].name);
        it[k].t = (st_tensor){.name = it[k].name, .dtype = ST_I32, .ndim = 1, .shape = {8}};
    }
    snprintf(it[k].name, sizeof it[k].name, "state.cursor");
    it[k].t = (st_tensor){.name = it[k].name, .dtype = ST_I32, .ndim = 1, .shape = {(int64_t)cursor_words}};
    return 0;
}

/* Checks the caller's state description. Returns 0, or -1 with the reason in err. */
static int check_state(const ckpt_state *st, int saving, char *err, size_t errlen) {
    if (!st) return errf(err, errlen, "no state given");
    if (st->n_rng < 0 || (st->n_rng && !st->rngs)) return errf(err, errlen, "invalid RNG list");
    if (saving && st->step < 0) return errf(err, errlen, "negative step %ld", st->step);
    if (saving && st->cursor_len && !st->cursor) return errf(err, errlen, "cursor of %zu bytes is NULL", st->cursor_len);
    if (!saving && st->cursor_cap && !st->cursor) return errf(err, errlen, "cursor buffer is NULL");
    for (int i = 0; i < st->n_rng; i++) {
        if (!valid_rng_name(st->rngs[i].name) || !st->rngs[i].r)
            return errf(err, errlen, "RNG %d: the name must be 1-%d characters of [A-Za-z0-9_.-] with a state", i,
                        CKPT_RNG_NAME_MAX - 1);
        for (int j = 0; j < i; j++)
            if (st->rngs[i].name && st->rngs[j].name && strcmp(st->rngs[i].name, st->rngs[j].name) == 0)
                return errf(err, errlen, "RNG '%s' is listed twice", st->rngs[i].name);
    }
    return 0;
}

/* ---------------------------------------------------------------- save */

/* Builds the tensors and metadata of a checkpoint and writes them to tmp. Returns 0, or -1 with
 * the reason (without a path) in err. */
static int write_file(const char *tmp, const tensor_table *tt, const float *params, const float *adam_m,
                      const float *adam_v, const ckpt_state *st, const char *run_id, const char *config_id,
                      char *err, size_t errlen) {
    const size_t words = (st->cursor_len + 3) / 4;
    const int n = layout_count(tt, st);
    item *it = malloc((size_t)n * sizeof *it);
    st_tensor *t = malloc((size_t)n * sizeof *t);
    uint32_t *cur = calloc(words ? words : 1, 4);
    int rc = -1;
    if (!it || !t || !cur) {
        errf(err, errlen, "out of memory");
        goto done;
    }
    if (layout(it, tt, st, words, err, errlen)) goto done;
    const float *arrays[3] = {params, adam_m, adam_v};
    int64_t step64 = st->step;
    if (st->cursor_len) memcpy(cur, st->cursor, st->cursor_len);
    for (int i = 0; i < n; i++) t[i] = it[i].t;
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < tt->n; i++) t[g * tt->n + i].data = arrays[g] + tt->t[i].offset;
    t[3 * tt->n].data = &step64;
    for (int r = 0; r < st->n_rng; r++) t[3 * tt->n + 1 + r].data = st->rngs[r].r->s;
    t[n - 1].data = cur;

    char version[16], step_s[32], cursor_s[32], sum[CKPT_CHECKSUM_LEN];
    snprintf(version, sizeof version, "%d", CKPT_FORMAT_VERSION);
    snprintf(step_s, sizeof step_s, "%ld", st->step);
    snprintf(cursor_s, sizeof cursor_s, "%zu", st->cursor_len);
    st_meta meta[8] = {{"format", FORMAT_NAME},  {"format_version", version}, {"run_id", run_id},
                       {"config_id", config_id}, {"step", step_s},            {"cursor_bytes", cursor_s},
                       {"lrpe_commit", st->commit ? st->commit : ""}, {"checksum", sum}};
    const int nmeta = 8;
    sha256_ctx c;
    sha256_init(&c);
    for (int i = 0; i < nmeta - 1; i++) hash_meta(&c, meta[i].key, meta[i].value);
    for (int i = 0; i < n; i++) hash_tensor(&c, &t[i]);
    checksum_text(&c, sum);

    char st_err[PATH_LEN + 256];
    if (st_write(tmp, t, n, meta, nmeta, st_err, sizeof st_err)) {
        errf(err, errlen, "%s", st_reason(st_err, tmp));
        goto done;
    }
    rc = 0;
done:
    free(it);
    free(t);
    free(cur);
    return rc;
}

/* Writes the checkpoint to <path>.tmp, renames it into place, syncs the folder, prunes. */
int ckpt_save(const char *dir, const tensor_table *tt, const float *params, const float *adam_m,
              const float *adam_v, const ckpt_state *state, const char *run_id, const char *config_id,
              char *err, size_t errlen) {
    char path[PATH_LEN], tmp[PATH_LEN + 8], why[512];
    if (!dir || !*dir || !tt || !params || !adam_m || !adam_v || !run_id || !config_id)
        return errf(err, errlen, "checkpoint: missing folder, table, arrays or ids");
    if (check_state(state, 1, why, sizeof why)) return errf(err, errlen, "checkpoint in %s: %s", dir, why);
    if (ckpt_path(path, sizeof path, dir, state->step) || (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return errf(err, errlen, "checkpoint in %s: path too long", dir);
    if (fs_mkdirs(dir, why, sizeof why)) return errf(err, errlen, "checkpoint folder %s: %s", dir, why);
    if (write_file(tmp, tt, params, adam_m, adam_v, state, run_id, config_id, why, sizeof why)) {
        remove(tmp); /* st_write removes its partial file; this covers failures before it */
        return errf(err, errlen, "checkpoint %s: %s (nothing saved; earlier checkpoints kept)", path, why);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return errf(err, errlen, "checkpoint %s: cannot rename %s into place: %s (nothing saved; earlier checkpoints kept)",
                    path, tmp, strerror(e));
    }
    if (fs_sync_dir(dir) != 0)
        return errf(err, errlen, "checkpoint %s: written, but syncing folder %s failed: %s", path, dir, strerror(errno));
    prune(dir, state->step);
    return 0;
}

/* ---------------------------------------------------------------- load */

/* The tensors a verified file hands over. */
typedef struct verified {
    const st_tensor **t; /* per layout item */
    long step;
    size_t cursor_len;
} verified;

/* The checksum the contents of a parsed checkpoint file have. */
void ckpt_checksum(const st_file *f, char out[CKPT_CHECKSUM_LEN]) {
    sha256_ctx c;
    sha256_init(&c);
    for (int i = 0; i < st_meta_count(f); i++) {
        st_meta m = st_meta_at(f, i);
        if (strcmp(m.key, "checksum") != 0) hash_meta(&c, m.key, m.value);
    }
    for (int i = 0; i < st_count(f); i++) hash_tensor(&c, st_at(f, i));
    checksum_text(&c, out);
}

/* Checks everything in an opened checkpoint (read from path) against the caller's expectations (expect_step < 0:
 * any step) and fills v. Returns 0, or -1 with the reason (without a path) in err. */
static int verify(const st_file *f, const char *path, const tensor_table *tt, const ckpt_state *st, const char *run_id,
                  const char *config_id, long expect_step, verified *v, char *err, size_t errlen) {
    char a[48], b[48];
    const char *fmt = st_meta_get(f, "format"), *ver = st_meta_get(f, "format_version");
    if (!fmt || strcmp(fmt, FORMAT_NAME) != 0)
        return errf(err, errlen, "not an lrpe checkpoint (metadata format is '%s')", fmt ? text_shown(fmt, a, sizeof a) : "absent");
    char want_ver[16];
    snprintf(want_ver, sizeof want_ver, "%d", CKPT_FORMAT_VERSION);
    if (!ver || strcmp(ver, want_ver) != 0)
        return errf(err, errlen, "format version '%s', this build reads %s", ver ? text_shown(ver, a, sizeof a) : "absent", want_ver);

    const char *sum = st_meta_get(f, "checksum");
    char want_sum[CKPT_CHECKSUM_LEN];
    ckpt_checksum(f, want_sum);
    if (!sum) return errf(err, errlen, "no checksum in the metadata (corrupt file)");
    if (strcmp(sum, want_sum) != 0) return errf(err, errlen, "checksum mismatch (corrupt or truncated file)");

    const char *rid = st_meta_get(f, "run_id"), *cid = st_meta_get(f, "config_id");
    if (!rid || strcmp(rid, run_id) != 0)
        return errf(err, errlen, "belongs to run '%s', not run '%s'", rid ? text_shown(rid, a, sizeof a) : "?", text_shown(run_id, b, sizeof b));
    if (!cid || strcmp(cid, config_id) != 0)
        return errf(err, errlen, "has config id '%s', not '%s' (the config changed)", cid ? text_shown(cid, a, sizeof a) : "?",
                    text_shown(config_id, b, sizeof b));

    const char *step_s = st_meta_get(f, "step"), *cur_s = st_meta_get(f, "cursor_bytes");
    long cursor_len;
    if (!step_s || parse_count(step_s, strlen(step_s), &v->step))
        return errf(err, errlen, "metadata step '%s' is not a step number", step_s ? text_shown(step_s, a, sizeof a) : "absent");
    if (expect_step >= 0 && v->step != expect_step)
        return errf(err, errlen, "holds step %ld but is named after step %ld", v->step, expect_step);
    if (!cur_s || parse_count(cur_s, strlen(cur_s), &cursor_len))
        return errf(err, errlen, "metadata cursor_bytes '%s' is not a size", cur_s ? text_shown(cur_s, a, sizeof a) : "absent");
    v->cursor_len = (size_t)cursor_len;
    if (v->cursor_len > st->cursor_cap)
        return errf(err, errlen, "data cursor of %zu bytes exceeds the task's %zu-byte buffer", v->cursor_len,
                    st->cursor_cap);

    const int n = layout_count(tt, st);
    item *it = malloc((size_t)n * sizeof *it);
    if (!it) return errf(err, errlen, "out of memory");
    int rc = layout(it, tt, st, (v->cursor_len + 3) / 4, err, errlen);
    char st_err[PATH_LEN + 256];
    for (int i = 0; i < n && !rc; i++)
        if (st_expect(f, it[i].name, it[i].t.dtype, it[i].t.ndim, it[i].t.shape, &v->t[i], st_err, sizeof st_err))
            rc = errf(err, errlen, "%s (a different model or state?)", st_reason(st_err, path));
    free(it);
    if (rc) return -1;
    if (st_count(f) != n)
        return errf(err, errlen, "holds %d tensors, expected %d (a different model or state?)", st_count(f), n);
    int64_t step64;
    memcpy(&step64, v->t[3 * tt->n]->data, sizeof step64);
    if (step64 != v->step) return errf(err, errlen, "state.step %" PRId64 " differs from metadata step %ld", step64, v->step);
    return 0;
}

/* Opens, verifies and (only when all is well) copies one checkpoint into the caller's arrays. */
static int load_one(const char *path, const tensor_table *tt, float *params, float *adam_m, float *adam_v,
                    ckpt_state *st, const char *run_id, const char *config_id, long expect_step, char *err,
                    size_t errlen) {
    char why[PATH_LEN + 256];
    if (!tt || !params || !adam_m || !adam_v || !run_id || !config_id)
        return errf(err, errlen, "checkpoint %s: missing table, arrays or ids", path);
    if (check_state(st, 0, why, sizeof why)) return errf(err, errlen, "checkpoint %s: %s", path, why);
    st_file *f;
    if (st_read(&f, path, why, sizeof why)) return errf(err, errlen, "checkpoint %s: %s", path, st_reason(why, path));
    verified v = {.t = malloc((size_t)layout_count(tt, st) * sizeof *v.t)};
    int rc = v.t ? verify(f, path, tt, st, run_id, config_id, expect_step, &v, why, sizeof why) : errf(why, sizeof why, "out of memory");
    if (rc) {
        free(v.t);
        st_close(f);
        return errf(err, errlen, "checkpoint %s: %s", path, why);
    }
    float *arrays[3] = {params, adam_m, adam_v};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < tt->n; i++) {
            const tensor_desc *d = &tt->t[i];
            memcpy(arrays[g] + d->offset, v.t[g * tt->n + i]->data, d->numel * sizeof(float));
        }
    for (int r = 0; r < st->n_rng; r++) memcpy(st->rngs[r].r->s, v.t[3 * tt->n + 1 + r]->data, sizeof st->rngs[r].r->s);
    if (v.cursor_len) memcpy(st->cursor, v.t[3 * tt->n + 1 + st->n_rng]->data, v.cursor_len);
    st->cursor_len = v.cursor_len;
    st->step = v.step;
    const char *commit = st_meta_get(f, "lrpe_commit");
    snprintf(st->saved_commit, sizeof st->saved_commit, "%s", commit ? commit : "");
    free(v.t);
    st_close(f);
    return 0;
}

/* Loads one named file (any step). */
int ckpt_load_file(const char *path, const tensor_table *tt, float *params, float *adam_m, float *adam_v,
                   ckpt_state *state, const char *run_id, const char *config_id, char *err, size_t errlen) {
    return load_one(path, tt, params, adam_m, adam_v, state, run_id, config_id, -1, err, errlen);
}

/* Tries the checkpoints of dir newest first; the first good one wins. */
int ckpt_load_latest(const char *dir, const tensor_table *tt, float *params, float *adam_m, float *adam_v,
                     ckpt_state *state, const char *run_id, const char *config_id, char *warnings,
                     size_t warnlen, char *err, size_t errlen) {
    if (warnings && warnlen) warnings[0] = 0;
    char why[PATH_LEN + 512];
    if (!dir || !*dir || !tt || !params || !adam_m || !adam_v || !run_id || !config_id)
        return errf(err, errlen, "checkpoint: missing folder, table, arrays or ids"), CKPT_ERROR;
    if (check_state(state, 0, why, sizeof why)) return errf(err, errlen, "checkpoint in %s: %s", dir, why), CKPT_ERROR;
    long *steps;
    int n;
    if (scan_dir(dir, &steps, &n, 0, err, errlen)) return CKPT_ERROR;
    char path[PATH_LEN], line[PATH_LEN + 640];
    for (int i = 0; i < n; i++) {
        if (ckpt_path(path, sizeof path, dir, steps[i])) {
            snprintf(why, sizeof why, "checkpoint in %s: path too long", dir);
        } else if (load_one(path, tt, params, adam_m, adam_v, state, run_id, config_id, steps[i], why, sizeof why) == 0) {
            free(steps);
            return CKPT_LOADED;
        }
        if (i + 1 < n) snprintf(line, sizeof line, "%s; falling back to ckpt-%ld", why, steps[i + 1]);
        else snprintf(line, sizeof line, "%s; no good checkpoint left in %s, starting from scratch", why, dir);
        append_line(warnings, warnlen, line);
    }
    free(steps);
    return CKPT_FRESH;
}
