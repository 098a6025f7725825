/* The Fashion-MNIST task (tasks/imgcls.c): the installed files (sizes, balance, the spec's md5
 * checked with coreutils md5sum, the SHA-256 the loader checks), refusal of truncated / corrupt /
 * missing copies, the patches and pixels views (shapes, positions, exact reassembly of the images),
 * the splits, the cursor, and a small model that must learn (learn_fmnist_patches). The files come from the Debian package
 * dataset-fashion-mnist (`make data`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "gradcheck.h"
#include "sha256.h"
#include "task.h"
#include "task_parse.h"
#include "test.h"
#include "train.h"

#define FM_DIR "/usr/share/datasets/fashion-mnist"
static const char *const FM_NAMES[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

/* Reads a whole gzip file (uncompressed) into a malloc'd buffer; NULL if it cannot. */
static uint8_t *gz_slurp(const char *path, size_t *n) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) return NULL;
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    for (int r; buf; len += (size_t)r) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
            if (!buf) break;
        }
        r = gzread(gz, buf + len, (unsigned)(cap - len));
        if (r <= 0) break;
    }
    gzclose(gz);
    *n = len;
    return buf;
}

/* Writes n bytes to path gzipped; 0 on success. */
static int gz_write(const char *path, const uint8_t *data, size_t n) {
    gzFile gz = gzopen(path, "wb");
    if (!gz) return -1;
    int ok = gzwrite(gz, data, (unsigned)n) == (int)n;
    return gzclose(gz) == Z_OK && ok ? 0 : -1;
}

/* The raw uncompressed file k of FM_NAMES (a failure naming the fix if it is missing). */
static uint8_t *raw_file(int k, size_t *n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", FM_DIR, FM_NAMES[k]);
    uint8_t *b = gz_slurp(path, n);
    if (!b) test_fail(__FILE__, __LINE__, "cannot read %s: run `make data` (installs dataset-fashion-mnist)", path);
    return b;
}

/* Opens imgcls/fashion-mnist with the view, patch, seed and data folder given. */
static task *open_fm(const char *view, int patch, uint64_t seed, const char *data_dir, char *err, size_t errlen) {
    task_params p = {.kind = "imgcls", .dataset = "fashion-mnist", .view = view, .patch = patch, .seed = seed,
                     .data_dir = data_dir};
    task *t = NULL;
    if (task_open(&t, &p, err, errlen)) return NULL;
    return t;
}

/* Batch buffers for B examples of task info ti (freed by free_batch). */
static task_batch alloc_batch(const task_info *ti, int B, int with_pos) {
    size_t n = (size_t)B * ti->seq_len;
    return (task_batch){.B = B, .T = ti->seq_len, .tokens = calloc(n, sizeof(int32_t)),
                        .targets = calloc(n, sizeof(int32_t)),
                        .pos = with_pos ? calloc(n * (size_t)ti->pos_rank, sizeof(int32_t)) : NULL,
                        .inputs = calloc(n * (size_t)ti->input_dim, sizeof(float)), .valid = calloc(n, 1)};
}

static void free_batch(task_batch *b) { free(b->tokens), free(b->targets), free(b->pos), free(b->inputs), free(b->valid); }

/* The pixel byte a normalised value stands for (inverse of (v / 255 - 0.2860) / 0.3530). */
static int byte_of(float x) { return (int)lroundf((x * 0.3530f + 0.2860f) * 255.0f); }

