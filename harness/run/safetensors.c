#include "safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"
#include "text.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c stores tensors as raw host bytes and so needs a little-endian host"
#endif

#define ELEM_BYTES 4 /* both supported dtypes */

/* A tensor as parsed: the public view plus its byte range in the data section. */
typedef struct entry {
    st_tensor t;
    uint64_t begin, end;
} entry;

struct st_file {
    char *label;
    unsigned char *buf; /* the data section, moved to the start of the loaded buffer */
    size_t data_len;
    entry *e;
    int n, cap;
    int *by_name; /* indices of e sorted by name, for lookups */
    st_meta *meta;
    int nmeta, mcap;
};

/* ---------------------------------------------------------------- small helpers */

/* Formats a shape as "[2, 3]" into out. */
static const char *fmt_shape(char *out, size_t len, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(out, len, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(out + k, len - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < len) snprintf(out + k, len - k, "]");
    return out;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    /* overlong forms, UTF-16 surrogates and code points above U+10FFFF */
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] >= 0x90))
        return 0;
    return len;
}

/* The format's name of a dtype. */
const char *st_dtype_name(st_dtype dtype) {
    return dtype == ST_F32 ? "F32" : dtype == ST_I32 ? "I32" : "?";
}

/* Product of the shape (1 for a scalar). */
size_t st_numel(const st_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

/* Element count of a shape, or SIZE_MAX when its byte size would overflow. */
static size_t checked_numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return SIZE_MAX;
        if (shape[i] && n > SIZE_MAX / ELEM_BYTES / (uint64_t)shape[i]) return SIZE_MAX;
        n *= (size_t)shape[i];
    }
    return n;
}

/* ---------------------------------------------------------------- writer */

/* A growable byte buffer; oom is set (and further appends dropped) when memory runs out. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

/* Appends len bytes to b. */
static void sb_put(sbuf *b, const void *s, size_t len) {
    if (b->oom) return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

/* Appends a C string to b. */
static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Appends s as a JSON string literal (quotes, backslashes and control bytes escaped). */
static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Checks a name / key / value the writer is given: present and valid UTF-8. */
static int check_string(const char *s, const char *what, const char *path, char *err, size_t errlen) {
    if (!s) return errf_label(err, errlen, path, "%s is NULL", what);
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (!k) return errf_label(err, errlen, path, "%s is not valid UTF-8", what);
        i += k;
    }
    return 0;
}

