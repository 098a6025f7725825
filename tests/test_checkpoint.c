/* Checkpoints: a save / load round trip keeps every bit of a real trainer's state, a resumed run
 * ends bitwise where a straight run ends, damaged or foreign files are refused with a one-line
 * reason and the previous checkpoint is used instead, only two checkpoints are kept, the file is
 * plain safetensors, and a failed save leaves nothing behind. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "gradcheck.h"
#include "safetensors.h"
#include "test.h"
#include "train.h"

enum { FX_B = 2, FX_T = 8, FX_V = 16, FX_CORPUS = 97, FX_CURSOR = 13 };

#define RUN_ID "run-ab12"
#define CONFIG_ID "cfg-77"

/* A small trainer with everything a run must restore: model + AdamW, two RNG streams (data noise
 * and a learning-rate jitter) and a 13-byte data cursor (position, epoch, a tag). */
typedef struct fixture {
    model *m;
    trainer tr;
    rng data, jitter;
    unsigned char cursor[FX_CURSOR];
    ckpt_rng rngs[2];
    ckpt_state st;
} fixture;

/* Builds the fixture's model (2 layers, d 16, 2 heads) initialised from seed. Returns 0 or -1. */
static int fx_init(fixture *fx, uint64_t seed, int d_model) {
    memset(fx, 0, sizeof *fx);
    model_config cfg = model_config_default();
    cfg.vocab = cfg.n_out = FX_V;
    cfg.max_batch = FX_B, cfg.max_seq = FX_T;
    cfg.layers = 2, cfg.d_model = d_model, cfg.heads = 2;
    char err[256];
    if (model_create(&fx->m, &cfg, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return -1;
    }
    model_init(fx->m, seed);
    adamw_config adam = adamw_defaults();
    if (trainer_init(&fx->tr, fx->m, &adam)) {
        test_fail(__FILE__, __LINE__, "trainer_init");
        model_destroy(fx->m);
        return -1;
    }
    rng_seed(&fx->data, seed, rng_stream_id("data"));
    rng_seed(&fx->jitter, seed, rng_stream_id("jitter"));
    memcpy(fx->cursor + 8, "tag!!", 5);
    fx->rngs[0] = (ckpt_rng){"data", &fx->data};
    fx->rngs[1] = (ckpt_rng){"jitter", &fx->jitter};
    fx->st = (ckpt_state){.rngs = fx->rngs, .n_rng = 2, .cursor = fx->cursor, .cursor_len = FX_CURSOR,
                          .cursor_cap = FX_CURSOR};
    return 0;
}

/* Frees the fixture's model and trainer. */
static void fx_free(fixture *fx) {
    trainer_free(&fx->tr);
    model_destroy(fx->m);
}

/* One training step on the next toy batch: tokens from a fixed corpus at the cursor plus noise
 * from the data RNG, a learning rate jittered by the other RNG; advances the cursor. */
static void fx_step(fixture *fx) {
    int32_t tok[FX_B * FX_T], tgt[FX_B * FX_T];
    uint32_t pos, epoch;
    memcpy(&pos, fx->cursor, 4);
    memcpy(&epoch, fx->cursor + 4, 4);
    for (int i = 0; i < FX_B * FX_T; i++) {
        uint32_t c = (pos + (uint32_t)i) % FX_CORPUS;
        tok[i] = (int32_t)((c * 7 + c / 5 + rng_below(&fx->data, 3)) % FX_V);
    }
    for (int i = 0; i < FX_B * FX_T; i++) tgt[i] = i % FX_T + 1 < FX_T ? tok[i + 1] : -1;
    pos += FX_B * FX_T;
    if (pos >= FX_CORPUS) pos -= FX_CORPUS, epoch++;
    memcpy(fx->cursor, &pos, 4);
    memcpy(fx->cursor + 4, &epoch, 4);
    lr_schedule sched = {.lr = 3e-3f, .min_lr = 3e-4f, .warmup = 3, .total = 50, .shape = LR_COSINE};
    float lr = lr_at(&sched, fx->tr.step) * (float)(1.0 + 0.1 * rng_uniform(&fx->jitter));
    model_batch b = {.B = FX_B, .T = FX_T, .tokens = tok, .targets = tgt};
    test_train_step(&fx->tr, &b, lr, 1.0f, NULL);
    fx->st.step = fx->tr.step;
}

/* n training steps. */
static void fx_steps(fixture *fx, int n) {
    for (int i = 0; i < n; i++) fx_step(fx);
}

/* Saves the fixture's checkpoint into dir under run_id; returns ckpt_save's result. */
static int fx_save(fixture *fx, const char *dir, const char *run_id, char *err, size_t errlen) {
    fx->st.step = fx->tr.step;
    fx->st.cursor_len = FX_CURSOR;
    return ckpt_save(dir, model_param_table(fx->m), model_params(fx->m), fx->tr.adam_m, fx->tr.adam_v, &fx->st, run_id,
                     CONFIG_ID, err, errlen);
}

/* Loads the newest good checkpoint of dir into the fixture (the trainer's step too). */
static int fx_load(fixture *fx, const char *dir, char *warn, size_t warnlen) {
    char err[512] = "";
    int rc = ckpt_load_latest(dir, model_param_table(fx->m), model_params(fx->m), fx->tr.adam_m, fx->tr.adam_v,
                              &fx->st, RUN_ID, CONFIG_ID, warn, warnlen, err, sizeof err);
    CHECK(rc != CKPT_ERROR, "ckpt_load_latest: %s", err);
    if (rc == CKPT_LOADED) fx->tr.step = fx->st.step;
    return rc;
}

/* Everything a checkpoint must restore, copied out of a fixture. */
typedef struct snapshot {
    float *p, *m, *v;
    size_t n;
    rng data, jitter;
    unsigned char cursor[FX_CURSOR];
    long step;
} snapshot;

/* Copies the fixture's state. */
static snapshot snap_take(const fixture *fx) {
    snapshot s = {.n = model_param_table(fx->m)->total, .data = fx->data, .jitter = fx->jitter, .step = fx->tr.step};
    s.p = malloc(s.n * sizeof(float)), s.m = malloc(s.n * sizeof(float)), s.v = malloc(s.n * sizeof(float));
    memcpy(s.p, model_params(fx->m), s.n * sizeof(float));
    memcpy(s.m, fx->tr.adam_m, s.n * sizeof(float));
    memcpy(s.v, fx->tr.adam_v, s.n * sizeof(float));
    memcpy(s.cursor, fx->cursor, FX_CURSOR);
    return s;
}

/* Frees a snapshot. */
static void snap_free(snapshot *s) {
    free(s->p), free(s->m), free(s->v);
}

/* CHECKs that the fixture holds exactly the snapshot's bits. */
#define CHECK_SAME(fx, s, what) check_same(fx, s, what, __LINE__)
static void check_same(const fixture *fx, const snapshot *s, const char *what, int line) {
    size_t n = model_param_table(fx->m)->total, bytes = n * sizeof(float);
    if (n != s->n) {
        test_fail(__FILE__, line, "%s: parameter counts %zu vs %zu", what, n, s->n);
        return;
    }
    if (memcmp(model_params(fx->m), s->p, bytes)) test_fail(__FILE__, line, "%s: parameters differ", what);
    if (memcmp(fx->tr.adam_m, s->m, bytes)) test_fail(__FILE__, line, "%s: AdamW m differs", what);
    if (memcmp(fx->tr.adam_v, s->v, bytes)) test_fail(__FILE__, line, "%s: AdamW v differs", what);
    if (memcmp(&fx->data, &s->data, sizeof s->data) || memcmp(&fx->jitter, &s->jitter, sizeof s->jitter))
        test_fail(__FILE__, line, "%s: RNG states differ", what);
    if (memcmp(fx->cursor, s->cursor, FX_CURSOR) || fx->st.cursor_len != FX_CURSOR)
        test_fail(__FILE__, line, "%s: data cursor differs (%zu bytes)", what, fx->st.cursor_len);
    if (fx->tr.step != s->step || fx->st.step != s->step)
        test_fail(__FILE__, line, "%s: step %ld / %ld, want %ld", what, fx->tr.step, fx->st.step, s->step);
}

/* ---------------------------------------------------------------- files */

/* A fresh folder (into buf); "" on failure. */
static char *tmp_dir(char *buf, size_t len) {
    if (test_tmpdir(buf, len, "ckpt")) buf[0] = 0;
    return buf;
}

/* Number of entries of a folder (without . and ..); -1 when it cannot be read. */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* Size of a file, -1 if absent. */
static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) ? -1 : (long)sb.st_size;
}

