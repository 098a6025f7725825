/* Fuzz target: the lm task on an arbitrary text file (dataset "file"). The first input byte picks
 * seq_len (2..65) and the batch size (1..4); the rest is the file. Opens the task, draws train
 * batches, evaluation batches of every split (first, middle, last), saves and restores the data
 * cursor (and refuses a wrong-sized one), and closes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "task.h"

/* Draws eval batches first, middle and last of a split (and checks the tokens are bytes). */
static void eval_split(task *t, task_split split, task_batch *b) {
    int n = t->vt->eval_count(t, split, b->B);
    if (n < 1) abort(); /* every split has at least one window */
    const int which[3] = {0, n / 2, n - 1};
    for (int k = 0; k < 3; k++) {
        t->vt->eval_batch(t, split, which[k], b);
        for (int i = 0; i < b->B * b->T; i++)
            if (b->tokens[i] < 0 || b->tokens[i] > 255 || b->targets[i] < -1 || b->targets[i] > 255) abort();
    }
}

/* One input: see the header comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int T = 2 + data[0] % 64, B = 1 + (data[0] >> 6);
    const char *path = fuzz_tmp_path(0, "text.txt");
    fuzz_write_file(path, data + 1, size - 1);
    task_params p = {.kind = "lm", .dataset = "file", .path = path, .seq_len = T, .seed = data[0]};
    task *t;
    char err[1200];
    if (task_open(&t, &p, err, sizeof err)) return 0;
    if (t->info.seq_len != T || t->info.vocab != 256) abort();
    const size_t cells = (size_t)B * (size_t)T;
    int32_t *tokens = malloc(cells * sizeof *tokens), *targets = malloc(cells * sizeof *targets);
    uint8_t *valid = malloc(cells);
    size_t cur_n = t->vt->cursor_size(t);
    unsigned char *cursor = malloc(cur_n + 1);
    if (!tokens || !targets || !valid || !cursor) abort();
    task_batch b = {.B = B, .T = T, .tokens = tokens, .targets = targets, .valid = valid};
    t->vt->cursor_save(t, cursor);
    t->vt->train_batch(t, &b);
    int32_t first = tokens[0];
    t->vt->train_batch(t, &b);
    if (t->vt->cursor_load(t, cursor, cur_n) != 0) abort();
    t->vt->train_batch(t, &b); /* the restored cursor repeats the first batch */
    if (tokens[0] != first) abort();
    if (t->vt->cursor_load(t, cursor, cur_n + 1) == 0) abort();
    for (int split = SPLIT_TRAIN; split <= SPLIT_TEST; split++) eval_split(t, (task_split)split, &b);
    free(tokens), free(targets), free(valid), free(cursor);
    task_close(t);
    return 0;
}
