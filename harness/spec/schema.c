/* The table of config keys and everything that works key by key: lookup, parsing a text value
 * into a typed value with its canonical text, the list of valid values, and suggestions.
 * Defaults that depend on other keys and the cross-field checks are in schema_check.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "err.h"
#include "pe.h"
#include "schema.h"
#include "task.h"

#define BIG 1e9
/* clang-format off */
static const schema_key KEYS[] = {
/*  key                       type         default      lo    hi    flags        values                                     description */
    {"task.kind",             SK_TASK,     "lm",        0, 0, 0, NULL,
     "task family"},
    {"task.dataset",          SK_DATASET,  NULL,        0, 0, 0, NULL,
     "dataset of the kind (default: the kind's first)"},
    {"task.path",             SK_STR,      "",          0, 0, 0, NULL,
     "lm with dataset file: the text file to model"},
    {"task.seq_len",          SK_INT,      NULL,        1, 1 << 20, 0, NULL,
     "tokens per example (default: the dataset's)"},
    {"task.view",             SK_ENUM,     "patches",   0, 0, 0, "patches | pixels",
     "imgcls: patch tokens on a 2-D grid, or a 784-step pixel sequence"},
    {"task.patch",            SK_INT,      "4",         4, 7, 0, "4 | 7",
     "imgcls patches: patch side in pixels (49 or 16 tokens)"},
    {"task.vocab",            SK_INT,      "16",        4, 1024, 0, NULL,
     "synthetic: vocabulary size"},
    {"task.listops.depth",    SK_INT,      "10",        1, 64, SK_OMIT_DEFAULT, NULL,
     "textcls listops: deepest nesting of an expression (LRA: 10)"},
    {"task.listops.arity",    SK_INT,      "10",        2, 64, SK_OMIT_DEFAULT, NULL,
     "textcls listops: most arguments of an operator (LRA: 10)"},
    {"task.listops.min_len",  SK_INT,      "0",         0, 1 << 20, SK_OMIT_DEFAULT, NULL,
     "textcls listops: shortest expression in tokens (0: task.seq_len / 4); the longest is task.seq_len"},
    {"task.listops.train",    SK_INT,      "96000",     1, 1e8, SK_OMIT_DEFAULT, NULL,
     "textcls listops: training examples (LRA: 96,000)"},
    {"task.listops.val",      SK_INT,      "2000",      1, 1e8, SK_OMIT_DEFAULT, NULL,
     "textcls listops: validation examples (LRA: 2,000)"},
    {"task.listops.test",     SK_INT,      "2000",      1, 1e8, SK_OMIT_DEFAULT, NULL,
     "textcls listops: test examples (LRA: 2,000)"},
    {"task.listops.data_seed", SK_INT,     "1",         0, BIG, SK_OMIT_DEFAULT, NULL,
     "textcls listops: the data seed (every run seed sees the same data)"},
    {"model.layers",          SK_INT,      "4",         1, 1024, 0, NULL,
     "transformer blocks"},
    {"model.d_model",         SK_INT,      "128",       1, 65536, 0, NULL,
     "model width"},
    {"model.heads",           SK_INT,      "4",         1, 2048, 0, NULL,
     "attention heads (must divide d_model)"},
    {"model.ffn_mult",        SK_INT,      "4",         1, 64, 0, NULL,
     "FFN hidden width = ffn_mult * d_model"},
    {"model.attention",       SK_ENUM,     "linear",    0, 0, 0, "linear | softmax",
     "attention kernel"},
    {"model.feature_map",     SK_ENUM,     "1+elu",     0, 0, 0, "1+elu | relu",
     "linear attention: feature map phi"},
    {"model.normalizer",      SK_ENUM,     "layernorm", 0, 0, 0, "layernorm | denominator",
     "linear attention: LayerNorm over heads, or divide by phi(q).sum phi(k)"},
    {"model.absolute",        SK_ABSOLUTE, "none",      0, 0, 0, NULL,
     "absolute encoding added to the embeddings"},
    {"model.encoding",        SK_ENCODING, "none",      0, 0, 0, NULL,
     "relative encoding (on q/k or the scores); see lrpe encodings"},
    {"model.decay",           SK_ENUM,     "encoding",  0, 0, SK_OMIT_DEFAULT, "encoding | none | per-head",
     "causal linear attention: scores scaled by r_h^distance; encoding: its own (permuteformer), per-head: PermuteFormer's r_h"},
    {"model.device",          SK_ENUM,     "cpu",       0, 0, SK_OMIT_DEFAULT, BACKEND_DEVICES,
     "where the model computes (cuda: an lrpe built with make CUDA=1 and an NVIDIA GPU)"},
    {"model.precision",       SK_ENUM,     "fp32",      0, 0, SK_OMIT_DEFAULT, BACKEND_PRECISIONS,
     "matrix-product precision: fp32 exact; bf16 products with float32 sums (cuda tensor cores; cpu: the linear layers, AVX512-BF16); tf32 (cuda)"},
    {"model.lrpe.p",          SK_PEOPT,    "householder", 0, 0, 0, NULL,
     "lrpe-*: the unitary P applied before the positional core"},
    {"model.lrpe.theta",      SK_PEOPT,    "fixed",     0, 0, 0, NULL,
     "lrpe-rotation, lrpe-unitary: frequencies fixed or learned"},
    {"model.lrpe.householder", SK_PEOPT,   "fixed",     0, 0, 0, NULL,
     "p householder: the reflection vector fixed or learned"},
    {"model.lrpe.axes",       SK_PEOPT,    "sum",       0, 0, 0, NULL,
     "2-D positions: row+col on every frequency, or half per axis"},
    {"train.steps",           SK_INT,      "2000",      1, BIG, 0, NULL,
     "optimizer steps"},
    {"train.batch",           SK_INT,      "16",        1, 65536, 0, NULL,
     "examples per step"},
    {"train.lr",              SK_FLOAT,    "1e-3",      0, 1e30, SK_LO_OPEN, NULL,
     "peak learning rate (positive; absurd values are allowed so NaN handling can be tested)"},
    {"train.min_lr",          SK_FLOAT,    "0",         0, 1e30, 0, NULL,
     "learning rate at the last step (cosine, linear); at most lr"},
    {"train.warmup",          SK_INT,      NULL,        0, BIG, 0, NULL,
     "linear warm-up steps, fewer than steps (default: steps / 10, at most 100)"},
    {"train.schedule",        SK_ENUM,     "cosine",    0, 0, 0, "cosine | constant | linear",
     "learning-rate decay after warm-up"},
    {"train.weight_decay",    SK_FLOAT,    "0.01",      0, 10, 0, NULL,
     "AdamW decoupled weight decay (weights and embeddings only)"},
    {"train.beta1",           SK_FLOAT,    "0.9",       0, 1, SK_HI_OPEN, NULL,
     "AdamW first-moment decay"},
    {"train.beta2",           SK_FLOAT,    "0.999",     0, 1, SK_HI_OPEN, NULL,
     "AdamW second-moment decay"},
    {"train.eps",             SK_FLOAT,    "1e-8",      0, 1, SK_LO_OPEN, NULL,
     "AdamW epsilon"},
    {"train.grad_clip",       SK_FLOAT,    "1",         0, 1e6, 0, NULL,
     "clip the global gradient norm to this (0: no clipping)"},
    {"train.eval_every",      SK_INT,      "200",       0, BIG, 0, NULL,
     "validate every this many steps (0: only at the end)"},
    {"train.eval_batches",    SK_INT,      "50",        1, 1e6, 0, NULL,
     "validation batches per evaluation"},
    {"train.test_batches",    SK_INT,      "0",         0, 1e6, 0, NULL,
     "batches of the final evaluation on each of val and test (0: the whole split)"},
    {"train.checkpoint_every", SK_INT,     "500",       0, BIG, 0, NULL,
     "checkpoint every this many steps (0: never)"},
    {"eval.lengths",          SK_INTS,     "",          2, 1048576, SK_OMIT_DEFAULT, NULL,
     "lm: the final test evaluation also in windows of each of these lengths (test/bpc@L, ...); [] none"},
};
/* clang-format on */
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