/* qsort comparator of C string pointers. */
static int cmp_strp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks strings[n] (one of the writer's name lists) for duplicates. Returns 0, or -1 with the
 * reason in err. */
static int check_unique(const char **strings, int n, const char *what, const char *path, char *err,
                        size_t errlen) {
    if (n < 2) return 0;
    const char **s = malloc((size_t)n * sizeof *s);
    if (!s) return errf_label(err, errlen, path, "out of memory");
    memcpy(s, strings, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_strp);
    int rc = 0;
    char nb[64];
    for (int i = 1; i < n && !rc; i++)
        if (strcmp(s[i - 1], s[i]) == 0) rc = errf_label(err, errlen, path, "%s '%s' appears twice", what, text_shown(s[i], nb, sizeof nb));
    free(s);
    return rc;
}

/* Validates the writer's arguments and builds the padded JSON header into h. */
static int build_header(sbuf *h, const st_tensor *t, int n, const st_meta *meta, int nmeta,
                        const char *path, char *err, size_t errlen) {
    char nb[64];
    if (n < 0 || nmeta < 0 || (n && !t) || (nmeta && !meta))
        return errf_label(err, errlen, path, "invalid tensor or metadata list");
    const int nn = n > nmeta ? n : nmeta;
    const char **names = malloc((size_t)(nn ? nn : 1) * sizeof *names);
    if (!names) return errf_label(err, errlen, path, "out of memory");
    int rc = 0;
    for (int i = 0; i < nmeta && !rc; i++) {
        rc = check_string(meta[i].key, "a metadata key", path, err, errlen) ||
             check_string(meta[i].value, "a metadata value", path, err, errlen);
        names[i] = meta[i].key;
    }
    rc = rc || check_unique(names, nmeta, "metadata key", path, err, errlen);
    for (int i = 0; i < n && !rc; i++) {
        rc = check_string(t[i].name, "a tensor name", path, err, errlen);
        names[i] = t[i].name;
    }
    rc = rc || check_unique(names, n, "tensor name", path, err, errlen);
    free(names);
    if (rc) return -1;

    sb_puts(h, "{");
    if (nmeta) {
        sb_puts(h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) sb_puts(h, ",");
            sb_json_string(h, meta[i].key);
            sb_puts(h, ":");
            sb_json_string(h, meta[i].value);
        }
        sb_puts(h, "}");
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *x = &t[i];
        if (!x->name[0] || strcmp(x->name, "__metadata__") == 0)
            return errf_label(err, errlen, path, "'%s' is not a valid tensor name", text_shown(x->name, nb, sizeof nb));
        if (x->dtype != ST_F32 && x->dtype != ST_I32)
            return errf_label(err, errlen, path, "tensor '%s': unsupported dtype %d", text_shown(x->name, nb, sizeof nb), (int)x->dtype);
        if (x->ndim < 0 || x->ndim > ST_MAX_DIM)
            return errf_label(err, errlen, path, "tensor '%s': %d dimensions (0..%d supported)", text_shown(x->name, nb, sizeof nb),
                        x->ndim, ST_MAX_DIM);
        size_t numel = checked_numel(x->ndim, x->shape);
        if (numel == SIZE_MAX)
            return errf_label(err, errlen, path, "tensor '%s': negative or too large shape", text_shown(x->name, nb, sizeof nb));
        if (numel && !x->data) return errf_label(err, errlen, path, "tensor '%s': data is NULL", text_shown(x->name, nb, sizeof nb));
        char num[64];
        sb_puts(h, nmeta || i ? "," : "");
        sb_json_string(h, x->name);
        sb_puts(h, ":{\"dtype\":\"");
        sb_puts(h, st_dtype_name(x->dtype));
        sb_puts(h, "\",\"shape\":[");
        for (int k = 0; k < x->ndim; k++) {
            snprintf(num, sizeof num, "%s%" PRId64, k ? "," : "", x->shape[k]);
            sb_puts(h, num);
        }
        uint64_t end = offset + (uint64_t)numel * ELEM_BYTES;
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, end);
        sb_puts(h, num);
        offset = end;
    }
    sb_puts(h, "}");
    while (h->n % 8) sb_puts(h, " "); /* the data starts 8-byte aligned, as the reference pads */
    if (h->oom) return errf_label(err, errlen, path, "out of memory");
    return 0;
}

/* Writes the header and data, flushed and fsync'ed; removes the file on failure. */
int st_write(const char *path, const st_tensor *t, int n, const st_meta *meta, int nmeta, char *err,
             size_t errlen) {
    sbuf h = {0};
    if (build_header(&h, t, n, meta, nmeta, path, err, errlen)) {
        free(h.p);
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h.p);
        return errf_label(err, errlen, path, "cannot create: %s", strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    errno = 0;
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.p, 1, h.n, f) == h.n;
    for (int i = 0; i < n && ok; i++) {
        size_t bytes = st_numel(&t[i]) * ELEM_BYTES;
        ok = !bytes || fwrite(t[i].data, 1, bytes, f) == bytes;
    }
    free(h.p);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    if (fclose(f) != 0) ok = 0, saved = saved ? saved : errno;
    if (!ok) {
        remove(path);
        return errf_label(err, errlen, path, "write failed: %s", saved ? strerror(saved) : "short write");
    }
    return 0;
}

/* ---------------------------------------------------------------- header parser */

/* A strict JSON parser for exactly the safetensors header: objects, strings with escapes and
 * arrays of non-negative integers. */
typedef struct jp {
    const char *s;
    size_t n, i;
    const char *label;
    char *err;
    size_t errlen;
} jp;