/* XORs the byte at offset of a file with 0x40. */
static void flip_byte(const char *path, long offset) {
    FILE *f = fopen(path, "r+b");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot open %s", path);
        return;
    }
    fseek(f, offset, SEEK_SET);
    int c = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
}

/* Writes a text file. */
static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) fputs(text, f), fclose(f);
}

/* The path of step's checkpoint in dir (static buffer per slot). */
static const char *cpath(const char *dir, long step, int slot) {
    static char buf[4][512];
    ckpt_path(buf[slot], sizeof buf[slot], dir, step);
    return buf[slot];
}

/* ---------------------------------------------------------------- tests */

TEST(ckpt_round_trip_bitwise) {
    char dir[64], err[512], warn[1024];
    fixture a, b;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 1, 16)) return;
    fx_steps(&a, 3);
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == 0, "save: %s", err);
    snapshot s = snap_take(&a);
    if (fx_init(&b, 2, 16) == 0) { /* other weights, RNGs and cursor: the load must overwrite all */
        CHECK(fx_load(&b, dir, warn, sizeof warn) == CKPT_LOADED, "nothing loaded: %s", warn);
        CHECK(warn[0] == 0, "warnings: %s", warn);
        CHECK_SAME(&b, &s, "loaded");
        fx_free(&b);
    }
    snap_free(&s);
    fx_free(&a);
    test_rmtree(dir);
}

