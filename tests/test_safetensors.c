/* The safetensors reader and writer: a round trip keeps every byte, and truncated files, corrupt
 * headers and bad data offsets are refused with a one-line reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"
#include "test.h"

#define LABEL "t.safetensors"

/* a per-process temporary path with the given suffix */
static const char *tmp_path(char *buf, size_t len, const char *suffix) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/lrpe_test_st_%ld_%s", dir && *dir ? dir : "/tmp", (long)getpid(), suffix);
    return buf;
}

/* a file image from a header string (its length written in front) and data_len data bytes
 * (filled with a counter); the caller frees it */
static unsigned char *image(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (unsigned char)i;
    return b;
}

/* 1 when parsing buf[len] fails with a one-line message that names the file and contains want */
static int refused_buf(const unsigned char *buf, size_t len, const char *want, char *err, size_t errlen) {
    st_file *f = NULL;
    err[0] = 0;
    int rc = st_parse(&f, buf, len, LABEL, err, errlen);
    st_close(f);
    return rc != 0 && f == NULL && strncmp(err, LABEL ": ", strlen(LABEL) + 2) == 0 && strstr(err, want) &&
           !strchr(err, '\n');
}

/* CHECKs that a header (plus data_len bytes) is refused with a message containing want */
#define CHECK_REFUSED(header, data_len, want)                                                \
    do {                                                                                     \
        size_t len_;                                                                         \
        char err_[256];                                                                      \
        unsigned char *b_ = image(header, data_len, &len_);                                  \
        CHECK(refused_buf(b_, len_, want, err_, sizeof err_), "header %s: expected refusal with '%s', got '%s'", \
              header, want, err_);                                                           \
        free(b_);                                                                            \
    } while (0)

/* CHECKs that a header (plus data_len bytes) is accepted */
#define CHECK_ACCEPTED(header, data_len)                                                     \
    do {                                                                                     \
        size_t len_;                                                                         \
        char err_[256] = "";                                                                 \
        st_file *f_ = NULL;                                                                  \
        unsigned char *b_ = image(header, data_len, &len_);                                  \
        CHECK(st_parse(&f_, b_, len_, LABEL, err_, sizeof err_) == 0, "header %s refused: %s", header, err_); \
        st_close(f_);                                                                        \
        free(b_);                                                                            \
    } while (0)

static const float F23[6] = {1.5f, -2.25f, 3.0e-8f, 4.0e20f, -0.0f, 6.0f};
static const int32_t I4[4] = {0, -1, 2147483647, -2147483647 - 1};
static const float SCALAR = 3.14159f;

/* the tensors of the round-trip file: 2-D F32, 1-D I32, a scalar and an empty tensor */
static int sample_tensors(st_tensor *t) {
    t[0] = (st_tensor){"weights.0", ST_F32, 2, {2, 3}, F23};
    t[1] = (st_tensor){"tokens", ST_I32, 1, {4}, I4};
    t[2] = (st_tensor){"loss", ST_F32, 0, {0}, &SCALAR};
    t[3] = (st_tensor){"empty \"quoted\" \\ name", ST_F32, 2, {0, 5}, NULL};
    return 4;
}