const char *schema_type_word(schema_type t) {
    switch (t) { /* every type named: -Wswitch says when one is added */
    case SK_INT: return "int";
    case SK_FLOAT: return "float";
    case SK_STR: return "text";
    case SK_ENUM:
    case SK_TASK:
    case SK_DATASET:
    case SK_PEOPT: return "enum";
    case SK_ABSOLUTE:
    case SK_ENCODING: return "encoding";
    case SK_INTS: return "list";
    }
    return "?";
}

/* Number of keys. */
int schema_count(void) { return NKEYS; }

/* Key i, or NULL out of range. */
const schema_key *schema_at(int i) { return i >= 0 && i < NKEYS ? &KEYS[i] : NULL; }

/* Index of key, or -1. */
int schema_find(const char *key) {
    for (int i = 0; key && i < NKEYS; i++)
        if (strcmp(KEYS[i].key, key) == 0) return i;
    return -1;
}

/* 1 when prefix is a section: some key starts with prefix + ".". */
int schema_is_section(const char *prefix) {
    size_t n = strlen(prefix);
    for (int i = 0; n && i < NKEYS; i++)
        if (strncmp(KEYS[i].key, prefix, n) == 0 && KEYS[i].key[n] == '.') return 1;
    return 0;
}

/* Splits "a | b | c" into at most max words of up to 31 characters; returns the count. */
static int split_values(const char *values, char words[][32], int max) {
    int n = 0;
    const char *p = values;
    while (p && *p && n < max) {
        while (*p == ' ' || *p == '|') p++;
        size_t len = strcspn(p, " |");
        if (!len) break;
        snprintf(words[n++], 32, "%.*s", (int)len, p);
        p += len;
    }
    return n;
}

