/* The experiment-spec layer: the schema table, YAML and command-line input with located errors,
 * expansion into runs, run identity (canonical JSON, SHA-256 ids), the struct fillers and the
 * dry-run report. Spec files are written to a temporary folder (test_tmpdir). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "cfg.h"
#include "sha256.h"
#include "spec.h"
#include "task.h"
#include "test.h"

/* A temporary folder for one test's spec files (removed by tmp_done). */
typedef struct tmp {
    char dir[256];
    char path[512];
} tmp;

/* Creates the folder. */
static int tmp_init(tmp *t) { return test_tmpdir(t->dir, sizeof t->dir, "spec"); }

/* Writes dir/name with text; returns its path (valid until the next call). */
static const char *tmp_file(tmp *t, const char *name, const char *text) {
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    FILE *f = fopen(t->path, "w");
    if (!f) return t->path;
    fputs(text, f);
    fclose(f);
    return t->path;
}

/* Removes the folder and its files. */
static void tmp_done(tmp *t) { test_rmtree(t->dir); }

/* Loads text as spec.yaml in t with overrides. */
static int load_text(tmp *t, spec *s, const char *text, char *const *ov, int n, char *err, size_t errlen) {
    return spec_load(s, tmp_file(t, "spec.yaml", text), ov, n, err, errlen);
}

/* Expects loading text (+ overrides) to fail with a one-line message that contains want, where a
 * leading "L:C: " in want is prefixed with the file's path. */
static void expect_error(const char *text, char *const *ov, int n, const char *want, int line) {
    tmp t;
    if (tmp_init(&t)) {
        test_fail(__FILE__, line, "mkdtemp failed");
        return;
    }
    spec s;
    char err[1024] = "", full[1200];
    int rc = load_text(&t, &s, text, ov, n, err, sizeof err);
    if (want[0] >= '0' && want[0] <= '9') snprintf(full, sizeof full, "%s:%s", t.path, want);
    else snprintf(full, sizeof full, "%s", want);
    if (rc != -1) test_fail(__FILE__, line, "expected an error containing '%s', got success", full);
    else if (!strstr(err, full)) test_fail(__FILE__, line, "expected '%s' in:\n      %s", full, err);
    if (strchr(err, '\n')) test_fail(__FILE__, line, "message is not one line: %s", err);
    if (s.nruns || s.runs || s.name) test_fail(__FILE__, line, "a failed load left a spec behind");
    spec_free(&s);
    tmp_done(&t);
}
#define EXPECT_ERROR(text, want) expect_error(text, NULL, 0, want, __LINE__)
#define EXPECT_ARG_ERROR(arg, want)                  \
    do {                                             \
        char *ov_[] = {arg};                         \
        expect_error("", ov_, 1, want, __LINE__);    \
    } while (0)

TEST(spec_sha256_vectors) {
    char hex[65];
    sha256_hex("", 0, hex, 64);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "empty: %s", hex);
    sha256_hex("abc", 3, hex, 64);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "abc: %s", hex);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m, strlen(m), hex, 64);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0, "448 bits: %s", hex);
    /* a million 'a' fed in uneven pieces */
    static char block[1001];
    memset(block, 'a', sizeof block);
    sha256_ctx c;
    unsigned char d[32];
    sha256_init(&c);
    for (int i = 0; i < 1000; i++) sha256_update(&c, block, i % 2 ? 999 : 1001);
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "million a: %s", hex);
    sha256_hex("abc", 3, hex, 32);
    CHECK(strlen(hex) == 32 && strncmp(hex, "ba7816bf8f01cfea414140de5dae2223", 32) == 0, "cut to 32: %s", hex);
}

/* The table is consistent: every default parses and is in range; kinds, datasets, encoding
 * options and schedules agree with the modules that read them. */
TEST(spec_schema_table) {
    char err[512];
    for (int i = 0; i < schema_count(); i++) {
        const schema_key *k = schema_at(i);
        CHECK(schema_find(k->key) == i, "%s is unique", k->key);
        CHECK(k->desc && k->desc[0] && !strchr(k->desc, '\n'), "%s has a one-line description", k->key);
        if (!k->def) continue;
        cfg_value v;
        CHECK(schema_parse(i, k->def, &v, err, sizeof err) == 0, "default of %s: %s", k->key, err);
        cfg_value_free(&v);
    }
    for (int i = 0; i < task_count(); i++) { /* the schema's kinds and datasets are the registry's */
        cfg_value v;
        CHECK(schema_parse(schema_find("task.kind"), task_at(i)->kind, &v, err, sizeof err) == 0, "%s", err);
        cfg_value_free(&v);
        for (const task_dataset *d = task_at(i)->datasets; d->name; d++) {
            CHECK(schema_parse(schema_find("task.dataset"), d->name, &v, err, sizeof err) == 0, "%s", err);
            cfg_value_free(&v);
        }
    }
    pe_options o = pe_options_default();
    const char *opts[] = {"p", "theta", "householder", "axes"};
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "model.lrpe.%s", opts[i]);
        int k = schema_find(key);
        CHECK(k >= 0 && strcmp(schema_at(k)->def, pe_option_value(&o, opts[i])) == 0, "%s default", key);
    }
    const char *shapes[] = {"cosine", "constant", "linear"};
    for (int i = 0; i < 3; i++) CHECK(lr_shape_parse(shapes[i]) >= 0, "schedule %s", shapes[i]);
    char list[512];
    schema_choices(schema_find("model.encoding"), list, sizeof list);
    CHECK(strstr(list, "lrpe-unitary") && strstr(list, "alibi") && !strstr(list, "sinusoidal"), "encodings: %s", list);
    schema_choices(schema_find("model.absolute"), list, sizeof list);
    CHECK(strcmp(list, "none | sinusoidal | learned") == 0, "absolute: %s", list);
    schema_choices(schema_find("model.lrpe.p"), list, sizeof list);
    CHECK(strcmp(list, "identity | householder | dct | oddeven") == 0, "p: %s", list);
    schema_choices(schema_find("train.lr"), list, sizeof list);
    CHECK(strcmp(list, "(0, 1e+30]") == 0, "lr range: %s", list);
    char near[64];
    CHECK(schema_suggest("model.d_modle", NULL, near, sizeof near) && strcmp(near, "model.d_model") == 0, "%s", near);
    CHECK(schema_suggest("d_model", NULL, near, sizeof near) && strcmp(near, "model.d_model") == 0, "%s", near);
    CHECK(schema_suggest("modle", NULL, near, sizeof near) && strcmp(near, "model") == 0, "%s", near);
    CHECK(!schema_suggest("completely.different", NULL, near, sizeof near), "no suggestion: %s", near);
}

