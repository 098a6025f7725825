/* Byte-level text classification (`textcls`), one class per example, bidirectional encoder:
 *  wordnet: WordNet 3.0 gloss -> lexicographer file (lex_filenum, 45 classes), from
 *           data/wordnet/data.{noun,verb,adj,adv} (licence header lines, which start with two spaces,
 *           skipped; text = everything after "| ", trailing blanks trimmed);
 *  spam:    SpamAssassin message body (after the first blank line: the headers can give the label
 *           away) -> ham 0 / spam 1, from data/spam/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}/
 *           *.txt, files in name order within a folder.
 * Examples are numbered over the concatenation in that order; example i is train when i % 10 is
 * 0..7, val when 8, test when 9. Tokens are the first seq_len bytes (vocab 256, no id reserved):
 * shorter texts are padded with valid = 0 (an empty text keeps one real token, a newline, so no row
 * is all padding);
 *  listops: ListOps expressions generated from task.listops.* (listops.h), tokens 1..15 (vocab 16,
 *           0 padding), lengths from task.listops.min_len (0: a quarter of seq_len) to seq_len,
 *           the splits of the given sizes (train, validation, test in example order).
 * Training draws the train examples in a seeded shuffled order, reshuffled every epoch; the data
 * cursor is (epoch, position). Evaluation covers a split in example order. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datafile.h"
#include "fs.h"
#include "listops.h"
#include "rng.h"
#include "sha256.h"
#include "task_internal.h"
#include "task_parse.h"

enum { WORDNET_CLASSES = 45 };

typedef struct text_ex {
    const char *text; /* into one of the owned buffers */
    int len;          /* bytes, already capped at seq_len */
    int label;
} text_ex;

typedef struct textcls {
    struct task base;
    char *bufs[8];    /* owned file contents / copied bodies */
    int nbufs;
    text_ex *ex;
    int n, cap;
    int *split_idx[3], split_n[3];
    int *perm;        /* train order of the current epoch */
    uint64_t seed, epoch, pos; /* the data cursor: epoch and position in its order */
    int T, K, vocab;
    int sizes[3];     /* train, val, test examples in that order; 0: the i % 10 rule */
    char data_id[1024];
} textcls;

/* Appends an example; 0 or -1 when out of memory. */
static int add_example(textcls *s, const char *text, int len, int label) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 4096;
        text_ex *e = realloc(s->ex, (size_t)cap * sizeof *e);
        if (!e) return -1;
        s->ex = e, s->cap = cap;
    }
    s->ex[s->n++] = (text_ex){text, len < s->T ? len : s->T, label};
    return 0;
}

/* textcls_add_fn over a textcls: appends the example. */
static int add_to_task(void *ctx, const char *text, int len, int label) { return add_example(ctx, text, len, label); }

/* Parses one WordNet data file held in buf (see task_parse.h). */
int textcls_parse_wordnet(const char *path, const char *buf, size_t n, textcls_add_fn add, void *ctx, char *err,
                          size_t errlen) {
    const char *line = buf, *end = buf + n;
    long lineno = 0;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) nl = end;
        lineno++;
        if (!(line[0] == ' ' && line + 1 < nl && line[1] == ' ') && nl > line) {
            const char *sp = memchr(line, ' ', (size_t)(nl - line)), *bar = NULL;
            for (const char *q = line; q + 1 < nl; q++)
                if (q[0] == '|' && q[1] == ' ') { bar = q; break; }
            int lex = -1;
            if (sp && sp + 3 < nl && sp[1] >= '0' && sp[1] <= '9' && sp[2] >= '0' && sp[2] <= '9' && sp[3] == ' ')
                lex = (sp[1] - '0') * 10 + (sp[2] - '0');
            if (lex < 0 || lex >= WORDNET_CLASSES || !bar)
                return errf(err, errlen, "%s line %ld: not a synset line (offset lex_filenum ... | gloss): " DATA_FIX,
                                path, lineno);
            const char *text = bar + 2, *stop = nl;
            while (stop > text && (stop[-1] == ' ' || stop[-1] == '\r')) stop--;
            if (add(ctx, text, (int)(stop - text), lex)) return errf(err, errlen, "textcls: out of memory");
        }
        line = nl + 1;
    }
    return 0;
}