/* 1 when encoding vt may be set as the key of this type. */
static int encoding_fits(schema_type t, const pe_vtable *vt) {
    if (t == SK_ABSOLUTE) return vt->hooks == 0 || vt->hooks == PE_HOOK_EMBED;
    return !(vt->hooks & PE_HOOK_EMBED);
}

/* "none | sinusoidal | learned": the registry's encodings that fit type t. */
static const char *encoding_list(schema_type t, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < pe_count(); i++) {
        const pe_vtable *vt = pe_at(i);
        if (!encoding_fits(t, vt) || len >= n) continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? " | " : "", vt->name);
    }
    return buf;
}

/* "lm | textcls | ..." (SK_TASK) or every dataset "kjv | sotu | ..." (SK_DATASET) of the task
 * registry, in its order. */
static const char *task_list(schema_type t, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < task_count(); i++) {
        const task_vtable *vt = task_at(i);
        if (t == SK_TASK) {
            if (len < n) len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? " | " : "", vt->kind);
            continue;
        }
        for (const task_dataset *d = vt->datasets; d->name && len < n; d++)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? " | " : "", d->name);
    }
    return buf;
}

const char *schema_describe(int i, char *buf, size_t n) {
    const schema_key *k = schema_at(i);
    if (!n) return buf;
    size_t len = (size_t)snprintf(buf, n, "%s", k ? k->desc : "");
    const int dataset = k && strcmp(k->key, "task.dataset") == 0, seq_len = k && strcmp(k->key, "task.seq_len") == 0;
    if (!(dataset || seq_len) || len < 1 || len >= n || buf[len - 1] != ')') return buf;
    len--; /* the registry's values go inside the closing parenthesis */
    const char *sep = ": ";
    for (int pass = 0; pass < 2; pass++) /* seq_len: the datasets with a default, then those whose keys set it */
        for (int t = 0; t < task_count(); t++)
            for (const task_dataset *d = task_at(t)->datasets; d->name && len < n; d++) {
                if (dataset && (pass || d != task_at(t)->datasets)) break; /* a kind's default: its first */
                if (seq_len && (pass ? d->seq_len != 0 : d->seq_len == 0)) continue;
                if (dataset || !pass) len += (size_t)snprintf(buf + len, n - len, "%s%s", sep, d->name);
                if (seq_len && !pass && len < n) len += (size_t)snprintf(buf + len, n - len, " %d", d->seq_len);
                if (seq_len && pass) len += (size_t)snprintf(buf + len, n - len, "; %s: set by its other keys", d->name);
                sep = ", ";
            }
    if (len < n) snprintf(buf + len, n - len, ")");
    return buf;
}