TEST(spec_value_parsing) {
    char err[512];
    cfg_value v;
    int lr = schema_find("train.lr"), steps = schema_find("train.steps");
    const char *same[] = {"0.001", "1e-3", "1.0e-3", "1E-3", "0.0010", "+1e-3"};
    for (int i = 0; i < 6; i++) {
        CHECK(schema_parse(lr, same[i], &v, err, sizeof err) == 0 && strcmp(v.s, "0.001") == 0, "%s -> %s", same[i],
              v.s ? v.s : err);
        cfg_value_free(&v);
    }
    CHECK(schema_parse(lr, "0.1", &v, err, sizeof err) == 0 && strcmp(v.s, "0.1") == 0, "shortest form: %s", v.s);
    cfg_value_free(&v);
    CHECK(schema_parse(schema_find("train.eps"), "1e-8", &v, err, sizeof err) == 0 && v.f == 1e-8, "1e-8: %s", v.s);
    cfg_value_free(&v);
    CHECK(schema_parse(steps, "2e3", &v, err, sizeof err) == 0 && v.i == 2000 && strcmp(v.s, "2000") == 0,
          "integral float as int: %s", v.s);
    cfg_value_free(&v);
    const char *bad_int[] = {"2.5", "0x10", "", "12abc", "1_000", "nan"};
    for (int i = 0; i < 6; i++)
        CHECK(schema_parse(steps, bad_int[i], &v, err, sizeof err) == -1 && strstr(err, "expected an integer"),
              "'%s' refused: %s", bad_int[i], err);
    const char *bad_float[] = {"inf", "nan", ".inf", "1e999", "abc", "0x1p3"};
    for (int i = 0; i < 6; i++)
        CHECK(schema_parse(lr, bad_float[i], &v, err, sizeof err) == -1, "'%s' refused", bad_float[i]);
    CHECK(schema_parse(schema_find("model.attention"), "sofmax", &v, err, sizeof err) == -1 &&
              strstr(err, "did you mean softmax?"), "enum suggestion: %s", err);
    CHECK(schema_parse(schema_find("task.patch"), "5", &v, err, sizeof err) == -1 && strstr(err, "4 | 7"),
          "patch 4 or 7: %s", err);
    CHECK(schema_parse(schema_find("model.lrpe.p"), "dtc", &v, err, sizeof err) == -1 && strstr(err, "dct"),
          "pe option: %s", err);
    CHECK(schema_parse(schema_find("model.encoding"), "sinusoidal", &v, err, sizeof err) == -1 &&
              strstr(err, "absolute encoding"), "absolute as encoding: %s", err);
}

/* Every error class: a one-line message with file:line:col (or the argument). */
TEST(spec_errors_located) {
    EXPECT_ERROR("model:\n  d_model: [1, 2\n", "3:1: malformed YAML");
    EXPECT_ERROR("model:\n  d_model: 64\n   heads: 4\n", "3:9: malformed YAML: mapping values are not allowed");
    EXPECT_ERROR("model:\n  d_modle: 64\n", "2:3: unknown key 'model.d_modle' (did you mean model.d_model?)");
    EXPECT_ERROR("modle:\n  d_model: 64\n", "1:1: unknown key 'modle' (did you mean model?)");
    EXPECT_ERROR("seed: [1, 2]\n", "1:1: unknown key 'seed' (did you mean seeds?)");
    EXPECT_ERROR("model:\n  d_model: abc\n", "2:12: model.d_model: expected an integer, got 'abc'");
    EXPECT_ERROR("model:\n  d_model: {a: 1}\n", "2:12: model.d_model: expected a single value, got a map");
    EXPECT_ERROR("model: rope\n", "1:1: 'model' is a section: expected a map of its keys, got a value");
    EXPECT_ERROR("model:\n  heads: 0\n", "2:10: model.heads: 0 is out of range [1, 2048]");
    EXPECT_ERROR("model:\n  d_model: 100\n  heads: 3\n", "3:3: model.heads (3) must divide model.d_model (100)");
    EXPECT_ERROR("train: {lr: -1e-3}\n", "1:13: train.lr: -0.001 is out of range (0, 1e+30]");
    EXPECT_ERROR("model.encoding: ropee\n", "1:17: model.encoding: unknown encoding 'ropee' (did you mean rope? valid:");
    EXPECT_ERROR("model:\n  attention: linear\n  encoding: alibi\n",
                 "3:3: model.encoding 'alibi' does not support model.attention 'linear'");
    EXPECT_ERROR("model: {encoding: cosformer}\nsweep:\n  model.attention: [linear, softmax]\n",
                 "1:9: model.encoding 'cosformer' does not support model.attention 'softmax' (cosformer works with "
                 "linear attention only) (in model.attention=softmax)");
    EXPECT_ERROR("variants:\n  - {name: a}\n  - {name: b, model.encoding: alibi}\n",
                 "3:15: model.encoding 'alibi' does not support model.attention 'linear' (alibi works with softmax "
                 "attention only) (in variant 'b')");
    EXPECT_ERROR("model: {absolute: rope}\n", "1:19: model.absolute: 'rope' is a relative encoding");
    EXPECT_ERROR("variants:\n  - {name: a, model.layers: 2}\n  - {name: a}\n",
                 "3:12: duplicate variant name 'a' (first at line 2, column 12)");
    EXPECT_ERROR("variants:\n  - {model.layers: 2}\n", "2:5: variants: this variant has no name");
    EXPECT_ERROR("variants:\n  - {name: a, name: b}\n", "2:15: duplicate key 'name'");
    EXPECT_ERROR("variants:\n  - {name: a, model.layers: 2}\n  - {name: b, model.layers: 2}\n",
                 "3:12: variant 'b' gives the same config as variant 'a'");
    EXPECT_ERROR("model: {d_model: 64}\nmodel.d_model: 32\n", "2:1: duplicate key 'model.d_model' (first set at line 1, column 9)");
    EXPECT_ERROR("train: {steps: 40, warmup: 40}\n", "1:20: train.warmup (40) must be less than train.steps (40)");
    EXPECT_ERROR("train: {min_lr: 0.01}\n", "1:9: train.min_lr (0.01) must not exceed train.lr (0.001)");
    EXPECT_ERROR("task: {kind: textcls, dataset: kjv}\n", "1:23: task.dataset 'kjv' is not a dataset of task.kind 'textcls'");
    EXPECT_ERROR("task: {dataset: file}\n", "1:8: task.dataset file needs task.path");
    EXPECT_ERROR("task: {kind: imgcls, seq_len: 100}\n", "1:22: task.seq_len 100 does not match imgcls");
    EXPECT_ERROR("seeds: [1, 2, 1]\n", "1:15: seeds: 1 is listed twice");
    EXPECT_ERROR("seeds: [1, -2]\n", "1:12: seeds: expected a non-negative integer, got '-2'");
    EXPECT_ERROR("sweep:\n  model.layers: 2\n", "2:17: sweep: 'model.layers' needs a non-empty list of values");
    EXPECT_ERROR("sweep:\n  model.layer: [1, 2]\n", "2:3: unknown key 'model.layer' (did you mean model.layers?)");
    EXPECT_ERROR("- 1\n- 2\n", "1:1: a spec is a map");
    EXPECT_ERROR("name: a\n---\nname: b\n", "2:1: a second YAML document"); /* at its "---" */
    EXPECT_ARG_ERROR("model.d_modle=64", "argument 'model.d_modle=64': unknown key 'model.d_modle' (did you mean model.d_model?)");
    EXPECT_ARG_ERROR("train.steps=abc", "argument 'train.steps=abc': train.steps: expected an integer, got 'abc'");
    EXPECT_ARG_ERROR("train.lr=-1", "argument 'train.lr=-1': train.lr: -1 is out of range (0, 1e+30]");
    EXPECT_ARG_ERROR("model.heads=3", "argument 'model.heads=3': model.heads (3) must divide model.d_model (128)");
    EXPECT_ARG_ERROR("model.encoding=alibi", "argument 'model.encoding=alibi': model.encoding 'alibi' does not support");
    EXPECT_ARG_ERROR("model.layers=2,x", "argument 'model.layers=2,x': model.layers: expected an integer, got 'x'");
    EXPECT_ARG_ERROR("steps", "argument 'steps': expected key=value");
    EXPECT_ARG_ERROR("model=3", "argument 'model=3': 'model' is a section, not a key");
    EXPECT_ERROR("sweep: {model.lrpe: [a, b]}\n", "1:9: 'model.lrpe' is a section, not a key");
    EXPECT_ARG_ERROR("seed=1,1", "argument 'seed=1,1': seed 1 is listed twice");
    EXPECT_ARG_ERROR("model.layers=2,2", "argument 'model.layers=2,2': model.layers=2 gives the same config as model.layers=2");
    spec s;
    char err[512];
    CHECK(spec_load(&s, "/nonexistent/lrpe/spec.yaml", NULL, 0, err, sizeof err) == -1 &&
              strstr(err, "/nonexistent/lrpe/spec.yaml: cannot open the spec"), "missing file: %s", err);
    spec_free(&s);
}