TEST(ckpt_resume_matches_straight_run) {
    enum { BEFORE = 3, AFTER = 4 };
    char dir[64], err[512], warn[1024];
    fixture a, b;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 5, 16)) return;
    fx_steps(&a, BEFORE);
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == 0, "save: %s", err);
    fx_steps(&a, AFTER); /* the straight run */
    snapshot s = snap_take(&a);
    if (fx_init(&b, 6, 16) == 0) { /* the "restarted process" */
        CHECK(fx_load(&b, dir, warn, sizeof warn) == CKPT_LOADED, "nothing loaded: %s", warn);
        CHECK(b.tr.step == BEFORE, "resumed at step %ld, want %d", b.tr.step, BEFORE);
        fx_steps(&b, AFTER);
        CHECK_SAME(&b, &s, "resumed run vs straight run");
        fx_free(&b);
    }
    snap_free(&s);
    fx_free(&a);
    test_rmtree(dir);
}

/* Saves ckpt-2 (its state in *s2) and ckpt-4 of a fresh fixture in dir; the newest under run_id4. */
static int two_checkpoints(const char *dir, snapshot *s2, const char *run_id4) {
    char err[512];
    fixture a;
    if (fx_init(&a, 1, 16)) return -1;
    fx_steps(&a, 2);
    int rc = fx_save(&a, dir, RUN_ID, err, sizeof err);
    CHECK(rc == 0, "save 2: %s", err);
    *s2 = snap_take(&a);
    fx_steps(&a, 2);
    if (!rc) CHECK((rc = fx_save(&a, dir, run_id4, err, sizeof err)) == 0, "save 4: %s", err);
    fx_free(&a);
    if (rc) snap_free(s2);
    return rc;
}

/* Damages ckpt-4 (kind 0 truncate, 1 flip a data byte, 2 written by another run), loads, and
 * checks that ckpt-2 was loaded with one warning line containing want. */