/* Prints a range bound: integers without a fraction. */
static void fmt_bound(char *buf, size_t n, double x, int is_int) {
    if (is_int) snprintf(buf, n, "%.0f", x);
    else snprintf(buf, n, "%g", x);
}

/* The valid values (or range) of key i as one line. */
const char *schema_choices(int i, char *buf, size_t n) {
    const schema_key *k = schema_at(i);
    if (!n) return buf;
    buf[0] = 0;
    if (!k) return buf;
    switch (k->type) {
    case SK_ENUM: snprintf(buf, n, "%s", k->values); break;
    case SK_ABSOLUTE:
    case SK_ENCODING: encoding_list(k->type, buf, n); break;
    case SK_TASK:
    case SK_DATASET: task_list(k->type, buf, n); break;
    case SK_PEOPT: {
        char words[8][32];
        int nw = split_values(pe_option_choices(strrchr(k->key, '.') + 1), words, 8);
        size_t len = 0;
        for (int w = 0; w < nw && len < n; w++) {
            size_t wl = strcspn(words[w], ",");
            len += (size_t)snprintf(buf + len, n - len, "%s%.*s", w ? " | " : "", (int)wl, words[w]);
        }
        break;
    }
    case SK_INT:
    case SK_FLOAT: {
        if (k->values) {
            snprintf(buf, n, "%s", k->values);
            break;
        }
        char lo[32], hi[32];
        fmt_bound(lo, sizeof lo, k->lo, k->type == SK_INT);
        fmt_bound(hi, sizeof hi, k->hi, k->type == SK_INT);
        snprintf(buf, n, "%c%s, %s%c", k->flags & SK_LO_OPEN ? '(' : '[', lo, hi, k->flags & SK_HI_OPEN ? ')' : ']');
        break;
    }
    case SK_INTS: {
        char lo[32], hi[32];
        fmt_bound(lo, sizeof lo, k->lo, 1);
        fmt_bound(hi, sizeof hi, k->hi, 1);
        snprintf(buf, n, "list of integers in [%s, %s]", lo, hi);
        break;
    }
    case SK_STR: break;
    }
    return buf;
}

/* 1 when text starts like a decimal number (digit, sign or point) and holds no hex marker. */
static int numeric_shape(const char *t) {
    if (!(isdigit((unsigned char)t[0]) || t[0] == '+' || t[0] == '-' || t[0] == '.')) return 0;
    return strpbrk(t, "xXpP_ \t") == NULL;
}

/* Parses a finite decimal number; 0 or -1. */
static int parse_double(const char *t, double *out) {
    if (!numeric_shape(t)) return -1;
    char *end;
    errno = 0;
    double x = strtod(t, &end);
    if (end == t || *end || !isfinite(x)) return -1;
    *out = x == 0 ? 0.0 : x; /* no negative zero */
    return 0;
}