/* The value of key in run i, as text. */
static const char *val(const spec *s, int i, const char *key) { return cfg_str(s->runs[i].cfg, key); }

TEST(spec_expansion) {
    tmp t;
    if (tmp_init(&t)) return;
    spec s;
    char err[512] = "";
    const char *text = "task: {kind: synthetic}\n"
                       "model: {attention: softmax}\n"
                       "seeds: [1, 2, 3]\n"
                       "variants:\n"
                       "  - {name: rope, model.encoding: rope}\n"
                       "  - name: alibi\n"
                       "    model: {encoding: alibi}\n"
                       "sweep:\n"
                       "  model.d_model: [64, 128]\n";
    CHECK(load_text(&t, &s, text, NULL, 0, err, sizeof err) == 0, "load: %s", err);
    CHECK(s.nruns == 12 && s.nconfigs == 4 && s.nvariants == 2 && s.nseeds == 3 && s.naxes == 1, "12 runs: %d",
          s.nruns);
    CHECK(strcmp(s.name, "spec") == 0, "name from the file's stem: %s", s.name);
    for (int i = 0; i < s.nruns && s.nruns == 12; i++) {
        const char *variant = i < 6 ? "rope" : "alibi", *dm = (i / 3) % 2 ? "128" : "64";
        CHECK(strcmp(s.runs[i].variant, variant) == 0 && strcmp(val(&s, i, "model.encoding"), variant) == 0,
              "run %d variant %s", i, s.runs[i].variant);
        CHECK(strcmp(val(&s, i, "model.d_model"), dm) == 0 && cfg_int(s.runs[i].cfg, "model.d_model") == atoi(dm),
              "run %d d_model %s", i, val(&s, i, "model.d_model"));
        CHECK(s.runs[i].seed == (unsigned long long)(i % 3 + 1), "run %d seed %llu", i, s.runs[i].seed);
        CHECK(strcmp(val(&s, i, "task.dataset"), "recall") == 0 && cfg_int(s.runs[i].cfg, "task.seq_len") == 64,
              "synthetic defaults");
        CHECK(strcmp(s.runs[i].config_id, cfg_id(s.runs[i].cfg)) == 0 && strlen(s.runs[i].run_id) == 32, "ids");
        for (int j = 0; j < i; j++) CHECK(strcmp(s.runs[i].run_id, s.runs[j].run_id) != 0, "run ids %d, %d differ", i, j);
    }
    spec_free(&s);

    /* a=1,2 adds an axis; seed=... sets the seeds; a single value beats the file's sweep and variants */
    char *ov[] = {"model.heads=2,8", "seed=5,6", "train.steps=300"};
    CHECK(load_text(&t, &s, text, ov, 3, err, sizeof err) == 0, "load: %s", err);
    CHECK(s.nruns == 2 * 2 * 2 * 2 && s.naxes == 2 && strcmp(s.axes[1], "model.heads") == 0, "16 runs: %d", s.nruns);
    for (int i = 0; i < s.nruns && s.nruns == 16; i++) {
        CHECK(s.runs[i].seed == (unsigned long long)(5 + i % 2), "seed");
        CHECK(cfg_int(s.runs[i].cfg, "model.heads") == ((i / 2) % 2 ? 8 : 2), "heads of run %d", i);
        CHECK(cfg_int(s.runs[i].cfg, "model.d_model") == ((i / 4) % 2 ? 128 : 64), "d_model of run %d", i);
        CHECK(cfg_int(s.runs[i].cfg, "train.steps") == 300, "steps");
    }
    spec_free(&s);
    char *ov2[] = {"model.d_model=256", "model.encoding=none", "name=other"};
    CHECK(load_text(&t, &s, "model: {attention: softmax}\nvariants:\n  - {name: a, model.encoding: rope}\n"
                            "sweep: {model.d_model: [64, 128]}\n", ov2, 3, err, sizeof err) == 0, "load: %s", err);
    CHECK(s.nruns == 1 && s.naxes == 0 && strcmp(val(&s, 0, "model.d_model"), "256") == 0 &&
              strcmp(val(&s, 0, "model.encoding"), "none") == 0 && strcmp(s.name, "other") == 0,
          "command line wins: %d runs", s.nruns);
    spec_free(&s);

    /* no file: defaults */
    CHECK(spec_load(&s, NULL, NULL, 0, err, sizeof err) == 0, "no file: %s", err);
    CHECK(s.nruns == 1 && strcmp(s.name, "default") == 0 && strcmp(s.runs[0].variant, "default") == 0 &&
              s.runs[0].seed == 1 && !s.path, "defaults");
    if (s.nruns == 1) {
        const cfg *c = s.runs[0].cfg;
        CHECK(strcmp(cfg_str(c, "task.kind"), "lm") == 0 && strcmp(cfg_str(c, "task.dataset"), "kjv") == 0 &&
                  cfg_int(c, "task.seq_len") == 256 && cfg_int(c, "model.d_model") == 128 &&
                  strcmp(cfg_str(c, "model.encoding"), "none") == 0 && cfg_float(c, "train.lr") == 1e-3 &&
                  cfg_int(c, "train.steps") == 2000, "default values");
        CHECK(cfg_int(c, "no.such.key") == 0 && !cfg_str(c, "no.such.key") && cfg_int(c, "train.lr") == 0,
              "unknown key / wrong getter");
    }
    spec_free(&s);
    tmp_done(&t);
}