static void check_fallback(int kind, const char *want) {
    char dir[64], warn[1024];
    snapshot s2;
    if (!*tmp_dir(dir, sizeof dir) || two_checkpoints(dir, &s2, kind == 2 ? "other-run" : RUN_ID)) return;
    const char *p4 = cpath(dir, 4, 0);
    long size = file_size(p4);
    if (kind == 0) CHECK(truncate(p4, size / 2) == 0, "truncate: %s", strerror(errno));
    if (kind == 1) flip_byte(p4, size / 2); /* the header is a few KB; the middle is tensor data */
    fixture b;
    if (fx_init(&b, 9, 16) == 0) {
        CHECK(fx_load(&b, dir, warn, sizeof warn) == CKPT_LOADED, "nothing loaded: %s", warn);
        CHECK_SAME(&b, &s2, "fell back to ckpt-2");
        char first[600];
        snprintf(first, sizeof first, "checkpoint %s: ", p4);
        CHECK(strncmp(warn, first, strlen(first)) == 0, "warning does not start with '%s': %s", first, warn);
        CHECK(strstr(warn, want) && strstr(warn, "; falling back to ckpt-2"), "warning lacks '%s': %s", want, warn);
        CHECK(!strchr(warn, '\n'), "more than one line: %s", warn);
        printf("    %s\n", warn);
        fx_free(&b);
    }
    snap_free(&s2);
    test_rmtree(dir);
}

TEST(ckpt_truncated_newest_falls_back) { check_fallback(0, "truncated"); }

TEST(ckpt_flipped_byte_falls_back) { check_fallback(1, "checksum mismatch (corrupt or truncated file)"); }

TEST(ckpt_wrong_run_id_falls_back) { check_fallback(2, "belongs to run 'other-run', not run '" RUN_ID "'"); }

/* Rewrites the metadata format_version "2" of a checkpoint into "1" (same length: the file stays
 * parseable), as a file of the format version 1 build would say. */
static void make_version_1(const char *path) {
    size_t n;
    char *buf = test_slurp(path, &n);
    char *at = buf ? memmem(buf, n, "\"format_version\":\"2\"", 20) : NULL;
    CHECK(at != NULL, "%s: no format_version \"2\" in the header", path);
    if (at) {
        at[18] = '1';
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(buf, 1, n, f) == n, "rewrite %s", path);
        if (f) fclose(f);
    }
    free(buf);
}

/* A checkpoint of format version 1 (before SHA-256) is refused with the version in the reason:
 * the run falls back to an older checkpoint, or starts from scratch when there is none. */
TEST(ckpt_version_1_is_refused) {
    char dir[64], warn[2048];
    snapshot s2;
    if (!*tmp_dir(dir, sizeof dir) || two_checkpoints(dir, &s2, RUN_ID)) return;
    make_version_1(cpath(dir, 4, 0));
    fixture b;
    if (fx_init(&b, 9, 16) == 0) {
        CHECK(fx_load(&b, dir, warn, sizeof warn) == CKPT_LOADED, "nothing loaded: %s", warn);
        CHECK_SAME(&b, &s2, "fell back to ckpt-2");
        CHECK(strstr(warn, "ckpt-4.safetensors: format version '1', this build reads 2; falling back to ckpt-2") &&
                  !strchr(warn, '\n'),
              "warning: %s", warn);
        printf("    %s\n", warn);
        make_version_1(cpath(dir, 2, 0));
        snapshot before = snap_take(&b);
        CHECK(fx_load(&b, dir, warn, sizeof warn) == CKPT_FRESH, "loaded a version-1 checkpoint");
        CHECK_SAME(&b, &before, "nothing may be written from a version-1 file");
        const char *nl = strchr(warn, '\n');
        CHECK(nl && strstr(nl, "ckpt-2.safetensors: format version '1', this build reads 2") &&
                  strstr(nl, "starting from scratch"),
              "second line: %s", nl ? nl + 1 : warn);
        snap_free(&before);
        fx_free(&b);
    }
    snap_free(&s2);
    test_rmtree(dir);
}