/* Records a parse error at the current position and returns -1. */
static int jp_fail(jp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jp_fail(jp *p, const char *fmt, ...) {
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return errf_label(p->err, p->errlen, p->label, "corrupt header at byte %zu: %s", p->i, msg);
}

/* Skips JSON whitespace. */
static void jp_ws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

/* The next character after whitespace (not consumed), or 0 at the end. */
static char jp_peek(jp *p) {
    jp_ws(p);
    return p->i < p->n ? p->s[p->i] : 0;
}

/* Consumes character c (after whitespace) or fails naming what was expected. */
static int jp_expect(jp *p, char c, const char *what) {
    if (jp_peek(p) != c) return jp_fail(p, "expected %s", what);
    p->i++;
    return 0;
}

/* Reads 4 hex digits of a \u escape. */
static int jp_hex4(jp *p, unsigned *out) {
    if (p->n - p->i < 4) return jp_fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return jp_fail(p, "invalid \\u escape");
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

/* Parses a string literal into a malloc'd, NUL-terminated UTF-8 string. */
static int jp_string(jp *p, char **out) {
    *out = NULL;
    if (jp_peek(p) != '"') return jp_fail(p, "expected a string");
    p->i++;
    sbuf b = {0};
    for (;;) {
        if (p->i >= p->n) {
            free(b.p);
            return jp_fail(p, "unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20) {
            free(b.p);
            return jp_fail(p, "control character in a string");
        }
        if (c != '\\') {
            size_t k = utf8_len((const unsigned char *)p->s + p->i, p->n - p->i);
            if (!k) {
                free(b.p);
                return jp_fail(p, "invalid UTF-8 in a string");
            }
            sb_put(&b, p->s + p->i, k);
            p->i += k;
            continue;
        }
        if (++p->i >= p->n) {
            free(b.p);
            return jp_fail(p, "unterminated string");
        }
        char e = p->s[p->i++], ch = 0;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': break;
        default:
            free(b.p);
            p->i--;
            return jp_fail(p, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
        }
        if (e != 'u') {
            sb_put(&b, &ch, 1);
            continue;
        }
        unsigned cp, lo;
        if (jp_hex4(p, &cp)) return free(b.p), -1;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return free(b.p), jp_fail(p, "lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                return free(b.p), jp_fail(p, "high surrogate without its low half");
            p->i += 2;
            if (jp_hex4(p, &lo)) return free(b.p), -1;
            if (lo < 0xDC00 || lo > 0xDFFF) return free(b.p), jp_fail(p, "high surrogate without its low half");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0) return free(b.p), jp_fail(p, "\\u0000 in a string is not supported");
        unsigned char u[4];
        size_t k;
        if (cp < 0x80) u[0] = (unsigned char)cp, k = 1;
        else if (cp < 0x800) u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), k = 2;
        else if (cp < 0x10000)
            u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
            u[2] = (unsigned char)(0x80 | (cp & 0x3F)), k = 3;
        else
            u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
            u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F)), k = 4;
        sb_put(&b, u, k);
    }
    sb_put(&b, "", 1);
    if (b.oom) {
        free(b.p);
        return jp_fail(p, "out of memory");
    }
    *out = b.p;
    return 0;
}