TEST(imgcls_files_sizes_checksums_balance) {
    /* md5 of the unzipped files as the spec (datasets.md) publishes them, checked with coreutils
     * (lrpe itself only knows SHA-256), and the SHA-256 of the same bytes the loader checks */
    static const char *const spec_md5[4] = {"f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                                            "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"};
    static const char *const sha256s[4] = {"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                                           "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"};
    static const size_t sizes[4] = {16 + 60000 * 784, 8 + 60000, 16 + 10000 * 784, 8 + 10000};
    uint8_t *f[4];
    size_t n[4];
    for (int k = 0; k < 4; k++) {
        f[k] = raw_file(k, &n[k]);
        if (!f[k]) return;
        char hex[65], cmd[400], out[256];
        sha256_hex(f[k], n[k], hex, 64);
        CHECK(n[k] == sizes[k], "%s: %zu bytes, want %zu", FM_NAMES[k], n[k], sizes[k]);
        CHECK(strcmp(hex, sha256s[k]) == 0, "%s: sha256 %s, want %s", FM_NAMES[k], hex, sha256s[k]);
        CHECK(strcmp(IMGCLS_FILES[k].name, FM_NAMES[k]) == 0 && IMGCLS_FILES[k].sha256 &&
                  strcmp(IMGCLS_FILES[k].sha256, sha256s[k]) == 0,
              "%s: the loader's table has %s %s", FM_NAMES[k], IMGCLS_FILES[k].name,
              IMGCLS_FILES[k].sha256 ? IMGCLS_FILES[k].sha256 : "(none)");
        snprintf(cmd, sizeof cmd, "gzip -dc '%s/%s' | md5sum", FM_DIR, FM_NAMES[k]);
        CHECK(test_capture(cmd, out, sizeof out) == 0, "%s: %s", cmd, out);
        CHECK(strncmp(out, spec_md5[k], 32) == 0, "%s: md5 of the unzipped data %.32s, the spec gives %s",
              FM_NAMES[k], out, spec_md5[k]);
    }
    /* class balance: 6,000 per class in train, 1,000 in test */
    int count[2][10] = {{0}};
    for (int i = 0; i < 60000; i++) count[0][f[1][8 + i] % 10]++;
    for (int i = 0; i < 10000; i++) count[1][f[3][8 + i] % 10]++;
    for (int c = 0; c < 10; c++) {
        CHECK(count[0][c] == 6000, "train class %d: %d images, want 6000", c, count[0][c]);
        CHECK(count[1][c] == 1000, "test class %d: %d images, want 1000", c, count[1][c]);
    }
    /* the normalisation constants are the training set's mean and std */
    double sum = 0, sq = 0;
    for (size_t i = 16; i < n[0]; i++) {
        double v = f[0][i] / 255.0;
        sum += v, sq += v * v;
    }
    double mean = sum / (n[0] - 16), sd = sqrt(sq / (n[0] - 16) - mean * mean);
    CHECK(fabs(mean - 0.2860) < 5e-4 && fabs(sd - 0.3530) < 5e-4, "train mean %.4f std %.4f, want 0.2860 0.3530", mean, sd);
    for (int k = 0; k < 4; k++) free(f[k]);
    /* the task opens them and reports their checksums */
    char err[512];
    task *t = open_fm("patches", 4, 1, NULL, err, sizeof err);
    CHECK(t, "open: %s", err);
    if (!t) return;
    for (int k = 0; k < 4; k++)
        CHECK(strstr(t->info.data_id, sha256s[k]), "data_id %s lacks %s", t->info.data_id, sha256s[k]);
    task_close(t);
}

TEST(imgcls_splits_55000_5000_10000) {
    char err[512];
    task *t = open_fm("patches", 7, 5, NULL, err, sizeof err);
    CHECK(t, "open: %s", err);
    if (!t) return;
    enum { B = 1000 };
    task_batch b = alloc_batch(&t->info, B, 1);
    int per_class[10] = {0}, seen = 0;
    CHECK(t->vt->eval_count(t, SPLIT_VAL, B) == 5, "val batches %d", t->vt->eval_count(t, SPLIT_VAL, B));
    CHECK(t->vt->eval_count(t, SPLIT_TEST, B) == 10, "test batches %d", t->vt->eval_count(t, SPLIT_TEST, B));
    CHECK(t->vt->eval_count(t, SPLIT_VAL, 3000) == 2, "val batches of 3000");
    int n_test = 0;
    for (int i = 0; i < 10; i++) {
        t->vt->eval_batch(t, SPLIT_TEST, i, &b);
        for (int r = 0; r < B; r++) n_test += b.targets[r] >= 0 && b.targets[r] < 10;
    }
    CHECK(n_test == 10000, "test examples %d", n_test);
    for (int i = 0; i < 5; i++) {
        t->vt->eval_batch(t, SPLIT_VAL, i, &b);
        for (int r = 0; r < B; r++) per_class[b.targets[r]]++, seen++;
    }
    CHECK(seen == 5000, "val examples %d", seen);
    /* one training epoch (55 batches) plus the validation split = the whole training file */
    for (int i = 0; i < 55; i++) {
        t->vt->train_batch(t, &b);
        for (int r = 0; r < B; r++) per_class[b.targets[r]]++;
    }
    for (int c = 0; c < 10; c++) CHECK(per_class[c] == 6000, "train epoch + val, class %d: %d, want 6000", c, per_class[c]);
    /* rows past the end of a split are ignored */
    free_batch(&b);
    b = alloc_batch(&t->info, 3000, 1);
    t->vt->eval_batch(t, SPLIT_VAL, 1, &b);
    int pad = 0, real = 0;
    for (int r = 0; r < 3000; r++) pad += b.targets[r] == -1, real += b.targets[r] >= 0;
    CHECK(pad == 1000 && real == 2000, "val batch 1 of 3000: %d real rows, %d ignored (want 2000, 1000)", real, pad);
    free_batch(&b);
    task_close(t);
}

/* Checks one view: shapes, positions, and that batch 0 of val and test reassembles the images exactly. */
static void check_view(const char *view, int patch) {
    char err[512];
    task *t = open_fm(view, patch, 2, NULL, err, sizeof err);
    CHECK(t, "open %s %d: %s", view, patch, err);
    if (!t) return;
    const task_info *ti = &t->info;
    const int pixels = strcmp(view, "pixels") == 0, P = pixels ? 1 : patch, G = 28 / P;
    const int T = pixels ? 784 : G * G;
    CHECK(ti->seq_len == T && ti->input_dim == P * P && ti->n_out == 10 && ti->causal == 0 && ti->output == TASK_CLS,
          "%s %d: seq_len %d input_dim %d n_out %d causal %d", view, patch, ti->seq_len, ti->input_dim, ti->n_out, ti->causal);
    CHECK(ti->pos_rank == (pixels ? 1 : 2), "%s: pos_rank %d", view, ti->pos_rank);
    if (!pixels) CHECK(ti->grid_h == G && ti->grid_w == G, "grid %dx%d, want %dx%d", ti->grid_h, ti->grid_w, G, G);
    size_t ni, nl, tni, tnl;
    uint8_t *img = raw_file(0, &ni), *lab = raw_file(1, &nl), *timg = raw_file(2, &tni), *tlab = raw_file(3, &tnl);
    enum { B = 8 };
    task_batch b = alloc_batch(ti, B, 1);
    for (int sp = 0; sp < 2 && img && lab && timg && tlab; sp++) {
        task_split split = sp ? SPLIT_TEST : SPLIT_VAL;
        const uint8_t *src = sp ? timg + 16 : img + 16 + (size_t)55000 * 784, *slab = sp ? tlab + 8 : lab + 8 + 55000;
        t->vt->eval_batch(t, split, 0, &b);
        int bad_pix = 0, bad_pos = 0;
        for (int r = 0; r < B; r++) {
            CHECK(b.targets[r] == slab[r], "%s split %d row %d: label %d, want %d", view, sp, r, b.targets[r], slab[r]);
            uint8_t back[784];
            for (int tk = 0; tk < T; tk++) {
                int row = tk / G, col = tk % G;
                const int32_t *pp = b.pos + ((size_t)r * T + tk) * ti->pos_rank;
                if (pixels) bad_pos += pp[0] != tk;
                else bad_pos += pp[0] != row || pp[1] != col;
                bad_pos += b.valid[(size_t)r * T + tk] != 1;
                const float *x = b.inputs + ((size_t)r * T + tk) * ti->input_dim;
                for (int i = 0; i < P; i++)
                    for (int j = 0; j < P; j++) back[(row * P + i) * 28 + col * P + j] = (uint8_t)byte_of(x[i * P + j]);
            }
            bad_pix += memcmp(back, src + (size_t)r * 784, 784) != 0;
        }
        CHECK(bad_pix == 0, "%s %d split %d: %d of %d images do not reassemble exactly", view, patch, sp, bad_pix, B);
        CHECK(bad_pos == 0, "%s %d split %d: %d wrong positions / valid flags", view, patch, sp, bad_pos);
    }
    /* the first pixel of the first test image, normalised */
    if (timg) CHECK_CLOSE(b.inputs[0], (timg[16] / 255.0 - 0.2860) / 0.3530, 1e-5, 1e-6, "normalised pixel");
    free(img), free(lab), free(timg), free(tlab);
    free_batch(&b);
    task_close(t);
}

TEST(imgcls_patches4_view_round_trip) { check_view("patches", 4); }
TEST(imgcls_patches7_view_round_trip) { check_view("patches", 7); }
TEST(imgcls_pixels_view_round_trip) { check_view("pixels", 4); }

TEST(imgcls_cursor_round_trip) {
    char err[512];
    task *t = open_fm("patches", 7, 9, NULL, err, sizeof err);
    CHECK(t, "open: %s", err);
    if (!t) return;
    enum { B = 1000 };
    task_batch a = alloc_batch(&t->info, B, 1), b = alloc_batch(&t->info, B, 1);
    const size_t nin = (size_t)B * t->info.seq_len * t->info.input_dim;
    size_t cn = t->vt->cursor_size(t);
    void *cur = malloc(cn);
    for (int i = 0; i < 54; i++) t->vt->train_batch(t, &a); /* 54,000 of 55,000: the next two cross an epoch */
    t->vt->cursor_save(t, cur);
    float *first = malloc(2 * nin * sizeof(float));
    int32_t first_y[2 * B];
    for (int i = 0; i < 2; i++) {
        t->vt->train_batch(t, &a);
        memcpy(first + i * nin, a.inputs, nin * sizeof(float));
        memcpy(first_y + i * B, a.targets, B * sizeof(int32_t));
    }
    CHECK(t->vt->cursor_load(t, cur, cn) == 0, "cursor_load");
    for (int i = 0; i < 2; i++) {
        t->vt->train_batch(t, &b);
        CHECK(memcmp(b.inputs, first + i * nin, nin * sizeof(float)) == 0 &&
                  memcmp(b.targets, first_y + i * B, B * sizeof(int32_t)) == 0,
              "restored cursor, batch %d differs", i);
    }
    CHECK(t->vt->cursor_load(t, cur, cn - 1) == -1, "cursor of the wrong size accepted");
    /* a fresh task with the same seed restores the cursor too; another seed draws another order */
    task *u = open_fm("patches", 7, 9, NULL, err, sizeof err), *v = open_fm("patches", 7, 10, NULL, err, sizeof err);
    CHECK(u && v, "open: %s", err);
    if (u && v) {
        t->vt->cursor_load(u, cur, cn);
        u->vt->train_batch(u, &b);
        CHECK(memcmp(b.inputs, first, nin * sizeof(float)) == 0, "cursor restored in a fresh task differs");
        task_close(t), t = open_fm("patches", 7, 9, NULL, err, sizeof err);
        t->vt->train_batch(t, &a);
        v->vt->train_batch(v, &b);
        CHECK(memcmp(a.targets, b.targets, B * sizeof(int32_t)) != 0, "seeds 9 and 10 gave the same first batch");
    }
    task_close(u), task_close(v), task_close(t);
    free(cur), free(first);
    free_batch(&a), free_batch(&b);
}

TEST(imgcls_refuses_bad_params) {
    char err[512];
    task *t = open_fm("tiles", 4, 1, NULL, err, sizeof err);
    CHECK(!t && strstr(err, "task.view"), "bad view: %s", t ? "accepted" : err);
    t = open_fm("patches", 5, 1, NULL, err, sizeof err);
    CHECK(!t && strstr(err, "task.patch"), "bad patch: %s", t ? "accepted" : err);
    task_params p = {.kind = "imgcls", .dataset = "fashion-mnist", .view = "patches", .patch = 7, .seq_len = 49};
    CHECK(task_open(&t, &p, err, sizeof err) == -1 && strstr(err, "seq_len"), "seq_len mismatch: %s", err);
    p.dataset = "mnist";
    CHECK(task_open(&t, &p, err, sizeof err) == -1 && strstr(err, "imgcls/fashion-mnist"), "unknown dataset: %s", err);
}

/* Opens the task from data folder dir and checks it is refused with a message naming `file`,
 * containing `what` and the fix. */
static void expect_refusal(const char *dir, const char *file, const char *what) {
    char err[512] = "";
    task *t = open_fm("patches", 7, 1, dir, err, sizeof err);
    CHECK(!t, "%s: a %s copy was accepted", file, what);
    if (t) {
        task_close(t);
        return;
    }
    printf("    refused: %s\n", err);
    CHECK(strstr(err, file) && strstr(err, what) && strstr(err, "make data") && !strchr(err, '\n'),
          "%s (%s): message \"%s\"", file, what, err);
}

TEST(imgcls_refuses_truncated_or_corrupt_files) {
    char dir[256];
    if (test_tmpdir(dir, sizeof dir, "fmnist")) return;
    char path[4][300], src[300];
    for (int k = 0; k < 4; k++) snprintf(path[k], sizeof path[k], "%s/%s", dir, FM_NAMES[k]);
    /* the big image files are links to the real ones; the test labels are rewritten */
    for (int k = 0; k < 3; k++) {
        snprintf(src, sizeof src, "%s/%s", FM_DIR, FM_NAMES[k]);
        CHECK(symlink(src, path[k]) == 0, "symlink %s", path[k]);
    }
    size_t n;
    uint8_t *lab = raw_file(3, &n);
    if (!lab) goto done;
    char err[512];
    /* an intact copy opens from the temp folder (it takes precedence over /usr/share) */
    CHECK(gz_write(path[3], lab, n) == 0, "write");
    task *t = open_fm("patches", 7, 1, dir, err, sizeof err);
    CHECK(t, "intact copy refused: %s", err);
    task_close(t);
    /* truncated uncompressed content (a valid gzip of the first half) */
    gz_write(path[3], lab, n / 2);
    expect_refusal(dir, path[3], "truncated");
    /* truncated gzip stream (the first half of the compressed bytes) */
    snprintf(src, sizeof src, "%s/%s", FM_DIR, FM_NAMES[3]);
    FILE *in = fopen(src, "rb"), *out = fopen(path[3], "wb");
    CHECK(in && out, "copy");
    if (in && out) {
        char buf[2600];
        size_t got = fread(buf, 1, sizeof buf, in);
        fwrite(buf, 1, got, out);
    }
    if (in) fclose(in);
    if (out) fclose(out);
    expect_refusal(dir, path[3], "truncated");
    /* one label changed (still a valid class): only the checksum can tell */
    lab[8 + 1234] = (uint8_t)((lab[8 + 1234] + 1) % 10);
    gz_write(path[3], lab, n);
    expect_refusal(dir, path[3], "checksum");
    lab[8 + 1234] = (uint8_t)((lab[8 + 1234] + 9) % 10);
    /* wrong magic, wrong count */
    lab[3] = 0x03;
    gz_write(path[3], lab, n);
    expect_refusal(dir, path[3], "magic");
    lab[3] = 0x01, lab[7] = 0x11; /* 10,001 items */
    gz_write(path[3], lab, n);
    expect_refusal(dir, path[3], "dimensions");
    /* not there at all */
    unlink(path[3]);
    expect_refusal(dir, path[3], "not found");
    free(lab);
done:
    test_rmtree(dir);
}

/* A small encoder (d 64, 2 layers, 4 heads, softmax attention, learned absolute positions) on
 * 7x7 patches (16 tokens) trained with fixed seeds; it must exceed 70% accuracy on the full
 * 10,000-image test split (chance 10%; measured 78.35% after 600 steps, 18 s on 2 idle cores). Driven like harness/run/run.c: task batches -> model batches. */
TEST(learn_fmnist_patches) {
    enum { B = 64 };
    /* the sanitizer pass runs a tenth of the steps with a lower bar (see TEST_SANITIZED) */
    const int STEPS = TEST_SANITIZED ? 60 : 600;
    const double want = TEST_SANITIZED ? 0.30 : 0.70;
    char err[512];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    task *t = open_fm("patches", 7, 42, NULL, err, sizeof err);
    CHECK(t, "open: %s", err);
    if (!t) return;
    const task_info *ti = &t->info;
    model_config cfg = model_config_default();
    cfg.vocab = 0, cfg.input_dim = ti->input_dim, cfg.n_out = ti->n_out, cfg.causal = ti->causal;
    cfg.head = HEAD_CLS, cfg.max_batch = B, cfg.max_seq = ti->seq_len;
    cfg.pos_rank = ti->pos_rank, cfg.grid_h = ti->grid_h, cfg.grid_w = ti->grid_w;
    cfg.layers = 2, cfg.d_model = 64, cfg.heads = 4, cfg.attention = "softmax", cfg.absolute = "learned";
    cfg.encoding = "none", cfg.seed = 42;
    model *m;
    CHECK(model_create(&m, &cfg, err, sizeof err) == 0, "model_create: %s", err);
    if (test_failures()) {
        task_close(t);
        return;
    }
    model_init(m, 42);
    trainer tr;
    adamw_config adam = adamw_defaults();
    CHECK(trainer_init(&tr, m, &adam) == 0, "trainer_init");
    lr_schedule sched = {.lr = 3e-3f, .min_lr = 3e-4f, .warmup = 30, .total = STEPS, .shape = LR_COSINE};
    task_batch tb = alloc_batch(ti, B, 1);
    model_batch mb = {.B = B, .T = ti->seq_len, .inputs = tb.inputs, .targets = tb.targets, .pos = tb.pos};
    double loss = 0;
    for (int s = 0; s < STEPS; s++) {
        t->vt->train_batch(t, &tb);
        double l = test_train_step(&tr, &mb, lr_at(&sched, s), 1.0f, NULL);
        loss = s < 50 ? l : 0.95 * loss + 0.05 * l;
    }
    long correct = 0, total = 0;
    const int nb = t->vt->eval_count(t, SPLIT_TEST, B);
    for (int i = 0; i < nb; i++) {
        t->vt->eval_batch(t, SPLIT_TEST, i, &tb);
        test_forward(m, &mb);
        const float *lg = model_logits(m);
        for (int r = 0; r < B; r++) {
            if (tb.targets[r] < 0) continue;
            int best = 0;
            for (int k = 1; k < 10; k++) best = lg[r * 10 + k] > lg[r * 10 + best] ? k : best;
            correct += best == tb.targets[r], total++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double acc = (double)correct / (double)total, secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("    fashion-mnist patches 7: %d steps of %d, train loss %.3f, test accuracy %.4f (%ld images), %.1f s\n",
           STEPS, B, loss, acc, total, secs);
    CHECK(total == 10000, "evaluated %ld test images", total);
    CHECK(acc > want, "test accuracy %.4f, want > %.2f", acc, want);
    free_batch(&tb);
    trainer_free(&tr);
    model_destroy(m);
    task_close(t);
}