TEST(ckpt_all_corrupt_starts_from_scratch) {
    char dir[64], warn[2048];
    snapshot s2;
    if (!*tmp_dir(dir, sizeof dir) || two_checkpoints(dir, &s2, RUN_ID)) return;
    const char *p2 = cpath(dir, 2, 0), *p4 = cpath(dir, 4, 1);
    CHECK(truncate(p4, file_size(p4) - 3) == 0, "truncate: %s", strerror(errno));
    flip_byte(p2, file_size(p2) - 40);
    fixture b;
    if (fx_init(&b, 9, 16) == 0) {
        snapshot before = snap_take(&b);
        CHECK(fx_load(&b, dir, warn, sizeof warn) == CKPT_FRESH, "loaded a corrupt checkpoint");
        CHECK_SAME(&b, &before, "nothing may be written when no file is good");
        char *nl = strchr(warn, '\n');
        CHECK(nl && !strchr(nl + 1, '\n'), "want two warning lines: %s", warn);
        CHECK(strstr(warn, "ckpt-4.safetensors") && strstr(warn, "falling back to ckpt-2"), "first line: %s", warn);
        CHECK(nl && strstr(nl, "ckpt-2.safetensors: checksum mismatch") && strstr(nl, "starting from scratch"),
              "second line: %s", nl ? nl + 1 : "");
        printf("    %s\n", warn);
        snap_free(&before);
        /* no folder at all: a fresh run, without warnings */
        char missing[128];
        snprintf(missing, sizeof missing, "%s/none", dir);
        CHECK(fx_load(&b, missing, warn, sizeof warn) == CKPT_FRESH && warn[0] == 0, "missing folder: %s", warn);
        fx_free(&b);
    }
    snap_free(&s2);
    test_rmtree(dir);
}

TEST(ckpt_rejects_a_different_model) {
    char dir[64], err[512], warn[1024];
    fixture a, b;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 1, 16)) return;
    fx_steps(&a, 1);
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == 0, "save: %s", err);
    if (fx_init(&b, 1, 32) == 0) { /* same ids (a caller's bug): the shapes still catch it */
        CHECK(fx_load(&b, dir, warn, sizeof warn) == CKPT_FRESH, "loaded another model's checkpoint");
        CHECK(strstr(warn, "has shape") && strstr(warn, "starting from scratch"), "warning: %s", warn);
        fx_free(&b);
    }
    fx_free(&a);
    test_rmtree(dir);
}

TEST(ckpt_bad_arguments_are_errors) {
    char dir[64], err[512], warn[256];
    fixture a;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 1, 16)) return;
    a.rngs[1].name = "bad name";
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == -1 && strstr(err, "RNG 1"), "save: %s", err);
    CHECK(count_entries(dir) == 0, "a file was written");
    int rc = ckpt_load_latest(dir, model_param_table(a.m), model_params(a.m), a.tr.adam_m, a.tr.adam_v, &a.st, RUN_ID,
                              CONFIG_ID, warn, sizeof warn, err, sizeof err);
    CHECK(rc == CKPT_ERROR && strstr(err, "RNG 1"), "load: %d %s", rc, err);
    a.rngs[1].name = "data"; /* listed twice */
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == -1 && strstr(err, "twice"), "save: %s", err);
    fx_free(&a);
    test_rmtree(dir);
}

TEST(ckpt_keeps_only_two) {
    char dir[64], err[512], stale[600], future[600];
    fixture a;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 1, 16)) return;
    snprintf(stale, sizeof stale, "%s/ckpt-3.safetensors.tmp", dir);
    snprintf(future, sizeof future, "%s/ckpt-99.safetensors", dir);
    long steps[8];
    for (int s = 1; s <= 4; s++) {
        if (s == 4) { /* a crash's leftover and a later step of an abandoned trajectory */
            write_text(stale, "half a checkpoint");
            write_text(future, "garbage");
            CHECK(ckpt_list(dir, steps, 8, err, sizeof err) == 3 && steps[0] == 99, "ckpt_list sees ckpt-99");
        }
        fx_step(&a);
        CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == 0, "save %d: %s", s, err);
    }
    int n = ckpt_list(dir, steps, 8, err, sizeof err);
    CHECK(n == 2 && steps[0] == 4 && steps[1] == 3, "kept %d checkpoints (newest %ld, %ld), want ckpt-4, ckpt-3", n,
          n > 0 ? steps[0] : -1, n > 1 ? steps[1] : -1);
    CHECK(count_entries(dir) == 2, "%d files in the run folder, want 2", count_entries(dir));
    CHECK(file_size(stale) < 0 && file_size(future) < 0, "stale .tmp or abandoned later checkpoint left behind");
    fx_free(&a);
    test_rmtree(dir);
}