/* Defaults that depend on the task kind and dataset. */
TEST(spec_kind_defaults) {
    struct { const char *arg1, *arg2, *dataset; long long seq_len; } cases[] = {
        {"task.kind=lm", "task.view=pixels", "kjv", 256},
        {"task.kind=textcls", "task.vocab=16", "wordnet", 128},
        {"task.kind=textcls", "task.dataset=spam", "spam", 1024},
        {"task.kind=imgcls", "task.patch=4", "fashion-mnist", 49},
        {"task.kind=imgcls", "task.patch=7", "fashion-mnist", 16},
        {"task.kind=imgcls", "task.view=pixels", "fashion-mnist", 784},
        {"task.kind=synthetic", "task.dataset=copy", "copy", 64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spec s;
        char err[512] = "", *ov[] = {(char *)cases[i].arg1, (char *)cases[i].arg2};
        int rc = spec_load(&s, NULL, ov, 2, err, sizeof err);
        CHECK(rc == 0, "%s %s: %s", cases[i].arg1, cases[i].arg2, err);
        if (!rc)
            CHECK(strcmp(cfg_str(s.runs[0].cfg, "task.dataset"), cases[i].dataset) == 0 &&
                      cfg_int(s.runs[0].cfg, "task.seq_len") == cases[i].seq_len,
                  "%s %s: %s %lld", cases[i].arg1, cases[i].arg2, cfg_str(s.runs[0].cfg, "task.dataset"),
                  cfg_int(s.runs[0].cfg, "task.seq_len"));
        spec_free(&s);
    }
}

/* A minimal JSON reader for the test: checks the syntax and, for each leaf, records
 * "dotted.path=text" (strings unquoted; no escapes expected in these configs). */
typedef struct jreader {
    const char *p;
    char path[256];
    char leaves[64][400];
    int nleaves, ok;
} jreader;

static void j_value(jreader *j);

/* A string into out (no escapes); advances past it. */
static void j_string(jreader *j, char *out, size_t n) {
    if (*j->p != '"') {
        j->ok = 0;
        return;
    }
    const char *end = strchr(j->p + 1, '"');
    if (!end || memchr(j->p + 1, '\\', (size_t)(end - j->p - 1))) {
        j->ok = 0;
        return;
    }
    snprintf(out, n, "%.*s", (int)(end - j->p - 1), j->p + 1);
    j->p = end + 1;
}

/* An object: "key":value pairs, separated by commas. */
static void j_object(jreader *j) {
    j->p++;
    size_t base = strlen(j->path);
    for (int first = 1; j->ok && *j->p != '}'; first = 0) {
        if (!first && *j->p++ != ',') j->ok = 0;
        char key[64];
        j_string(j, key, sizeof key);
        if (!j->ok || *j->p++ != ':') {
            j->ok = 0;
            return;
        }
        snprintf(j->path + base, sizeof j->path - base, "%s%s", base ? "." : "", key);
        j_value(j);
        j->path[base] = 0;
    }
    if (j->ok) j->p++;
}

/* Any value: an object, a string or a number (JSON grammar). */
static void j_value(jreader *j) {
    char text[128];
    if (*j->p == '{') {
        j_object(j);
        return;
    }
    if (*j->p == '"') {
        j_string(j, text, sizeof text);
    } else {
        const char *q = j->p;
        if (*q == '-') q++;
        if (*q == '0') q++;
        else if (*q >= '1' && *q <= '9') while (*q >= '0' && *q <= '9') q++;
        else j->ok = 0;
        if (*q == '.') {
            if (!(*++q >= '0' && *q <= '9')) j->ok = 0;
            while (*q >= '0' && *q <= '9') q++;
        }
        if (*q == 'e' || *q == 'E') {
            q++;
            if (*q == '+' || *q == '-') q++;
            if (!(*q >= '0' && *q <= '9')) j->ok = 0;
            while (*q >= '0' && *q <= '9') q++;
        }
        snprintf(text, sizeof text, "%.*s", (int)(q - j->p), j->p);
        j->p = q;
    }
    if (j->ok && j->nleaves < 64) snprintf(j->leaves[j->nleaves++], sizeof j->leaves[0], "%s=%s", j->path, text);
}

TEST(spec_canonical_json) {
    spec s;
    char err[512] = "", *ov[] = {"task.path=/tmp/a b.txt", "model.encoding=lrpe-unitary"};
    CHECK(spec_load(&s, NULL, ov, 2, err, sizeof err) == 0, "load: %s", err);
    if (s.nruns != 1) return;
    const cfg *c = s.runs[0].cfg;
    const char *json = cfg_json(c);
    jreader j = {.p = json, .ok = 1};
    if (*j.p == '{') j_object(&j);
    else j.ok = 0;
    CHECK(j.ok && *j.p == 0, "valid JSON: %s", json);
    int omitted = 0; /* keys marked SK_OMIT_DEFAULT are left out at their default (all of them, here) */
    for (int i = 0; i < schema_count(); i++) omitted += (schema_at(i)->flags & SK_OMIT_DEFAULT) != 0;
    CHECK(omitted == 11, "the 7 task.listops keys, model.decay, model.device, model.precision and eval.lengths are left "
          "out at their default (%d keys)", omitted);
    CHECK(j.nleaves == schema_count() - omitted, "%d leaves for %d keys", j.nleaves, schema_count() - omitted);
    for (int i = 0; i < schema_count(); i++) {
        char want[400];
        snprintf(want, sizeof want, "%s=%s", schema_at(i)->key, cfg_str(c, schema_at(i)->key));
        int found = 0;
        for (int l = 0; l < j.nleaves; l++) found |= strcmp(j.leaves[l], want) == 0;
        if (schema_at(i)->flags & SK_OMIT_DEFAULT) CHECK(!found, "JSON leaves out %s at its default", want);
        else CHECK(found, "JSON holds %s", want);
    }
    for (int l = 1; l < j.nleaves; l++) CHECK(strcmp(j.leaves[l - 1], j.leaves[l]) < 0, "sorted: %s", j.leaves[l]);
    CHECK(strstr(json, "\"lr\":0.001,") && strstr(json, "\"eps\":1e-08") && strstr(json, "\"steps\":2000") &&
              strstr(json, "\"lrpe\":{\"axes\":\"sum\""), "number and nesting form: %s", json);
    char id[CFG_ID_LEN + 1], text[64], rid[CFG_ID_LEN + 1];
    sha256_hex(json, strlen(json), id, CFG_ID_LEN);
    CHECK(strcmp(id, cfg_id(c)) == 0, "config id = sha256(json)[:32]");
    snprintf(text, sizeof text, "%s:1", id);
    sha256_hex(text, strlen(text), rid, CFG_ID_LEN);
    CHECK(strcmp(rid, s.runs[0].run_id) == 0, "run id = sha256(config id:seed)[:32]");
    spec_free(&s);
}

/* Comments, key order, flow vs block, dotted vs nested, explicit defaults and number spelling do
 * not change the ids; a different value or seed does. */
TEST(spec_run_identity) {
    tmp t;
    if (tmp_init(&t)) return;
    spec a, b, c;
    char err[512] = "";
    const char *block = "# an experiment\n"
                        "name: exp\n"
                        "task:\n"
                        "  kind: lm         # byte-level\n"
                        "model:\n"
                        "  d_model: 64\n"
                        "  heads: 4\n"
                        "  encoding: lrpe-unitary\n"
                        "  lrpe:\n"
                        "    theta: learned\n"
                        "train:\n"
                        "  lr: 1.0e-3\n"
                        "  steps: 500\n"
                        "seeds: [1, 2]\n";
    const char *flow = "seeds: [1, 2]\n"
                       "train: {steps: 500, lr: 0.001, warmup: 50, schedule: cosine}\n"
                       "model.lrpe.theta: learned\n"
                       "model: {encoding: lrpe-unitary, heads: 4, d_model: 64.0, lrpe: {p: householder}, absolute: none}\n"
                       "task: {dataset: kjv, seq_len: 256}\n";
    CHECK(spec_load(&a, tmp_file(&t, "a.yaml", block), NULL, 0, err, sizeof err) == 0, "a: %s", err);
    CHECK(spec_load(&b, tmp_file(&t, "b.yaml", flow), NULL, 0, err, sizeof err) == 0, "b: %s", err);
    int ok = a.nruns == 2 && b.nruns == 2;
    CHECK(ok, "two runs each");
    for (int i = 0; ok && i < 2; i++) {
        CHECK(strcmp(a.runs[i].config_id, b.runs[i].config_id) == 0, "same config id");
        CHECK(strcmp(a.runs[i].run_id, b.runs[i].run_id) == 0, "same run id for seed %llu", a.runs[i].seed);
    }
    if (ok) CHECK(strcmp(a.runs[0].run_id, a.runs[1].run_id) != 0, "different seeds, different run ids");
    /* the human-readable dump loads back to the same config */
    char *dump = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&dump, &len);
    CHECK(ok && f && cfg_dump(f, a.runs[0].cfg) == 0, "dump");
    if (f) fclose(f);
    char *seed1[] = {"seed=1"};
    CHECK(dump && spec_load(&c, tmp_file(&t, "dump.yaml", dump), seed1, 1, err, sizeof err) == 0, "dump loads: %s\n%s",
          err, dump ? dump : "");
    if (ok && c.nruns == 1) CHECK(strcmp(c.runs[0].run_id, a.runs[0].run_id) == 0, "dump gives the same run id");
    spec_free(&c);
    free(dump);
    /* one value changed: a different config */
    char *change[] = {"train.lr=0.002"};
    CHECK(spec_load(&c, tmp_file(&t, "a.yaml", block), change, 1, err, sizeof err) == 0, "c: %s", err);
    if (ok && c.nruns == 2) CHECK(strcmp(c.runs[0].config_id, a.runs[0].config_id) != 0, "different lr, different id");
    spec_free(&c);
    char *change2[] = {"model.lrpe.axes=split"};
    CHECK(spec_load(&c, tmp_file(&t, "a.yaml", block), change2, 1, err, sizeof err) == 0, "c: %s", err);
    if (ok && c.nruns == 2) CHECK(strcmp(c.runs[0].config_id, a.runs[0].config_id) != 0, "different option, different id");
    spec_free(&c);
    spec_free(&a);
    spec_free(&b);
    tmp_done(&t);
}