TEST(safetensors_round_trip) {
    char path[512], err[256] = "";
    tmp_path(path, sizeof path, "rt.safetensors");
    st_tensor t[4];
    int n = sample_tensors(t);
    const st_meta meta[] = {{"steps", "5"}, {"note", "quote \" backslash \\ newline \n tab \t \x01 é ✓ 😀"}};
    CHECK(st_write(path, t, n, meta, 2, err, sizeof err) == 0, "write: %s", err);

    size_t len;
    unsigned char *raw = (unsigned char *)test_slurp(path, &len);
    CHECK(raw && len >= 8, "file written");
    if (!raw || len < 8) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    CHECK(hlen % 8 == 0, "header padded to 8 bytes: %llu", (unsigned long long)hlen);
    CHECK(len == 8 + hlen + sizeof F23 + sizeof I4 + sizeof SCALAR, "file size %zu", len);
    CHECK(raw[8] == '{', "header starts with '{'");
    free(raw);

    st_file *f = NULL;
    CHECK(st_read(&f, path, err, sizeof err) == 0, "read: %s", err);
    if (!f) return;
    CHECK(st_count(f) == n, "count %d", st_count(f));
    for (int i = 0; i < n && i < st_count(f); i++) {
        const st_tensor *r = st_at(f, i);
        CHECK(strcmp(r->name, t[i].name) == 0, "name %d: %s", i, r->name);
        CHECK(r->dtype == t[i].dtype && r->ndim == t[i].ndim, "dtype/ndim of %s", r->name);
        for (int k = 0; k < r->ndim; k++) CHECK(r->shape[k] == t[i].shape[k], "shape of %s", r->name);
        CHECK(st_numel(r) == st_numel(&t[i]), "numel of %s", r->name);
        CHECK(((uintptr_t)r->data & 3) == 0, "data of %s aligned", r->name);
        if (st_numel(r)) CHECK(memcmp(r->data, t[i].data, st_numel(r) * 4) == 0, "bytes of %s", r->name);
        CHECK(st_find(f, t[i].name) == r, "find %s", t[i].name);
    }
    CHECK(st_find(f, "nope") == NULL && st_find(f, "") == NULL, "absent names");
    CHECK(st_meta_count(f) == 2, "meta count");
    for (int i = 0; i < 2; i++) {
        const char *v = st_meta_get(f, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "meta %s = '%s'", meta[i].key, v ? v : "(null)");
        CHECK(strcmp(st_meta_at(f, i).key, meta[i].key) == 0, "meta order");
    }
    CHECK(st_meta_get(f, "absent") == NULL, "absent meta");

    /* st_expect: the right dtype and shape pass, anything else is named */
    const st_tensor *x;
    const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s4[1] = {4};
    CHECK(st_expect(f, "weights.0", ST_F32, 2, s23, &x, err, sizeof err) == 0 && x && x->data == st_find(f, "weights.0")->data,
          "expect: %s", err);
    CHECK(st_expect(f, "weights.0", ST_F32, 2, s32, &x, err, sizeof err) != 0 && !x &&
              strstr(err, "has shape [2, 3], expected [3, 2]"), "shape mismatch message: %s", err);
    CHECK(st_expect(f, "tokens", ST_F32, 1, s4, &x, err, sizeof err) != 0 && strstr(err, "dtype I32, expected F32"),
          "dtype mismatch message: %s", err);
    CHECK(st_expect(f, "missing", ST_F32, 1, s4, &x, err, sizeof err) != 0 && strstr(err, "'missing' is missing") &&
              strncmp(err, path, strlen(path)) == 0, "missing message: %s", err);
    st_close(f);
    remove(path);

    /* no tensors and no metadata is a valid file too */
    CHECK(st_write(path, NULL, 0, NULL, 0, err, sizeof err) == 0, "empty write: %s", err);
    CHECK(st_read(&f, path, err, sizeof err) == 0 && st_count(f) == 0 && st_meta_count(f) == 0, "empty read: %s", err);
    st_close(f);
    remove(path);
}

TEST(safetensors_refuses_truncated) {
    char path[512], cut[512], err[256] = "";
    tmp_path(path, sizeof path, "full.safetensors");
    tmp_path(cut, sizeof cut, "cut.safetensors");
    st_tensor t[4];
    int n = sample_tensors(t);
    CHECK(st_write(path, t, n, NULL, 0, err, sizeof err) == 0, "write: %s", err);
    size_t len;
    unsigned char *raw = (unsigned char *)test_slurp(path, &len);
    if (!raw) return;
    /* every proper prefix of a valid file is refused */
    int accepted = 0;
    for (size_t k = 0; k < len; k++) {
        st_file *f = NULL;
        if (st_parse(&f, raw, k, LABEL, err, sizeof err) == 0) accepted++, st_close(f);
    }
    CHECK(accepted == 0, "%d truncated prefixes accepted", accepted);
    CHECK(refused_buf(raw, 5, "5 bytes is shorter than the 8-byte header length", err, sizeof err), "short: %s", err);
    CHECK(refused_buf(raw, 40, "exceeds file size 40 (truncated", err, sizeof err), "cut header: %s", err);
    CHECK(refused_buf(raw, len - 1, "run past the end", err, sizeof err), "cut data: %s", err);

    /* and from disk, the message names the path */
    FILE *fc = fopen(cut, "wb");
    fwrite(raw, 1, len - 3, fc);
    fclose(fc);
    st_file *f = NULL;
    CHECK(st_read(&f, cut, err, sizeof err) != 0 && !f && strncmp(err, cut, strlen(cut)) == 0 &&
              strstr(err, "truncated or corrupt file") && !strchr(err, '\n'), "truncated file: %s", err);
    CHECK(st_read(&f, "/nonexistent/dir/x.safetensors", err, sizeof err) != 0 && strstr(err, "cannot open"),
          "missing file: %s", err);
    free(raw);
    remove(path);
    remove(cut);
}