/* Parses a non-negative integer (no sign, fraction, exponent or leading zeros). */
static int jp_uint(jp *p, uint64_t *out) {
    char c = jp_peek(p);
    if (c == '-') return jp_fail(p, "negative number where a size or offset belongs");
    if (c < '0' || c > '9') return jp_fail(p, "expected an integer");
    if (c == '0' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9')
        return jp_fail(p, "integer with a leading zero");
    uint64_t v = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned d = (unsigned)(p->s[p->i] - '0');
        if (v > (UINT64_MAX - d) / 10) return jp_fail(p, "integer too large");
        v = v * 10 + d;
        p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E'))
        return jp_fail(p, "expected an integer, found a fraction or exponent");
    *out = v;
    return 0;
}

/* Parses [int, ...] with at most max elements into v; *count gets the number read. */
static int jp_uint_array(jp *p, uint64_t *v, int max, int *count, const char *what) {
    *count = 0;
    if (jp_expect(p, '[', "'[' (an array)")) return -1;
    if (jp_peek(p) == ']') {
        p->i++;
        return 0;
    }
    for (;;) {
        if (*count == max) return jp_fail(p, "%s has more than %d elements", what, max);
        if (jp_uint(p, &v[(*count)++])) return -1;
        char c = jp_peek(p);
        if (c == ']') {
            p->i++;
            return 0;
        }
        if (c != ',') return jp_fail(p, "expected ',' or ']' in %s", what);
        p->i++;
    }
}

/* Parses the "__metadata__" object: string keys to string values. */
static int jp_metadata(jp *p, st_file *f) {
    if (jp_expect(p, '{', "'{' after \"__metadata__\"")) return -1;
    if (jp_peek(p) == '}') {
        p->i++;
        return 0;
    }
    for (;;) {
        char *key, *value, nb[64];
        if (jp_string(p, &key)) return -1;
        for (int i = 0; i < f->nmeta; i++)
            if (strcmp(f->meta[i].key, key) == 0) {
                jp_fail(p, "metadata key '%s' appears twice", text_shown(key, nb, sizeof nb));
                return free(key), -1;
            }
        if (jp_expect(p, ':', "':' after a metadata key")) return free(key), -1;
        if (jp_peek(p) != '"') {
            jp_fail(p, "metadata value of '%s' is not a string", text_shown(key, nb, sizeof nb));
            return free(key), -1;
        }
        if (jp_string(p, &value)) return free(key), -1;
        if (f->nmeta == f->mcap) {
            int cap = f->mcap ? 2 * f->mcap : 16;
            st_meta *m = realloc(f->meta, (size_t)cap * sizeof *m);
            if (!m) return free(key), free(value), jp_fail(p, "out of memory");
            f->meta = m, f->mcap = cap;
        }
        f->meta[f->nmeta++] = (st_meta){key, value};
        char c = jp_peek(p);
        if (c == '}') {
            p->i++;
            return 0;
        }
        if (c != ',') return jp_fail(p, "expected ',' or '}' in \"__metadata__\"");
        p->i++;
    }
}

/* Parses one tensor's {"dtype", "shape", "data_offsets"} object into e (name already set). */
static int jp_tensor_info(jp *p, entry *e) {
    char nb[64];
    const char *name = text_shown(e->t.name, nb, sizeof nb);
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (jp_expect(p, '{', "'{' (a tensor's description)")) return -1;
    for (;;) {
        char *key;
        if (jp_string(p, &key)) return -1;
        if (jp_expect(p, ':', "':' after a key")) return free(key), -1;
        int rc = 0;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            char *dt;
            if ((rc = jp_string(p, &dt)) == 0) {
                if (strcmp(dt, "F32") == 0) e->t.dtype = ST_F32;
                else if (strcmp(dt, "I32") == 0) e->t.dtype = ST_I32;
                else rc = jp_fail(p, "tensor '%s': dtype '%.16s' is not supported (only F32 and I32)", name, dt);
                free(dt);
            }
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            uint64_t dims[ST_MAX_DIM];
            rc = jp_uint_array(p, dims, ST_MAX_DIM, &e->t.ndim, "a shape");
            for (int i = 0; i < e->t.ndim && !rc; i++) {
                if (dims[i] > (uint64_t)INT64_MAX) rc = jp_fail(p, "tensor '%s': dimension too large", name);
                e->t.shape[i] = (int64_t)dims[i];
            }
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            uint64_t off[2] = {0, 0};
            int k;
            rc = jp_uint_array(p, off, 2, &k, "data_offsets");
            if (!rc && k != 2) rc = jp_fail(p, "tensor '%s': data_offsets needs 2 elements", name);
            e->begin = off[0], e->end = off[1];
            have_offsets = 1;
        } else if (strcmp(key, "dtype") == 0 || strcmp(key, "shape") == 0 || strcmp(key, "data_offsets") == 0) {
            rc = jp_fail(p, "tensor '%s': key '%s' appears twice", name, key);
        } else {
            char kb[64];
            rc = jp_fail(p, "tensor '%s': unknown key '%s'", name, text_shown(key, kb, sizeof kb));
        }
        free(key);
        if (rc) return -1;
        char c = jp_peek(p);
        if (c == '}') {
            p->i++;
            break;
        }
        if (c != ',') return jp_fail(p, "expected ',' or '}' in tensor '%s'", name);
        p->i++;
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return jp_fail(p, "tensor '%s' lacks \"%s\"", name, !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return 0;
}

/* Parses the whole header into f's tensor and metadata lists. */
static int parse_header(st_file *f, const char *s, size_t n, char *err, size_t errlen) {
    jp p = {.s = s, .n = n, .label = f->label, .err = err, .errlen = errlen};
    int have_meta = 0;
    if (jp_expect(&p, '{', "'{' at the start of the header")) return -1;
    if (jp_peek(&p) == '}') {
        p.i++;
    } else {
        for (;;) {
            char *key;
            if (jp_string(&p, &key)) return -1;
            if (jp_expect(&p, ':', "':' after a key")) return free(key), -1;
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                if (have_meta) return jp_fail(&p, "\"__metadata__\" appears twice");
                have_meta = 1;
                if (jp_metadata(&p, f)) return -1;
            } else {
                if (f->n == f->cap) {
                    int cap = f->cap ? 2 * f->cap : 64;
                    entry *e = realloc(f->e, (size_t)cap * sizeof *e);
                    if (!e) return free(key), jp_fail(&p, "out of memory");
                    f->e = e, f->cap = cap;
                }
                entry *e = &f->e[f->n++];
                memset(e, 0, sizeof *e);
                e->t.name = key;
                if (jp_tensor_info(&p, e)) return -1;
            }
            char c = jp_peek(&p);
            if (c == '}') {
                p.i++;
                break;
            }
            if (c != ',') return jp_fail(&p, "expected ',' or '}' between entries");
            p.i++;
        }
    }
    if (jp_peek(&p)) return jp_fail(&p, "unexpected bytes after the header object");
    return 0;
}

/* ---------------------------------------------------------------- validation and loading */

/* qsort comparators of entry pointers: by (begin, end), and by name. */
static int cmp_offset(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}
static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const entry *const *)a)->t.name, (*(const entry *const *)b)->t.name);
}

