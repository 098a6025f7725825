/* Fuzz target: checkpoint verification (ckpt_load_file) of a small fixed model: parameters w [2, 3]
 * and b [3], their AdamW moments, one RNG ("train") and a data cursor of up to 16 bytes. The input
 * is written to a file in the process's temporary folder and loaded.
 *
 * A checksum of the written form ("sha256:" and 64 hex digits) is first set to the one the file's
 * contents have (ckpt_checksum), so a mutated file gets past the checksum to the checks
 * behind it; a checksum of any other form is left as it is (and refused).
 *
 * The seed corpus holds real checkpoints of this model, written by ckpt_save. To regenerate them
 * (e.g. after a format change):
 *   rm fuzz/corpus/checkpoint/valid-* && LRPE_FUZZ_WRITE_SEEDS=fuzz/corpus/checkpoint build/fuzz/fuzz_checkpoint
 * writes valid-*.safetensors there and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "checkpoint.h"
#include "fuzz_util.h"
#include "safetensors.h"

#define RUN_ID "fuzz-run"
#define CONFIG_ID "fuzz-config"
#define CURSOR_CAP 16

static tensor_table table;
static float *params, *adam_m, *adam_v;

/* Builds the fixed table and its three arrays (once). */
static void build_model(void) {
    static const int w_shape[2] = {2, 3}, b_shape[1] = {3};
    if (tt_add(&table, "w", TK_WEIGHT, INIT_NORMAL, 0.5f, 2, w_shape) < 0 ||
        tt_add(&table, "b", TK_BIAS, INIT_ZERO, 0.0f, 1, b_shape) < 0)
        abort();
    params = arena_alloc(table.total), adam_m = arena_alloc(table.total), adam_v = arena_alloc(table.total);
    if (!params || !adam_m || !adam_v) abort();
}

/* Frees the model at exit (so leak detection sees only what one input leaks). */
static void free_model(void) {
    free(params), free(adam_m), free(adam_v);
    tt_free(&table);
}

/* Saves one valid checkpoint (step, cursor of cursor_len bytes) as out_dir/valid-step<step>-cursor<len>.safetensors. */
static void write_seed(const char *out_dir, long step, size_t cursor_len) {
    rng r;
    rng_seed(&r, (uint64_t)step + 1, 7);
    const ckpt_rng rngs[1] = {{.name = "train", .r = &r}};
    unsigned char cursor[CURSOR_CAP];
    for (size_t i = 0; i < sizeof cursor; i++) cursor[i] = (unsigned char)(i * 37 + (size_t)step);
    const ckpt_state st = {.step = step, .rngs = rngs, .n_rng = 1, .cursor = cursor, .cursor_len = cursor_len,
                           .cursor_cap = CURSOR_CAP};
    for (size_t i = 0; i < table.total; i++)
        params[i] = (float)i * 0.25f - 1.0f, adam_m[i] = (float)i * 1e-3f, adam_v[i] = (float)i * 1e-6f;
    char dir[1100], saved[1200], final[1200], err[1024];
    snprintf(dir, sizeof dir, "%s/.save-%ld", out_dir, step); /* on the same file system: rename works */
    if (ckpt_save(dir, &table, params, adam_m, adam_v, &st, RUN_ID, CONFIG_ID, err, sizeof err)) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", err);
        exit(1);
    }
    ckpt_path(saved, sizeof saved, dir, step);
    snprintf(final, sizeof final, "%s/valid-step%ld-cursor%zu.safetensors", out_dir, step, cursor_len);
    if (rename(saved, final) != 0 || rmdir(dir) != 0) {
        perror(final);
        exit(1);
    }
    printf("wrote %s\n", final);
}

/* Builds the model; in seed-writing mode writes the seeds and exits. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    build_model();
    atexit(free_model);
    const char *out_dir = getenv("LRPE_FUZZ_WRITE_SEEDS");
    if (out_dir && *out_dir) {
        write_seed(out_dir, 0, 0);
        write_seed(out_dir, 3, 5);
        write_seed(out_dir, 1234567, CURSOR_CAP);
        exit(0);
    }
    return 0;
}

/* Sets the checksum in buf's header to the contents' one when the file parses and holds a checksum
 * of the written form (see the header comment). */
static void fix_checksum(uint8_t *buf, size_t size) {
    static const char key[] = "\"checksum\":\"sha256:";
    enum { KEY = sizeof key - 1, PREFIX = sizeof "sha256:" - 1, DIGITS = CKPT_CHECKSUM_LEN - 1 - PREFIX };
    st_file *f;
    char err[512], sum[CKPT_CHECKSUM_LEN];
    if (st_parse(&f, buf, size, "fuzz", err, sizeof err)) return;
    ckpt_checksum(f, sum);
    st_close(f);
    uint64_t header = 0;
    for (int i = 0; i < 8; i++) header |= (uint64_t)buf[i] << (8 * i); /* parsed: 8 + header <= size */
    uint8_t *at = memmem(buf + 8, (size_t)header, key, sizeof key - 1);
    if (!at || (size_t)(at - buf) + KEY + DIGITS + 1 > 8 + header || at[KEY + DIGITS] != '"') return;
    memcpy(at + KEY, sum + PREFIX, DIGITS); /* the hex digits after "sha256:" */
}

/* One input: write it (checksum set, see above) to a file and verify it as a checkpoint of the fixed model. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    fix_checksum(copy, size);
    const char *path = fuzz_tmp_path(0, "ckpt-1.safetensors");
    fuzz_write_file(path, copy, size);
    free(copy);
    rng r;
    rng_seed(&r, 1, 1);
    const ckpt_rng rngs[1] = {{.name = "train", .r = &r}};
    unsigned char cursor[CURSOR_CAP];
    ckpt_state st = {.step = -1, .rngs = rngs, .n_rng = 1, .cursor = cursor, .cursor_len = 0, .cursor_cap = CURSOR_CAP};
    char err[4096];
    ckpt_load_file(path, &table, params, adam_m, adam_v, &st, RUN_ID, CONFIG_ID, err, sizeof err);
    return 0;
}