TEST(spec_fill_structs) {
    spec s;
    char err[512] = "";
    char *ov[] = {"model.attention=softmax", "model.encoding=lrpe-rotation", "model.absolute=sinusoidal",
                  "model.lrpe.p=dct", "model.lrpe.theta=learned", "model.layers=3", "model.d_model=96", "model.heads=6",
                  "model.ffn_mult=2", "train.lr=3e-4", "train.min_lr=1e-5", "train.warmup=10", "train.steps=400",
                  "train.schedule=linear", "train.weight_decay=0.1", "train.beta2=0.95"};
    CHECK(spec_load(&s, NULL, ov, (int)(sizeof ov / sizeof ov[0]), err, sizeof err) == 0, "load: %s", err);
    if (s.nruns != 1) return;
    model_config m = model_config_default();
    CHECK(cfg_model_config(s.runs[0].cfg, &m, err, sizeof err) == 0, "model config: %s", err);
    CHECK(strcmp(m.attention, "softmax") == 0 && strcmp(m.encoding, "lrpe-rotation") == 0 &&
              strcmp(m.absolute, "sinusoidal") == 0 && strcmp(m.feature_map, "1+elu") == 0 &&
              strcmp(m.normalizer, "layernorm") == 0, "names");
    CHECK(m.layers == 3 && m.d_model == 96 && m.heads == 6 && m.ffn_mult == 2, "sizes");
    CHECK(m.pe_opt.p == PE_P_DCT && m.pe_opt.theta_learned == 1 && m.pe_opt.householder_learned == 0 &&
              m.pe_opt.axes_split == 0, "pe options");
    lr_schedule l = cfg_lr_schedule(s.runs[0].cfg);
    CHECK(l.lr == 3e-4f && l.min_lr == 1e-5f && l.warmup == 10 && l.total == 400 && l.shape == LR_LINEAR, "schedule");
    adamw_config a = cfg_adamw_config(s.runs[0].cfg), d = adamw_defaults();
    CHECK(a.beta1 == 0.9f && a.beta2 == 0.95f && a.eps == 1e-8f && a.weight_decay == 0.1f &&
              a.decay_kinds == d.decay_kinds, "adamw");
    spec_free(&s);
}

TEST(spec_dry_run_print) {
    tmp t;
    if (tmp_init(&t)) return;
    spec s;
    char err[512] = "";
    const char *text = "name: demo\nvariants:\n  - {name: nope}\n  - {name: rope, model.encoding: rope}\n"
                       "sweep: {model.attention: [linear, softmax]}\nseeds: [1, 2]\n";
    CHECK(load_text(&t, &s, text, NULL, 0, err, sizeof err) == 0, "load: %s", err);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char *status[8] = {"pending", "completed"};
    if (f && s.nruns == 8) {
        spec_print(f, &s, status);
        spec_print_keys(f);
        fclose(f);
        CHECK(strstr(out, "experiment demo (") && strstr(out, "8 runs = 2 variants x 2 model.attention x 2 seeds"),
              "header: %.200s", out);
        CHECK(strstr(out, "model.attention") && strstr(out, "status") && strstr(out, "completed"), "columns");
        for (int i = 0; i < s.nruns; i++) CHECK(strstr(out, s.runs[i].run_id) != NULL, "run %d listed", i);
        CHECK(strstr(out, "resolved config of the first run (variant nope, seed 1)") &&
                  strstr(out, "  attention: linear") && strstr(out, "  lrpe:\n    p: householder"), "config dump");
        CHECK(strstr(out, "model.d_model") && strstr(out, "(derived)"), "key listing");
    } else {
        CHECK(0, "8 runs (%d), memstream", s.nruns);
        if (f) fclose(f);
    }
    free(out);
    spec_free(&s);
    tmp_done(&t);
}