/* Checks that the tensors tile the data section exactly and builds the name index. */
static int validate(st_file *f, char *err, size_t errlen) {
    char nb[64], nb2[64], sb[160];
    const char *L = f->label;
    for (int i = 0; i < f->n; i++) {
        const entry *e = &f->e[i];
        const char *name = text_shown(e->t.name, nb, sizeof nb);
        if (e->begin > e->end)
            return errf_label(err, errlen, L, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] are reversed (corrupt file)",
                        name, e->begin, e->end);
        if (e->end > f->data_len)
            return errf_label(err, errlen, L,
                        "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] run past the end of the %zu-byte data section "
                        "(truncated or corrupt file)", name, e->begin, e->end, f->data_len);
        size_t numel = checked_numel(e->t.ndim, e->t.shape);
        if (numel == SIZE_MAX || (uint64_t)numel * ELEM_BYTES != e->end - e->begin)
            return errf_label(err, errlen, L,
                        "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64 " bytes but %s %s needs %zu "
                        "(corrupt file)", name, e->begin, e->end, e->end - e->begin, st_dtype_name(e->t.dtype),
                        fmt_shape(sb, sizeof sb, e->t.ndim, e->t.shape), numel == SIZE_MAX ? SIZE_MAX : numel * ELEM_BYTES);
    }
    const size_t cnt = (size_t)(f->n ? f->n : 1);
    const entry **order = malloc(cnt * sizeof *order), **names = malloc(cnt * sizeof *names);
    f->by_name = malloc(cnt * sizeof *f->by_name);
    if (!order || !names || !f->by_name) return free(order), free(names), errf_label(err, errlen, L, "out of memory");
    for (int i = 0; i < f->n; i++) order[i] = names[i] = &f->e[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_offset);
    qsort(names, (size_t)f->n, sizeof *names, cmp_name);
    for (int i = 0; i < f->n; i++) f->by_name[i] = (int)(names[i] - f->e);
    int rc = 0;
    uint64_t expect = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        const entry *e = order[i];
        if (e->begin < expect)
            rc = errf_label(err, errlen, L, "tensors '%s' and '%s' overlap at data byte %" PRIu64 " (corrupt file)",
                      text_shown(order[i - 1]->t.name, nb2, sizeof nb2), text_shown(e->t.name, nb, sizeof nb), e->begin);
        else if (e->begin > expect)
            rc = errf_label(err, errlen, L, "%" PRIu64 " unused bytes before tensor '%s' at data byte %" PRIu64
                      " (tensors must be contiguous; corrupt file)", e->begin - expect, text_shown(e->t.name, nb, sizeof nb), expect);
        expect = e->end;
    }
    if (!rc && expect != f->data_len)
        rc = errf_label(err, errlen, L, "%" PRIu64 " bytes of data after the last tensor (corrupt file)", f->data_len - expect);
    for (int i = 1; i < f->n && !rc; i++)
        if (strcmp(names[i - 1]->t.name, names[i]->t.name) == 0)
            rc = errf_label(err, errlen, L, "tensor '%s' appears twice (corrupt file)", text_shown(names[i]->t.name, nb, sizeof nb));
    free(names);
    free(order);
    return rc;
}

