/* Checkpoints of a training run: everything needed to continue it bitwise as if it had never
 * stopped, in ONE safetensors file per checkpoint, "<dir>/ckpt-<step>.safetensors".
 *
 * File layout (format_version 2), tensors in this order (= data-section order):
 *   <name>               F32, shape from the table  every parameter under its table name, so
 *                                                   Python tools load the weights directly
 *   optim.m.<name>       F32, same shape            AdamW first moment
 *   optim.v.<name>       F32, same shape            AdamW second moment
 *   state.step           I32 [2]                    the step as one little-endian int64
 *   state.rng.<name>     I32 [8]                    a named RNG state: its raw bytes are the four
 *                                                   little-endian uint64 words of rng.s
 *   state.cursor         I32 [ceil(n/4)]            the task's data cursor: n opaque bytes,
 *                                                   zero-padded to whole 4-byte elements
 * and metadata (all strings): format "lrpe-checkpoint", format_version "2", run_id, config_id,
 * step (decimal), cursor_bytes (n, decimal), lrpe_commit (the build that wrote it: its commit, with
 * "-dirty" for uncommitted changes; absent in files of older builds), checksum
 * "sha256:<64 lowercase hex digits>".
 *
 * The checksum is SHA-256 (FIPS 180-4, util/sha256.h; `sha256sum` and Python's hashlib compute
 * the same) over, in header order: every metadata entry but checksum as key 0x00 value 0x00; then
 * every tensor as name 0x00 dtype 0x00 dims 0x00 data, where dtype is "F32"/"I32", dims the shape
 * in decimal joined by "," and data its raw bytes. So a flipped byte anywhere in the data, a
 * changed shape or a changed metadata value is detected even when the header still parses.
 *
 * Format version 1 (the same layout with a 64-bit checksum of builds before SHA-256) is not read:
 * such a file is refused like any unreadable checkpoint ("format version '1', this build reads
 * 2"), so loading falls back to an older checkpoint or the run starts from scratch, with that
 * reason in the warning.
 *
 * Saving writes "<path>.tmp" (flushed, fsync'ed), renames it over the final name and fsyncs the
 * folder; only then are older checkpoints removed, keeping CKPT_KEEP (the new one and its
 * predecessor; files of a later step than the new one, left by an abandoned trajectory, and
 * stale .tmp files go too). A failed save leaves no partial file and the previous checkpoints
 * untouched. Loading takes the newest file that passes every check and falls back to older ones
 * with a one-line reason each; nothing is written into the caller's arrays until a file has been
 * verified completely. Nothing here prints or exits. */
#ifndef LRPE_CHECKPOINT_H
#define LRPE_CHECKPOINT_H

#include <stddef.h>

#include "arena.h"
#include "rng.h"
#include "safetensors.h"

#define CKPT_FORMAT_VERSION 2
#define CKPT_KEEP 2          /* checkpoints kept in a run folder */
#define CKPT_RNG_NAME_MAX 32 /* longest RNG name + 1; names use [A-Za-z0-9_.-] */
#define CKPT_COMMIT_MAX 48   /* longest build id (commit) + 1 */
#define CKPT_CHECKSUM_LEN 72 /* "sha256:" + 64 hex digits + NUL */

/* A named RNG of the run: saving reads *r, loading overwrites it. */
typedef struct ckpt_rng {
    const char *name;
    rng *r;
} ckpt_rng;

/* The run state besides weights and moments. Saving stores step, every rngs[i] and cursor_len
 * bytes of cursor; loading sets step, every *rngs[i].r (the file must hold exactly these names)
 * and cursor_len, copying the cursor into cursor (cursor_cap bytes available). */
typedef struct ckpt_state {
    long step;
    const ckpt_rng *rngs;
    int n_rng;
    void *cursor;
    size_t cursor_len, cursor_cap;
    const char *commit;              /* saving: the build that writes it (metadata lrpe_commit; may be NULL) */
    char saved_commit[CKPT_COMMIT_MAX]; /* loading: the file's lrpe_commit, "" when it has none */
} ckpt_state;

/* Results of ckpt_load_latest. */
enum { CKPT_ERROR = -1, CKPT_LOADED = 0, CKPT_FRESH = 1 };

/* The path of the checkpoint of step in dir ("<dir>/ckpt-<step>.safetensors") into buf. Returns
 * 0, or -1 when it does not fit. */
int ckpt_path(char *buf, size_t len, const char *dir, long step);

/* Steps of the checkpoints in dir, newest first: fills steps[0..max) and returns how many there
 * are (0 when dir does not exist), or -1 with the reason in err. */
int ckpt_list(const char *dir, long *steps, int max, char *err, size_t errlen);

/* Saves step state->step of the run into dir (created if missing): parameters, the AdamW moments
 * adam_m / adam_v (all parallel arrays described by tt) and the state, atomically, then prunes
 * older checkpoints. Returns 0, or -1 with a one-line reason naming the file in err (nothing
 * partial left behind, the previous checkpoints untouched). */
int ckpt_save(const char *dir, const tensor_table *tt, const float *params, const float *adam_m,
              const float *adam_v, const ckpt_state *state, const char *run_id, const char *config_id,
              char *err, size_t errlen);

/* The checksum ("sha256:<64 hex digits>") that the contents of a parsed checkpoint file have (the
 * metadata but checksum, then every tensor, as above), whatever its checksum entry says. */
void ckpt_checksum(const st_file *f, char out[CKPT_CHECKSUM_LEN]);

/* Loads one checkpoint file after verifying all of it: a valid safetensors file of this format,
 * the checksum, run_id and config_id, every tensor of tt and of the state present with its shape
 * and nothing else. Returns 0, or -1 with "checkpoint <path>: <reason>" in err and nothing
 * written to the arrays or the state. */
int ckpt_load_file(const char *path, const tensor_table *tt, float *params, float *adam_m, float *adam_v,
                   ckpt_state *state, const char *run_id, const char *config_id, char *err, size_t errlen);

/* Loads the newest good checkpoint of dir, trying older ones when a file fails (one line per
 * failed file in warnings, lines joined by '\n'; "" when none failed). Returns CKPT_LOADED (the
 * step is state->step), CKPT_FRESH when there is no usable checkpoint (the caller starts from
 * scratch; warnings says why when files were rejected), or CKPT_ERROR with the reason in err when
 * dir cannot be read or the arguments are invalid (e.g. a bad RNG name). */
int ckpt_load_latest(const char *dir, const tensor_table *tt, float *params, float *adam_m, float *adam_v,
                     ckpt_state *state, const char *run_id, const char *config_id, char *warnings,
                     size_t warnlen, char *err, size_t errlen);

#endif