/* Appends p[n] to the file f (the byte stream the checksum covers). */
static void put(FILE *f, const void *p, size_t n) {
    if (n) fwrite(p, 1, n, f);
}

TEST(ckpt_file_is_plain_safetensors) {
    char dir[64], err[512];
    fixture a;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 1, 16)) return;
    fx_steps(&a, 2);
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == 0, "save: %s", err);
    st_file *f;
    CHECK(st_read(&f, cpath(dir, 2, 0), err, sizeof err) == 0, "st_read: %s", err);
    if (test_failures()) goto out;
    const tensor_table *tt = model_param_table(a.m);
    const float *arrays[3] = {model_params(a.m), a.tr.adam_m, a.tr.adam_v};
    static const char *const pre[3] = {"", "optim.m.", "optim.v."};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < tt->n; i++) {
            const tensor_desc *d = &tt->t[i];
            char name[80];
            int64_t shape[TENSOR_MAX_DIM];
            for (int k = 0; k < d->ndim; k++) shape[k] = d->shape[k];
            snprintf(name, sizeof name, "%s%s", pre[g], d->name);
            const st_tensor *t;
            CHECK(st_expect(f, name, ST_F32, d->ndim, shape, &t, err, sizeof err) == 0, "%s", err);
            CHECK(!t || memcmp(t->data, arrays[g] + d->offset, d->numel * sizeof(float)) == 0, "%s: data differs", name);
        }
    const st_tensor *r = st_find(f, "state.rng.data"), *c = st_find(f, "state.cursor"), *s = st_find(f, "state.step");
    CHECK(r && r->dtype == ST_I32 && st_numel(r) == 8 && memcmp(r->data, a.data.s, 32) == 0, "state.rng.data");
    CHECK(c && st_numel(c) == 4 && memcmp(c->data, a.cursor, FX_CURSOR) == 0, "state.cursor");
    int64_t step = -1;
    if (s && st_numel(s) == 2) memcpy(&step, s->data, 8);
    CHECK(step == 2, "state.step %" PRId64, step);
    const char *rid = st_meta_get(f, "run_id"), *cid = st_meta_get(f, "config_id"), *sum = st_meta_get(f, "checksum");
    CHECK(rid && !strcmp(rid, RUN_ID) && cid && !strcmp(cid, CONFIG_ID), "ids in the metadata");
    CHECK(st_meta_get(f, "format_version") && !strcmp(st_meta_get(f, "format_version"), "2"), "format_version");
    /* the checksum as checkpoint.h describes it: the byte stream written out here from the format's
     * description and hashed by coreutils sha256sum */
    char stream[128], cmd[300], out[256], want[80];
    snprintf(stream, sizeof stream, "%s/stream", dir);
    FILE *sf = fopen(stream, "wb");
    CHECK(sf != NULL, "cannot write %s", stream);
    if (!sf) goto out;
    for (int i = 0; i < st_meta_count(f); i++) {
        st_meta m = st_meta_at(f, i);
        if (strcmp(m.key, "checksum")) put(sf, m.key, strlen(m.key) + 1), put(sf, m.value, strlen(m.value) + 1);
    }
    for (int i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        char dims[128] = "";
        for (int k = 0; k < t->ndim; k++)
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%" PRId64, k ? "," : "", t->shape[k]);
        put(sf, t->name, strlen(t->name) + 1);
        put(sf, st_dtype_name(t->dtype), 4);
        put(sf, dims, strlen(dims) + 1);
        put(sf, t->data, st_numel(t) * 4);
    }
    fclose(sf);
    snprintf(cmd, sizeof cmd, "sha256sum < '%s'", stream);
    CHECK(test_capture(cmd, out, sizeof out) == 0 && strlen(out) >= 64, "%s: %s", cmd, out);
    snprintf(want, sizeof want, "sha256:%.64s", out);
    CHECK(sum && !strcmp(sum, want), "checksum %s, recomputed %s", sum ? sum : "(none)", want);
    char mine[CKPT_CHECKSUM_LEN];
    ckpt_checksum(f, mine);
    CHECK(!strcmp(mine, want), "ckpt_checksum %s, recomputed %s", mine, want);