/* Loads the four WordNet files; 0 or -1 with err. */
static int load_wordnet(textcls *s, const char *dir, char *err, size_t errlen) {
    static const char *const POS[] = {"noun", "verb", "adj", "adv"};
    int at = snprintf(s->data_id, sizeof s->data_id, "wordnet 3.0");
    for (int i = 0; i < 4; i++) {
        char name[64], path[1100], hex[65];
        size_t n;
        snprintf(name, sizeof name, "wordnet/data.%s", POS[i]);
        if (data_load_verified(dir, name, &s->bufs[s->nbufs], &n, hex, err, errlen)) return -1;
        char *buf = s->bufs[s->nbufs++];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (textcls_parse_wordnet(path, buf, n, add_to_task, s, err, errlen)) return -1;
        at += snprintf(s->data_id + at, sizeof s->data_id - (size_t)at, " data.%s sha256 %s", POS[i], hex);
    }
    s->K = WORDNET_CLASSES;
    return 0;
}

/* The body of a mail message (see task_parse.h). memmem, not strstr: a NUL byte in the headers
 * must not hide the blank line after it. */
const char *textcls_mail_body(const char *text, size_t n, size_t *len) {
    const char *b = memmem(text, n, "\n\n", 2), *b2 = memmem(text, n, "\r\n\r\n", 4);
    const char *start = b && (!b2 || b < b2) ? b + 2 : b2 ? b2 + 4 : text + n;
    *len = (size_t)(text + n - start);
    return start;
}

/* qsort order of file names (byte order, like the C-locale glob of prepare-data.sh) */
static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Loads one SpamAssassin folder (its .txt files in name order, checked against the SHA-256 of their
 * concatenation), appending bodies capped at T bytes to body[*used]; 0 or -1 with err. */
static int load_spam_folder(textcls *s, const char *dir, const char *folder, int label, char *body, size_t *used,
                            size_t cap, char *err, size_t errlen) {
    char path[1100], name[128];
    snprintf(name, sizeof name, "spam/%s/*.txt", folder);
    snprintf(path, sizeof path, "%s/spam/%s", dir, folder);
    DIR *d = opendir(path);
    if (!d) return errf(err, errlen, "%s/ is missing: " DATA_FIX, path);
    char **names = NULL;
    int nn = 0, ncap = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".txt") != 0) continue;
        if (nn == ncap) {
            ncap = ncap ? 2 * ncap : 1024;
            char **nnames = realloc(names, (size_t)ncap * sizeof *names);
            if (!nnames) { rc = -1; break; }
            names = nnames;
        }
        if (!(names[nn] = strdup(de->d_name))) { rc = -1; break; }
        nn++;
    }
    closedir(d);
    if (rc) {
        for (int i = 0; i < nn; i++) free(names[i]);
        free(names);
        return errf(err, errlen, "textcls: out of memory");
    }
    qsort(names, (size_t)nn, sizeof *names, by_name);
    sha256_ctx m;
    sha256_init(&m);
    for (int i = 0; i < nn && !rc; i++) {
        char file[1400], *text;
        size_t n;
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        char why[1600];
        if (fs_read_file(file, DATA_MAX_BYTES, &text, &n, why, sizeof why)) {
            rc = errf(err, errlen, "%s: " DATA_FIX, why);
            break;
        }
        sha256_update(&m, text, n);
        size_t len;
        const char *start = textcls_mail_body(text, n, &len);
        if (len > (size_t)s->T) len = (size_t)s->T;
        if (*used + len > cap) rc = errf(err, errlen, "textcls: out of memory");
        else {
            memcpy(body + *used, start, len);
            if (add_example(s, body + *used, (int)len, label)) rc = errf(err, errlen, "textcls: out of memory");
            *used += len;
        }
        free(text);
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (rc) return -1;
    char hex[65];
    sha256_final_hex(&m, hex);
    const char *want = data_expected_sha256(name);
    if (!want || strcmp(hex, want) != 0)
        return errf(err, errlen, "%s/ is truncated or corrupt (%d files, sha256 of their concatenation %s, want %s): " DATA_FIX,
                        path, nn, hex, want ? want : "?");
    size_t at = strlen(s->data_id);
    snprintf(s->data_id + at, sizeof s->data_id - at, " %s sha256 %s", folder, hex);
    return 0;
}