/* Other YAML forms: nested sweep keys, one seed as a scalar, an empty section, anchors and
 * aliases, quoted values, a variant's keys nested. */
TEST(spec_yaml_forms) {
    tmp t;
    if (tmp_init(&t)) return;
    spec s;
    char err[512] = "";
    const char *text = "model:\n"
                       "train:\n"
                       "  steps: &n 300\n"
                       "  eval_every: *n\n"
                       "  lr: \"2e-3\"\n"
                       "seeds: 7\n"
                       "variants:\n"
                       "  - name: deep\n"
                       "    model:\n"
                       "      layers: 6\n"
                       "sweep:\n"
                       "  model:\n"
                       "    lrpe: {theta: [fixed, learned]}\n";
    CHECK(load_text(&t, &s, text, NULL, 0, err, sizeof err) == 0, "load: %s", err);
    CHECK(s.nruns == 2 && s.naxes == 1 && strcmp(s.axes[0], "model.lrpe.theta") == 0, "runs %d", s.nruns);
    for (int i = 0; i < s.nruns && s.nruns == 2; i++) {
        CHECK(s.runs[i].seed == 7 && cfg_int(s.runs[i].cfg, "model.layers") == 6, "seed, variant");
        CHECK(cfg_int(s.runs[i].cfg, "train.eval_every") == 300 && cfg_float(s.runs[i].cfg, "train.lr") == 2e-3, "alias");
        CHECK(strcmp(val(&s, i, "model.lrpe.theta"), i ? "learned" : "fixed") == 0, "nested sweep");
    }
    spec_free(&s);
    tmp_done(&t);
}

/* Messages that name the real cause: a tab in the indentation (libyaml says only "found character
 * that cannot start any token"), a spec path that is a folder or a FIFO (opening a FIFO used to wait
 * for a writer), a spec with a NUL byte; names checked when read. */