TEST(safetensors_refuses_corrupt_header) {
    /* the controls: a valid header is accepted, in any key order, with JSON whitespace and escapes */
    CHECK_ACCEPTED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    CHECK_ACCEPTED(" {\n\t\"\\u00e9\\ud83d\\ude00\\/\" : { \"data_offsets\" : [ 0 , 4 ] , \"shape\" : [ ] , \"dtype\" : \"I32\" } }  ", 4);
    CHECK_ACCEPTED("{}", 0);
    CHECK_ACCEPTED("{\"__metadata__\":{}}", 0);

    CHECK_REFUSED("", 0, "expected '{' at the start of the header");
    CHECK_REFUSED("[]", 0, "expected '{' at the start");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "expected ',' or '}'");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, "expected a string");
    CHECK_REFUSED("{\"a\" {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "expected ':'");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "unexpected bytes after");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "dtype 'F16' is not supported");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown key 'x'");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "lacks \"data_offsets\"");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "key 'dtype' appears twice");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "fraction or exponent");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "negative number");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "leading zero");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4, "too large");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "more than 8");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "more than 2");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "needs 2 elements");
    CHECK_REFUSED("{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "invalid escape");
    CHECK_REFUSED("{\"a\\udc00\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "lone low surrogate");
    CHECK_REFUSED("{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\\u0000");
    CHECK_REFUSED("{\"a\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "control character");
    CHECK_REFUSED("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "invalid UTF-8");
    CHECK_REFUSED("{\"a:{\"dtype\":\"F32\"}}", 0, "expected ':'");
    CHECK_REFUSED("{\"a", 0, "unterminated string");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor 'a' appears twice");
    CHECK_REFUSED("{\"__metadata__\":{\"k\":1}}", 0, "metadata value of 'k' is not a string");
    CHECK_REFUSED("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "metadata key 'k' appears twice");
    CHECK_REFUSED("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice");

    /* a header length beyond the file */
    unsigned char b[16] = {0x3f, 0x42, 0x0f, 0, 0, 0, 0, 0, '{', '}'}; /* 999999 */
    char err[256];
    CHECK(refused_buf(b, sizeof b, "header length 999999 exceeds file size 16 (truncated or corrupt file)", err, sizeof err),
          "huge header length: %s", err);
}

TEST(safetensors_refuses_bad_offsets) {
    /* controls: tensors may be listed in any order as long as they tile the data */
    CHECK_ACCEPTED("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                   "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 8);

    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                  "tensor 'a': data_offsets [0, 4] hold 4 bytes but F32 [2] needs 8");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "run past the end of the 4-byte data section");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "are reversed");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensors 'a' and 'b' overlap");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "overlap");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "4 unused bytes before tensor 'b'");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "unused bytes before tensor 'a'");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "4 bytes of data after the last tensor");
    CHECK_REFUSED("{}", 4, "4 bytes of data after the last tensor");
    CHECK_REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", 4, "hold 4 bytes");

    /* an unpadded header leaves the data unaligned in the file; the reader still hands out aligned,
     * correct data */
    size_t len;
    char err[256] = "";
    unsigned char *b = image("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &len);
    float want[2] = {1.0f, -2.5f};
    memcpy(b + len - 8, want, 8);
    st_file *f = NULL;
    CHECK(st_parse(&f, b, len, LABEL, err, sizeof err) == 0, "unpadded: %s", err);
    const st_tensor *t = f ? st_find(f, "a") : NULL;
    CHECK(t && ((uintptr_t)t->data & 3) == 0 && memcmp(t->data, want, 8) == 0, "unpadded data");
    st_close(f);
    free(b);
}

TEST(safetensors_writer_refuses_bad_input) {
    char path[512], err[256];
    tmp_path(path, sizeof path, "bad.safetensors");
    const float x[2] = {1, 2};
    st_tensor dup[2] = {{"w", ST_F32, 1, {2}, x}, {"w", ST_F32, 1, {2}, x}};
    CHECK(st_write(path, dup, 2, NULL, 0, err, sizeof err) != 0 && strstr(err, "tensor name 'w' appears twice"),
          "duplicate: %s", err);
    st_tensor reserved = {"__metadata__", ST_F32, 1, {2}, x};
    CHECK(st_write(path, &reserved, 1, NULL, 0, err, sizeof err) != 0 && strstr(err, "not a valid tensor name"),
          "reserved: %s", err);
    st_tensor nodata = {"w", ST_F32, 1, {2}, NULL};
    CHECK(st_write(path, &nodata, 1, NULL, 0, err, sizeof err) != 0 && strstr(err, "data is NULL"), "NULL data: %s", err);
    st_tensor neg = {"w", ST_F32, 1, {-2}, x};
    CHECK(st_write(path, &neg, 1, NULL, 0, err, sizeof err) != 0 && strstr(err, "negative"), "negative: %s", err);
    st_tensor bad_utf8 = {"w\xc3", ST_F32, 1, {2}, x};
    CHECK(st_write(path, &bad_utf8, 1, NULL, 0, err, sizeof err) != 0 && strstr(err, "UTF-8"), "utf-8: %s", err);
    const st_meta meta[2] = {{"k", "1"}, {"k", "2"}};
    CHECK(st_write(path, dup, 1, meta, 2, err, sizeof err) != 0 && strstr(err, "metadata key 'k' appears twice"),
          "duplicate meta: %s", err);
    CHECK(access(path, F_OK) != 0, "nothing written on refusal");
    CHECK(st_write("/nonexistent/dir/x.safetensors", dup, 1, NULL, 0, err, sizeof err) != 0 &&
              strstr(err, "/nonexistent/dir/x.safetensors: cannot create"), "unwritable: %s", err);
}