/* Parses a loaded file image buf[len] (malloc'd; ownership passes to the result). */
static int parse_owned(st_file **out, unsigned char *buf, size_t len, const char *label, char *err,
                       size_t errlen) {
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    size_t llen = strlen(label) + 1;
    char *lab = f ? malloc(llen) : NULL;
    if (!lab) {
        free(f);
        free(buf);
        return errf_label(err, errlen, label, "out of memory");
    }
    f->label = memcpy(lab, label, llen);
    f->buf = buf;
    if (len < 8) {
        errf_label(err, errlen, label, "%zu bytes is shorter than the 8-byte header length (truncated or not a safetensors file)", len);
        return st_close(f), -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > len - 8) {
        errf_label(err, errlen, label, "header length %" PRIu64 " exceeds file size %zu (truncated or corrupt file)", hlen, len);
        return st_close(f), -1;
    }
    if (hlen > ST_HEADER_MAX) {
        errf_label(err, errlen, label, "header length %" PRIu64 " exceeds the %u-byte limit (corrupt file)", hlen, ST_HEADER_MAX);
        return st_close(f), -1;
    }
    f->data_len = len - 8 - (size_t)hlen;
    if (parse_header(f, (const char *)buf + 8, (size_t)hlen, err, errlen) || validate(f, err, errlen))
        return st_close(f), -1;
    /* move the data to the start of the (malloc-aligned) buffer: every tensor is then 4-byte
     * aligned whatever the header length was */
    memmove(buf, buf + 8 + hlen, f->data_len);
    for (int i = 0; i < f->n; i++) f->e[i].t.data = buf + f->e[i].begin;
    *out = f;
    return 0;
}

/* Parses a copy of an in-memory file image. */
int st_parse(st_file **out, const void *buf, size_t len, const char *label, char *err, size_t errlen) {
    *out = NULL;
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy) return errf_label(err, errlen, label, "out of memory");
    if (len) memcpy(copy, buf, len);
    return parse_owned(out, copy, len, label, err, errlen);
}

/* Loads a whole file and parses it. */
int st_read(st_file **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    char *buf;
    size_t size;
    /* a folder, a FIFO or a device is refused before anything is sized */
    if (fs_read_file(path, ST_FILE_MAX, &buf, &size, err, errlen)) return -1;
    return parse_owned(out, (unsigned char *)buf, size, path, err, errlen);
}

/* Frees the file, its tensors' names and data, and its metadata. */
void st_close(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free((char *)f->e[i].t.name);
    for (int i = 0; i < f->nmeta; i++) free((char *)f->meta[i].key), free((char *)f->meta[i].value);
    free(f->e);
    free(f->by_name);
    free(f->meta);
    free(f->buf);
    free(f->label);
    free(f);
}

/* ---------------------------------------------------------------- lookups */

/* Number of tensors. */
int st_count(const st_file *f) { return f->n; }

/* Tensor i in header order, or NULL. */
const st_tensor *st_at(const st_file *f, int i) { return i >= 0 && i < f->n ? &f->e[i].t : NULL; }

/* Binary search of the name index built by validate(). */
const st_tensor *st_find(const st_file *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const entry *e = &f->e[f->by_name[mid]];
        int c = strcmp(name, e->t.name);
        if (!c) return &e->t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

/* st_find plus dtype and shape checks, with a message naming the difference. */
int st_expect(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
              const st_tensor **out, char *err, size_t errlen) {
    char nb[64], s1[160], s2[160];
    *out = NULL;
    const st_tensor *t = st_find(f, name);
    if (!t) return errf_label(err, errlen, f->label, "tensor '%s' is missing", text_shown(name, nb, sizeof nb));
    if (t->dtype != dtype)
        return errf_label(err, errlen, f->label, "tensor '%s' has dtype %s, expected %s", text_shown(name, nb, sizeof nb),
                    st_dtype_name(t->dtype), st_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int i = 0; i < ndim && same; i++) same = t->shape[i] == shape[i];
    if (!same)
        return errf_label(err, errlen, f->label, "tensor '%s' has shape %s, expected %s", text_shown(name, nb, sizeof nb),
                    fmt_shape(s1, sizeof s1, t->ndim, t->shape), fmt_shape(s2, sizeof s2, ndim, shape));
    *out = t;
    return 0;
}

/* Metadata value of key, or NULL. */
const char *st_meta_get(const st_file *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

/* Number of metadata entries. */
int st_meta_count(const st_file *f) { return f->nmeta; }

/* Metadata entry i in header order ({NULL, NULL} when out of range). */
st_meta st_meta_at(const st_file *f, int i) {
    return i >= 0 && i < f->nmeta ? f->meta[i] : (st_meta){NULL, NULL};
}