/* Parses an integer: decimal digits, or a number with an exact integer value ("2e3"); 0 or -1. */
static int parse_ll(const char *t, long long *out) {
    if (!numeric_shape(t)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    if (!*end && end != t && errno == 0) {
        *out = v;
        return 0;
    }
    double x;
    if (parse_double(t, &x) || x != floor(x) || fabs(x) > 9e15) return -1;
    *out = (long long)x;
    return 0;
}

/* The shortest %g form of x that reads back as exactly x. */
static void fmt_double(char *buf, size_t n, double x) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* "-0.001 is out of range (0, 10]" for key k. */
static int range_fail(const schema_key *k, int i, const char *shown, char *err, size_t errlen) {
    char r[64];
    return errf(err, errlen, "%s: %s is out of range %s", k->key, shown, schema_choices(i, r, sizeof r));
}

/* Checks an enum-like word against values ("a | b"); -1 with a suggestion otherwise. */
static int check_word(const schema_key *k, const char *what, const char *values, const char *t, char *err,
                      size_t errlen) {
    char words[16][32];
    const char *cands[16];
    int nw = split_values(values, words, 16);
    for (int w = 0; w < nw; w++) {
        if (strcmp(words[w], t) == 0) return 0;
        cands[w] = words[w];
    }
    const char *near = schema_closest(t, cands, nw);
    char hint[64] = "";
    if (near) snprintf(hint, sizeof hint, "did you mean %s? ", near);
    return errf(err, errlen, "%s: %s '%.60s' (%svalid: %s)", k->key, what, t, hint, values);
}

/* Checks an encoding name for an SK_ABSOLUTE / SK_ENCODING key. */
static int check_encoding(const schema_key *k, const char *t, char *err, size_t errlen) {
    char list[512];
    encoding_list(k->type, list, sizeof list);
    const pe_vtable *vt = pe_lookup(t);
    if (!vt) return check_word(k, "unknown encoding", list, t, err, errlen);
    if (encoding_fits(k->type, vt)) return 0;
    if (k->type == SK_ABSOLUTE)
        return errf(err, errlen, "%s: '%s' is a relative encoding: set it as model.encoding (valid here: %s)", k->key,
                    t, list);
    return errf(err, errlen, "%s: '%s' is an absolute encoding: set it as model.absolute (valid here: %s)", k->key, t,
                list);
}

static int by_value(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* An SK_INTS value: "a,b,c" or "[a, b, c]" (spaces anywhere), into out->s as "a,b,c" ascending. */
static int parse_ints(const schema_key *k, const char *text, cfg_value *out, char *err, size_t errlen) {
    long long v[SCHEMA_MAX_INTS];
    int n = 0;
    char word[64], canon[SCHEMA_MAX_INTS * 21 + 1] = "";
    const char *p = text + strspn(text, " ["), *end = text + strlen(text);
    while (end > p && (end[-1] == ' ' || end[-1] == ']')) end--;
    while (p < end) {
        size_t len = strcspn(p, ","), w = len;
        if (p + len > end) len = w = (size_t)(end - p);
        while (w && p[w - 1] == ' ') w--;
        snprintf(word, sizeof word, "%.*s", (int)(w < 63 ? w : 63), p + strspn(p, " "));
        if (n == SCHEMA_MAX_INTS) return errf(err, errlen, "%s: at most %d values", k->key, SCHEMA_MAX_INTS);
        if (parse_ll(word, &v[n]))
            return errf(err, errlen, "%s: expected a list of integers such as [128, 256], got '%.60s'", k->key, text);
        if ((double)v[n] < k->lo || (double)v[n] > k->hi)
            return errf(err, errlen, "%s: %lld is out of range: each value must be in [%.0f, %.0f]", k->key, v[n], k->lo,
                        k->hi);
        n++;
        p += len + (p[len] == ',');
    }
    qsort(v, (size_t)n, sizeof *v, by_value);
    for (int j = 0; j < n; j++) {
        if (j && v[j] == v[j - 1]) return errf(err, errlen, "%s: %lld is listed twice", k->key, v[j]);
        snprintf(canon + strlen(canon), sizeof canon - strlen(canon), "%s%lld", j ? "," : "", v[j]);
    }
    if (!(out->s = strdup(canon))) return errf(err, errlen, "%s: out of memory", k->key);
    return 0;
}

/* Parses text as the value of key i into out (canonical text in out->s). */
int schema_parse(int i, const char *text, cfg_value *out, char *err, size_t errlen) {
    const schema_key *k = schema_at(i);
    memset(out, 0, sizeof *out);
    if (!k) return errf(err, errlen, "schema: no key %d", i);
    if (!text) text = "";
    char canon[64];
    const char *s = text;
    switch (k->type) {
    case SK_INT: {
        long long v;
        if (parse_ll(text, &v)) return errf(err, errlen, "%s: expected an integer, got '%.60s'", k->key, text);
        snprintf(canon, sizeof canon, "%lld", v);
        if (k->values) {
            if (check_word(k, "invalid value", k->values, canon, err, errlen)) return -1;
        } else if ((double)v < k->lo || (double)v > k->hi) {
            return range_fail(k, i, canon, err, errlen);
        }
        out->i = v;
        out->f = (double)v;
        s = canon;
        break;
    }
    case SK_FLOAT: {
        double x;
        if (parse_double(text, &x)) return errf(err, errlen, "%s: expected a number, got '%.60s'", k->key, text);
        fmt_double(canon, sizeof canon, x);
        int lo_bad = k->flags & SK_LO_OPEN ? x <= k->lo : x < k->lo;
        int hi_bad = k->flags & SK_HI_OPEN ? x >= k->hi : x > k->hi;
        if (lo_bad || hi_bad) return range_fail(k, i, canon, err, errlen);
        out->f = x;
        s = canon;
        break;
    }
    case SK_STR:
        if (strlen(text) > 4096) return errf(err, errlen, "%s: longer than 4096 bytes", k->key);
        break;
    case SK_ENUM:
        if (check_word(k, "invalid value", k->values, text, err, errlen)) return -1;
        break;
    case SK_ABSOLUTE:
    case SK_ENCODING:
        if (check_encoding(k, text, err, errlen)) return -1;
        break;
    case SK_TASK:
    case SK_DATASET: {
        char list[512];
        if (check_word(k, "invalid value", task_list(k->type, list, sizeof list), text, err, errlen)) return -1;
        break;
    }
    case SK_PEOPT: {
        pe_options o = pe_options_default();
        char list[128];
        if (pe_options_set(&o, strrchr(k->key, '.') + 1, text, NULL, 0))
            return check_word(k, "invalid value", schema_choices(i, list, sizeof list), text, err, errlen);
        break;
    }
    case SK_INTS:
        return parse_ints(k, text, out, err, errlen);
    }
    if (!(out->s = strdup(s))) return errf(err, errlen, "%s: out of memory", k->key);
    return 0;
}

/* Frees the value's text (NULL-safe; the value becomes empty). */
void cfg_value_free(cfg_value *v) {
    if (!v) return;
    free(v->s);
    memset(v, 0, sizeof *v);
}

/* dst = a deep copy of src. */
int cfg_value_copy(cfg_value *dst, const cfg_value *src) {
    *dst = *src;
    if (src->s && !(dst->s = strdup(src->s))) return -1;
    return 0;
}

/* Optimal-string-alignment distance (edits and adjacent swaps), on the first 63 bytes. */
static int edit_distance(const char *a, const char *b) {
    int m = (int)strlen(a), n = (int)strlen(b);
    if (m > 63) m = 63;
    if (n > 63) n = 63;
    int d[64][64];
    for (int i = 0; i <= m; i++) d[i][0] = i;
    for (int j = 0; j <= n; j++) d[0][j] = j;
    for (int i = 1; i <= m; i++)
        for (int j = 1; j <= n; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[m][n];
}

/* Largest distance still worth a suggestion for a word of this length. */
static int near_limit(const char *word) { return 1 + (int)strlen(word) / 4; }

/* The closest candidate within near_limit, or NULL. */
const char *schema_closest(const char *word, const char *const *cands, int ncands) {
    const char *best = NULL;
    int bestd = near_limit(word) + 1;
    for (int c = 0; c < ncands; c++) {
        int dist = edit_distance(word, cands[c]);
        if (dist < bestd) bestd = dist, best = cands[c];
    }
    return best;
}

/* Closest key, section or extra name to word (or a key ending in "." word). */
int schema_suggest(const char *word, const char *const *extra, char *out, size_t n) {
    size_t wl = strlen(word);
    for (int i = 0; wl && i < NKEYS; i++) { /* a key given without its section */
        size_t kl = strlen(KEYS[i].key);
        if (kl > wl && KEYS[i].key[kl - wl - 1] == '.' && strcmp(KEYS[i].key + kl - wl, word) == 0) {
            snprintf(out, n, "%s", KEYS[i].key);
            return 1;
        }
    }
    int bestd = near_limit(word) + 1;
    for (int i = 0; i < NKEYS; i++) { /* every key and each of its sections */
        char cand[128];
        snprintf(cand, sizeof cand, "%s", KEYS[i].key);
        for (;;) {
            int dist = edit_distance(word, cand);
            if (dist < bestd) {
                bestd = dist;
                snprintf(out, n, "%s", cand);
            }
            char *dot = strrchr(cand, '.');
            if (!dot) break;
            *dot = 0;
        }
    }
    for (int e = 0; extra && extra[e]; e++) {
        int dist = edit_distance(word, extra[e]);
        if (dist < bestd) {
            bestd = dist;
            snprintf(out, n, "%s", extra[e]);
        }
    }
    return bestd <= near_limit(word);
}