TEST(spec_errors_name_the_real_cause) {
    EXPECT_ERROR("train:\n\tsteps: 3\n", "2:1: a tab in the indentation: YAML indents with spaces only");
    EXPECT_ERROR("train:\n  steps: 3\n \tbatch: 2\n", "3:2: a tab in the indentation");
    EXPECT_ERROR("name: \"a b\"\n", "1:7: experiment name: character 2 (' ') is not allowed");
    EXPECT_ERROR("name: ../up\n", "1:7: experiment name: character 1 ('.') is not allowed");
    EXPECT_ERROR("name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "1:7: the experiment name must have 1 to 64 characters (it has 65)");
    EXPECT_ARG_ERROR("name=x/y", "argument 'name=x/y': experiment name: character 2 ('/') is not allowed");
    EXPECT_ERROR("variants:\n  - {name: \"a\\tb\"}\n", "2:12: variant name: character 2 is a control character");
    EXPECT_ERROR("variants:\n  - {name: a}\n  - {name: b}\n  - {name: a}\n",
                 "4:12: duplicate variant name 'a' (first at line 2, column 12)");
    tmp t;
    if (tmp_init(&t)) return test_fail(__FILE__, __LINE__, "mkdtemp");
    spec s;
    char err[1024], path[512];
    CHECK(spec_load(&s, t.dir, NULL, 0, err, sizeof err) == -1 && strstr(err, "cannot open the spec: is a folder, not a file"),
          "folder: %s", err);
    snprintf(path, sizeof path, "%s/fifo.yaml", t.dir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    CHECK(spec_load(&s, path, NULL, 0, err, sizeof err) == -1 && strstr(err, "cannot open the spec: is a FIFO, not a file"),
          "FIFO: %s", err);
    CHECK(spec_load_text(&s, "nul.yaml", "name: a\0b\n", 10, NULL, 0, err, sizeof err) == -1 &&
              strstr(err, "nul.yaml: holds a NUL byte"),
          "NUL: %s", err);
    /* a file named so that its stem cannot name an experiment says how to name it */
    CHECK(spec_load(&s, tmp_file(&t, "my spec.yaml", "seeds: [1]\n"), NULL, 0, err, sizeof err) == -1 &&
              strstr(err, "(the name comes from the file name: set name: in the spec)"),
          "stem: %s", err);
    spec_free(&s);
    tmp_done(&t);
}

/* The ids of the configs that were there before model.device and model.precision existed, pinned
 * as the previous lrpe computed them: the demo spec and a config of defaults only. */
TEST(spec_device_keys_keep_earlier_ids) {
    spec s;
    char err[1024] = "";
    CHECK(spec_load(&s, "experiments/synthetic-demo.yaml", NULL, 0, err, sizeof err) == 0, "demo: %s", err);
    if (s.nruns == 6) {
        CHECK(strcmp(s.runs[0].config_id, "7e9fc9466109fdb39e76576815496e51") == 0, "demo config id %s", s.runs[0].config_id);
        CHECK(strcmp(s.runs[0].run_id, "43f2df93835f341fc023cc52cb907d6f") == 0, "demo run id %s", s.runs[0].run_id);
        CHECK(strcmp(s.runs[5].run_id, "4c68d5f03bec4ee08a28b28d448990a3") == 0, "demo lrpe-unitary seed 2 %s", s.runs[5].run_id);
        CHECK(!strstr(cfg_json(s.runs[0].cfg), "device") && !strstr(cfg_json(s.runs[0].cfg), "precision"),
              "the recorded config is unchanged: %s", cfg_json(s.runs[0].cfg));
    } else {
        CHECK(0, "the demo has 6 runs, not %d", s.nruns);
    }
    spec_free(&s);
    char *spelled[] = {"model.device=cpu", "model.precision=fp32", "model.decay=encoding"}; /* defaults: the same ids */
    for (int n = 0; n <= 3; n++) {
        CHECK(spec_load(&s, NULL, spelled, n, err, sizeof err) == 0, "defaults: %s", err);
        if (s.nruns == 1) CHECK(strcmp(s.runs[0].run_id, "0f100da7f18b019575d8a959e9e9539c") == 0, "%d spelled: %s", n, s.runs[0].run_id);
        spec_free(&s);
    }
}

/* Resolves the defaults with model.device and model.precision set (no device check) into a config. */
static cfg *config_on(const char *device, const char *precision) {
    int n = schema_count(), blame;
    cfg_value *v = calloc((size_t)n, sizeof *v);
    unsigned char *set = calloc((size_t)n, 1);
    cfg *c = NULL;
    char err[512] = "";
    const int D = schema_find("model.device"), P = schema_find("model.precision");
    int ok = v && set && !schema_parse(D, device, &v[D], err, sizeof err) && !schema_parse(P, precision, &v[P], err, sizeof err);
    if (set) set[D] = set[P] = 1;
    ok = ok && !schema_resolve(v, set, &blame, err, sizeof err) && !cfg_create(&c, v, err, sizeof err);
    CHECK(ok, "config on %s/%s: %s", device, precision, err);
    for (int k = 0; v && k < n; k++) cfg_value_free(&v[k]);
    free(v);
    free(set);
    return c;
}

/* model.device and model.precision: their values are the backend's, a non-default value is part of
 * the config and its id, they reach model_config, and a device this build or machine cannot use is
 * refused when the spec is loaded, pointing at where it was set, with the backend's own line. */
TEST(spec_device_and_precision) {
    char list[128], err[1024] = "";
    schema_choices(schema_find("model.device"), list, sizeof list);
    CHECK(strcmp(list, BACKEND_DEVICES) == 0, "devices: %s", list);
    schema_choices(schema_find("model.precision"), list, sizeof list);
    for (int p = BE_FP32; p <= BE_BF16; p++) CHECK(strstr(list, be_precision_name((be_precision)p)), "%s listed", list);
    for (char *w = strtok(list, " |"); w; w = strtok(NULL, " |")) CHECK(be_precision_parse(w) >= 0, "precision %s", w);
    cfg *cpu = config_on("cpu", "fp32"), *cuda = config_on("cuda", "fp32"), *bf16 = config_on("cuda", "bf16");
    if (cpu && cuda && bf16) {
        CHECK(strcmp(cfg_id(cpu), cfg_id(cuda)) && strcmp(cfg_id(cuda), cfg_id(bf16)) && strcmp(cfg_id(cpu), cfg_id(bf16)),
              "cpu, cuda and cuda/bf16 have different ids");
        CHECK(strstr(cfg_json(cuda), "\"device\":\"cuda\"") && !strstr(cfg_json(cuda), "precision"), "%s", cfg_json(cuda));
        CHECK(strstr(cfg_json(bf16), "\"device\":\"cuda\"") && strstr(cfg_json(bf16), "\"precision\":\"bf16\""), "%s",
              cfg_json(bf16));
        model_config m = model_config_default();
        CHECK(cfg_model_config(bf16, &m, err, sizeof err) == 0 && m.device && m.precision && !strcmp(m.device, "cuda") &&
                  !strcmp(m.precision, "bf16"), "model_config: %s", err);
        CHECK(cfg_model_config(cpu, &m, err, sizeof err) == 0 && !strcmp(m.device, "cpu") && !strcmp(m.precision, "fp32"),
              "model_config on the cpu: %s", err);
    }
    cfg_free(cpu), cfg_free(cuda), cfg_free(bf16);
    EXPECT_ARG_ERROR("model.device=gpu", "argument 'model.device=gpu': model.device: invalid value 'gpu'");
    EXPECT_ARG_ERROR("model.precision=fp16", "argument 'model.precision=fp16': model.precision: invalid value 'fp16'");
    EXPECT_ARG_ERROR("model.precision=tf32", "argument 'model.precision=tf32': model.precision=tf32: tf32 is a mode of the GPU's");
    EXPECT_ERROR("model:\n  layers: 1\n  precision: tf32\n", "3:3: model.precision=tf32: tf32 is a mode of the GPU's");
    backend_gpu g;
    char why[512] = "";
    if (backend_gpus(&g, 1, why, sizeof why) > 0) {
        spec s;
        char *ov[] = {"model.device=cuda"};
        CHECK(spec_load(&s, NULL, ov, 1, err, sizeof err) == 0, "a GPU is here: %s", err);
        spec_free(&s);
        return;
    }
    if (strstr(why, "built without CUDA")) { /* this build: refused with the rebuild line */
        EXPECT_ARG_ERROR("model.device=cuda", "argument 'model.device=cuda': model.device=cuda: this lrpe was built "
                                              "without CUDA; rebuild with `make CUDA=1`");
        EXPECT_ERROR("model: {layers: 1, device: cuda}\nvariants:\n  - {name: a}\n",
                     "1:20: model.device=cuda: this lrpe was built without CUDA; rebuild with `make CUDA=1`");
        EXPECT_ERROR("variants:\n  - {name: a}\n  - {name: b, model.device: cuda}\n", "3:15: model.device=cuda:");
    } else { /* a CUDA build without a GPU: refused all the same */
        EXPECT_ARG_ERROR("model.device=cuda", "argument 'model.device=cuda': model.device=cuda");
    }
}

/* model.decay: per-head is refused where there is no causal linear attention, naming both keys'
 * values; none and per-head are configs of their own. */
TEST(spec_decay_needs_causal_linear_attention) {
    spec s;
    char err[1024] = "";
    char *softmax[] = {"model.decay=per-head", "model.attention=softmax"}, *cls[] = {"model.decay=per-head", "task.kind=imgcls"};
    CHECK(spec_load(&s, NULL, softmax, 2, err, sizeof err) != 0 && strstr(err, "model.decay 'per-head' needs causal linear") &&
              strstr(err, "softmax attention"),
          "softmax: %s", err);
    spec_free(&s);
    CHECK(spec_load(&s, NULL, cls, 2, err, sizeof err) != 0 && strstr(err, "task kind imgcls"), "imgcls: %s", err);
    spec_free(&s);
    char *ok[] = {"model.decay=none,per-head"};
    CHECK(spec_load(&s, NULL, ok, 1, err, sizeof err) == 0 && s.nruns == 2 && strcmp(s.runs[0].run_id, s.runs[1].run_id),
          "decay sweep: %s", err);
    spec_free(&s);
}

/* eval.lengths, a list key: a YAML list or a comma list (never a sweep), sorted, duplicates and
 * out-of-range values refused; a JSON array in the canonical config; a sweep of lists in a file. */
TEST(spec_eval_lengths_list_key) {
    spec s;
    char err[1024] = "";
    char *ov[] = {"eval.lengths=1024,128,256"};
    CHECK(spec_load(&s, NULL, ov, 1, err, sizeof err) == 0 && s.nruns == 1, "override: %s", err);
    if (s.nruns == 1) {
        CHECK(strcmp(cfg_str(s.runs[0].cfg, "eval.lengths"), "128,256,1024") == 0, "canonical %s",
              cfg_str(s.runs[0].cfg, "eval.lengths"));
        CHECK(strstr(cfg_json(s.runs[0].cfg), "\"eval\":{\"lengths\":[128,256,1024]}") != NULL, "json %s",
              cfg_json(s.runs[0].cfg));
        long long v[SCHEMA_MAX_INTS];
        CHECK(cfg_ints(s.runs[0].cfg, "eval.lengths", v, SCHEMA_MAX_INTS) == 3 && v[2] == 1024, "cfg_ints");
    }
    spec_free(&s);
    const char *text = "eval: {lengths: [512, 128]}\n";
    CHECK(spec_load_text(&s, "t.yaml", text, strlen(text), NULL, 0, err, sizeof err) == 0 && s.nruns == 1 &&
              strcmp(cfg_str(s.runs[0].cfg, "eval.lengths"), "128,512") == 0,
          "yaml list: %s", err);
    spec_free(&s);
    text = "sweep: {eval.lengths: [[128], [128, 256]]}\n";
    CHECK(spec_load_text(&s, "t.yaml", text, strlen(text), NULL, 0, err, sizeof err) == 0 && s.nruns == 2, "sweep of lists: %s", err);
    spec_free(&s);
    char *dup[] = {"eval.lengths=128,128"}, *low[] = {"eval.lengths=1"}, *bad[] = {"eval.lengths=128,x"};
    CHECK(spec_load(&s, NULL, dup, 1, err, sizeof err) && strstr(err, "128 is listed twice"), "dup: %s", err);
    spec_free(&s);
    CHECK(spec_load(&s, NULL, low, 1, err, sizeof err) && strstr(err, "each value must be in [2, 1048576]"), "low: %s", err);
    spec_free(&s);
    CHECK(spec_load(&s, NULL, bad, 1, err, sizeof err) && strstr(err, "expected a list of integers"), "bad: %s", err);
    spec_free(&s);
}

/* The task.listops keys: only with dataset listops, a min_len the generator can reach (checked when
 * the spec loads, before anything runs), and left out of the recorded config at their defaults. */
TEST(spec_listops_keys) {
    EXPECT_ARG_ERROR("task.listops.depth=5", "task.listops.depth applies to task.dataset listops only (here: kjv): remove it");
    char *wordnet[] = {"task.kind=textcls", "task.listops.train=100"};
    expect_error("", wordnet, 2, "task.listops.train applies to task.dataset listops only (here: wordnet)", __LINE__);
    char *far[] = {"task.kind=textcls", "task.dataset=listops", "task.seq_len=64", "task.listops.min_len=65"};
    expect_error("", far, 4, "task.listops.min_len 65 is out of reach: expressions here have 1 to 64 tokens", __LINE__);
    char *shallow[] = {"task.kind=textcls", "task.dataset=listops", "task.seq_len=64", "task.listops.depth=2"};
    expect_error("", shallow, 4, "task.listops.min_len 16 is out of reach", __LINE__);
    spec s;
    char err[1024] = "";
    char *ok[] = {"task.kind=textcls", "task.dataset=listops", "task.listops.data_seed=2", "task.listops.train=96000,1000"};
    CHECK(spec_load(&s, NULL, ok, 4, err, sizeof err) == 0 && s.nruns == 2, "listops: %s", err);
    if (s.nruns == 2) {
        const char *a = cfg_json(s.runs[0].cfg), *b = cfg_json(s.runs[1].cfg);
        CHECK(strstr(a, "\"data_seed\":2") && !strstr(a, "96000") && strstr(b, "\"train\":1000") &&
                  cfg_int(s.runs[0].cfg, "task.seq_len") == 2000,
              "defaults left out, seq_len 2000 (LRA): %s | %s", a, b);
    }
    spec_free(&s);
}

/* train.warmup defaults to a tenth of the steps, at most 100: a short spec is never refused for a
 * default, every config of 1000 steps or more keeps the 100 it always had (and its ids: the same
 * config id as warmup: 100 spelled out), the dry run says which values were derived, and an
 * explicit warm-up of the whole run is still refused. */
TEST(spec_warmup_default_derived_from_steps) {
    tmp t;
    if (tmp_init(&t)) return;
    static const struct {
        const char *steps;
        long long warmup;
    } cases[] = {{"40", 4}, {"5", 0}, {"1", 0}, {"999", 99}, {"1000", 100}, {"2000", 100}, {"100000", 100}};
    spec s;
    char err[1024] = "", text[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "task: {kind: synthetic}\ntrain: {steps: %s}\n", cases[i].steps);
        CHECK(load_text(&t, &s, text, NULL, 0, err, sizeof err) == 0, "steps %s: %s", cases[i].steps, err);
        if (s.nruns == 1) {
            CHECK(cfg_int(s.runs[0].cfg, "train.warmup") == cases[i].warmup, "steps %s: warmup %lld", cases[i].steps,
                  cfg_int(s.runs[0].cfg, "train.warmup"));
            CHECK(cfg_given(s.runs[0].cfg, "train.warmup") == 0 && cfg_given(s.runs[0].cfg, "train.steps") == 1, "given");
        }
        spec_free(&s);
    }
    /* the default config (2000 steps) and 1000 steps: the ids with warmup: 100 written out */
    const char *pairs[][2] = {{"seeds: [1]\n", "train: {warmup: 100}\n"},
                              {"train: {steps: 1000}\n", "train: {steps: 1000, warmup: 100}\n"}};
    for (int i = 0; i < 2; i++) {
        spec a, b;
        CHECK(load_text(&t, &a, pairs[i][0], NULL, 0, err, sizeof err) == 0, "%s", err);
        CHECK(load_text(&t, &b, pairs[i][1], NULL, 0, err, sizeof err) == 0, "%s", err);
        CHECK(a.nruns == 1 && b.nruns == 1 && strcmp(a.runs[0].run_id, b.runs[0].run_id) == 0, "pair %d: same run id", i);
        spec_free(&a);
        spec_free(&b);
    }
    /* the dry run names what was derived, and only that */
    char *ov[] = {"train.steps=40"};
    CHECK(load_text(&t, &s, "task: {kind: synthetic, dataset: copy}\n", ov, 1, err, sizeof err) == 0, "%s", err);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f) {
        spec_print(f, &s, NULL);
        fclose(f);
    }
    CHECK(out && strstr(out, "\nderived: train.warmup = 4 (train.steps / 10, at most 100)\n") &&
              strstr(out, "\nderived: task.seq_len = 64 (") && !strstr(out, "derived: task.dataset"),
          "derived values: %s", out ? out : "");
    free(out);
    spec_free(&s);
    char *given[] = {"train.steps=40", "train.warmup=3"};
    CHECK(load_text(&t, &s, "task: {kind: synthetic, dataset: copy, seq_len: 32}\n", given, 2, err, sizeof err) == 0, "%s", err);
    out = NULL, f = open_memstream(&out, &len);
    if (f) {
        spec_print(f, &s, NULL);
        fclose(f);
    }
    CHECK(out && strstr(out, "  warmup: 3 ") && !strstr(out, "derived:"), "nothing derived: %s", out ? out : "");
    free(out);
    spec_free(&s);
    tmp_done(&t);
    char *whole[] = {"train.steps=40", "train.warmup=40"};
    expect_error("", whole, 2, "argument 'train.warmup=40': train.warmup (40) must be less than train.steps (40)", __LINE__);
}