/* Loads the five SpamAssassin folders; 0 or -1 with err. */
static int load_spam(textcls *s, const char *dir, char *err, size_t errlen) {
    static const char *const FOLDERS[] = {"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"};
    const size_t cap = (size_t)8000 * (size_t)s->T; /* 6,046 messages */
    char *body = malloc(cap ? cap : 1);
    if (!body) return errf(err, errlen, "textcls: out of memory");
    s->bufs[s->nbufs++] = body;
    snprintf(s->data_id, sizeof s->data_id, "spamassassin (bodies, first %d bytes)", s->T);
    size_t used = 0;
    for (int f = 0; f < 5; f++)
        if (load_spam_folder(s, dir, FOLDERS[f], f >= 3, body, &used, cap, err, errlen)) return -1;
    s->K = 2;
    return 0;
}

/* Generates the ListOps splits of p (their SHA-256 in the data id); 0 or -1 with err. */
static int load_listops(textcls *s, const task_params *p, char *err, size_t errlen) {
    const listops_params lp = listops_params_of(p);
    listops_data d;
    if (listops_generate(&lp, &d, err, errlen)) return -1;
    s->bufs[s->nbufs++] = (char *)d.tokens, d.tokens = NULL;
    for (int i = 0; i < d.n; i++)
        if (add_example(s, s->bufs[s->nbufs - 1] + d.start[i], d.len[i], d.label[i])) {
            listops_free(&d);
            return errf(err, errlen, "textcls: out of memory");
        }
    snprintf(s->data_id, sizeof s->data_id,
             "listops (LRA recipe: depth %d, arity %d, %d-%d tokens, %d/%d/%d examples, data seed %llu) sha256 %s",
             lp.depth, lp.arity, listops_shortest(&lp), lp.max_len, lp.n[0], lp.n[1], lp.n[2], (unsigned long long)lp.seed,
             d.sha256);
    listops_free(&d);
    for (int k = 0; k < 3; k++) s->sizes[k] = lp.n[k];
    s->K = 10, s->vocab = LISTOPS_VOCAB;
    return 0;
}

/* Draws the train order of the current epoch. */
static void shuffle_epoch(textcls *s) {
    const int n = s->split_n[SPLIT_TRAIN];
    rng r;
    rng_seed(&r, s->seed, rng_stream_id("textcls.train") + s->epoch);
    for (int i = 0; i < n; i++) s->perm[i] = s->split_idx[SPLIT_TRAIN][i];
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)i + 1), t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
}

/* Frees the task. */
static void tc_close(task *t) {
    textcls *s = (textcls *)t;
    if (!s) return;
    for (int i = 0; i < s->nbufs; i++) free(s->bufs[i]);
    for (int k = 0; k < 3; k++) free(s->split_idx[k]);
    free(s->ex), free(s->perm), free(s);
}

/* Loads the dataset, splits it and draws the first epoch's order. */
static int tc_open(task **out, const task_params *p, char *err, size_t errlen) {
    const int T = p->seq_len;
    textcls *s = calloc(1, sizeof *s);
    if (!s) return errf(err, errlen, "textcls: out of memory");
    s->T = T, s->seed = p->seed, s->vocab = 256;
    const char *dir = p->data_dir && *p->data_dir ? p->data_dir : "data";
    int rc = strcmp(p->dataset, "listops") == 0 ? load_listops(s, p, err, errlen)
             : strcmp(p->dataset, "spam") == 0  ? load_spam(s, dir, err, errlen)
                                                : load_wordnet(s, dir, err, errlen);
    if (rc) {
        tc_close(&s->base);
        return -1;
    }
    for (int k = 0; k < 3; k++) s->split_idx[k] = malloc(((size_t)s->n + 1) * sizeof(int));
    s->perm = malloc(((size_t)s->n + 1) * sizeof(int));
    if (!s->split_idx[0] || !s->split_idx[1] || !s->split_idx[2] || !s->perm) {
        tc_close(&s->base);
        return errf(err, errlen, "textcls: out of memory");
    }
    for (int i = 0; i < s->n; i++) {
        int k = s->sizes[0] ? (i < s->sizes[0] ? SPLIT_TRAIN : i < s->sizes[0] + s->sizes[1] ? SPLIT_VAL : SPLIT_TEST)
                : i % 10 < 8 ? SPLIT_TRAIN : i % 10 == 8 ? SPLIT_VAL : SPLIT_TEST;
        s->split_idx[k][s->split_n[k]++] = i;
    }
    shuffle_epoch(s);
    s->base.info = (task_info){.vocab = s->vocab, .n_out = s->K, .seq_len = T, .causal = 0, .output = TASK_CLS,
                               .pos_rank = 1, .bytes_per_token = 0.0, .data_id = s->data_id};
    *out = &s->base;
    return 0;
}