out:
    st_close(f);
    fx_free(&a);
    test_rmtree(dir);
}

TEST(ckpt_unwritable_folder_is_a_clear_error) {
    char dir[64], err[1024], bad[256];
    fixture a;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 1, 16)) return;
    fx_step(&a);
    /* a folder below a regular file cannot be created */
    snprintf(bad, sizeof bad, "%s/afile", dir);
    write_text(bad, "x");
    snprintf(bad, sizeof bad, "%s/afile/run", dir);
    CHECK(fx_save(&a, bad, RUN_ID, err, sizeof err) == -1, "saved below a regular file");
    CHECK(strstr(err, bad) && strstr(err, strerror(ENOTDIR)) && !strchr(err, '\n'), "error: %s", err);
    printf("    %s\n", err);
    if (geteuid() != 0) { /* permissions do not stop root */
        snprintf(bad, sizeof bad, "%s/ro", dir);
        mkdir(bad, 0500);
        CHECK(fx_save(&a, bad, RUN_ID, err, sizeof err) == -1 && strstr(err, strerror(EACCES)), "read-only: %s", err);
        CHECK(count_entries(bad) == 0, "files left in a read-only folder");
        chmod(bad, 0700);
    }

    /* disk full (simulated by a file-size limit): the error is clear, no partial file is left
     * and the previous checkpoint is untouched */
    char run[128];
    snprintf(run, sizeof run, "%s/run", dir);
    CHECK(fx_save(&a, run, RUN_ID, err, sizeof err) == 0, "save 1: %s", err);
    size_t len0 = 0, len1 = 0;
    char *before = test_slurp(cpath(run, 1, 0), &len0);
    fx_step(&a);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit: %s", strerror(errno));
    int rc = fx_save(&a, run, RUN_ID, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(rc == -1, "saved past the file-size limit");
    CHECK(strstr(err, cpath(run, 2, 1)) && strstr(err, strerror(EFBIG)) && !strchr(err, '\n'), "error: %s", err);
    printf("    %s\n", err);
    CHECK(count_entries(run) == 1, "%d files after a failed save, want only ckpt-1", count_entries(run));
    char *after = test_slurp(cpath(run, 1, 0), &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0, "ckpt-1 changed");
    free(before);
    free(after);
    fx_free(&a);
    test_rmtree(dir);
}

/* The commit of the build that wrote a checkpoint comes back when it is loaded ("" for a file
 * without one), and a checkpoint path that is a folder is refused before anything is sized (the
 * reader used to ask for a 9.2 EB buffer). */
TEST(ckpt_records_its_build_and_refuses_folders) {
    char dir[64], err[1024], warn[1024], path[256];
    fixture a;
    if (!*tmp_dir(dir, sizeof dir) || fx_init(&a, 1, 16)) return;
    fx_step(&a);
    a.st.commit = "0123456789ab-dirty";
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == 0, "save: %s", err);
    snprintf(a.st.saved_commit, sizeof a.st.saved_commit, "stale");
    CHECK(fx_load(&a, dir, warn, sizeof warn) == CKPT_LOADED && strcmp(a.st.saved_commit, "0123456789ab-dirty") == 0,
          "the commit read back: '%s'", a.st.saved_commit);
    a.st.commit = NULL;
    fx_step(&a);
    CHECK(fx_save(&a, dir, RUN_ID, err, sizeof err) == 0, "save: %s", err);
    CHECK(fx_load(&a, dir, warn, sizeof warn) == CKPT_LOADED && a.st.saved_commit[0] == 0, "no commit: '%s'",
          a.st.saved_commit);
    snprintf(path, sizeof path, "%s/folder.safetensors", dir);
    CHECK(mkdir(path, 0700) == 0, "mkdir");
    CHECK(ckpt_load_file(path, model_param_table(a.m), model_params(a.m), a.tr.adam_m, a.tr.adam_v, &a.st, RUN_ID,
                         CONFIG_ID, err, sizeof err) == -1 &&
              strstr(err, "is a folder, not a file"),
          "a folder: %s", err);
    fx_free(&a);
    test_rmtree(dir);
}
