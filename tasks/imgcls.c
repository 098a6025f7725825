/* Image classification: Fashion-MNIST (`imgcls` / `fashion-mnist`), 28x28 grey images, 10 classes.
 *
 * Data: the four gzipped IDX files of the Debian package dataset-fashion-mnist, read with zlib.
 * They are looked for in <data_dir>/fashion-mnist/, then <data_dir>/ (the first folder holding
 * train-images-idx3-ubyte.gz wins, so a test can point at a copy), then the package's folder
 * /usr/share/datasets/fashion-mnist/. Each file must have the exact uncompressed size, the IDX
 * magic (0x803 images, 0x801 labels), 28x28 images, 60,000 / 10,000 items and the SHA-256 of its
 * UNZIPPED bytes (tests/test_imgcls.c checks that these bytes have the checksums the spec gives);
 * anything else is refused with a one-line reason and the fix.
 *
 * Splits: train = the first 55,000 training images, val = the last 5,000, test = the 10,000 t10k.
 * Pixels are scaled to [0, 1] and normalised with the training set's mean and std:
 * x = (v / 255 - 0.2860) / 0.3530 (FMNIST_MEAN / FMNIST_STD; the tests recompute them).
 *
 * Views: `patches` (patch side P = 4 or 7): a (28/P) x (28/P) grid of tokens in row-major order,
 * token (r, c) holds the P x P pixels of rows r*P.., columns c*P.. in row-major order (P*P floats),
 * positions (row, col), pos_rank 2. `pixels`: 784 tokens of one float in raster order, 1-D
 * positions t (pos_rank 1; written only when the batch has a pos buffer).
 *
 * Training batches walk a shuffled order of the train split, reshuffled every epoch by one RNG
 * stream; the cursor (epoch, position, the RNG state the current epoch's order was drawn from)
 * regenerates that order exactly. Evaluation batches cover a whole split in order; rows past its
 * end get target -1 (and zero inputs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "datafile.h"
#include "rng.h"
#include "sha256.h"
#include "task_internal.h"
#include "task_parse.h"

#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f
#define FMNIST_SYSDIR "/usr/share/datasets/fashion-mnist"
#define FMNIST_FIX DATA_FIX " (it installs the Debian package dataset-fashion-mnist)"

enum { SIDE = 28, PIXELS = SIDE * SIDE, N_TRAIN_ALL = 60000, N_TEST = 10000, N_VAL = 5000,
       N_TRAIN = N_TRAIN_ALL - N_VAL, N_CLASSES = 10 };

/* The four files: name, IDX magic, item count, SHA-256 of the uncompressed bytes. */
const imgcls_idx IMGCLS_FILES[4] = {
    {"train-images-idx3-ubyte.gz", 0x803, N_TRAIN_ALL, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
    {"train-labels-idx1-ubyte.gz", 0x801, N_TRAIN_ALL, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
    {"t10k-images-idx3-ubyte.gz", 0x803, N_TEST, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
    {"t10k-labels-idx1-ubyte.gz", 0x801, N_TEST, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
};

/* The saved data cursor. */
typedef struct fm_cursor {
    uint64_t epoch, pos; /* epochs finished; examples of this epoch handed out */
    rng epoch_rng;       /* the shuffle stream's state before this epoch's order was drawn */
} fm_cursor;

typedef struct imgcls {
    struct task base;
    int pixels;          /* 1: pixel view; 0: patches */
    int P, G, T, D;      /* patch side, grid side, tokens, floats per token */
    uint8_t *file[4];    /* the uncompressed files, headers included (FILES order) */
    const uint8_t *img[2], *lab[2]; /* [0] train (60,000), [1] test: pixels / labels past the headers */
    float lut[256];      /* byte -> normalised value */
    fm_cursor cur;
    rng shuffle;         /* the shuffle stream, positioned after the current epoch's order */
    uint32_t order[N_TRAIN];
    char data_id[512];
} imgcls;

/* 1 if path names an existing regular file. */
static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Picks the folder holding the files (see the header comment) into dir. */
static void find_dir(const task_params *p, char *dir, size_t n) {
    char probe[1200];
    if (p->data_dir && *p->data_dir) {
        const char *sub[2] = {"/fashion-mnist", ""};
        for (int i = 0; i < 2; i++) {
            snprintf(probe, sizeof probe, "%s%s/%s", p->data_dir, sub[i], IMGCLS_FILES[0].name);
            if (file_exists(probe)) {
                snprintf(dir, n, "%s%s", p->data_dir, sub[i]);
                return;
            }
        }
    }
    snprintf(dir, n, "%s", FMNIST_SYSDIR);
}

/* Big-endian 32-bit word at p. */
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Reads and checks the IDX file at path against f (see task_parse.h). */
int imgcls_read_idx(const char *path, const imgcls_idx *f, uint8_t **out, char *err, size_t errlen) {
    const int images = f->magic == 0x803;
    const size_t head = images ? 16 : 8, want = head + (size_t)f->n * (images ? PIXELS : 1);
    *out = NULL;
    if (!file_exists(path)) return errf(err, errlen, "imgcls: %s not found; %s", path, FMNIST_FIX);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return errf(err, errlen, "imgcls: cannot open %s; %s", path, FMNIST_FIX);
    uint8_t *buf = malloc(want + 1);
    if (!buf) {
        gzclose(gz);
        return errf(err, errlen, "imgcls: out of memory reading %s", path);
    }
    size_t got = 0;
    int zerr = Z_OK;
    while (got < want + 1) { /* one byte more than expected, to notice a file that is too long */
        size_t chunk = want + 1 - got > (1u << 24) ? (1u << 24) : want + 1 - got;
        int r = gzread(gz, buf + got, (unsigned)chunk);
        if (r < 0) {
            gzerror(gz, &zerr);
            break;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (zerr == Z_OK) gzerror(gz, &zerr);
    gzclose(gz);
    const char *why = NULL;
    char detail[224] = "";
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        why = "is corrupt or truncated (gzip error)";
    } else if (got != want) {
        why = got < want ? "is truncated" : "is too long";
        snprintf(detail, sizeof detail, " (%zu uncompressed bytes, want %zu)", got, want);
    } else if (be32(buf) != f->magic) {
        why = "has a wrong IDX magic number";
        snprintf(detail, sizeof detail, " (0x%x, want 0x%x)", be32(buf), f->magic);
    } else if (be32(buf + 4) != (uint32_t)f->n || (images && (be32(buf + 8) != SIDE || be32(buf + 12) != SIDE))) {
        why = "has wrong dimensions";
        snprintf(detail, sizeof detail, " (want %d items%s)", f->n, images ? " of 28x28" : "");
    } else if (f->sha256) {
        char hex[65];
        sha256_hex(buf, want, hex, 64);
        if (strcmp(hex, f->sha256) != 0) {
            why = "fails its checksum";
            snprintf(detail, sizeof detail, " (sha256 of the unzipped data %s, want %.64s)", hex, f->sha256);
        }
    }
    if (!why && !images)
        for (int i = 0; i < f->n && !why; i++)
            if (buf[head + (size_t)i] >= N_CLASSES) why = "has a label out of range";
    if (why) {
        free(buf);
        return errf(err, errlen, "imgcls: %s %s%s; %s", path, why, detail, FMNIST_FIX);
    }
    *out = buf;
    return 0;
}

/* Reads and checks IMGCLS_FILES[k] from dir into *out (malloc'd); 0, or -1 with a one-line reason. */
static int load_file(const char *dir, int k, uint8_t **out, char *err, size_t errlen) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, IMGCLS_FILES[k].name);
    return imgcls_read_idx(path, &IMGCLS_FILES[k], out, err, errlen);
}

/* Draws this epoch's order of the train split from the shuffle stream (Fisher-Yates). */
static void draw_order(imgcls *s) {
    s->cur.epoch_rng = s->shuffle;
    for (uint32_t i = 0; i < N_TRAIN; i++) s->order[i] = i;
    for (uint32_t i = N_TRAIN - 1; i > 0; i--) {
        uint32_t j = rng_below(&s->shuffle, i + 1), t = s->order[i];
        s->order[i] = s->order[j];
        s->order[j] = t;
    }
}

static void fm_close(task *t);

/* Opens imgcls/fashion-mnist with view and patch from p. */
static int fm_open(task **out, const task_params *p, char *err, size_t errlen) {
    const char *view = p->view && *p->view ? p->view : "patches";
    int pixels = strcmp(view, "pixels") == 0;
    if (!pixels && strcmp(view, "patches") != 0)
        return errf(err, errlen, "imgcls: task.view must be patches or pixels (got %s)", view);
    if (!pixels && p->patch != 4 && p->patch != 7)
        return errf(err, errlen, "imgcls: task.patch must be 4 or 7 (got %d)", p->patch);
    imgcls *s = calloc(1, sizeof *s);
    if (!s) return errf(err, errlen, "imgcls: out of memory");
    s->pixels = pixels;
    s->P = pixels ? 1 : p->patch;
    s->G = SIDE / s->P;
    s->T = pixels ? PIXELS : s->G * s->G;
    s->D = s->P * s->P;
    char dir[1100];
    find_dir(p, dir, sizeof dir);
    for (int k = 0; k < 4; k++)
        if (load_file(dir, k, &s->file[k], err, errlen)) {
            fm_close(&s->base);
            return -1;
        }
    s->img[0] = s->file[0] + 16, s->lab[0] = s->file[1] + 8;
    s->img[1] = s->file[2] + 16, s->lab[1] = s->file[3] + 8;
    for (int v = 0; v < 256; v++) s->lut[v] = ((float)v / 255.0f - FMNIST_MEAN) / FMNIST_STD;
    rng_seed(&s->shuffle, p->seed, rng_stream_id("imgcls.train"));
    draw_order(s);
    char vname[32];
    if (pixels) snprintf(vname, sizeof vname, "pixels");
    else snprintf(vname, sizeof vname, "patches %d", s->P);
    snprintf(s->data_id, sizeof s->data_id,
             "fashion-mnist %s (sha256 unzipped: train-images %s, train-labels %s, t10k-images %s, t10k-labels %s)",
             vname, IMGCLS_FILES[0].sha256, IMGCLS_FILES[1].sha256, IMGCLS_FILES[2].sha256, IMGCLS_FILES[3].sha256);
    s->base.info = (task_info){.vocab = 0, .input_dim = s->D, .n_out = N_CLASSES, .seq_len = s->T, .causal = 0,
                               .output = TASK_CLS, .pos_rank = pixels ? 1 : 2, .grid_h = pixels ? 0 : s->G,
                               .grid_w = pixels ? 0 : s->G, .bytes_per_token = 0.0, .data_id = s->data_id};
    *out = &s->base;
    return 0;
}

/* Frees the task and its data. */
static void fm_close(task *t) {
    imgcls *s = (imgcls *)t;
    for (int k = 0; k < 4; k++) free(s->file[k]);
    free(s);
}

/* Writes batch row `row`: image `img` (NULL: a padding row, zero inputs) with label `label`. */
static void fill_row(const imgcls *s, task_batch *b, int row, const uint8_t *img, int label) {
    const int T = s->T, D = s->D, P = s->P, G = s->G;
    float *x = b->inputs + (size_t)row * T * D;
    for (int t = 0; t < T; t++) {
        int r = t / G, c = t % G;
        float *xt = x + (size_t)t * D;
        for (int i = 0; i < P; i++)
            for (int j = 0; j < P; j++)
                xt[i * P + j] = img ? s->lut[img[(r * P + i) * SIDE + c * P + j]] : 0.0f;
        if (b->pos) {
            if (s->pixels) b->pos[(size_t)row * T + t] = t;
            else b->pos[((size_t)row * T + t) * 2] = r, b->pos[((size_t)row * T + t) * 2 + 1] = c;
        }
        if (b->tokens) b->tokens[(size_t)row * T + t] = 0;
        if (b->valid) b->valid[(size_t)row * T + t] = 1;
    }
    b->targets[row] = label;
}

/* The next B training examples of the shuffled order (a new order at each epoch's end). */
static void fm_train_batch(task *t, task_batch *b) {
    imgcls *s = (imgcls *)t;
    for (int row = 0; row < b->B; row++) {
        if (s->cur.pos >= N_TRAIN) {
            s->cur.epoch++;
            s->cur.pos = 0;
            draw_order(s);
        }
        uint32_t j = s->order[s->cur.pos++];
        fill_row(s, b, row, s->img[0] + (size_t)j * PIXELS, s->lab[0][j]);
    }
}

/* Examples in an evaluation split. */
static int split_size(task_split split) { return split == SPLIT_VAL ? N_VAL : split == SPLIT_TEST ? N_TEST : N_TRAIN; }

/* ceil(split size / B): the whole split. */
static int fm_eval_count(const task *t, task_split split, int B) { return (split_size(split) + B - 1) / B; }

/* Batch i of a split, in order (val: training images 55,000..59,999; test: t10k). */
static void fm_eval_batch(task *t, task_split split, int i, task_batch *b) {
    imgcls *s = (imgcls *)t;
    const int n = split_size(split), base = split == SPLIT_VAL ? N_TRAIN : 0, src = split == SPLIT_TEST;
    for (int row = 0; row < b->B; row++) {
        long j = (long)i * b->B + row;
        if (j >= n) fill_row(s, b, row, NULL, -1);
        else fill_row(s, b, row, s->img[src] + (size_t)(base + j) * PIXELS, s->lab[src][base + j]);
    }
}

/* The cursor is an fm_cursor. */
static size_t fm_cursor_size(const task *t) { return sizeof(fm_cursor); }

/* Saves epoch, position and the epoch's shuffle state. */
static void fm_cursor_save(const task *t, void *buf) { memcpy(buf, &((const imgcls *)t)->cur, sizeof(fm_cursor)); }

/* Restores a saved cursor and redraws that epoch's order from its RNG state. */
static int fm_cursor_load(task *t, const void *buf, size_t n) {
    imgcls *s = (imgcls *)t;
    fm_cursor c;
    if (n != sizeof c) return -1;
    memcpy(&c, buf, sizeof c);
    if (c.pos > N_TRAIN) return -1;
    s->shuffle = c.epoch_rng;
    draw_order(s);
    s->cur = c;
    return 0;
}

/* Tokens per image: 784 pixels, or (28 / patch)^2 patches; 0 for a view or patch fm_open refuses. */
static int fm_seq_len(const task_params *p) {
    const char *view = p->view && *p->view ? p->view : "patches";
    if (strcmp(view, "pixels") == 0) return PIXELS;
    return strcmp(view, "patches") == 0 && (p->patch == 4 || p->patch == 7) ? (SIDE / p->patch) * (SIDE / p->patch) : 0;
}

static const task_dataset DATASETS[] = {{"fashion-mnist", 0}, {NULL, 0}};
static const task_metric METRICS[] = TASK_CLS_METRICS;

const task_vtable task_imgcls_vt = {
    .kind = "imgcls",
    .causal = 0,
    .datasets = DATASETS,
    .seq_min = 1,
    .seq_max = PIXELS,
    .forced_seq_len = fm_seq_len,
    .metrics = METRICS,
    .curve = TASK_CLS_CURVE,
    .open = fm_open,
    .close = fm_close,
    .train_batch = fm_train_batch,
    .eval_count = fm_eval_count,
    .eval_batch = fm_eval_batch,
    .cursor_size = fm_cursor_size,
    .cursor_save = fm_cursor_save,
    .cursor_load = fm_cursor_load,
};