/* Writes example e (or, when NULL, an ignored filler row) into row `row` of the batch. */
static void fill_row(const textcls *s, const text_ex *e, task_batch *b, int row) {
    const int T = s->T, len = e ? e->len : 0;
    int32_t *x = b->tokens + (size_t)row * T;
    uint8_t *v = b->valid ? b->valid + (size_t)row * T : NULL;
    for (int t = 0; t < T; t++) {
        x[t] = t < len ? (unsigned char)e->text[t] : 0;
        if (v) v[t] = t < len;
    }
    if (len == 0) { /* keep one real token so no row is all padding */
        x[0] = '\n';
        if (v) v[0] = 1;
    }
    b->targets[row] = e ? e->label : -1;
}

/* The next B train examples in the epoch's shuffled order. */
static void tc_train_batch(task *t, task_batch *b) {
    textcls *s = (textcls *)t;
    for (int row = 0; row < b->B; row++) {
        if (s->pos >= (uint64_t)s->split_n[SPLIT_TRAIN]) {
            s->epoch++, s->pos = 0;
            shuffle_epoch(s);
        }
        fill_row(s, &s->ex[s->perm[s->pos++]], b, row);
    }
}

/* The whole split, B at a time. */
static int tc_eval_count(const task *t, task_split split, int B) {
    return (((const textcls *)t)->split_n[split] + B - 1) / B;
}

/* Evaluation batch i: examples iB .. iB + B - 1 of the split in order (filler rows past the end). */
static void tc_eval_batch(task *t, task_split split, int i, task_batch *b) {
    textcls *s = (textcls *)t;
    for (int row = 0; row < b->B; row++) {
        int j = i * b->B + row;
        fill_row(s, j < s->split_n[split] ? &s->ex[s->split_idx[split][j]] : NULL, b, row);
    }
}

/* The cursor: epoch and position (the order is redrawn from the seed and the epoch). */
static size_t tc_cursor_size(const task *t) { return 2 * sizeof(uint64_t); }
static void tc_cursor_save(const task *t, void *buf) {
    const textcls *s = (const textcls *)t;
    uint64_t c[2] = {s->epoch, s->pos};
    memcpy(buf, c, sizeof c);
}
static int tc_cursor_load(task *t, const void *buf, size_t n) {
    textcls *s = (textcls *)t;
    uint64_t c[2];
    if (n != sizeof c) return -1;
    memcpy(c, buf, sizeof c);
    if (c[1] > (uint64_t)s->split_n[SPLIT_TRAIN]) return -1;
    s->epoch = c[0], s->pos = c[1];
    shuffle_epoch(s);
    return 0;
}

static const task_dataset DATASETS[] = {{"wordnet", 128}, {"spam", 1024}, {"listops", 2000}, {NULL, 0}};
static const task_metric METRICS[] = TASK_CLS_METRICS;

const task_vtable task_textcls_vt = {
    .kind = "textcls",
    .causal = 0,
    .datasets = DATASETS,
    .seq_min = 1,
    .seq_max = 65536,
    .metrics = METRICS,
    .curve = TASK_CLS_CURVE,
    .open = tc_open,
    .close = tc_close,
    .train_batch = tc_train_batch,
    .eval_count = tc_eval_count,
    .eval_batch = tc_eval_batch,
    .cursor_size = tc_cursor_size,
    .cursor_save = tc_cursor_save,
    .cursor_load = tc_cursor_load,
};
